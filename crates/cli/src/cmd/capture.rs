//! `mapsleuth capture ...`: live maps, read with bpf(2), into capture files.

// Live capture exists only on Linux; elsewhere the commands say so.
#[cfg_attr(not(target_os = "linux"), allow(unused_imports))]
use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use mapsleuth_capture::capture_file::{ReadMethod, SkippedMap};
use serde::Serialize;

#[cfg_attr(not(target_os = "linux"), allow(unused_imports))]
use crate::output::{csv_field, Format, Out, Style};

const CAPTURE_HELP: &str = "Examples:
  sudo mapsleuth capture list
  sudo mapsleuth capture --name flows -o flows.mscap
  sudo mapsleuth capture --id 116 --id 117 -o snap.mscap
  sudo mapsleuth capture --pinned /sys/fs/bpf/flows -o flows.mscap
  sudo mapsleuth capture --all -o everything.mscap
  sudo mapsleuth capture --pinned /sys/fs/bpf/per_cpu_flows --recursive -o mom.mscap
                                               a map of maps and every inner map it points to
  sudo mapsleuth capture --name events -o ring.mscap
                                               a ring buffer's unread records, not consumed
  mapsleuth analyze dump flows.mscap           later, on any machine: the file carries its BTF

Maps are opened read-only and only looked up, never modified. The file holds each map's
kernel metadata, its BTF and every entry as raw bytes (docs/capture-format.md); it is
written to a temporary file and renamed, so OUT is either complete or untouched.

Reading maps needs CAP_BPF and CAP_SYS_ADMIN: run as root (sudo).
Exit status: 0 captured; 2 bad usage, no such map, a map that cannot be read, or
bpf(2) refused.";

/// `capture` takes either the `list` subcommand or a selection of maps and `-o OUT`.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = CAPTURE_HELP,
    group(ArgGroup::new("select").required(true).multiple(true)),
)]
pub struct CaptureCommand {
    #[command(subcommand)]
    command: Option<CaptureSubcommand>,
    #[command(flatten)]
    args: CaptureArgs,
}

#[derive(Subcommand)]
pub enum CaptureSubcommand {
    /// List the maps on this system, like `bpftool map list`: id, type, name, key and
    /// value sizes, max_entries, flags, BTF id, and whether `mapsleuth capture` can read
    /// the map (and why not).
    #[command(after_help = "Examples:
  sudo mapsleuth capture list
  sudo mapsleuth capture list --format json | jq '.[] | select(.name == \"flows\")'")]
    List,
}

#[derive(Args)]
pub struct CaptureArgs {
    /// Capture the map with this id (repeatable).
    #[arg(long, value_name = "ID", group = "select")]
    id: Vec<u32>,
    /// Capture the one map with this name (repeatable). The kernel keeps the first 15
    /// bytes of a map's name.
    #[arg(long, value_name = "NAME", group = "select")]
    name: Vec<String>,
    /// Capture the map pinned at this path on a bpffs (repeatable).
    #[arg(long, value_name = "PATH", group = "select")]
    pinned: Vec<PathBuf>,
    /// Capture every map that can be read; the others are listed as skipped, with why.
    #[arg(long, group = "select")]
    all: bool,
    /// The capture file to write (replaced atomically if it exists).
    #[arg(short = 'o', long = "output", value_name = "OUT", required = true)]
    output: Option<PathBuf>,
    /// Do not store the maps' BTF (smaller file; decoding then needs --btf).
    #[arg(long)]
    no_btf: bool,
    /// Also store the kernel's BTF (/sys/kernel/btf/vmlinux, ~5 MiB), for maps whose
    /// types are kernel types.
    #[arg(long)]
    vmlinux_btf: bool,
    /// Entries per batch lookup (default: batches of about 4 MiB).
    #[arg(long, value_name = "N")]
    batch: Option<u32>,
    /// Follow the values of the selected arrays/hashes of maps to their inner maps and
    /// capture each of them too (an inner map that vanished meanwhile is listed as
    /// skipped).
    #[arg(long)]
    recursive: bool,
    /// Inner maps captured at most by --recursive; the others are listed as skipped.
    #[arg(long, value_name = "N", default_value = "1024", requires = "recursive")]
    max_inner_maps: usize,
}

