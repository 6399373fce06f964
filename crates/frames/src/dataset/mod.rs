//! A fleet dataset: a directory of hive-partitioned Parquet parts, one table per
//! subdirectory (`DIR/entries/map=flows/host=h7/part-….parquet`), appended to one input
//! at a time, with a manifest (`DIR/_mapsleuth/dataset.json`) of which snapshots it holds
//! and their part files, so that re-exporting a capture never duplicates its rows.
//!
//! Every part is written under a hidden temporary name and renamed into place; the
//! manifest is rewritten the same way, last: a crash leaves no half-written visible part.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use serde_json::{json, Value};

use crate::write::{write, FileFormat, WriteOptions, HIVE_NULL};
use crate::FrameError;

/// The manifest, relative to the dataset directory.
pub const MANIFEST: &str = "_mapsleuth/dataset.json";

/// An open dataset directory.
pub struct Dataset {
    root: PathBuf,
    partition_by: Vec<String>,
    /// The dtype of each partition column in the frames written (`str`, `u32`, ...):
    /// folder names are text, the scan gives them back their type.
    partition_types: Vec<(String, String)>,
    /// Snapshot key → its part files (relative to `root`).
    snapshots: Vec<(String, Vec<String>)>,
}

/// One part file of a table, with the values of its partition folders.
#[derive(Clone, Debug)]
pub struct Part {
    pub path: PathBuf,
    /// Column and value (`None`: hive's null), outermost folder first.
    pub values: Vec<(String, Option<String>)>,
}

/// What a manifest says (see [`parse_manifest`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub partition_by: Vec<String>,
    pub partition_types: Vec<(String, String)>,
    pub snapshots: Vec<(String, Vec<String>)>,
}

/// What [`Dataset::append`] did with one input.
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

impl Dataset {
    /// Opens (or starts) the dataset at `root`. An existing dataset keeps its
    /// partitioning: asking for another one is an error.
    pub fn open(root: &Path, partition_by: &[String]) -> Result<Dataset, FrameError> {
        let manifest = root.join(MANIFEST);
        let mut ds = Dataset {
            root: root.to_path_buf(),
            partition_by: partition_by.to_vec(),
            partition_types: Vec::new(),
            snapshots: Vec::new(),
        };
        if !manifest.exists() {
            if root.is_dir()
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
            return Ok(ds);
        }
        let text = std::fs::read_to_string(&manifest).map_err(|e| FrameError::io(&manifest, e))?;
        let m = parse_manifest(&text)
            .map_err(|e| FrameError::Invalid(format!("{}: {e}", manifest.display())))?;
        if !partition_by.is_empty() && m.partition_by != partition_by {
            return Err(FrameError::Invalid(format!(
                "{}: the dataset is partitioned by {}, not {}",
                root.display(),
                m.partition_by.join(","),
                partition_by.join(",")
            )));
        }
        ds.partition_by = m.partition_by;
        ds.partition_types = m.partition_types;
        ds.snapshots = m.snapshots;
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
        let mut rows = Vec::new();
        for (table, df) in tables {
            self.note_partition_types(df);
            if df.height() == 0 {
                continue;
            }
            match self.write_table(table, df, &tag) {
                Ok((r, f)) => {
                    rows.push((table.to_string(), r));
                    files.extend(f);
                }
                Err(e) => {
                    self.discard(table, &tag, &files, old.is_some());
                    return Err(e);
                }
            }
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

    /// After a failed append: removes its staging folder and the parts it had renamed
    /// into place (no manifest names them), so a failure leaves the dataset as it was.
    /// Parts of a snapshot being replaced took the old names: those stay.
    fn discard(&self, table: &str, tag: &str, written: &[String], replacing: bool) {
        let staging = self
            .root
            .join("_mapsleuth")
            .join(format!("tmp-{tag}-{table}"));
        let _ = std::fs::remove_dir_all(staging);
        if !replacing {
            for f in written {
                let _ = std::fs::remove_file(self.root.join(f));
            }
        }
    }

    /// Remembers the dtype of each partition column the first time a frame has it.
    fn note_partition_types(&mut self, df: &DataFrame) {
        for c in &self.partition_by {
            if self.partition_types.iter().any(|(n, _)| n == c) {
                continue;
            }
            if let Ok(col) = df.column(c) {
                let t = match col.dtype() {
                    // Folder names hold bytes as hex text.
                    DataType::Binary => "str".to_string(),
                    other => other.to_string(),
                };
                self.partition_types.push((c.clone(), t));
            }
        }
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
        let types: serde_json::Map<String, Value> = self
            .partition_types
            .iter()
            .map(|(c, t)| (c.clone(), Value::from(t.as_str())))
            .collect();
        let v = json!({
            "format": 1,
            "partition_by": self.partition_by,
            "partition_types": types,
            "snapshots": snaps,
        });
        let tmp = dir.join(".dataset.json.tmp");
        std::fs::write(&tmp, format!("{v:#}\n")).map_err(|e| FrameError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| FrameError::io(&path, e))?;
        Ok(())
    }

    /// Part files of `table` the manifest names, with their folder values.
    pub fn parts(&self, table: &str) -> Vec<Part> {
        let prefix = format!("{table}/");
        self.snapshots
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
        let mut schema = Schema::with_capacity(self.partition_by.len());
        for c in &self.partition_by {
            let (_, t) = self.partition_types.iter().find(|(n, _)| n == c)?;
            schema.insert(c.as_str().into(), dtype_named(t)?);
        }
        Some(Arc::new(schema))
    }

    /// A lazy scan of `parts` of `table` with hive partitioning: the partition columns
    /// come from the folder names. Parts of different maps have different columns:
    /// each set of parts of one schema is scanned on its own, and the scans are
    /// concatenated diagonally (a column a part lacks is null there). `None`: no parts.
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
        if scans.len() < 2 {
            return Ok(scans.pop());
        }
        let union = UnionArgs {
            diagonal: true,
            to_supertypes: true,
            ..UnionArgs::default()
        };
        Ok(Some(concat(scans, union)?))
    }
}

/// A part file's schema (column names and dtypes) as text, read from its footer.
fn schema_key(path: &Path) -> Result<String, FrameError> {
    let file = std::fs::File::open(path).map_err(|e| FrameError::io(path, e))?;
    let schema = ParquetReader::new(file)
        .schema()
        .map_err(|e| FrameError::Invalid(format!("{}: {e}", path.display())))?;
    let cols: Vec<String> = schema
        .iter()
        .map(|(n, f)| format!("{n}:{:?}", f.dtype()))
        .collect();
    Ok(cols.join(","))
}

/// The dtype a manifest names (the ones partition columns have).
fn dtype_named(name: &str) -> Option<DataType> {
    Some(match name {
        "str" => DataType::String,
        "bool" => DataType::Boolean,
        "u8" => DataType::UInt8,
        "u16" => DataType::UInt16,
        "u32" => DataType::UInt32,
        "u64" => DataType::UInt64,
        "i8" => DataType::Int8,
        "i16" => DataType::Int16,
        "i32" => DataType::Int32,
        "i64" => DataType::Int64,
        "f64" => DataType::Float64,
        _ => return None,
    })
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

/// Reads a manifest's text. Every part path must be a relative path inside a table
/// folder (`entries/…/NAME.parquet`): a manifest names the files `--replace`
/// removes, so one pointing elsewhere is refused. Errors name the byte offset.
pub fn parse_manifest(text: &str) -> Result<Manifest, String> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("byte {}: {e}", byte_offset(text, e.line(), e.column())))?;
    let strings = |v: &Value, what: &str| -> Result<Vec<String>, String> {
        let Some(a) = v.as_array() else {
            return Err(format!("{what}: not an array"));
        };
        a.iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("{what}[{i}]: not a string"))
            })
            .collect()
    };
    if v["format"] != 1 {
        return Err(format!(
            "format {}: this mapsleuth reads format 1",
            v["format"]
        ));
    }
    let mut m = Manifest {
        partition_by: strings(&v["partition_by"], "partition_by")?,
        ..Manifest::default()
    };
    if let Some(types) = v["partition_types"].as_object() {
        for (c, t) in types {
            let t = t
                .as_str()
                .ok_or(format!("partition_types.{c}: not a string"))?;
            m.partition_types.push((c.clone(), t.to_string()));
        }
    }
    let Some(snaps) = v["snapshots"].as_array() else {
        return Err("snapshots: not an array".into());
    };
    for (i, s) in snaps.iter().enumerate() {
        let key = s["key"]
            .as_str()
            .ok_or(format!("snapshots[{i}].key: not a string"))?;
        let files = strings(&s["files"], &format!("snapshots[{i}].files"))?;
        for (j, f) in files.iter().enumerate() {
            if !is_part_path(f) {
                return Err(format!(
                    "snapshots[{i}].files[{j}]: `{f}` is not a part file inside a table folder"
                ));
            }
        }
        m.snapshots.push((key.to_string(), files));
    }
    Ok(m)
}

