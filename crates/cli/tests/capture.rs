//! End-to-end: `mapsleuth capture` and `mapsleuth capture list` on real maps created
//! with raw bpf(2) (crate mapsleuth-capture's test helpers: CI needs no bpftool). Needs
//! root: where bpf(2) is refused every test prints a SKIP line and returns.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mapsleuth_capture::capture_file::Capture;
use mapsleuth_capture::testing::{map_create, MapFd, MapSpec};
use mapsleuth_dump::hex::encode as hex;

const HASH: u32 = 1;
const QUEUE: u32 = 22;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mapsleuth"));
    cmd.args(args).env("NO_COLOR", "1");
    setup(&mut cmd);
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => {
            return Run {
                code: -1,
                stdout: String::new(),
                stderr: e.to_string(),
            }
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, |_| {})
}

/// Straight to stderr (libtest captures `eprintln!` of passing tests); a failure where
/// live tests are required (MAPSLEUTH_REQUIRE_LIVE, set by scripts/test.sh as root).
fn skip(test: &str, message: &str) {
    if std::env::var_os("MAPSLEUTH_REQUIRE_LIVE").is_some() {
        panic!("{test}: MAPSLEUTH_REQUIRE_LIVE is set, but the test cannot run: {message}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {message}");
}

/// Creates a map, or None (with a SKIP line) when bpf(2) is refused.
fn create(test: &str, spec: &MapSpec) -> Option<MapFd> {
    match map_create(spec, None, None) {
        Ok(fd) => Some(MapFd::new(fd).unwrap()),
        // EPERM/EACCES, or ENOSYS.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::Unsupported
            ) =>
        {
            skip(
                test,
                &format!("bpf(2) refused ({e}); run as root to exercise live capture"),
            );
            None
        }
        Err(e) => panic!("BPF_MAP_CREATE {}: {e}", spec.name),
    }
}

