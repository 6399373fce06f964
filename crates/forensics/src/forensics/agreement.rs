//! D018: where our decoding of a field differs from bpftool's own (its `formatted`
//! form), leaf by leaf, matched by normalised path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use mapsleuth_dump::DumpEntry;
use mapsleuth_layout::{ByteOrder, Finding, Location, Severity};

use super::side::{Role, Side};
use super::tally::{push_capped, EntryId, Tally};
use super::{Code, Marks, Place, Stats};
use crate::decode::{hex, uint_from_bytes, Value};
use crate::names::{fold_name, join_path, normalize_path};

type Json = serde_json::Value;

/// The comparisons made so far.
#[derive(Default)]
pub(super) struct Agreement {
    /// (side, our path, bpftool's path) → entries that differ.
    disagree: BTreeMap<(Role, String, String), Tally>,
    /// (side, our path) → values compared.
    compared: HashMap<(Role, String), u64>,
    /// Fields found on one side only.
    unmatched: BTreeSet<String>,
}

impl Agreement {
    /// Compares the entry's key and values with bpftool's `formatted` form, if any.
    pub fn compare(
        &mut self,
        entry: &DumpEntry<'_>,
        sides: [Option<&Side>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) {
        if entry.key().is_none() && entry.value_count() == 0 {
            return;
        }
        let Some(Ok(formatted)) = entry.formatted() else {
            return;
        };
        let mut compared_any = false;
        for (side, bytes, theirs) in pairs(entry, &formatted, sides) {
            let Some(Ok(ours)) = side.tree.as_ref().map(|t| t.decode(bytes)) else {
                continue;
            };
            compared_any |= self.compare_value(side, &ours, theirs, id, stats, marks);
        }
        if compared_any {
            stats.compared_entries += 1;
        }
    }

    /// One key or value; true when some field could be compared.
    fn compare_value(
        &mut self,
        side: &Side,
        ours: &Value,
        theirs: &Json,
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> bool {
        let role = side.role;
        let mut ours_flat = Vec::new();
        flatten_ours(ours, "", &mut ours_flat);
        let mut theirs_flat = HashMap::new();
        flatten_theirs(theirs, "", "", 0, &mut theirs_flat);
        let mut used: HashSet<String> = HashSet::new();
        let mut compared_any = false;
        for (path, cmp) in &ours_flat {
            let Some(norm) = normalize_path(path) else {
                continue;
            };
            let Some((their_path, j)) = theirs_flat.get(&norm) else {
                self.unmatched
                    .insert(format!("{} `{path}` (ours)", role.name()));
                continue;
            };
            used.insert(norm.clone());
            // Elements of a byte array were matched as the array.
            if let Cmp::Bytes(..) = cmp {
                let elements = format!("{norm}[");
                used.extend(
                    theirs_flat
                        .keys()
                        .filter(|k| k.starts_with(&elements))
                        .cloned(),
                );
            }
            let Some(same) = cmp.same_as(j, side.order) else {
                continue;
            };
            compared_any = true;
            stats.compared_fields += 1;
            *self.compared.entry((role, path.clone())).or_default() += 1;
            if !same {
                marks.add(Code::Disagrees);
                let example = format!("{cmp} here, {j} in bpftool's");
                self.disagree
                    .entry((role, path.clone(), their_path.clone()))
                    .or_default()
                    .add_for(id, || Some(example));
            }
        }
        self.unmatched_theirs(role, &theirs_flat, &used);
        compared_any
    }

    /// bpftool's leaves that none of ours matched.
    fn unmatched_theirs(
        &mut self,
        role: Role,
        theirs_flat: &HashMap<String, (String, Json)>,
        used: &HashSet<String>,
    ) {
        for (norm, (their_path, j)) in theirs_flat {
            if used.contains(norm) || j.is_object() || j.is_array() {
                continue;
            }
            // Elements of arrays we matched whole.
            if their_path.ends_with(']') {
                let base = &norm[..norm.rfind('[').unwrap_or(norm.len())];
                if used.contains(base) {
                    continue;
                }
            }
            self.unmatched
                .insert(format!("{} `{their_path}` (bpftool's)", role.name()));
        }
    }

    /// The first 32 fields found on one side only.
    pub fn unmatched(&self) -> Vec<String> {
        self.unmatched.iter().take(32).cloned().collect()
    }

    /// One finding per field that differs, keys first, in offset order, up to `max`.
    pub fn findings(
        &self,
        sides: [Option<&Side>; 2],
        max: usize,
        place: &Place,
        out: &mut Vec<Finding>,
    ) {
        let side_of = |role: Role| role.pick(sides[0], sides[1]);
        let mut found: Vec<(&Side, &String, &String, &Tally)> = self
            .disagree
            .iter()
            .filter_map(|((role, ours, theirs), t)| Some((side_of(*role)?, ours, theirs, t)))
            .collect();
        found.sort_by_key(|(side, ours, ..)| (side.role, side.offsets.get(*ours).copied(), *ours));
        push_capped(
            out,
            &found,
            max,
            |&(side, ours, theirs, t)| self.finding(side, ours, theirs, t, place),
            |&(side, ..), more| {
                let msg = format!(
                    "and {more} more fields of {} decode differently from bpftool's",
                    side.type_name
                );
                Finding::with_severity(Code::Disagrees, Severity::Error, msg)
                    .at(place.at(Some(side)))
            },
        );
    }

    fn finding(&self, side: &Side, ours: &str, theirs: &str, t: &Tally, place: &Place) -> Finding {
        let compared = self
            .compared
            .get(&(side.role, ours.to_string()))
            .copied()
            .unwrap_or(0);
        let name = if ours == theirs {
            format!("`{ours}`")
        } else {
            format!("`{ours}` (bpftool's `{theirs}`)")
        };
        let msg = format!(
            "{name} of the {} decodes differently with {} than in bpftool's own decoding in {} \
                of {compared} {}: {}{}; the type does not match the map's BTF layout",
            side.role.name(),
            side.type_name,
            t.count,
            side.role.pick("keys", "values"),
            t.keys_text(),
            t.example_text()
        );
        Finding::with_severity(Code::Disagrees, Severity::Error, msg)
            .at(Location {
                field: Some(ours.to_string()),
                offset: side.offsets.get(ours).copied(),
                key: t.first_key(),
                ..place.at(Some(side))
            })
            .fix(
                "compare the layouts with `mapsleuth analyze layout` and fix the type (offsets, \
                padding, sizes, signedness)",
            )
    }
}

/// Our key and values with bpftool's decoding of each: `key`, and `value` or per-CPU
/// `values`.
fn pairs<'e, 's, 'f>(
    entry: &DumpEntry<'e>,
    formatted: &'f Json,
    [key, value]: [Option<&'s Side>; 2],
) -> Vec<(&'s Side, &'e [u8], &'f Json)> {
    let mut out = Vec::new();
    if let (Some(side), Some(k), Some(theirs)) = (key, entry.key(), formatted.get("key")) {
        out.push((side, k, theirs));
    }
    let Some(side) = value else {
        return out;
    };
    if let Some(theirs) = formatted.get("value") {
        if let Some(v) = entry.value() {
            out.push((side, v, theirs));
        }
    } else if let Some(Json::Array(cpus)) = formatted.get("values") {
        for (i, c) in cpus.iter().enumerate() {
            let cpu = c
                .get("cpu")
                .and_then(Json::as_u64)
                .map_or(i, |n| n as usize);
            if let (Some(v), Some(theirs)) = (entry.cpu_value(cpu), c.get("value")) {
                out.push((side, v, theirs));
            }
        }
    }
    out
}

/// A leaf value, in a form comparable with bpftool's JSON.
#[derive(Clone, Debug)]
enum Cmp {
    Num { value: i128, bits: u16 },
    Float(f64),
    Enum { value: i128, name: Option<String> },
    Bytes(Vec<u8>),
}

impl std::fmt::Display for Cmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmp::Num { value, .. } => write!(f, "{value}"),
            Cmp::Float(x) => write!(f, "{x}"),
            Cmp::Enum { name: Some(n), .. } => f.write_str(n),
            Cmp::Enum { value, .. } => write!(f, "{value}"),
            Cmp::Bytes(b) => match b.iter().position(|&c| c == 0) {
                Some(n) if b[..n].iter().all(|c| (0x20..0x7f).contains(c)) => {
                    write!(f, "\"{}\"", String::from_utf8_lossy(&b[..n]))
                }
                _ => f.write_str(&hex(b)),
            },
        }
    }
}

