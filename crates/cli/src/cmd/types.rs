//! The `[TYPES]` arguments of `analyze dump` and `diff` (DESIGN.md): where the key and
//! value types of dumps come from, and how they are resolved for each dump.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use mapsleuth_forensics::dump_report::Types;
use mapsleuth_forensics::forensics::TypeRef;
use mapsleuth_btf::{discover_maps, Btf, MapDef};
use mapsleuth_dump::capture_file::Capture;
use mapsleuth_dump::{parse_bpftool_map_show, Dump, MapMeta};
use mapsleuth_layout::{TypeId, TypeTable};

use crate::cmd::btf::{BtfInput, BtfInputArgs};
use crate::output::UsageError;

// How keys and values are typed (see TYPES in the commands' help). The help texts are
// `analyze dump`'s; `diff` words --btf and --map for its two dumps (`mut_arg` there).
#[derive(Args)]
pub struct TypeArgs {
    /// BTF with the key and value types: a BPF object (with --map, or matched by the
    /// dump's map name), raw BTF, or vmlinux (with --key-type/--value-type).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<String>,
    /// Base BTF when --btf is split BTF (a module's).
    #[arg(long, value_name = "FILE", requires = "btf")]
    pub btf_base: Option<String>,
    /// A Go binary whose DWARF has the key and value types (with --key-type/--value-type).
    #[arg(long, value_name = "APP", conflicts_with = "btf")]
    pub go_bin: Option<String>,
    /// The map of the --btf object whose key and value types decode the dump.
    #[arg(long, value_name = "NAME", requires = "btf", conflicts_with_all = ["key_type", "value_type"])]
    pub map: Option<String>,
    /// The key type: `__u32`, `struct flow_key`, `main.FlowKey`.
    #[arg(long, value_name = "TYPE")]
    pub key_type: Option<String>,
    /// The value type: `struct event`, `main.Event`.
    #[arg(long, value_name = "TYPE")]
    pub value_type: Option<String>,
}

/// The command resolving types, where the commands differ (captures' types).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Notes when a capture holds no types; the source is "the capture's BTF".
    AnalyzeDump,
    /// No such notes (the other dump may have types); the source names the capture.
    Diff,
}