/// One row of `capture list`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct MapRow {
    pub id: u32,
    /// `enum bpf_map_type` value.
    pub map_type: u32,
    /// bpftool's name of the type (`type N` when unknown).
    pub type_name: String,
    pub name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// The map's BTF object id; 0: no BTF.
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    /// Whether `mapsleuth capture` can read the map's entries.
    pub iterable: bool,
    /// Why it cannot, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_iterable: Option<String>,
}

/// What `capture` prints with `--format json`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct CaptureReport {
    /// The capture file written.
    pub file: String,
    /// RFC 3339 UTC time at which the capture started.
    pub snapshot_id: String,
    pub maps: Vec<CapturedMap>,
    /// Entries of all maps.
    pub entries: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Wall time of the capture, writing included.
    pub seconds: f64,
    /// SHA-256 of the file up to its digest (the file's last 32 bytes), hex.
    pub sha256: String,
    /// Maps selected by --all (or inner maps of --recursive) that are not in the file,
    /// and why.
    pub skipped: Vec<SkippedMap>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct CapturedMap {
    pub id: u32,
    pub name: String,
    pub type_name: String,
    pub entries: u64,
    pub method: ReadMethod,
    /// False when the fallback walk gave up before it saw every key.
    pub complete: bool,
    /// An inner map captured by --recursive: the map of maps that points to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outer_map_id: Option<u32>,
}

pub fn run(cmd: CaptureCommand, out: &mut Out) -> anyhow::Result<i32> {
    match cmd.command {
        Some(CaptureSubcommand::List) => list(out),
        None => capture(&cmd.args, out),
    }
}

#[cfg(not(target_os = "linux"))]
fn list(_out: &mut Out) -> anyhow::Result<i32> {
    anyhow::bail!(
        "live capture needs Linux and bpf(2); this system is {}",
        std::env::consts::OS
    )
}

#[cfg(not(target_os = "linux"))]
fn capture(_args: &CaptureArgs, _out: &mut Out) -> anyhow::Result<i32> {
    anyhow::bail!(
        "live capture needs Linux and bpf(2); this system is {}",
        std::env::consts::OS
    )
}

#[cfg(target_os = "linux")]
fn list(out: &mut Out) -> anyhow::Result<i32> {
    use mapsleuth_capture::{list_maps, Readability};
    let rows: Vec<MapRow> = list_maps()
        .map_err(live_error)?
        .into_iter()
        .map(|m| {
            let not_iterable = match m.readability() {
                Readability::Iterable { .. } | Readability::Ring => None,
                Readability::NotIterable(why) => Some(why.to_string()),
            };
            MapRow {
                id: m.id,
                map_type: m.map_type.0,
                type_name: m.type_name,
                name: m.name,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                map_flags: m.map_flags,
                btf_id: m.btf_id,
                btf_key_type_id: m.btf_key_type_id,
                btf_value_type_id: m.btf_value_type_id,
                iterable: not_iterable.is_none(),
                not_iterable,
            }
        })
        .collect();
    match out.format {
        Format::Json => out.json(&rows)?,
        Format::Ndjson => out.ndjson(&rows)?,
        Format::Sarif => return Err(out.unsupported("capture list")),
        Format::Csv => {
            writeln!(
                out.stdout,
                "id,type,name,key_size,value_size,max_entries,flags,btf_id,iterable,not_iterable"
            )?;
            for r in &rows {
                writeln!(
                    out.stdout,
                    "{},{},{},{},{},{},{:#x},{},{},{}",
                    r.id,
                    csv_field(&r.type_name),
                    csv_field(&r.name),
                    r.key_size,
                    r.value_size,
                    r.max_entries,
                    r.map_flags,
                    r.btf_id,
                    r.iterable,
                    csv_field(r.not_iterable.as_deref().unwrap_or(""))
                )?;
            }
        }
        Format::Table => {
            writeln!(
                out.stdout,
                "{:>6}  {:<22} {:<16} {:>5} {:>6} {:>9} {:>7} {:>5}  CAPTURE",
                "ID", "TYPE", "NAME", "KEY", "VALUE", "MAX", "FLAGS", "BTF"
            )?;
            for r in &rows {
                let capture = match &r.not_iterable {
                    None => out.paint("yes", Style::Ok),
                    Some(why) => format!("{}: {why}", out.paint("no", Style::Dim)),
                };
                writeln!(
                    out.stdout,
                    "{:>6}  {:<22} {:<16} {:>5} {:>6} {:>9} {:>7} {:>5}  {capture}",
                    r.id,
                    r.type_name,
                    if r.name.is_empty() { "-" } else { &r.name },
                    r.key_size,
                    r.value_size,
                    r.max_entries,
                    format!("{:#x}", r.map_flags),
                    if r.btf_id == 0 {
                        "-".to_string()
                    } else {
                        r.btf_id.to_string()
                    },
                )?;
            }
            if !out.quiet {
                let readable = rows.iter().filter(|r| r.iterable).count();
                let note = format!("{} maps, {readable} can be captured", rows.len());
                writeln!(out.stdout, "{}", out.paint(&note, Style::Dim))?;
            }
        }
    }
    Ok(0)
}

