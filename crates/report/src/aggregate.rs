//! What a dump's charts show, gathered in two passes over its values (one value per CPU
//! for per-CPU maps): per field, how often it is zero and whether it is constant; for
//! one numeric field, a histogram and its sum per CPU. Memory and output do not grow
//! with the entry count.

use mapsleuth_dump::Dump;
use mapsleuth_forensics::decode::FlatDecoder;
use mapsleuth_layout::LeafKind;

/// Fields looked at at most (the rest are counted in a note).
pub const MAX_FIELDS: usize = 64;
/// Bins of a histogram over a wide range.
const BINS: i128 = 20;

/// One field's tallies.
#[derive(Clone, Debug)]
pub struct FieldTally {
    pub path: String,
    pub numeric: bool,
    pub zero: u64,
    /// The first value (integer) or bytes, and whether every value equals it.
    first_int: Option<i128>,
    first_bytes: Option<Vec<u8>>,
    pub constant: bool,
    pub min: i128,
    pub max: i128,
}

impl FieldTally {
    /// The constant value, as text.
    pub fn constant_text(&self) -> Option<String> {
        if !self.constant {
            return None;
        }
        match (&self.first_int, &self.first_bytes) {
            (Some(v), _) => Some(v.to_string()),
            (None, Some(_)) => Some("the same bytes".to_string()),
            _ => None,
        }
    }
}

/// The tallies of one dump's values.
#[derive(Clone, Debug, Default)]
pub struct Tallies {
    /// Values looked at (entries times CPUs).
    pub values: u64,
    pub fields: Vec<FieldTally>,
    /// Fields beyond [`MAX_FIELDS`].
    pub fields_left_out: usize,
}

/// The byte range of a leaf that is not an integer (read whole).
fn byte_range(l: &mapsleuth_layout::Leaf) -> (usize, usize) {
    let start = (l.offset_bits / 8) as usize;
    let end = (l.offset_bits + l.size_bits).div_ceil(8) as usize;
    (start, end.max(start))
}

fn is_numeric(kind: &LeafKind) -> bool {
    matches!(
        kind,
        LeafKind::Int { .. } | LeafKind::Bool | LeafKind::Char { .. } | LeafKind::Enum { .. }
    )
}

/// Every value blob of the dump that is long enough for the decoder, with its CPU.
pub fn for_each_value(dump: &Dump, size: u64, f: &mut dyn FnMut(usize, &[u8])) {
    for e in dump.entries() {
        for (cpu, v) in e.values().enumerate() {
            if v.len() as u64 >= size {
                f(cpu, v);
            }
        }
    }
}

/// Pass one: zero and constant fields, and the range of the numeric ones.
pub fn tally(dump: &Dump, flat: &FlatDecoder) -> Tallies {
    let leaves = flat.leaves();
    let n = leaves.len().min(MAX_FIELDS);
    let mut fields: Vec<FieldTally> = leaves[..n]
        .iter()
        .map(|l| FieldTally {
            path: l.path.clone(),
            numeric: is_numeric(&l.kind),
            zero: 0,
            first_int: None,
            first_bytes: None,
            constant: true,
            min: i128::MAX,
            max: i128::MIN,
        })
        .collect();
    let mut values = 0u64;
    for_each_value(dump, flat.size(), &mut |_, bytes| {
        values += 1;
        for (i, (t, l)) in fields.iter_mut().zip(leaves).enumerate() {
            let int = if t.numeric {
                flat.read_int(i, bytes)
            } else {
                None
            };
            if let Some(v) = int {
                t.zero += u64::from(v == 0);
                t.min = t.min.min(v);
                t.max = t.max.max(v);
                match t.first_int {
                    None => t.first_int = Some(v),
                    Some(f) => t.constant &= f == v,
                }
                continue;
            }
            let (s, e) = byte_range(l);
            let b = bytes.get(s..e).unwrap_or(&[]);
            t.zero += u64::from(b.iter().all(|x| *x == 0));
            match &t.first_bytes {
                None => t.first_bytes = Some(b.to_vec()),
                Some(f) => t.constant &= f.as_slice() == b,
            }
        }
    });
    for t in &mut fields {
        t.numeric &= t.first_int.is_some();
    }
    Tallies {
        values,
        fields,
        fields_left_out: leaves.len().saturating_sub(n),
    }
}

/// The field the histogram shows: `wanted` when it names a numeric field, else the
/// first numeric field that varies, else the first numeric one.
pub fn choose(t: &Tallies, wanted: Option<&str>) -> Option<usize> {
    let numeric = |f: &&FieldTally| f.numeric && !f.path.starts_with('_') && !f.path.contains("._");
    if let Some(w) = wanted {
        if let Some(i) = t.fields.iter().position(|f| f.path == w && f.numeric) {
            return Some(i);
        }
    }
    let pos = |pred: &dyn Fn(&FieldTally) -> bool| t.fields.iter().position(pred);
    pos(&|f| numeric(&f) && !f.constant).or_else(|| pos(&|f| numeric(&f)))
}

/// Pass two: the histogram of field `index` and its sum per CPU.
pub struct Spread {
    pub bins: Vec<(String, u64)>,
    pub per_cpu: Vec<i128>,
}

pub fn spread(dump: &Dump, flat: &FlatDecoder, t: &FieldTally, index: usize) -> Spread {
    let (lo, hi) = if t.min <= t.max {
        (t.min, t.max)
    } else {
        (0, 0)
    };
    let span = hi.saturating_sub(lo).saturating_add(1).max(1);
    let (nbins, width) = if span <= BINS {
        (span, 1)
    } else {
        (BINS, span / BINS + i128::from(span % BINS != 0))
    };
    let mut counts = vec![0u64; nbins as usize];
    let mut per_cpu: Vec<i128> = Vec::new();
    for_each_value(dump, flat.size(), &mut |cpu, bytes| {
        let Some(v) = flat.read_int(index, bytes) else {
            return;
        };
        let bin = (v.saturating_sub(lo) / width).clamp(0, nbins - 1) as usize;
        if let Some(c) = counts.get_mut(bin) {
            *c += 1;
        }
        if per_cpu.len() <= cpu && cpu < 4096 {
            per_cpu.resize(cpu + 1, 0);
        }
        if let Some(s) = per_cpu.get_mut(cpu) {
            *s = s.saturating_add(v);
        }
    });
    let bins = counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let from = lo.saturating_add(i as i128 * width);
            let label = if width == 1 {
                from.to_string()
            } else {
                format!("{from}..{}", from.saturating_add(width - 1))
            };
            (label, c)
        })
        .collect();
    Spread { bins, per_cpu }
}
