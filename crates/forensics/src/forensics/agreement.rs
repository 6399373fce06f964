//! D018: where our decoding of a field differs from bpftool's own (its `formatted`
//! form), leaf by leaf, matched by normalised path.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use mapsleuth_dump::{DumpEntry, FormattedToken};
use mapsleuth_layout::{ByteOrder, Finding, Location, Severity};

use super::side::{Role, Side};
use super::tally::{push_capped, EntryId, Tally};
use super::their_json::{self, TheirLeaf, TheirPath, Walk};
use super::TypeRef;
use super::{Code, Marks, Place, Stats};
use crate::decode::Decoder;
use crate::decode::{hex, uint_from_bytes, LeafValue, Value};
use crate::names::{fold_name, join_path, normalize_path};

type Json = serde_json::Value;

mod shape;
use shape::{Known, Part, Shape};

/// What D018 needs of one side: its tree decoder (the other checks read leaves).
pub(super) struct TreeSide {
    role: Role,
    order: ByteOrder,
    tree: Decoder,
}

impl TreeSide {
    pub fn new(role: Role, t: TypeRef<'_>) -> Option<TreeSide> {
        Some(TreeSide {
            role,
            order: t.table.target.byte_order,
            tree: Decoder::new(t.table, t.id).ok()?,
        })
    }
}

/// The comparisons made so far.
#[derive(Default)]
pub(super) struct Agreement {
    tallies: Tallies,
    /// Fields found on one side only.
    unmatched: BTreeSet<String>,
    /// The last plan of keys and of values: bpftool's form has the same shape in
    /// (nearly) every entry, so fields are matched once, not per entry.
    plans: [Option<Plan>; 2],
    walk: Walk,
    kinds: Vec<u8>,
    scratch: String,
    /// Per skeleton of bpftool's text (the dump stores a few): its shape once learnt.
    shapes: Vec<Option<Known>>,
    /// The token path's buffers, kept between entries (see [`recycle`]).
    tokens: Vec<FormattedToken<'static>>,
    leaves: Vec<LeafValue<'static>>,
    cmps: [Vec<Cmp<'static>>; 2],
}

/// An emptied buffer for items of another lifetime, keeping its allocation: collecting
/// in place reuses it when the layouts match, as they do for one type's lifetimes. So
/// the per-entry path allocates nothing once its buffers have grown.
fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Entries that differ and values compared, per field.
#[derive(Default)]
struct Tallies {
    /// (side, our path, bpftool's path) → its tally in `disagree`.
    disagree_at: BTreeMap<(Role, String, String), usize>,
    disagree: Vec<Tally>,
    /// (side, our path) → its count in `compared`.
    compared_at: HashMap<(Role, String), usize>,
    compared: Vec<u64>,
}

impl Tallies {
    fn compared_slot(&mut self, role: Role, path: &str) -> usize {
        let next = self.compared.len();
        let slot = *self
            .compared_at
            .entry((role, path.to_string()))
            .or_insert(next);
        if slot == next {
            self.compared.push(0);
        }
        slot
    }

