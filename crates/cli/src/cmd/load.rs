//! Reading dumps and analysing them with their types: what `analyze dump`, `export` and
//! `query` share.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mapsleuth_analyze::diff::Snapshot;
use mapsleuth_analyze::dump_report::{analyze, DumpAnalysis};
use mapsleuth_analyze::forensics::{ExpectedKeys, Options, TypeRef};
use mapsleuth_dump::capture_file::{hex, Capture};
use mapsleuth_dump::{read_file, read_from, Dump, DumpFormat, RawLayout, ReadOptions};

use crate::cmd::types::{map_info, resolve, Caller, Resolved, TypeArgs, TypeSource};

/// Where the dumps come from and how to read them.
pub struct DumpInputs<'a> {
    pub paths: &'a [String],
    pub types: &'a TypeArgs,
    pub map_info: Option<&'a str>,
    pub input_format: Option<DumpFormat>,
    pub key_size: Option<usize>,
    pub value_size: Option<usize>,
}

/// The keys expected in a dump, given the dump and its key type.
pub type ExpectedFn<'a> =
    dyn FnMut(&Dump, Option<TypeRef<'_>>) -> anyhow::Result<Option<ExpectedKeys>> + 'a;

/// One dump, analysed, with the types that decoded it.
pub struct Analysed<'s> {
    pub dump: Dump,
    pub analysis: DumpAnalysis,
    pub resolved: Resolved<'s>,
    /// A capture's snapshot identity.
    pub snapshot: Option<Snapshot>,
}

/// A capture's snapshot identity, as `diff` and the frames show it.
pub fn snapshot_of(cap: &Capture<Vec<u8>>) -> Snapshot {
    let h = cap.header();
    Snapshot {
        snapshot_id: h.snapshot_id.clone(),
        finished_at: h.finished_at.clone(),
        hostname: h.source.hostname.clone(),
        kernel_release: h.source.kernel_release.clone(),
        digest: hex(cap.digest()),
    }
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

/// Reads every dump of `inputs` and analyses it with its types. `expected` gives the
/// keys expected in a dump (`analyze dump --expect-keys`).
pub fn load<'s>(
    src: &'s TypeSource,
    inputs: &DumpInputs<'_>,
    expected: &mut ExpectedFn<'_>,
) -> anyhow::Result<Vec<Analysed<'s>>> {
    let opts = ReadOptions {
        format: inputs.input_format,
        raw: inputs
            .key_size
            .zip(inputs.value_size)
            .map(|(k, v)| RawLayout {
                key_size: k,
                value_size: v,
                cpus: None,
            }),
        ..ReadOptions::default()
    };
    let mut done = Vec::new();
    for path in inputs.paths {
        let spin = spinner(path);
        let dumps = if path == "-" {
            read_from(std::io::stdin().lock(), "<stdin>", &opts)?
        } else {
            read_file(path, &opts)?
        };
        if let Some(s) = spin {
            s.finish_and_clear();
        }
        let info = map_info(inputs.map_info, path)?;
        let capture = if path != "-" && dumps.iter().any(|d| d.source.format == DumpFormat::Capture)
        {
            Some(Capture::read_file(Path::new(path))?)
        } else {
            None
        };
        let snapshot = capture.as_ref().map(snapshot_of);
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
            let capture = capture.as_ref().filter(|_| matches!(src, TypeSource::None));
            let mut resolved = resolve(src, inputs.types, &dump, capture, Caller::AnalyzeDump)?;
            let types = resolved.types();
            let forensic = Options {
                max_entries_hint: resolved.max_entries.clone(),
                expected_keys: expected(&dump, types.key)?,
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
            notes.append(&mut resolved.notes);
            notes.append(&mut analysis.notes);
            analysis.notes = notes;
            done.push(Analysed {
                dump,
                analysis,
                resolved,
                snapshot: snapshot.clone(),
            });
        }
    }
    Ok(done)
}