#[cfg(target_os = "linux")]
fn capture(args: &CaptureArgs, out: &mut Out) -> anyhow::Result<i32> {
    use std::time::Instant;

    use mapsleuth_capture::{CaptureOptions, Selector};
    use mapsleuth_dump::hex::encode as hex;

    if !matches!(out.format, Format::Table | Format::Json) {
        return Err(out.unsupported("capture"));
    }
    let Some(path) = args.output.as_deref() else {
        // clap requires -o; this keeps a missing one an error rather than a panic.
        return Err(crate::output::UsageError("capture needs -o OUT".into()).into());
    };
    let mut selectors: Vec<Selector> = Vec::new();
    selectors.extend(args.id.iter().map(|&id| Selector::Id(id)));
    selectors.extend(args.name.iter().map(|n| Selector::Name(n.clone())));
    selectors.extend(args.pinned.iter().map(|p| Selector::Pinned(p.clone())));
    if args.all {
        selectors.push(Selector::All);
    }
    let mut opts = CaptureOptions {
        with_btf: !args.no_btf,
        with_vmlinux_btf: args.vmlinux_btf,
        recursive: args.recursive,
        max_inner_maps: args.max_inner_maps,
        ..CaptureOptions::default()
    };
    if let Some(n) = args.batch {
        opts.read.batch_entries = n;
    }

    let started = Instant::now();
    let bar = progress::Bar::new(!out.quiet);
    let captured = mapsleuth_capture::capture(&selectors, &opts, &mut |p| bar.update(p));
    bar.clear();
    let writer = captured.map_err(live_error)?;
    // The error names the file and says why.
    let digest = writer
        .write_atomic(path)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let h = writer.header();
    let report = CaptureReport {
        file: path.display().to_string(),
        snapshot_id: h.snapshot_id.clone(),
        maps: h
            .maps
            .iter()
            .map(|m| CapturedMap {
                id: m.id,
                name: m.name.clone(),
                type_name: m.type_name.clone(),
                entries: m.entry_count,
                method: m.read.method,
                complete: m.read.complete,
                outer_map_id: m.outer_map_id,
            })
            .collect(),
        entries: h.maps.iter().map(|m| m.entry_count).sum(),
        bytes,
        seconds,
        sha256: hex(&digest),
        skipped: h.skipped.clone(),
    };
    if out.format == Format::Json {
        out.json(&report)?;
        return Ok(0);
    }
    let n = report.maps.len();
    writeln!(
        out.stdout,
        "wrote {}: {n} map{}, {} entries, {} in {:.2} s, sha256 {}{}",
        report.file,
        if n == 1 { "" } else { "s" },
        report.entries,
        human_bytes(report.bytes),
        report.seconds,
        report.sha256,
        if report.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", report.skipped.len())
        }
    )?;
    for m in &h.maps {
        if !m.read.complete {
            let warning = out.paint("warning", Style::Warning);
            writeln!(
                out.stdout,
                "{warning}: map {} {:?} is incomplete: the map changed so much during the key-by-key walk that it stopped after {} entries",
                m.id, m.name, m.entry_count
            )?;
        } else if out.verbose {
            writeln!(
                out.stdout,
                "  map {} {:?} ({}): {} entries, {} read, {} vanished keys, {} revisits",
                m.id,
                m.name,
                m.type_name,
                m.entry_count,
                method_name(m.read.method),
                m.read.vanished_keys,
                m.read.revisits
            )?;
        }
    }
    for s in &report.skipped {
        let what = if s.name.is_empty() {
            format!("map {}", s.id)
        } else {
            format!("map {} {:?} ({})", s.id, s.name, s.type_name)
        };
        writeln!(
            out.stdout,
            "{} {what}: {}",
            out.paint("skipped", Style::Dim),
            s.reason
        )?;
    }
    Ok(0)
}

