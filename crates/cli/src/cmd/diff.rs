//! `mapsleuth diff OLD NEW [TYPES]`: the entries added, removed and changed between two
//! dumps of one map, the changed fields decoded.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use mapsleuth_analyze::diff::{
    diff, ChangeKind, DiffOptions, DiffReport, EntryChange, EntryState, FieldChange, FieldKind,
    MapDiff, Snapshot, Tree, UnpairedMap,
};
use mapsleuth_analyze::dump_report::Types;
use mapsleuth_analyze::forensics::TypeRef;
use mapsleuth_btf::{discover_maps, Btf, MapDef};
use mapsleuth_dump::capture_file::{hex, Capture};
use mapsleuth_dump::{
    parse_bpftool_map_show, read_file, read_from, Dump, DumpFormat, MapMeta, RawLayout, ReadOptions,
};
use mapsleuth_layout::{TypeId, TypeTable};

use crate::cmd::btf::{BtfInput, BtfInputArgs};
use crate::output::{csv_field, Format, Out, Style, UsageError};

pub const AFTER_HELP: &str =
    "Entries are matched by their key bytes and compared by their value bytes (every
CPU's value for per-CPU maps); the types explain what changed: the fields, with their
old and new decoded values, padding, and bytes past the type. Without types, bpftool's
own decoding (`bpftool -j` dumps of maps with BTF) explains, else the changed byte
ranges. The plain `bpftool map dump` listing of a map with BTF has no raw bytes: such
dumps are matched and compared by bpftool's decoded values.

Types (TYPES), as for `analyze dump`:
  --btf OBJ.o --map NAME                      the map's key and value types from the object
  --btf OBJ.o                                 the same, the map found by the dumps' map name
  --btf FILE --key-type T --value-type T      any BTF types (vmlinux, raw BTF, objects)
  --go-bin APP --key-type T --value-type T    Go types from the binary's DWARF
  (nothing)                                   captures carry their BTF; bpftool's decoding,
                                              else bytes

Examples:
  mapsleuth diff before.json after.json --btf prog.bpf.o --map flows
  mapsleuth diff before.txt after.json                    plain listing against -j
  mapsleuth diff monday.mscap tuesday.mscap --unified     for people and code review
  mapsleuth diff old.json new.json --format ndjson        one change per line
  mapsleuth diff old.json new.json --exit-code >/dev/null  status 1 when they differ

Exit status: 0 whatever the differences (1 with --exit-code when the dumps differ), 2 bad
usage, unreadable input, or dumps of incompatible maps (key or value sizes differ:
--force compares them by bytes).";

/// How keys and values are typed (see TYPES below).
#[derive(Args)]
pub struct TypeArgs {
    /// BTF with the key and value types: a BPF object (with --map, or matched by the
    /// dumps' map name), raw BTF, or vmlinux (with --key-type/--value-type).
    #[arg(long, value_name = "FILE")]
    btf: Option<String>,
    /// Base BTF when --btf is split BTF (a module's).
    #[arg(long, value_name = "FILE", requires = "btf")]
    btf_base: Option<String>,
    /// A Go binary whose DWARF has the key and value types (with --key-type/--value-type).
    #[arg(long, value_name = "APP", conflicts_with = "btf")]
    go_bin: Option<String>,
    /// The map of the --btf object whose key and value types decode the dumps; with
    /// inputs holding several maps, the map compared.
    #[arg(long, value_name = "NAME", requires = "btf", conflicts_with_all = ["key_type", "value_type"])]
    map: Option<String>,
    /// The key type: `__u32`, `struct flow_key`, `main.FlowKey`.
    #[arg(long, value_name = "TYPE")]
    key_type: Option<String>,
    /// The value type: `struct event`, `main.Event`.
    #[arg(long, value_name = "TYPE")]
    value_type: Option<String>,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The older dump: `bpftool map dump` output (plain or with BTF), `bpftool -j`/`-p map
    /// dump`, raw key+value records (with --key-size/--value-size), or a mapsleuth
    /// capture file. `-` reads standard input.
    #[arg(value_name = "OLD")]
    old: String,
    /// The newer dump, in any of the same formats (they may differ).
    #[arg(value_name = "NEW")]
    new: String,
    #[command(flatten)]
    types: TypeArgs,
    /// `bpftool -j map show` output for the map. Without it, NAME.show.json next to each
    /// NAME.json (or .txt) is used when it exists.
    #[arg(long, value_name = "FILE")]
    map_info: Option<String>,
    /// The dump format, when detection is not wanted: text, btf-text, json, raw, capture.
    #[arg(long, value_name = "F")]
    input_format: Option<DumpFormat>,
    /// Key bytes of raw records.
    #[arg(long, value_name = "N", requires = "value_size")]
    key_size: Option<usize>,
    /// Value bytes of raw records.
    #[arg(long, value_name = "N", requires = "key_size")]
    value_size: Option<usize>,
    /// Compare dumps whose key or value sizes differ (by bytes) instead of refusing.
    #[arg(long)]
    force: bool,
    /// Exit with status 1 when the dumps differ (like `git diff --exit-code`).
    #[arg(long)]
    exit_code: bool,
    /// Print a unified diff of the decoded entries (for people and code review) instead
    /// of the table.
    #[arg(long)]
    unified: bool,
    /// Unchanged lines shown around each change in --unified output.
    #[arg(long, value_name = "N", default_value = "3", requires = "unified")]
    context: usize,
}

