//! Where the key and value types of dumps come from (the `TYPES` arguments of the dump
//! commands), read once, and resolved for each dump: a BPF object's map definition, any
//! BTF or Go type by name, or the BTF a capture recorded for its map.

use mapsleuth_btf::{discover_maps, Btf, MapDef};
use mapsleuth_dump::Dump;
use mapsleuth_forensics::dump_report::Types;
use mapsleuth_forensics::forensics::TypeRef;
use mapsleuth_layout::{TypeId, TypeTable};

use crate::error::{Error, Result};
use crate::inputs::{open_go_binary, BtfInput};
use crate::maps::same_map_name;

/// How keys and values are typed, as the user said it.
#[derive(Clone, Debug, Default)]
pub struct TypeSpec {
    /// BTF with the types: a BPF object (its maps), raw BTF, vmlinux.
    pub btf: Option<String>,
    /// Base BTF when `btf` is split BTF.
    pub btf_base: Option<String>,
    /// A Go binary whose DWARF has the types (with `key_type`/`value_type`).
    pub go_bin: Option<String>,
    /// The map of the `btf` object whose key and value types decode the dumps.
    pub map: Option<String>,
    pub key_type: Option<String>,
    pub value_type: Option<String>,
    /// `value_type` came as `--record-type`: it names a ring buffer's records.
    pub record_type: bool,
}

/// Who resolves the types, where that changes what is said about captures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Analysing one dump: notes say when a capture holds no types, and the source is
    /// "the capture's BTF".
    Analysis,
    /// Comparing two dumps: no such notes (the other dump may have types), and the
    /// source names the capture.
    Diff,
}

/// Where types come from, read once for every dump.
pub enum TypeSource {
    /// Nothing given: captures' own BTF, else bpftool's decoding or bytes.
    None,
    Btf {
        path: String,
        table: TypeTable,
        maps: Vec<MapDef>,
        /// The ids of `key_type` / `value_type`, when they were named.
        fixed: Option<(Option<TypeId>, Option<TypeId>)>,
    },
    Go {
        path: String,
        table: TypeTable,
        key: Option<TypeId>,
        value: Option<TypeId>,
    },
}

impl TypeSource {
    pub fn read(spec: &TypeSpec) -> Result<TypeSource> {
        let named = spec.key_type.is_some() || spec.value_type.is_some();
        if let Some(go) = &spec.go_bin {
            if !named {
                return Err(Error::usage(
                    "--go-bin needs --key-type and/or --value-type, or --record-type (the Go types of the map)",
                ));
            }
            return Self::read_go(go, spec);
        }
        let Some(btf_path) = &spec.btf else {
            if named {
                return Err(Error::usage(
                    "--key-type/--value-type/--record-type need the types' source: --btf FILE or --go-bin APP",
                ));
            }
            return Ok(TypeSource::None);
        };
        let input = BtfInput::read(btf_path, spec.btf_base.as_deref())?;
        let legacy = input.main.legacy_maps.clone();
        input.with(|btf| {
            if named {
                Self::btf_named(btf, btf_path, spec)
            } else {
                let table = btf.to_table()?;
                let maps = discover_maps(btf, &table, &legacy)?;
                if let Some(m) = &spec.map {
                    if !maps.iter().any(|d| &d.name == m) {
                        return Err(no_such_map(m, btf_path, &maps));
                    }
                }
                Ok(TypeSource::Btf {
                    path: btf_path.clone(),
                    table,
                    maps,
                    fixed: None,
                })
            }
        })
    }

