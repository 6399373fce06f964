//! `mapsleuth report`: layout pairs and dumps as one self-contained HTML file. The model
//! and the page are mapsleuth-report's; this reads the inputs and writes the file.

use anyhow::Context;
use clap::Args;
use mapsleuth_engine::{check_layout, DumpRequest, LayoutRequest, Silent, TypeSource, TypeSpec};
use mapsleuth_report::{Input, InputFile};

use crate::cmd::load::report_truncations;
use crate::output::Out;

pub const AFTER_HELP: &str = "What the page shows (docs/report.md):
  per checked pair   a byte map (Go above C, a cell per byte, coloured by field, holes and
                     padding hatched, fields with findings outlined in red, hover for the
                     field, type and offset) and the findings with their fixes beside it
  per dump           entry count, findings by code, a sample entry with its padding bytes
                     (non-zero ones in red), charts: zero/constant fields, a histogram of a
                     numeric field (--field), per-CPU sums of it
  header             inputs, tool version, capture snapshot ids and SHA-256 digests
One file, no network: CSS, JS and SVG are inline. Big dumps are summarised (samples and
aggregates, never every entry): a 1M-entry dump makes a page of tens of kB.

Examples (from the repository root):
  mapsleuth report -o incident.html --go-bin corpus/go/bin/app-go1.25.5-linux-amd64 \\
      --btf corpus/bpf/maps.bpf.o --pair main.Event=event
  mapsleuth report -o flows.html --btf corpus/bpf/maps.bpf.o corpus/dumps/flows.json
  mapsleuth report -o all.html --go-bin corpus/go/bin/app-go1.25.5-linux-amd64 \\
      --btf corpus/bpf/maps.bpf.o --map flows --field packets corpus/dumps/flows.json
  mapsleuth report -o snap.html snapshot.mscap        (captures carry their BTF)

Exit status 0 when the page is written (findings do not fail it; use `analyze` or `check`
to gate); 2 on unreadable input, or when a dump is truncated (the page is still written).";

#[derive(Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    output: String,
    /// The Go binary (with DWARF): its structs are checked against --btf's types.
    #[arg(long, value_name = "APP")]
    go_bin: Option<String>,
    /// BTF: BPF objects, raw BTF or vmlinux (repeatable). Each is checked against
    /// --go-bin; the first one also types the dumps.
    #[arg(long, value_name = "OBJ")]
    btf: Vec<String>,
    /// Base BTF when --btf is split BTF.
    #[arg(long, value_name = "FILE")]
    btf_base: Option<String>,
    /// A pair to check, GO=C (repeatable), as in `analyze layout`.
    #[arg(long, value_name = "GO=C")]
    pair: Vec<String>,
    /// The map whose key and value types are checked and type the dumps.
    #[arg(long, value_name = "NAME")]
    map: Option<String>,
    /// The numeric value field whose histogram and per-CPU sums are drawn (default: the
    /// first numeric field that varies).
    #[arg(long, value_name = "PATH")]
    field: Option<String>,
    /// The page's title.
    #[arg(long)]
    title: Option<String>,
    /// Dumps (bpftool text or JSON, raw records are not supported here) or captures.
    #[arg(value_name = "DUMP")]
    dumps: Vec<String>,
}

pub fn run(args: &ReportArgs, out: &mut Out) -> anyhow::Result<i32> {
    if args.go_bin.is_none() && args.dumps.is_empty() {
        return Err(crate::cmd::types::usage(
            "nothing to report: give --go-bin with --btf (layouts), or dumps",
        ));
    }
    let mut inputs = Vec::new();
    let mut layouts = Vec::new();
    if let Some(go) = &args.go_bin {
        inputs.push(InputFile::new("Go binary", go));
        if args.btf.is_empty() {
            return Err(crate::cmd::types::usage(
                "--go-bin needs --btf to check against",
            ));
        }
        for btf in &args.btf {
            layouts.push(check_layout(&LayoutRequest {
                go_bin: go.clone(),
                btf: btf.clone(),
                btf_base: args.btf_base.clone(),
                pairs: args.pair.clone(),
                map: args.map.clone(),
            })?);
        }
    }
    inputs.extend(args.btf.iter().map(|b| InputFile::new("BTF", b)));
    inputs.extend(args.dumps.iter().map(|d| InputFile::new("dump", d)));
    let spec = TypeSpec {
        btf: args.btf.first().cloned(),
        btf_base: args.btf_base.clone(),
        map: args.map.clone().filter(|_| !args.btf.is_empty()),
        ..TypeSpec::default()
    };
    let src = TypeSource::read(&spec)?;
    let req = DumpRequest {
        inputs: args.dumps.clone(),
        types: spec,
        ..DumpRequest::default()
    };
    let done = mapsleuth_engine::load(&src, &req, &mut |_, _| Ok(None), &mut Silent)?;
    let html = mapsleuth_report::html(&Input {
        title: args.title.clone(),
        inputs,
        layouts: &layouts,
        dumps: &done,
        field: args.field.as_deref(),
    })?;
    std::fs::write(&args.output, &html).with_context(|| format!("cannot write {}", args.output))?;
    if !out.quiet {
        eprintln!("mapsleuth: wrote {} ({} bytes)", args.output, html.len());
    }
    Ok(if report_truncations(&done) { 2 } else { 0 })
}
