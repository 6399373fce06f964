//! End-to-end: `mapsleuth export`, `mapsleuth query` and `diff -o` on corpus dumps and
//! capture files; rendered outputs snapshotted into snapshots/.

use std::path::PathBuf;

use mapsleuth_frames::polars::prelude::*;

mod support;

use support::{run, Run};

fn status(args: &[&str], code: i32) -> Run {
    let r = run(args);
    assert_eq!(r.code, code, "mapsleuth {args:?}: {}{}", r.stdout, r.stderr);
    r
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mapsleuth-cli-frames-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

fn read_parquet(path: &PathBuf) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

const FLOWS: [&str; 5] = [
    "dumps/flows.json",
    "--btf",
    "bpf/maps.bpf.o",
    "--map",
    "flows",
];

#[test]
fn query_prints_tables() {
    let top = [
        &["query", r#"SELECT "key.saddr", "key.dport", "value.packets", "value.bytes", "value.state" FROM entries ORDER BY "value.bytes" DESC LIMIT 3"#][..],
        &FLOWS[..],
    ]
    .concat();
    snap!("query_top_flows", status(&top, 0).stdout);
    let by_code = [
        "query",
        "SELECT code, severity, COUNT(*) AS n FROM findings GROUP BY code, severity ORDER BY code",
        "dumps/events.json",
        "dumps/flows.json",
        "dumps/conns.json",
        "--btf",
        "bpf/maps.bpf.o",
    ];
    snap!("query_findings_by_code", status(&by_code, 0).stdout);
    let layout = [
        &[
            "query",
            "SELECT role, type_name, path, byte_offset, byte_size, kind, leaf_type FROM layout",
        ][..],
        &FLOWS[..],
    ]
    .concat();
    snap!("query_layout", status(&layout, 0).stdout);
}

#[test]
fn query_formats_for_machines() {
    let sql =
        r#"SELECT "key.sport", "value.state", key_bytes FROM entries ORDER BY "key.sport" LIMIT 2"#;
    let json = status(
        &[&["query", sql][..], &FLOWS[..], &["--format", "json"]].concat(),
        0,
    );
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(rows[0]["key.sport"].is_number());
    assert!(
        rows[0]["key_bytes"].as_str().unwrap().len() == 32,
        "16 key bytes as hex"
    );
    let nd = status(
        &[&["query", sql][..], &FLOWS[..], &["--format", "ndjson"]].concat(),
        0,
    );
    let lines: Vec<serde_json::Value> = nd
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(serde_json::Value::Array(lines), rows);
    let csv = status(
        &[&["query", sql][..], &FLOWS[..], &["--format", "csv"]].concat(),
        0,
    );
    let mut lines = csv.stdout.lines();
    assert_eq!(lines.next(), Some("key.sport,value.state,key_bytes"));
    assert_eq!(lines.count(), 2);
    // --max-rows cuts the table, not the data.
    let cut = status(
        &[
            &["query", "SELECT entry FROM entries", "--max-rows", "2"][..],
            &FLOWS[..],
        ]
        .concat(),
        0,
    );
    assert!(cut.stdout.contains("rows, 2 shown"), "{}", cut.stdout);
}

#[test]
fn export_writes_what_query_reads() {
    let out = temp("flows.parquet");
    let o = out.to_str().unwrap();
    let r = status(&[&["export", "-o", o][..], &FLOWS[..]].concat(), 0);
    assert!(r.stderr.contains("wrote 6 rows"), "{}", r.stderr);
    let df = read_parquet(&out);
    let q = status(
        &[
            &["query", "SELECT * FROM entries", "--format", "csv"][..],
            &FLOWS[..],
        ]
        .concat(),
        0,
    );
    assert_eq!(q.stdout.lines().count(), df.height() + 1);
    assert_eq!(
        q.stdout.lines().next().unwrap(),
        df.get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    // The other tables and formats.
    for (table, file) in [
        ("findings", "f.csv"),
        ("layout", "l.ndjson"),
        ("entries", "e.jsonl"),
    ] {
        let p = temp(file);
        status(
            &[
                &["export", "-o", p.to_str().unwrap(), "--table", table][..],
                &FLOWS[..],
            ]
            .concat(),
            0,
        );
        // As many rows (lines past a CSV header) as the table has in SQL.
        let text = std::fs::read_to_string(&p).unwrap();
        let lines = text.lines().count() - usize::from(file.ends_with(".csv"));
        let count = status(
            &[
                &[
                    "query",
                    &format!("SELECT COUNT(*) AS n FROM {table}"),
                    "--format",
                    "csv",
                ][..],
                &FLOWS[..],
            ]
            .concat(),
            0,
        );
        let n: usize = count.stdout.lines().nth(1).unwrap().parse().unwrap();
        assert!(n > 0, "{table}");
        assert_eq!(lines, n, "{table}");
    }
}

/// Captures: the snapshot column and the Parquet metadata carry the snapshot; two
/// captures give the changes table, the same rows `diff` prints.
#[test]
fn captures_carry_their_snapshot_into_frames() {
    let old = support::flows_capture("flows.json", "node-1", 1_700_000_000, "frames-old.mscap");
    let new = support::flows_capture(
        "flows.after.json",
        "node-1",
        1_700_000_600,
        "frames-new.mscap",
    );
    let out = temp("snap.parquet");
    status(&["export", &old, &new, "-o", out.to_str().unwrap()], 0);
    let df = read_parquet(&out);
    let snaps = df.column("snapshot").unwrap().unique().unwrap();
    assert_eq!(snaps.len(), 2);
    assert_eq!(df.column("snapshot").unwrap().null_count(), 0);
    let meta = ParquetReader::new(std::fs::File::open(&out).unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    let kv: std::collections::HashMap<String, String> = meta
        .key_value_metadata()
        .as_ref()
        .unwrap()
        .iter()
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv["mapsleuth.table"], "entries");
    assert_eq!(kv["mapsleuth.tool_version"], env!("CARGO_PKG_VERSION"));
    assert!(!kv.contains_key("mapsleuth.snapshot_id"), "two snapshots");
    // One capture: its snapshot id is the file's.
    let one = temp("one.parquet");
    status(&["export", &old, "-o", one.to_str().unwrap()], 0);
    let meta = ParquetReader::new(std::fs::File::open(&one).unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    let id = meta
        .key_value_metadata()
        .as_ref()
        .unwrap()
        .iter()
        .find(|k| k.key == "mapsleuth.snapshot_id")
        .and_then(|k| k.value.clone())
        .unwrap();
    let col = read_parquet(&one)
        .column("snapshot")
        .unwrap()
        .get(0)
        .unwrap()
        .get_str()
        .map(str::to_string);
    assert_eq!(Some(id), col);
    let sources: serde_json::Value = serde_json::from_str(&kv["mapsleuth.sources"]).unwrap();
    assert_eq!(sources.as_array().unwrap().len(), 2);
    assert_eq!(sources[0]["snapshot"]["hostname"], "node-1");
    assert_eq!(sources[0]["snapshot"]["digest"].as_str().unwrap().len(), 64);

    let changes = temp("changes.parquet");
    status(
        &[
            "export",
            &old,
            &new,
            "-o",
            changes.to_str().unwrap(),
            "--table",
            "changes",
        ],
        0,
    );
    let ch = read_parquet(&changes);
    let nd = status(&["diff", &old, &new, "--format", "ndjson"], 0);
    assert_eq!(ch.height(), nd.stdout.lines().count());
    assert_eq!(ch.column("old_snapshot").unwrap().null_count(), 0);
    // diff -o writes the same frame.
    let via_diff = temp("diff-changes.parquet");
    status(&["diff", &old, &new, "-o", via_diff.to_str().unwrap()], 0);
    assert!(read_parquet(&via_diff).equals_missing(&ch));
    // SQL over the changes.
    let q = status(
        &[
            "query",
            "SELECT kind, COUNT(*) AS n FROM changes GROUP BY kind ORDER BY kind",
            &old,
            &new,
        ],
        0,
    );
    snap!("query_changes_by_kind", q.stdout);
}

#[test]
fn usage_errors_name_the_problem() {
    let r = status(
        &[&["query", "SELECT * FROM maps"][..], &FLOWS[..]].concat(),
        2,
    );
    assert!(
        r.stderr.contains("maps") && r.stderr.contains("the tables are entries"),
        "{}",
        r.stderr
    );
    let r = status(&[&["export", "-o", "out.xlsx"][..], &FLOWS[..]].concat(), 2);
    assert!(r.stderr.contains("--output-format"), "{}", r.stderr);
    let r = status(
        &[&["query", "SELECT * FROM changes"][..], &FLOWS[..]].concat(),
        2,
    );
    assert!(r.stderr.contains("two or more dumps"), "{}", r.stderr);
    // One input holding two maps of one name (ids 370 and 371): two maps, never one
    // map's change (this used to report one map's entries removed and added).
    let r = status(&["query", "SELECT * FROM changes", "dumps/multi.json"], 2);
    assert!(
        r.stderr.contains("two or more dumps")
            && r.stderr.contains("ms_dup (id 370), ms_dup (id 371)"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    let p = temp("part");
    let r = status(
        &[
            &[
                "export",
                "-o",
                p.to_str().unwrap(),
                "--output-format",
                "csv",
                "--partition-by",
                "nope",
            ][..],
            &FLOWS[..],
        ]
        .concat(),
        2,
    );
    assert!(
        r.stderr.contains("--partition-by nope: no such column"),
        "{}",
        r.stderr
    );
    let r = status(
        &[
            &["query", "SELECT nosuchcolumn FROM entries"][..],
            &FLOWS[..],
        ]
        .concat(),
        2,
    );
    assert!(r.stderr.contains("nosuchcolumn"), "{}", r.stderr);
}

/// A map of maps captured with --recursive: the entries frame links each outer key to
/// its inner map (`inner_map_id`, the inner map's `map_id` in the same capture); other
/// maps' rows have a null there.
#[test]
fn entries_link_outer_keys_to_inner_maps() {
    let out = temp("outer.parquet");
    let o = out.to_str().unwrap();
    status(&["export", "-o", o, "captures/outer.mscap"], 0);
    let df = read_parquet(&out);
    let q = status(
        &[
            "query",
            "SELECT o.key_hex AS outer_key, o.inner_map_id, i.map AS inner_map, i.key_hex AS \
             inner_key, i.value_bytes AS inner_value FROM entries o JOIN entries i \
             ON i.map_id = o.inner_map_id ORDER BY outer_key, inner_key",
            "captures/outer.mscap",
            "--format",
            "csv",
        ],
        0,
    );
    snap!("query_outer_inner_maps", q.stdout.clone());
    let ids = df.column("inner_map_id").unwrap();
    assert_eq!(ids.dtype(), &DataType::UInt32);
    // 2 outer rows with a link, 8 inner rows without.
    assert_eq!((ids.len(), ids.null_count()), (10, 8));
    // The ring capture: keyless records, every row's key null.
    let q = status(
        &[
            "query",
            "SELECT entry, \"value.pid\", \"value.comm\", error, codes FROM entries ORDER BY entry",
            "captures/ring.mscap",
            "--btf",
            "captures/ring_event.bpf.o",
            "--record-type",
            "struct event",
            "--format",
            "csv",
        ],
        0,
    );
    snap!("query_ring_records", q.stdout);
}
