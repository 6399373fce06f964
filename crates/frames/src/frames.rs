//! The four frames: entries, findings, layout and changes.

use std::collections::HashSet;
use std::ops::Range;

use mapsleuth_dump::hex::encode_into as push_hex;
use mapsleuth_dump::{Dump, DumpEntry, EntryKind};
use mapsleuth_forensics::decode::{FlatDecoder, Value};
use mapsleuth_forensics::diff::MapDiff;
use mapsleuth_forensics::dump_report::{DumpAnalysis, Types};
use mapsleuth_layout::{Dialect, LeafKind, PaddingKind, TypeId, TypeTable};
use polars::prelude::*;

use crate::columns::{ColType, ColumnBuilder};
use crate::FrameError;

/// One analysed dump, with what identifies it.
#[derive(Clone, Copy)]
pub struct DumpInput<'a> {
    pub dump: &'a Dump,
    pub analysis: &'a DumpAnalysis,
    /// The types it was decoded with.
    pub types: Types<'a>,
    /// The snapshot id of a capture (when the capture started, RFC 3339).
    pub snapshot: Option<&'a str>,
}

fn column_name(role: &str, path: &str) -> String {
    if path.is_empty() {
        role.to_string()
    } else {
        format!("{role}.{path}")
    }
}

fn scalar_str(name: &str, v: Option<&str>, len: usize) -> Column {
    let value = match v {
        Some(s) => AnyValue::StringOwned(PlSmallStr::from_str(s)),
        None => AnyValue::Null,
    };
    Column::new_scalar(
        PlSmallStr::from_str(name),
        Scalar::new(DataType::String, value),
        len,
    )
}

fn scalar_u32(name: &str, v: Option<u32>, len: usize) -> Column {
    let value = v.map_or(AnyValue::Null, AnyValue::UInt32);
    Column::new_scalar(
        PlSmallStr::from_str(name),
        Scalar::new(DataType::UInt32, value),
        len,
    )
}

/// The leaf columns of a key or value type, filled one row at a time.
struct LeafColumns {
    decoder: FlatDecoder,
    columns: Vec<ColumnBuilder>,
    scratch: Vec<Value>,
}

impl LeafColumns {
    fn new(decoder: FlatDecoder, role: &str, capacity: usize) -> Self {
        let mut seen = HashSet::new();
        let columns = decoder
            .leaves()
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                // Union alternatives may repeat a path; the first one keeps the name.
                let mut name = column_name(role, &leaf.path);
                if !seen.insert(name.clone()) {
                    let alt = leaf.alternative.as_deref().unwrap_or("");
                    name = format!("{name}@{alt}");
                    let mut n = 2;
                    while !seen.insert(name.clone()) {
                        name = format!("{}#{n}", column_name(role, &leaf.path));
                        n += 1;
                    }
                }
                let ty = ColType::of_leaf(leaf, decoder.is_text(i));
                ColumnBuilder::new(&name, ty, capacity)
            })
            .collect();
        LeafColumns {
            decoder,
            columns,
            scratch: Vec::new(),
        }
    }

    /// Decodes `bytes` into the scratch values; the error text when they do not decode.
    fn decode(&mut self, bytes: Option<&[u8]>) -> Result<bool, String> {
        match bytes {
            None => {
                self.scratch.clear();
                Ok(false)
            }
            Some(b) => match self.decoder.decode_into(b, &mut self.scratch) {
                Ok(()) => Ok(true),
                Err(e) => {
                    self.scratch.clear();
                    Err(e.to_string())
                }
            },
        }
    }

    /// Pushes the last decoded values (nulls when there are none).
    fn push(&mut self) {
        if self.scratch.len() == self.columns.len() {
            for (c, v) in self.columns.iter_mut().zip(&self.scratch) {
                c.push_value(v);
            }
        } else {
            for c in &mut self.columns {
                c.push_null();
            }
        }
    }

    fn finish(self) -> Vec<Column> {
        self.columns
            .into_iter()
            .map(ColumnBuilder::finish)
            .collect()
    }
}

/// The rows an entry has in the `entries` frame: one per CPU for per-CPU maps.
fn rows_of(e: &DumpEntry<'_>) -> usize {
    match e.kind() {
        EntryKind::PerCpu => e.value_count().max(1),
        _ => 1,
    }
}

