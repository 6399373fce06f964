//! Export: a frame to one Parquet, CSV or NDJSON file, or to a hive-partitioned
//! directory of them (`OUT/map=flows/cpu=0/part-0.parquet`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use mapsleuth_dump::hex::encode as hex;
use polars::prelude::*;

use crate::FrameError;

/// The folder name hive gives a null partition value (Spark, Trino, DuckDB and pyarrow
/// read it back as null).
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    Ndjson,
}

impl FileFormat {
    /// From a file name's extension: `.parquet`, `.csv`, `.ndjson` or `.jsonl`.
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        FileFormat::from_name(&ext)
    }

    pub fn from_name(name: &str) -> Option<FileFormat> {
        match name {
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Ndjson => "ndjson",
        }
    }
}

#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub format: FileFormat,
    /// Columns to partition by: `path` becomes a directory with one folder per value.
    pub partition_by: Vec<String>,
    /// Parquet key-value metadata (CSV and NDJSON have nowhere to put it).
    pub metadata: Vec<(String, String)>,
}

/// What [`write()`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub rows: usize,
}

/// Writes `df` to `path` (a file, or with `partition_by` a directory, which must not
/// exist or be empty: stale partitions would mix with the new ones).
pub fn write(df: &DataFrame, path: &Path, opts: &WriteOptions) -> Result<Written, FrameError> {
    if opts.partition_by.is_empty() {
        let mut df = df.clone();
        write_one(&mut df, path, opts)?;
        return Ok(Written {
            files: vec![path.to_path_buf()],
            rows: df.height(),
        });
    }
    for c in &opts.partition_by {
        if df.column(c).is_err() {
            let names: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect();
            return Err(FrameError::Invalid(format!(
                "--partition-by {c}: no such column (columns: {})",
                names.join(", ")
            )));
        }
    }
    if path.exists() {
        let empty = std::fs::read_dir(path)
            .map_err(|e| FrameError::io(path, e))?
            .next()
            .is_none();
        if !empty {
            return Err(FrameError::Invalid(format!(
                "{}: exists and is not an empty directory; a partitioned export writes a new \
                 directory (remove it first)",
                path.display()
            )));
        }
    }
    let parts = df.partition_by_stable(opts.partition_by.iter().map(String::as_str), true)?;
    let mut written = Written::default();
    // Values that share a folder (null and "", or names differing in case on a
    // case-insensitive file system) get one file each there, never one over another.
    let mut files_in: HashMap<PathBuf, usize> = HashMap::new();
    for mut part in parts {
        let mut dir = path.to_path_buf();
        for c in &opts.partition_by {
            let value = part.column(c)?.get(0)?;
            dir.push(format!("{}={}", escape_segment(c), partition_value(&value)));
        }
        std::fs::create_dir_all(&dir).map_err(|e| FrameError::io(&dir, e))?;
        let n = files_in.entry(dir.clone()).or_default();
        let mut file = dir.join(format!("part-{n}.{}", opts.format.extension()));
        while file.exists() {
            *n += 1;
            file = dir.join(format!("part-{n}.{}", opts.format.extension()));
        }
        *n += 1;
        for c in &opts.partition_by {
            part.drop_in_place(c)?;
        }
        write_one(&mut part, &file, opts)?;
        written.rows += part.height();
        written.files.push(file);
    }
    Ok(written)
}

/// A partition value as hive spells it in a folder name.
fn partition_value(v: &AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => HIVE_NULL.to_string(),
        AnyValue::String(s) => escape_segment(s),
        AnyValue::StringOwned(s) => escape_segment(s),
        AnyValue::Binary(b) => escape_segment(&hex(b)),
        AnyValue::BinaryOwned(b) => escape_segment(&hex(b)),
        other => escape_segment(&other.to_string()),
    }
}

/// Percent-encodes what a path segment cannot hold or hive would misread: separators,
/// `=`, `%`, `:` (hive escapes it; Windows forbids it), spaces, control bytes and
/// anything outside ASCII; `.` and `..` alone too. An empty value is hive's null.
fn escape_segment(s: &str) -> String {
    if s.is_empty() {
        return HIVE_NULL.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'+' | b'@' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

/// CSV and NDJSON have no bytes: Binary columns become lowercase hex text.
fn binary_as_hex(df: &mut DataFrame) -> Result<(), FrameError> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::Binary)
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let text = hex_column(df.column(&name)?)?;
        df.with_column(text)?;
    }
    Ok(())
}

/// A Binary column as lowercase hex text (same name).
pub(crate) fn hex_column(c: &Column) -> Result<Column, FrameError> {
    let bin = c.as_materialized_series().binary()?.clone();
    let text: StringChunked = bin.iter().map(|b| b.map(hex)).collect();
    Ok(text.with_name(c.name().clone()).into_column())
}

fn write_one(df: &mut DataFrame, path: &Path, opts: &WriteOptions) -> Result<(), FrameError> {
    let file = File::create(path).map_err(|e| FrameError::io(path, e))?;
    let mut w = BufWriter::new(file);
    // polars' writer errors (a full disk among them) do not say which file: this does.
    let located = |e: PolarsError| FrameError::Invalid(format!("{}: {e}", path.display()));
    match opts.format {
        FileFormat::Parquet => {
            let kv = (!opts.metadata.is_empty())
                .then(|| KeyValueMetadata::from_static(opts.metadata.clone()));
            ParquetWriter::new(&mut w)
                .with_compression(ParquetCompression::Snappy)
                .with_key_value_metadata(kv)
                .finish(df)
                .map_err(located)?;
        }
        FileFormat::Csv => {
            binary_as_hex(df)?;
            CsvWriter::new(&mut w)
                .include_header(true)
                .finish(df)
                .map_err(located)?;
        }
        FileFormat::Ndjson => {
            binary_as_hex(df)?;
            JsonWriter::new(&mut w)
                .with_json_format(JsonFormat::JsonLines)
                .finish(df)
                .map_err(located)?;
        }
    }
    w.flush().map_err(|e| FrameError::io(path, e))?;
    Ok(())
}
