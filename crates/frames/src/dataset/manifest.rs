//! The dataset's manifest (`DIR/_mapsleuth/dataset.json`): which snapshots the dataset
//! holds and their part files, the columns of each table, and the state of a commit
//! in flight. It is the dataset's truth: `query --dataset` reads the parts it names and
//! no other, and an interrupted export is rolled back from what it records.

use polars::prelude::DataType;
use serde_json::{json, Value};

/// One snapshot's key (a capture's digest, or `file:PATH`) and its part files.
pub type SnapshotParts = (String, Vec<String>);

/// Column name and dtype name (`u32`, `str`, `binary`, ...; see [`dtype_name`]).
pub type ColumnType = (String, String);

/// What a manifest says (see [`parse_manifest`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub partition_by: Vec<String>,
    /// The dtype of each partition column in the frames written: folder names are text,
    /// the scan gives them back their type.
    pub partition_types: Vec<ColumnType>,
    /// The committed snapshots, in the order they were added.
    pub snapshots: Vec<SnapshotParts>,
    /// Table → every column its parts have had (the union, first seen first): a query
    /// whose partitions lack one still has it, as nulls.
    pub columns: Vec<(String, Vec<ColumnType>)>,
    /// Commits so far: new parts are named after the commit that adds them, so a
    /// replacement never takes the name of a part it replaces.
    pub commits: u64,
    /// A snapshot whose parts were being moved into place and that was not committed:
    /// an export that finds one removes those parts (the commit did not happen).
    pub pending: Option<SnapshotParts>,
    /// Parts of replaced snapshots not yet removed (no snapshot names them).
    pub retired: Vec<String>,
}

impl Manifest {
    /// The manifest as the JSON [`parse_manifest`] reads.
    pub fn to_json(&self) -> String {
        let snaps = |s: &SnapshotParts| json!({"key": s.0, "files": s.1});
        let pairs =
            |cols: &[ColumnType]| -> Value { cols.iter().map(|(n, t)| json!([n, t])).collect() };
        let types: serde_json::Map<String, Value> = self
            .partition_types
            .iter()
            .map(|(c, t)| (c.clone(), Value::from(t.as_str())))
            .collect();
        let columns: serde_json::Map<String, Value> = self
            .columns
            .iter()
            .map(|(t, cols)| (t.clone(), pairs(cols)))
            .collect();
        let mut v = json!({
            "format": 1,
            "partition_by": self.partition_by,
            "partition_types": types,
            "columns": columns,
            "commits": self.commits,
            "snapshots": self.snapshots.iter().map(snaps).collect::<Vec<_>>(),
        });
        if let Some(p) = &self.pending {
            v["pending"] = snaps(p);
        }
        if !self.retired.is_empty() {
            v["retired"] = json!(self.retired);
        }
        format!("{v:#}\n")
    }

    /// Adds the columns of a frame written to `table` to the table's union.
    pub fn note_columns(&mut self, table: &str, cols: &[ColumnType]) {
        let i = match self.columns.iter().position(|(t, _)| t == table) {
            Some(i) => i,
            None => {
                self.columns.push((table.to_string(), Vec::new()));
                self.columns.len() - 1
            }
        };
        let known = &mut self.columns[i].1;
        for c in cols {
            if !known.iter().any(|(n, _)| *n == c.0) {
                known.push(c.clone());
            }
        }
    }

    /// The union of `table`'s columns, if the manifest records it.
    pub fn columns_of(&self, table: &str) -> Option<&[ColumnType]> {
        self.columns
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, c)| c.as_slice())
    }
}

/// The name a manifest gives a dtype: every dtype a frame column has (docs/frames.md).
pub fn dtype_name(t: &DataType) -> Option<&'static str> {
    Some(match t {
        DataType::Boolean => "bool",
        DataType::UInt8 => "u8",
        DataType::UInt16 => "u16",
        DataType::UInt32 => "u32",
        DataType::UInt64 => "u64",
        DataType::Int8 => "i8",
        DataType::Int16 => "i16",
        DataType::Int32 => "i32",
        DataType::Int64 => "i64",
        DataType::Float32 => "f32",
        DataType::Float64 => "f64",
        DataType::String => "str",
        DataType::Binary => "binary",
        _ => return None,
    })
}

/// The dtype a manifest names (the inverse of [`dtype_name`]).
pub fn dtype_named(name: &str) -> Option<DataType> {
    Some(match name {
        "bool" => DataType::Boolean,
        "u8" => DataType::UInt8,
        "u16" => DataType::UInt16,
        "u32" => DataType::UInt32,
        "u64" => DataType::UInt64,
        "i8" => DataType::Int8,
        "i16" => DataType::Int16,
        "i32" => DataType::Int32,
        "i64" => DataType::Int64,
        "f32" => DataType::Float32,
        "f64" => DataType::Float64,
        "str" => DataType::String,
        "binary" => DataType::Binary,
        _ => return None,
    })
}