// ---------------------------------------------------------------------------------------
// Types: the same resolution as `analyze dump` (cmd/analyze_dump.rs), which keeps its
// own private; both should move to one shared module.

/// Where types come from, read once.
enum TypeSource {
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

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

impl TypeSource {
    fn read(args: &TypeArgs) -> anyhow::Result<TypeSource> {
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
fn same_map_name(dumped: &str, defined: &str) -> bool {
    dumped == defined || (dumped.len() == 15 && defined.starts_with(dumped))
}

/// Types for one dump, with the table they live in when it is the dump's own (captures).
#[derive(Default)]
struct Resolved<'s> {
    table: Option<&'s TypeTable>,
    owned: Option<TypeTable>,
    key: Option<TypeId>,
    value: Option<TypeId>,
    source: Option<String>,
    notes: Vec<String>,
}

impl Resolved<'_> {
    fn has_types(&self) -> bool {
        self.key.is_some() || self.value.is_some()
    }

    fn types(&self) -> Types<'_> {
        let table = self.owned.as_ref().or(self.table);
        let tref = |id: Option<TypeId>| table.zip(id).map(|(table, id)| TypeRef { table, id });
        Types {
            key: tref(self.key),
            value: tref(self.value),
            source: self.source.as_deref(),
        }
    }
}

fn resolve<'s>(
    src: &'s TypeSource,
    args: &TypeArgs,
    dump: &Dump,
    capture: Option<&Capture<Vec<u8>>>,
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
            if !r.has_types() {
                r.notes.push(format!(
                    "map `{}` of {path} declares only sizes, no key or value types",
                    def.name
                ));
            }
        }
        TypeSource::None => {
            if let Some(cap) = capture {
                capture_types(cap, dump, &mut r)?;
            }
        }
    }
    Ok(r)
}