/// The dump's entries in consecutive ranges of at most `max_rows` rows each (at least
/// one entry each: an entry's CPUs are never split), for [`entries_in`]: a big dump
/// exported chunk by chunk. No range for a dump with no entries.
pub fn entry_chunks(dump: &Dump, max_rows: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for e in dump.entries() {
        let n = rows_of(&e);
        if rows > 0 && rows + n > max_rows {
            out.push(start..e.index());
            (start, rows) = (e.index(), 0);
        }
        rows += n;
    }
    if start < dump.len() {
        out.push(start..dump.len());
    }
    out
}

/// The `entries` frame of one dump.
fn entries_of(input: &DumpInput<'_>) -> Result<DataFrame, FrameError> {
    entries_in(input, 0..input.dump.len())
}

/// The `entries` frame of the entries `range` of one dump (see [`entry_chunks`]). The
/// columns are those of the whole dump's frame, whichever entries the range holds.
pub fn entries_in(input: &DumpInput<'_>, range: Range<usize>) -> Result<DataFrame, FrameError> {
    let dump = input.dump;
    let chunk = || range.clone().filter_map(|i| dump.entry(i));
    let rows = chunk().map(|e| rows_of(&e)).sum::<usize>();
    let flat = |t: Option<mapsleuth_forensics::forensics::TypeRef<'_>>| {
        t.map(|t| FlatDecoder::new(t.table, t.id)).transpose()
    };
    let mut key_cols = flat(input.types.key)?.map(|d| LeafColumns::new(d, "key", rows));
    let mut value_cols = flat(input.types.value)?.map(|d| LeafColumns::new(d, "value", rows));
    let with_formatted = dump.has_formatted()
        && (value_cols.is_none() || dump.entries().any(|e| e.kind() == EntryKind::FormattedOnly));

    let mut entry = ColumnBuilder::new("entry", ColType::U64, rows);
    let mut cpu = ColumnBuilder::new("cpu", ColType::U32, rows);
    let mut key_hex = ColumnBuilder::new("key_hex", ColType::Str, rows);
    let mut key_bytes = ColumnBuilder::new("key_bytes", ColType::Bin, rows);
    let mut value_bytes = ColumnBuilder::new("value_bytes", ColType::Bin, rows);
    // Maps of maps: the outer key → inner map link (null for other maps).
    let mut inner_map = ColumnBuilder::new("inner_map_id", ColType::U32, rows);
    let mut error = ColumnBuilder::new("error", ColType::Str, rows);
    let mut codes = ColumnBuilder::new("codes", ColType::Str, rows);
    let mut formatted = ColumnBuilder::new("formatted", ColType::Str, rows);

    let mut key_text = String::new();
    let mut formatted_text = String::new();
    let ring = dump.is_ring();
    for e in chunk() {
        let key = e.key();
        key_text.clear();
        if let Some(k) = key {
            push_hex(&mut key_text, k);
        }
        let key_error = match &mut key_cols {
            Some(k) => k.decode(key).err().map(|m| format!("key: {m}")),
            None => None,
        };
        let entry_codes = input
            .analysis
            .marks
            .get(e.index())
            .filter(|m| !m.is_empty())
            .map(|m| m.codes().join(","));
        let text = formatted_of(&e, with_formatted, &mut formatted_text);
        let mut row = |value: Option<&[u8]>, cpu_index: Option<u64>, problem: Option<String>| {
            entry.push_u64(Some(e.index() as u64));
            cpu.push_u64(cpu_index);
            key_hex.push_str(key.map(|_| key_text.as_str()));
            key_bytes.push_bytes(key);
            value_bytes.push_bytes(value);
            inner_map.push_u64(e.inner_map_id().map(u64::from));
            let value_error = match &mut value_cols {
                Some(v) => {
                    let r = v.decode(value).err();
                    v.push();
                    r.map(|m| match cpu_index {
                        Some(c) => format!("value (CPU {c}): {m}"),
                        None if ring => format!("record: {m}"),
                        None => format!("value: {m}"),
                    })
                }
                None => None,
            };
            if let Some(k) = &mut key_cols {
                k.push();
            }
            let problems: Vec<String> = [key_error.clone(), problem, value_error]
                .into_iter()
                .flatten()
                .collect();
            error.push_str(
                (!problems.is_empty())
                    .then(|| problems.join("; "))
                    .as_deref(),
            );
            codes.push_str(entry_codes.as_deref());
            formatted.push_str(text);
        };
        match e.kind() {
            EntryKind::PerCpu => {
                for (i, v) in e.values().enumerate() {
                    row(Some(v), Some(i as u64), None);
                }
                if e.value_count() == 0 {
                    row(None, None, None);
                }
            }
            EntryKind::Value => row(e.value(), None, None),
            EntryKind::LookupError => row(
                None,
                None,
                Some(e.lookup_error().unwrap_or("lookup error").to_string()),
            ),
            EntryKind::FormattedOnly => row(None, None, None),
        }
    }

    let meta = &dump.meta;
    let mut columns = vec![
        scalar_str("source", Some(&dump.source.name), rows),
        scalar_str("map", meta.name.as_deref(), rows),
        scalar_u32("map_id", meta.id, rows),
        scalar_str("snapshot", input.snapshot, rows),
        entry.finish(),
        cpu.finish(),
        key_hex.finish(),
    ];
    if let Some(k) = key_cols {
        columns.extend(k.finish());
    }
    if let Some(v) = value_cols {
        columns.extend(v.finish());
    }
    columns.extend([
        key_bytes.finish(),
        value_bytes.finish(),
        inner_map.finish(),
        error.finish(),
        codes.finish(),
    ]);
    if with_formatted {
        columns.push(formatted.finish());
    }
    Ok(DataFrame::new(rows, columns)?)
}

