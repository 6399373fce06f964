//! A fleet dataset: a directory of hive-partitioned Parquet parts, one table per
//! subdirectory (`DIR/entries/map=flows/host=h7/s…-3-w0-part-0.parquet`), appended to
//! one input at a time, with a manifest (`DIR/_mapsleuth/dataset.json`) of which
//! snapshots it holds and their part files, so that re-exporting a capture never
//! duplicates its rows.
//!
//! An input's parts are written to a staging folder under `_mapsleuth/` (which no
//! reader of `DIR/TABLE` looks into) and committed together ([`Append::commit`]):
//! the manifest first records them as pending, then they are renamed into place, then
//! the manifest commits them and retires the parts of the snapshot they replace, which
//! are removed last. An export interrupted anywhere leaves a state the next export
//! finishes ([`Dataset::open_for_writing`]): pending parts removed, retired parts
//! removed, staging folders removed. `query --dataset` reads only committed parts, so it
//! never sees a half-done commit; DuckDB and Spark, which list the folders, can see one
//! until the next export runs.

mod append;
mod manifest;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

pub use append::{Append, Appended, CommitStep};
use manifest::dtype_named;
pub use manifest::{parse_manifest, Manifest};

use crate::write::HIVE_NULL;
use crate::FrameError;

/// The manifest, relative to the dataset directory.
pub const MANIFEST: &str = "_mapsleuth/dataset.json";
/// The folder of the manifest, the lock and the staging folders.
const META_DIR: &str = "_mapsleuth";
/// Held (flock) by the export writing the dataset.
const LOCK: &str = "_mapsleuth/lock";
/// Staging folders are `_mapsleuth/tmp-…`.
const STAGING_PREFIX: &str = "tmp-";

/// An open dataset directory.
pub struct Dataset {
    root: PathBuf,
    manifest: Manifest,
    /// The lock of an export (`None`: opened to be read).
    lock: Option<File>,
}

/// One part file of a table, with the values of its partition folders.
#[derive(Clone, Debug)]
pub struct Part {
    pub path: PathBuf,
    /// Column and value (`None`: hive's null), outermost folder first.
    pub values: Vec<(String, Option<String>)>,
}