/// The types a capture recorded for its map, from the capture's BTF.
fn capture_types(cap: &Capture<Vec<u8>>, dump: &Dump, r: &mut Resolved<'_>) -> anyhow::Result<()> {
    let Some(view) = cap.map(dump.source.map_index) else {
        return Ok(());
    };
    let h = view.header;
    let ids: Vec<u32> = [h.btf_key_type_id, h.btf_value_type_id]
        .into_iter()
        .filter(|&i| i != 0)
        .collect();
    let Some(blob) = cap.map_btf(h) else {
        return Ok(());
    };
    if ids.is_empty() {
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
    r.source = Some(format!(
        "the capture's BTF ({}, kernel BTF id {})",
        dump.source.name, h.btf_id
    ));
    Ok(())
}

/// `bpftool -j map show` output for a dump: --map-info, else `STEM.show.json` beside it.
fn map_info(arg: Option<&str>, path: &str) -> anyhow::Result<Option<(Vec<MapMeta>, String)>> {
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

// ---------------------------------------------------------------------------------------
// Reading

/// One input: its dumps, and the capture it is (for BTF and snapshot metadata).
struct Input {
    dumps: Vec<Dump>,
    capture: Option<Capture<Vec<u8>>>,
}

fn read_input(path: &str, args: &DiffArgs, opts: &ReadOptions) -> anyhow::Result<Input> {
    let mut dumps = if path == "-" {
        read_from(std::io::stdin().lock(), "<stdin>", opts)?
    } else {
        read_file(path, opts)?
    };
    let capture = if path != "-" && dumps.iter().any(|d| d.source.format == DumpFormat::Capture) {
        Some(Capture::read_file(Path::new(path))?)
    } else {
        None
    };
    if let Some((metas, _)) = map_info(args.map_info.as_deref(), path)? {
        let several = dumps.len() > 1;
        for d in &mut dumps {
            let pick = match metas.as_slice() {
                [one] if !several => Some(one),
                many => many.iter().find(|m| {
                    (m.id.is_some() && m.id == d.meta.id)
                        || (m.name.is_some() && m.name == d.meta.name)
                }),
            };
            if let Some(meta) = pick {
                d.merge_meta(meta);
            }
        }
    }
    Ok(Input { dumps, capture })
}

fn snapshot(cap: &Capture<Vec<u8>>) -> Snapshot {
    let h = cap.header();
    Snapshot {
        snapshot_id: h.snapshot_id.clone(),
        finished_at: h.finished_at.clone(),
        hostname: h.source.hostname.clone(),
        kernel_release: h.source.kernel_release.clone(),
        digest: hex(cap.digest()),
    }
}

/// Pairs the maps of the two inputs: the only map of each, else by name (in order),
/// else by position. `--map NAME` keeps only that map of inputs holding several.
fn pair(
    old: Vec<Dump>,
    new: Vec<Dump>,
    want: Option<&str>,
) -> (Vec<(Dump, Dump)>, Vec<UnpairedMap>) {
    let keep = |ds: Vec<Dump>| -> Vec<Dump> {
        match want {
            Some(w) if ds.len() > 1 => ds
                .into_iter()
                .filter(|d| d.meta.name.as_deref().is_some_and(|n| same_map_name(n, w)))
                .collect(),
            _ => ds,
        }
    };
    let (old, new) = (keep(old), keep(new));
    if old.len() == 1 && new.len() == 1 {
        return (old.into_iter().zip(new).collect(), Vec::new());
    }
    let mut new: Vec<Option<Dump>> = new.into_iter().map(Some).collect();
    let mut pairs = Vec::new();
    let mut unpaired = Vec::new();
    let unpaired_of = |side: &str, d: &Dump| UnpairedMap {
        side: side.to_string(),
        file: d.source.name.to_string(),
        map_index: d.source.map_index,
        name: d.meta.name.clone(),
        entries: d.len(),
    };
    for o in old {
        let found = new.iter().position(|n| {
            n.as_ref()
                .is_some_and(|n| match (&o.meta.name, &n.meta.name) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => o.source.map_index == n.source.map_index,
                    _ => false,
                })
        });
        match found.and_then(|i| new[i].take()) {
            Some(n) => pairs.push((o, n)),
            None => unpaired.push(unpaired_of("old", &o)),
        }
    }
    for n in new.into_iter().flatten() {
        unpaired.push(unpaired_of("new", &n));
    }
    (pairs, unpaired)
}

pub fn run(args: &DiffArgs, out: &mut Out) -> anyhow::Result<i32> {
    if args.unified && out.format != Format::Table {
        return Err(usage(
            "--unified is text for people: it does not go with --format json, ndjson or csv",
        ));
    }
    if args.old == "-" && args.new == "-" {
        return Err(usage("only one of OLD and NEW can be `-` (standard input)"));
    }
    let src = TypeSource::read(&args.types)?;
    let opts = ReadOptions {
        format: args.input_format,
        raw: args.key_size.zip(args.value_size).map(|(k, v)| RawLayout {
            key_size: k,
            value_size: v,
            cpus: None,
        }),
        ..ReadOptions::default()
    };
    // The two inputs are read at once (two cores: about half the time for big dumps).
    let (old, new) = std::thread::scope(|s| {
        let old = s.spawn(|| read_input(&args.old, args, &opts));
        let new = read_input(&args.new, args, &opts);
        let old = old
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("{}: reading failed", args.old)));
        (old, new)
    });
    let (old, new) = (old?, new?);
    let (pairs, unpaired) = pair(old.dumps, new.dumps, args.types.map.as_deref());
    let diff_opts = DiffOptions { force: args.force };
    let mut maps = Vec::with_capacity(pairs.len());
    for (o, n) in &pairs {
        // One set of types for both: NEW's, else OLD's (captures carry their own).
        let rn = resolve(&src, &args.types, n, new.capture.as_ref());
        let r = match rn {
            Ok(r) if r.has_types() => r,
            first => match resolve(&src, &args.types, o, old.capture.as_ref()) {
                Ok(r) if r.has_types() => r,
                other => first.or(other)?,
            },
        };
        let mut m = diff(o, n, &r.types(), &diff_opts)?;
        m.notes.splice(0..0, r.notes.iter().cloned());
        if o.source.format == DumpFormat::Capture {
            m.old.snapshot = old.capture.as_ref().map(snapshot);
        }
        if n.source.format == DumpFormat::Capture {
            m.new.snapshot = new.capture.as_ref().map(snapshot);
        }
        maps.push(m);
    }
    let report = DiffReport::new(maps, unpaired);
    // A second lock of stdout (it is reentrant), buffered: `out` stays free for `paint`.
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    match out.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, &report)?;
            writeln!(w)?;
        }
        Format::Ndjson => {
            for m in &report.maps {
                for c in m.changes() {
                    serde_json::to_writer(&mut w, &c)?;
                    writeln!(w)?;
                }
            }
        }
        Format::Csv => {
            writeln!(w, "map,key,kind,field_kind,path,cpu,old,new")?;
            for m in &report.maps {
                for c in m.changes() {
                    let fk = c.field_kind.map(|k| format!("{k:?}").to_lowercase());
                    writeln!(
                        w,
                        "{},{},{},{},{},{},{},{}",
                        csv_field(c.map.as_deref().unwrap_or("")),
                        csv_field(&c.key),
                        c.kind.as_str(),
                        fk.unwrap_or_default(),
                        csv_field(&c.path),
                        c.cpu.map(|c| c.to_string()).unwrap_or_default(),
                        csv_field(c.old.as_deref().unwrap_or("")),
                        csv_field(c.new.as_deref().unwrap_or("")),
                    )?;
                }
            }
        }
        Format::Table if args.unified => unified(&report, args.context, out, &mut w)?,
        Format::Table => table(&report, out, &mut w)?,
    }
    w.flush()?;
    Ok(if args.exit_code && report.differ {
        1
    } else {
        0
    })
}

