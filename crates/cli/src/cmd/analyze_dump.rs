//! `mapsleuth analyze dump`: decode map dumps with their real types and report what is
//! wrong in them (D findings).

use std::io::{BufWriter, Write};

use anyhow::Context;
use clap::Args;
use mapsleuth_dump::{Dump, EntryKind};
use mapsleuth_forensics::dump_report::{DumpReport, EntryLine};
use mapsleuth_forensics::forensics::{ExpectedKeys, TypeRef};
use mapsleuth_layout::{Finding, Severity};

use mapsleuth_engine::{Analysed, Error, TypeSource};

use crate::cmd::load::{report_truncations, DumpSources};
use crate::output::{exit_for, Format, Out, Style};
use crate::sarif::Locator;

pub const AFTER_HELP: &str = "Types (TYPES):
  --btf OBJ.o --map NAME                      the map's key and value types from the object
  --btf OBJ.o                                 the same, the map found by the dump's map name
  --btf FILE --key-type T --value-type T      any BTF types (vmlinux, raw BTF, objects)
  --go-bin APP --key-type T --value-type T    Go types from the binary's DWARF
  --btf OBJ.o --record-type T                 a ring buffer capture's records (BTF or Go
                                              type; a ring has no value type)
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
  mapsleuth analyze dump ring.mscap --btf prog.bpf.o --record-type 'struct event'

--expect-keys FILE: one key per line (`#` comments): hex bytes `0a 00 00 05`, a hex string
of two digits per key byte `0a000005` / `0x0a000005` (as findings print keys), or a
number `5`, `0x5`, `-1` in the key type's size and byte order.

Exit status 1 when a finding reaches --fail-on (error by default); 2 when a dump is
truncated (the entries before the cut are still analysed, and stderr names the byte
offset where it stops).";

#[derive(Args)]
pub struct DumpArgs {
    #[command(flatten)]
    sources: DumpSources,
    /// Keys that should be in the map, one per line (see below).
    #[arg(long, value_name = "FILE")]
    expect_keys: Option<String>,
    /// Exit with status 1 when a finding is at least this severe: info, warning, error.
    #[arg(long, default_value = "error", value_name = "LEVEL")]
    fail_on: Severity,
    /// Entries to print in table output (all of them are in --format json and ndjson).
    #[arg(long, default_value = "10", value_name = "N")]
    entries: usize,
}

fn expected_keys(
    args: &DumpArgs,
    text: Option<&str>,
    dump: &Dump,
    key: Option<TypeRef<'_>>,
) -> mapsleuth_engine::Result<Option<ExpectedKeys>> {
    let Some(text) = text else { return Ok(None) };
    let file = args.expect_keys.as_deref().unwrap_or("");
    let size = match key {
        Some(k) => Some(
            k.table
                .size_of(k.id)
                .map_err(|e| Error::layout("--expect-keys: the key type", e))? as usize,
        ),
        None => dump.key_size(),
    };
    let Some(size) = size else {
        return Err(Error::usage(format!(
            "--expect-keys {file}: the key size of {} is unknown (no entries and no key type)",
            dump.source.name
        )));
    };
    let order = key.map(|k| k.table.target.byte_order);
    ExpectedKeys::parse(text, size, order)
        .map(Some)
        .map_err(|e| Error::usage(format!("--expect-keys {file}: {e}")))
}

pub fn run(args: &DumpArgs, out: &mut Out) -> anyhow::Result<i32> {
    if out.format == Format::Csv {
        return Err(out.unsupported("analyze dump"));
    }
    let src = TypeSource::read(&args.sources.types.spec())?;
    let keys_text = args
        .expect_keys
        .as_deref()
        .map(|f| {
            std::fs::read_to_string(f).with_context(|| format!("cannot read --expect-keys {f}"))
        })
        .transpose()?;
    let done = args.sources.load(&src, &mut |dump, key| {
        expected_keys(args, keys_text.as_deref(), dump, key)
    })?;
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
        Format::Sarif => {
            // Each result points at the dump it is about.
            let located: Vec<Finding> = done
                .iter()
                .flat_map(|a| {
                    a.analysis.findings.iter().map(|f| {
                        let mut f = f.clone();
                        f.location
                            .file
                            .get_or_insert_with(|| a.dump.source.name.to_string());
                        f
                    })
                })
                .collect();
            let fallback = args.sources.dumps.first().map_or("-", String::as_str);
            out.sarif(&located, &Locator::new(None, fallback)?)?;
        }
        Format::Csv => unreachable!("rejected above"),
    }
    if report_truncations(&done) {
        return Ok(2);
    }
    Ok(exit_for(&all, args.fail_on))
}

