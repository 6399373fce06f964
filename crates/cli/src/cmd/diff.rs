//! `mapsleuth diff OLD NEW [TYPES]`: the entries added, removed and changed between two
//! dumps of one map, the changed fields decoded.

use std::io::{BufWriter, Write};
use std::path::Path;

use clap::Args;
use mapsleuth_dump::{Dump, DumpFormat};
use mapsleuth_forensics::diff::{
    diff, ChangeKind, DiffOptions, DiffReport, EntryChange, EntryState, FieldChange, FieldKind,
    MapDiff, Snapshot, Tree, UnpairedMap,
};
use mapsleuth_frames::{FileFormat, WriteOptions};

use mapsleuth_engine::{pair_maps, read_input, resolve, Inputs, MapIdentity, Purpose, TypeSource};

use crate::cmd::load::{read_options, report_truncated};
use crate::cmd::types::{usage, TypeArgs};
use crate::output::{csv_field, Format, Out, Style};

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
  --btf OBJ.o --record-type T                 ring buffer captures: the records' type
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
--force compares them by bytes). A truncated dump is compared up to where it stops, and
then the status is 2, with the byte offset of the cut on stderr.";

/// A map of maps' entry: the inner map its value points to.
fn inner_text(s: Option<&EntryState>) -> String {
    s.and_then(|s| s.inner_map_id)
        .map(|id| format!("  -> inner map {id}"))
        .unwrap_or_default()
}

/// `diff`'s help for --btf and --map of [`TypeArgs`] (worded there for one dump).
const BTF_HELP: &str = "BTF with the key and value types: a BPF object (with --map, or \
    matched by the dumps' map name), raw BTF, or vmlinux (with --key-type/--value-type)";
const MAP_HELP: &str = "The map of the --btf object whose key and value types decode the \
    dumps; with inputs holding several maps, the map compared";

#[derive(Args)]
#[command(mut_arg("btf", |a| a.help(BTF_HELP)), mut_arg("map", |a| a.help(MAP_HELP)))]
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
    /// Write the changes as a table (Parquet, CSV or NDJSON by the extension: one row per
    /// change, the `changes` table of `export` and `query`) instead of printing them.
    #[arg(short, long, value_name = "OUT", conflicts_with = "unified")]
    output: Option<std::path::PathBuf>,
    /// Unchanged lines shown around each change in --unified output.
    #[arg(long, value_name = "N", default_value = "3", requires = "unified")]
    context: usize,
}

// ---------------------------------------------------------------------------------------
// Reading

