//! `mapsleuth check` and `mapsleuth lock`: the CI gate (docs/ci.md).

use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand};
use mapsleuth_engine::gate::{CheckReport, CheckRequest, Gate};
use mapsleuth_engine::lockdiff::side_name;
use mapsleuth_engine::{GateConfig, LockChange, LockCheckReport, Lockfile};
use mapsleuth_layout::Severity;

use crate::cmd::analyze::render_pair;
use crate::output::{exit_for, Format, Out, Style, UsageError};
use crate::sarif::Locator;

pub const CHECK_HELP: &str = "Examples:
  mapsleuth check --go-bin ./app --btf prog.bpf.o
  mapsleuth check --go-bin ./app --btf a.bpf.o --btf b.bpf.o --config mapsleuth.toml
  mapsleuth check --go-bin ./app --btf prog.bpf.o --format sarif --go-src . > mapsleuth.sarif

mapsleuth.toml (read from the current directory when --config is not given):
  [[pair]]                      # a Go mirror whose name does not match its C type
  go = \"example.com/app/bpf.Record\"
  c = \"struct event\"
  [[allow]]                     # an accepted finding; `reason` is required
  code = \"L022\"
  map = \"rb\"                    # optional selectors: map, type, field
  reason = \"ring buffer records are decoded by hand\"

Exit status: 0 clean, 1 a finding at or above --fail-on, 2 bad usage or unreadable input.";

/// The inputs of `check` and `lock`.
#[derive(Args)]
pub struct GateArgs {
    /// The Go binary (with DWARF).
    #[arg(long)]
    go_bin: String,
    /// A BPF object (repeatable): every map of every object is checked.
    #[arg(long, value_name = "OBJ", required = true)]
    btf: Vec<String>,
    /// Base BTF when --btf is split BTF.
    #[arg(long, value_name = "FILE")]
    btf_base: Option<String>,
    /// A pair, GO=C (repeatable); overrides pairing by name for that C type.
    #[arg(long, value_name = "GO=C")]
    pair: Vec<String>,
    /// Pairs and allowed findings (default: mapsleuth.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
}

impl GateArgs {
    fn request(&self) -> anyhow::Result<CheckRequest> {
        let config = match &self.config {
            Some(path) => GateConfig::read(path)?,
            None if Path::new("mapsleuth.toml").exists() => GateConfig::read("mapsleuth.toml")?,
            None => GateConfig::default(),
        };
        Ok(CheckRequest {
            go_bin: self.go_bin.clone(),
            btf: self.btf.clone(),
            btf_base: self.btf_base.clone(),
            pairs: self.pair.clone(),
            config,
        })
    }
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    inputs: GateArgs,
    /// Exit with status 1 when a finding is at least this severe: info, warning, error.
    #[arg(long, default_value = "error", value_name = "LEVEL")]
    fail_on: Severity,
    /// The Go sources: SARIF results point at the line declaring each Go struct.
    #[arg(long, value_name = "DIR")]
    go_src: Option<String>,
}

#[derive(Subcommand)]
pub enum LockCommand {
    /// Record every map's key and value layout, C and Go, in the lockfile.
    Write(LockArgs),
    /// Compare the build with the lockfile: exit 1 on an incompatible change.
    Check(LockArgs),
}

#[derive(Args)]
pub struct LockArgs {
    #[command(flatten)]
    inputs: GateArgs,
    /// The lockfile.
    #[arg(long, default_value = "mapsleuth.lock", value_name = "FILE")]
    lockfile: String,
    /// Rewrite the lockfile (`lock write` never replaces one without it).
    #[arg(long)]
    update: bool,
    /// Exit with status 1 when a change is at least this severe (incompatible changes
    /// are errors, compatible ones info).
    #[arg(long, default_value = "error", value_name = "LEVEL")]
    fail_on: Severity,
    /// The Go sources: SARIF results point at the line declaring each Go struct.
    #[arg(long, value_name = "DIR")]
    go_src: Option<String>,
}

pub fn check(args: &CheckArgs, out: &mut Out) -> anyhow::Result<i32> {
    let req = args.inputs.request()?;
    let report = mapsleuth_engine::check(&req)?;
    match out.format {
        Format::Json => out.json(&report)?,
        Format::Ndjson => out.ndjson(report.all_findings())?,
        Format::Sarif => {
            let locator = Locator::new(args.go_src.as_deref(), &req.go_bin)?;
            out.sarif(report.all_findings(), &locator)?
        }
        Format::Table => render_check(&report, out)?,
        Format::Csv => return Err(out.unsupported("check")),
    }
    let all: Vec<_> = report.all_findings().cloned().collect();
    Ok(exit_for(&all, args.fail_on))
}

