//! End-to-end: `mapsleuth analyze dump` on corpus dumps, snapshotted into snapshots/
//! (review changes with `cargo insta review`).

use std::io::Write;
use std::process::{Command, Stdio};

use mapsleuth_dump::{read_file, DumpReadOptions};

mod support;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");
const AMD64: &str = "go/bin/app-go1.25.5-linux-amd64";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mapsleuth"))
        .args(args)
        .current_dir(CORPUS)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, None)
}

/// Runs and checks the exit status.
fn status(args: &[&str], code: i32) -> String {
    let r = run(args);
    assert_eq!(r.code, code, "mapsleuth {args:?}: {}{}", r.stdout, r.stderr);
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
        &std::fs::read_to_string(format!("{CORPUS}/../schemas/analyze-dump.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "analyze-dump.schema.json: {errors:#?}");
}

#[test]
fn table_reports() {
    for (name, args, code) in [
        // The map found by the name in flows.show.json; D001 is an error.
        (
            "flows_btf",
            &[
                "analyze",
                "dump",
                "dumps/flows.json",
                "--btf",
                "bpf/maps.bpf.o",
            ][..],
            1,
        ),
        (
            "events_btf",
            &[
                "analyze",
                "dump",
                "dumps/events.pretty.json",
                "--btf",
                "bpf/maps.bpf.o",
                "--map",
                "events",
                "--entries",
                "6",
            ][..],
            0,
        ),
        (
            "events_go_missingpad",
            &[
                "analyze",
                "dump",
                "dumps/events.json",
                "--go-bin",
                AMD64,
                "--key-type",
                "uint32",
                "--value-type",
                "missingpad.Event",
                "--entries",
                "3",
            ][..],
            1,
        ),
        (
            "conns_addrs_btf",
            &[
                "analyze",
                "dump",
                "dumps/conns.json",
                "dumps/addrs.json",
                "--btf",
                "bpf/maps.bpf.o",
                "--entries",
                "2",
            ][..],
            0,
        ),
        (
            "pcpu_hash_stats_btf",
            &[
                "analyze",
                "dump",
                "dumps/pcpu_hash_stats.json",
                "--btf",
                "bpf/maps.bpf.o",
            ][..],
            0,
        ),
        (
            "no_types",
            &[
                "analyze",
                "dump",
                "dumps/nb_devmap.txt",
                "dumps/nb_small.txt",
                "dumps/fifo.txt",
            ][..],
            0,
        ),
        (
            "btf_text_only",
            &["analyze", "dump", "dumps/flows.txt", "--entries", "2"][..],
            0,
        ),
    ] {
        snap!(format!("analyze_dump__{name}"), status(args, code));
    }
}

#[test]
fn json_report_follows_its_schema() {
    let out = status(
        &[
            "analyze",
            "dump",
            "dumps/addrs.json",
            "dumps/conns.json",
            "--btf",
            "bpf/maps.bpf.o",
            "--format",
            "json",
        ],
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    validate(&doc);
    snap!("analyze_dump__addrs_conns_json", out);
    // Every corpus JSON dump, with and without types, validates.
    for args in [
        &[
            "dumps/flows.json",
            "dumps/events.json",
            "--btf",
            "bpf/maps.bpf.o",
        ][..],
        &[
            "dumps/pcpu_array_stat.pretty.json",
            "--btf",
            "bpf/maps.bpf.o",
        ][..],
        &[
            "dumps/nb_devmap.json",
            "dumps/nb_pcpu.txt",
            "dumps/events.txt",
            "dumps/multi.json",
        ][..],
    ] {
        let mut a = vec!["analyze", "dump", "--format", "json"];
        a.extend_from_slice(args);
        let r = run(&a);
        assert!(r.code <= 1, "{a:?}: {}", r.stderr);
        validate(&serde_json::from_str(&r.stdout).unwrap());
    }
}

#[test]
fn ndjson_is_entries_then_findings() {
    let out = status(
        &[
            "analyze",
            "dump",
            "dumps/nb_devmap.json",
            "--format",
            "ndjson",
        ],
        0,
    );
    snap!("analyze_dump__nb_devmap_ndjson", out.clone());
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[..3].iter().all(|l| l.get("key_hex").is_some()));
    assert_eq!(lines[3]["code"], "D014");
}

#[test]
fn fail_on_sets_the_exit_status() {
    let base = [
        "analyze",
        "dump",
        "dumps/events.json",
        "--btf",
        "bpf/maps.bpf.o",
    ];
    // Warnings (D002, D008, D010) and notes only.
    status(&base, 0);
    status(&[&base[..], &["--fail-on", "warning"]].concat(), 1);
    status(&[&base[..], &["--fail-on", "info"]].concat(), 1);
    let clean = [
        "analyze",
        "dump",
        "dumps/lpm_v4.json",
        "--btf",
        "bpf/maps.bpf.o",
    ];
    status(&[&clean[..], &["--fail-on", "info"]].concat(), 0);
}

#[test]
fn a_truncated_dump_names_where_it_stops_and_analyses_what_came_before() {
    let whole = std::fs::read(format!("{CORPUS}/dumps/flows.json")).unwrap();
    // Cut inside the fourth entry.
    let starts: Vec<usize> = whole
        .windows(8)
        .enumerate()
        .filter(|(_, w)| w == b"{\"key\":[")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 6);
    let cut = starts[3] + 100;
    let args = [
        "analyze",
        "dump",
        "-",
        "--btf",
        "bpf/maps.bpf.o",
        "--map",
        "flows",
        "--format",
        "json",
    ];
    let r = run_with(&args, Some(&whole[..cut]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let want = format!(
        "<stdin>: line 1, byte {cut}: input ends inside an entry: the dump is truncated \
         here; 3 entries before it were read and analysed"
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let dump = &doc["dumps"][0];
    assert_eq!(dump["entry_count"], 3);
    assert_eq!(dump["stats"]["values_checked"], 3);
    let findings = dump["findings"].as_array().unwrap();
    let cuts: Vec<&serde_json::Value> = findings.iter().filter(|f| f["code"] == "D015").collect();
    assert_eq!(cuts.len(), 1, "{findings:#?}");
    assert_eq!(cuts[0]["location"]["offset"], cut);
    // The second entry's padding (D001) is still found.
    assert!(
        findings.iter().any(|f| f["code"] == "D001"),
        "{findings:#?}"
    );

    // Exit status 2 whatever --fail-on says; the table still shows the entries read.
    let r = run_with(
        &[
            "analyze",
            "dump",
            "-",
            "--btf",
            "bpf/maps.bpf.o",
            "--map",
            "flows",
            "--fail-on",
            "error",
        ],
        Some(&whole[..cut]),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.contains("1 dump, 3 entries"), "{}", r.stdout);
    // The whole dump is not truncated.
    let r = run_with(&args, Some(&whole));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("truncated"), "{}", r.stderr);
}

#[test]
fn expected_keys() {
    let dir = env!("CARGO_TARGET_TMPDIR");
    let keys = format!("{dir}/flows-keys.txt");
    std::fs::write(
        &keys,
        "# the key with the planted padding, as a user builds it\n\
         0a0000050a00000601bb003511000000\n\
         0a 00 00 01 0a 00 00 02 30 39 00 50 06 00 00 00\n",
    )
    .unwrap();
    let r = run(&[
        "analyze",
        "dump",
        "dumps/flows.json",
        "--btf",
        "bpf/maps.bpf.o",
        "--expect-keys",
        &keys,
        "--entries",
        "0",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    snap!(
        "analyze_dump__flows_expect_keys",
        r.stdout.replace(dir, "<tmp>")
    );
    std::fs::write(&keys, "1\nnot-a-key\n").unwrap();
    let r = run(&[
        "analyze",
        "dump",
        "dumps/flows.json",
        "--btf",
        "bpf/maps.bpf.o",
        "--expect-keys",
        &keys,
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 2: `not-a-key`"), "{}", r.stderr);
}

#[test]
fn usage_errors_say_what_to_do() {
    for (args, want) in [
        (
            &[
                "analyze",
                "dump",
                "dumps/nb_flows.json",
                "--btf",
                "bpf/maps.bpf.o",
            ][..],
            "the dump's map `nb_flows` is not defined in bpf/maps.bpf.o",
        ),
        (
            &["analyze", "dump", "dumps/flows.json", "--go-bin", AMD64][..],
            "--go-bin needs --key-type",
        ),
        (
            &["analyze", "dump", "dumps/flows.json", "--key-type", "__u32"][..],
            "need the types' source",
        ),
        (
            &[
                "analyze",
                "dump",
                "dumps/flows.json",
                "--btf",
                "bpf/maps.bpf.o",
                "--map",
                "nope",
            ][..],
            "no map named `nope`",
        ),
        (
            &["analyze", "dump", "dumps/error.json"][..],
            "get map by id",
        ),
        (
            &["analyze", "dump", "dumps/flows.json", "--format", "csv"][..],
            "--format csv is not available",
        ),
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
}

#[test]
fn stdin_and_raw_records() {
    let json = std::fs::read(format!("{CORPUS}/dumps/flows.json")).unwrap();
    let r = run_with(
        &[
            "analyze",
            "dump",
            "-",
            "--btf",
            "bpf/maps.bpf.o",
            "--map",
            "flows",
            "--entries",
            "0",
        ],
        Some(&json),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("<stdin>: map (json, 6 entries)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("error[D001]"));
    // The same entries as raw key‖value records.
    let dump = &read_file(
        format!("{CORPUS}/dumps/flows.json"),
        &DumpReadOptions::default(),
    )
    .unwrap()[0];
    let mut raw = Vec::new();
    for e in dump.entries() {
        raw.extend_from_slice(e.key().unwrap());
        raw.extend_from_slice(e.value().unwrap());
    }
    let r = run_with(
        &[
            "analyze",
            "dump",
            "-",
            "--key-size",
            "16",
            "--value-size",
            "32",
            "--btf",
            "bpf/maps.bpf.o",
            "--map",
            "flows",
            "--entries",
            "0",
        ],
        Some(&raw),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("<stdin>: map (raw, 6 entries)"),
        "{}",
        r.stdout
    );
    for code in ["D001", "D005", "D011"] {
        assert!(
            r.stdout.contains(&format!("[{code}]")),
            "{code}: {}",
            r.stdout
        );
    }
}

/// A capture carries its map's BTF: no TYPES needed.
#[test]
fn captures_decode_with_their_own_btf() {
    let dir = env!("CARGO_TARGET_TMPDIR");
    let path = support::flows_capture("flows.json", "h", 1_700_000_000, "flows.mscap");
    let r = run(&["analyze", "dump", &path, "--entries", "2"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    snap!("analyze_dump__capture", r.stdout.replace(dir, "<tmp>"));
}

/// The same capture on standard input: one read gives its BTF and its snapshot (this
/// used to say "types: none … give --btf"), for `analyze dump` and for `export`.
#[test]
fn captures_on_stdin_decode_with_their_own_btf() {
    let dir = env!("CARGO_TARGET_TMPDIR");
    let path = support::flows_capture("flows.json", "h", 1_700_000_000, "stdin-flows.mscap");
    let bytes = std::fs::read(&path).unwrap();
    let by_path = run(&["analyze", "dump", &path, "--entries", "2"]);
    let piped = run_with(&["analyze", "dump", "-", "--entries", "2"], Some(&bytes));
    assert_eq!(piped.code, by_path.code, "{}", piped.stderr);
    assert!(
        piped.stdout.contains("from the capture's BTF"),
        "{}",
        piped.stdout
    );
    assert_eq!(
        piped.stdout.replace("<stdin>", "<tmp>/stdin-flows.mscap"),
        by_path.stdout.replace(dir, "<tmp>")
    );

    let first_row = |input: &str, stdin: Option<&[u8]>| -> serde_json::Value {
        let out = format!("{dir}/stdin-flows-{}.ndjson", stdin.is_some());
        let r = run_with(&["export", input, "-o", &out], stdin);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let rows = std::fs::read_to_string(&out).unwrap();
        serde_json::from_str(rows.lines().next().unwrap()).unwrap()
    };
    let (piped, by_path) = (first_row("-", Some(&bytes)), first_row(&path, None));
    assert!(piped["snapshot"].is_string(), "{piped}");
    assert_eq!(piped["snapshot"], by_path["snapshot"]);
    assert_eq!(piped["value.state"], by_path["value.state"]);
}

/// corpus flows.json cut 100 bytes into its fourth entry: three whole entries, then the cut.
fn flows_cut_in_its_fourth_entry() -> Vec<u8> {
    let whole = std::fs::read(format!("{CORPUS}/dumps/flows.json")).unwrap();
    let fourth = whole
        .windows(8)
        .enumerate()
        .filter(|(_, w)| w == b"{\"key\":[")
        .nth(3)
        .map(|(i, _)| i)
        .unwrap();
    whole[..fourth + 100].to_vec()
}

/// `export` and `query` of a truncated dump: the rows before the cut, and exit 2 with the
/// same located message as `analyze dump`.
#[test]
fn export_and_query_of_a_truncated_dump_exit_2_after_the_rows_before_the_cut() {
    let cut: &[u8] = &flows_cut_in_its_fourth_entry();
    let types = ["--btf", "bpf/maps.bpf.o", "--map", "flows"];
    let out = format!("{}/truncated.ndjson", env!("CARGO_TARGET_TMPDIR"));
    let r = run_with(
        &[&["export", "-", "-o", &out][..], &types[..]].concat(),
        Some(cut),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("3 entries before it were read"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    let sql = "SELECT COUNT(*) AS n FROM entries";
    let q = run_with(
        &[&["query", sql, "-", "--format", "csv"][..], &types[..]].concat(),
        Some(cut),
    );
    assert_eq!(q.code, 2, "{}", q.stderr);
    assert_eq!(q.stdout, "n\n3\n");
}

#[test]
fn diff_with_a_truncated_dump_compares_what_came_before_then_exits_2() {
    let cut: &[u8] = &flows_cut_in_its_fourth_entry();
    let args = [
        "diff",
        "dumps/flows.json",
        "-",
        "--btf",
        "bpf/maps.bpf.o",
        "--map",
        "flows",
        "--format",
        "json",
    ];
    let r = run_with(&args, Some(cut));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let want = format!(
        "<stdin>: line 1, byte {}: input ends inside an entry: the dump is truncated \
         here; 3 entries before it were compared",
        cut.len()
    );
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    // The six entries against the three before the cut: three gone, three the same.
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let m = &doc["maps"][0];
    assert_eq!(m["counts"]["removed"], 3, "{m}");
    assert_eq!(m["counts"]["unchanged"], 3, "{m}");
    // --exit-code does not hide the cut.
    let with_code = [&args[..], &["--exit-code"][..]].concat();
    assert_eq!(run_with(&with_code, Some(cut)).code, 2);
}

const RING: [&str; 7] = [
    "analyze",
    "dump",
    "captures/ring.mscap",
    "--btf",
    "captures/ring_event.bpf.o",
    "--record-type",
    "struct event",
];

/// A ring buffer capture (corpus/regen-captures.sh): records typed with --record-type,
/// checked as values are, a record of another length is D019; without a type the
/// records are bytes and the record checks say what they need.
#[test]
fn ring_captures_decode_with_a_record_type() {
    snap!("analyze_dump__ring_record_type", status(&RING, 1));
    let json: serde_json::Value =
        serde_json::from_str(&status(&[&RING[..], &["--format", "json"]].concat(), 1)).unwrap();
    validate(&json);
    let codes: Vec<&str> = json["dumps"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["D002", "D019", "D008", "D009"]);
    snap!(
        "analyze_dump__ring_no_type",
        status(&["analyze", "dump", "captures/ring.mscap"], 0)
    );
    // --record-type is the ring's value type: not with --key-type/--value-type.
    let r = run(&[&RING[..], &["--value-type", "struct event"]].concat());
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--record-type"), "{}", r.stderr);
    // A Go type: every record is shorter than missingpad.Event (36 bytes), one D019 per
    // length, and no field is said to be "always" anything on no samples.
    let go = run(&[
        "analyze",
        "dump",
        "captures/ring.mscap",
        "--go-bin",
        AMD64,
        "--record-type",
        "missingpad.Event",
    ]);
    assert_eq!(go.code, 1, "{}", go.stderr);
    snap!("analyze_dump__ring_go_record_type", go.stdout);
    // On a map that is not a ring the type still decodes the values, and a note says so.
    let r = run(&[
        "analyze",
        "dump",
        "dumps/events.json",
        "--btf",
        "captures/ring_event.bpf.o",
        "--record-type",
        "struct event",
    ]);
    assert!(
        r.stdout.contains(
            "note: --record-type names a ring buffer's records, but this map is an array"
        ),
        "{}",
        r.stdout
    );
    // diff has no keys to match records by: it says so, located, with status 2.
    let r = run(&["diff", "captures/ring.mscap", "captures/ring.mscap"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("captures/ring.mscap: a ring buffer capture holds records without keys"),
        "{}",
        r.stderr
    );
}

/// A map of maps captured with --recursive: each outer key names its inner map, which
/// is in the same capture.
#[test]
fn recursive_captures_show_the_inner_maps() {
    snap!(
        "analyze_dump__outer_recursive",
        status(&["analyze", "dump", "captures/outer.mscap"], 0)
    );
    let json: serde_json::Value = serde_json::from_str(&status(
        &[
            "analyze",
            "dump",
            "captures/outer.mscap",
            "--format",
            "json",
        ],
        0,
    ))
    .unwrap();
    validate(&json);
    let maps = &json["dumps"];
    let inner_ids: Vec<u64> = maps[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["inner_map_id"].as_u64().unwrap())
        .collect();
    let ids: Vec<u64> = (1..3)
        .map(|i| maps[i]["map"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        inner_ids, ids,
        "each outer key names an inner map of the capture"
    );
    // After bpftool moved the links (corpus/regen-captures.sh): diff names the inner map
    // of each added, removed and changed outer key, and the inner map no key points to
    // any more is only in OLD.
    let d = status(
        &["diff", "captures/outer.mscap", "captures/outer.after.mscap"],
        0,
    );
    snap!("diff__outer_recursive", d);
}