// ---------------------------------------------------------------------------------------
// Text output

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn counts_line(m: &mapsleuth_analyze::diff::Counts) -> String {
    format!(
        "{} added, {} removed, {} changed ({}), {} unchanged",
        m.added,
        m.removed,
        m.changed,
        plural(m.field_changes, "field", "fields"),
        m.unchanged
    )
}

/// `dumps/flows.json (json, map `flows`, hash, 6 entries)`
fn side_title(s: &mapsleuth_analyze::diff::SideInfo) -> String {
    let mut parts = vec![s.format.to_string()];
    if let Some(n) = &s.map.name {
        parts.push(format!("map `{n}`"));
    }
    if let Some(t) = &s.map.map_type {
        parts.push(t.clone());
    }
    parts.push(plural(s.entries, "entry", "entries"));
    if let Some(c) = s.cpus {
        parts.push(plural(c, "CPU", "CPUs"));
    }
    format!("{} ({})", s.file, parts.join(", "))
}

fn snapshot_text(s: &Snapshot) -> String {
    format!(
        "snapshot {}, host {} ({}), sha256 {}",
        s.snapshot_id, s.hostname, s.kernel_release, s.digest
    )
}

fn types_text(m: &MapDiff) -> String {
    let t = |t: &Option<mapsleuth_analyze::dump_report::TypeUse>| {
        t.as_ref()
            .map_or("-".to_string(), |t| format!("{} ({} B)", t.name, t.size))
    };
    match (&m.key_type, &m.value_type) {
        (None, None) => "none".to_string(),
        (k, v) => format!(
            "key {}, value {}, from {}",
            t(k),
            t(v),
            m.types_from.as_deref().unwrap_or("?")
        ),
    }
}

/// The value of one side on one line.
fn state_text(s: &EntryState) -> String {
    if let Some(v) = &s.value {
        v.brief()
    } else if let Some(vs) = &s.values {
        vs.iter()
            .enumerate()
            .map(|(c, v)| format!("cpu{c} {}", v.brief()))
            .collect::<Vec<_>>()
            .join("  ")
    } else if let Some(e) = &s.error {
        format!("lookup error: {e}")
    } else {
        s.hex.join(" ")
    }
}

