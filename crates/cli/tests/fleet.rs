//! Fleet datasets end to end: `export CAPTURES -o DIR --partition-by map,host` appends
//! captures of several hosts (built from corpus dumps by the testkit) to a hive dataset,
//! `query --dataset DIR` reads it lazily; every count is checked against the same query
//! over the original inputs, and DuckDB and Spark read the dataset with the same counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mapsleuth_testkit::{corpus_fleet_maps, fleet_capture_bytes};
use serde_json::Value;

mod support;

use support::{run, Run};

fn status(args: &[&str], code: i32) -> Run {
    let r = run(args);
    assert_eq!(r.code, code, "mapsleuth {args:?}: {}{}", r.stdout, r.stderr);
    r
}

fn temp(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_dir_all(&p);
    let _ = std::fs::remove_file(&p);
    p
}

/// The fleet: h0, h1 and h2 at one time (h2 runs another flows table), and h0 again
/// ten minutes later (its flows changed): map `flows` and per-CPU `pcpu_hash_stats`.
fn fleet(dir: &Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let t0 = 1_700_000_000;
    let hosts = [
        ("h0", t0, "flows.json", "a"),
        ("h1", t0, "flows.json", "b"),
        ("h2", t0, "flows.after.json", "c"),
        ("h0", t0 + 600, "flows.after.json", "d"),
    ];
    hosts
        .iter()
        .map(|(host, secs, flows, tag)| {
            let path = dir.join(format!("{tag}-{host}.mscap"));
            let maps = corpus_fleet_maps(flows);
            std::fs::write(&path, fleet_capture_bytes(host, "6.18.0", *secs, &maps)).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

/// `export CAPTURES -o NAME --partition-by map,host EXTRA...` into a new dataset.
fn export_fleet(name: &str, captures: &[String], extra: &[&str]) -> PathBuf {
    let ds = temp(name);
    let inputs: Vec<&str> = captures.iter().map(String::as_str).collect();
    let out = ["-o", ds.to_str().unwrap(), "--partition-by", "map,host"];
    status(&[&["export"][..], &inputs, &out, extra].concat(), 0);
    ds
}

/// The host whose header [`fleet`] wrote into the capture (its name: TAG-HOST.mscap).
fn host_of(capture: &str) -> String {
    let name = Path::new(capture).file_stem().unwrap().to_str().unwrap();
    name.split_once('-').unwrap().1.to_string()
}

fn json_query(sql: &str, inputs: &[&str]) -> Vec<Value> {
    let r = status(
        &[&["query", sql, "--format", "json"][..], inputs].concat(),
        0,
    );
    serde_json::from_str::<Vec<Value>>(&r.stdout).unwrap()
}

fn dataset_query(sql: &str, dir: &Path) -> Vec<Value> {
    json_query(sql, &["--dataset", dir.to_str().unwrap()])
}

/// Every file under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    fn walk(d: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Rows of `table` per (map, host) in the dataset, and the same counted over each
/// capture queried alone (its host from its own header).
fn counts_match(ds: &Path, captures: &[String], table: &str) -> BTreeMap<(String, String), u64> {
    let sql = format!("SELECT map, host, COUNT(*) AS n FROM {table} GROUP BY map, host");
    let got: BTreeMap<(String, String), u64> = dataset_query(&sql, ds)
        .iter()
        .map(|r| {
            let k = (
                r["map"].as_str().unwrap().to_string(),
                r["host"].as_str().unwrap().to_string(),
            );
            (k, r["n"].as_u64().unwrap())
        })
        .collect();
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    let one = format!("SELECT map, COUNT(*) AS n FROM {table} GROUP BY map");
    for c in captures {
        let h = host_of(c);
        for r in json_query(&one, &[c]) {
            let k = (r["map"].as_str().unwrap().to_string(), h.clone());
            *want.entry(k).or_default() += r["n"].as_u64().unwrap();
        }
    }
    assert_eq!(got, want, "{table} per (map, host)");
    got
}

#[test]
fn dataset_export_partitions_counts_and_is_idempotent() {
    let caps = fleet(&temp("caps"));
    let ds = temp("ds");
    let d = ds.to_str().unwrap();
    // A directory of captures as the input.
    let dir = Path::new(&caps[0]).parent().unwrap().to_str().unwrap();
    let r = status(&["export", dir, "-o", d, "--partition-by", "map,host"], 0);
    assert!(r.stderr.contains("from 4 of 4 inputs"), "{}", r.stderr);
    // The hive folders: one per (map, host) the captures hold, in each table.
    let entries = counts_match(&ds, &caps, "entries");
    counts_match(&ds, &caps, "findings");
    for (map, host) in entries.keys() {
        let folder = ds
            .join("entries")
            .join(format!("map={map}"))
            .join(format!("host={host}"));
        assert!(folder.is_dir(), "{}", folder.display());
    }
    // Each capture is known by its digest, its last 32 bytes (what a re-export reads
    // to skip it without analysing it).
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(ds.join("_mapsleuth/dataset.json")).unwrap())
            .unwrap();
    for c in &caps {
        let bytes = std::fs::read(c).unwrap();
        let tail: String = bytes[bytes.len() - 32..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = format!("sha256:{tail}");
        let snaps = manifest["snapshots"].as_array().unwrap();
        assert!(snaps.iter().any(|s| s["key"] == key.as_str()), "{key}");
    }
    let before = files(&ds);
    assert!(before.iter().all(|f| !f.contains("tmp")), "{before:?}");

    // Again, as a glob the shell did not expand: skipped, and said so.
    let glob = format!("{dir}/*.mscap");
    let r = status(&["export", &glob, "-o", d, "--partition-by", "map,host"], 0);
    assert_eq!(
        r.stderr
            .matches("skipped, its snapshot is in the dataset already")
            .count(),
        4,
        "{}",
        r.stderr
    );
    assert_eq!(files(&ds), before);
    // --replace: replaced, same counts; the capture's parts are new files (named after
    // their commit), its old ones are gone, no other file changed.
    let r = status(
        &[
            "export",
            &caps[1],
            "-o",
            d,
            "--partition-by",
            "map,host",
            "--replace",
        ],
        0,
    );
    assert!(r.stderr.contains("replaced its snapshot"), "{}", r.stderr);
    assert_eq!(counts_match(&ds, &caps, "entries"), entries);
    let after = files(&ds);
    let gone: Vec<&String> = before.iter().filter(|f| !after.contains(f)).collect();
    let new: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    assert_eq!(gone.len(), new.len(), "{gone:?} → {new:?}");
    assert!(
        !gone.is_empty() && gone.iter().all(|f| f.contains("host=h1/")),
        "{gone:?}"
    );
    // A staging folder an interrupted export left is removed, and said so.
    let stale = ds.join("_mapsleuth/tmp-s0000000000000000-9");
    std::fs::create_dir_all(stale.join("w0")).unwrap();
    std::fs::write(stale.join("w0/part-0.parquet"), b"half").unwrap();
    let r = status(
        &["export", &caps[1], "-o", d, "--partition-by", "map,host"],
        0,
    );
    assert!(
        r.stderr.contains("removed the staging folder"),
        "{}",
        r.stderr
    );
    assert!(!stale.exists());
    assert_eq!(files(&ds), after);
    // A commit interrupted after its parts were moved into place (the manifest names
    // them pending): queries leave them out and warn, the next export removes them.
    let part = after.iter().find(|f| f.starts_with("entries/")).unwrap();
    let orphan = part.replace(".parquet", "-orphan.parquet");
    std::fs::copy(ds.join(part), ds.join(&orphan)).unwrap();
    let manifest_path = ds.join("_mapsleuth/dataset.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    m["pending"] = serde_json::json!({"key": "sha256:00", "files": [orphan]});
    std::fs::write(&manifest_path, m.to_string()).unwrap();
    let sql = "SELECT map, host, COUNT(*) AS n FROM entries GROUP BY map, host";
    let r = status(&["query", sql, "--dataset", d, "--format", "json"], 0);
    let warning = "an export was interrupted and left 1 part file that this query does not read";
    assert!(r.stderr.contains(warning), "{}", r.stderr);
    assert_eq!(counts_match(&ds, &caps, "entries"), entries);
    let r = status(
        &["export", &caps[1], "-o", d, "--partition-by", "map,host"],
        0,
    );
    let note = "snapshot sha256:00 was rolled back: 1 of its 1 parts";
    assert!(r.stderr.contains(note), "{}", r.stderr);
    assert_eq!(files(&ds), after);
    // Another partitioning of the same dataset is refused.
    let r = status(&["export", &caps[0], "-o", d, "--partition-by", "host"], 2);
    assert!(r.stderr.contains("partitioned by map,host"), "{}", r.stderr);
}

#[test]
fn bad_captures_are_skipped_with_their_offset() {
    let caps = fleet(&temp("bad-caps"));
    let good = std::fs::read(&caps[1]).unwrap();
    let cut = temp("cut.mscap");
    std::fs::write(&cut, &good[..good.len() - 100]).unwrap();
    let damaged = temp("damaged.mscap");
    let mut bytes = good.clone();
    let n = bytes.len();
    bytes[n - 50] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let ds = temp("bad-ds");
    let d = ds.to_str().unwrap();
    let (cut, damaged) = (cut.to_str().unwrap(), damaged.to_str().unwrap());
    let r = status(
        &[
            "export",
            &caps[0],
            cut,
            damaged,
            &caps[2],
            "-o",
            d,
            "--partition-by",
            "map,host",
        ],
        2,
    );
    for bad in [cut, damaged] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains(bad) && l.contains("error"))
            .unwrap_or_else(|| panic!("{}", r.stderr));
        assert!(line.contains("byte") && line.contains("skipped"), "{line}");
    }
    assert!(r.stderr.contains("2 failed"), "{}", r.stderr);
    // Everything of the good captures, nothing of the bad, no temporary file.
    counts_match(&ds, &[caps[0].clone(), caps[2].clone()], "entries");
    let all = files(&ds);
    assert!(all.iter().all(|f| !f.contains("tmp")), "{all:?}");
    // A directory that is no dataset is said to be one neither way.
    let caps_dir = Path::new(&caps[0]).parent().unwrap().to_str().unwrap();
    let sql = "SELECT count(*) FROM entries";
    let r = status(&["query", sql, "--dataset", caps_dir], 2);
    assert!(r.stderr.contains("no dataset there"), "{}", r.stderr);
    let r = status(
        &["export", &caps[0], "-o", caps_dir, "--partition-by", "map"],
        2,
    );
    assert!(r.stderr.contains("no mapsleuth dataset"), "{}", r.stderr);
}

#[test]
fn dataset_query_equals_query_of_the_inputs() {
    let caps = fleet(&temp("eq-caps"));
    let inputs: Vec<&str> = caps.iter().map(String::as_str).collect();
    let ds = export_fleet("eq-ds", &caps, &[]);
    let d = ds.to_str().unwrap();
    // Exported in chunks of at most 2 rows: more part files, the same rows.
    let chunked = export_fleet("eq-ds-chunked", &caps, &["--chunk-rows", "2"]);
    for sql in [
        "SELECT source, map, entry, cpu, key_hex, value_bytes, codes FROM entries \
         ORDER BY source, map, entry, cpu",
        "SELECT source, map, code, severity, field, byte_offset, key, message FROM findings \
         ORDER BY source, map, code, key, field",
    ] {
        let csv = |extra: &[&str]| {
            status(&[&["query", sql, "--format", "csv"][..], extra].concat(), 0).stdout
        };
        let of_inputs = csv(&inputs);
        assert_eq!(csv(&["--dataset", d]), of_inputs, "{sql}");
        assert_eq!(
            csv(&["--dataset", chunked.to_str().unwrap()]),
            of_inputs,
            "{sql}"
        );
    }
    // h1's flows (a plain hash map: a row per entry) in ceil(entries / 2) parts.
    let flows = json_query(
        "SELECT COUNT(*) AS n FROM entries WHERE map = 'flows'",
        &[&caps[1]],
    )[0]["n"]
        .as_u64()
        .unwrap() as usize;
    let h1_parts = files(&chunked)
        .iter()
        .filter(|f| f.starts_with("entries/map=flows/host=h1/"))
        .count();
    assert_eq!(h1_parts, flows.div_ceil(2), "{flows} rows");
    // -v: with map and host fixed, the scan is given that one folder's files only.
    let r = status(
        &[
            "query",
            "SELECT host, COUNT(*) AS n FROM entries WHERE map = 'flows' AND host = 'h0' GROUP BY host",
            "--dataset",
            d,
            "-v",
        ],
        0,
    );
    let listed: Vec<String> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("mapsleuth:   "))
        .map(String::from)
        .collect();
    let want: Vec<String> = files(&ds)
        .into_iter()
        .filter(|f| f.starts_with("entries/map=flows/host=h0/"))
        .collect();
    assert_eq!(want.len(), 2, "h0 was captured twice");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, want, "{}", r.stderr);
    let total = files(&ds)
        .iter()
        .filter(|f| f.starts_with("entries/"))
        .count();
    assert!(
        r.stderr.contains(&format!(
            "reading 2 of {total} part files (partition filter: map = 'flows' AND host = 'h0')"
        )),
        "{}",
        r.stderr
    );
}

