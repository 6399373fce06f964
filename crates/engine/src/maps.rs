//! Which dumps are of the same map: the one pairing rule of `diff` (OLD's maps against
//! NEW's) and of the `changes` table (each dump against the nearest earlier input).
//!
//! A map is identified by its name (the kernel keeps 15 characters of it), then by its
//! id, then by its place in its input. Two dumps from the same input are never the same
//! map (bpftool dumps a map once per file; two maps may share a name), and two maps
//! whose names differ are not paired: pairing is by identity, never by count. The one
//! exception is the user's own word: two inputs given as OLD and NEW that hold one map
//! each are those two maps' comparison, whatever their names (`diff` then says whether
//! the maps are compatible).

use mapsleuth_dump::Dump;

/// The kernel keeps 15 characters of a map name: `pcpu_array_stats` is dumped as
/// `pcpu_array_stat`.
pub fn same_map_name(dumped: &str, defined: &str) -> bool {
    dumped == defined || (dumped.len() == 15 && defined.starts_with(dumped))
}

/// What identifies a dumped map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapIdentity<'a> {
    /// Which input (file) the dump came from, in the order given.
    pub input: usize,
    /// The dump's place in its input.
    pub map_index: usize,
    pub name: Option<&'a str>,
    pub id: Option<u32>,
}

impl<'a> MapIdentity<'a> {
    pub fn of(input: usize, dump: &'a Dump) -> Self {
        MapIdentity {
            input,
            map_index: dump.source.map_index,
            name: dump.meta.name.as_deref(),
            id: dump.meta.id,
        }
    }

    /// How strongly `self` and `other` (from different inputs) look like one map; `None`
    /// when they cannot be.
    fn affinity(&self, other: &MapIdentity<'_>) -> Option<u8> {
        if self.input == other.input {
            return None;
        }
        let same_id = self.id.is_some() && self.id == other.id;
        match (self.name, other.name) {
            (Some(a), Some(b)) => {
                (same_map_name(a, b) || same_map_name(b, a)).then_some(3 + u8::from(same_id))
            }
            // Without a name on one side (plain dumps, -j dumps without `map show`
            // output), the id, else the place in the input, is all there is.
            _ if same_id => Some(2),
            _ => (self.map_index == other.map_index).then_some(1),
        }
    }
}

/// The pairs of one OLD input's maps with one NEW input's, as indices into the two
/// slices, and the indices left over on each side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pairing {
    pub pairs: Vec<(usize, usize)>,
    pub old_only: Vec<usize>,
    pub new_only: Vec<usize>,
}

/// What the two inputs of [`pair_maps`] are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inputs {
    /// Given by the user as OLD and NEW: when each holds one map, those are compared
    /// whatever their names.
    OldAndNew,
    /// Two steps of a series of inputs: only maps of one identity pair.
    Series,
}