fn formatted_of<'a: 's, 's>(
    e: &DumpEntry<'a>,
    wanted: bool,
    scratch: &'s mut String,
) -> Option<&'s str> {
    if wanted {
        e.formatted_json_in(scratch)
    } else {
        None
    }
}

/// The `entries` frame of several dumps: one row per entry, per CPU for per-CPU maps.
pub fn entries(inputs: &[DumpInput<'_>]) -> Result<DataFrame, FrameError> {
    let frames = inputs
        .iter()
        .map(entries_of)
        .collect::<Result<Vec<_>, _>>()?;
    concat(frames)
}

/// The `findings` frame: every finding of every dump.
pub fn findings(inputs: &[DumpInput<'_>]) -> Result<DataFrame, FrameError> {
    let n: usize = inputs.iter().map(|i| i.analysis.findings.len()).sum();
    let str_col = |name: &str| ColumnBuilder::new(name, ColType::Str, n);
    let mut source = str_col("source");
    let mut map = str_col("map");
    let mut snapshot = str_col("snapshot");
    let mut code = str_col("code");
    let mut severity = str_col("severity");
    let mut message = str_col("message");
    let mut type_name = str_col("type_name");
    let mut field = str_col("field");
    let mut offset = ColumnBuilder::new("byte_offset", ColType::U64, n);
    let mut key = str_col("key");
    let mut fix = str_col("fix");
    for i in inputs {
        for f in &i.analysis.findings {
            let l = &f.location;
            source.push_str(Some(&i.dump.source.name));
            map.push_str(l.map.as_deref().or(i.dump.meta.name.as_deref()));
            snapshot.push_str(i.snapshot);
            code.push_str(Some(&f.code));
            severity.push_str(Some(f.severity.as_str()));
            message.push_str(Some(&f.message));
            type_name.push_str(l.type_name.as_deref());
            field.push_str(l.field.as_deref());
            offset.push_u64(l.offset);
            key.push_str(l.key.as_deref());
            fix.push_str(f.fix.as_deref());
        }
    }
    frame_of(
        n,
        [
            source, map, snapshot, code, severity, message, type_name, field, offset, key, fix,
        ],
    )
}

/// The `layout` frame: one row per leaf field and per padding region of each key and
/// value type the dumps were decoded with. A type several dumps of one map share appears
/// once: the same name with the same rows (captures from hosts running other builds of
/// a program keep their own rows).
pub fn layout(inputs: &[DumpInput<'_>]) -> Result<DataFrame, FrameError> {
    let mut out = LayoutRows::default();
    let mut seen = HashSet::new();
    for i in inputs {
        for (role, t) in [("key", i.types.key), ("value", i.types.value)] {
            let Some(t) = t else { continue };
            let type_name = t.table.type_name(t.id);
            let map = i.dump.meta.name.as_deref();
            let side = match t.table.target.dialect {
                Dialect::C => "btf",
                Dialect::Go => "go",
            };
            let rows = type_rows(t.table, t.id)?;
            if seen.insert((map, role, side, type_name.clone(), rows.clone())) {
                let from = i.types.source.unwrap_or("");
                out.add(map, from, side, role, &type_name, rows);
            }
        }
    }
    out.finish()
}

/// The rows of one type, in offset order (padding between the fields around it).
fn type_rows(table: &TypeTable, id: TypeId) -> Result<Vec<Row>, FrameError> {
    let mut rows: Vec<Row> = Vec::new();
    // The decoder's leaves: text or bytes by bpftool's rule, as the entries frame reads
    // them (the model's flag also calls `__u8[N]` text).
    let decoder = FlatDecoder::new(table, id)?;
    for (i, l) in decoder.leaves().iter().enumerate() {
        let kind = match l.kind {
            LeafKind::Bytes { .. } if decoder.is_text(i) => "text",
            LeafKind::Bytes { .. } => "bytes",
            _ => leaf_kind_name(&l.kind),
        };
        rows.push(Row {
            path: l.path.clone(),
            bits: (l.offset_bits, l.size_bits),
            bitfield: l.bitfield,
            kind,
            leaf_type: Some(l.type_name.clone()),
            alternative: l.alternative.clone(),
        });
    }
    for p in table.padding(id)? {
        rows.push(Row {
            path: p.after.clone().unwrap_or_else(|| p.container.clone()),
            bits: (p.offset_bits, p.size_bits),
            bitfield: false,
            kind: match p.kind {
                PaddingKind::Hole => "hole",
                PaddingKind::Trailing => "trailing",
            },
            leaf_type: None,
            alternative: None,
        });
    }
    rows.sort_by_key(|r| r.bits.0);
    Ok(rows)
}

struct LayoutRows {
    n: usize,
    map: ColumnBuilder,
    types_from: ColumnBuilder,
    side: ColumnBuilder,
    role: ColumnBuilder,
    type_name: ColumnBuilder,
    path: ColumnBuilder,
    offset: ColumnBuilder,
    size: ColumnBuilder,
    bit_offset: ColumnBuilder,
    bit_size: ColumnBuilder,
    bitfield: ColumnBuilder,
    kind: ColumnBuilder,
    leaf_type: ColumnBuilder,
    alternative: ColumnBuilder,
}

impl Default for LayoutRows {
    fn default() -> Self {
        let s = |n| ColumnBuilder::new(n, ColType::Str, 0);
        let u = |n| ColumnBuilder::new(n, ColType::U64, 0);
        LayoutRows {
            n: 0,
            map: s("map"),
            types_from: s("types_from"),
            side: s("side"),
            role: s("role"),
            type_name: s("type_name"),
            path: s("path"),
            offset: u("byte_offset"),
            size: u("byte_size"),
            bit_offset: u("bit_offset"),
            bit_size: u("bit_size"),
            bitfield: ColumnBuilder::new("bitfield", ColType::Bool, 0),
            kind: s("kind"),
            leaf_type: s("leaf_type"),
            alternative: s("alternative"),
        }
    }
}

fn leaf_kind_name(k: &LeafKind) -> &'static str {
    match k {
        LeafKind::Int { .. } => "int",
        LeafKind::Bool => "bool",
        LeafKind::Char { .. } => "char",
        LeafKind::Float => "float",
        LeafKind::Complex => "complex",
        LeafKind::Enum { .. } => "enum",
        LeafKind::Pointer => "pointer",
        LeafKind::Bytes { text: true, .. } => "text",
        LeafKind::Bytes { .. } => "bytes",
        LeafKind::GoOpaque { go_kind } => go_kind.as_str(),
        LeafKind::Opaque => "opaque",
    }
}

impl LayoutRows {
    fn add(
        &mut self,
        map: Option<&str>,
        from: &str,
        side: &str,
        role: &str,
        type_name: &str,
        rows: Vec<Row>,
    ) {
        for r in rows {
            self.n += 1;
            self.map.push_str(map);
            self.types_from.push_str(Some(from));
            self.side.push_str(Some(side));
            self.role.push_str(Some(role));
            self.type_name.push_str(Some(type_name));
            self.path.push_str(Some(&r.path));
            let (off, size) = r.bits;
            self.offset.push_u64(Some(off / 8));
            self.size
                .push_u64(Some((off % 8).saturating_add(size).div_ceil(8)));
            self.bit_offset.push_u64(Some(off));
            self.bit_size.push_u64(Some(size));
            self.bitfield.push_value(&Value::Bool(r.bitfield));
            self.kind.push_str(Some(r.kind));
            self.leaf_type.push_str(r.leaf_type.as_deref());
            self.alternative.push_str(r.alternative.as_deref());
        }
    }

    fn finish(self) -> Result<DataFrame, FrameError> {
        frame_of(
            self.n,
            [
                self.map,
                self.types_from,
                self.side,
                self.role,
                self.type_name,
                self.path,
                self.offset,
                self.size,
                self.bit_offset,
                self.bit_size,
                self.bitfield,
                self.kind,
                self.leaf_type,
                self.alternative,
            ],
        )
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    path: String,
    bits: (u64, u64),
    bitfield: bool,
    kind: &'static str,
    leaf_type: Option<String>,
    alternative: Option<String>,
}

/// The `changes` frame: one row per change of each diff (an added or removed entry is
/// one row, a changed entry one row per changed field and CPU). `old` and `new` are the
/// decoded values as JSON text.
pub fn changes(diffs: &[&MapDiff]) -> Result<DataFrame, FrameError> {
    let all: Vec<(&MapDiff, Vec<_>)> = diffs.iter().map(|d| (*d, d.changes())).collect();
    let n: usize = all.iter().map(|(_, c)| c.len()).sum();
    let s = |name: &str| ColumnBuilder::new(name, ColType::Str, n);
    let (mut old_source, mut new_source) = (s("old_source"), s("new_source"));
    let (mut old_snapshot, mut new_snapshot) = (s("old_snapshot"), s("new_snapshot"));
    let (mut map, mut key, mut kind, mut field_kind, mut path) =
        (s("map"), s("key"), s("kind"), s("field_kind"), s("path"));
    let mut cpu = ColumnBuilder::new("cpu", ColType::U32, n);
    let (mut old, mut new) = (s("old"), s("new"));
    for (d, rows) in &all {
        let snap = |s: &mapsleuth_forensics::diff::SideInfo| {
            s.snapshot.as_ref().map(|x| x.snapshot_id.clone())
        };
        let (os, ns) = (snap(&d.old), snap(&d.new));
        for c in rows {
            old_source.push_str(Some(&d.old.file));
            new_source.push_str(Some(&d.new.file));
            old_snapshot.push_str(os.as_deref());
            new_snapshot.push_str(ns.as_deref());
            map.push_str(c.map.as_deref());
            key.push_str(Some(&c.key));
            kind.push_str(Some(c.kind.as_str()));
            field_kind.push_str(c.field_kind.map(|k| k.as_str()));
            path.push_str(Some(&c.path));
            cpu.push_u64(c.cpu.map(|c| c as u64));
            old.push_str(c.old.as_deref());
            new.push_str(c.new.as_deref());
        }
    }
    frame_of(
        n,
        [
            old_source,
            new_source,
            old_snapshot,
            new_snapshot,
            map,
            key,
            kind,
            field_kind,
            path,
            cpu,
            old,
            new,
        ],
    )
}

/// A frame of `n` rows from its column builders.
fn frame_of(
    n: usize,
    columns: impl IntoIterator<Item = ColumnBuilder>,
) -> Result<DataFrame, FrameError> {
    let columns = columns.into_iter().map(ColumnBuilder::finish).collect();
    Ok(DataFrame::new(n, columns)?)
}

/// Stacks frames whose columns may differ: the result has every column of every frame
/// (in order of first appearance), null where a frame lacks it. A column whose dtype
/// differs between frames becomes text in all of them.
pub fn concat(frames: Vec<DataFrame>) -> Result<DataFrame, FrameError> {
    let mut frames = frames.into_iter();
    let Some(first) = frames.next() else {
        return Ok(DataFrame::empty());
    };
    let rest: Vec<DataFrame> = frames.collect();
    if rest.is_empty() {
        return Ok(first);
    }
    let all: Vec<&DataFrame> = std::iter::once(&first).chain(&rest).collect();
    let mut names: Vec<PlSmallStr> = Vec::new();
    let mut dtypes: Vec<DataType> = Vec::new();
    for f in &all {
        for c in f.columns() {
            match names.iter().position(|n| n == c.name()) {
                Some(i) if &dtypes[i] != c.dtype() => dtypes[i] = DataType::String,
                Some(_) => {}
                None => {
                    names.push(c.name().clone());
                    dtypes.push(c.dtype().clone());
                }
            }
        }
    }
    let align = |f: &DataFrame| -> Result<DataFrame, FrameError> {
        let h = f.height();
        let mut cols = Vec::with_capacity(names.len());
        for (name, dtype) in names.iter().zip(&dtypes) {
            let c = match f.column(name) {
                Ok(c) if c.dtype() == dtype => c.clone(),
                // Bytes become text as hex (as in CSV), not as whatever UTF-8 they hold.
                Ok(c) if c.dtype() == &DataType::Binary => crate::write::hex_column(c)?,
                Ok(c) => c.cast(dtype)?,
                Err(_) => Column::full_null(name.clone(), h, dtype),
            };
            cols.push(c);
        }
        Ok(DataFrame::new(h, cols)?)
    };
    let mut out = align(&first)?;
    for f in &rest {
        out.vstack_mut_owned(align(f)?)?;
    }
    out.rechunk_mut_par();
    Ok(out)
}
