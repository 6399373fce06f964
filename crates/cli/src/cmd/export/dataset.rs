//! `export -o DIR --partition-by ...`: inputs appended one at a time to a fleet dataset,
//! each in chunks of at most --chunk-rows entries rows, and `query --dataset DIR`, a
//! lazy scan of it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use mapsleuth_engine::TypeSource;
use mapsleuth_frames::polars::prelude::{DataFrame, LazyFrame};
use mapsleuth_frames::{with_capture_columns, Appended, Dataset, Part, PartitionFilter, MANIFEST};

use super::{ExportArgs, Loaded, Table};
use crate::cmd::load::report_truncated;
use crate::cmd::types::usage;
use crate::output::Out;

/// The files of the inputs: a directory stands for the files in it (sorted, not
/// recursing; hidden files left out), so `DIR/` is a directory of captures; a pattern
/// with `*`, `?` or `[` that names no file is a glob (quoted, the shell leaves it to
/// us: no limit on the number of files).
fn expand(inputs: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            out.extend(dir_files(p)?);
        } else if !p.exists() && i.contains(['*', '?', '[']) {
            let paths = glob::glob(i).map_err(|e| usage(format!("{i}: {e}")))?;
            let mut files = Vec::new();
            for p in paths {
                let p = p.map_err(|e| anyhow::anyhow!("{i}: {e}"))?;
                if p.is_file() {
                    files.push(p.to_string_lossy().into_owned());
                }
            }
            if files.is_empty() {
                return Err(usage(format!("{i}: no file matches")));
            }
            out.extend(files);
        } else {
            out.push(i.clone());
        }
    }
    Ok(out)
}

fn dir_files(p: &Path) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

fn bar(n: usize) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template("exporting [{bar:30}] {pos}/{len} inputs ({eta}) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    Some(pb)
}

