//! Export round trips (Parquet, CSV, NDJSON, hive partitions) read back with polars and
//! with readers that share no code with it (pyarrow and DuckDB, see interop.py), and SQL
//! answers against values computed here from the dumps with the tree decoder.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{analysed, object, Analysed, Object};
use mapsleuth_dump::hex::encode as hex;
use mapsleuth_forensics::decode::{Decoder, Value};
use mapsleuth_frames::polars::prelude::*;
use mapsleuth_frames::{entries, findings, query, write, FileFormat, WriteOptions};
use serde_json::Value as J;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mapsleuth-frames-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

/// Dumps of every shape: structs, a scalar key, per-CPU values, no types (a map of
/// maps), lookup errors, and a plain listing with only bpftool's decoding.
const MIX: [(&str, &str); 7] = [
    ("flows.json", "flows"),
    ("events.json", "events"),
    ("pcpu_hash_stats.json", "pcpu_hash_stats"),
    ("outer_hash.json", "outer_hash"),
    ("conns.json", "conns"),
    ("addrs.json", "addrs"),
    ("events.txt", "events"),
];

fn mix(obj: &Object) -> Vec<Analysed<'_>> {
    MIX.iter().map(|(f, m)| analysed(obj, f, m)).collect()
}

fn frame_of(parts: &[Analysed<'_>]) -> DataFrame {
    let inputs: Vec<_> = parts.iter().map(|a| a.input()).collect();
    entries(&inputs).unwrap()
}

fn opts(format: FileFormat) -> WriteOptions {
    WriteOptions {
        format,
        partition_by: Vec::new(),
        metadata: vec![
            ("mapsleuth.table".into(), "entries".into()),
            (
                "mapsleuth.snapshot_id".into(),
                "2026-11-22T10:00:00Z".into(),
            ),
        ],
    }
}

/// A cell as JSON, the way interop.py prints what pyarrow and DuckDB read.
fn json_cell(v: &AnyValue<'_>) -> J {
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::UInt8(x) => J::from(*x),
        AnyValue::UInt16(x) => J::from(*x),
        AnyValue::UInt32(x) => J::from(*x),
        AnyValue::UInt64(x) => J::from(*x),
        AnyValue::Int8(x) => J::from(*x),
        AnyValue::Int16(x) => J::from(*x),
        AnyValue::Int32(x) => J::from(*x),
        AnyValue::Int64(x) => J::from(*x),
        AnyValue::Float64(x) => J::from(*x),
        AnyValue::String(s) => J::from(*s),
        AnyValue::StringOwned(s) => J::from(s.as_str()),
        AnyValue::Binary(b) => J::from(hex(b)),
        AnyValue::BinaryOwned(b) => J::from(hex(b)),
        other => panic!("unexpected cell {other:?}"),
    }
}

/// A cell as CSV text: what our writer puts in a field (nulls empty, bytes as hex).
fn text_cell(v: &AnyValue<'_>) -> Option<String> {
    match json_cell(v) {
        J::Null => None,
        J::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// Parquet: polars reads back the same frame, schema and values.
#[test]
fn parquet_round_trip_through_polars() {
    let obj = object("bpf/maps.bpf.o");
    let parts = mix(&obj);
    let df = frame_of(&parts);
    assert!(
        df.column("formatted").is_ok(),
        "events.txt has only bpftool's decoding"
    );
    let path = temp("entries.parquet");
    let w = write(&df, &path, &opts(FileFormat::Parquet)).unwrap();
    assert_eq!(w.rows, df.height());
    let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
        .finish()
        .unwrap();
    assert_eq!(back.schema(), df.schema());
    assert!(back.equals_missing(&df));
}

/// CSV and NDJSON: every cell reads back as the text of the original (bytes as hex).
#[test]
fn csv_and_ndjson_round_trip_through_polars() {
    let obj = object("bpf/maps.bpf.o");
    let df = frame_of(&mix(&obj));
    let csv = temp("entries.csv");
    write(&df, &csv, &opts(FileFormat::Csv)).unwrap();
    let back = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv.clone()))
        .unwrap()
        .finish()
        .unwrap();
    compare_as_text(&df, &back, "csv");

    let nd = temp("entries.ndjson");
    write(&df, &nd, &opts(FileFormat::Ndjson)).unwrap();
    let text = std::fs::read_to_string(&nd).unwrap();
    let lines: Vec<J> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), df.height());
    for (row, line) in lines.iter().enumerate() {
        for c in df.columns() {
            let ours = json_cell(&c.get(row).unwrap());
            let theirs = line.get(c.name().as_str()).cloned().unwrap_or(J::Null);
            assert_eq!(theirs, ours, "ndjson row {row} {}", c.name());
        }
    }
}

