//! Snapshot diff: the entries added, removed and changed between two dumps of one map.
//!
//! Entries are matched by their key bytes and compared by their value bytes (every CPU's
//! value for per-CPU maps). Types only explain a change: a changed value lists the leaf
//! fields whose bits changed ([`FieldKind::Field`], old and new decoded), the padding
//! that changed ([`FieldKind::Padding`]) and changed bytes past the end of the type.
//! Without types, bpftool's own decoding explains (`formatted`, when both dumps have
//! it), else the byte ranges that changed ([`FieldKind::Bytes`]).
//!
//! A dump without raw bytes (the plain `bpftool map dump` listing of a map with BTF) can
//! only be matched by bpftool's decoded form: then both dumps are compared that way
//! ([`Basis::Decoded`]), the side with raw bytes decoded into bpftool's form with the
//! types when it has no `formatted` of its own. bpftool does not print padding, so
//! padding-only differences are invisible on that basis.
//!
//! Matching walks both dumps in order while their keys line up (two dumps of one map
//! list most keys in the same order) and otherwise hashes the old keys once
//! (`HashMap<&[u8], u32>` over the dump's own bytes): an unchanged entry costs a key
//! comparison (or one lookup) and a value comparison, and allocates nothing.
//! Only entries that differ are decoded. [`MapDiff::changes`] flattens the result into
//! one row per change (key, field path, old, new, kind) for tables and data frames.

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;
use std::fmt::Write as _;

use mapsleuth_dump::{Dump, DumpEntry, DumpFormat, EntryKind, MapMeta};
use mapsleuth_layout::{ByteOrder, PaddingRegion};
use serde::{Deserialize, Serialize};
use serde_json::Value as J;

use crate::decode::{hex, to_bpftool_json, DecodeError, Decoder, Field, FlatDecoder, Value};
use crate::dump_report::{TypeUse, Types};
use crate::forensics::TypeRef;
use crate::names::join_path;

/// How to compare.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Compare dumps whose key or value sizes differ (by bytes) instead of refusing.
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The two dumps cannot be of one map.
    #[error(
        "{old} and {new} are not dumps of compatible maps: {what} sizes differ ({old_size} vs \
         {new_size} bytes); --force compares them anyway, by bytes"
    )]
    Incompatible {
        what: &'static str,
        old: String,
        new: String,
        old_size: usize,
        new_size: usize,
    },
    /// One dump has only bpftool's decoded form, and an entry of the other can be given
    /// none.
    #[error(
        "{file}:{line}: {other} holds only bpftool's decoded values (plain `bpftool map dump` \
         of a map with BTF), so entries are matched by their decoded keys; this entry has no \
         decoded form: give the key and value types (TYPES), or dump both with `bpftool -j`"
    )]
    Undecodable {
        file: String,
        line: u64,
        other: String,
    },
    #[error("{file}:{line}: bpftool's decoded form of the entry is not valid JSON: {message}")]
    Formatted {
        file: String,
        line: u64,
        message: String,
    },
    /// Ring buffer records have no key to match entries by.
    #[error(
        "{file}: a ring buffer capture holds records without keys: there is nothing to \
         match them by between two captures; see them with `analyze dump --record-type \
         TYPE`, or compare them in SQL with `query`"
    )]
    Ring { file: String },
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What entries were matched and compared by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Key bytes and value bytes.
    Bytes,
    /// bpftool's decoded keys and values (a dump has no raw bytes).
    Decoded,
}

/// What happened to an entry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// What part of a value changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A leaf field of the value type (or of bpftool's decoded value).
    Field,
    /// Bytes of the value type that no field covers (holes, trailing padding).
    Padding,
    /// A byte range: no type explains it, or it lies past the end of the type.
    Bytes,
    /// The whole value: a lookup error came or went, or a CPU is on one side only.
    Value,
}

impl FieldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Field => "field",
            FieldKind::Padding => "padding",
            FieldKind::Bytes => "bytes",
            FieldKind::Value => "value",
        }
    }
}

/// One change inside a changed entry.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// Dotted leaf path (`hdr.addrs[2].port`); `<padding 13..16>` and `<bytes 8..10>` for
    /// byte ranges (end exclusive); empty for the whole value.
    pub path: String,
    pub kind: FieldKind,
    /// The CPU, for per-CPU maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
    /// Byte offset in the value (the byte holding the first bit of a bitfield).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Bytes (bytes spanned, for a bitfield).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The old value: decoded, or lowercase hex for byte ranges; null when absent.
    pub old: Tree,
    pub new: Tree,
}

/// One side of a reported entry.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct EntryState {
    /// Line of the input where the entry starts.
    pub line: u64,
    /// The value decoded with the value type, or as bpftool decoded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Tree>,
    /// Per-CPU maps: each CPU's value, decoded, in CPU order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Tree>>,
    /// The raw value as lowercase hex (one per CPU for per-CPU maps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hex: Vec<String>,
    /// bpftool's lookup error instead of a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Maps of maps: the inner map the value points to (its map id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_map_id: Option<u32>,
}

/// An entry added, removed or changed.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct EntryChange {
    pub change: ChangeKind,
    /// The raw key as lowercase hex (absent when neither dump has raw bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hex: Option<String>,
    /// The key decoded with the key type, or as bpftool decoded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Tree>,
    /// The entry in the old dump (removed and changed entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<EntryState>,
    /// The entry in the new dump (added and changed entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<EntryState>,
    /// Changed entries: what changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

impl EntryChange {
    /// The key as people read it: decoded when it can be, else hex.
    pub fn key_text(&self) -> String {
        match (&self.key, &self.key_hex) {
            (Some(k), _) => k.brief(),
            (None, Some(h)) => h.clone(),
            (None, None) => "?".to_string(),
        }
    }
}

/// A capture's snapshot identity (mapsleuth capture files carry it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Snapshot {
    /// When the capture started (RFC 3339 UTC).
    pub snapshot_id: String,
    /// When its last map was read.
    pub finished_at: String,
    pub hostname: String,
    pub kernel_release: String,
    /// SHA-256 of the capture file (as stored at its end), lowercase hex.
    pub digest: String,
}

