//! `mapsleuth.lock`: the key and value layout of every map on both sides, recorded so a
//! later build can be compared with it (`lock check`). One JSON document
//! (`schemas/lock.schema.json`), sorted, one field per line (see [`Lockfile::to_text`]).

use mapsleuth_layout::{in_go_blank, ByteOrder, Leaf, LeafKind, PaddingKind, TypeId, TypeTable};
use serde::{Deserialize, Serialize};

use crate::config::line_of;
use crate::error::{Error, Result};
use crate::gate::{Gate, GateObject, MapTypes, RoleTypes};

/// The lockfile format this build writes and reads; a newer one is refused.
pub const LOCK_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// The format version ([`LOCK_FORMAT`]).
    pub format: u32,
    pub generator: String,
    /// The Go binary's GOARCH and byte order.
    pub go_arch: String,
    pub go_byte_order: ByteOrder,
    /// Sorted by object, then map name.
    pub maps: Vec<MapLock>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapLock {
    /// The object's file name (not its path: the lock reads the same from any directory).
    pub object: String,
    pub name: String,
    pub map_type: String,
    pub pinned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<RoleLock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<RoleLock>,
}

/// A key or value type: the C side and its Go mirrors (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleLock {
    pub c: TypeLock,
    #[serde(default)]
    pub go: Vec<TypeLock>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeLock {
    #[serde(rename = "type")]
    pub type_name: String,
    pub size: u64,
    pub align: u32,
    pub arch: String,
    pub byte_order: ByteOrder,
    /// Leaf fields in offset order (`hdr.addrs[2].port`); empty for scalars.
    #[serde(default)]
    pub fields: Vec<FieldLock>,
    /// Holes, trailing padding and Go's blank `_` fields.
    #[serde(default)]
    pub padding: Vec<PaddingLock>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldLock {
    pub name: String,
    /// Bytes from the start of the type (bitfields: of the byte holding their first bit).
    pub offset: u64,
    /// Bytes (0 for bitfields, whose width is `bits`).
    pub size: u64,
    /// `int`, `uint`, `bool`, `char`, `float`, `enum`, `uenum`, `pointer`, `bytes`,
    /// `string`, `go-<kind>`, `opaque`.
    pub kind: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Bitfields: (bit offset in the type, width).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaddingLock {
    pub offset: u64,
    pub size: u64,
    /// `hole`, `trailing` or `blank` (a Go `_` field).
    pub kind: String,
}

impl Lockfile {
    /// The lock of everything `gate` read.
    pub fn of(gate: &Gate) -> Result<Lockfile> {
        let mut maps = Vec::new();
        for o in &gate.objects {
            for m in &o.maps {
                maps.push(map_lock(gate, o, m)?);
            }
        }
        maps.sort_by(|a, b| (&a.object, &a.name).cmp(&(&b.object, &b.name)));
        let target = gate.bin.target();
        Ok(Lockfile {
            format: LOCK_FORMAT,
            generator: format!("mapsleuth {}", env!("CARGO_PKG_VERSION")),
            go_arch: target.arch.clone(),
            go_byte_order: target.byte_order,
            maps,
        })
    }

    /// Pretty JSON with every object of scalars (a field, a padding region) on one
    /// line, so a changed field is a one-line diff in review.
    pub fn to_text(&self) -> Result<String> {
        let value = serde_json::to_value(self)
            .map_err(|e| Error::usage(format!("cannot write the lockfile: {e}")))?;
        let mut out = String::new();
        write_value(&value, 0, &mut out);
        out.push('\n');
        Ok(out)
    }

    /// Parses a lockfile; errors name `path` and the line.
    pub fn parse(text: &str, path: &str) -> Result<Lockfile> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::usage(format!("{path}:{}: not a lockfile: {e}", e.line())))?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        let format_line = text
            .find("\"format\"")
            .map(|o| line_of(text, o))
            .unwrap_or(1);
        match format {
            None => {
                return Err(Error::usage(format!(
                    "{path}:{format_line}: not a lockfile: no numeric `format`"
                )))
            }
            Some(v) if v > u64::from(LOCK_FORMAT) => {
                return Err(Error::usage(format!(
                    "{path}:{format_line}: lockfile format {v} is newer than this mapsleuth \
                     reads ({LOCK_FORMAT}): upgrade mapsleuth"
                )))
            }
            Some(_) => {}
        }
        serde_json::from_str(text)
            .map_err(|e| Error::usage(format!("{path}:{}: not a lockfile: {e}", e.line())))
    }

    /// Reads `path`.
    pub fn read(path: &str) -> Result<Lockfile> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Io {
            path: path.to_string(),
            error,
        })?;
        Self::parse(&text, path)
    }
}

