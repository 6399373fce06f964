//! End-to-end: `mapsleuth diff` on the corpus' pairs of real dumps (flows{,.after}.* and
//! dumps/diff/), snapshotted into snapshots/ (review changes with `cargo insta review`).

mod support;

use support::{run, CORPUS};

/// Runs `mapsleuth diff ARGS` and checks the exit status.
fn diff(args: &[&str], code: i32) -> String {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, code, "mapsleuth {all:?}: {}{}", r.stdout, r.stderr);
    r.stdout
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn validate(doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CORPUS}/../schemas/diff.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "diff.schema.json: {errors:#?}");
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&diff(&all, 0)).unwrap();
    validate(&doc);
    doc
}

const BTF: &[&str] = &["--btf", "bpf/maps.bpf.o"];

#[test]
fn table() {
    snap!(
        "diff__flows_table",
        diff(
            &[
                "dumps/flows.json",
                "dumps/flows.after.json",
                "--btf",
                "bpf/maps.bpf.o"
            ],
            0
        )
    );
    // No types: bpftool's own decoding explains.
    snap!(
        "diff__flows_table_no_types",
        diff(&["dumps/flows.pretty.json", "dumps/flows.after.json"], 0)
    );
    snap!(
        "diff__pcpu_table",
        diff(
            &[
                "dumps/diff/pcpu_hash_stats.txt",
                "dumps/diff/pcpu_hash_stats.after.json",
                "--btf",
                "bpf/maps.bpf.o",
            ],
            0
        )
    );
}

#[test]
fn unified() {
    snap!(
        "diff__flows_unified",
        diff(
            &[
                "dumps/flows.txt",
                "dumps/flows.after.json",
                "--btf",
                "bpf/maps.bpf.o",
                "--unified",
            ],
            0
        )
    );
    snap!(
        "diff__pcpu_unified",
        diff(
            &[
                "dumps/diff/pcpu_hash_stats.json",
                "dumps/diff/pcpu_hash_stats.after.pretty.json",
                "--btf",
                "bpf/maps.bpf.o",
                "--map",
                "pcpu_hash_stats",
                "--unified",
                "--context",
                "1",
            ],
            0
        )
    );
    // No BTF: the bytes, 16 to a line, per CPU.
    snap!(
        "diff__nb_pcpu_unified",
        diff(
            &[
                "dumps/diff/nb_pcpu.txt",
                "dumps/diff/nb_pcpu.after.txt",
                "--unified"
            ],
            0
        )
    );
}

#[test]
fn json_document() {
    let doc = json(&[
        "dumps/flows.json",
        "dumps/flows.after.json",
        "--btf",
        "bpf/maps.bpf.o",
    ]);
    let mut doc = doc;
    doc["tool_version"] = "<version>".into();
    snap!(
        "diff__flows_json",
        serde_json::to_string_pretty(&doc).unwrap()
    );
}

#[test]
fn ndjson_and_csv_rows() {
    let rows = diff(
        &[
            "dumps/diff/pcpu_hash_stats.json",
            "dumps/diff/pcpu_hash_stats.after.json",
            "--btf",
            "bpf/maps.bpf.o",
            "--format",
            "ndjson",
        ],
        0,
    );
    snap!("diff__pcpu_ndjson", rows.clone());
    for line in rows.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["key"].is_string() && v["kind"].is_string() && v["path"].is_string());
    }
    let csv = diff(
        &[
            "dumps/diff/nb_pcpu.txt",
            "dumps/diff/nb_pcpu.after.json",
            "--format",
            "csv",
        ],
        0,
    );
    assert_eq!(
        csv.lines().next(),
        Some("map,key,kind,field_kind,path,cpu,old,new")
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
}