impl Dataset {
    /// Opens the dataset at `root` to read it. A directory without a manifest is a
    /// dataset with no snapshots when it is empty or absent, and an error otherwise.
    /// An existing dataset keeps its partitioning: asking for another one is an error.
    pub fn open(root: &Path, partition_by: &[String]) -> Result<Dataset, FrameError> {
        let path = root.join(MANIFEST);
        let mut manifest = Manifest {
            partition_by: partition_by.to_vec(),
            ..Manifest::default()
        };
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| FrameError::io(&path, e))?;
            let m = parse_manifest(&text)
                .map_err(|e| FrameError::Invalid(format!("{}: {e}", path.display())))?;
            if !partition_by.is_empty() && m.partition_by != partition_by {
                return Err(FrameError::Invalid(format!(
                    "{}: the dataset is partitioned by {}, not {}",
                    root.display(),
                    m.partition_by.join(","),
                    partition_by.join(",")
                )));
            }
            manifest = m;
        } else if root.is_dir()
            && std::fs::read_dir(root)
                .map_err(|e| FrameError::io(root, e))?
                .next()
                .is_some()
        {
            return Err(FrameError::Invalid(format!(
                "{}: a directory that is no mapsleuth dataset (no {MANIFEST}): give a new or \
                 empty directory",
                root.display()
            )));
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            manifest,
            lock: None,
        })
    }

    /// Opens (or starts) the dataset at `root` to append to it: takes its lock (one
    /// export at a time; the lock goes with the process, a crash leaves none), then
    /// finishes what an interrupted export left. Returns what that recovery did.
    pub fn open_for_writing(
        root: &Path,
        partition_by: &[String],
    ) -> Result<(Dataset, Vec<String>), FrameError> {
        let mut ds = Dataset::open(root, partition_by)?;
        let meta = root.join(META_DIR);
        std::fs::create_dir_all(&meta).map_err(|e| FrameError::io(&meta, e))?;
        let lock_path = root.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| FrameError::io(&lock_path, e))?;
        if let Err(e) = lock.try_lock() {
            return Err(FrameError::Invalid(format!(
                "{}: another export is writing this dataset ({e}: {LOCK} is locked)",
                root.display()
            )));
        }
        ds.lock = Some(lock);
        let notes = ds.recover()?;
        if !root.join(MANIFEST).exists() {
            ds.save()?;
        }
        Ok((ds, notes))
    }

    pub fn partition_by(&self) -> &[String] {
        &self.manifest.partition_by
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the snapshot `key` (a capture's digest) is in the dataset.
    pub fn contains(&self, key: &str) -> bool {
        self.manifest.snapshots.iter().any(|(k, _)| k == key)
    }

    /// Finishes an interrupted export: the parts of a commit that did not happen and
    /// the retired parts of one that did are removed, and staging folders too. Says
    /// what it removed.
    fn recover(&mut self) -> Result<Vec<String>, FrameError> {
        let mut notes = Vec::new();
        if let Some((key, files)) = self.manifest.pending.take() {
            let removed = self.remove_parts(&files)?;
            notes.push(format!(
                "an interrupted export of snapshot {key} was rolled back: {removed} of its {} \
                 parts had been moved into place and were removed",
                files.len()
            ));
        }
        let retired = std::mem::take(&mut self.manifest.retired);
        if !retired.is_empty() {
            let removed = self.remove_parts(&retired)?;
            notes.push(format!(
                "removed {removed} parts of replaced snapshots an interrupted export left"
            ));
        }
        let changed = !notes.is_empty();
        let meta = self.root.join(META_DIR);
        for entry in std::fs::read_dir(&meta).map_err(|e| FrameError::io(&meta, e))? {
            let path = entry.map_err(|e| FrameError::io(&meta, e))?.path();
            let staged = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(STAGING_PREFIX));
            if staged && path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|e| FrameError::io(&path, e))?;
                notes.push(format!(
                    "removed the staging folder {} an interrupted export left",
                    path.display()
                ));
            }
        }
        if changed {
            self.save()?;
        }
        Ok(notes)
    }

    /// Removes part files (relative paths) that exist; returns how many there were.
    fn remove_parts(&self, files: &[String]) -> Result<usize, FrameError> {
        let mut removed = 0;
        for f in files {
            let p = self.root.join(f);
            match std::fs::remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(FrameError::io(&p, e)),
            }
        }
        Ok(removed)
    }

    /// Rewrites the manifest atomically: a temporary file, synced, renamed over it,
    /// and the folder synced, so that after a crash it is the old or the new one.
    fn save(&self) -> Result<(), FrameError> {
        let dir = self.root.join(META_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| FrameError::io(&dir, e))?;
        let tmp = dir.join(".dataset.json.tmp");
        let path = self.root.join(MANIFEST);
        std::fs::write(&tmp, self.manifest.to_json()).map_err(|e| FrameError::io(&tmp, e))?;
        sync_file(&tmp)?;
        std::fs::rename(&tmp, &path).map_err(|e| FrameError::io(&path, e))?;
        sync_file(&dir)
    }

    /// Part files of `table` the manifest commits, with their folder values.
    pub fn parts(&self, table: &str) -> Vec<Part> {
        let prefix = format!("{table}/");
        self.manifest
            .snapshots
            .iter()
            .flat_map(|(_, f)| f)
            .filter_map(|f| f.strip_prefix(&prefix))
            .map(|rel| Part {
                path: self.root.join(table).join(rel),
                values: folder_values(rel),
            })
            .collect()
    }

    /// The hive schema of the partition columns, when their dtypes are all known.
    fn hive_schema(&self) -> Option<SchemaRef> {
        let m = &self.manifest;
        let mut schema = Schema::with_capacity(m.partition_by.len());
        for c in &m.partition_by {
            let (_, t) = m.partition_types.iter().find(|(n, _)| n == c)?;
            schema.insert(c.as_str().into(), dtype_named(t)?);
        }
        Some(Arc::new(schema))
    }

    /// A lazy scan of `parts` of `table` with hive partitioning: the partition columns
    /// come from the folder names. Parts of different maps have different columns:
    /// each set of parts of one schema is scanned on its own, and the scans are
    /// concatenated diagonally (a column a part lacks is null there). Every column the
    /// table has anywhere in the dataset is there, null where the parts lack it, so a
    /// query means the same whichever partitions it keeps. `None`: no parts.
    pub fn scan(&self, table: &str, parts: &[Part]) -> Result<Option<LazyFrame>, FrameError> {
        let mut groups: Vec<(String, Vec<PlRefPath>)> = Vec::new();
        for p in parts {
            let key = schema_key(&p.path)?;
            let path = PlRefPath::from(p.path.to_string_lossy().as_ref());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(path),
                None => groups.push((key, vec![path])),
            }
        }
        // Hive keys are read after `DIR/table/` only (DIR itself may hold a `=`).
        let base = format!("{}/", self.root.join(table).display());
        let mut scans = Vec::with_capacity(groups.len());
        for (_, paths) in groups {
            let args = ScanArgsParquet {
                hive_options: HiveOptions {
                    enabled: Some(true),
                    hive_start_idx: base.len(),
                    schema: self.hive_schema(),
                    try_parse_dates: false,
                },
                glob: false,
                ..ScanArgsParquet::default()
            };
            scans.push(LazyFrame::scan_parquet_files(
                paths.into_iter().collect(),
                args,
            )?);
        }
        let mut lf = match scans.len() {
            0 => return Ok(None),
            1 => scans.remove(0),
            _ => {
                let union = UnionArgs {
                    diagonal: true,
                    to_supertypes: true,
                    ..UnionArgs::default()
                };
                concat(scans, union)?
            }
        };
        if let Some(all) = self.manifest.columns_of(table) {
            let have = lf.collect_schema()?;
            let missing: Vec<Expr> = all
                .iter()
                .filter(|(n, _)| !have.contains(n))
                .filter_map(|(n, t)| Some(lit(NULL).cast(dtype_named(t)?).alias(n.as_str())))
                .collect();
            if !missing.is_empty() {
                lf = lf.with_columns(missing);
            }
        }
        Ok(Some(lf))
    }
}