/// Pairs the maps of the two inputs by the engine's rule: the sole map of each, else by
/// name, then id, then place. `--map NAME` keeps only that map of inputs holding several.
fn pair(
    old: Vec<Dump>,
    new: Vec<Dump>,
    want: Option<&str>,
) -> (Vec<(Dump, Dump)>, Vec<UnpairedMap>) {
    let p = {
        let o: Vec<MapIdentity<'_>> = old.iter().map(|d| MapIdentity::of(0, d)).collect();
        let n: Vec<MapIdentity<'_>> = new.iter().map(|d| MapIdentity::of(1, d)).collect();
        pair_maps(&o, &n, want, Inputs::OldAndNew)
    };
    let unpaired_of = |side: &str, d: &Dump| UnpairedMap {
        side: side.to_string(),
        file: d.source.name.to_string(),
        map_index: d.source.map_index,
        name: d.meta.name.clone(),
        entries: d.len(),
    };
    let mut unpaired: Vec<UnpairedMap> = p
        .old_only
        .iter()
        .map(|&i| unpaired_of("old", &old[i]))
        .collect();
    unpaired.extend(p.new_only.iter().map(|&j| unpaired_of("new", &new[j])));
    let mut old: Vec<Option<Dump>> = old.into_iter().map(Some).collect();
    let mut new: Vec<Option<Dump>> = new.into_iter().map(Some).collect();
    let pairs = p
        .pairs
        .iter()
        .filter_map(|&(i, j)| old[i].take().zip(new[j].take()))
        .collect();
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
    let src = TypeSource::read(&args.types.spec())?;
    let spec = args.types.spec();
    let opts = read_options(args.input_format, args.key_size, args.value_size);
    // The two inputs are read at once (two cores: about half the time for big dumps).
    let (old, new) = std::thread::scope(|s| {
        let old = s.spawn(|| read_input(&args.old, args.map_info.as_deref(), &opts));
        let new = read_input(&args.new, args.map_info.as_deref(), &opts);
        let old = old.join().unwrap_or_else(|_| {
            Err(mapsleuth_engine::Error::usage(format!(
                "{}: reading failed",
                args.old
            )))
        });
        (old, new)
    });
    let (old, new) = (old?, new?);
    let (old_snapshot, new_snapshot) = (old.snapshot(), new.snapshot());
    let (pairs, unpaired) = pair(old.dumps, new.dumps, args.types.map.as_deref());
    let diff_opts = DiffOptions { force: args.force };
    let mut maps = Vec::with_capacity(pairs.len());
    for (o, n) in &pairs {
        // One set of types for both: NEW's, else OLD's (captures carry their own).
        let rn = resolve(&src, &spec, n, Purpose::Diff);
        let r = match rn {
            Ok(r) if r.has_types() => r,
            first => match resolve(&src, &spec, o, Purpose::Diff) {
                Ok(r) if r.has_types() => r,
                other => first.or(other)?,
            },
        };
        let mut m = diff(o, n, &r.types(), &diff_opts)?;
        m.notes.splice(0..0, r.notes.iter().cloned());
        if o.source.format == DumpFormat::Capture {
            m.old.snapshot = old_snapshot.clone();
        }
        if n.source.format == DumpFormat::Capture {
            m.new.snapshot = new_snapshot.clone();
        }
        maps.push(m);
    }
    let report = DiffReport::new(maps, unpaired);
    // A cut input is still compared up to the cut; then exit 2, as analyze dump does.
    let truncated = || {
        let dumps = pairs.iter().flat_map(|(o, n)| [o, n]);
        report_truncated(dumps, "compared")
    };
    let status = |differ: bool| {
        if truncated() {
            2
        } else if args.exit_code && differ {
            1
        } else {
            0
        }
    };
    if let Some(path) = &args.output {
        write_changes(&report, path, out)?;
        return Ok(status(report.differ));
    }
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
        Format::Sarif => return Err(out.unsupported("diff")),
        Format::Csv => {
            writeln!(w, "map,key,kind,field_kind,path,cpu,old,new")?;
            for m in &report.maps {
                for c in m.changes() {
                    writeln!(
                        w,
                        "{},{},{},{},{},{},{},{}",
                        csv_field(c.map.as_deref().unwrap_or("")),
                        csv_field(&c.key),
                        c.kind.as_str(),
                        c.field_kind.map_or("", |k| k.as_str()),
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
    Ok(status(report.differ))
}

/// `--output`: the changes frame, written like `export --table changes`.
fn write_changes(report: &DiffReport, path: &Path, out: &Out) -> anyhow::Result<()> {
    let Some(format) = FileFormat::from_path(path) else {
        return Err(usage(format!(
            "{}: the extension names no format (.parquet, .csv, .ndjson, .jsonl)",
            path.display()
        )));
    };
    let maps: Vec<&MapDiff> = report.maps.iter().collect();
    let df = mapsleuth_frames::changes(&maps)?;
    // Both sides of every compared map: file, format, map, entries, snapshot.
    let sides: Vec<serde_json::Value> = maps
        .iter()
        .flat_map(|m| [&m.old, &m.new])
        .map(|side| serde_json::to_value(side).unwrap_or_default())
        .collect();
    let opts = WriteOptions {
        format,
        partition_by: Vec::new(),
        metadata: vec![
            (
                "mapsleuth.tool_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("mapsleuth.table".to_string(), "changes".to_string()),
            (
                "mapsleuth.sources".to_string(),
                serde_json::Value::Array(sides).to_string(),
            ),
        ],
    };
    let written = mapsleuth_frames::write(&df, path, &opts)?;
    if !out.quiet {
        let msg = format!("wrote {} changes to {}", written.rows, path.display());
        eprintln!("{}", out.paint(&msg, Style::Dim));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Text output

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn counts_line(m: &mapsleuth_forensics::diff::Counts) -> String {
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
fn side_title(s: &mapsleuth_forensics::diff::SideInfo) -> String {
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
    let t = |t: &Option<mapsleuth_forensics::dump_report::TypeUse>| {
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
                    let inner = inner_text(e.new.as_ref());
                    writeln!(w, "  {} {key} => {v}{inner}", p.paint("+", Style::Ok))?;
                }
                ChangeKind::Removed => {
                    let v = e.old.as_ref().map(state_text).unwrap_or_default();
                    let inner = inner_text(e.old.as_ref());
                    writeln!(w, "  {} {key} => {v}{inner}", p.paint("-", Style::Error))?;
                }
                ChangeKind::Changed => {
                    writeln!(w, "  {} {key}", p.paint("~", Style::Warning))?;
                    let ids = |s: &Option<EntryState>| s.as_ref().and_then(|s| s.inner_map_id);
                    if let (Some(o), Some(n)) = (ids(&e.old), ids(&e.new)) {
                        writeln!(w, "      inner map: {o} -> {n}")?;
                    }
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