/// Every combination of formats (and with or without types) finds the same changes.
#[test]
fn every_format_pair_agrees() {
    let forms = ["json", "pretty.json", "txt"];
    for (base, want) in [
        ("flows", (2, 1, 3, 2, 3)),
        ("diff/pcpu_hash_stats", (1, 1, 2, 0, 3)),
        ("diff/nb_pcpu", (1, 1, 1, 1, 2)),
    ] {
        let mut seen = Vec::new();
        for a in forms {
            for b in forms {
                let (old, new) = (
                    format!("dumps/{base}.{a}"),
                    format!("dumps/{base}.after.{b}"),
                );
                let with_btf: Vec<&str> = [old.as_str(), new.as_str()]
                    .into_iter()
                    .chain(BTF.iter().copied())
                    .collect();
                let typed = !base.contains("nb_");
                for args in [&with_btf[..], &with_btf[..2]] {
                    if !typed && args.len() > 2 {
                        continue;
                    }
                    let doc = json(args);
                    let s = &doc["summary"];
                    let got = |k: &str| s[k].as_u64().unwrap();
                    assert_eq!(
                        (
                            got("added"),
                            got("removed"),
                            got("changed"),
                            got("unchanged"),
                            got("field_changes")
                        ),
                        want,
                        "{args:?}"
                    );
                    let paths: Vec<String> = doc["maps"][0]["entries"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|e| e["fields"].as_array().cloned().unwrap_or_default())
                        .map(|f| format!("{} {} {} {}", f["cpu"], f["path"], f["old"], f["new"]))
                        .collect();
                    seen.push((args.to_vec().join(" "), {
                        let mut p = paths;
                        p.sort();
                        p
                    }));
                }
            }
        }
        // The same fields, old and new values everywhere.
        for (args, p) in &seen {
            assert_eq!(p, &seen[0].1, "{args} vs {}", seen[0].0);
        }
    }
}

#[test]
fn exit_status() {
    let same = ["dumps/flows.json", "dumps/flows.txt", "--exit-code"];
    diff(&same, 0);
    let differ = ["dumps/flows.json", "dumps/flows.after.txt"];
    diff(&differ, 0);
    diff(&[differ[0], differ[1], "--exit-code"], 1);
    // Incompatible maps: a clear error, exit 2; --force compares bytes.
    let r = run(&["diff", "dumps/flows.json", "dumps/nb_small.json"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert_eq!(
        r.stderr.trim(),
        "mapsleuth: error: dumps/flows.json and dumps/nb_small.json are not dumps of compatible \
         maps: key sizes differ (16 vs 4 bytes); --force compares them anyway, by bytes"
    );
    let forced = json(&["dumps/flows.json", "dumps/nb_small.json", "--force"]);
    assert_eq!(forced["summary"]["added"], 3);
    assert_eq!(forced["summary"]["removed"], 6);
    // --unified is text.
    let r = run(&[
        "diff",
        "dumps/flows.json",
        "dumps/flows.after.json",
        "--unified",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--unified is text"), "{}", r.stderr);
    // Both dumps of a map with BTF in the plain listing, no types: fine.
    diff(&["dumps/flows.txt", "dumps/flows.after.txt"], 0);
}

/// A capture of `flows` holding the entries of a `-j` dump, with the object's BTF.
fn capture(dump: &str, out: &str, secs: u64) -> String {
    support::flows_capture(dump, "node-7", secs, &format!("diff-{out}.mscap"))
}

/// Captures carry their BTF (no TYPES needed) and their snapshot identity.
#[test]
fn captures_show_their_snapshots() {
    let old = capture("flows.json", "old", 1_700_000_000);
    let new = capture("flows.after.json", "new", 1_700_003_600);
    let dir = env!("CARGO_TARGET_TMPDIR");
    let table = diff(&[&old, &new], 0).replace(dir, "<tmp>");
    snap!("diff__captures_table", table);
    let unified = diff(&[&old, "dumps/flows.after.txt", "--unified"], 0).replace(dir, "<tmp>");
    assert!(unified.starts_with("--- <tmp>/diff-old.mscap (capture, map `flows`, hash, 6 entries) [snapshot 2023-11-14T22:13:20.000000Z, host node-7 (6.18.0), sha256 "), "{unified}");
    let doc = json(&[&old, &new]);
    let snap = &doc["maps"][0]["new"]["snapshot"];
    assert_eq!(snap["snapshot_id"], "2023-11-14T23:13:20.000000Z");
    assert_eq!(snap["hostname"], "node-7");
    assert_eq!(snap["digest"].as_str().unwrap().len(), 64);
    assert!(doc["maps"][0]["old"]["snapshot"].is_object());
    assert_eq!(doc["summary"]["changed"], 3);
    // A bpftool dump has no snapshot.
    let doc = json(&[&old, "dumps/flows.after.json"]);
    assert!(doc["maps"][0]["new"].get("snapshot").is_none());
}

/// Inputs holding several maps: paired by name.
#[test]
fn multi_map_inputs_pair_by_name() {
    let doc = json(&["dumps/multi.json", "dumps/multi.pretty.json"]);
    assert_eq!(doc["maps"].as_array().unwrap().len(), 2);
    assert_eq!(doc["differ"], false);
    let doc = json(&["dumps/multi.json", "dumps/flows.json", "--force"]);
    assert_eq!(doc["maps"].as_array().unwrap().len(), 0);
    assert_eq!(doc["unpaired"].as_array().unwrap().len(), 3);
    assert_eq!(doc["differ"], true);
}
