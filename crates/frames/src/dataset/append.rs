//! Appending one input to a dataset: its parts are staged, then committed together.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::manifest::{dtype_name, ColumnType};
use super::{sync_file, Dataset, META_DIR, STAGING_PREFIX};
use crate::write::{write, FileFormat, WriteOptions};
use crate::FrameError;

/// What [`Append::commit`] did with one input (or, `Skipped`, what
/// [`Dataset::begin`] found).
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written: rows of each table, and part files.
    Written {
        rows: Vec<(String, usize)>,
        files: usize,
    },
    /// Already in the dataset; nothing written.
    Skipped,
    /// Already there: its old parts were replaced by these.
    Replaced {
        rows: Vec<(String, usize)>,
        files: usize,
    },
}

/// The steps of a commit, in order. A commit stopped after one of them (a crash, or in
/// tests [`Append::commit_until`]) is finished by the next
/// [`Dataset::open_for_writing`]: rolled back before `Committed`, completed after.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommitStep {
    /// The parts are synced in the staging folder; the manifest does not name them.
    Staged,
    /// The manifest names them as pending.
    Pending,
    /// They are renamed into their partition folders (visible to DuckDB and Spark).
    Moved,
    /// The manifest commits them and retires the parts they replace.
    Committed,
    /// The retired parts are removed and the staging folder too.
    Cleaned,
}

/// One input being appended: [`Append::write`] its frames (several per table when an
/// input is exported in chunks), then [`Append::commit`]. Dropped uncommitted, it
/// removes what it staged and the dataset is as it was.
pub struct Append<'d> {
    ds: &'d mut Dataset,
    key: String,
    /// Part names start with this: the key's tag and the commit number.
    prefix: String,
    staging: PathBuf,
    /// Staged file → its path in the dataset (relative to the root).
    staged: Vec<(PathBuf, String)>,
    rows: Vec<(String, usize)>,
    columns: Vec<(String, Vec<ColumnType>)>,
    partition_types: Vec<ColumnType>,
    writes: usize,
    finished: bool,
}