/// `TABLE/col=v/.../NAME.parquet`: relative, no `.`/`..`, inside one of the tables.
fn is_part_path(f: &str) -> bool {
    let segs: Vec<&str> = f.split('/').collect();
    segs.len() >= 2
        && crate::TABLES.contains(&segs[0])
        && segs
            .iter()
            .all(|s| !s.is_empty() && *s != "." && *s != ".." && !s.contains('\\'))
        && segs.last().is_some_and(|n| n.ends_with(".parquet"))
}

/// The byte offset of serde_json's 1-based line and column.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    start + column.saturating_sub(1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_read_defensively() {
        let ok = r#"{"format": 1, "partition_by": ["map"], "partition_types": {"map": "str"},
            "snapshots": [{"key": "k", "files": ["entries/map=a/s1-part-0.parquet"]}]}"#;
        let m = parse_manifest(ok).unwrap_or_default();
        assert_eq!(m.snapshots.len(), 1);
        assert_eq!(
            m.partition_types,
            vec![("map".to_string(), "str".to_string())]
        );
        for (bad, says) in [
            ("{\"format\": 1,\n  \"partition_by\": [", "byte 32"),
            (r#"{"format": 2}"#, "format 2"),
            (
                r#"{"format": 1, "partition_by": ["map"], "snapshots": [{"key": "k", "files": ["../../etc/passwd.parquet"]}]}"#,
                "snapshots[0].files[0]",
            ),
            (
                r#"{"format": 1, "partition_by": ["map"], "snapshots": [{"key": "k", "files": ["/etc/x.parquet"]}]}"#,
                "not a part file",
            ),
            (
                r#"{"format": 1, "partition_by": ["map"], "snapshots": [{"key": 3, "files": []}]}"#,
                "snapshots[0].key",
            ),
            (
                r#"{"format": 1, "partition_by": "map", "snapshots": []}"#,
                "partition_by: not an array",
            ),
        ] {
            match parse_manifest(bad) {
                Err(e) => assert!(e.contains(says), "{bad}: {e}"),
                Ok(m) => unreachable!("{bad} parsed: {m:?}"),
            }
        }
        assert_eq!(
            folder_values("map=fl%2Fows/host=__HIVE_DEFAULT_PARTITION__/p.parquet"),
            vec![
                ("map".to_string(), Some("fl/ows".to_string())),
                ("host".to_string(), None)
            ]
        );
    }
}