fn render_check(r: &CheckReport, out: &mut Out) -> anyhow::Result<()> {
    for o in &r.objects {
        let l = &o.layout;
        writeln!(
            out.stdout,
            "{}",
            out.paint(
                &format!("{}: {} maps", l.btf_file, o.maps.len()),
                Style::Bold
            )
        )?;
        for m in &o.maps {
            let role = |t: &Option<mapsleuth_engine::gate::RoleTypes>| match t {
                None => "-".to_string(),
                Some(t) if t.go_types.is_empty() => t.c_type.clone(),
                Some(t) => format!("{} = {}", t.c_type, t.go_types.join(", ")),
            };
            writeln!(
                out.stdout,
                "  {:<18} {:<14} key {}  value {}",
                m.name,
                m.map_type,
                role(&m.key),
                role(&m.value)
            )?;
        }
        writeln!(out.stdout)?;
        for p in &l.pairs {
            if p.findings.iter().any(|f| f.severity > Severity::Info) {
                render_pair(p, l, out)?;
                writeln!(out.stdout)?;
            }
        }
        if !l.findings.is_empty() {
            out.findings(&l.findings)?;
            writeln!(out.stdout)?;
        }
    }
    for a in &r.allowed {
        writeln!(
            out.stdout,
            "{} [{}] {} ({})",
            out.paint("allowed", Style::Dim),
            a.finding.code,
            a.finding.message,
            a.reason
        )?;
    }
    let s = &r.summary;
    let verdict = if s.errors > 0 {
        out.paint(&format!("{} errors", s.errors), Style::Error)
    } else {
        out.paint("no errors", Style::Ok)
    };
    writeln!(
        out.stdout,
        "{} pairs checked: {verdict}, {} warnings, {} notes, {} allowed",
        s.pairs,
        s.warnings,
        s.infos,
        r.allowed.len()
    )?;
    Ok(())
}

pub fn lock(cmd: &LockCommand, out: &mut Out) -> anyhow::Result<i32> {
    match cmd {
        LockCommand::Write(args) => lock_write(args, out),
        LockCommand::Check(args) => lock_check(args, out),
    }
}

fn current(args: &LockArgs) -> anyhow::Result<Lockfile> {
    let gate = Gate::read(&args.inputs.request()?)?;
    Ok(Lockfile::of(&gate)?)
}

fn lock_write(args: &LockArgs, out: &mut Out) -> anyhow::Result<i32> {
    if Path::new(&args.lockfile).exists() && !args.update {
        return Err(UsageError(format!(
            "{} exists: `mapsleuth lock check` compares with it, `--update` replaces it",
            args.lockfile
        ))
        .into());
    }
    let lock = current(args)?;
    write_lock(&args.lockfile, &lock)?;
    if !out.quiet {
        writeln!(
            out.stdout,
            "wrote {} ({} maps)",
            args.lockfile,
            lock.maps.len()
        )?;
    }
    Ok(0)
}

fn write_lock(path: &str, lock: &Lockfile) -> anyhow::Result<()> {
    std::fs::write(path, lock.to_text()?).map_err(|e| anyhow::anyhow!("cannot write {path}: {e}"))
}

fn lock_check(args: &LockArgs, out: &mut Out) -> anyhow::Result<i32> {
    // The lockfile first: a bad one is exit 2 before any work, and is never replaced.
    let old = Lockfile::read(&args.lockfile)?;
    let new = current(args)?;
    let report = LockCheckReport::new(&args.lockfile, &old, &new);
    match out.format {
        Format::Json => out.json(&report)?,
        Format::Ndjson => out.ndjson(&report.findings)?,
        Format::Sarif => {
            let locator = Locator::new(args.go_src.as_deref(), &args.lockfile)?;
            out.sarif(&report.findings, &locator)?
        }
        Format::Table => render_lock_check(&report, out)?,
        Format::Csv => return Err(out.unsupported("lock check")),
    }
    if args.update {
        write_lock(&args.lockfile, &new)?;
        if !out.quiet && out.format == Format::Table {
            writeln!(out.stdout, "updated {}", args.lockfile)?;
        }
        return Ok(0);
    }
    Ok(exit_for(&report.findings, args.fail_on))
}

fn render_lock_check(r: &LockCheckReport, out: &mut Out) -> anyhow::Result<()> {
    let (bad, good) = (r.incompatible.len(), r.compatible.len());
    if bad + good == 0 {
        let ok = out.paint("the build matches it", Style::Ok);
        writeln!(out.stdout, "{}: {ok}", r.lockfile)?;
        return Ok(());
    }
    writeln!(
        out.stdout,
        "{}: {bad} incompatible change{}, {good} compatible",
        r.lockfile,
        if bad == 1 { "" } else { "s" }
    )?;
    for (title, style, changes) in [
        ("incompatible", Style::Error, &r.incompatible),
        ("compatible", Style::Ok, &r.compatible),
    ] {
        if changes.is_empty() {
            continue;
        }
        writeln!(out.stdout, "\n{}", out.paint(&format!("{title}:"), style))?;
        render_changes(changes, out)?;
    }
    Ok(())
}

/// Changes grouped by where they are, one line per field: `name  change  old → new`.
fn render_changes(changes: &[LockChange], out: &mut Out) -> anyhow::Result<()> {
    let group = |c: &LockChange| {
        let mut g = format!("{} map {}", c.object, c.map);
        if let Some(role) = &c.role {
            g.push_str(&format!(" {role}, {}", side_name(&c.side)));
        }
        if let Some(t) = &c.type_name {
            g.push_str(&format!(" {t}"));
        }
        g
    };
    let width = changes
        .iter()
        .map(|c| c.field.as_deref().unwrap_or("").len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut last = String::new();
    for c in changes {
        let g = group(c);
        if g != last {
            writeln!(out.stdout, "  {}", out.paint(&g, Style::Bold))?;
            last = g;
        }
        let field = c.field.as_deref().unwrap_or("(type)");
        writeln!(
            out.stdout,
            "    {field:<width$}  {:<16}  {} → {}",
            c.change, c.old, c.new
        )?;
    }
    Ok(())
}