/// Pairs `old` with `new`: each old map, in order, with the unpaired new map it looks
/// most like (the first of equals). `want` keeps only the maps of that name on a side
/// holding several (`--map NAME`).
pub fn pair_maps(
    old: &[MapIdentity<'_>],
    new: &[MapIdentity<'_>],
    want: Option<&str>,
    inputs: Inputs,
) -> Pairing {
    let wanted = |side: &[MapIdentity<'_>], i: usize| match want {
        Some(w) if side.len() > 1 => side[i].name.is_some_and(|n| same_map_name(n, w)),
        _ => true,
    };
    if inputs == Inputs::OldAndNew
        && old.len() == 1
        && new.len() == 1
        && old[0].input != new[0].input
    {
        return Pairing {
            pairs: vec![(0, 0)],
            ..Pairing::default()
        };
    }
    let mut taken = vec![false; new.len()];
    let mut out = Pairing::default();
    for (i, o) in old.iter().enumerate().filter(|(i, _)| wanted(old, *i)) {
        let best = new
            .iter()
            .enumerate()
            .filter(|(j, _)| !taken[*j] && wanted(new, *j))
            .filter_map(|(j, n)| o.affinity(n).map(|a| (a, j)))
            .fold(None, |best: Option<(u8, usize)>, (a, j)| match best {
                Some((b, _)) if b >= a => best,
                _ => Some((a, j)),
            });
        match best {
            Some((_, j)) => {
                taken[j] = true;
                out.pairs.push((i, j));
            }
            None => out.old_only.push(i),
        }
    }
    out.new_only = (0..new.len())
        .filter(|&j| !taken[j] && wanted(new, j))
        .collect();
    out
}

/// For dumps listed input after input (oldest first), each dump's predecessor: the
/// dump of the same map in the nearest earlier input, by [`pair_maps`]. Exactly two
/// inputs are OLD and NEW, as for `diff`. Returns `(old, new)` indices into `dumps`, in
/// the order of `new`.
pub fn consecutive_pairs(dumps: &[MapIdentity<'_>]) -> Vec<(usize, usize)> {
    let mut inputs: Vec<usize> = dumps.iter().map(|d| d.input).collect();
    inputs.sort_unstable();
    inputs.dedup();
    let kind = if inputs.len() == 2 {
        Inputs::OldAndNew
    } else {
        Inputs::Series
    };
    let of_input =
        |k: usize| -> Vec<usize> { (0..dumps.len()).filter(|&i| dumps[i].input == k).collect() };
    let mut out = Vec::new();
    for (pos, &k) in inputs.iter().enumerate() {
        let mut open = of_input(k);
        for &j in inputs[..pos].iter().rev() {
            if open.is_empty() {
                break;
            }
            let earlier = of_input(j);
            let olds: Vec<MapIdentity<'_>> = earlier.iter().map(|&i| dumps[i]).collect();
            let news: Vec<MapIdentity<'_>> = open.iter().map(|&i| dumps[i]).collect();
            let p = pair_maps(&olds, &news, None, kind);
            for &(o, n) in &p.pairs {
                out.push((earlier[o], open[n]));
            }
            open = p.new_only.iter().map(|&n| open[n]).collect();
        }
    }
    out.sort_by_key(|&(_, new)| new);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(input: usize, map_index: usize, name: Option<&str>, id: Option<u32>) -> MapIdentity<'_> {
        MapIdentity {
            input,
            map_index,
            name,
            id,
        }
    }

    #[test]
    fn two_maps_of_one_input_are_never_paired() {
        // corpus/dumps/multi.json: maps 370 and 371, both named ms_dup, in one file.
        let dumps = [
            id(0, 0, Some("ms_dup"), Some(370)),
            id(0, 1, Some("ms_dup"), Some(371)),
        ];
        assert!(consecutive_pairs(&dumps).is_empty());
    }

    #[test]
    fn same_name_pairs_prefer_the_same_id() {
        let old = [
            id(0, 0, Some("ms_dup"), Some(370)),
            id(0, 1, Some("ms_dup"), Some(371)),
        ];
        let new = [
            id(1, 0, Some("ms_dup"), Some(371)),
            id(1, 1, Some("ms_dup"), Some(370)),
        ];
        let p = pair_maps(&old, &new, None, Inputs::Series);
        assert_eq!(p.pairs, vec![(0, 1), (1, 0)]);
        assert!(p.old_only.is_empty() && p.new_only.is_empty());
    }

    #[test]
    fn different_names_pair_only_as_old_and_new() {
        let (old, new) = (
            [id(0, 0, Some("flows"), None)],
            [id(1, 0, Some("stats"), None)],
        );
        let p = pair_maps(&old, &new, None, Inputs::Series);
        assert!(p.pairs.is_empty());
        assert_eq!((p.old_only, p.new_only), (vec![0], vec![0]));
        let p = pair_maps(&old, &new, None, Inputs::OldAndNew);
        assert_eq!(p.pairs, vec![(0, 0)]);
        // In a series, a sole map never pairs with another map's sole dump.
        let series = [
            id(0, 0, Some("flows"), None),
            id(1, 0, Some("stats"), None),
            id(2, 0, Some("flows"), None),
        ];
        assert_eq!(consecutive_pairs(&series), vec![(0, 2)]);
    }

    #[test]
    fn truncated_names_pair() {
        let p = pair_maps(
            &[id(0, 0, Some("pcpu_array_stat"), None)],
            &[id(1, 0, Some("pcpu_array_stats"), None)],
            None,
            Inputs::Series,
        );
        assert_eq!(p.pairs, vec![(0, 0)]);
    }

    #[test]
    fn a_nameless_dump_pairs_by_place() {
        // A plain `bpftool map dump` against a `-j` dump with `map show` output.
        let p = pair_maps(
            &[id(0, 0, None, None)],
            &[id(1, 0, Some("flows"), Some(7))],
            None,
            Inputs::Series,
        );
        assert_eq!(p.pairs, vec![(0, 0)]);
    }

    #[test]
    fn consecutive_pairs_take_the_nearest_earlier_input() {
        let dumps = [
            id(0, 0, Some("flows"), None),
            id(0, 1, Some("stats"), None),
            id(1, 0, Some("flows"), None),
            id(2, 0, Some("stats"), None),
            id(2, 1, Some("flows"), None),
        ];
        assert_eq!(consecutive_pairs(&dumps), vec![(0, 2), (1, 3), (2, 4)]);
    }

    #[test]
    fn want_keeps_one_map_of_several() {
        let old = [id(0, 0, Some("flows"), None), id(0, 1, Some("stats"), None)];
        let new = [id(1, 0, Some("stats"), None), id(1, 1, Some("flows"), None)];
        let p = pair_maps(&old, &new, Some("stats"), Inputs::OldAndNew);
        assert_eq!(p.pairs, vec![(1, 0)]);
        assert!(p.old_only.is_empty() && p.new_only.is_empty());
    }
}
