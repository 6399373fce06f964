//! `mapsleuth analyze ...`

use std::io::Write;

use clap::{Args, Subcommand};
use mapsleuth_crosscheck::crosscheck::{CellKind, PairReport, Row, RowStatus};
use mapsleuth_crosscheck::pairing::MatchRule;
use mapsleuth_crosscheck::report::LayoutReport;
use mapsleuth_engine::{check_layout, LayoutRequest};
use mapsleuth_layout::Severity;

use crate::cmd::btf::BtfInputArgs;
use crate::output::{exit_for, Format, Out, Style};
use crate::sarif::Locator;

#[derive(Subcommand)]
pub enum AnalyzeCommand {
    /// Cross-check Go structs (from the binary's DWARF) against the BPF types (from
    /// BTF), field by field: offsets, sizes, padding, alignment, byte order,
    /// signedness, and Go fields that can never be copied to or from a map.
    ///
    /// Pairs come from --pair, else from --map (the map's key and value types and the
    /// Go types of the same name), else from every map of the object (or, for kernel
    /// BTF, every user Go struct whose name matches a kernel struct). Names match
    /// ignoring the Go package, case and underscores; bpf2go's `bpfEvent` and C's
    /// `event_t` match too, as weak pairs to confirm.
    #[command(after_help = "Examples:
  mapsleuth analyze layout --go-bin ./app --btf prog.bpf.o
  mapsleuth analyze layout --go-bin ./app --btf prog.bpf.o --map events
  mapsleuth analyze layout --go-bin ./app --btf prog.bpf.o --pair main.Event=event --format json
  mapsleuth analyze layout --go-bin ./app --btf /sys/kernel/btf/vmlinux --pair main.Task=task_struct

Exit status 1 when a finding reaches --fail-on (error by default): use it to gate CI.")]
    Layout(LayoutArgs),
    /// Decode map dumps with their real types and report what a human would miss:
    /// non-zero padding (uninitialised memory, keys a zeroed lookup misses), sizes that
    /// do not match the types, all-zero entries, fields always zero or constant, strings
    /// without a terminator, enum values outside the enum, duplicate, missing and
    /// unexpected keys, and fields the types decode differently from bpftool.
    #[command(after_help = crate::cmd::analyze_dump::AFTER_HELP)]
    Dump(crate::cmd::analyze_dump::DumpArgs),
}

#[derive(Args)]
pub struct LayoutArgs {
    /// The Go binary (with DWARF).
    #[arg(long)]
    go_bin: String,
    #[command(flatten)]
    btf: BtfInputArgs,
    /// A pair to check, GO=C (repeatable): `main.Event=event`, `bpf.FlowKey=struct flow_key`.
    #[arg(long, value_name = "GO=C")]
    pair: Vec<String>,
    /// Check the key and value types of this map (from the object's .maps or maps
    /// section).
    #[arg(long, value_name = "NAME")]
    map: Option<String>,
    /// Exit with status 1 when a finding is at least this severe: info, warning, error.
    #[arg(long, default_value = "error")]
    fail_on: Severity,
    /// The Go sources (module root): `--format sarif` results then point at the line
    /// declaring each Go struct (the binary's DWARF does not say where types are).
    #[arg(long, value_name = "DIR")]
    go_src: Option<String>,
}

pub fn run(cmd: AnalyzeCommand, out: &mut Out) -> anyhow::Result<i32> {
    match cmd {
        AnalyzeCommand::Layout(args) => layout(&args, out),
        AnalyzeCommand::Dump(args) => crate::cmd::analyze_dump::run(&args, out),
    }
}

fn layout(args: &LayoutArgs, out: &mut Out) -> anyhow::Result<i32> {
    let report = check_layout(&LayoutRequest {
        go_bin: args.go_bin.clone(),
        btf: args.btf.btf.clone(),
        btf_base: args.btf.btf_base.clone(),
        pairs: args.pair.clone(),
        map: args.map.clone(),
    })?;
    match out.format {
        Format::Json => out.json(&report)?,
        Format::Ndjson => {
            let all: Vec<_> = report.all_findings().cloned().collect();
            out.ndjson(&all)?
        }
        Format::Table => render_report(&report, out)?,
        Format::Sarif => {
            let locator = Locator::new(args.go_src.as_deref(), &args.go_bin)?;
            out.sarif(report.all_findings(), &locator)?
        }
        Format::Csv => return Err(out.unsupported("analyze layout")),
    }
    let all: Vec<_> = report.all_findings().cloned().collect();
    Ok(exit_for(&all, args.fail_on))
}

