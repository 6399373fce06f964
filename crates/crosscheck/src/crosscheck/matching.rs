//! Which Go leaf mirrors which C leaf: by the whole dotted path, then by the last path
//! component, then by position, names compared ignoring case and underscores.

use std::collections::HashMap;

use mapsleuth_layout::{fold_name, Leaf};

/// A whole path folded (`hdr.ts_ns` → `hdr.tsns`): dots and indices stay.
fn norm(path: &str) -> String {
    fold_name(path)
}

fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// What a pass by name compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameKey {
    /// The whole dotted path.
    Path,
    /// The last component, when it is unique.
    Last,
}

impl NameKey {
    fn of(self, path: &str) -> String {
        match self {
            NameKey::Path => norm(path),
            NameKey::Last => norm(last(path)),
        }
    }
}

/// The pairing of leaves, and which Go leaves are spoken for.
pub(super) struct Matching {
    /// For each C leaf, the Go leaf matched with it.
    pub(super) pair_of_c: Vec<Option<usize>>,
    /// C leaves matched only because they sit where a Go leaf does.
    pub(super) by_position: Vec<bool>,
    /// Go leaves matched with a C leaf, or covering a union or bitfield unit.
    pub(super) go_used: Vec<bool>,
}

impl Matching {
    pub(super) fn new(go: &[Leaf], c: &[Leaf]) -> Matching {
        let mut m = Matching {
            pair_of_c: vec![None; c.len()],
            by_position: vec![false; c.len()],
            go_used: vec![false; go.len()],
        };
        m.by_name(go, c, NameKey::Path);
        m.by_name(go, c, NameKey::Last);
        m.by_position(go, c);
        m
    }

    /// One pass by name: a C leaf takes the Go leaf with its key when exactly one free
    /// Go leaf has it. Names are normalized once: matching is a lookup, not a scan of
    /// every Go field for every C field (task_struct has hundreds of each).
    fn by_name(&mut self, go: &[Leaf], c: &[Leaf], key: NameKey) {
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (gi, g) in go.iter().enumerate() {
            by_key.entry(key.of(&g.path)).or_default().push(gi);
        }
        for (ci, cleaf) in c.iter().enumerate() {
            // A union's inner alternatives match by their whole path only: by its last
            // component, `u.id` would take a Go field named after the union itself.
            let in_union = cleaf.alternative.is_some();
            if self.pair_of_c[ci].is_some() || (key == NameKey::Last && in_union) {
                continue;
            }
            let Some(all) = by_key.get(&key.of(&cleaf.path)) else {
                continue;
            };
            let mut free = all.iter().copied().filter(|&gi| !self.go_used[gi]);
            if let (Some(gi), None) = (free.next(), free.next()) {
                self.pair_of_c[ci] = Some(gi);
                self.go_used[gi] = true;
            }
        }
    }

    /// Plain fields whose names differ, at the same offset with the same size.
    fn by_position(&mut self, go: &[Leaf], c: &[Leaf]) {
        for (ci, cleaf) in c.iter().enumerate() {
            if self.pair_of_c[ci].is_some() || cleaf.alternative.is_some() || cleaf.bitfield {
                continue;
            }
            if let Some(gi) = (0..go.len()).find(|&gi| {
                !self.go_used[gi]
                    && go[gi].offset_bits == cleaf.offset_bits
                    && go[gi].size_bits == cleaf.size_bits
            }) {
                self.pair_of_c[ci] = Some(gi);
                self.go_used[gi] = true;
                self.by_position[ci] = true;
            }
        }
    }
}