    fn disagree_slot(&mut self, role: Role, ours: &str, theirs: &str) -> usize {
        let next = self.disagree.len();
        let key = (role, ours.to_string(), theirs.to_string());
        let slot = *self.disagree_at.entry(key).or_insert(next);
        if slot == next {
            self.disagree.push(Tally::default());
        }
        slot
    }
}

/// How our leaves of one side meet bpftool's, for one shape of bpftool's form.
struct Plan {
    /// bpftool's shape ([`Walk::sig`]); empty for a plan of one entry.
    sig: Vec<u8>,
    /// The kind of each of our leaves ([`Cmp::kind`]).
    kinds: Vec<u8>,
    /// Per leaf of ours, in order: bpftool's leaf it is compared with.
    steps: Vec<Option<Step>>,
}

struct Step {
    /// Index in bpftool's leaves.
    theirs: usize,
    our_path: String,
    their_path: String,
    compared: usize,
    /// Made at the first difference (a tally exists only for fields that differ).
    disagree: Option<usize>,
}

/// bpftool's value at one leaf.
enum Their<'a> {
    Number(&'a serde_json::Number),
    Str(&'a str),
    Bool(bool),
    Array(&'a [Json]),
    Other,
}

impl<'a> Their<'a> {
    fn of(j: &'a Json) -> Self {
        match j {
            Json::Number(n) => Their::Number(n),
            Json::String(s) => Their::Str(s),
            Json::Bool(b) => Their::Bool(*b),
            Json::Array(a) => Their::Array(a),
            _ => Their::Other,
        }
    }
}

/// A token of bpftool's text, parsed only when it is not a plain integer or string.
enum Token<'a> {
    Str(&'a str),
    Json(Json),
}

impl<'a> Token<'a> {
    fn parse(tok: &'a str) -> Self {
        let b = tok.as_bytes();
        if b.len() >= 2 && b[0] == b'"' && !tok.contains('\\') {
            return Token::Str(&tok[1..tok.len() - 1]);
        }
        if b.first().is_some_and(u8::is_ascii_digit) {
            if let Ok(n) = tok.parse::<u64>() {
                return Token::Json(Json::from(n));
            }
        } else if b.first() == Some(&b'-') {
            // `-0` is a float for serde_json.
            if let Ok(n) = tok
                .parse::<i64>()
                .map_err(drop)
                .and_then(|n| (n < 0).then_some(n).ok_or(()))
            {
                return Token::Json(Json::from(n));
            }
        }
        Token::Json(serde_json::from_str(tok).unwrap_or(Json::Null))
    }

    fn view(&self) -> Their<'_> {
        match self {
            Token::Str(s) => Their::Str(s),
            Token::Json(j) => Their::of(j),
        }
    }
}

/// bpftool's leaves of one value: tokens of its text, or nodes of its parsed tree.
enum TheirLeaves<'a> {
    Text(&'a str, &'a [TheirLeaf]),
    Tree(&'a [&'a Json]),
    Tokens(&'a Part, &'a [mapsleuth_dump::FormattedToken<'a>]),
}

impl TheirLeaves<'_> {
    /// Compares `ours` with leaf `i`; `None` when they cannot be compared.
    fn same(&self, i: usize, ours: &Cmp<'_>, order: ByteOrder) -> Option<bool> {
        match self {
            TheirLeaves::Text(text, leaves) => {
                let l = leaves.get(i)?;
                ours.same_as(Token::parse(text.get(l.start..l.end)?).view(), order)
            }
            TheirLeaves::Tree(nodes) => ours.same_as(Their::of(nodes.get(i)?), order),
            TheirLeaves::Tokens(part, tokens) => part.same(i, tokens, ours, order),
        }
    }

    /// Leaf `i` as JSON text, for an example.
    fn text(&self, i: usize) -> String {
        match self {
            TheirLeaves::Text(text, leaves) => leaves
                .get(i)
                .and_then(|l| text.get(l.start..l.end))
                .and_then(|t| serde_json::from_str::<Json>(t).ok())
                .map(|j| j.to_string())
                .unwrap_or_default(),
            TheirLeaves::Tree(nodes) => nodes.get(i).map(|j| j.to_string()).unwrap_or_default(),
            TheirLeaves::Tokens(part, tokens) => part.text(i, tokens),
        }
    }
}

impl Agreement {
    /// Compares the entry's key and values with bpftool's `formatted` form, if any.
    pub fn compare(
        &mut self,
        entry: &DumpEntry<'_>,
        sides: [Option<&TreeSide>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) {
        if entry.key().is_none() && entry.value_count() == 0 {
            return;
        }
        if let Some(compared_any) = self.compare_tokens(entry, sides, id, stats, marks) {
            if compared_any {
                stats.compared_entries += 1;
            }
            return;
        }
        // One buffer for every entry's text (it is stored compactly, and rebuilt here).
        let mut scratch = std::mem::take(&mut self.scratch);
        let compared_any = match entry.formatted_json_in(&mut scratch) {
            None => false,
            Some(text) => match their_json::key_and_value(text) {
                Some(parts) => self.compare_text(entry, parts, sides, id, stats, marks),
                None => self.compare_tree(entry, text, sides, id, stats, marks),
            },
        };
        self.scratch = scratch;
        if compared_any {
            stats.compared_entries += 1;
        }
    }

    /// The common case, without the text: bpftool's tokens, when their skeleton's shape
    /// is known and the plans fit. `None`: the text path decides (and makes the plans).
    fn compare_tokens(
        &mut self,
        entry: &DumpEntry<'_>,
        sides: [Option<&TreeSide>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> Option<bool> {
        let (skeleton, tokens) = entry.formatted_tokens()?;
        let mut buf = recycle(std::mem::take(&mut self.tokens));
        buf.extend(tokens);
        let i = skeleton as usize;
        self.learn(entry, i, &buf);
        let shapes = std::mem::take(&mut self.shapes);
        let shape = shapes.get(i).and_then(|k| k.as_ref()?.as_ref());
        let result =
            shape.and_then(|shape| self.compare_shape(entry, shape, &buf, sides, id, stats, marks));
        self.shapes = shapes;
        self.tokens = recycle(buf);
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_shape(
        &mut self,
        entry: &DumpEntry<'_>,
        shape: &Shape,
        tokens: &[FormattedToken<'_>],
        sides: [Option<&TreeSide>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> Option<bool> {
        let bytes = [entry.key(), entry.value()];
        let mut leaves = recycle(std::mem::take(&mut self.leaves));
        let [k, v] = std::mem::take(&mut self.cmps);
        let mut cmps: [Vec<Cmp<'_>>; 2] = [recycle(k), recycle(v)];
        // Our leaves, each part checked against its plan, before anything is counted.
        let mut parts: [Option<(&TreeSide, &Part)>; 2] = [None, None];
        let fits = (0..2).all(|slot| {
            let (Some(side), Some(b), Some(part)) = (sides[slot], bytes[slot], &shape.parts[slot])
            else {
                return true;
            };
            if side.tree.leaves(b, &mut leaves).is_err() {
                return true;
            }
            cmps[slot].extend(leaves.drain(..).map(Cmp::from));
            let Some(plan) = self.plans[role_slot(side.role)].as_ref() else {
                return false;
            };
            parts[slot] = Some((side, part));
            plan.sig == part.sig
                && plan
                    .kinds
                    .iter()
                    .copied()
                    .eq(cmps[slot].iter().map(Cmp::kind))
        });
        let result = if fits {
            self.apply_parts(&parts, &cmps, tokens, id, stats, marks)
        } else {
            None
        };
        self.leaves = recycle(leaves);
        self.cmps = cmps.map(recycle);
        result
    }

    /// Counts the parts that fit their plans against bpftool's tokens.
    fn apply_parts(
        &mut self,
        parts: &[Option<(&TreeSide, &Part)>; 2],
        cmps: &[Vec<Cmp<'_>>; 2],
        tokens: &[FormattedToken<'_>],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> Option<bool> {
        let mut compared_any = false;
        for ((side, part), cmps) in parts
            .iter()
            .zip(cmps)
            .filter_map(|(p, c)| Some((p.as_ref()?, c)))
        {
            let plan = self.plans[role_slot(side.role)].as_mut()?;
            let leaves = TheirLeaves::Tokens(part, tokens);
            compared_any |= apply(
                plan,
                side,
                cmps,
                &leaves,
                &mut self.tallies,
                id,
                stats,
                marks,
            );
        }
        Some(compared_any)
    }

    /// Learns the shape of skeleton `i` from `entry`'s text, the first time.
    fn learn(
        &mut self,
        entry: &DumpEntry<'_>,
        i: usize,
        tokens: &[mapsleuth_dump::FormattedToken<'_>],
    ) {
        if self.shapes.len() <= i {
            self.shapes.resize_with(i + 1, || None);
        }
        if self.shapes[i].is_some() {
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let known = entry
            .formatted_json_in(&mut scratch)
            .and_then(|text| Shape::learn(text, tokens, &mut self.walk));
        self.scratch = scratch;
        self.shapes[i] = Some(known);
    }

    /// The common case: bpftool's key and value walked as text.
    fn compare_text(
        &mut self,
        entry: &DumpEntry<'_>,
        (key, value): (Option<&str>, Option<&str>),
        [key_side, value_side]: [Option<&TreeSide>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> bool {
        let mut compared_any = false;
        if let (Some(side), Some(k), Some(theirs)) = (key_side, entry.key(), key) {
            compared_any |= self.compare_one_text(side, k, theirs, id, stats, marks);
        }
        if let (Some(side), Some(v), Some(theirs)) = (value_side, entry.value(), value) {
            compared_any |= self.compare_one_text(side, v, theirs, id, stats, marks);
        }
        compared_any
    }

    fn compare_one_text(
        &mut self,
        side: &TreeSide,
        bytes: &[u8],
        theirs: &str,
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> bool {
        let Some(Ok(ours)) = Some(side.tree.decode(bytes)) else {
            return false;
        };
        if !self.walk.run(theirs) {
            let Ok(j) = serde_json::from_str::<Json>(theirs) else {
                return false;
            };
            return self.compare_value(side, &ours, &j, id, stats, marks);
        }
        self.kinds.clear();
        for_each_leaf(&ours, &mut |c| self.kinds.push(c.kind()));
        let slot = role_slot(side.role);
        let fits = self.plans[slot]
            .as_ref()
            .is_some_and(|p| p.sig == self.walk.sig && p.kinds == self.kinds);
        if !fits && !self.walk.run_with_paths(theirs) {
            return false;
        }
        if !fits {
            let plan = self.plan(
                side.role,
                &ours,
                &self.walk.paths.clone(),
                self.walk.sig.clone(),
            );
            self.plans[slot] = Some(plan);
        }
        let Some(plan) = self.plans[slot].as_mut() else {
            return false;
        };
        let leaves = TheirLeaves::Text(theirs, &self.walk.leaves);
        apply(
            plan,
            side,
            &cmps_of(&ours),
            &leaves,
            &mut self.tallies,
            id,
            stats,
            marks,
        )
    }

    /// Anything else (per-CPU values, unusual text): bpftool's form parsed whole.
    fn compare_tree(
        &mut self,
        entry: &DumpEntry<'_>,
        text: &str,
        sides: [Option<&TreeSide>; 2],
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> bool {
        let Ok(formatted) = serde_json::from_str::<Json>(text) else {
            return false;
        };
        let mut compared_any = false;
        for (side, bytes, theirs) in pairs(entry, &formatted, sides) {
            let Some(Ok(ours)) = Some(side.tree.decode(bytes)) else {
                continue;
            };
            compared_any |= self.compare_value(side, &ours, theirs, id, stats, marks);
        }
        compared_any
    }

    /// One key or value against bpftool's tree; true when some field could be compared.
    fn compare_value(
        &mut self,
        side: &TreeSide,
        ours: &Value,
        theirs: &Json,
        id: &EntryId<'_>,
        stats: &mut Stats,
        marks: &mut Marks,
    ) -> bool {
        let mut tree = TreeLeaves::default();
        tree.walk(theirs, "", "", 0);
        let mut plan = self.plan(side.role, ours, &tree.paths, Vec::new());
        let leaves = TheirLeaves::Tree(&tree.nodes);
        apply(
            &mut plan,
            side,
            &cmps_of(ours),
            &leaves,
            &mut self.tallies,
            id,
            stats,
            marks,
        )
    }

    /// Matches our leaves with bpftool's by normalised path, noting the fields found
    /// on one side only.
    fn plan(&mut self, role: Role, ours: &Value, theirs: &[TheirPath], sig: Vec<u8>) -> Plan {
        let mut ours_flat = Vec::new();
        flatten_ours(ours, "", &mut ours_flat);
        // The last of bpftool's leaves with a normalised path is the one compared.
        let mut by_norm: HashMap<&str, usize> = HashMap::new();
        for (i, t) in theirs.iter().enumerate() {
            by_norm.insert(&t.norm, i);
        }
        let mut used: HashSet<&str> = HashSet::new();
        let mut steps = Vec::with_capacity(ours_flat.len());
        for (path, cmp) in &ours_flat {
            let step = normalize_path(path).and_then(|norm| {
                let Some((&norm, &i)) = by_norm.get_key_value(norm.as_str()) else {
                    self.unmatched
                        .insert(format!("{} `{path}` (ours)", role.name()));
                    return None;
                };
                used.insert(norm);
                // Elements of a byte array were matched as the array.
                if let Cmp::Bytes(..) = cmp {
                    let elements = format!("{norm}[");
                    used.extend(by_norm.keys().filter(|k| k.starts_with(&elements)));
                }
                Some(Step {
                    theirs: i,
                    our_path: path.clone(),
                    their_path: theirs[i].path.clone(),
                    compared: self.tallies.compared_slot(role, path),
                    disagree: None,
                })
            });
            steps.push(step);
        }
        self.unmatched_theirs(role, theirs, &by_norm, &used);
        Plan {
            sig,
            kinds: ours_flat.iter().map(|(_, c)| c.kind()).collect(),
            steps,
        }
    }

    /// bpftool's leaves that none of ours matched.
    fn unmatched_theirs(
        &mut self,
        role: Role,
        theirs: &[TheirPath],
        by_norm: &HashMap<&str, usize>,
        used: &HashSet<&str>,
    ) {
        for (norm, &i) in by_norm {
            let t = &theirs[i];
            if used.contains(norm) || t.array {
                continue;
            }
            // Elements of arrays we matched whole.
            if t.path.ends_with(']') {
                let base = &norm[..norm.rfind('[').unwrap_or(norm.len())];
                if used.contains(base) {
                    continue;
                }
            }
            self.unmatched
                .insert(format!("{} `{}` (bpftool's)", role.name(), t.path));
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
            .tallies
            .disagree_at
            .iter()
            .filter_map(|((role, ours, theirs), &i)| {
                Some((side_of(*role)?, ours, theirs, self.tallies.disagree.get(i)?))
            })
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
            .tallies
            .compared_at
            .get(&(side.role, ours.to_string()))
            .and_then(|&i| self.tallies.compared.get(i))
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
    [key, value]: [Option<&'s TreeSide>; 2],
) -> Vec<(&'s TreeSide, &'e [u8], &'f Json)> {
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

/// Keys' plan, then values'.
fn role_slot(role: Role) -> usize {
    role.pick(0, 1)
}

/// Compares our leaves with bpftool's as `plan` pairs them; true when some field could
/// be compared.
#[allow(clippy::too_many_arguments)]
fn apply(
    plan: &mut Plan,
    side: &TreeSide,
    ours: &[Cmp<'_>],
    theirs: &TheirLeaves<'_>,
    tallies: &mut Tallies,
    id: &EntryId<'_>,
    stats: &mut Stats,
    marks: &mut Marks,
) -> bool {
    let mut compared_any = false;
    for (cmp, step) in ours.iter().zip(plan.steps.iter_mut()) {
        let Some(step) = step else {
            continue;
        };
        let Some(same) = theirs.same(step.theirs, cmp, side.order) else {
            continue;
        };
        compared_any = true;
        stats.compared_fields += 1;
        if let Some(n) = tallies.compared.get_mut(step.compared) {
            *n += 1;
        }
        if same {
            continue;
        }
        marks.add(Code::Disagrees);
        let slot = *step.disagree.get_or_insert_with(|| {
            tallies.disagree_slot(side.role, &step.our_path, &step.their_path)
        });
        if let Some(t) = tallies.disagree.get_mut(slot) {
            let example = || {
                Some(format!(
                    "{cmp} here, {} in bpftool's",
                    theirs.text(step.theirs)
                ))
            };
            t.add_for(id, example);
        }
    }
    compared_any
}

/// Our leaves of `v` in order ([`for_each_leaf`]).
fn cmps_of(v: &Value) -> Vec<Cmp<'_>> {
    let mut out = Vec::new();
    for_each_leaf(v, &mut |c| out.push(c));
    out
}

impl<'v> From<LeafValue<'v>> for Cmp<'v> {
    /// As [`leaf_of`] makes them from the tree.
    fn from(l: LeafValue<'v>) -> Self {
        match l {
            LeafValue::Int { value, bits } => Cmp::Num { value, bits },
            LeafValue::Bool(b) => Cmp::Num {
                value: i128::from(b),
                bits: 8,
            },
            LeafValue::Float(x) => Cmp::Float(x),
            LeafValue::Enum { value, name } => Cmp::Enum { value, name },
            LeafValue::Bytes(b) => Cmp::Bytes(b),
            LeafValue::Pointer(p) => Cmp::Num {
                value: i128::from(p),
                bits: 64,
            },
        }
    }
}

/// A leaf value, in a form comparable with bpftool's JSON.
#[derive(Clone, Debug)]
enum Cmp<'v> {
    Num { value: i128, bits: u16 },
    Float(f64),
    Enum { value: i128, name: Option<&'v str> },
    Bytes(&'v [u8]),
}

impl std::fmt::Display for Cmp<'_> {
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

fn json_int(n: &serde_json::Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn low_bits(v: i128, bits: u16) -> u128 {
    let bits = u32::from(bits).min(128);
    if bits == 128 {
        v as u128
    } else {
        (v as u128) & ((1u128 << bits) - 1)
    }
}

impl Cmp<'_> {
    /// What a plan checks our leaves by: the same kinds, the same pairing.
    fn kind(&self) -> u8 {
        match self {
            Cmp::Num { .. } => 0,
            Cmp::Float(_) => 1,
            Cmp::Enum { .. } => 2,
            Cmp::Bytes(_) => 3,
        }
    }

    /// `None` when the two cannot be compared (an enum name against a plain integer).
    fn same_as(&self, j: Their<'_>, order: ByteOrder) -> Option<bool> {
        match (self, j) {
            (Cmp::Num { value, .. }, Their::Number(n)) => match json_int(n) {
                Some(n) => Some(n == *value),
                None => n.as_f64().map(|x| x == *value as f64),
            },
            (Cmp::Num { value, bits }, Their::Str(s)) => {
                parse_hex(s).map(|h| h == low_bits(*value, *bits))
            }
            (Cmp::Num { value, .. }, Their::Bool(b)) => Some(*value == i128::from(b)),
            (Cmp::Float(x), Their::Number(n)) => {
                n.as_f64().map(|y| y == *x || (x.is_nan() && y.is_nan()))
            }
            (Cmp::Enum { value, name }, Their::Str(s)) => match parse_hex(s) {
                Some(h) => Some(h == *value as u128 || low_bits(*value, 64) == h),
                None => Some(*name == Some(s)),
            },
            (Cmp::Enum { value, .. }, Their::Number(n)) => json_int(n).map(|n| {
                n == *value
                    || (n < 0 && low_bits(n, 32) == *value as u128)
                    || low_bits(n, 64) == *value as u128
            }),
            (Cmp::Bytes(b), Their::Str(s)) => {
                let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(&b[..n] == s.as_bytes())
            }
            (Cmp::Bytes(b), Their::Array(items)) => Some(
                items.len() == b.len()
                    && items.iter().zip(b.iter()).all(|(x, y)| {
                        x.as_number()
                            .and_then(json_int)
                            .is_some_and(|n| n as u8 == *y)
                    }),
            ),
            // A byte array standing in for an integer (Go `[8]byte` for a `__u64`).
            (Cmp::Bytes(b), Their::Number(n)) if b.len() <= 16 => {
                let v = uint_from_bytes(b, order);
                json_int(n).map(|n| low_bits(n, b.len() as u16 * 8) == v)
            }
            _ => None,
        }
    }
}

/// Our leaf of `v`, if it is one that is compared.
fn leaf_of(v: &Value) -> Option<Cmp<'_>> {
    Some(match v {
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
            name: name.as_deref(),
        },
        Value::Str { bytes, .. } | Value::Bytes { bytes, .. } => Cmp::Bytes(bytes),
        Value::Pointer(p) => Cmp::Num {
            value: i128::from(*p),
            bits: 64,
        },
        _ => return None,
    })
}

/// Our leaves in order, without their paths (see [`flatten_ours`]).
fn for_each_leaf<'v>(v: &'v Value, f: &mut impl FnMut(Cmp<'v>)) {
    match v {
        Value::Struct(fields) | Value::Union(fields) => {
            fields.iter().for_each(|x| for_each_leaf(&x.value, f));
        }
        Value::Array(items) => items.iter().for_each(|x| for_each_leaf(x, f)),
        _ => {
            if let Some(c) = leaf_of(v) {
                f(c);
            }
        }
    }
}

/// Our leaves with the paths `TypeTable::leaves` gives them.
fn flatten_ours<'v>(v: &'v Value, path: &str, out: &mut Vec<(String, Cmp<'v>)>) {
    match v {
        Value::Struct(fields) | Value::Union(fields) => {
            for f in fields {
                let p = if f.inline {
                    path.to_string()
                } else {
                    join_path(path, &f.name)
                };
                flatten_ours(&f.value, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten_ours(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {
            if let Some(c) = leaf_of(v) {
                out.push((path.to_string(), c));
            }
        }
    }
}

/// bpftool's leaves (and arrays, which may be byte arrays) in order, with their paths.
#[derive(Default)]
struct TreeLeaves<'j> {
    paths: Vec<TheirPath>,
    nodes: Vec<&'j Json>,
    /// Normalised paths seen: the walk stops past [`crate::decode::MAX_VALUES`] of them.
    norms: HashSet<String>,
}

impl<'j> TreeLeaves<'j> {
    fn walk(&mut self, j: &'j Json, path: &str, norm: &str, depth: u32) {
        if depth > 64 || self.norms.len() > crate::decode::MAX_VALUES {
            return;
        }
        match j {
            Json::Object(m) => {
                for (k, v) in m {
                    let p = join_path(path, k);
                    self.walk(v, &p, &join_path(norm, &fold_name(k)), depth + 1);
                }
            }
            Json::Array(items) => {
                self.leaf(j, path, norm, true);
                for (i, x) in items.iter().enumerate() {
                    let (p, n) = (format!("{path}[{i}]"), format!("{norm}[{i}]"));
                    self.walk(x, &p, &n, depth + 1);
                }
            }
            _ => self.leaf(j, path, norm, false),
        }
    }

    fn leaf(&mut self, j: &'j Json, path: &str, norm: &str, array: bool) {
        self.norms.insert(norm.to_string());
        self.paths.push(TheirPath {
            path: path.to_string(),
            norm: norm.to_string(),
            array,
        });
        self.nodes.push(j);
    }
}

#[cfg(test)]
mod tests {
    use super::recycle;

    /// The token path's promise of no allocation per entry rests on this.
    #[test]
    fn recycle_keeps_the_allocation_across_lifetimes() {
        let text = String::from("borrowed");
        let mut v: Vec<&'static str> = Vec::with_capacity(64);
        v.push("static");
        let (ptr, cap) = (v.as_ptr() as usize, v.capacity());
        let mut w: Vec<&str> = recycle(v);
        assert!(w.is_empty());
        w.push(&text);
        assert_eq!((w.as_ptr() as usize, w.capacity()), (ptr, cap));
    }
}
