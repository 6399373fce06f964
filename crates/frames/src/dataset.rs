//! A fleet dataset: a directory of hive-partitioned Parquet parts, one table per
//! subdirectory (`DIR/entries/map=flows/host=h7/part-….parquet`), appended to one input
//! at a time, with a manifest (`DIR/_mapsleuth/dataset.json`) of which snapshots it holds
//! and their part files, so that re-exporting a capture never duplicates its rows.
//!
//! Every part is written under a hidden temporary name and renamed into place; the
//! manifest is rewritten the same way, last: a crash leaves no half-written visible part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::{json, Value};

use crate::write::{write, FileFormat, WriteOptions};
use crate::FrameError;

/// The manifest, relative to the dataset directory.
pub const MANIFEST: &str = "_mapsleuth/dataset.json";

/// An open dataset directory.
pub struct Dataset {
    root: PathBuf,
    partition_by: Vec<String>,
    /// Snapshot key → its part files (relative to `root`).
    snapshots: Vec<(String, Vec<String>)>,
}

/// What [`Dataset::append`] did with one input.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written: rows and part files.
    Written { rows: usize, files: usize },
    /// Already in the dataset; nothing written.
    Skipped,
    /// Already there: its old parts were replaced by these.
    Replaced { rows: usize, files: usize },
}