fn write_value(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = |n: usize| "  ".repeat(n);
    let flat = |v: &Value| match v {
        Value::Object(m) => m.values().all(|x| !x.is_object() && !is_nested_array(x)),
        _ => false,
    };
    match v {
        Value::Object(m) if !m.is_empty() && !flat(v) => {
            out.push_str("{\n");
            for (i, (k, x)) in m.iter().enumerate() {
                out.push_str(&format!("{}{}: ", pad(indent + 1), Value::from(k.as_str())));
                write_value(x, indent + 1, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(indent)));
        }
        Value::Array(a) if !a.is_empty() && a.iter().any(|x| x.is_object()) => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_value(x, indent + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(indent)));
        }
        other => out.push_str(
            &other
                .to_string()
                .replace("\":", "\": ")
                .replace(",\"", ", \""),
        ),
    }
}

fn is_nested_array(v: &serde_json::Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.iter().any(|x| x.is_object() || x.is_array()))
}

fn map_lock(gate: &Gate, o: &GateObject, m: &MapTypes) -> Result<MapLock> {
    let object = std::path::Path::new(&o.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| o.path.clone());
    let role = |r: &Option<RoleTypes>| -> Result<Option<RoleLock>> {
        let Some(r) = r else { return Ok(None) };
        let c = type_lock(&o.table, r.c_declared, r.aggregate)?;
        let mut go = Vec::new();
        for name in &r.go_types {
            if let Some(id) = gate.go_id(name) {
                go.push(type_lock(&gate.go_table, id, true)?);
            }
        }
        go.sort_by(|a, b| a.type_name.cmp(&b.type_name));
        Ok(Some(RoleLock { c, go }))
    };
    Ok(MapLock {
        object,
        name: m.name.clone(),
        map_type: m.map_type.clone(),
        pinned: m.pinned,
        key_size: m.key_size,
        value_size: m.value_size,
        key: role(&m.key)?,
        value: role(&m.value)?,
    })
}

fn type_lock(table: &TypeTable, id: TypeId, aggregate: bool) -> Result<TypeLock> {
    let ctx = |e| Error::layout(format!("laying out {}", table.type_name(id)), e);
    let mut t = TypeLock {
        type_name: table.type_name(id),
        size: table.size_of(id).map_err(ctx)?,
        align: table.align_of(id).map_err(ctx)?,
        arch: table.target.arch.clone(),
        byte_order: table.target.byte_order,
        fields: Vec::new(),
        padding: Vec::new(),
    };
    if !aggregate {
        return Ok(t);
    }
    for leaf in table.leaves(id).map_err(ctx)? {
        if in_go_blank(&leaf.path) {
            t.padding.push(PaddingLock {
                offset: leaf.offset_bits / 8,
                size: leaf.size_bits / 8,
                kind: "blank".into(),
            });
        } else {
            t.fields.push(field_lock(&leaf));
        }
    }
    for p in table.padding(id).map_err(ctx)? {
        t.padding.push(PaddingLock {
            offset: p.offset_bits / 8,
            size: p.size_bits.div_ceil(8),
            kind: match p.kind {
                PaddingKind::Hole => "hole".into(),
                PaddingKind::Trailing => "trailing".into(),
            },
        });
    }
    t.fields
        .sort_by(|a, b| (a.offset, &a.name).cmp(&(b.offset, &b.name)));
    t.padding.sort_by_key(|p| (p.offset, p.size));
    Ok(t)
}

fn field_lock(leaf: &Leaf) -> FieldLock {
    FieldLock {
        name: leaf.path.clone(),
        offset: leaf.offset_bits / 8,
        size: if leaf.bitfield { 0 } else { leaf.size_bits / 8 },
        kind: kind_name(&leaf.kind),
        type_name: leaf.type_name.clone(),
        bits: leaf.bitfield.then_some((leaf.offset_bits, leaf.size_bits)),
    }
}

fn kind_name(k: &LeafKind) -> String {
    let signed = |s: bool, yes: &str, no: &str| if s { yes } else { no }.to_string();
    match k {
        LeafKind::Int { signed: s } => signed(*s, "int", "uint"),
        LeafKind::Bool => "bool".into(),
        LeafKind::Char { signed: s } => signed(*s, "char", "uchar"),
        LeafKind::Float => "float".into(),
        LeafKind::Complex => "complex".into(),
        LeafKind::Enum { signed: s } => signed(*s, "enum", "uenum"),
        LeafKind::Pointer => "pointer".into(),
        LeafKind::Bytes { text: true, .. } => "string".into(),
        LeafKind::Bytes { .. } => "bytes".into(),
        LeafKind::GoOpaque { go_kind } => format!("go-{}", go_kind_name(go_kind)),
        LeafKind::Opaque => "opaque".into(),
    }
}

fn go_kind_name(k: &mapsleuth_layout::GoKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}").to_lowercase())
}