fn field_name(f: &FieldChange) -> String {
    let cpu = f.cpu.map(|c| format!("cpu{c} ")).unwrap_or_default();
    let path = if f.path.is_empty() { "value" } else { &f.path };
    format!("{cpu}{path}")
}

fn table(r: &DiffReport, p: &Out, w: &mut impl Write) -> anyhow::Result<()> {
    for m in &r.maps {
        let title = format!("--- {}\n+++ {}", side_title(&m.old), side_title(&m.new));
        writeln!(w, "{}", p.paint(&title, Style::Bold))?;
        for (label, s) in [("old", &m.old), ("new", &m.new)] {
            if let Some(snap) = &s.snapshot {
                writeln!(w, "  {label}: {}", snapshot_text(snap))?;
            }
        }
        writeln!(w, "  types: {}", types_text(m))?;
        if !p.quiet {
            for n in &m.notes {
                writeln!(w, "  {} {n}", p.paint("note:", Style::Dim))?;
            }
        }
        for e in &m.entries {
            let key = e.key_text();
            match e.change {
                ChangeKind::Added => {
                    let v = e.new.as_ref().map(state_text).unwrap_or_default();
                    writeln!(w, "  {} {key} => {v}", p.paint("+", Style::Ok))?;
                }
                ChangeKind::Removed => {
                    let v = e.old.as_ref().map(state_text).unwrap_or_default();
                    writeln!(w, "  {} {key} => {v}", p.paint("-", Style::Error))?;
                }
                ChangeKind::Changed => {
                    writeln!(w, "  {} {key}", p.paint("~", Style::Warning))?;
                    for f in &e.fields {
                        let what = match f.kind {
                            FieldKind::Padding => " (padding)",
                            _ => "",
                        };
                        writeln!(
                            w,
                            "      {}: {} -> {}{what}",
                            field_name(f),
                            p.paint(&f.old.brief(), Style::Error),
                            p.paint(&f.new.brief(), Style::Ok)
                        )?;
                    }
                }
            }
        }
        writeln!(w, "  {}", counts_line(&m.counts))?;
        writeln!(w)?;
    }
    for u in &r.unpaired {
        writeln!(
            w,
            "{} only in {} {}: map {} ({})",
            p.paint("!", Style::Warning),
            u.side.to_uppercase(),
            u.file,
            u.name.as_deref().unwrap_or("?"),
            plural(u.entries, "entry", "entries")
        )?;
    }
    let verdict = if r.differ {
        p.paint("the dumps differ", Style::Warning)
    } else {
        p.paint("no differences", Style::Ok)
    };
    writeln!(
        w,
        "{}: {verdict}: {}",
        plural(r.maps.len(), "map", "maps"),
        counts_line(&r.summary)
    )?;
    Ok(())
}

/// The lines one side of an entry shows: decoded leaves (`path: value`), else its
/// bytes, 16 to a line; per-CPU lines start with `cpuN`.
fn state_lines(s: &EntryState) -> Vec<String> {
    fn tree_lines(t: &Tree, prefix: &str, out: &mut Vec<String>) {
        for (path, v) in t.lines() {
            out.push(match (prefix.is_empty(), path.is_empty()) {
                (true, true) => v,
                (true, false) => format!("{path}: {v}"),
                (false, true) => format!("{prefix}: {v}"),
                (false, false) => format!("{prefix} {path}: {v}"),
            });
        }
    }
    let mut out = Vec::new();
    if let Some(e) = &s.error {
        out.push(format!("lookup error: {e}"));
    } else if let Some(v) = &s.value {
        tree_lines(v, "", &mut out);
    } else if let Some(vs) = &s.values {
        for (c, v) in vs.iter().enumerate() {
            tree_lines(v, &format!("cpu{c}"), &mut out);
        }
    } else {
        let percpu = s.hex.len() > 1;
        for (c, h) in s.hex.iter().enumerate() {
            let bytes = h.as_bytes();
            for (i, chunk) in bytes.chunks(32).enumerate() {
                let spaced: Vec<&str> = chunk
                    .chunks(2)
                    .map(|b| std::str::from_utf8(b).unwrap_or("??"))
                    .collect();
                let cpu = if percpu {
                    format!("cpu{c} ")
                } else {
                    String::new()
                };
                out.push(format!("{cpu}{:04x}: {}", i * 16, spaced.join(" ")));
            }
        }
    }
    out
}