/// The SQL of the fleet questions of `query --help` (whitespace folded), each checked
/// to be in docs/frames.md too.
fn fleet_examples() -> Vec<String> {
    let help = status(&["query", "--help"], 0).stdout;
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/frames.md"))
            .unwrap();
    let examples: Vec<String> = help
        .split("  fleet: ")
        .skip(1)
        .map(|s| {
            let shell = s.split("--dataset DIR \"").nth(1).unwrap();
            let end = shell.find("\"\n").unwrap();
            let sql = shell[..end].replace("\\\"", "\"");
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    assert_eq!(examples.len(), 4, "{help}");
    let flat_docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    for e in &examples {
        assert!(flat_docs.contains(e.as_str()), "docs/frames.md lacks {e}");
    }
    examples
}

/// The fleet questions of `query --help` and docs/frames.md, each run on the fleet and
/// checked against what the single captures say.
#[test]
fn fleet_questions_answer() {
    let caps = fleet(&temp("q-caps"));
    let ds = export_fleet("q-ds", &caps, &[]);
    let examples = fleet_examples();
    // Padding leaks by host: the D001/D002 findings of each capture, summed per host.
    let leaks = dataset_query(&examples[0], &ds);
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in &caps {
        let h = host_of(c);
        for r in json_query(
            "SELECT code FROM findings WHERE code IN ('D001', 'D002')",
            &[c],
        ) {
            *want
                .entry((h.clone(), r["code"].as_str().unwrap().into()))
                .or_default() += 1;
        }
    }
    let got: BTreeMap<(String, String), u64> = leaks
        .iter()
        .map(|r| {
            (
                (
                    r["host"].as_str().unwrap().into(),
                    r["code"].as_str().unwrap().into(),
                ),
                r["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    // Keys missing on some hosts: flows.after.json's keys that flows.json lacks and
    // the reverse (h0 and h2 have both files, h1 flows.json only).
    let key_set = |c: &str| -> std::collections::BTreeSet<String> {
        json_query("SELECT key_hex FROM entries WHERE map = 'flows'", &[c])
            .iter()
            .map(|r| r["key_hex"].as_str().unwrap().to_string())
            .collect()
    };
    let (before, after) = (key_set(&caps[0]), key_set(&caps[2]));
    let missing: std::collections::BTreeSet<String> = dataset_query(&examples[1], &ds)
        .iter()
        .map(|r| r["key_hex"].as_str().unwrap().to_string())
        .collect();
    let want: std::collections::BTreeSet<String> =
        before.symmetric_difference(&after).cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(missing, want);
    // Value drift of one key: one row per host and snapshot holding it.
    let drift = dataset_query(&examples[2], &ds);
    let key = "0a0000010a0000023039005006000000";
    let holders = caps.iter().filter(|c| key_set(c).contains(key)).count();
    assert_eq!(drift.len(), holders);
    assert!(drift
        .windows(2)
        .all(|w| (w[0]["host"].as_str(), w[0]["captured_at"].as_str())
            <= (w[1]["host"].as_str(), w[1]["captured_at"].as_str())));
    check_skew(&examples[3], &ds, &caps[1]);
}

/// Per-CPU skew on the dataset: h1's rows are what its capture alone says of each key.
fn check_skew(sql: &str, ds: &Path, h1_capture: &str) {
    // Per-CPU skew: per host and key, the CPUs' packets, as the capture alone says.
    let skew = dataset_query(sql, ds);
    let per_cpu = json_query(
        "SELECT key, SUM(\"value.packets\") AS total, MAX(\"value.packets\") AS top FROM entries WHERE map = 'pcpu_hash_stats' GROUP BY key ORDER BY key",
        &[h1_capture],
    );
    let mut h1: Vec<&Value> = skew.iter().filter(|r| r["host"] == "h1").collect();
    h1.sort_by_key(|r| r["key"].as_u64());
    assert_eq!(h1.len(), per_cpu.len());
    for (s, p) in h1.iter().zip(&per_cpu) {
        assert_eq!(s["key"], p["key"]);
        assert_eq!(s["max_cpu"], p["top"]);
        let share = p["top"].as_f64().unwrap() / p["total"].as_f64().unwrap();
        assert!(
            (s["top_share"].as_f64().unwrap() - share).abs() < 1e-9,
            "{s}"
        );
    }
}

/// Runs fleet_interop.py MODE DIR with the interop venv's python. `None` (a visible
/// SKIP) when the reader is missing and not required.
fn interop(mode: &str, dir: &Path, required: bool) -> Option<Vec<Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet_interop.py");
    let python = std::env::var("MAPSLEUTH_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python)
        .arg(&script)
        .arg(mode)
        .arg(dir)
        .output()
    {
        Ok(o) if o.status.success() => Some(serde_json::from_slice(&o.stdout).unwrap()),
        Ok(o) if !required => {
            let err = String::from_utf8_lossy(&o.stderr);
            let why = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            eprintln!(
                "SKIP: {mode} cannot read the dataset here ({why}); scripts/test.sh installs it"
            );
            None
        }
        Err(e) if !required => {
            eprintln!("SKIP: {mode}: no {python}: {e}");
            None
        }
        Ok(o) => panic!(
            "fleet_interop.py {mode}: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("fleet_interop.py {mode}: {e}"),
    }
}

fn sorted_counts(rows: &[Value]) -> Vec<(String, String, u64)> {
    let mut v: Vec<(String, String, u64)> = rows
        .iter()
        .map(|r| match r {
            Value::Array(a) => (
                a[0].as_str().unwrap_or("").into(),
                a[1].as_str().unwrap_or("").into(),
                a[2].as_u64().unwrap(),
            ),
            o => (
                o["host"].as_str().unwrap_or("").into(),
                o["map"].as_str().unwrap_or("").into(),
                o["n"].as_u64().unwrap(),
            ),
        })
        .collect();
    v.sort();
    v
}

/// DuckDB and Spark (`local[2]`) read the dataset with the counts `query --dataset`
/// gives; docs/frames.md shows the exact code they run.
#[test]
fn duckdb_and_spark_read_the_dataset() {
    let caps = fleet(&temp("io-caps"));
    let ds = export_fleet("io-ds", &caps, &[]);
    let ours = sorted_counts(&dataset_query(
        "SELECT host, map, COUNT(*) AS n FROM entries GROUP BY host, map",
        &ds,
    ));
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet_interop.py"),
    )
    .unwrap();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/frames.md"))
            .unwrap();
    for mode in ["duckdb", "spark"] {
        let body = script
            .split(&format!("# BEGIN {mode}\n"))
            .nth(1)
            .and_then(|s| s.split(&format!("    # END {mode}")).next())
            .unwrap();
        let dedented: String = body
            .lines()
            .map(|l| l.strip_prefix("    ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            docs.contains(dedented.trim()),
            "docs/frames.md lacks the {mode} snippet:\n{dedented}"
        );
    }
    let require = |var: &str| std::env::var_os(var).is_some();
    if let Some(duck) = interop("duckdb", &ds, require("MAPSLEUTH_REQUIRE_INTEROP")) {
        assert_eq!(sorted_counts(&duck), ours, "duckdb");
    }
    if let Some(spark) = interop("spark", &ds, require("MAPSLEUTH_REQUIRE_SPARK")) {
        assert_eq!(sorted_counts(&spark), ours, "spark");
    }
}