fn compare_as_text(df: &DataFrame, back: &DataFrame, what: &str) {
    assert_eq!(back.height(), df.height(), "{what}: rows");
    assert_eq!(back.width(), df.width(), "{what}: columns");
    for c in df.columns() {
        let b = back.column(c.name()).unwrap();
        for row in 0..df.height() {
            let ours = text_cell(&c.get(row).unwrap());
            let theirs = match b.get(row).unwrap() {
                AnyValue::Null => None,
                v => Some(v.get_str().unwrap().to_string()),
            };
            // An empty string and a null are one thing in CSV.
            let ours = ours.filter(|s| !s.is_empty());
            let theirs = theirs.filter(|s| !s.is_empty());
            assert_eq!(theirs, ours, "{what} row {row} {}", c.name());
        }
    }
}

/// Runs interop.py; `None` (with a visible SKIP) when pyarrow or DuckDB is missing and
/// the run does not require them (scripts/test.sh installs them and requires them).
fn interop(mode: &str, path: &Path) -> Option<J> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let python = std::env::var("MAPSLEUTH_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var_os("MAPSLEUTH_REQUIRE_INTEROP").is_some();
    let out = Command::new(&python)
        .arg(&script)
        .arg(mode)
        .arg(path)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).unwrap()),
        Ok(o)
            if !required && String::from_utf8_lossy(&o.stderr).contains("ModuleNotFoundError") =>
        {
            eprintln!("SKIP {mode}: pyarrow/duckdb not installed (scripts/test.sh installs them)");
            None
        }
        Err(e) if !required => {
            eprintln!("SKIP {mode}: no {python}: {e}");
            None
        }
        Ok(o) => panic!(
            "interop.py {mode} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("interop.py {mode}: {e}"),
    }
}

/// What pyarrow and DuckDB call our dtypes.
fn reader_types(dtype: &DataType) -> (&'static [&'static str], &'static str) {
    match dtype {
        DataType::Boolean => (&["bool"], "BOOLEAN"),
        DataType::UInt8 => (&["uint8"], "UTINYINT"),
        DataType::UInt16 => (&["uint16"], "USMALLINT"),
        DataType::UInt32 => (&["uint32"], "UINTEGER"),
        DataType::UInt64 => (&["uint64"], "UBIGINT"),
        DataType::Int8 => (&["int8"], "TINYINT"),
        DataType::Int16 => (&["int16"], "SMALLINT"),
        DataType::Int32 => (&["int32"], "INTEGER"),
        DataType::Int64 => (&["int64"], "BIGINT"),
        DataType::Float64 => (&["double"], "DOUBLE"),
        DataType::String => (&["string", "large_string", "string_view"], "VARCHAR"),
        DataType::Binary => (&["binary", "large_binary", "binary_view"], "BLOB"),
        other => panic!("no reader type for {other}"),
    }
}

fn compare_rows(df: &DataFrame, seen: &J, reader: &str) {
    let data = seen["data"].as_array().unwrap();
    assert_eq!(data.len(), df.height(), "{reader}: rows");
    for (row, r) in data.iter().enumerate() {
        for c in df.columns() {
            let ours = json_cell(&c.get(row).unwrap());
            assert_eq!(
                r[c.name().as_str()],
                ours,
                "{reader} row {row} {}",
                c.name()
            );
        }
    }
}

/// pyarrow and DuckDB read our Parquet with the same row count, dtypes, values and
/// metadata.
#[test]
fn parquet_reads_the_same_in_pyarrow_and_duckdb() {
    let obj = object("bpf/maps.bpf.o");
    let df = frame_of(&mix(&obj));
    let path = temp("interop.parquet");
    write(&df, &path, &opts(FileFormat::Parquet)).unwrap();

    let Some(pa) = interop("pyarrow", &path) else {
        return;
    };
    assert_eq!(pa["rows"], df.height());
    for c in df.columns() {
        let (names, _) = reader_types(c.dtype());
        let t = pa["types"][c.name().as_str()].as_str().unwrap();
        assert!(names.contains(&t), "pyarrow: {} is {t}", c.name());
    }
    assert_eq!(pa["metadata"]["mapsleuth.table"], "entries");
    assert_eq!(
        pa["metadata"]["mapsleuth.snapshot_id"],
        "2026-11-22T10:00:00Z"
    );
    compare_rows(&df, &pa, "pyarrow");

    let duck = interop("duckdb", &path).unwrap();
    assert_eq!(duck["rows"], df.height());
    for c in df.columns() {
        let (_, name) = reader_types(c.dtype());
        assert_eq!(
            duck["types"][c.name().as_str()],
            name,
            "duckdb: {}",
            c.name()
        );
    }
    compare_rows(&df, &duck, "duckdb");
}