/// Reads a manifest's text. Every part path it names (committed, pending or retired)
/// must be a relative path inside a table folder (`entries/…/NAME.parquet`): the
/// manifest names the files an export removes, so one pointing elsewhere is refused.
/// Errors name the byte offset, or the field.
pub fn parse_manifest(text: &str) -> Result<Manifest, String> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("byte {}: {e}", byte_offset(text, e.line(), e.column())))?;
    if v["format"] != 1 {
        return Err(format!(
            "format {}: this mapsleuth reads format 1",
            v["format"]
        ));
    }
    let mut m = Manifest {
        partition_by: strings(&v["partition_by"], "partition_by")?,
        commits: match &v["commits"] {
            Value::Null => 0,
            n => n.as_u64().ok_or("commits: not a count")?,
        },
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
    if let Some(tables) = v["columns"].as_object() {
        for (t, cols) in tables {
            m.columns.push((t.clone(), column_types(cols, t)?));
        }
    }
    let Some(snaps) = v["snapshots"].as_array() else {
        return Err("snapshots: not an array".into());
    };
    for (i, s) in snaps.iter().enumerate() {
        m.snapshots
            .push(snapshot_parts(s, &format!("snapshots[{i}]"))?);
    }
    if !v["pending"].is_null() {
        m.pending = Some(snapshot_parts(&v["pending"], "pending")?);
    }
    if !v["retired"].is_null() {
        m.retired = part_paths(&v["retired"], "retired")?;
    }
    Ok(m)
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
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
}

fn part_paths(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let files = strings(v, what)?;
    if let Some((j, f)) = files.iter().enumerate().find(|(_, f)| !is_part_path(f)) {
        return Err(format!(
            "{what}[{j}]: `{f}` is not a part file inside a table folder"
        ));
    }
    Ok(files)
}

fn snapshot_parts(s: &Value, what: &str) -> Result<SnapshotParts, String> {
    let key = s["key"]
        .as_str()
        .ok_or(format!("{what}.key: not a string"))?;
    let files = part_paths(&s["files"], &format!("{what}.files"))?;
    Ok((key.to_string(), files))
}

fn column_types(v: &Value, table: &str) -> Result<Vec<ColumnType>, String> {
    let Some(a) = v.as_array() else {
        return Err(format!("columns.{table}: not an array"));
    };
    a.iter()
        .enumerate()
        .map(|(i, pair)| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(t)]) if dtype_named(t).is_some() => {
                Ok((n.clone(), t.clone()))
            }
            _ => Err(format!(
                "columns.{table}[{i}]: not a [name, dtype] pair of a known dtype"
            )),
        })
        .collect()
}

/// `TABLE/col=v/.../NAME.parquet`: relative, no `.`/`..`, inside one of the tables.
pub(crate) fn is_part_path(f: &str) -> bool {
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
        let escape = r#"["../../etc/passwd.parquet"]"#;
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
            (
                &format!(
                    r#"{{"format": 1, "partition_by": [], "snapshots": [], "retired": {escape}}}"#
                ),
                "retired[0]",
            ),
            (
                &format!(
                    r#"{{"format": 1, "partition_by": [], "snapshots": [], "pending": {{"key": "k", "files": {escape}}}}}"#
                ),
                "pending.files[0]",
            ),
            (
                r#"{"format": 1, "partition_by": [], "snapshots": [], "columns": {"entries": [["a", "decimal"]]}}"#,
                "columns.entries[0]",
            ),
            (
                r#"{"format": 1, "partition_by": [], "snapshots": [], "commits": -1}"#,
                "commits",
            ),
        ] {
            match parse_manifest(bad) {
                Err(e) => assert!(e.contains(says), "{bad}: {e}"),
                Ok(m) => unreachable!("{bad} parsed: {m:?}"),
            }
        }
    }

    #[test]
    fn a_manifest_reads_back_what_it_wrote() {
        let m = Manifest {
            partition_by: vec!["map".into(), "host".into()],
            partition_types: vec![("map".into(), "str".into()), ("host".into(), "str".into())],
            snapshots: vec![(
                "sha256:ab".into(),
                vec!["entries/map=a/host=h/s1-1-w0-part-0.parquet".into()],
            )],
            columns: vec![(
                "entries".into(),
                vec![
                    ("entry".into(), "u64".into()),
                    ("key_bytes".into(), "binary".into()),
                ],
            )],
            commits: 3,
            pending: Some((
                "sha256:cd".into(),
                vec!["findings/map=a/host=h/s2-4-w1-part-0.parquet".into()],
            )),
            retired: vec!["layout/map=a/host=h/s1-1-w2-part-0.parquet".into()],
        };
        assert_eq!(parse_manifest(&m.to_json()), Ok(m));
        for t in [
            "bool", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "str",
            "binary",
        ] {
            assert_eq!(dtype_named(t).as_ref().and_then(dtype_name), Some(t));
        }
    }
}