pub fn export(args: &ExportArgs, out: &mut Out) -> anyhow::Result<i32> {
    let src = TypeSource::read(&args.input.types.spec())?;
    let inputs = expand(&args.input.dumps)?;
    let (mut ds, recovered) = Dataset::open_for_writing(&args.output, &args.out.partition_by)?;
    for note in recovered {
        eprintln!("mapsleuth: {}: {note}", args.output.display());
    }
    let pb = bar(inputs.len());
    let say = |msg: String| match &pb {
        Some(pb) => pb.println(msg),
        None => eprintln!("{msg}"),
    };
    let (mut failed, mut rows) = (0usize, 0usize);
    for path in &inputs {
        match export_one(&src, args, &mut ds, path) {
            Ok((what, n)) => {
                rows += n;
                if !out.quiet || what != Appended::Skipped {
                    say(describe(path, &what));
                }
            }
            Err(e) => {
                failed += 1;
                say(format!("mapsleuth: error: {e:#}; {path} skipped"));
            }
        }
        if let Some(pb) = &pb {
            pb.inc(1);
        }
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if !out.quiet {
        eprintln!(
            "wrote {rows} entries rows from {} of {} inputs to {}{}",
            inputs.len() - failed,
            inputs.len(),
            args.output.display(),
            if failed > 0 {
                format!("; {failed} failed")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed > 0 { 2 } else { 0 })
}

fn describe(path: &str, what: &Appended) -> String {
    let tables = |rows: &[(String, usize)]| -> String {
        let t: Vec<String> = rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
        t.join(", ")
    };
    match what {
        Appended::Written { rows, files } => {
            format!("{path}: wrote {} rows in {files} parts", tables(rows))
        }
        Appended::Replaced { rows, files } => {
            format!(
                "{path}: replaced its snapshot: {} rows in {files} parts (--replace)",
                tables(rows)
            )
        }
        Appended::Skipped => {
            format!(
                "{path}: skipped, its snapshot is in the dataset already (--replace to rewrite)"
            )
        }
    }
}

/// One input: read, analysed, its tables appended. A truncated input is an error:
/// nothing of it is written.
fn export_one(
    src: &TypeSource,
    args: &ExportArgs,
    ds: &mut Dataset,
    path: &str,
) -> anyhow::Result<(Appended, usize)> {
    // A capture already there is skipped before it is read and analysed.
    if !args.replace && capture_key(path).is_some_and(|k| ds.contains(&k)) {
        return Ok((Appended::Skipped, 0));
    }
    let dumps = args.input.load_one(src, path)?;
    // The rows before the cut are not written: a dataset holds whole snapshots.
    if report_truncated(dumps.iter().map(|a| &a.dump), "read, none exported") {
        anyhow::bail!("{path} is truncated");
    }
    let snap = dumps.iter().find_map(|a| a.snapshot.clone());
    // A capture is known by its content digest; another input by its path.
    let key = snap.as_ref().map_or_else(
        || format!("file:{path}"),
        |s| format!("sha256:{}", s.digest),
    );
    let Some(mut tx) = ds.begin(&key, args.replace)? else {
        return Ok((Appended::Skipped, 0));
    };
    let cols = [
        ("host", snap.as_ref().map(|s| s.hostname.as_str())),
        ("captured_at", snap.as_ref().map(|s| s.finished_at.as_str())),
        ("kernel", snap.as_ref().map(|s| s.kernel_release.as_str())),
    ];
    let loaded = Loaded { dumps };
    // Entries chunk by chunk: the frames (about 300 bytes a row) are bounded by
    // --chunk-rows, whatever the size of the capture.
    let chunk_rows = usize::try_from(args.chunk_rows).unwrap_or(usize::MAX);
    for input in loaded.inputs() {
        let mut chunks = mapsleuth_frames::entry_chunks(input.dump, chunk_rows);
        if chunks.is_empty() {
            // No rows, but the map's columns are the table's too.
            chunks.push(0..0);
        }
        for range in chunks {
            let df = mapsleuth_frames::entries_in(&input, range)?;
            tx.write("entries", &with_capture_columns(df, &cols)?)?;
        }
    }
    for t in [Table::Findings, Table::Layout] {
        let df = with_capture_columns(loaded.frame(t)?, &cols)?;
        tx.write(t.name(), &df)?;
    }
    let what = tx.commit()?;
    let rows = match &what {
        Appended::Written { rows, .. } | Appended::Replaced { rows, .. } => rows
            .iter()
            .filter(|(t, _)| t == "entries")
            .map(|(_, n)| n)
            .sum(),
        Appended::Skipped => 0,
    };
    Ok((what, rows))
}

/// A capture file's snapshot key without reading it: its last 32 bytes are the SHA-256
/// of the rest (crates/dump's capture format), the digest the snapshot is known by.
/// `None` for anything else, or when it cannot be read (the load then says why).
fn capture_key(path: &str) -> Option<String> {
    use mapsleuth_dump::capture_file::{DIGEST_LEN, MAGIC};
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut magic = [0u8; MAGIC.len()];
    f.read_exact(&mut magic).ok()?;
    if magic != MAGIC {
        return None;
    }
    f.seek(SeekFrom::End(-(DIGEST_LEN as i64))).ok()?;
    let mut digest = [0u8; DIGEST_LEN];
    f.read_exact(&mut digest).ok()?;
    Some(format!("sha256:{}", mapsleuth_dump::hex::encode(&digest)))
}

/// Runs `sql` over the dataset's tables, each a lazy hive scan of the part files its
/// partition filter keeps (see [`PartitionFilter`]). `-v` names those files: the scan
/// is given no other.
pub fn query(
    sql: &str,
    dir: &Path,
    tables: Vec<(&'static str, Vec<String>)>,
    verbose: bool,
) -> anyhow::Result<DataFrame> {
    if !dir.join(MANIFEST).is_file() {
        return Err(usage(format!(
            "{}: no dataset there (no {MANIFEST}; `mapsleuth export CAPTURES -o DIR \
             --partition-by map,host` makes one)",
            dir.display()
        )));
    }
    let ds = Dataset::open(dir, &[])?;
    let m = ds.manifest();
    let unfinished = m.pending.as_ref().map_or(0, |(_, f)| f.len()) + m.retired.len();
    if unfinished > 0 {
        eprintln!(
            "mapsleuth: warning: {}: an export was interrupted and left {unfinished} part \
             file{} that this query does not read (DuckDB and Spark would): the next export \
             into the dataset removes {}",
            dir.display(),
            if unfinished == 1 { "" } else { "s" },
            if unfinished == 1 { "it" } else { "them" },
        );
    }
    // polars asks the kernel to read ahead each whole memory-mapped part, though a
    // query needs a few columns of it: on a 100-part dataset that doubled the time of
    // a GROUP BY host (scripts/bench-fleet.sh). Set before polars reads anything.
    if std::env::var_os("POLARS_MEMORY_PREFETCH").is_none() {
        std::env::set_var("POLARS_MEMORY_PREFETCH", "no_prefetch");
    }
    let mut frames: Vec<(String, LazyFrame)> = Vec::new();
    for (t, spellings) in tables {
        let all = ds.parts(t);
        let Some(first) = all.first().cloned() else {
            return Err(usage(format!(
                "{}: the dataset has no {t} table",
                dir.display()
            )));
        };
        let filter = PartitionFilter::of(sql, t, ds.partition_by());
        let kept: Vec<Part> = all
            .iter()
            .filter(|p| filter.keeps(&p.values))
            .cloned()
            .collect();
        if verbose {
            report_parts(dir, t, &filter, &kept, all.len(), &first);
        }
        let lf = match ds.scan(t, &kept)? {
            Some(lf) => lf,
            // No part can match: the table's columns, no rows.
            None => ds
                .scan(t, std::slice::from_ref(&first))?
                .map(|lf| lf.slice(0, 0))
                .ok_or_else(|| anyhow::anyhow!("{}: no parts", dir.display()))?,
        };
        for name in spellings {
            frames.push((name, lf.clone()));
        }
    }
    Ok(mapsleuth_frames::query_lazy(sql, frames)?)
}

/// `-v`: the partition filter of a table and the part files its scan is given.
fn report_parts(
    dir: &Path,
    t: &str,
    f: &PartitionFilter,
    kept: &[Part],
    total: usize,
    first: &Part,
) {
    eprintln!(
        "mapsleuth: {t}: reading {} of {total} part files (partition filter: {})",
        kept.len(),
        f.describe()
    );
    for p in kept {
        let rel = p.path.strip_prefix(dir).unwrap_or(&p.path);
        eprintln!("mapsleuth:   {}", rel.display());
    }
    if kept.is_empty() {
        let rel = first.path.strip_prefix(dir).unwrap_or(&first.path);
        eprintln!(
            "mapsleuth:   (no part matches: the columns come from {}'s footer)",
            rel.display()
        );
    }
}
