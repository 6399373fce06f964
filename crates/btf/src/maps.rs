//! Map definitions of a BPF object: BTF-defined maps in the `.maps` DATASEC, encoded by
//! libbpf's `__uint(name, val)` (`int (*name)[val]`), `__type(name, T)` (`T *name`) and
//! `__array(name, T)` (`T *name[]`) macros; and legacy `struct bpf_map_def` maps.

use mapsleuth_layout::{LayoutError, TypeTable};
use serde::Serialize;

use crate::raw::BtfType;
use crate::source::LegacyMap;
use crate::{Btf, BtfError, ErrorKind};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MapSource {
    /// A variable in the `.maps` section.
    Btf { var_type_id: u32 },
    /// A `struct bpf_map_def` in the `maps` section, at this file offset.
    Legacy { file_offset: u64 },
    /// The inner map template of a map-in-map.
    Inner,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MapDef {
    pub name: String,
    /// `BPF_MAP_TYPE_*` number.
    pub map_type: u32,
    /// bpftool's name for it: `hash`, `percpu_array`, `lpm_trie`, ...
    pub map_type_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_type: Option<String>,
    /// Bytes, from `key_size` or from the key type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<u32>,
    pub map_flags: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinning: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<MapDef>>,
    pub source: MapSource,
}

pub use mapsleuth_layout::map_type_name;

/// Every map the object defines, BTF-defined ones first (in section order), then
/// legacy ones.
pub fn discover_maps(
    btf: &Btf,
    table: &TypeTable,
    legacy: &[LegacyMap],
) -> Result<Vec<MapDef>, BtfError> {
    let mut out = Vec::new();
    for id in btf.ids_named(".maps") {
        let (_, BtfType::Datasec { vars, .. }) = btf.get(id)? else {
            continue;
        };
        for v in vars {
            let def = || -> Result<Option<MapDef>, BtfError> {
                let (c, t) = btf.get(v.type_id)?;
                let BtfType::Var { type_id, .. } = t else {
                    return Ok(None);
                };
                let name = btf.string(c.name_off)?.to_string();
                map_from_struct(btf, table, type_id, name, 0).map(Some)
            };
            let Some(mut def) = def().map_err(|e| at_map_record(btf, e, v.type_id, id))? else {
                continue;
            };
            def.source = MapSource::Btf {
                var_type_id: v.type_id,
            };
            out.push(def);
        }
    }
    for l in legacy {
        // BPF_ANNOTATE_KV_PAIR left a `struct ____btf_map_NAME { key; value; }`.
        let (mut key, mut value) = (None, None);
        for sid in btf.ids_named(&format!("____btf_map_{}", l.name)) {
            if let Ok((_, BtfType::Struct { members, .. })) = btf.get(sid) {
                for m in members {
                    match btf.string(m.name_off)? {
                        "key" => key = Some(m.type_id),
                        "value" => value = Some(m.type_id),
                        _ => {}
                    }
                }
            }
        }
        out.push(MapDef {
            name: l.name.clone(),
            map_type: l.map_type,
            map_type_name: map_type_name(l.map_type).into(),
            key_type_id: key,
            key_type: key.map(|k| table.type_name(k)),
            value_type_id: value,
            value_type: value.map(|k| table.type_name(k)),
            key_size: Some(u64::from(l.key_size)),
            value_size: Some(u64::from(l.value_size)),
            max_entries: Some(l.max_entries),
            map_flags: l.map_flags,
            pinning: None,
            inner: None,
            source: MapSource::Legacy {
                file_offset: l.file_offset,
            },
        });
    }
    Ok(out)
}

/// Errors inside one map's definition (a type id that does not exist, a typedef loop
/// found by the layout model) carry no offset of their own: place them at the map's VAR
/// record, or at the `.maps` DATASEC when the VAR itself is missing.
fn at_map_record(btf: &Btf, e: BtfError, var: u32, datasec: u32) -> BtfError {
    if e.offset != 0 {
        return e;
    }
    let Some((offset, id)) = btf
        .offset_of(var)
        .map(|o| (o, var))
        .or_else(|| btf.offset_of(datasec).map(|o| (o, datasec)))
    else {
        return e;
    };
    let kind = match e.kind {
        ErrorKind::Layout(LayoutError::BadTypeId(t)) => ErrorKind::BadTypeId(t),
        ErrorKind::Layout(LayoutError::TooDeep { .. }) => ErrorKind::TooDeep,
        ErrorKind::Layout(other) => ErrorKind::Invalid(other.to_string()),
        k => k,
    };
    BtfError {
        kind,
        offset,
        type_id: Some(id),
        ..e
    }
}

/// Reads one map-definition struct (`struct { __uint(type, ...); ... }`).
fn map_from_struct(
    btf: &Btf,
    table: &TypeTable,
    struct_id: u32,
    name: String,
    depth: u32,
) -> Result<MapDef, BtfError> {
    let resolved = table.resolve(struct_id)?;
    let mut def = MapDef {
        name,
        map_type: 0,
        map_type_name: map_type_name(0).into(),
        key_type_id: None,
        key_type: None,
        value_type_id: None,
        value_type: None,
        key_size: None,
        value_size: None,
        max_entries: None,
        map_flags: 0,
        pinning: None,
        inner: None,
        source: MapSource::Inner,
    };
    let (_, BtfType::Struct { members, .. }) = btf.get(resolved)? else {
        return Ok(def);
    };
    for m in &members {
        let mname = btf.string(m.name_off)?;
        match mname {
            "key" | "value" => {
                let pointee = pointee(btf, m.type_id)?;
                let size = pointee.map(|p| table.size_of(p)).transpose()?;
                if mname == "key" {
                    def.key_type_id = pointee;
                    def.key_type = pointee.map(|p| table.type_name(p));
                    def.key_size = def.key_size.or(size);
                } else {
                    def.value_type_id = pointee;
                    def.value_type = pointee.map(|p| table.type_name(p));
                    def.value_size = def.value_size.or(size);
                }
            }
            "values" if depth == 0 => {
                // `__array(values, struct inner)`: an array of pointers to the inner
                // map's definition.
                if let Ok((_, BtfType::Array { elem, .. })) = btf.get(table.resolve(m.type_id)?) {
                    // Prog arrays use the same macro with function prototypes; only a
                    // struct is an inner map's definition.
                    let inner = pointee(btf, elem)?.filter(|&p| {
                        table
                            .resolve(p)
                            .ok()
                            .and_then(|r| table.get(r).ok())
                            .is_some_and(|t| {
                                matches!(t.kind, mapsleuth_layout::TypeKind::Struct(_))
                            })
                    });
                    if let Some(inner) = inner {
                        let inner_name = table.type_name(inner);
                        def.inner = Some(Box::new(map_from_struct(
                            btf,
                            table,
                            inner,
                            inner_name,
                            depth + 1,
                        )?));
                    }
                }
            }
            _ => {
                let Some(v) = uint_value(btf, m.type_id)? else {
                    continue;
                };
                match mname {
                    "type" => {
                        def.map_type = v;
                        def.map_type_name = map_type_name(v).into();
                    }
                    "key_size" => def.key_size = Some(u64::from(v)),
                    "value_size" => def.value_size = Some(u64::from(v)),
                    "max_entries" => def.max_entries = Some(v),
                    "map_flags" => def.map_flags = v,
                    "pinning" => def.pinning = Some(v),
                    _ => {}
                }
            }
        }
    }
    // An explicit key_size/value_size wins over the type's size, as in libbpf.
    for m in &members {
        let mname = btf.string(m.name_off)?;
        if let ("key_size" | "value_size", Some(v)) = (mname, uint_value(btf, m.type_id)?) {
            if mname == "key_size" {
                def.key_size = Some(u64::from(v));
            } else {
                def.value_size = Some(u64::from(v));
            }
        }
    }
    Ok(def)
}

/// `int (*name)[N]` → N.
fn uint_value(btf: &Btf, id: u32) -> Result<Option<u32>, BtfError> {
    let (_, t) = btf.get(id)?;
    let BtfType::Ptr { type_id } = t else {
        return Ok(None);
    };
    Ok(match btf.get(type_id)?.1 {
        BtfType::Array { nelems, .. } => Some(nelems),
        _ => None,
    })
}

/// `T *name` → T.
fn pointee(btf: &Btf, id: u32) -> Result<Option<u32>, BtfError> {
    Ok(match btf.get(id)?.1 {
        BtfType::Ptr { type_id } => Some(type_id),
        _ => None,
    })
}