/// One of the two dumps.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SideInfo {
    pub file: String,
    pub format: DumpFormat,
    /// Which map of the input (bpftool dumps several when a name matches several).
    pub map_index: usize,
    pub map: MapMeta,
    pub entries: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    /// Values per entry of a per-CPU map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    /// Set for capture files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

impl SideInfo {
    pub fn of(d: &Dump) -> Self {
        SideInfo {
            file: d.source.name.to_string(),
            format: d.source.format,
            map_index: d.source.map_index,
            map: d.meta.clone(),
            entries: d.len(),
            key_size: d.key_size(),
            value_size: d.value_size(),
            cpus: d.cpu_count(),
            snapshot: None,
        }
    }
}

/// How many entries of each kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Counts {
    pub old_entries: usize,
    pub new_entries: usize,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// Field changes over all changed entries (each CPU counted).
    pub field_changes: usize,
}

impl Counts {
    pub fn differ(&self) -> bool {
        self.added + self.removed + self.changed > 0
    }

    fn add(&mut self, o: &Counts) {
        self.old_entries += o.old_entries;
        self.new_entries += o.new_entries;
        self.added += o.added;
        self.removed += o.removed;
        self.changed += o.changed;
        self.unchanged += o.unchanged;
        self.field_changes += o.field_changes;
    }
}

/// The diff of two dumps of one map.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MapDiff {
    pub old: SideInfo,
    pub new: SideInfo,
    pub basis: Basis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<TypeUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<TypeUse>,
    /// Where the types come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types_from: Option<String>,
    pub counts: Counts,
    /// What the reader should know about how the dumps were compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Added, removed and changed entries, in key order (bytes, else decoded key text).
    pub entries: Vec<EntryChange>,
}

/// One change as a flat row: what a data frame of changes holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    /// The map's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The key's bytes as lowercase hex; bpftool's decoded key as JSON text when the
    /// dumps have no raw bytes.
    pub key: String,
    pub kind: ChangeKind,
    /// For changed entries: what part changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_kind: Option<FieldKind>,
    /// The field path (see [`FieldChange::path`]); empty for a whole entry.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<usize>,
    /// The old value as JSON text (none for an added entry).
    pub old: Option<String>,
    /// The new value as JSON text (none for a removed entry).
    pub new: Option<String>,
}

impl MapDiff {
    /// True when an entry was added, removed or changed.
    pub fn differ(&self) -> bool {
        self.counts.differ()
    }

    /// One row per change: an added or removed entry is one row (its whole value); a
    /// changed entry is one row per [`FieldChange`].
    pub fn changes(&self) -> Vec<Change> {
        let map = self.new.map.name.clone().or(self.old.map.name.clone());
        let mut rows = Vec::new();
        for e in &self.entries {
            let key = match (&e.key_hex, &e.key) {
                (Some(h), _) => h.clone(),
                (None, Some(k)) => k.canonical(),
                (None, None) => String::new(),
            };
            match e.change {
                ChangeKind::Added | ChangeKind::Removed => {
                    let added = e.change == ChangeKind::Added;
                    let side = if added { &e.new } else { &e.old };
                    let whole = side.as_ref().map(|s| s.whole().json());
                    let (old, new) = if added { (None, whole) } else { (whole, None) };
                    rows.push(Change {
                        map: map.clone(),
                        key,
                        kind: e.change,
                        field_kind: None,
                        path: String::new(),
                        cpu: None,
                        old,
                        new,
                    });
                }
                ChangeKind::Changed => {
                    for f in &e.fields {
                        let text = |v: &Tree| (!v.is_null()).then(|| v.json());
                        rows.push(Change {
                            map: map.clone(),
                            key: key.clone(),
                            kind: e.change,
                            field_kind: Some(f.kind),
                            path: f.path.clone(),
                            cpu: f.cpu,
                            old: text(&f.old),
                            new: text(&f.new),
                        });
                    }
                }
            }
        }
        rows
    }
}

impl EntryState {
    /// The whole value as one tree: decoded (an array for per-CPU maps), else hex, else
    /// the lookup error.
    pub fn whole(&self) -> Tree {
        if let Some(v) = &self.value {
            v.clone()
        } else if let Some(v) = &self.values {
            Tree::Array(v.clone())
        } else if let Some(e) = &self.error {
            Tree::Leaf(J::String(format!("lookup error: {e}")))
        } else if self.hex.len() == 1 {
            Tree::Leaf(J::String(self.hex[0].clone()))
        } else {
            Tree::Array(
                self.hex
                    .iter()
                    .map(|h| Tree::Leaf(J::String(h.clone())))
                    .collect(),
            )
        }
    }
}

/// A map present in one input only (inputs holding several maps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct UnpairedMap {
    /// `old` or `new`.
    pub side: String,
    pub file: String,
    pub map_index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub entries: usize,
}

/// One JSON document: `schemas/diff.schema.json`.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DiffReport {
    pub tool_version: String,
    /// One diff per pair of maps (inputs usually hold one map each).
    pub maps: Vec<MapDiff>,
    /// Maps of one input that the other does not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpaired: Vec<UnpairedMap>,
    /// The counts summed over every pair.
    pub summary: Counts,
    /// True when anything was added, removed or changed, or a map is unpaired.
    pub differ: bool,
}