fn unified(r: &DiffReport, context: usize, p: &Out, w: &mut impl Write) -> anyhow::Result<()> {
    for m in &r.maps {
        for (mark, s) in [("---", &m.old), ("+++", &m.new)] {
            let mut line = format!("{mark} {}", side_title(s));
            if let Some(snap) = &s.snapshot {
                line.push_str(&format!(" [{}]", snapshot_text(snap)));
            }
            writeln!(w, "{}", p.paint(&line, Style::Bold))?;
        }
        for e in &m.entries {
            entry_hunk(e, context, p, w)?;
        }
        if !p.quiet {
            writeln!(w, "# types: {}", types_text(m))?;
            for n in &m.notes {
                writeln!(w, "# note: {n}")?;
            }
            writeln!(w, "# {}", counts_line(&m.counts))?;
        }
    }
    for u in &r.unpaired {
        writeln!(
            w,
            "# only in {} {}: map {} ({})",
            u.side.to_uppercase(),
            u.file,
            u.name.as_deref().unwrap_or("?"),
            plural(u.entries, "entry", "entries")
        )?;
    }
    Ok(())
}

/// One entry as a hunk: `@@ changed key K @@`, then its lines marked ` `, `-`, `+`.
fn entry_hunk(e: &EntryChange, context: usize, p: &Out, w: &mut impl Write) -> anyhow::Result<()> {
    let mut key = e.key_text();
    if let (Some(_), Some(h)) = (&e.key, &e.key_hex) {
        key.push_str(&format!(" ({h})"));
    }
    let head = format!("@@ {} key {key} @@", e.change.as_str());
    writeln!(w, "{}", p.paint(&head, Style::Info))?;
    let minus = |l: &str| p.paint(&format!("-{l}"), Style::Error);
    let plus = |l: &str| p.paint(&format!("+{l}"), Style::Ok);
    match (&e.old, &e.new) {
        (None, Some(n)) => {
            for l in state_lines(n) {
                writeln!(w, "{}", plus(&l))?;
            }
        }
        (Some(o), None) => {
            for l in state_lines(o) {
                writeln!(w, "{}", minus(&l))?;
            }
        }
        (Some(o), Some(n)) => {
            let (a, b) = (state_lines(o), state_lines(n));
            let aligned = a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|(x, y)| x.split(": ").next() == y.split(": ").next());
            if aligned {
                let changed: Vec<bool> = a.iter().zip(&b).map(|(x, y)| x != y).collect();
                let near = |i: usize| {
                    let lo = i.saturating_sub(context);
                    let hi = (i + context).min(changed.len().saturating_sub(1));
                    changed[lo..=hi].iter().any(|c| *c)
                };
                let mut skipped = 0;
                for i in 0..a.len() {
                    if changed[i] {
                        if skipped > 0 {
                            writeln!(w, " ... ({skipped} unchanged)")?;
                            skipped = 0;
                        }
                        writeln!(w, "{}", minus(&a[i]))?;
                        writeln!(w, "{}", plus(&b[i]))?;
                    } else if near(i) {
                        if skipped > 0 {
                            writeln!(w, " ... ({skipped} unchanged)")?;
                            skipped = 0;
                        }
                        writeln!(w, " {}", a[i])?;
                    } else {
                        skipped += 1;
                    }
                }
                if skipped > 0 {
                    writeln!(w, " ... ({skipped} unchanged)")?;
                }
            } else {
                for l in &a {
                    writeln!(w, "{}", minus(l))?;
                }
                for l in &b {
                    writeln!(w, "{}", plus(l))?;
                }
            }
            // What the decoded lines cannot show: padding, bytes past the type.
            if o.value.is_some() || o.values.is_some() {
                for f in &e.fields {
                    if matches!(f.kind, FieldKind::Padding | FieldKind::Bytes) {
                        let name = field_name(f);
                        writeln!(w, "{}", minus(&format!("{name}: {}", f.old.brief())))?;
                        writeln!(w, "{}", plus(&format!("{name}: {}", f.new.brief())))?;
                    }
                }
            }
        }
        (None, None) => {}
    }
    Ok(())
}