impl Dataset {
    /// Opens (or starts) the dataset at `root`. An existing dataset keeps its
    /// partitioning: asking for another one is an error.
    pub fn open(root: &Path, partition_by: &[String]) -> Result<Dataset, FrameError> {
        let manifest = root.join(MANIFEST);
        let mut ds = Dataset {
            root: root.to_path_buf(),
            partition_by: partition_by.to_vec(),
            snapshots: Vec::new(),
        };
        if !manifest.exists() {
            return Ok(ds);
        }
        let text = std::fs::read_to_string(&manifest).map_err(|e| FrameError::io(&manifest, e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| FrameError::Invalid(format!("{}: {e}", manifest.display())))?;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let existing = strings(&v["partition_by"]);
        if !partition_by.is_empty() && existing != partition_by {
            return Err(FrameError::Invalid(format!(
                "{}: the dataset is partitioned by {}, not {}",
                root.display(),
                existing.join(","),
                partition_by.join(",")
            )));
        }
        ds.partition_by = existing;
        if let Some(snaps) = v["snapshots"].as_array() {
            for s in snaps {
                let key = s["key"].as_str().unwrap_or_default().to_string();
                ds.snapshots.push((key, strings(&s["files"])));
            }
        }
        Ok(ds)
    }

    pub fn partition_by(&self) -> &[String] {
        &self.partition_by
    }

    /// Whether the snapshot `key` (a capture's digest) is in the dataset.
    pub fn contains(&self, key: &str) -> bool {
        self.snapshots.iter().any(|(k, _)| k == key)
    }

    /// Appends the tables (name, frame) of one input, known by `key`. A key already
    /// there is skipped, or with `replace` its parts are replaced.
    pub fn append(
        &mut self,
        key: &str,
        tables: &[(&str, DataFrame)],
        replace: bool,
    ) -> Result<Appended, FrameError> {
        let old = self.snapshots.iter().position(|(k, _)| k == key);
        if old.is_some() && !replace {
            return Ok(Appended::Skipped);
        }
        let tag = part_tag(key);
        let mut files = Vec::new();
        let mut rows = 0;
        for (table, df) in tables {
            if df.height() == 0 {
                continue;
            }
            let (r, f) = self.write_table(table, df, &tag)?;
            rows += r;
            files.extend(f);
        }
        let n = files.len();
        let stale = match old {
            Some(i) => std::mem::replace(&mut self.snapshots[i].1, files),
            None => {
                self.snapshots.push((key.to_string(), files));
                Vec::new()
            }
        };
        self.save()?;
        // The manifest no longer names them: remove the replaced parts (a name
        // reused by the new parts was overwritten by its rename already).
        let fresh: Vec<&String> = self.snapshots.iter().flat_map(|(_, f)| f).collect();
        for f in stale.iter().filter(|f| !fresh.contains(f)) {
            let p = self.root.join(f);
            std::fs::remove_file(&p).map_err(|e| FrameError::io(&p, e))?;
        }
        Ok(match old {
            Some(_) => Appended::Replaced { rows, files: n },
            None => Appended::Written { rows, files: n },
        })
    }

    /// Writes one table's parts into a hidden staging directory, then renames each
    /// into its partition folder. Returns rows and the part paths (relative).
    fn write_table(
        &self,
        table: &str,
        df: &DataFrame,
        tag: &str,
    ) -> Result<(usize, Vec<String>), FrameError> {
        let staging = self
            .root
            .join("_mapsleuth")
            .join(format!("tmp-{tag}-{table}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| FrameError::io(&staging, e))?;
        }
        let cols: Vec<String> = self
            .partition_by
            .iter()
            .filter(|c| df.column(c).is_ok())
            .cloned()
            .collect();
        let opts = WriteOptions {
            format: FileFormat::Parquet,
            partition_by: cols,
            metadata: vec![("mapsleuth.table".into(), table.into())],
        };
        let written = if opts.partition_by.is_empty() {
            std::fs::create_dir_all(&staging).map_err(|e| FrameError::io(&staging, e))?;
            write(df, &staging.join("part-0.parquet"), &opts)?
        } else {
            write(df, &staging, &opts)?
        };
        let mut out = Vec::new();
        for f in &written.files {
            let rel = f.strip_prefix(&staging).unwrap_or(f);
            let name = rel
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("part-0.parquet");
            let dir = self
                .root
                .join(table)
                .join(rel.parent().unwrap_or(Path::new("")));
            std::fs::create_dir_all(&dir).map_err(|e| FrameError::io(&dir, e))?;
            let dest = dir.join(format!("{tag}-{name}"));
            std::fs::rename(f, &dest).map_err(|e| FrameError::io(&dest, e))?;
            let rel = dest.strip_prefix(&self.root).unwrap_or(&dest);
            out.push(rel.to_string_lossy().into_owned());
        }
        std::fs::remove_dir_all(&staging).map_err(|e| FrameError::io(&staging, e))?;
        Ok((written.rows, out))
    }

    /// Rewrites the manifest atomically (temporary file, then rename).
    fn save(&self) -> Result<(), FrameError> {
        let path = self.root.join(MANIFEST);
        let dir = self.root.join("_mapsleuth");
        std::fs::create_dir_all(&dir).map_err(|e| FrameError::io(&dir, e))?;
        let snaps: Vec<Value> = self
            .snapshots
            .iter()
            .map(|(k, f)| json!({"key": k, "files": f}))
            .collect();
        let v = json!({"format": 1, "partition_by": self.partition_by, "snapshots": snaps});
        let tmp = dir.join(".dataset.json.tmp");
        std::fs::write(&tmp, format!("{v:#}\n")).map_err(|e| FrameError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| FrameError::io(&path, e))?;
        Ok(())
    }

    /// Part files of `table` the manifest names (what a scan of it reads at most).
    pub fn files(&self, table: &str) -> Vec<PathBuf> {
        let prefix = format!("{table}/");
        self.snapshots
            .iter()
            .flat_map(|(_, f)| f)
            .filter(|f| f.starts_with(&prefix))
            .map(|f| self.root.join(f))
            .collect()
    }

    /// A lazy scan of `table` with hive partitioning: the partition columns come from
    /// the folder names, and a filter on them prunes whole folders before any read.
    pub fn scan(&self, table: &str) -> Result<Option<LazyFrame>, FrameError> {
        let files = self.files(table);
        if files.is_empty() {
            return Ok(None);
        }
        // Hive keys are read after `DIR/table/` only (DIR itself may hold a `=`).
        let base = format!("{}/", self.root.join(table).display());
        let args = ScanArgsParquet {
            hive_options: HiveOptions {
                enabled: Some(true),
                hive_start_idx: base.len(),
                schema: None,
                try_parse_dates: false,
            },
            allow_missing_columns: true,
            glob: false,
            ..ScanArgsParquet::default()
        };
        let paths: Vec<PlRefPath> = files
            .iter()
            .map(|f| PlRefPath::from(f.to_string_lossy().as_ref()))
            .collect();
        Ok(Some(LazyFrame::scan_parquet_files(
            paths.into_iter().collect(),
            args,
        )?))
    }
}

/// A short file-name-safe tag of a snapshot key (its parts' name prefix).
fn part_tag(key: &str) -> String {
    // FNV-1a: stable across runs and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("s{h:016x}")
}

/// Adds the capture's identity as constant columns (partition candidates): `host`,
/// `captured_at`, `kernel` (null when the input is no capture).
pub fn with_capture_columns(
    mut df: DataFrame,
    cols: &[(&str, Option<&str>)],
) -> Result<DataFrame, FrameError> {
    let n = df.height();
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for (name, value) in cols {
        if seen.insert(name, ()).is_some() || df.column(name).is_ok() {
            continue;
        }
        let s: StringChunked = std::iter::repeat_n(*value, n).collect();
        df.with_column(s.with_name((*name).into()).into_column())?;
    }
    Ok(df)
}