fn size_text(t: &mapsleuth_forensics::dump_report::TypeUse) -> String {
    format!("{} ({} B)", t.name, t.size)
}

fn render(done: &[Analysed<'_>], show: usize, out: &mut Out) -> anyhow::Result<()> {
    for a in done {
        render_dump(a, show, out)?;
    }
    let entries: usize = done.iter().map(|a| a.dump.len()).sum();
    render_verdict(done, entries, out)
}

/// One dump: its title, types and notes, its first `show` entries, its findings.
fn render_dump(a: &Analysed<'_>, show: usize, out: &mut Out) -> anyhow::Result<()> {
    let (d, an) = (&a.dump, &a.analysis);
    render_head(a, out)?;
    for e in d.entries().take(show) {
        let mut line = entry_line(an, &e);
        if let Some(id) = e.inner_map_id() {
            line.push_str(&inner_map_text(d, id));
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
    Ok(())
}

/// The dump's title line, its types, and (unless quiet) the notes.
fn render_head(a: &Analysed<'_>, out: &mut Out) -> anyhow::Result<()> {
    let (d, an) = (&a.dump, &a.analysis);
    let mut head = vec![d.source.format.to_string()];
    if let Some(t) = &d.meta.map_type {
        head.push(t.clone());
    }
    let (one, many) = if d.is_ring() {
        (" record", " records")
    } else {
        (" entry", " entries")
    };
    head.push(format!(
        "{}{}",
        d.len(),
        if d.len() == 1 { one } else { many }
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
    if let Some(outer) = d.capture_map().and_then(|h| h.outer_map_id) {
        writeln!(
            out.stdout,
            "  inner map of map id {outer} (captured with --recursive)"
        )?;
    }
    match (&an.key_type, &an.value_type) {
        (None, None) if d.is_ring() => writeln!(
            out.stdout,
            "  types: none (ring records, no value type: give --record-type)"
        )?,
        (None, Some(v)) if d.is_ring() => writeln!(
            out.stdout,
            "  types: record {}, from {}",
            size_text(v),
            an.types_from.as_deref().unwrap_or("?")
        )?,
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
    Ok(())
}

/// A map of maps' value: the inner map it points to, and whether the capture holds it
/// (`capture --recursive`).
pub fn inner_map_text(d: &Dump, id: u32) -> String {
    let inner = d
        .capture()
        .and_then(|c| c.header().maps.iter().find(|m| m.id == id));
    match inner {
        Some(m) => format!(
            "  -> inner map {id} `{}` ({}, {} entries, in this capture)",
            m.name, m.type_name, m.entry_count
        ),
        None => format!("  -> inner map {id} (not in this capture)"),
    }
}

/// One entry as a line: key => value, error, codes.
fn entry_line(
    an: &mapsleuth_forensics::dump_report::DumpAnalysis,
    e: &mapsleuth_dump::DumpEntry<'_>,
) -> String {
    let de = an.decode_entry(e);
    let key = match (&de.key, &de.key_hex) {
        (Some(k), _) => k.to_string(),
        (None, Some(h)) => h.clone(),
        // Ring records have no key: their index in ring order.
        (None, None) if e.kind() == EntryKind::Value && e.key().is_none() => {
            format!("#{}", e.index())
        }
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
    line
}

/// The closing line: dumps, entries, and the findings by severity.
fn render_verdict(done: &[Analysed<'_>], entries: usize, out: &mut Out) -> anyhow::Result<()> {
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
