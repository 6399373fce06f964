//! The CI gate end to end: `check`, `lock write`/`lock check`, `--format sarif` against
//! the official SARIF 2.1.0 schema, and docs/ci.md's shell step run as written.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{run, Run, AMD64, CORPUS};

const MAPS: &str = "bpf/maps.bpf.o";
const CI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ci");

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn config(name: &str) -> String {
    format!("{CI}/{name}.toml")
}

/// A fresh directory under the test temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gate-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn validate(schema_file: &str, doc: &serde_json::Value) {
    let text = std::fs::read_to_string(format!("{CORPUS}/../schemas/{schema_file}")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

#[test]
fn check_passes_the_good_mirrors_and_fails_the_others() {
    let good = config("good");
    let r = run(&["check", "--go-bin", AMD64, "--btf", MAPS, "--config", &good]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("6 pairs checked: no errors"),
        "{}",
        r.stdout
    );
    // Every map of the object is listed, the sized-only and legacy-style ones too.
    for map in [
        "flows",
        "events",
        "lpm_v4",
        "conns",
        "sized_only",
        "ms_pinned",
    ] {
        assert!(
            r.stdout.contains(&format!("  {map} ")),
            "{map}: {}",
            r.stdout
        );
    }
    // Pairing by name: every corpus mirror of `struct event`, the buggy ones included.
    let r = run(&[
        "check", "--go-bin", AMD64, "--btf", MAPS, "--format", "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("check.schema.json", &v);
    let pairs = v["objects"][0]["layout"]["pairs"].as_array().unwrap();
    assert!(
        pairs
            .iter()
            .any(|p| p["go_type"] == "example.com/app/reorder.Event"),
        "reorder.Event is paired by name"
    );
    // Two objects at once: the legacy object's maps too.
    let r = run(&[
        "check",
        "--go-bin",
        AMD64,
        "--btf",
        MAPS,
        "--btf",
        "bpf/legacy.bpf.o",
        "--config",
        &good,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["objects"].as_array().unwrap().len(), 2, "{}", r.stderr);
}

#[test]
fn allowed_findings_need_a_reason_and_do_not_count() {
    let dir = scratch("allow");
    let good = std::fs::read_to_string(config("good")).unwrap();
    let cfg = dir.join("mapsleuth.toml");
    let check = |extra: &[&str]| {
        let mut a = vec![
            "check",
            "--go-bin",
            AMD64,
            "--btf",
            MAPS,
            "--fail-on",
            "info",
        ];
        a.extend(["--config", cfg.to_str().unwrap()]);
        a.extend(extra);
        run(&a)
    };
    // The good mirrors leave three notes (L002 addr's alignment, L013 conn_flags'
    // bitfield unit, L020 addr's union): at --fail-on info they fail the run...
    std::fs::write(&cfg, &good).unwrap();
    let r = check(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    // ...until each is allowed, with its reason.
    let allows = "\n[[allow]]\ncode = \"L002\"\ntype = \"struct addr\"\nreason = \"Go reads it unaligned\"\n\
                  [[allow]]\ncode = \"L013\"\nreason = \"the whole unit is read\"\n\
                  [[allow]]\ncode = \"L020\"\nmap = \"addrs\"\nreason = \"v4 and v6 decoded by family\"\n";
    std::fs::write(&cfg, format!("{good}{allows}")).unwrap();
    let r = check(&["--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("check.schema.json", &v);
    let allowed = v["allowed"].as_array().unwrap();
    assert_eq!(allowed.len(), 3, "{allowed:#?}");
    assert!(allowed
        .iter()
        .any(|a| a["reason"] == "the whole unit is read" && a["finding"]["code"] == "L013"));
    assert_eq!(v["summary"]["infos"], 0);
    // A selector that does not match allows nothing.
    std::fs::write(
        &cfg,
        format!(
            "{good}{}",
            allows.replace("map = \"addrs\"", "map = \"flows\"")
        ),
    )
    .unwrap();
    assert_eq!(check(&[]).code, 1);
    // A reason is mandatory; a bad config file is exit 2 with its line.
    std::fs::write(&cfg, "[[allow]]\ncode = \"L022\"\n").unwrap();
    let r = check(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("reason"), "{}", r.stderr);
    std::fs::write(&cfg, "[[pair]]\ngo = \"x\"\n\nc = [\n").unwrap();
    let r = check(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("mapsleuth.toml:4"), "{}", r.stderr);
    // A pair whose Go type the binary lacks is bad usage.
    std::fs::write(&cfg, "[[pair]]\ngo = \"main.Nope\"\nc = \"struct event\"\n").unwrap();
    let r = check(&[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("main.Nope"), "{}", r.stderr);
}

/// `mapsleuth ARGS` in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mapsleuth"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn corpus(p: &str) -> String {
    format!("{CORPUS}/{p}")
}

/// A directory with `mapsleuth.toml` = `config` and a lockfile of the good build.
fn locked_project(name: &str, config_name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::copy(config("good"), dir.join("mapsleuth.toml")).unwrap();
    let r = run_in(
        &dir,
        &[
            "lock",
            "write",
            "--go-bin",
            &corpus(AMD64),
            "--btf",
            &corpus(MAPS),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::copy(config(config_name), dir.join("mapsleuth.toml")).unwrap();
    dir
}

#[test]
fn lock_write_check_and_update() {
    let dir = locked_project("lock", "good");
    let lock = std::fs::read_to_string(dir.join("mapsleuth.lock")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&lock).unwrap();
    validate("lock.schema.json", &v);
    // One field per line, sorted maps.
    assert!(
        lock.contains(
            r#"{"name": "pid", "offset": 0, "size": 4, "kind": "uint", "type": "__u32"}"#
        ),
        "{lock}"
    );
    let names: Vec<&str> = v["maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let args = ["--go-bin", &corpus(AMD64), "--btf", &corpus(MAPS)];
    let with = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(args.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let r = run_in(
        &dir,
        &with(&["lock", "check"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("the build matches it"), "{}", r.stdout);
    // lock write never replaces a lockfile without --update.
    let r = run_in(
        &dir,
        &with(&["lock", "write"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 2);
    // The reordered build: exit 1, JSON report valid, lockfile untouched without --update.
    std::fs::copy(config("reorder"), dir.join("mapsleuth.toml")).unwrap();
    let check_json = with(&["lock", "check", "--format", "json"]);
    let r = run_in(
        &dir,
        &check_json.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("lock-check.schema.json", &v);
    let moved: Vec<&serde_json::Value> = v["incompatible"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == "moved")
        .collect();
    assert_eq!(moved.len(), 2, "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.join("mapsleuth.lock")).unwrap(),
        lock
    );
    // --update rewrites it; the build then matches.
    let update = with(&["lock", "check", "--update"]);
    let r = run_in(&dir, &update.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("moved") && r.stdout.contains("updated mapsleuth.lock"));
    let r = run_in(
        &dir,
        &with(&["lock", "check"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn bad_lockfiles_are_exit_2_with_the_line_and_kept() {
    let dir = scratch("badlock");
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "lock",
            "check",
            "--go-bin",
            &corpus(AMD64),
            "--btf",
            &corpus(MAPS),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    for (text, want) in [
        (
            "{\n  \"format\": 1,\n  \"maps\": [\n    {,\n",
            "mapsleuth.lock:4:",
        ),
        (
            "{\n  \"generator\": \"x\",\n  \"format\": 9,\n  \"maps\": []\n}\n",
            "mapsleuth.lock:3: lockfile format 9 is newer",
        ),
        (
            "{\n  \"format\": 1,\n  \"go_arch\": 5\n}\n",
            "mapsleuth.lock:3:",
        ),
    ] {
        std::fs::write(dir.join("mapsleuth.lock"), text).unwrap();
        for extra in [&[][..], &["--update"][..]] {
            let a = args(extra);
            let r = run_in(&dir, &a.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(r.code, 2, "{text}: {}", r.stdout);
            assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
            assert_eq!(
                std::fs::read_to_string(dir.join("mapsleuth.lock")).unwrap(),
                text
            );
        }
    }
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let gosrc = corpus("go/app");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "check", "--go-bin", AMD64, "--btf", MAPS, "--go-src", &gosrc,
        ],
        vec!["check", "--go-bin", AMD64, "--btf", MAPS],
        vec![
            "analyze",
            "layout",
            "--go-bin",
            AMD64,
            "--btf",
            MAPS,
            "--pair",
            "reorder.Event=event",
            "--go-src",
            &gosrc,
        ],
        vec![
            "analyze",
            "dump",
            "dumps/flows.json",
            "--btf",
            MAPS,
            "--map",
            "flows",
        ],
    ];
    for args in cases {
        let mut a = args.clone();
        a.extend(["--format", "sarif"]);
        let r = run(&a);
        assert!(r.code == 0 || r.code == 1, "{a:?}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        validate("sarif-schema-2.1.0.json", &v);
        let run0 = &v["runs"][0];
        let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
        let results = run0["results"].as_array().unwrap();
        assert!(!results.is_empty(), "{a:?}");
        for res in results {
            let i = res["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], res["ruleId"]);
        }
        if args.contains(&"--go-src") {
            // reorder.Event's findings point at its declaration.
            let at_source = results.iter().find(|res| {
                res["ruleId"] == "L003"
                    && res["properties"]["other_type"] == "example.com/app/reorder.Event"
            });
            let loc =
                &at_source.expect("an L003 of reorder.Event")["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
            assert!(uri.ends_with(".go") && uri.contains("/reorder/"), "{uri}");
            let line = loc["region"]["startLine"].as_u64().unwrap() as usize;
            let text = std::fs::read_to_string(uri).unwrap();
            assert!(text.lines().nth(line - 1).unwrap().contains("Event struct"));
        }
    }
    // The schema is really applied: a wrong version is rejected.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CORPUS}/../schemas/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    let bad = serde_json::json!({"version": "2.0.0", "runs": []});
    assert!(!jsonschema::validator_for(&schema).unwrap().is_valid(&bad));
    // The rules carry the catalogue's text.
    let r = run(&[
        "check", "--go-bin", AMD64, "--btf", MAPS, "--format", "sarif",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    let l003 = rules.iter().find(|r| r["id"] == "L003").unwrap();
    assert_eq!(l003["name"], "field offset differs");
    assert!(l003["help"]["text"]
        .as_str()
        .unwrap()
        .contains("explicit padding"));
    assert!(l003["helpUri"]
        .as_str()
        .unwrap()
        .ends_with("#l003-error--field-offset-differs"));
}

/// The shell step of docs/ci.md, as written there.
fn shell_step() -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ci.md")).unwrap();
    let after = doc
        .split("<!-- ci-shell-step -->")
        .nth(1)
        .expect("the marked step");
    let body = after.split("```sh\n").nth(1).unwrap();
    body.split("```").next().unwrap().to_string()
}

fn run_step(dir: &Path) -> Run {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mapsleuth")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", &shell_step()])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("GO_BIN", corpus(AMD64))
        .env("BPF_OBJ", corpus(MAPS))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn the_documented_shell_step_gates_a_moved_field() {
    let good = locked_project("step-good", "good");
    let r = run_step(&good);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("the build matches it"), "{}", r.stdout);
    let moved = locked_project("step-moved", "reorder");
    let r = run_step(&moved);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    snap!("gate__lock_check_moved_field", r.stdout);
}