fn hash_map(test: &str, name: &str, entries: u32) -> Option<MapFd> {
    let m = create(
        test,
        &MapSpec {
            map_type: HASH,
            key_size: 4,
            value_size: 16,
            max_entries: 256,
            name: name.into(),
            ..MapSpec::default()
        },
    )?;
    for k in 0..entries {
        let mut v = [0u8; 16];
        v[..4].copy_from_slice(&k.to_le_bytes());
        v[4..8].copy_from_slice(&(k * k).to_le_bytes());
        v[8..].copy_from_slice(
            &u64::from(k)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .to_le_bytes(),
        );
        m.update(&k.to_le_bytes(), &v, 0).unwrap();
    }
    Some(m)
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ms-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn validate(schema_file: &str, doc: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

#[test]
fn capture_a_map_by_id_and_list_it() {
    let test = "capture_a_map_by_id_and_list_it";
    let Some(map) = hash_map(test, "ms_cli_cap", 100) else {
        return;
    };
    let id = map.info().id;
    let dir = TempDir::new("cap");
    let out = dir.file("flows.mscap");
    let out_s = out.to_str().unwrap();

    let r = run(&["capture", "--id", &id.to_string(), "-o", out_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The summary line: file, maps, entries, size, time, digest.
    let line = r.stdout.lines().next().unwrap_or_default();
    let re = regex::Regex::new(
        r"^wrote (.+): 1 map, 100 entries, [0-9.]+ (bytes|KiB|MiB) in [0-9.]+ s, sha256 ([0-9a-f]{64})$",
    )
    .unwrap();
    let caps = re
        .captures(line)
        .unwrap_or_else(|| panic!("unexpected summary line {line:?}"));
    assert_eq!(&caps[1], out_s);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    // Not a terminal: no progress bar.
    assert_eq!(r.stderr, "");

    let cap = Capture::read_file(&out).unwrap();
    assert_eq!(&caps[3], hex(cap.digest()));
    assert_eq!(cap.map_count(), 1);
    let view = cap.map(0).unwrap();
    assert_eq!(view.header.id, id);
    assert_eq!(view.header.name, "ms_cli_cap");
    assert_eq!(view.len(), 100);
    for e in view.entries() {
        let k = u32::from_le_bytes(e.key.try_into().unwrap());
        assert_eq!(&e.value[..4], &k.to_le_bytes());
    }

    // `capture list` shows the map, readable.
    let r = run(&["capture", "list", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("capture-list.schema.json", &rows);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("map {id} not in `capture list`: {}", r.stdout));
    assert_eq!(row["name"], "ms_cli_cap");
    assert_eq!(row["type_name"], "hash");
    assert_eq!(row["key_size"], 4);
    assert_eq!(row["value_size"], 16);
    assert_eq!(row["max_entries"], 256);
    assert_eq!(row["iterable"], true);
    assert!(row.get("not_iterable").is_none());

    // The table and the other formats.
    let r = run(&["capture", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("    ID  TYPE"), "{}", r.stdout);
    let line = r
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .unwrap();
    assert!(
        line.contains("hash") && line.contains("ms_cli_cap") && line.ends_with("yes"),
        "{line}"
    );
    let r = run(&["capture", "list", "--format", "csv"]);
    assert!(
        r.stdout.starts_with("id,type,name,key_size,"),
        "{}",
        r.stdout
    );
    assert!(r
        .stdout
        .contains(&format!("\n{id},hash,ms_cli_cap,4,16,256,0x0,0,true,\n")));
    let r = run(&["capture", "list", "--format", "ndjson"]);
    assert!(r
        .stdout
        .lines()
        .any(|l| l.starts_with(&format!("{{\"id\":{id},"))));

    // --format json: one document, with its schema.
    let r = run(&[
        "capture",
        "--id",
        &id.to_string(),
        "-o",
        out_s,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("capture.schema.json", &doc);
    assert_eq!(doc["entries"], 100);
    assert_eq!(doc["maps"][0]["id"], id);
    assert_eq!(doc["maps"][0]["method"], "batch");
    assert_eq!(
        doc["sha256"],
        hex(Capture::read_file(&out).unwrap().digest())
    );
    assert_eq!(
        doc["bytes"].as_u64(),
        Some(std::fs::metadata(&out).unwrap().len())
    );
}

#[test]
fn unreadable_maps_are_refused_or_skipped() {
    let test = "unreadable_maps_are_refused_or_skipped";
    let Some(queue) = create(
        test,
        &MapSpec {
            map_type: QUEUE,
            key_size: 0,
            value_size: 8,
            max_entries: 4,
            name: "ms_cli_queue".into(),
            ..MapSpec::default()
        },
    ) else {
        return;
    };
    let Some(hash) = hash_map(test, "ms_cli_all", 3) else {
        return;
    };
    let (qid, hid) = (queue.info().id, hash.info().id);
    let dir = TempDir::new("skip");
    let out = dir.file("x.mscap");
    let out_s = out.to_str().unwrap();

    // Asked for by id: an error that says why, exit status 2, no file.
    let r = run(&["capture", "--id", &qid.to_string(), "-o", out_s]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("not iterable") && r.stderr.contains("popping"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    let r = run(&["capture", "list"]);
    let line = r
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&qid.to_string()))
        .unwrap();
    assert!(
        line.contains("queue") && line.contains("no: it has no keys"),
        "{line}"
    );

    // With --all: skipped, and said so after the summary.
    let r = run(&["capture", "--all", "-o", out_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("wrote "), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!(
            "skipped map {qid} \"ms_cli_queue\" (queue): not iterable: it has no keys"
        )),
        "{}",
        r.stdout
    );
    let cap = Capture::read_file(&out).unwrap();
    assert!(cap.header().maps.iter().any(|m| m.id == hid));
    assert!(cap.header().skipped.iter().any(|m| m.id == qid));

    // Missing maps: exit status 2 and what to do.
    let r = run(&["capture", "--id", "4294967295", "-o", out_s]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no map with id 4294967295"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("mapsleuth capture list"), "{}", r.stderr);
    let r = run(&[
        "capture",
        "--name",
        "ms_cli_no_such_map_at_all",
        "-o",
        out_s,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("try --name ms_cli_no_such_"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "capture",
        "--pinned",
        "/sys/fs/bpf/ms_cli_nothing_here",
        "-o",
        out_s,
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nothing is pinned at"), "{}", r.stderr);
    // Bad usage.
    let r = run(&["capture", "-o", out_s]);
    assert_eq!(r.code, 2);
    let r = run(&["capture", "--id", &hid.to_string()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--output"), "{}", r.stderr);
}

#[test]
fn without_privileges_the_error_says_to_run_as_root() {
    let test = "without_privileges_the_error_says_to_run_as_root";
    let Some(map) = hash_map(test, "ms_cli_perm", 1) else {
        return;
    };
    let id = map.info().id.to_string();
    let dir = TempDir::new("perm");
    let out = dir.file("x.mscap");
    // As root, run the binary as nobody.
    for args in [
        vec!["capture", "--id", &id, "-o", out.to_str().unwrap()],
        vec!["capture", "list"],
    ] {
        let r = run_with(&args, |c| {
            c.uid(65534).gid(65534);
        });
        if r.code == -1 {
            skip(
                test,
                &format!("cannot run the binary as nobody: {}", r.stderr),
            );
            return;
        }
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("permission denied")
                && r.stderr.contains("CAP_BPF")
                && r.stderr.contains("run mapsleuth as root"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    assert!(!out.exists());
}

/// `capture --recursive` of a hash of maps through the binary: the JSON report lists the
/// inner maps with their outer map, the file holds them, and `analyze dump` of it names
/// each outer key's inner map.
#[test]
fn capture_recursive_follows_a_hash_of_maps() {
    let test = "capture_recursive_follows_a_hash_of_maps";
    let Some(inner_a) = hash_map(test, "ms_cli_in_a", 3) else {
        return;
    };
    let inner_b = hash_map(test, "ms_cli_in_b", 5).unwrap();
    let spec = MapSpec {
        map_type: 13, // BPF_MAP_TYPE_HASH_OF_MAPS
        key_size: 4,
        value_size: 4,
        max_entries: 8,
        name: "ms_cli_outer".into(),
        ..MapSpec::default()
    };
    let outer = MapFd::new(map_create(&spec, None, Some(inner_a.as_fd())).unwrap()).unwrap();
    for (k, inner) in [(10u32, &inner_a), (20, &inner_b)] {
        let fd = inner.as_fd().as_raw_fd() as u32;
        outer
            .update(&k.to_le_bytes(), &fd.to_le_bytes(), 0)
            .unwrap();
    }
    let dir = TempDir::new("recursive");
    let out = dir.file("mom.mscap");
    let out_s = out.to_str().unwrap();
    let id = outer.info().id.to_string();
    let r = run(&[
        "capture",
        "--id",
        &id,
        "--recursive",
        "-o",
        out_s,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("capture.schema.json", &report);
    let maps = report["maps"].as_array().unwrap();
    assert_eq!(maps.len(), 3, "{}", r.stdout);
    assert!(maps[0].get("outer_map_id").is_none());
    let mut inner: Vec<(u64, u64)> = maps[1..]
        .iter()
        .map(|m| {
            assert_eq!(m["outer_map_id"], outer.info().id);
            (m["id"].as_u64().unwrap(), m["entries"].as_u64().unwrap())
        })
        .collect();
    inner.sort_unstable();
    let mut want = vec![
        (u64::from(inner_a.info().id), 3),
        (u64::from(inner_b.info().id), 5),
    ];
    want.sort_unstable();
    assert_eq!(inner, want);

    let r = run(&["analyze", "dump", out_s]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (k, m, name, n) in [
        ("0a000000", &inner_a, "ms_cli_in_a", 3),
        ("14000000", &inner_b, "ms_cli_in_b", 5),
    ] {
        let line = format!(
            "-> inner map {} `{name}` (hash, {n} entries, in this capture)",
            m.info().id
        );
        assert!(
            r.stdout.lines().any(|l| l.contains(k) && l.contains(&line)),
            "{line}\n{}",
            r.stdout
        );
    }
}
