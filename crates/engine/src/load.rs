//! Reading dump inputs and analysing them with their types: what `analyze dump`,
//! `export`, `query` and `diff` share.

use std::path::{Path, PathBuf};

use mapsleuth_dump::capture_file::CaptureInfo;
use mapsleuth_dump::{
    parse_bpftool_map_show, read_file, read_from, Dump, DumpReadOptions, MapMeta,
};
use mapsleuth_forensics::diff::Snapshot;
use mapsleuth_forensics::dump_report::{analyze, DumpAnalysis};
use mapsleuth_forensics::forensics::{ExpectedKeys, Options, TypeRef};

use crate::error::{Error, Result};
use crate::types::{resolve, Purpose, Resolved, TypeSource, TypeSpec};

/// The name standard input goes by (`-` on the command line).
pub const STDIN: &str = "-";

/// One input file (or standard input): its dumps, with `bpftool map show` information
/// merged. Dumps read from a capture carry the capture's header and BTF
/// ([`Dump::capture`]), from one read of the bytes, standard input included.
pub struct Input {
    pub dumps: Vec<Dump>,
    /// Per dump: the file its map information came from, when some was merged.
    pub info_from: Vec<Option<String>>,
}

impl Input {
    /// The capture's snapshot identity, when the input is a capture.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.dumps.iter().find_map(Dump::capture).map(snapshot_of)
    }
}

/// Reads one input. `map_info` is `bpftool -j map show` output to merge; without it,
/// `STEM.show.json` beside `path` is merged when it exists.
pub fn read_input(path: &str, map_info: Option<&str>, opts: &DumpReadOptions) -> Result<Input> {
    let mut dumps = if path == STDIN {
        read_from(std::io::stdin().lock(), "<stdin>", opts)?
    } else {
        read_file(path, opts)?
    };
    let mut info_from = vec![None; dumps.len()];
    if let Some((metas, from)) = read_map_info(map_info, path)? {
        merge_map_info(&mut dumps, &metas, &from, &mut info_from);
    }
    Ok(Input { dumps, info_from })
}

/// Gives each dump the `map show` entry that names it (by id, else by name; the only
/// entry for an input of one dump).
fn merge_map_info(
    dumps: &mut [Dump],
    metas: &[MapMeta],
    from: &str,
    info_from: &mut [Option<String>],
) {
    let several = dumps.len() > 1;
    for (d, merged) in dumps.iter_mut().zip(info_from) {
        let pick = match metas {
            [one] if !several => Some(one),
            many => many.iter().find(|m| {
                (m.id.is_some() && m.id == d.meta.id) || (m.name.is_some() && m.name == d.meta.name)
            }),
        };
        if let Some(meta) = pick {
            d.merge_meta(meta);
            *merged = Some(from.to_string());
        }
    }
}

/// `bpftool -j map show` output for a dump: `arg`, else `STEM.show.json` beside `path`.
pub fn read_map_info(arg: Option<&str>, path: &str) -> Result<Option<(Vec<MapMeta>, String)>> {
    let file = match arg {
        Some(f) => PathBuf::from(f),
        None => match sidecar_map_info(path) {
            Some(side) => side,
            None => return Ok(None),
        },
    };
    let shown = file.display().to_string();
    let bytes = std::fs::read(&file).map_err(|error| Error::Io {
        path: shown.clone(),
        error,
    })?;
    let metas = parse_bpftool_map_show(&bytes, &shown)?;
    Ok(Some((metas, shown)))
}

/// `flows.show.json` for `flows.json`, `flows.pretty.json` or `flows.txt`, when it exists.
fn sidecar_map_info(path: &str) -> Option<PathBuf> {
    if path == STDIN {
        return None;
    }
    let p = Path::new(path);
    let name = p.file_name().and_then(|n| n.to_str())?;
    if name.ends_with(".show.json") {
        return None;
    }
    let stem = [".pretty.json", ".json", ".txt"]
        .iter()
        .find_map(|s| name.strip_suffix(s))?;
    let side = p.with_file_name(format!("{stem}.show.json"));
    side.is_file().then_some(side)
}