/// --partition-by: one folder per value, the hive layout DuckDB reads back as one table.
#[test]
fn partitioned_export_is_read_back_by_duckdb() {
    let obj = object("bpf/maps.bpf.o");
    let df = frame_of(&mix(&obj));
    let dir = temp("fleet");
    let mut o = opts(FileFormat::Parquet);
    o.partition_by = vec!["map".into(), "cpu".into()];
    let w = write(&df, &dir, &o).unwrap();
    assert_eq!(w.rows, df.height());
    // One file per (map, cpu) pair, under map=NAME/cpu=N (or the hive null).
    let groups: std::collections::BTreeSet<(String, String)> = (0..df.height())
        .map(|r| {
            let m = text_cell(&df.column("map").unwrap().get(r).unwrap());
            let c = text_cell(&df.column("cpu").unwrap().get(r).unwrap());
            let h = |v: Option<String>| v.unwrap_or_else(|| "__HIVE_DEFAULT_PARTITION__".into());
            (h(m), h(c))
        })
        .collect();
    assert_eq!(w.files.len(), groups.len());
    for (m, c) in &groups {
        let f = dir
            .join(format!("map={m}"))
            .join(format!("cpu={c}"))
            .join("part-0.parquet");
        assert!(f.is_file(), "{}", f.display());
    }
    // Writing again over a full directory is refused.
    assert!(write(&df, &dir, &o).is_err());
    // An unknown column is named.
    let mut bad = opts(FileFormat::Parquet);
    bad.partition_by = vec!["nope".into()];
    let e = write(&df, &temp("bad"), &bad).unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("entry"), "{e}");

    let Some(duck) = interop("duckdb-hive", &dir) else {
        return;
    };
    assert_eq!(duck["rows"], df.height());
    let mut per_map: BTreeMap<String, usize> = BTreeMap::new();
    for r in duck["data"].as_array().unwrap() {
        *per_map
            .entry(r["map"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    let mut ours: BTreeMap<String, usize> = BTreeMap::new();
    for r in 0..df.height() {
        let m = text_cell(&df.column("map").unwrap().get(r).unwrap()).unwrap_or_default();
        *ours.entry(m).or_default() += 1;
    }
    assert_eq!(per_map, ours);
}

fn u64_of(v: &AnyValue<'_>) -> u64 {
    match v {
        AnyValue::UInt64(x) => *x,
        AnyValue::UInt32(x) => u64::from(*x),
        AnyValue::Int64(x) => *x as u64,
        AnyValue::Int32(x) => *x as u64,
        AnyValue::UInt16(x) => u64::from(*x),
        other => panic!("not a number: {other:?}"),
    }
}

fn int_at(v: &Value, path: &str) -> i128 {
    v.path(path).and_then(Value::as_int).unwrap()
}

/// Top-N by a field: the SQL answer equals sorting the tree-decoded values here.
#[test]
fn sql_top_n_by_a_field() {
    let obj = object("bpf/maps.bpf.o");
    let parts = vec![
        analysed(&obj, "flows.json", "flows"),
        analysed(&obj, "flows.after.json", "flows"),
    ];
    let df = frame_of(&parts);
    let got = query(
        r#"SELECT source, "key.saddr", "key.dport", "value.bytes" FROM entries
           ORDER BY "value.bytes" DESC, source, "key.saddr" LIMIT 4"#,
        vec![("entries", df)],
    )
    .unwrap();
    let mut expected: Vec<(i128, String, i128, i128)> = Vec::new();
    for a in &parts {
        let t = a.types;
        let kd = Decoder::new(t.key.unwrap().table, t.key.unwrap().id).unwrap();
        let vd = Decoder::new(t.value.unwrap().table, t.value.unwrap().id).unwrap();
        for e in a.dump.entries() {
            let k = kd.decode(e.key().unwrap()).unwrap();
            let v = vd.decode(e.value().unwrap()).unwrap();
            expected.push((
                -int_at(&v, "bytes"),
                a.dump.source.name.to_string(),
                int_at(&k, "saddr"),
                int_at(&k, "dport"),
            ));
        }
    }
    expected.sort();
    assert_eq!(got.height(), 4);
    for (row, (neg_bytes, source, saddr, dport)) in expected.iter().take(4).enumerate() {
        let g = |c: &str| got.column(c).unwrap().get(row).unwrap();
        assert_eq!(g("source").get_str(), Some(source.as_str()));
        assert_eq!(i128::from(u64_of(&g("value.bytes"))), -neg_bytes);
        assert_eq!(i128::from(u64_of(&g("key.saddr"))), *saddr);
        assert_eq!(i128::from(u64_of(&g("key.dport"))), *dport);
    }
}

/// Count findings by code: the SQL answer equals counting the analyses' findings.
#[test]
fn sql_counts_findings_by_code() {
    let obj = object("bpf/maps.bpf.o");
    let parts: Vec<_> = common::all_json_dumps(&obj);
    let inputs: Vec<_> = parts.iter().map(|a| a.input()).collect();
    let got = query(
        "SELECT code, COUNT(*) AS n FROM findings GROUP BY code ORDER BY code",
        vec![("findings", findings(&inputs).unwrap())],
    )
    .unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for a in &parts {
        for f in &a.analysis.findings {
            *expected.entry(f.code.clone()).or_default() += 1;
        }
    }
    assert!(expected.len() >= 5, "{expected:?}");
    let mut seen = BTreeMap::new();
    for row in 0..got.height() {
        let code = got.column("code").unwrap().get(row).unwrap();
        let n = u64_of(&got.column("n").unwrap().get(row).unwrap());
        seen.insert(code.get_str().unwrap().to_string(), n);
    }
    assert_eq!(seen, expected);
}

/// Join entries with findings: each finding's key finds its entry, as a scan of the dump
/// does.
#[test]
fn sql_joins_entries_with_findings() {
    let obj = object("bpf/maps.bpf.o");
    let parts: Vec<_> = common::all_json_dumps(&obj);
    let inputs: Vec<_> = parts.iter().map(|a| a.input()).collect();
    let got = query(
        "SELECT f.source, f.code, e.entry FROM findings f
         JOIN entries e ON e.key_hex = f.key AND e.source = f.source
         WHERE e.cpu IS NULL OR e.cpu = 0
         ORDER BY f.source, f.code, e.entry",
        vec![
            ("findings", findings(&inputs).unwrap()),
            ("entries", entries(&inputs).unwrap()),
        ],
    )
    .unwrap();
    let mut expected = Vec::new();
    for a in &parts {
        for f in &a.analysis.findings {
            let Some(key) = &f.location.key else { continue };
            for e in a.dump.entries() {
                if e.key().map(hex).as_deref() == Some(key.as_str()) {
                    expected.push((a.dump.source.name.to_string(), f.code.clone(), e.index()));
                }
            }
        }
    }
    expected.sort();
    assert!(!expected.is_empty());
    let mut seen = Vec::new();
    for row in 0..got.height() {
        let g = |c: &str| got.column(c).unwrap().get(row).unwrap();
        seen.push((
            g("source").get_str().unwrap().to_string(),
            g("code").get_str().unwrap().to_string(),
            u64_of(&g("entry")) as usize,
        ));
    }
    assert_eq!(seen, expected);
}

/// Per-CPU rows summed in SQL equal the decoder's sum over the CPUs.
#[test]
fn sql_sums_per_cpu_values() {
    let obj = object("bpf/maps.bpf.o");
    let a = analysed(&obj, "pcpu_hash_stats.json", "pcpu_hash_stats");
    let got = query(
        r#"SELECT key_hex, SUM("value.packets") AS packets, COUNT(*) AS cpus
           FROM entries GROUP BY key_hex ORDER BY key_hex"#,
        vec![("entries", entries(&[a.input()]).unwrap())],
    )
    .unwrap();
    let vd = Decoder::new(a.types.value.unwrap().table, a.types.value.unwrap().id).unwrap();
    let mut expected = Vec::new();
    for e in a.dump.entries() {
        let per = vd.decode_percpu(e.values()).unwrap();
        let sum = per.sum.unwrap();
        expected.push((
            hex(e.key().unwrap()),
            int_at(&sum, "packets"),
            e.value_count(),
        ));
    }
    expected.sort();
    assert_eq!(got.height(), expected.len());
    for (row, (k, packets, cpus)) in expected.iter().enumerate() {
        let g = |c: &str| got.column(c).unwrap().get(row).unwrap();
        assert_eq!(g("key_hex").get_str(), Some(k.as_str()));
        assert_eq!(i128::from(u64_of(&g("packets"))), *packets);
        assert_eq!(u64_of(&g("cpus")) as usize, *cpus);
    }
}

/// The tables a query names are found, in any case; a common table expression is no
/// table of ours; an unknown table is refused with the list.
#[test]
fn tables_are_found_by_name() {
    use mapsleuth_frames::referenced_tables;
    let sql = "WITH t AS (SELECT key_hex FROM Entries) \
               SELECT * FROM findings f JOIN t ON t.key_hex = f.key";
    assert_eq!(
        referenced_tables(sql).unwrap(),
        vec![
            ("entries", vec!["Entries".to_string()]),
            ("findings", vec!["findings".to_string()])
        ]
    );
    assert!(referenced_tables("SELEC nonsense").is_err());
    let obj = object("bpf/maps.bpf.o");
    let a = analysed(&obj, "events.json", "events");
    let inputs = [a.input()];
    let frames = || {
        vec![
            ("Entries", entries(&inputs).unwrap()),
            ("findings", findings(&inputs).unwrap()),
        ]
    };
    let got = query(sql, frames()).unwrap();
    let expected = a
        .analysis
        .findings
        .iter()
        .filter(|f| {
            a.dump
                .entries()
                .any(|e| e.key().map(hex).as_deref() == f.location.key.as_deref())
        })
        .count();
    assert!(expected > 0);
    assert_eq!(got.height(), expected);
    let e = query("SELECT * FROM maps", frames())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("maps") && e.contains("entries, findings, layout, changes"),
        "{e}"
    );
}

/// Dumps whose columns share a name but not a dtype stack as text, bytes as hex; the
/// columns one dump lacks are null in its rows.
#[test]
fn concat_turns_conflicting_columns_into_text() {
    use mapsleuth_frames::concat;
    let a = DataFrame::new(
        2,
        vec![
            Column::new("x".into(), [1u32, 2]),
            Column::new("y".into(), ["a", "b"]),
        ],
    )
    .unwrap();
    let bytes: [&[u8]; 2] = [b"\x00\xff", b"ok"];
    let b = DataFrame::new(2, vec![Column::new("x".into(), bytes)]).unwrap();
    assert_eq!(b.column("x").unwrap().dtype(), &DataType::Binary);
    let both = concat(vec![a, b]).unwrap();
    let text = |c: &str| -> Vec<Option<String>> {
        let col = both.column(c).unwrap();
        (0..both.height())
            .map(|i| text_cell(&col.get(i).unwrap()))
            .collect()
    };
    assert_eq!(both.column("x").unwrap().dtype(), &DataType::String);
    let s = |v: &str| Some(v.to_string());
    assert_eq!(text("x"), [s("1"), s("2"), s("00ff"), s("6f6b")]);
    assert_eq!(text("y"), [s("a"), s("b"), None, None]);
}

/// Partition folder names: hive's null for null and "", `:` and `/` escaped, `.` never
/// a bare dot; values sharing a folder get a file each.
#[test]
fn partition_values_are_escaped_and_never_overwrite() {
    let snap: [Option<&str>; 5] = [
        Some("2026-11-22T10:00:00Z"),
        Some(""),
        None,
        Some("a/b"),
        Some("."),
    ];
    let df = DataFrame::new(
        5,
        vec![
            Column::new("snapshot".into(), snap),
            Column::new("n".into(), [1u32, 2, 3, 4, 5]),
        ],
    )
    .unwrap();
    let dir = temp("escaped");
    let mut o = opts(FileFormat::Csv);
    o.partition_by = vec!["snapshot".into()];
    let w = write(&df, &dir, &o).unwrap();
    assert_eq!(w.rows, 5);
    let mut files: Vec<String> = w
        .files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "snapshot=%2E/part-0.csv",
            "snapshot=2026-11-22T10%3A00%3A00Z/part-0.csv",
            "snapshot=__HIVE_DEFAULT_PARTITION__/part-0.csv",
            "snapshot=__HIVE_DEFAULT_PARTITION__/part-1.csv",
            "snapshot=a%2Fb/part-0.csv",
        ]
    );
    // Every row is in one file, without its partition column.
    let mut rows = 0;
    for f in &w.files {
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(text.lines().next(), Some("n"));
        rows += text.lines().count() - 1;
    }
    assert_eq!(rows, 5);
}

/// A file that cannot be written is named in the error.
#[test]
fn write_errors_name_the_file() {
    let obj = object("bpf/maps.bpf.o");
    let df = frame_of(&[analysed(&obj, "flows.json", "flows")]);
    let missing = temp("no-such-dir").join("out.parquet");
    let e = write(&df, &missing, &opts(FileFormat::Parquet))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such-dir/out.parquet"), "{e}");
    if Path::new("/dev/full").exists() {
        let e = write(&df, Path::new("/dev/full"), &opts(FileFormat::Csv))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/full"), "{e}");
    }
}
