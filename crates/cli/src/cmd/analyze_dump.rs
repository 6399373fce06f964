//! `mapsleuth analyze dump`: decode map dumps with their real types and report what is
//! wrong in them (D findings).

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mapsleuth_analyze::dump_report::{analyze, DumpAnalysis, DumpReport, EntryLine, Types};
use mapsleuth_analyze::forensics::{ExpectedKeys, Options, TypeRef};
use mapsleuth_btf::{discover_maps, Btf, MapDef};
use mapsleuth_dump::capture_file::Capture;
use mapsleuth_dump::{
    parse_bpftool_map_show, read_file, read_from, Dump, DumpFormat, EntryKind, MapMeta, RawLayout,
    ReadOptions,
};
use mapsleuth_layout::{Finding, Severity, TypeId, TypeTable};

use crate::cmd::btf::{BtfInput, BtfInputArgs};
use crate::output::{exit_for, Format, Out, Style, UsageError};

pub const AFTER_HELP: &str = "Types (TYPES):
  --btf OBJ.o --map NAME                      the map's key and value types from the object
  --btf OBJ.o                                 the same, the map found by the dump's map name
  --btf FILE --key-type T --value-type T      any BTF types (vmlinux, raw BTF, objects)
  --go-bin APP --key-type T --value-type T    Go types from the binary's DWARF
  (nothing)                                   captures carry their BTF; otherwise only the
                                              checks that need no types run
  bpftool -j/-p dumps carry no map name: it is read from `bpftool -j map show` output,
  given with --map-info or found next to the dump as NAME.show.json.

Examples:
  mapsleuth analyze dump flows.json --btf prog.bpf.o --map flows
  bpftool -j map dump name flows | mapsleuth analyze dump - --btf prog.bpf.o --map flows
  mapsleuth analyze dump events.json --go-bin ./app --key-type uint32 --value-type main.Event
  mapsleuth analyze dump flows.json --btf prog.bpf.o --map flows --expect-keys keys.txt
  mapsleuth analyze dump records.bin --key-size 4 --value-size 32 --btf prog.bpf.o --map flows
  mapsleuth analyze dump snapshot.mscap --format json > entries.json

--expect-keys FILE: one key per line (`#` comments): hex bytes `0a 00 00 05`, a hex string
of two digits per key byte `0a000005` / `0x0a000005` (as findings print keys), or a
number `5`, `0x5`, `-1` in the key type's size and byte order.

Exit status 1 when a finding reaches --fail-on (error by default).";

#[derive(Args)]
pub struct DumpArgs {
    /// Dump files: `bpftool map dump` output (plain or with BTF), `bpftool -j`/`-p map
    /// dump`, raw key+value records (with --key-size/--value-size), or mapsleuth capture
    /// files. `-` reads standard input.
    #[arg(value_name = "DUMP", required = true)]
    dumps: Vec<String>,
    /// BTF with the key and value types: a BPF object (with --map, or matched by the
    /// dump's map name), raw BTF, or vmlinux (with --key-type/--value-type).
    #[arg(long, value_name = "FILE")]
    btf: Option<String>,
    /// Base BTF when --btf is split BTF (a module's).
    #[arg(long, value_name = "FILE", requires = "btf")]
    btf_base: Option<String>,
    /// A Go binary whose DWARF has the key and value types (with --key-type/--value-type).
    #[arg(long, value_name = "APP", conflicts_with = "btf")]
    go_bin: Option<String>,
    /// The map of the --btf object whose key and value types decode the dump.
    #[arg(long, value_name = "NAME", requires = "btf", conflicts_with_all = ["key_type", "value_type"])]
    map: Option<String>,
    /// The key type: `__u32`, `struct flow_key`, `main.FlowKey`.
    #[arg(long, value_name = "TYPE")]
    key_type: Option<String>,
    /// The value type: `struct event`, `main.Event`.
    #[arg(long, value_name = "TYPE")]
    value_type: Option<String>,
    /// `bpftool -j map show` output for the dumped map (name, type, sizes, max_entries).
    /// Without it, NAME.show.json next to NAME.json (or .txt) is used when it exists.
    #[arg(long, value_name = "FILE")]
    map_info: Option<String>,
    /// Keys that should be in the map, one per line (see below).
    #[arg(long, value_name = "FILE")]
    expect_keys: Option<String>,
    /// Exit with status 1 when a finding is at least this severe: info, warning, error.
    #[arg(long, default_value = "error", value_name = "LEVEL")]
    fail_on: Severity,
    /// The dump format, when detection is not wanted: text, btf-text, json, raw, capture.
    #[arg(long, value_name = "F")]
    input_format: Option<DumpFormat>,
    /// Key bytes of raw records.
    #[arg(long, value_name = "N", requires = "value_size")]
    key_size: Option<usize>,
    /// Value bytes of raw records.
    #[arg(long, value_name = "N", requires = "key_size")]
    value_size: Option<usize>,
    /// Entries to print in table output (all of them are in --format json and ndjson).
    #[arg(long, default_value = "10", value_name = "N")]
    entries: usize,
}