pub fn render_report(r: &LayoutReport, out: &mut Out) -> anyhow::Result<()> {
    for p in &r.pairs {
        render_pair(p, r, out)?;
        writeln!(out.stdout)?;
    }
    if !r.findings.is_empty() {
        out.findings(&r.findings)?;
        writeln!(out.stdout)?;
    }
    let s = &r.summary;
    let verdict = if s.errors > 0 {
        out.paint(
            &format!("{} error{}", s.errors, if s.errors == 1 { "" } else { "s" }),
            Style::Error,
        )
    } else if s.warnings > 0 {
        out.paint("no errors", Style::Warning)
    } else {
        out.paint("no errors", Style::Ok)
    };
    writeln!(
        out.stdout,
        "{} pair{} checked: {verdict}, {} warning{}, {} note{}",
        s.pairs,
        if s.pairs == 1 { "" } else { "s" },
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        s.infos,
        if s.infos == 1 { "" } else { "s" }
    )?;
    Ok(())
}

/// (offset, size, name, type) of the Go cell, the same of the C cell, and the row.
type CellTexts<'r> = (
    (String, String, String, String),
    (String, String, String, String),
    &'r Row,
);

pub fn render_pair(p: &PairReport, r: &LayoutReport, out: &mut Out) -> anyhow::Result<()> {
    let rule = match p.matched_by {
        MatchRule::Explicit => "--pair",
        MatchRule::Map => "map type",
        MatchRule::Name => "same name",
        MatchRule::Weak => "naming convention",
    };
    let title = format!(
        "{} ({} {}) vs {} ({}), paired by {rule}",
        p.go_type,
        r.go_version.as_deref().unwrap_or("Go"),
        r.go_target.arch,
        p.c_type,
        r.btf_target.arch
    );
    writeln!(out.stdout, "{}", out.paint(&title, Style::Bold))?;
    let text =
        |c: &Option<mapsleuth_crosscheck::crosscheck::Cell>| -> (String, String, String, String) {
            match c {
                None => (String::new(), String::new(), String::new(), String::new()),
                Some(c) => {
                    let off = match c.bits {
                        Some((bit, _)) if c.kind == CellKind::Bitfield => {
                            format!("{}:{bit}", c.offset)
                        }
                        _ => c.offset.to_string(),
                    };
                    let size = match c.bits {
                        Some((_, width)) if c.kind == CellKind::Bitfield => format!("{width}b"),
                        _ => c.size.to_string(),
                    };
                    let name = match c.kind {
                        CellKind::Padding => format!("_ {}", c.type_name),
                        _ => c.name.clone(),
                    };
                    let ty = if c.kind == CellKind::Padding {
                        String::new()
                    } else {
                        c.type_name.clone()
                    };
                    (off, size, name, ty)
                }
            }
        };
    let cells: Vec<_> = p
        .rows
        .iter()
        .map(|row| (text(&row.go), text(&row.c), row))
        .collect();
    let w = |f: &dyn Fn(&CellTexts) -> usize, min: usize| {
        cells.iter().map(f).max().unwrap_or(0).max(min)
    };
    let go_foot = format!("align {}", p.go_layout.align);
    let c_align = mapsleuth_layout::Alignment {
        bytes: p.c_layout.align,
        exact: p.c_layout.align_exact,
    };
    let c_foot = format!("align {c_align}");
    let gname = w(&|c| c.0 .2.len(), go_foot.len());
    let gty = w(&|c| c.0 .3.len(), 4);
    let cname = w(&|c| c.1 .2.len(), 4);
    let cty = w(&|c| c.1 .3.len(), 4);
    writeln!(
        out.stdout,
        "  {:>5} {:>4}  {:<gname$}  {:<gty$}   | {:>5} {:>4}  {:<cname$}  {:<cty$}",
        "GO", "size", "field", "type", "C", "size", "field", "type"
    )?;
    for ((go_off, go_size, go_name, go_ty), (c_off, c_size, c_name, c_ty), row) in &cells {
        let mark = match row.status {
            RowStatus::Same => "=",
            RowStatus::Differs => "!",
            RowStatus::GoOnly => "<",
            RowStatus::COnly => ">",
            RowStatus::Padding => " ",
        };
        let line = format!(
            "  {go_off:>5} {go_size:>4}  {go_name:<gname$}  {go_ty:<gty$} {mark} | {c_off:>5} {c_size:>4}  {c_name:<cname$}  {c_ty:<cty$}  {}",
            row.codes.join(",")
        );
        let line = line.trim_end().to_string();
        let styled = match row.status {
            RowStatus::Differs | RowStatus::GoOnly | RowStatus::COnly if !row.codes.is_empty() => {
                out.paint(&line, Style::Error)
            }
            RowStatus::Padding => out.paint(&line, Style::Dim),
            _ => line,
        };
        writeln!(out.stdout, "{styled}")?;
    }
    writeln!(
        out.stdout,
        "  {:>5} {:>4}  {go_foot:<gname$}  {:<gty$}   | {:>5} {:>4}  {c_foot}",
        "size", p.go_layout.size, "", "size", p.c_layout.size
    )?;
    if p.findings.is_empty() {
        writeln!(
            out.stdout,
            "  {}",
            out.paint(
                "no findings: the Go struct mirrors the C type byte for byte",
                Style::Ok
            )
        )?;
    } else {
        out.findings(&p.findings)?;
    }
    Ok(())
}