impl DiffReport {
    pub fn new(maps: Vec<MapDiff>, unpaired: Vec<UnpairedMap>) -> Self {
        let mut summary = Counts::default();
        for m in &maps {
            summary.add(&m.counts);
        }
        DiffReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            differ: summary.differ() || !unpaired.is_empty(),
            maps,
            unpaired,
            summary,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Decoded values with their members in order

/// A decoded value as JSON whose object members keep their order (the type's, or the
/// order bpftool printed them in). Equality ignores member order.
#[derive(Clone, Debug)]
pub enum Tree {
    /// A scalar, string or null.
    Leaf(J),
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
}

impl Tree {
    pub const NULL: Tree = Tree::Leaf(J::Null);

    pub fn is_null(&self) -> bool {
        matches!(self, Tree::Leaf(J::Null))
    }

    fn hex(bytes: &[u8]) -> Tree {
        Tree::Leaf(J::String(hex(bytes)))
    }

    fn get(&self, name: &str) -> Option<&Tree> {
        match self {
            Tree::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Compact JSON text, members in order.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Compact JSON text with members sorted by name: equal trees, equal text.
    pub fn canonical(&self) -> String {
        fn write(t: &Tree, s: &mut String) {
            match t {
                Tree::Leaf(v) => {
                    let _ = write!(s, "{v}");
                }
                Tree::Object(m) => {
                    let mut members: Vec<&(String, Tree)> = m.iter().collect();
                    members.sort_by(|a, b| a.0.cmp(&b.0));
                    s.push('{');
                    for (i, (k, v)) in members.into_iter().enumerate() {
                        if i > 0 {
                            s.push(',');
                        }
                        let _ = write!(s, "{}:", J::String(k.clone()));
                        write(v, s);
                    }
                    s.push('}');
                }
                Tree::Array(a) => {
                    s.push('[');
                    for (i, v) in a.iter().enumerate() {
                        if i > 0 {
                            s.push(',');
                        }
                        write(v, s);
                    }
                    s.push(']');
                }
            }
        }
        let mut s = String::new();
        write(self, &mut s);
        s
    }

    /// On one line, for people: `{saddr: 10, comm: "bash", v6: [1, 2]}`; members named
    /// `""` (anonymous, in bpftool's form) merged into their parent.
    pub fn brief(&self) -> String {
        fn members(m: &[(String, Tree)], first: &mut bool, s: &mut String) {
            for (k, v) in m {
                if let (true, Tree::Object(inner)) = (k.is_empty(), v) {
                    members(inner, first, s);
                    continue;
                }
                if !*first {
                    s.push_str(", ");
                }
                *first = false;
                s.push_str(k);
                s.push_str(": ");
                write(v, s);
            }
        }
        fn write(t: &Tree, s: &mut String) {
            match t {
                Tree::Leaf(v) => {
                    let _ = write!(s, "{v}");
                }
                Tree::Object(m) => {
                    s.push('{');
                    members(m, &mut true, s);
                    s.push('}');
                }
                Tree::Array(a) => {
                    s.push('[');
                    for (i, v) in a.iter().enumerate() {
                        if i > 0 {
                            s.push_str(", ");
                        }
                        write(v, s);
                    }
                    s.push(']');
                }
            }
        }
        let mut s = String::new();
        write(self, &mut s);
        s
    }

    /// The leaves as `(path, value)` lines, for line-by-line display: objects become
    /// dotted paths, arrays of aggregates `[i]`; arrays of scalars stay on one line; a
    /// scalar is one line with an empty path.
    pub fn lines(&self) -> Vec<(String, String)> {
        fn go(t: &Tree, path: &str, out: &mut Vec<(String, String)>) {
            match t {
                Tree::Object(m) if !m.is_empty() => {
                    for (k, v) in m {
                        go(v, &join_path(path, k), out);
                    }
                }
                Tree::Array(a) if a.iter().any(|x| !matches!(x, Tree::Leaf(_))) => {
                    for (i, v) in a.iter().enumerate() {
                        go(v, &format!("{path}[{i}]"), out);
                    }
                }
                other => out.push((path.to_string(), other.brief())),
            }
        }
        let mut out = Vec::new();
        go(self, "", &mut out);
        out
    }
}

impl PartialEq for Tree {
    fn eq(&self, other: &Tree) -> bool {
        match (self, other) {
            (Tree::Leaf(a), Tree::Leaf(b)) => a == b,
            (Tree::Array(a), Tree::Array(b)) => a == b,
            (Tree::Object(a), Tree::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| other.get(k) == Some(v))
            }
            _ => false,
        }
    }
}

impl From<&Value> for Tree {
    /// Our decoding, as [`Value`] serializes it (anonymous members merged).
    fn from(v: &Value) -> Tree {
        fn members(fields: &[Field], out: &mut Vec<(String, Tree)>) {
            for f in fields {
                match (&f.value, f.inline) {
                    (Value::Struct(inner) | Value::Union(inner), true) => members(inner, out),
                    _ => out.push((f.name.to_string(), Tree::from(&f.value))),
                }
            }
        }
        match v {
            Value::Struct(fields) | Value::Union(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                members(fields, &mut out);
                Tree::Object(out)
            }
            Value::Array(items) => Tree::Array(items.iter().map(Tree::from).collect()),
            // 128-bit integers beyond what JSON numbers hold: as text.
            other => Tree::Leaf(
                serde_json::to_value(other).unwrap_or_else(|_| J::String(other.to_string())),
            ),
        }
    }
}

impl From<J> for Tree {
    fn from(v: J) -> Tree {
        match v {
            J::Object(m) => Tree::Object(m.into_iter().map(|(k, v)| (k, Tree::from(v))).collect()),
            J::Array(a) => Tree::Array(a.into_iter().map(Tree::from).collect()),
            other => Tree::Leaf(other),
        }
    }
}

impl Serialize for Tree {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Tree::Leaf(v) => v.serialize(s),
            Tree::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Tree::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        use serde::de::{MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Leaf(J::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Leaf(J::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
                Ok(Tree::Leaf(J::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
                Ok(Tree::Leaf(
                    serde_json::Number::from_f64(v).map_or(J::Null, J::Number),
                ))
            }
            fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Leaf(J::String(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Tree, E> {
                Ok(Tree::Leaf(J::String(v)))
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::NULL)
            }
            fn visit_none<E>(self) -> Result<Tree, E> {
                Ok(Tree::NULL)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = a.next_element()? {
                    out.push(v);
                }
                Ok(Tree::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Tree, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Tree>()? {
                    out.push((k, v));
                }
                Ok(Tree::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Tree {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DiffValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A decoded value (with the key or value type, as `analyze dump` decodes it; or as bpftool decoded it), lowercase hex for byte ranges and undecoded values, or null when absent.",
            "type": ["object", "array", "string", "number", "integer", "boolean", "null"]
        })
    }
}

// ---------------------------------------------------------------------------------------
// The engine

/// The value type compiled for explaining changes.
struct ValuePlan {
    full: Decoder,
    flat: FlatDecoder,
    padding: Vec<PaddingRegion>,
    size: u64,
    order: ByteOrder,
}

struct Plan {
    key: Option<Decoder>,
    value: Option<ValuePlan>,
}

impl Plan {
    fn new(types: &Types<'_>, notes: &mut Vec<String>) -> Result<Plan, DiffError> {
        let key = types.key.map(|t| Decoder::new(t.table, t.id)).transpose()?;
        let value = match types.value {
            None => None,
            Some(t) => {
                let full = Decoder::new(t.table, t.id)?;
                match (FlatDecoder::new(t.table, t.id), t.table.padding(t.id)) {
                    (Ok(flat), Ok(padding)) => Some(ValuePlan {
                        size: full.size(),
                        order: full.byte_order(),
                        full,
                        flat,
                        padding,
                    }),
                    (Err(e), _) => {
                        notes.push(format!(
                            "the value type cannot be flattened into fields ({e}): changes are \
                             shown as byte ranges"
                        ));
                        None
                    }
                    (_, Err(e)) => {
                        notes.push(format!(
                            "the value type's padding cannot be computed ({e}): changes are \
                             shown as byte ranges"
                        ));
                        None
                    }
                }
            }
        };
        Ok(Plan { key, value })
    }

    fn decode_value(&self, bytes: &[u8]) -> Option<Tree> {
        let vp = self.value.as_ref()?;
        vp.full.decode(bytes).ok().map(|v| Tree::from(&v))
    }
}

fn type_use(t: Option<TypeRef<'_>>) -> Result<Option<TypeUse>, DiffError> {
    let Some(t) = t else { return Ok(None) };
    Ok(Some(TypeUse {
        name: t.table.type_name(t.id),
        size: t
            .table
            .size_of(t.id)
            .map_err(|e| DiffError::Decode(e.into()))?,
        byte_order: t.table.target.byte_order,
    }))
}

/// Compares `old` and `new`, two dumps of one map, with `types` (one set for both)
/// explaining the changes.
pub fn diff(
    old: &Dump,
    new: &Dump,
    types: &Types<'_>,
    opts: &DiffOptions,
) -> Result<MapDiff, DiffError> {
    let mut notes = Vec::new();
    if let Some(ring) = [old, new].into_iter().find(|d| d.is_ring()) {
        return Err(DiffError::Ring {
            file: ring.source.name.to_string(),
        });
    }
    compatible(old, new, opts, &mut notes)?;
    let plan = Plan::new(types, &mut notes)?;
    if let (Some(vp), Some(size)) = (&plan.value, old.value_size().or(new.value_size())) {
        if size as u64 != vp.size {
            notes.push(format!(
                "the value type is {} bytes but the dumped values are {size}: bytes past the \
                 type are compared as bytes (`analyze dump` explains the mismatch)",
                vp.size
            ));
        }
    }
    let no_bytes = |d: &Dump| d.entries().any(|e| e.key().is_none());
    let (old_decoded, new_decoded) = (no_bytes(old), no_bytes(new));
    let basis = if old_decoded || new_decoded {
        let which = match (old_decoded, new_decoded) {
            (true, true) => "both dumps hold",
            (true, false) => "OLD holds",
            _ => "NEW holds",
        };
        notes.push(format!(
            "{which} only bpftool's decoded values (plain `bpftool map dump` of a map with \
             BTF): entries are matched and compared by bpftool's decoding, so padding and \
             other bytes bpftool does not print are not compared (`bpftool -j map dump` has \
             them)"
        ));
        Basis::Decoded
    } else {
        Basis::Bytes
    };
    if basis == Basis::Bytes && plan.value.is_none() {
        notes.push(
            if old.has_formatted() && new.has_formatted() {
                "no value type given: bpftool's own decoding explains the changes"
            } else {
                "no value type given: changes are shown as byte ranges (TYPES show fields)"
            }
            .to_string(),
        );
    }
    let mut run = Run {
        plan: &plan,
        entries: Vec::new(),
        counts: Counts {
            old_entries: old.len(),
            new_entries: new.len(),
            ..Counts::default()
        },
        notes: &mut notes,
    };
    match basis {
        Basis::Bytes => run.by_bytes(old, new),
        Basis::Decoded => run.by_decoded(old, new)?,
    }
    let (mut entries, mut counts) = (run.entries, run.counts);
    entries.sort_by(|a, b| (&a.0, a.1.change).cmp(&(&b.0, b.1.change)));
    let entries: Vec<EntryChange> = entries.into_iter().map(|(_, e)| e).collect();
    counts.field_changes = entries.iter().map(|e| e.fields.len()).sum();
    Ok(MapDiff {
        old: SideInfo::of(old),
        new: SideInfo::of(new),
        basis,
        key_type: type_use(types.key)?,
        value_type: type_use(types.value)?,
        types_from: types.source.map(str::to_string),
        counts,
        notes,
        entries,
    })
}

/// Key and value sizes must agree (unless forced); other differences are noted.
fn compatible(
    old: &Dump,
    new: &Dump,
    opts: &DiffOptions,
    notes: &mut Vec<String>,
) -> Result<(), DiffError> {
    for (what, a, b) in [
        ("key", old.key_size(), new.key_size()),
        ("value", old.value_size(), new.value_size()),
    ] {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                if !opts.force {
                    return Err(DiffError::Incompatible {
                        what,
                        old: old.source.name.to_string(),
                        new: new.source.name.to_string(),
                        old_size: a,
                        new_size: b,
                    });
                }
                notes.push(format!(
                    "--force: {what} sizes differ ({a} vs {b} bytes); compared by bytes"
                ));
            }
        }
    }
    let (m, n) = (&old.meta, &new.meta);
    if let (Some(a), Some(b)) = (&m.name, &n.name) {
        if a != b {
            notes.push(format!("the maps have different names: `{a}` and `{b}`"));
        }
    }
    if let (Some(a), Some(b)) = (&m.map_type, &n.map_type) {
        if a != b {
            notes.push(format!("the maps have different types: {a} and {b}"));
        }
    }
    if let (Some(a), Some(b)) = (old.cpu_count(), new.cpu_count()) {
        if a != b {
            notes.push(format!(
                "the dumps have different CPU counts ({a} and {b}): values of CPUs on one \
                 side only are reported as changes"
            ));
        }
    }
    Ok(())
}

struct Run<'p> {
    plan: &'p Plan,
    /// (sort key, change)
    entries: Vec<(String, EntryChange)>,
    counts: Counts,
    notes: &'p mut Vec<String>,
}

/// bpftool's decoded form of an entry: the key, and the value, one per CPU, or the
/// lookup error.
struct Decoded {
    key: Tree,
    value: DecodedValue,
}

#[derive(PartialEq)]
enum DecodedValue {
    One(Tree),
    PerCpu(Vec<Tree>),
    Error(String),
    None,
}

impl DecodedValue {
    fn cpu(&self, c: usize) -> Option<&Tree> {
        match self {
            DecodedValue::One(v) if c == 0 => Some(v),
            DecodedValue::PerCpu(v) => v.get(c),
            _ => None,
        }
    }

    fn whole(&self) -> Tree {
        match self {
            DecodedValue::One(v) => v.clone(),
            DecodedValue::PerCpu(v) => Tree::Array(v.clone()),
            DecodedValue::Error(m) => Tree::Leaf(J::String(format!("lookup error: {m}"))),
            DecodedValue::None => Tree::NULL,
        }
    }
}

/// One side of a reported entry, before it is reported.
type Side<'a, 'd> = Option<(Option<DumpEntry<'d>>, &'a Decoded)>;

impl Run<'_> {
    fn count(&mut self, change: ChangeKind) {
        match change {
            ChangeKind::Added => self.counts.added += 1,
            ChangeKind::Removed => self.counts.removed += 1,
            ChangeKind::Changed => self.counts.changed += 1,
        }
    }

    fn duplicates(&mut self, old: usize, new: usize) {
        for (n, which) in [(old, "OLD"), (new, "NEW")] {
            if n > 0 {
                self.notes.push(format!(
                    "{which} lists {n} key{} more than once: only the first of each is compared",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }

    // ---- by bytes ----

    fn by_bytes(&mut self, old: &Dump, new: &Dump) {
        // Entries of OLD not to report as removed: matched, or a repeated key.
        let mut done = vec![false; old.len()];
        let (mut dup_old, mut dup_new) = (0, 0);
        // Built on the first key that is not where the cursor says.
        let mut index: Option<HashMap<&[u8], u32>> = None;
        let mut cursor = 0;
        for n in new.entries() {
            let Some(k) = n.key() else { continue };
            // Two dumps of one map list most keys in the same order (bpftool walks the
            // map's buckets): the entry after the last match is tried before hashing.
            let at = match old.entry(cursor) {
                Some(o) if !done[cursor] && o.key() == Some(k) => Some(cursor),
                _ => index
                    .get_or_insert_with(|| index_keys(old, &mut done, &mut dup_old))
                    .get(k)
                    .map(|&i| i as usize),
            };
            let Some(i) = at else {
                self.report_bytes(ChangeKind::Added, None, Some(n));
                continue;
            };
            cursor = i + 1;
            if done[i] {
                dup_new += 1;
                continue;
            }
            done[i] = true;
            let Some(o) = old.entry(i) else { continue };
            if same_bytes(&o, &n) {
                self.counts.unchanged += 1;
            } else {
                self.report_bytes(ChangeKind::Changed, Some(o), Some(n));
            }
        }
        for (i, d) in done.iter().enumerate() {
            if !d {
                if let Some(o) = old.entry(i) {
                    self.report_bytes(ChangeKind::Removed, Some(o), None);
                }
            }
        }
        self.duplicates(dup_old, dup_new);
    }

    fn report_bytes(
        &mut self,
        change: ChangeKind,
        o: Option<DumpEntry<'_>>,
        n: Option<DumpEntry<'_>>,
    ) {
        let Some(any) = n.or(o) else { return };
        let key_bytes = any.key();
        let fo = o.and_then(|e| parse_formatted(&e).ok());
        let fnew = n.and_then(|e| parse_formatted(&e).ok());
        let key = match (&self.plan.key, key_bytes) {
            (Some(d), Some(k)) => d.decode(k).ok().map(|v| Tree::from(&v)),
            _ => None,
        }
        .or_else(|| fnew.as_ref().or(fo.as_ref()).map(|f| f.key.clone()));
        let mut fields = Vec::new();
        if let (Some(o), Some(n)) = (o, n) {
            self.fields_bytes(&o, &n, fo.as_ref(), fnew.as_ref(), &mut fields);
        }
        self.count(change);
        let key_hex = key_bytes.map(hex);
        let e = EntryChange {
            change,
            key_hex: key_hex.clone(),
            key,
            old: o.map(|e| self.state(&e, fo.as_ref())),
            new: n.map(|e| self.state(&e, fnew.as_ref())),
            fields,
        };
        self.entries.push((key_hex.unwrap_or_default(), e));
    }

    /// One side of a reported entry: decoded with the value type, else as bpftool
    /// decoded it.
    fn state(&self, e: &DumpEntry<'_>, f: Option<&Decoded>) -> EntryState {
        let mut st = EntryState {
            line: e.position().line,
            value: None,
            values: None,
            hex: e.values().map(hex).collect(),
            error: e.lookup_error().map(str::to_string),
            inner_map_id: e.inner_map_id(),
        };
        match (self.plan.value.is_some(), e.kind()) {
            (true, EntryKind::PerCpu) => {
                st.values = e.values().map(|v| self.plan.decode_value(v)).collect();
            }
            (true, EntryKind::Value) => {
                st.value = e.value().and_then(|v| self.plan.decode_value(v));
            }
            _ => match f.map(|f| &f.value) {
                Some(DecodedValue::One(v)) => st.value = Some(v.clone()),
                Some(DecodedValue::PerCpu(v)) => st.values = Some(v.clone()),
                _ => {}
            },
        }
        st
    }

    fn fields_bytes(
        &self,
        o: &DumpEntry<'_>,
        n: &DumpEntry<'_>,
        fo: Option<&Decoded>,
        fnew: Option<&Decoded>,
        out: &mut Vec<FieldChange>,
    ) {
        let has_values =
            |e: &DumpEntry<'_>| matches!(e.kind(), EntryKind::Value | EntryKind::PerCpu);
        if !(has_values(o) && has_values(n)) {
            out.push(FieldChange::whole(
                None,
                self.state(o, fo).whole(),
                self.state(n, fnew).whole(),
            ));
            return;
        }
        let percpu = o.is_percpu() || n.is_percpu();
        for c in 0..o.value_count().max(n.value_count()) {
            let cpu = percpu.then_some(c);
            match (o.cpu_value(c), n.cpu_value(c)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => {
                    let before = out.len();
                    if let Some(vp) = &self.plan.value {
                        vp.fields(a, b, cpu, out);
                    } else if let (Some(x), Some(y)) = (
                        fo.and_then(|f| f.value.cpu(c)),
                        fnew.and_then(|f| f.value.cpu(c)),
                    ) {
                        walk(x, y, "", cpu, out);
                    }
                    // Nothing decoded explains it (bytes bpftool does not print): bytes.
                    if out.len() == before {
                        byte_ranges(a, b, 0, cpu, out);
                    }
                }
                (a, b) => {
                    let whole = |v: Option<&[u8]>| match v {
                        None => Tree::NULL,
                        Some(v) => self.plan.decode_value(v).unwrap_or_else(|| Tree::hex(v)),
                    };
                    out.push(FieldChange::whole(cpu, whole(a), whole(b)));
                }
            }
        }
    }

    // ---- by bpftool's decoded form ----

    fn by_decoded(&mut self, old: &Dump, new: &Dump) -> Result<(), DiffError> {
        let olds = self.decode_all(old, new)?;
        let news = self.decode_all(new, old)?;
        let mut index: HashMap<String, u32> = HashMap::with_capacity(olds.len());
        let mut done = vec![false; olds.len()];
        let (mut dup_old, mut dup_new) = (0, 0);
        for (i, d) in olds.iter().enumerate() {
            match index.entry(d.key.canonical()) {
                Slot::Vacant(v) => {
                    v.insert(i as u32);
                }
                Slot::Occupied(_) => {
                    dup_old += 1;
                    done[i] = true;
                }
            }
        }
        for (j, d) in news.iter().enumerate() {
            let sort = d.key.canonical();
            let n = Some((new.entry(j), d));
            match index.get(&sort) {
                None => self.report_decoded(sort, ChangeKind::Added, None, n),
                Some(&i) => {
                    let i = i as usize;
                    if done[i] {
                        dup_new += 1;
                        continue;
                    }
                    done[i] = true;
                    let o = &olds[i];
                    if o.value == d.value {
                        self.counts.unchanged += 1;
                    } else {
                        let o = Some((old.entry(i), o));
                        self.report_decoded(sort, ChangeKind::Changed, o, n);
                    }
                }
            }
        }
        for (i, d) in done.iter().enumerate() {
            if !d {
                let o = &olds[i];
                let sort = o.key.canonical();
                self.report_decoded(sort, ChangeKind::Removed, Some((old.entry(i), o)), None);
            }
        }
        if dup_old + dup_new > 0 {
            self.notes.push(
                "keys that differ only in bytes bpftool does not print (padding) look alike in \
                 its decoding"
                    .to_string(),
            );
        }
        self.duplicates(dup_old, dup_new);
        Ok(())
    }

    /// bpftool's decoded form of every entry of `d`: its own `formatted`, else its raw
    /// bytes decoded with the types into bpftool's form.
    fn decode_all(&self, d: &Dump, other: &Dump) -> Result<Vec<Decoded>, DiffError> {
        let mut out = Vec::with_capacity(d.len());
        for e in d.entries() {
            if e.formatted_json().is_some() {
                let f = parse_formatted(&e).map_err(|message| DiffError::Formatted {
                    file: d.source.name.to_string(),
                    line: e.position().line,
                    message,
                })?;
                out.push(f);
                continue;
            }
            let undecodable = || DiffError::Undecodable {
                file: d.source.name.to_string(),
                line: e.position().line,
                other: other.source.name.to_string(),
            };
            let (Some(kd), Some(k)) = (&self.plan.key, e.key()) else {
                return Err(undecodable());
            };
            let key = Tree::from(to_bpftool_json(&kd.decode(k)?));
            let value = match e.kind() {
                EntryKind::LookupError => {
                    DecodedValue::Error(e.lookup_error().unwrap_or("").to_string())
                }
                EntryKind::FormattedOnly => DecodedValue::None,
                kind => {
                    let Some(vp) = &self.plan.value else {
                        return Err(undecodable());
                    };
                    let mut cpus = Vec::with_capacity(e.value_count());
                    for v in e.values() {
                        cpus.push(Tree::from(to_bpftool_json(&vp.full.decode(v)?)));
                    }
                    match (kind, cpus.pop()) {
                        (EntryKind::PerCpu, last) => {
                            cpus.extend(last);
                            DecodedValue::PerCpu(cpus)
                        }
                        (_, Some(one)) => DecodedValue::One(one),
                        (_, None) => DecodedValue::None,
                    }
                }
            };
            out.push(Decoded { key, value });
        }
        Ok(out)
    }

    fn report_decoded(
        &mut self,
        sort: String,
        change: ChangeKind,
        o: Side<'_, '_>,
        n: Side<'_, '_>,
    ) {
        let key_bytes = [n, o]
            .into_iter()
            .find_map(|s| s.and_then(|(e, _)| e).and_then(|e| e.key()));
        let key = n.or(o).map(|(_, d)| d.key.clone());
        let state = |side: Side<'_, '_>| {
            side.map(|(e, d)| {
                let mut st = EntryState {
                    line: e.map_or(0, |e| e.position().line),
                    value: None,
                    values: None,
                    hex: e.map(|e| e.values().map(hex).collect()).unwrap_or_default(),
                    error: None,
                    inner_map_id: e.and_then(|e| e.inner_map_id()),
                };
                match &d.value {
                    DecodedValue::One(v) => st.value = Some(v.clone()),
                    DecodedValue::PerCpu(v) => st.values = Some(v.clone()),
                    DecodedValue::Error(m) => st.error = Some(m.clone()),
                    DecodedValue::None => {}
                }
                st
            })
        };
        let mut fields = Vec::new();
        if let (Some((_, a)), Some((_, b))) = (o, n) {
            match (&a.value, &b.value) {
                (DecodedValue::PerCpu(x), DecodedValue::PerCpu(y)) => {
                    for c in 0..x.len().max(y.len()) {
                        match (x.get(c), y.get(c)) {
                            (Some(p), Some(q)) => walk(p, q, "", Some(c), &mut fields),
                            (p, q) => fields.push(FieldChange::whole(
                                Some(c),
                                p.cloned().unwrap_or(Tree::NULL),
                                q.cloned().unwrap_or(Tree::NULL),
                            )),
                        }
                    }
                }
                (DecodedValue::One(x), DecodedValue::One(y)) => walk(x, y, "", None, &mut fields),
                (x, y) => fields.push(FieldChange::whole(None, x.whole(), y.whole())),
            }
        }
        self.count(change);
        let e = EntryChange {
            change,
            key_hex: key_bytes.map(hex),
            key,
            old: state(o),
            new: state(n),
            fields,
        };
        self.entries.push((sort, e));
    }
}

impl FieldChange {
    /// The whole value changed (or is on one side only).
    fn whole(cpu: Option<usize>, old: Tree, new: Tree) -> FieldChange {
        FieldChange {
            path: String::new(),
            kind: FieldKind::Value,
            cpu,
            offset: None,
            size: None,
            old,
            new,
        }
    }
}

/// True when the two entries hold the same values (or the same lookup error).
fn same_bytes(o: &DumpEntry<'_>, n: &DumpEntry<'_>) -> bool {
    o.kind() == n.kind()
        && o.lookup_error() == n.lookup_error()
        && o.value_count() == n.value_count()
        && o.values().zip(n.values()).all(|(a, b)| a == b)
}

/// Every key of `d` to the index of its first entry, hashed once; the entries whose key
/// an earlier entry has are marked done (not reported) and counted in `dups`.
fn index_keys<'d>(d: &'d Dump, done: &mut [bool], dups: &mut usize) -> HashMap<&'d [u8], u32> {
    let mut index = HashMap::with_capacity(d.len());
    for (i, e) in d.entries().enumerate() {
        if let Some(k) = e.key() {
            match index.entry(k) {
                Slot::Vacant(v) => {
                    v.insert(i as u32);
                }
                Slot::Occupied(_) => {
                    *dups += 1;
                    done[i] = true;
                }
            }
        }
    }
    index
}

/// bpftool's decoded form of an entry (`{"key":..,"value":..}`, or `"values":[{"cpu":
/// N,"value":..}]`), members in bpftool's order.
fn parse_formatted(e: &DumpEntry<'_>) -> Result<Decoded, String> {
    #[derive(Deserialize)]
    struct Cpu {
        value: Tree,
    }
    #[derive(Deserialize)]
    struct Formatted {
        key: Option<Tree>,
        value: Option<Tree>,
        values: Option<Vec<Cpu>>,
        error: Option<String>,
    }
    let text = e.formatted_json().ok_or("no decoded form")?;
    let f: Formatted = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let key = f.key.ok_or("no `key` in bpftool's decoded form")?;
    let value = match (f.value, f.values, f.error) {
        (Some(v), _, _) => DecodedValue::One(v),
        (None, Some(cpus), _) => DecodedValue::PerCpu(cpus.into_iter().map(|c| c.value).collect()),
        (None, None, Some(err)) => DecodedValue::Error(err),
        (None, None, None) => DecodedValue::None,
    };
    Ok(Decoded { key, value })
}

impl ValuePlan {
    /// The fields, padding and bytes past the type in which two values differ.
    fn fields(&self, a: &[u8], b: &[u8], cpu: Option<usize>, out: &mut Vec<FieldChange>) {
        for (i, leaf) in self.flat.leaves().iter().enumerate() {
            if !bits_differ(a, b, leaf.offset_bits, leaf.size_bits, self.order) {
                continue;
            }
            let offset = leaf.offset_bits / 8;
            let size = (leaf.offset_bits % 8)
                .saturating_add(leaf.size_bits)
                .div_ceil(8);
            let (old, new) = match (self.flat.decode_leaf(i, a), self.flat.decode_leaf(i, b)) {
                (Ok(x), Ok(y)) => (Tree::from(&x), Tree::from(&y)),
                // A value shorter than its type (--force): its bytes, as far as they go.
                _ => (slice_hex(a, offset, size), slice_hex(b, offset, size)),
            };
            out.push(FieldChange {
                path: leaf.path.clone(),
                kind: FieldKind::Field,
                cpu,
                offset: Some(offset),
                size: Some(size),
                old,
                new,
            });
        }
        for p in &self.padding {
            if bits_differ(a, b, p.offset_bits, p.size_bits, self.order) {
                let start = p.offset_bits / 8;
                let end = p.offset_bits.saturating_add(p.size_bits).div_ceil(8);
                out.push(FieldChange {
                    path: format!("<padding {start}..{end}>"),
                    kind: FieldKind::Padding,
                    cpu,
                    offset: Some(start),
                    size: Some(end - start),
                    old: slice_hex(a, start, end - start),
                    new: slice_hex(b, start, end - start),
                });
            }
        }
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if a.len() > size || b.len() > size {
            let tail = |x: &[u8]| -> Vec<u8> { x.get(size..).unwrap_or(&[]).to_vec() };
            let before = out.len();
            byte_ranges(&tail(a), &tail(b), 0, cpu, out);
            for f in &mut out[before..] {
                let (s, e) = (f.offset.unwrap_or(0) + self.size, f.size.unwrap_or(0));
                f.offset = Some(s);
                f.path = format!("<bytes {s}..{}>", s + e);
            }
        }
    }
}

/// The hex of `len` bytes at `offset`, as far as `x` has them; null when it has none.
fn slice_hex(x: &[u8], offset: u64, len: u64) -> Tree {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX);
    match x.get(start..end.min(x.len())) {
        Some(s) if !s.is_empty() => Tree::hex(s),
        _ => Tree::NULL,
    }
}

/// The mask of bits `[lo, hi)` of a byte, numbered in the target's order: little-endian
/// BTF counts bits from the least significant, big-endian from the most.
fn byte_mask(lo: u64, hi: u64, order: ByteOrder) -> u8 {
    (lo..hi).fold(0u8, |m, bit| {
        m | match order {
            ByteOrder::Little => 1 << bit,
            ByteOrder::Big => 0x80 >> bit,
        }
    })
}

/// True when bits `[offset, offset + size)` of `a` and `b` differ, or one of them ends
/// before the other within that range.
fn bits_differ(a: &[u8], b: &[u8], offset: u64, size: u64, order: ByteOrder) -> bool {
    if size == 0 {
        return false;
    }
    let end = offset.saturating_add(size);
    let (first, last) = (offset / 8, (end - 1) / 8);
    if offset.is_multiple_of(8) && end.is_multiple_of(8) {
        let s = usize::try_from(first).unwrap_or(usize::MAX);
        let e = usize::try_from(last + 1).unwrap_or(usize::MAX);
        return a.get(s.min(a.len())..e.min(a.len())) != b.get(s.min(b.len())..e.min(b.len()));
    }
    for byte in first..=last {
        let lo = if byte == first { offset % 8 } else { 0 };
        let hi = if byte == last { (end - 1) % 8 + 1 } else { 8 };
        let mask = byte_mask(lo, hi, order);
        let i = usize::try_from(byte).unwrap_or(usize::MAX);
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if (x ^ y) & mask != 0 => return true,
            (Some(_), Some(_)) | (None, None) => {}
            _ => return true,
        }
    }
    false
}

/// The runs of bytes in which `a` and `b` differ, offsets from `base`; bytes past the
/// end of the shorter one differ.
fn byte_ranges(a: &[u8], b: &[u8], base: u64, cpu: Option<usize>, out: &mut Vec<FieldChange>) {
    let len = a.len().max(b.len());
    let mut i = 0;
    while i < len {
        if a.get(i) == b.get(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < len && a.get(i) != b.get(i) {
            i += 1;
        }
        let (s, e) = (base + start as u64, base + i as u64);
        out.push(FieldChange {
            path: format!("<bytes {s}..{e}>"),
            kind: FieldKind::Bytes,
            cpu,
            offset: Some(s),
            size: Some(e - s),
            old: slice_hex(a, start as u64, (i - start) as u64),
            new: slice_hex(b, start as u64, (i - start) as u64),
        });
    }
}

/// The leaves in which two decoded values differ. Members named `""` (anonymous structs
/// and unions in bpftool's form) belong to their parent, as in C.
fn walk(a: &Tree, b: &Tree, path: &str, cpu: Option<usize>, out: &mut Vec<FieldChange>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Tree::Object(x), Tree::Object(y)) => {
            for (k, v) in x {
                walk(
                    v,
                    b.get(k).unwrap_or(&Tree::NULL),
                    &join_path(path, k),
                    cpu,
                    out,
                );
            }
            for (k, v) in y {
                if a.get(k).is_none() {
                    walk(&Tree::NULL, v, &join_path(path, k), cpu, out);
                }
            }
        }
        (Tree::Array(x), Tree::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                walk(p, q, &format!("{path}[{i}]"), cpu, out);
            }
        }
        _ => out.push(FieldChange {
            path: path.to_string(),
            kind: FieldKind::Field,
            cpu,
            offset: None,
            size: None,
            old: a.clone(),
            new: b.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ranges() {
        let a = [0b0000_0101u8, 0xff];
        let b = [0b0000_0100u8, 0xff];
        // Little-endian: bit 0 is the least significant bit of byte 0.
        assert!(bits_differ(&a, &b, 0, 1, ByteOrder::Little));
        assert!(!bits_differ(&a, &b, 1, 7, ByteOrder::Little));
        // Big-endian: bit 7 is the least significant bit of byte 0.
        assert!(bits_differ(&a, &b, 7, 1, ByteOrder::Big));
        assert!(!bits_differ(&a, &b, 0, 7, ByteOrder::Big));
        assert!(!bits_differ(&a, &b, 8, 8, ByteOrder::Little));
        // A value that ends early differs.
        assert!(bits_differ(&a, &b[..1], 8, 8, ByteOrder::Little));
        assert!(bits_differ(&a, &b[..1], 4, 8, ByteOrder::Little));
        assert!(!bits_differ(&a[..1], &b[..1], 8, 8, ByteOrder::Little));
    }

    #[test]
    fn ranges_of_bytes() {
        let mut out = Vec::new();
        byte_ranges(&[1, 2, 3, 4, 5], &[1, 0, 0, 4, 6, 7], 8, None, &mut out);
        let got: Vec<(&str, String, String)> = out
            .iter()
            .map(|f| (f.path.as_str(), f.old.json(), f.new.json()))
            .collect();
        assert_eq!(
            got,
            [
                ("<bytes 9..11>", "\"0203\"".into(), "\"0000\"".into()),
                ("<bytes 12..14>", "\"05\"".into(), "\"0607\"".into()),
            ]
        );
    }

    fn tree(text: &str) -> Tree {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn trees_keep_member_order_and_merge_anonymous_members() {
        let a = tree(r#"{"family": 2, "": {"v4": 1, "v6": [1, 2]}}"#);
        let b = tree(r#"{"family": 2, "": {"v4": 9, "v6": [1, 3]}}"#);
        let mut out = Vec::new();
        walk(&a, &b, "", None, &mut out);
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["v4", "v6[1]"]);
        assert_eq!(a.brief(), "{family: 2, v4: 1, v6: [1, 2]}");
        let z = tree(r#"{"z": 1, "a": [true, "x"]}"#);
        assert_eq!(z.json(), r#"{"z":1,"a":[true,"x"]}"#);
        assert_eq!(z.canonical(), r#"{"a":[true,"x"],"z":1}"#);
        // Member order does not make trees differ.
        assert_eq!(z, tree(r#"{"a": [true, "x"], "z": 1}"#));
        assert_ne!(z, tree(r#"{"a": [true, "x"], "z": 2}"#));
        let lines = tree(r#"{"b": {"c": 1}, "a": "x", "d": [1, 2], "e": [{"f": 1}]}"#).lines();
        let lines: Vec<String> = lines.into_iter().map(|(p, v)| format!("{p}={v}")).collect();
        assert_eq!(lines, ["b.c=1", "a=\"x\"", "d=[1, 2]", "e[0].f=1"]);
        assert_eq!(tree("7").lines(), [(String::new(), "7".to_string())]);
    }
}