/// Where types come from, read once for every dump.
pub enum TypeSource {
    None,
    Btf {
        path: String,
        table: TypeTable,
        maps: Vec<MapDef>,
        /// --key-type / --value-type ids.
        fixed: Option<(Option<TypeId>, Option<TypeId>)>,
    },
    Go {
        path: String,
        table: TypeTable,
        key: Option<TypeId>,
        value: Option<TypeId>,
    },
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

impl TypeSource {
    pub fn read(args: &TypeArgs) -> anyhow::Result<TypeSource> {
        let named = args.key_type.is_some() || args.value_type.is_some();
        if let Some(go) = &args.go_bin {
            if !named {
                return Err(usage(
                    "--go-bin needs --key-type and/or --value-type (the Go types of the map)",
                ));
            }
            let bin = crate::cmd::go::open(go)?;
            let names: Vec<&str> = [args.key_type.as_deref(), args.value_type.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            let (table, ids) = bin
                .table_for(&names)
                .map_err(|e| anyhow::anyhow!("{go}: {e}"))?;
            let mut ids = ids.into_iter();
            let key = args.key_type.as_ref().and_then(|_| ids.next());
            let value = args.value_type.as_ref().and_then(|_| ids.next());
            return Ok(TypeSource::Go {
                path: go.clone(),
                table,
                key,
                value,
            });
        }
        let Some(btf_path) = &args.btf else {
            if named {
                return Err(usage(
                    "--key-type/--value-type need the types' source: --btf FILE or --go-bin APP",
                ));
            }
            return Ok(TypeSource::None);
        };
        let input = BtfInput::read(&BtfInputArgs {
            btf: btf_path.clone(),
            btf_base: args.btf_base.clone(),
        })?;
        let legacy = input.main.legacy_maps.clone();
        input.with(|btf| {
            if named {
                let find = |t: &Option<String>| -> anyhow::Result<Option<TypeId>> {
                    t.as_deref()
                        .map(|n| {
                            btf.find_type(n)
                                .map_err(|e| anyhow::anyhow!("{btf_path}: {e}"))
                        })
                        .transpose()
                };
                let (k, v) = (find(&args.key_type)?, find(&args.value_type)?);
                let roots: Vec<u32> = [k, v].into_iter().flatten().collect();
                Ok(TypeSource::Btf {
                    path: btf_path.clone(),
                    table: btf.to_table_for(&roots)?,
                    maps: Vec::new(),
                    fixed: Some((k, v)),
                })
            } else {
                let table = btf.to_table()?;
                let maps = discover_maps(btf, &table, &legacy)?;
                if let Some(m) = &args.map {
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
}

fn no_such_map(name: &str, path: &str, maps: &[MapDef]) -> anyhow::Error {
    let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
    usage(format!(
        "no map named `{name}` in {path}; it defines: {}",
        if names.is_empty() {
            "no maps".to_string()
        } else {
            names.join(", ")
        }
    ))
}

/// The kernel keeps 15 characters of a map name: `pcpu_array_stats` is dumped as
/// `pcpu_array_stat`.
pub fn same_map_name(dumped: &str, defined: &str) -> bool {
    dumped == defined || (dumped.len() == 15 && defined.starts_with(dumped))
}

/// Types for one dump, with the table they live in when it is the dump's own (captures).
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

pub fn resolve<'s>(
    src: &'s TypeSource,
    args: &TypeArgs,
    dump: &Dump,
    capture: Option<&Capture<Vec<u8>>>,
    caller: Caller,
) -> anyhow::Result<Resolved<'s>> {
    let mut r = Resolved::default();
    match src {
        TypeSource::Go {
            path,
            table,
            key,
            value,
        } => {
            r.table = Some(table);
            r.key = *key;
            r.value = *value;
            r.source = Some(format!("Go binary {path}"));
        }
        TypeSource::Btf {
            path,
            table,
            fixed: Some((k, v)),
            ..
        } => {
            r.table = Some(table);
            r.key = *k;
            r.value = *v;
            r.source = Some(path.clone());
        }
        TypeSource::Btf {
            path, table, maps, ..
        } => {
            let listed = || {
                maps.iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (def, how) = match &args.map {
                Some(m) => (maps.iter().find(|d| &d.name == m), ""),
                None => {
                    let Some(name) = dump.meta.name.as_deref() else {
                        return Err(usage(format!(
                            "{}: the dump does not name its map: give --map NAME (maps in {path}: {}), or --map-info with `bpftool -j map show` output",
                            dump.source.name,
                            listed()
                        )));
                    };
                    let found: Vec<&MapDef> = maps
                        .iter()
                        .filter(|d| same_map_name(name, &d.name))
                        .collect();
                    match found.as_slice() {
                        [one] => (Some(*one), " (matched by the dump's map name)"),
                        [] => {
                            return Err(usage(format!(
                                "{}: the dump's map `{name}` is not defined in {path}: give --map NAME, or --key-type/--value-type (it defines: {})",
                                dump.source.name,
                                listed()
                            )))
                        }
                        _ => {
                            return Err(usage(format!(
                                "map name `{name}` matches several maps of {path}: give --map NAME"
                            )))
                        }
                    }
                }
            };
            let Some(def) = def else {
                return Err(no_such_map(args.map.as_deref().unwrap_or(""), path, maps));
            };
            r.table = Some(table);
            r.key = def.key_type_id;
            r.value = def.value_type_id;
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
        TypeSource::None => {
            if let Some(cap) = capture {
                capture_types(cap, dump, &mut r, caller)?;
            }
        }
    }
    Ok(r)
}

/// The types a capture recorded for its map, from the capture's BTF.
fn capture_types(
    cap: &Capture<Vec<u8>>,
    dump: &Dump,
    r: &mut Resolved<'_>,
    caller: Caller,
) -> anyhow::Result<()> {
    let explain = caller == Caller::AnalyzeDump;
    let Some(view) = cap.map(dump.source.map_index) else {
        return Ok(());
    };
    let h = view.header;
    let ids: Vec<u32> = [h.btf_key_type_id, h.btf_value_type_id]
        .into_iter()
        .filter(|&i| i != 0)
        .collect();
    let Some(blob) = cap.map_btf(h) else {
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
    let base = cap
        .header()
        .btf
        .iter()
        .position(|b| b.kernel && b.name.as_deref() == Some("vmlinux"))
        .and_then(|i| cap.btf_blob(i));
    let table = match Btf::parse(blob) {
        Ok(btf) => btf.to_table_for(&ids)?,
        Err(e) => {
            let Some(base) = base else {
                return Err(anyhow::anyhow!("{}: the map's BTF: {e}", dump.source.name));
            };
            let base = Btf::parse(base)?;
            Btf::parse_split(blob, &base)?.to_table_for(&ids)?
        }
    };
    r.key = (h.btf_key_type_id != 0).then_some(h.btf_key_type_id);
    r.value = (h.btf_value_type_id != 0).then_some(h.btf_value_type_id);
    r.owned = Some(table);
    r.source = Some(match caller {
        Caller::AnalyzeDump => format!("the capture's BTF (kernel BTF id {})", h.btf_id),
        Caller::Diff => format!(
            "the capture's BTF ({}, kernel BTF id {})",
            dump.source.name, h.btf_id
        ),
    });
    Ok(())
}

/// `bpftool -j map show` output for a dump: --map-info, else `STEM.show.json` beside it.
pub fn map_info(arg: Option<&str>, path: &str) -> anyhow::Result<Option<(Vec<MapMeta>, String)>> {
    let file = match arg {
        Some(f) => PathBuf::from(f),
        None => {
            if path == "-" {
                return Ok(None);
            }
            let p = Path::new(path);
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = [".pretty.json", ".show.json", ".json", ".txt"]
                .iter()
                .find_map(|s| name.strip_suffix(s));
            let Some(stem) = stem.filter(|_| !name.ends_with(".show.json")) else {
                return Ok(None);
            };
            let side = p.with_file_name(format!("{stem}.show.json"));
            if !side.is_file() {
                return Ok(None);
            }
            side
        }
    };
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let shown = file.display().to_string();
    let metas = parse_bpftool_map_show(&bytes, &shown)?;
    Ok(Some((metas, shown)))
}
