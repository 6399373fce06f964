//! Reading dumps and analysing them with their types: what `analyze dump`, `export` and
//! `query` share.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mapsleuth_forensics::diff::Snapshot;
use mapsleuth_forensics::dump_report::{analyze, DumpAnalysis};
use mapsleuth_forensics::forensics::{ExpectedKeys, Options, TypeRef};
use mapsleuth_dump::capture_file::{hex, Capture};
use mapsleuth_dump::{read_file, read_from, Dump, DumpFormat, RawLayout, ReadOptions};

use crate::cmd::types::{map_info, resolve, Caller, Resolved, TypeArgs, TypeSource};

/// The dumps and how to read them: the arguments `analyze dump`, `export` and `query`
/// share.
#[derive(Args)]
pub struct DumpSources {
    /// Dump files: `bpftool map dump` output (plain or with BTF), `bpftool -j`/`-p map
    /// dump`, raw key+value records (with --key-size/--value-size), or mapsleuth capture
    /// files. `-` reads standard input.
    #[arg(value_name = "DUMP", required = true)]
    pub dumps: Vec<String>,
    #[command(flatten)]
    pub types: TypeArgs,
    /// `bpftool -j map show` output for the dumped map (name, type, sizes, max_entries).
    /// Without it, NAME.show.json next to NAME.json (or .txt) is used when it exists.
    #[arg(long, value_name = "FILE")]
    pub map_info: Option<String>,
    /// The dump format, when detection is not wanted: text, btf-text, json, raw, capture.
    #[arg(long, value_name = "F")]
    pub input_format: Option<DumpFormat>,
    /// Key bytes of raw records.
    #[arg(long, value_name = "N", requires = "value_size")]
    pub key_size: Option<usize>,
    /// Value bytes of raw records.
    #[arg(long, value_name = "N", requires = "key_size")]
    pub value_size: Option<usize>,
}

impl DumpSources {
    pub fn read_options(&self) -> ReadOptions {
        read_options(self.input_format, self.key_size, self.value_size)
    }
}

pub fn read_options(
    format: Option<DumpFormat>,
    key_size: Option<usize>,
    value_size: Option<usize>,
) -> ReadOptions {
    ReadOptions {
        format,
        raw: key_size.zip(value_size).map(|(k, v)| RawLayout {
            key_size: k,
            value_size: v,
            cpus: None,
        }),
        ..ReadOptions::default()
    }
}

/// One input file (or `-`): its dumps, with `bpftool map show` information merged, and
/// the capture it is (for its BTF and snapshot identity).
pub struct Input {
    pub dumps: Vec<Dump>,
    pub capture: Option<Capture<Vec<u8>>>,
    /// Per dump: the file its map information came from, when some was merged.
    pub info_from: Vec<Option<String>>,
}

pub fn read_input(
    path: &str,
    map_info_arg: Option<&str>,
    opts: &ReadOptions,
) -> anyhow::Result<Input> {
    let spin = spinner(path);
    let mut dumps = if path == "-" {
        read_from(std::io::stdin().lock(), "<stdin>", opts)?
    } else {
        read_file(path, opts)?
    };
    if let Some(s) = spin {
        s.finish_and_clear();
    }
    let capture = if path != "-" && dumps.iter().any(|d| d.source.format == DumpFormat::Capture) {
        Some(Capture::read_file(Path::new(path))?)
    } else {
        None
    };
    let mut info_from = vec![None; dumps.len()];
    if let Some((metas, from)) = map_info(map_info_arg, path)? {
        let several = dumps.len() > 1;
        for (d, merged) in dumps.iter_mut().zip(&mut info_from) {
            let pick = match metas.as_slice() {
                [one] if !several => Some(one),
                many => many.iter().find(|m| {
                    (m.id.is_some() && m.id == d.meta.id)
                        || (m.name.is_some() && m.name == d.meta.name)
                }),
            };
            if let Some(meta) = pick {
                d.merge_meta(meta);
                *merged = Some(from.clone());
            }
        }
    }
    Ok(Input {
        dumps,
        capture,
        info_from,
    })
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
    inputs: &DumpSources,
    expected: &mut ExpectedFn<'_>,
) -> anyhow::Result<Vec<Analysed<'s>>> {
    let opts = inputs.read_options();
    let mut done = Vec::new();
    for path in &inputs.dumps {
        let input = read_input(path, inputs.map_info.as_deref(), &opts)?;
        let snapshot = input.capture.as_ref().map(snapshot_of);
        for (dump, info_from) in input.dumps.into_iter().zip(input.info_from) {
            let mut notes = Vec::new();
            if let Some(from) = info_from {
                notes.push(format!("map information from {from}"));
            }
            let capture = input
                .capture
                .as_ref()
                .filter(|_| matches!(src, TypeSource::None));
            let mut resolved = resolve(src, &inputs.types, &dump, capture, Caller::AnalyzeDump)?;
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