/// A capture's snapshot identity, as `diff` and the frames show it.
pub fn snapshot_of(cap: &CaptureInfo) -> Snapshot {
    let h = cap.header();
    Snapshot {
        snapshot_id: h.snapshot_id.clone(),
        finished_at: h.finished_at.clone(),
        hostname: h.source.hostname.clone(),
        kernel_release: h.source.kernel_release.clone(),
        digest: cap.digest_hex(),
    }
}

/// What the dump commands read: the inputs and how.
#[derive(Clone, Debug, Default)]
pub struct DumpRequest {
    /// Files, or [`STDIN`].
    pub inputs: Vec<String>,
    pub types: TypeSpec,
    /// `bpftool -j map show` output to merge into every input.
    pub map_info: Option<String>,
    pub read: DumpReadOptions,
}

/// Reports progress of long steps (the CLI draws bars; a library user may ignore it).
pub trait Progress {
    /// An input is about to be read (`size` in bytes when known).
    fn reading(&mut self, _path: &str, _size: Option<u64>) {}
    /// Done reading it.
    fn read_done(&mut self) {}
    /// A dump of `entries` entries is about to be analysed.
    fn analysing(&mut self, _name: &str, _entries: u64) {}
    /// `done` entries of it are analysed.
    fn analysed(&mut self, _done: u64) {}
    /// Its analysis is over.
    fn analysis_done(&mut self) {}
}

/// Progress that goes nowhere.
pub struct Silent;
impl Progress for Silent {}

/// The keys expected in a dump, given the dump and its key type.
pub type ExpectedFn<'a> =
    dyn FnMut(&Dump, Option<TypeRef<'_>>) -> Result<Option<ExpectedKeys>> + 'a;

/// One dump, analysed, with the types that decoded it.
pub struct Analysed<'s> {
    /// Which input it came from, in the order given.
    pub input: usize,
    pub dump: Dump,
    pub analysis: DumpAnalysis,
    pub resolved: Resolved<'s>,
    /// A capture's snapshot identity.
    pub snapshot: Option<Snapshot>,
}

/// Reads every dump of the request and analyses it with its types. `expected` gives the
/// keys expected in a dump (`analyze dump --expect-keys`).
pub fn load<'s>(
    src: &'s TypeSource,
    req: &DumpRequest,
    expected: &mut ExpectedFn<'_>,
    progress: &mut dyn Progress,
) -> Result<Vec<Analysed<'s>>> {
    let mut done = Vec::new();
    for (index, path) in req.inputs.iter().enumerate() {
        let size = (path != STDIN)
            .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
            .flatten();
        progress.reading(path, size);
        let input = read_input(path, req.map_info.as_deref(), &req.read)?;
        progress.read_done();
        let snapshot = input.snapshot();
        for (dump, info_from) in input.dumps.into_iter().zip(input.info_from) {
            let mut resolved = resolve(src, &req.types, &dump, Purpose::Analysis)?;
            let mut notes: Vec<String> = info_from
                .map(|from| format!("map information from {from}"))
                .into_iter()
                .collect();
            let mut analysis = analyse(&dump, &resolved, expected, progress)?;
            notes.append(&mut resolved.notes);
            notes.append(&mut analysis.notes);
            analysis.notes = notes;
            done.push(Analysed {
                input: index,
                dump,
                analysis,
                resolved,
                snapshot: snapshot.clone(),
            });
        }
    }
    Ok(done)
}

/// Runs the dump engine on one dump with its resolved types.
fn analyse(
    dump: &Dump,
    resolved: &Resolved<'_>,
    expected: &mut ExpectedFn<'_>,
    progress: &mut dyn Progress,
) -> Result<DumpAnalysis> {
    let types = resolved.types();
    let options = Options {
        max_entries_hint: resolved.max_entries.clone(),
        expected_keys: expected(dump, types.key)?,
        ..Options::default()
    };
    progress.analysing(&dump.source.name, dump.len() as u64);
    let analysis = analyze(dump, &types, options, &mut |n| progress.analysed(n)).map_err(|error| {
        Error::Decode {
            context: format!("{}: decoding with the given types", dump.source.name),
            error,
        }
    });
    progress.analysis_done();
    analysis
}