impl Dataset {
    /// Starts appending the input known by `key` (a capture's digest). `None`: the key
    /// is in the dataset already and `replace` is off, so there is nothing to do.
    pub fn begin(&mut self, key: &str, replace: bool) -> Result<Option<Append<'_>>, FrameError> {
        if self.lock.is_none() {
            return Err(FrameError::Invalid(format!(
                "{}: opened to be read, not written",
                self.root.display()
            )));
        }
        if self.contains(key) && !replace {
            return Ok(None);
        }
        let prefix = format!("{}-{}", part_tag(key), self.manifest.commits + 1);
        let staging = self
            .root
            .join(META_DIR)
            .join(format!("{STAGING_PREFIX}{prefix}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| FrameError::io(&staging, e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| FrameError::io(&staging, e))?;
        Ok(Some(Append {
            ds: self,
            key: key.to_string(),
            prefix,
            staging,
            staged: Vec::new(),
            rows: Vec::new(),
            columns: Vec::new(),
            partition_types: Vec::new(),
            writes: 0,
            finished: false,
        }))
    }
}

impl Append<'_> {
    /// Stages the rows of `df` for `table`, hive-partitioned by the dataset's
    /// partition columns that `df` has. An empty frame stages nothing, but its columns
    /// count: a query of the table has them.
    pub fn write(&mut self, table: &str, df: &DataFrame) -> Result<(), FrameError> {
        self.note_schema(table, df);
        if df.height() == 0 {
            return Ok(());
        }
        let n = self.writes;
        self.writes += 1;
        let dir = self.staging.join(format!("w{n}"));
        let cols: Vec<String> = self
            .ds
            .partition_by()
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
            std::fs::create_dir_all(&dir).map_err(|e| FrameError::io(&dir, e))?;
            write(df, &dir.join("part-0.parquet"), &opts)?
        } else {
            write(df, &dir, &opts)?
        };
        for f in written.files {
            let rel = f.strip_prefix(&dir).unwrap_or(&f);
            let name = rel
                .file_name()
                .map_or("part-0.parquet".into(), |n| n.to_string_lossy());
            let folder = Path::new(table).join(rel.parent().unwrap_or(Path::new("")));
            let dest = folder.join(format!("{}-w{n}-{name}", self.prefix));
            self.staged.push((f, dest.to_string_lossy().into_owned()));
        }
        match self.rows.iter_mut().find(|(t, _)| t == table) {
            Some((_, r)) => *r += written.rows,
            None => self.rows.push((table.to_string(), written.rows)),
        }
        Ok(())
    }

    /// The columns of a frame (the table's union in the manifest grows by them at the
    /// commit) and the dtypes of its partition columns.
    fn note_schema(&mut self, table: &str, df: &DataFrame) {
        let cols: Vec<ColumnType> = df
            .columns()
            .iter()
            .filter_map(|c| Some((c.name().to_string(), dtype_name(c.dtype())?.to_string())))
            .collect();
        for c in self.ds.partition_by() {
            let known = |types: &[ColumnType]| types.iter().any(|(n, _)| n == c);
            if known(&self.ds.manifest.partition_types) || known(&self.partition_types) {
                continue;
            }
            if let Some((_, t)) = cols.iter().find(|(n, _)| n == c) {
                // Folder names hold bytes as hex text.
                let t = if t == "binary" { "str" } else { t };
                self.partition_types.push((c.clone(), t.to_string()));
            }
        }
        match self.columns.iter_mut().find(|(t, _)| t == table) {
            Some((_, known)) => {
                for c in cols {
                    if !known.iter().any(|(n, _)| *n == c.0) {
                        known.push(c);
                    }
                }
            }
            None => self.columns.push((table.to_string(), cols)),
        }
    }

    /// Commits what was written: the parts appear in the dataset together, and those
    /// of the snapshot they replace go.
    pub fn commit(self) -> Result<Appended, FrameError> {
        self.commit_until(CommitStep::Cleaned)
    }

    /// [`Append::commit`] stopped after `last`, as a crash would stop it (what
    /// follows is left to the next [`Dataset::open_for_writing`]): for tests of that.
    pub fn commit_until(mut self, last: CommitStep) -> Result<Appended, FrameError> {
        for (f, _) in &self.staged {
            sync_file(f)?;
        }
        if last == CommitStep::Staged {
            return Ok(self.crashed());
        }
        let finals: Vec<String> = self.staged.iter().map(|(_, d)| d.clone()).collect();
        self.ds.manifest.pending = Some((self.key.clone(), finals.clone()));
        if let Err(e) = self.ds.save() {
            self.ds.manifest.pending = None;
            return Err(e);
        }
        if last == CommitStep::Pending {
            return Ok(self.crashed());
        }
        if let Err(e) = self.move_into_place() {
            // Undo now; what this cannot undo the next export does (the manifest
            // still names the parts pending).
            if self.ds.remove_parts(&finals).is_ok() {
                self.ds.manifest.pending = None;
                let _ = self.ds.save();
            }
            return Err(e);
        }
        if last == CommitStep::Moved {
            return Ok(self.crashed());
        }
        let replaced = self.record();
        self.ds.save()?;
        if last == CommitStep::Committed {
            return Ok(self.crashed());
        }
        let retired = std::mem::take(&mut self.ds.manifest.retired);
        if !retired.is_empty() {
            self.ds.remove_parts(&retired)?;
            self.ds.save()?;
        }
        self.finished = true;
        std::fs::remove_dir_all(&self.staging).map_err(|e| FrameError::io(&self.staging, e))?;
        let rows = std::mem::take(&mut self.rows);
        let files = finals.len();
        Ok(if replaced {
            Appended::Replaced { rows, files }
        } else {
            Appended::Written { rows, files }
        })
    }

    /// Renames the staged parts into their partition folders.
    fn move_into_place(&self) -> Result<(), FrameError> {
        let mut folders: Vec<PathBuf> = Vec::new();
        for (from, rel) in &self.staged {
            let dest = self.ds.root.join(rel);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| FrameError::io(dir, e))?;
                if !folders.iter().any(|f| f == dir) {
                    folders.push(dir.to_path_buf());
                }
            }
            std::fs::rename(from, &dest).map_err(|e| FrameError::io(&dest, e))?;
        }
        for dir in &folders {
            sync_file(dir)?;
        }
        Ok(())
    }

    /// The commit in the manifest (not saved): the snapshot's parts, the table
    /// columns, the parts it retires. Whether it replaced a snapshot.
    fn record(&mut self) -> bool {
        let m = &mut self.ds.manifest;
        let (key, files) = m.pending.take().unwrap_or_default();
        m.commits += 1;
        m.partition_types.append(&mut self.partition_types);
        for (table, cols) in &self.columns {
            m.note_columns(table, cols);
        }
        match m.snapshots.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                let old = std::mem::replace(&mut m.snapshots[i].1, files);
                m.retired.extend(old);
                true
            }
            None => {
                m.snapshots.push((key, files));
                false
            }
        }
    }

    /// Stops as a crash would: nothing more is done, the staging folder stays.
    fn crashed(mut self) -> Appended {
        self.finished = true;
        Appended::Skipped
    }
}

impl Drop for Append<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
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