    fn read_go(go: &str, spec: &TypeSpec) -> Result<TypeSource> {
        let bin = open_go_binary(go)?;
        let names: Vec<&str> = [spec.key_type.as_deref(), spec.value_type.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let (table, ids) = bin.table_for(&names).map_err(|e| Error::dwarf(go, e))?;
        let mut ids = ids.into_iter();
        let key = spec.key_type.as_ref().and_then(|_| ids.next());
        let value = spec.value_type.as_ref().and_then(|_| ids.next());
        Ok(TypeSource::Go {
            path: go.to_string(),
            table,
            key,
            value,
        })
    }

    fn btf_named(btf: &Btf, path: &str, spec: &TypeSpec) -> Result<TypeSource> {
        let find = |t: &Option<String>| -> Result<Option<TypeId>> {
            t.as_deref()
                .map(|n| btf.find_type(n).map_err(|e| e.in_file(path, 0).into()))
                .transpose()
        };
        let (k, v) = (find(&spec.key_type)?, find(&spec.value_type)?);
        let roots: Vec<u32> = [k, v].into_iter().flatten().collect();
        Ok(TypeSource::Btf {
            path: path.to_string(),
            table: btf.to_table_for(&roots)?,
            maps: Vec::new(),
            fixed: Some((k, v)),
        })
    }
}

pub(crate) fn no_such_map(name: &str, path: &str, maps: &[MapDef]) -> Error {
    Error::usage(format!(
        "no map named `{name}` in {path}; it defines: {}",
        map_names(maps)
    ))
}

fn map_names(maps: &[MapDef]) -> String {
    if maps.is_empty() {
        return "no maps".to_string();
    }
    maps.iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Types for one dump, with the table they live in when it is the dump's own
/// (captures).
#[derive(Default)]
pub struct Resolved<'s> {
    pub table: Option<&'s TypeTable>,
    pub owned: Option<TypeTable>,
    pub key: Option<TypeId>,
    pub value: Option<TypeId>,
    pub source: Option<String>,
    /// The map definition's max_entries, and where it is from.
    pub max_entries: Option<(u32, String)>,
    pub notes: Vec<String>,
}

impl Resolved<'_> {
    pub fn has_types(&self) -> bool {
        self.key.is_some() || self.value.is_some()
    }

    pub fn types(&self) -> Types<'_> {
        let table = self.owned.as_ref().or(self.table);
        let tref = |id: Option<TypeId>| table.zip(id).map(|(table, id)| TypeRef { table, id });
        Types {
            key: tref(self.key),
            value: tref(self.value),
            source: self.source.as_deref(),
        }
    }
}

/// The types of `dump`: from `src`, else (nothing given) from the capture it was read
/// from.
pub fn resolve<'s>(
    src: &'s TypeSource,
    spec: &TypeSpec,
    dump: &Dump,
    purpose: Purpose,
) -> Result<Resolved<'s>> {
    let mut r = Resolved::default();
    match src {
        TypeSource::Go {
            path,
            table,
            key,
            value,
        } => {
            r.table = Some(table);
            (r.key, r.value) = (*key, *value);
            r.source = Some(format!("Go binary {path}"));
        }
        TypeSource::Btf {
            path,
            table,
            fixed: Some((k, v)),
            ..
        } => {
            r.table = Some(table);
            (r.key, r.value) = (*k, *v);
            r.source = Some(path.clone());
        }
        TypeSource::Btf {
            path, table, maps, ..
        } => {
            let (def, how) = map_definition(spec.map.as_deref(), dump, path, maps)?;
            r.table = Some(table);
            (r.key, r.value) = (def.key_type_id, def.value_type_id);
            r.source = Some(format!("{path}, map `{}`{how}", def.name));
            r.max_entries = def
                .max_entries
                .map(|m| (m, format!("the definition of `{}` in {path}", def.name)));
            if !r.has_types() {
                r.notes.push(format!(
                    "map `{}` of {path} declares only sizes, no key or value types",
                    def.name
                ));
            }
        }
        TypeSource::None => capture_types(dump, &mut r, purpose)?,
    }
    if spec.record_type && !dump.is_ring() {
        r.notes.push(format!(
            "--record-type names a ring buffer's records, but this map is {}: its values \
             were decoded with the record type",
            dump.meta
                .map_type
                .as_deref()
                .map_or("not a ring buffer".to_string(), |t| {
                    let an = t.starts_with(['a', 'e', 'i', 'o', 'u']);
                    format!("{} {t}", if an { "an" } else { "a" })
                })
        ));
    }
    Ok(r)
}