/// A capture error as one line. Its message already says what to do (run as root, use
/// --id, ...) and includes its cause, so the cause is not chained again.
#[cfg(target_os = "linux")]
fn live_error(e: mapsleuth_capture::CaptureError) -> anyhow::Error {
    use mapsleuth_capture::CaptureError;
    match &e {
        CaptureError::NoMapNamed { name } if name.len() > 15 => {
            let mut end = 15;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            anyhow::anyhow!(
                "{e}; the kernel keeps only the first 15 bytes of a map's name: try --name {}",
                &name[..end]
            )
        }
        _ => anyhow::anyhow!("{e}"),
    }
}

/// The method as the capture header spells it.
#[cfg(target_os = "linux")]
fn method_name(m: ReadMethod) -> &'static str {
    match m {
        ReadMethod::Batch => "batch",
        ReadMethod::NextKey => "next_key",
        ReadMethod::Mmap => "mmap",
    }
}

/// `1234 bytes`, `3.4 MiB`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The progress bar on stderr: one bar, reset for each map, only on a terminal.
#[cfg(target_os = "linux")]
mod progress {
    use std::io::IsTerminal;
    use std::time::Duration;

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use mapsleuth_capture::Progress;

    pub struct Bar(Option<ProgressBar>);

    impl Bar {
        pub fn new(enabled: bool) -> Self {
            if !enabled || !std::io::stderr().is_terminal() {
                return Bar(None);
            }
            let style = ProgressStyle::with_template(
                "{prefix} {wide_bar} {human_pos}/{human_len} entries {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
                .with_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            Bar(Some(bar))
        }

        pub fn update(&self, p: Progress<'_>) {
            let Some(bar) = &self.0 else { return };
            match p {
                Progress::MapStarted { index, total, info } => {
                    bar.reset();
                    bar.set_length(u64::from(info.max_entries));
                    bar.set_prefix(format!(
                        "[{}/{total}] map {} {:?}",
                        index + 1,
                        info.id,
                        info.name
                    ));
                }
                Progress::Entries {
                    read, max_entries, ..
                } => {
                    // max_entries bounds a hash map, but an LRU map can briefly hold more.
                    bar.set_length(u64::from(max_entries).max(read));
                    bar.set_position(read);
                }
                Progress::MapDone { entries, .. } => {
                    bar.set_length(entries);
                    bar.set_position(entries);
                }
                Progress::MapSkipped { .. } => {}
            }
        }

        pub fn clear(&self) {
            if let Some(bar) = &self.0 {
                bar.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_like_ls_h() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(36 << 20), "36.0 MiB");
    }
}