fn parse_hex(s: &str) -> Option<u128> {
    u128::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn json_int(j: &Json) -> Option<i128> {
    j.as_i64()
        .map(i128::from)
        .or_else(|| j.as_u64().map(i128::from))
}

fn low_bits(v: i128, bits: u16) -> u128 {
    let bits = u32::from(bits).min(128);
    if bits == 128 {
        v as u128
    } else {
        (v as u128) & ((1u128 << bits) - 1)
    }
}

impl Cmp {
    /// `None` when the two cannot be compared (an enum name against a plain integer).
    fn same_as(&self, j: &Json, order: ByteOrder) -> Option<bool> {
        match (self, j) {
            (Cmp::Num { value, .. }, Json::Number(_)) => match json_int(j) {
                Some(n) => Some(n == *value),
                None => j.as_f64().map(|x| x == *value as f64),
            },
            (Cmp::Num { value, bits }, Json::String(s)) => {
                parse_hex(s).map(|h| h == low_bits(*value, *bits))
            }
            (Cmp::Num { value, .. }, Json::Bool(b)) => Some(*value == i128::from(*b)),
            (Cmp::Float(x), Json::Number(_)) => {
                j.as_f64().map(|y| y == *x || (x.is_nan() && y.is_nan()))
            }
            (Cmp::Enum { value, name }, Json::String(s)) => match parse_hex(s) {
                Some(h) => Some(h == *value as u128 || low_bits(*value, 64) == h),
                None => Some(name.as_deref() == Some(s.as_str())),
            },
            (Cmp::Enum { value, .. }, Json::Number(_)) => json_int(j).map(|n| {
                n == *value
                    || (n < 0 && low_bits(n, 32) == *value as u128)
                    || low_bits(n, 64) == *value as u128
            }),
            (Cmp::Bytes(b), Json::String(s)) => {
                let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(&b[..n] == s.as_bytes())
            }
            (Cmp::Bytes(b), Json::Array(items)) => Some(
                items.len() == b.len()
                    && items
                        .iter()
                        .zip(b)
                        .all(|(x, y)| json_int(x).is_some_and(|n| n as u8 == *y)),
            ),
            // A byte array standing in for an integer (Go `[8]byte` for a `__u64`).
            (Cmp::Bytes(b), Json::Number(_)) if b.len() <= 16 => {
                let v = uint_from_bytes(b, order);
                json_int(j).map(|n| low_bits(n, b.len() as u16 * 8) == v)
            }
            _ => None,
        }
    }
}

/// Our leaves with the paths `TypeTable::leaves` gives them.
fn flatten_ours(v: &Value, path: &str, out: &mut Vec<(String, Cmp)>) {
    let leaf = match v {
        Value::Int { value, bits, .. } => Cmp::Num {
            value: *value,
            bits: *bits,
        },
        Value::Bool(b) => Cmp::Num {
            value: i128::from(*b),
            bits: 8,
        },
        Value::Float { value, .. } => Cmp::Float(*value),
        Value::Enum { value, name, .. } => Cmp::Enum {
            value: *value,
            name: name.as_deref().map(str::to_string),
        },
        Value::Str { bytes, .. } | Value::Bytes { bytes, .. } => Cmp::Bytes(bytes.to_vec()),
        Value::Pointer(p) => Cmp::Num {
            value: i128::from(*p),
            bits: 64,
        },
        Value::Complex { .. } | Value::Opaque { .. } => return,
        Value::Struct(fields) | Value::Union(fields) => {
            for f in fields {
                let p = if f.inline {
                    path.to_string()
                } else {
                    join_path(path, &f.name)
                };
                flatten_ours(&f.value, &p, out);
            }
            return;
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten_ours(x, &format!("{path}[{i}]"), out);
            }
            return;
        }
    };
    out.push((path.to_string(), leaf));
}

/// bpftool's leaves (and arrays, which may be byte arrays) by normalised path.
fn flatten_theirs(
    j: &Json,
    path: &str,
    norm: &str,
    depth: u32,
    out: &mut HashMap<String, (String, Json)>,
) {
    if depth > 64 || out.len() > crate::decode::MAX_VALUES {
        return;
    }
    match j {
        Json::Object(m) => {
            for (k, v) in m {
                let p = join_path(path, k);
                flatten_theirs(v, &p, &join_path(norm, &fold_name(k)), depth + 1, out);
            }
        }
        Json::Array(items) => {
            out.insert(norm.to_string(), (path.to_string(), j.clone()));
            for (i, x) in items.iter().enumerate() {
                let (p, n) = (format!("{path}[{i}]"), format!("{norm}[{i}]"));
                flatten_theirs(x, &p, &n, depth + 1, out);
            }
        }
        _ => {
            out.insert(norm.to_string(), (path.to_string(), j.clone()));
        }
    }
}