/// The object's definition of the dumped map: `--map NAME`, else by the dump's name.
fn map_definition<'m>(
    want: Option<&str>,
    dump: &Dump,
    path: &str,
    maps: &'m [MapDef],
) -> Result<(&'m MapDef, &'static str)> {
    if let Some(m) = want {
        let def = maps.iter().find(|d| d.name == m);
        return def
            .map(|d| (d, ""))
            .ok_or_else(|| no_such_map(m, path, maps));
    }
    let Some(name) = dump.meta.name.as_deref() else {
        return Err(Error::usage(format!(
            "{}: the dump does not name its map: give --map NAME (maps in {path}: {}), or \
             --map-info with `bpftool -j map show` output",
            dump.source.name,
            map_names(maps)
        )));
    };
    let found: Vec<&MapDef> = maps
        .iter()
        .filter(|d| same_map_name(name, &d.name))
        .collect();
    match found.as_slice() {
        [one] => Ok((one, " (matched by the dump's map name)")),
        [] => Err(Error::usage(format!(
            "{}: the dump's map `{name}` is not defined in {path}: give --map NAME, or \
             --key-type/--value-type (it defines: {})",
            dump.source.name,
            map_names(maps)
        ))),
        _ => Err(Error::usage(format!(
            "map name `{name}` matches several maps of {path}: give --map NAME"
        ))),
    }
}

/// The types a capture recorded for its map, from the capture's BTF (nothing for dumps
/// that are not from a capture).
fn capture_types(dump: &Dump, r: &mut Resolved<'_>, purpose: Purpose) -> Result<()> {
    // A ring has no key or value type (its records' type is --record-type's).
    let explain = purpose == Purpose::Analysis && !dump.is_ring();
    let (Some(cap), Some(h)) = (dump.capture(), dump.capture_map()) else {
        return Ok(());
    };
    let ids: Vec<u32> = [h.btf_key_type_id, h.btf_value_type_id]
        .into_iter()
        .filter(|&i| i != 0)
        .collect();
    let Some(blob) = dump.embedded_btf() else {
        if explain {
            r.notes.push(
                "the capture holds no BTF for this map: only checks that need no types ran".into(),
            );
        }
        return Ok(());
    };
    if ids.is_empty() {
        if explain {
            r.notes
                .push("the map has BTF but no key or value type ids".into());
        }
        return Ok(());
    }
    let locate = |e: mapsleuth_btf::BtfError| {
        Error::from(e.in_file(&format!("{} (the map's BTF)", dump.source.name), 0))
    };
    let table = match Btf::parse(blob) {
        Ok(btf) => btf.to_table_for(&ids).map_err(locate)?,
        Err(e) => {
            // Module BTF is split: its base is the kernel's, recorded beside it.
            let Some(base) = cap.vmlinux_btf() else {
                return Err(locate(e));
            };
            let base = Btf::parse(base).map_err(locate)?;
            let split = Btf::parse_split(blob, &base).map_err(locate)?;
            split.to_table_for(&ids).map_err(locate)?
        }
    };
    r.key = (h.btf_key_type_id != 0).then_some(h.btf_key_type_id);
    r.value = (h.btf_value_type_id != 0).then_some(h.btf_value_type_id);
    r.owned = Some(table);
    r.source = Some(match purpose {
        Purpose::Analysis => format!("the capture's BTF (kernel BTF id {})", h.btf_id),
        Purpose::Diff => format!(
            "the capture's BTF ({}, kernel BTF id {})",
            dump.source.name, h.btf_id
        ),
    });
    Ok(())
}