/// Syncs a file or a folder to disk.
fn sync_file(path: &Path) -> Result<(), FrameError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| FrameError::io(path, e))
}

/// A part file's schema (column names and dtypes) as text, read from its footer.
fn schema_key(path: &Path) -> Result<String, FrameError> {
    let file = File::open(path).map_err(|e| FrameError::io(path, e))?;
    let schema = ParquetReader::new(file)
        .schema()
        .map_err(|e| FrameError::Invalid(format!("{}: {e}", path.display())))?;
    let cols: Vec<String> = schema
        .iter()
        .map(|(n, f)| format!("{n}:{:?}", f.dtype()))
        .collect();
    Ok(cols.join(","))
}

/// `map=flows/host=h%207/part.parquet` → (map, flows), (host, h 7).
fn folder_values(rel: &str) -> Vec<(String, Option<String>)> {
    let mut segs: Vec<&str> = rel.split('/').collect();
    segs.pop();
    segs.iter()
        .filter_map(|s| s.split_once('='))
        .map(|(c, v)| {
            let v = (v != HIVE_NULL).then(|| percent_decode(v));
            (percent_decode(c), v)
        })
        .collect()
}

/// Undoes the `%XX` escapes of a folder name (anything else is kept as it is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Adds the capture's identity as constant columns (partition candidates): `host`,
/// `captured_at`, `kernel` (null when the input is no capture).
pub fn with_capture_columns(
    mut df: DataFrame,
    cols: &[(&str, Option<&str>)],
) -> Result<DataFrame, FrameError> {
    let n = df.height();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in cols {
        if !seen.insert(*name) || df.column(name).is_ok() {
            continue;
        }
        let s: StringChunked = std::iter::repeat_n(*value, n).collect();
        df.with_column(s.with_name((*name).into()).into_column())?;
    }
    Ok(df)
}

#[cfg(test)]
mod tests;
