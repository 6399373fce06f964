//! `mapsleuth`: the thin binary over the mapsleuth libraries. It parses arguments,
//! calls the libraries and renders their results; nothing else happens here.

mod cmd;
mod output;
mod render;
mod sarif;
#[cfg(test)]
mod schemas;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use output::{ColorChoice, Format, Out, UsageError};

const ABOUT: &str = "Offline forensic analyzer for eBPF maps.

When a Go program reads an eBPF map and gets garbage, nothing, or the wrong thing,
mapsleuth cross-checks the Go struct (from the binary's DWARF) against the BPF type
(from BTF), decodes map dumps with the real types and reports what is wrong.";

const AFTER: &str = "Examples:
  mapsleuth analyze layout --go-bin ./app --btf prog.bpf.o
                                                     does the Go struct mirror the BPF one?
  mapsleuth btf show event --btf prog.bpf.o          layout of struct event, pahole-style
  mapsleuth btf show task_struct --btf /sys/kernel/btf/vmlinux
  mapsleuth btf maps --btf prog.bpf.o                the maps an object defines
  mapsleuth btf check                                can CO-RE work on this machine?
  mapsleuth go show main.Event --go-bin ./app        the Go side of the same struct
  mapsleuth check --go-bin ./app --btf prog.bpf.o    the CI gate: every map, every mirror
  mapsleuth report -o incident.html --go-bin ./app --btf prog.bpf.o flows.json
                                                     one HTML page for the ticket: byte maps, charts
  mapsleuth lock check --go-bin ./app --btf prog.bpf.o
                                                     did a map layout change since mapsleuth.lock?

Exit status: 0 success, 1 findings at or above --fail-on, 2 bad usage or unreadable input.";

#[derive(Parser)]
#[command(name = "mapsleuth", version, about = ABOUT, after_help = AFTER, max_term_width = 100)]
struct Cli {
    /// Output format. `json` is one document whose schema is in schemas/.
    #[arg(long, global = true, value_enum, default_value = "table")]
    format: Format,
    /// Colour in table output (NO_COLOR in the environment turns `auto` off).
    #[arg(long, global = true, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Print only results, no notes.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more detail (timings, sources).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cross-check layouts (Go vs BTF) and analyze dumps.
    #[command(subcommand)]
    Analyze(cmd::analyze::AnalyzeCommand),
    /// Read BTF: type layouts, type lists, map definitions, BTF health.
    #[command(subcommand)]
    Btf(cmd::btf::BtfCommand),
    /// Read a Go binary's DWARF: struct layouts as the Go compiler laid them out.
    #[command(subcommand)]
    Go(cmd::go::GoCommand),
    /// Capture live eBPF maps into a capture file, or list them (needs root).
    ///
    /// `capture list` lists the maps on this system; `capture (--id N | --name NAME |
    /// --pinned PATH | --all) -o OUT` reads them (read-only, with bpf(2)) into a capture
    /// file that `analyze dump`, `diff` and `export` read anywhere later.
    Capture(cmd::capture::CaptureCommand),
    /// The CI gate: every map of every object, each key and value type cross-checked
    /// against its Go mirror (pairs by name, --pair or mapsleuth.toml; accepted findings
    /// in mapsleuth.toml with their reason).
    #[command(after_help = cmd::gate::CHECK_HELP)]
    Check(cmd::gate::CheckArgs),
    /// The ABI lockfile (mapsleuth.lock): `lock write` records every map's key and value
    /// layout on both sides; `lock check` fails on an incompatible change since it was written.
    #[command(subcommand)]
    Lock(cmd::gate::LockCommand),
    /// Compare two dumps of one map: entries added, removed and changed, fields decoded.
    #[command(after_help = cmd::diff::AFTER_HELP)]
    Diff(cmd::diff::DiffArgs),
    /// Export dumps as a table (entries, findings, layout, changes) to Parquet, CSV or
    /// NDJSON.
    #[command(after_help = cmd::export::EXPORT_HELP)]
    Export(cmd::export::ExportArgs),
    /// Query dumps with SQL: tables entries, findings, layout, changes (polars SQL).
    #[command(after_help = cmd::export::QUERY_HELP)]
    Query(cmd::export::QueryArgs),
    /// Write one self-contained HTML page for an incident ticket: byte maps of the
    /// layout pairs (Go above C), dump findings, a sample entry's padding, charts.
    #[command(after_help = cmd::report::AFTER_HELP)]
    Report(cmd::report::ReportArgs),
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = std::time::Instant::now();
    let mut out = Out::new(cli.format, cli.color, cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Analyze(c) => cmd::analyze::run(c, &mut out),
        Command::Btf(c) => cmd::btf::run(c, &mut out),
        Command::Go(c) => cmd::go::run(c, &mut out),
        Command::Capture(c) => cmd::capture::run(c, &mut out),
        Command::Check(a) => cmd::gate::check(&a, &mut out),
        Command::Lock(c) => cmd::gate::lock(&c, &mut out),
        Command::Diff(a) => cmd::diff::run(&a, &mut out),
        Command::Export(a) => cmd::export::export(&a, &mut out),
        Command::Query(a) => cmd::export::query(&a, &mut out),
        Command::Report(a) => cmd::report::run(&a, &mut out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "mapsleuth", &mut out.stdout);
            Ok(0)
        }
    };
    if out.verbose {
        eprintln!(
            "mapsleuth: done in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            // A closed pipe (`| head`) is not an error worth a message.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let engine_usage = e
                .downcast_ref::<mapsleuth_engine::Error>()
                .is_some_and(mapsleuth_engine::Error::is_usage);
            let prefix = if engine_usage || e.downcast_ref::<UsageError>().is_some() {
                "usage"
            } else {
                "error"
            };
            eprintln!("mapsleuth: {prefix}: {e:#}");
            ExitCode::from(2)
        }
    }
}