/// Where types come from, read once for every dump.
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

impl TypeSource {
    fn read(args: &DumpArgs) -> anyhow::Result<TypeSource> {
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

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
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

/// Types for one dump, with the table they live in when it is the dump's own.
struct Resolved<'s> {
    table: Option<&'s TypeTable>,
    owned: Option<TypeTable>,
    key: Option<TypeId>,
    value: Option<TypeId>,
    source: Option<String>,
    max_entries: Option<(u32, String)>,
    notes: Vec<String>,
}

impl Resolved<'_> {
    fn none() -> Self {
        Resolved {
            table: None,
            owned: None,
            key: None,
            value: None,
            source: None,
            max_entries: None,
            notes: Vec::new(),
        }
    }
}

fn resolve<'s>(
    src: &'s TypeSource,
    args: &DumpArgs,
    dump: &Dump,
    capture: Option<&Capture<Vec<u8>>>,
) -> anyhow::Result<Resolved<'s>> {
    let mut r = Resolved::none();
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
            let (def, how) = match &args.map {
                Some(m) => (maps.iter().find(|d| &d.name == m), ""),
                None => {
                    let Some(name) = dump.meta.name.as_deref() else {
                        return Err(usage(format!(
                            "{}: the dump does not name its map: give --map NAME (maps in {path}: {}), or --map-info with `bpftool -j map show` output",
                            dump.source.name,
                            maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
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
                                maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
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
            if def.key_type_id.is_none() && def.value_type_id.is_none() {
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
        r.notes.push(
            "the capture holds no BTF for this map: only checks that need no types ran".into(),
        );
        return Ok(());
    };
    if ids.is_empty() {
        r.notes
            .push("the map has BTF but no key or value type ids".into());
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
    r.source = Some(format!("the capture's BTF (kernel BTF id {})", h.btf_id));
    Ok(())
}

/// `bpftool -j map show` output for a dump: --map-info, else `STEM.show.json` beside it.
fn map_info(args: &DumpArgs, path: &str) -> anyhow::Result<Option<(Vec<MapMeta>, String)>> {
    let file = match &args.map_info {
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

fn expected_keys(
    args: &DumpArgs,
    text: Option<&str>,
    dump: &Dump,
    key: Option<TypeRef<'_>>,
) -> anyhow::Result<Option<ExpectedKeys>> {
    let Some(text) = text else { return Ok(None) };
    let file = args.expect_keys.as_deref().unwrap_or("");
    let size = match key {
        Some(k) => Some(k.table.size_of(k.id)? as usize),
        None => dump.key_size(),
    };
    let Some(size) = size else {
        return Err(usage(format!(
            "--expect-keys {file}: the key size of {} is unknown (no entries and no key type)",
            dump.source.name
        )));
    };
    let order = key.map(|k| k.table.target.byte_order);
    ExpectedKeys::parse(text, size, order)
        .map(Some)
        .map_err(|e| usage(format!("--expect-keys {file}: {e}")))
}

/// A progress bar on stderr for big inputs, when stderr is a terminal.
fn bar(len: u64, msg: String) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() || len < 200_000 {
        return None;
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} entries ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg);
    Some(pb)
}

fn spinner(path: &str) -> Option<ProgressBar> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if !std::io::stderr().is_terminal() || size < (32 << 20) {
        return None;
    }
    let pb = ProgressBar::new_spinner();
    pb.set_message(format!("reading {path} ({} MB)", size >> 20));
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}

struct Analysed {
    dump: Dump,
    analysis: DumpAnalysis,
}

pub fn run(args: &DumpArgs, out: &mut Out) -> anyhow::Result<i32> {
    if out.format == Format::Csv {
        return Err(out.unsupported("analyze dump"));
    }
    let src = TypeSource::read(args)?;
    let keys_text = args
        .expect_keys
        .as_deref()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("cannot read --expect-keys {f}"))
        })
        .transpose()?;
    let opts = ReadOptions {
        format: args.input_format,
        raw: args.key_size.zip(args.value_size).map(|(k, v)| RawLayout {
            key_size: k,
            value_size: v,
            cpus: None,
        }),
        ..ReadOptions::default()
    };
    let mut done: Vec<Analysed> = Vec::new();
    for path in &args.dumps {
        let spin = spinner(path);
        let dumps = if path == "-" {
            read_from(std::io::stdin().lock(), "<stdin>", &opts)?
        } else {
            read_file(path, &opts)?
        };
        if let Some(s) = spin {
            s.finish_and_clear();
        }
        let info = map_info(args, path)?;
        let capture = if dumps.iter().any(|d| d.source.format == DumpFormat::Capture)
            && matches!(src, TypeSource::None)
        {
            Some(Capture::read_file(Path::new(path))?)
        } else {
            None
        };
        let several = dumps.len() > 1;
        for mut dump in dumps {
            let mut notes = Vec::new();
            if let Some((metas, from)) = &info {
                let pick = match metas.as_slice() {
                    [one] if !several => Some(one),
                    many => many.iter().find(|m| {
                        (m.id.is_some() && m.id == dump.meta.id)
                            || (m.name.is_some() && m.name == dump.meta.name)
                    }),
                };
                if let Some(meta) = pick {
                    dump.merge_meta(meta);
                    notes.push(format!("map information from {from}"));
                }
            }
            let r = resolve(&src, args, &dump, capture.as_ref())?;
            let table = r.owned.as_ref().or(r.table);
            let tref = |id: Option<TypeId>| table.zip(id).map(|(table, id)| TypeRef { table, id });
            let key = tref(r.key);
            let types = Types {
                key,
                value: tref(r.value),
                source: r.source.as_deref(),
            };
            let forensic = Options {
                max_entries_hint: r.max_entries.clone(),
                expected_keys: expected_keys(args, keys_text.as_deref(), &dump, key)?,
                ..Options::default()
            };
            let pb = bar(dump.len() as u64, dump.source.name.to_string());
            let mut analysis = analyze(&dump, &types, forensic, &mut |n| {
                if let Some(pb) = &pb {
                    pb.set_position(n);
                }
            })
            .with_context(|| format!("{}: decoding with the given types", dump.source.name))?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            notes.extend(r.notes);
            notes.append(&mut analysis.notes);
            analysis.notes = notes;
            done.push(Analysed { dump, analysis });
        }
    }
    let all: Vec<Finding> = done
        .iter()
        .flat_map(|a| a.analysis.findings.iter().cloned())
        .collect();
    match out.format {
        Format::Json => {
            let sections = done
                .iter()
                .map(|a| a.analysis.section(&a.dump, true))
                .collect();
            let report = DumpReport::new(sections);
            let mut w = BufWriter::new(&mut out.stdout);
            serde_json::to_writer_pretty(&mut w, &report)?;
            writeln!(w)?;
            w.flush()?;
        }
        Format::Ndjson => {
            let mut w = BufWriter::new(&mut out.stdout);
            for a in &done {
                let file = a.dump.source.name.to_string();
                for e in a.dump.entries() {
                    let line = EntryLine {
                        file: &file,
                        map: a.dump.meta.name.as_deref(),
                        entry: a.analysis.decode_entry(&e),
                    };
                    serde_json::to_writer(&mut w, &line)?;
                    writeln!(w)?;
                }
            }
            for f in &all {
                serde_json::to_writer(&mut w, f)?;
                writeln!(w)?;
            }
            w.flush()?;
        }
        Format::Table => render(&done, args.entries, out)?,
        Format::Csv => unreachable!("rejected above"),
    }
    Ok(exit_for(&all, args.fail_on))
}

fn size_text(t: &mapsleuth_analyze::dump_report::TypeUse) -> String {
    format!("{} ({} B)", t.name, t.size)
}

fn render(done: &[Analysed], show: usize, out: &mut Out) -> anyhow::Result<()> {
    let mut entries = 0;
    for a in done {
        let d = &a.dump;
        let an = &a.analysis;
        entries += d.len();
        let mut head = vec![d.source.format.to_string()];
        if let Some(t) = &d.meta.map_type {
            head.push(t.clone());
        }
        head.push(format!(
            "{} entr{}",
            d.len(),
            if d.len() == 1 { "y" } else { "ies" }
        ));
        if d.lookup_error_count() > 0 {
            head.push(format!("{} lookup errors", d.lookup_error_count()));
        }
        if let Some(c) = d.cpu_count() {
            head.push(format!("{c} CPUs"));
        }
        let map = d
            .meta
            .name
            .as_deref()
            .map(|n| format!("map `{n}`"))
            .unwrap_or_else(|| "map".to_string());
        let title = format!("{}: {map} ({})", d.source.name, head.join(", "));
        writeln!(out.stdout, "{}", out.paint(&title, Style::Bold))?;
        match (&an.key_type, &an.value_type) {
            (None, None) => writeln!(
                out.stdout,
                "  types: none (key {} B, value {} B)",
                d.key_size().map_or("?".into(), |n| n.to_string()),
                d.value_size().map_or("?".into(), |n| n.to_string())
            )?,
            (k, v) => {
                let k = k.as_ref().map_or("-".to_string(), size_text);
                let v = v.as_ref().map_or("-".to_string(), size_text);
                writeln!(
                    out.stdout,
                    "  types: key {k}, value {v}, from {}",
                    an.types_from.as_deref().unwrap_or("?")
                )?;
            }
        }
        if !out.quiet {
            for n in &an.notes {
                writeln!(out.stdout, "  {} {n}", out.paint("note:", Style::Dim))?;
            }
            for s in &an.skipped {
                writeln!(
                    out.stdout,
                    "  {} {s}",
                    out.paint("not checked:", Style::Dim)
                )?;
            }
        }
        for e in d.entries().take(show) {
            let de = an.decode_entry(&e);
            let key = match (&de.key, &de.key_hex) {
                (Some(k), _) => k.to_string(),
                (None, Some(h)) => h.clone(),
                (None, None) => "-".to_string(),
            };
            let value = if let Some(v) = &de.value {
                v.to_string()
            } else if let Some(cpus) = &de.values {
                let mut parts: Vec<String> = cpus
                    .iter()
                    .map(|c| format!("cpu{} {}", c.cpu, c.value))
                    .collect();
                if let Some(s) = &de.sum {
                    parts.push(format!("sum {s}"));
                }
                parts.join("  ")
            } else if let Some(f) = &de.formatted {
                // bpftool's decoding, as the dump has it.
                f.parts().1.unwrap_or("").to_string()
            } else if !de.value_hex.is_empty() {
                de.value_hex.join(" ")
            } else {
                String::new()
            };
            let key = match (&de.formatted, de.key.is_none()) {
                (Some(f), true) if e.kind() == EntryKind::FormattedOnly => {
                    f.parts().0.map_or(key, str::to_string)
                }
                _ => key,
            };
            let mut line = format!("  {key} =>");
            if !value.is_empty() {
                line.push(' ');
                line.push_str(&value);
            }
            if let Some(err) = &de.error {
                line.push_str(&format!(" ({err})"));
            }
            if !de.codes.is_empty() {
                line.push_str(&format!("  [{}]", de.codes.join(" ")));
            }
            writeln!(out.stdout, "{line}")?;
        }
        if d.len() > show && show > 0 {
            writeln!(
                out.stdout,
                "  {}",
                out.paint(
                    &format!(
                        "... {} more (--entries N, or --format json for all)",
                        d.len() - show
                    ),
                    Style::Dim
                )
            )?;
        }
        writeln!(out.stdout)?;
        if !an.findings.is_empty() {
            out.findings(&an.findings)?;
            writeln!(out.stdout)?;
        }
    }
    let all: Vec<&Finding> = done
        .iter()
        .flat_map(|a| a.analysis.findings.iter())
        .collect();
    let count = |s: Severity| all.iter().filter(|f| f.severity == s).count();
    let (errors, warnings, infos) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let verdict = if errors > 0 {
        out.paint(
            &format!("{errors} error{}", if errors == 1 { "" } else { "s" }),
            Style::Error,
        )
    } else if warnings > 0 {
        out.paint("no errors", Style::Warning)
    } else {
        out.paint("no errors", Style::Ok)
    };
    writeln!(
        out.stdout,
        "{} dump{}, {entries} entr{}: {verdict}, {warnings} warning{}, {infos} note{}",
        done.len(),
        if done.len() == 1 { "" } else { "s" },
        if entries == 1 { "y" } else { "ies" },
        if warnings == 1 { "" } else { "s" },
        if infos == 1 { "" } else { "s" }
    )?;
    Ok(())
}
