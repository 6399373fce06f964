//! Minimal capture front end for experiments with read options the CLI's `mapsleuth capture`
//! does not expose (`--next-key`, `--threads`):
//! `capture (--id N | --name NAME | --pinned PATH | --all)... -o OUT [--next-key]
//! [--threads N] [--batch ENTRIES]`.

// An example program: it prints, and stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
use std::path::PathBuf;

use mapsleuth_capture::{capture_to_file, CaptureOptions, Progress, Selector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut selectors = Vec::new();
    let mut out = None;
    let mut opts = CaptureOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--id" => selectors.push(Selector::Id(val()?.parse()?)),
            "--name" => selectors.push(Selector::Name(val()?)),
            "--pinned" => selectors.push(Selector::Pinned(val()?.into())),
            "--all" => selectors.push(Selector::All),
            "-o" => out = Some(PathBuf::from(val()?)),
            "--next-key" => opts.read.force_next_key = true,
            "--threads" => opts.read.threads = val()?.parse()?,
            "--batch" => opts.read.batch_entries = val()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let out = out.ok_or("-o OUT is required")?;
    let summary = capture_to_file(&selectors, &opts, &out, &mut |p| {
        if let Progress::MapSkipped { id, reason } = p {
            eprintln!("skipped map {id}: {reason}");
        }
    })?;
    eprintln!(
        "{}: {} maps, {} entries, {} skipped, sha256 {}",
        out.display(),
        summary.maps,
        summary.entries,
        summary.skipped,
        summary.sha256
    );
    Ok(())
}
