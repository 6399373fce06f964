//! End-to-end: the `mapsleuth` binary on corpus files, its output snapshotted into
//! snapshots/ (review changes with `cargo insta review`).

mod support;

use support::{layout_args, layout_with, run, AMD64, CORPUS};

fn ok(args: &[&str]) -> String {
    let r = run(args);
    assert_eq!(r.code, 0, "mapsleuth {args:?} failed: {}", r.stderr);
    r.stdout
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn btf_show_corpus_structs() {
    for (ty, file) in [
        ("event", "bpf/maps.bpf.o"),
        ("flow_stats", "bpf/maps.bpf.o"),
        ("conn_flags", "bpf/maps.bpf.o"),
        ("addr", "bpf/maps.bpf.o"),
        ("bits", "bpf/types.bpf.o"),
        ("nested", "bpf/types.bpf.o"),
        ("packed_hdr", "bpf/types.bpf.o"),
        ("holds_aligned", "bpf/types.bpf.o"),
        ("arrays", "bpf/types.bpf.o"),
        ("qualified", "bpf/types.bpf.o"),
        ("union value_u", "bpf/types.bpf.o"),
    ] {
        let name = format!("btf_show__{}", ty.replace(' ', "_"));
        snap!(name, ok(&["btf", "show", ty, "--btf", file]));
    }
}

#[test]
fn btf_show_resolves_typedefs_and_enums() {
    snap!(
        "btf_show__u64_typedef",
        ok(&["btf", "show", "__u64", "--btf", "bpf/maps.bpf.o"])
    );
    snap!(
        "btf_show__stamp_t_chain",
        ok(&["btf", "show", "stamp_t", "--btf", "bpf/types.bpf.o"])
    );
    snap!(
        "btf_show__enum_signed_e",
        ok(&["btf", "show", "enum signed_e", "--btf", "bpf/types.bpf.o"])
    );
}

#[test]
fn btf_show_big_endian_object_has_the_same_layout() {
    let le = ok(&["btf", "show", "event", "--btf", "bpf/maps.bpf.o"]);
    let be = ok(&["btf", "show", "event", "--btf", "bpf/maps.bpfeb.o"]);
    assert_eq!(
        le.replace("little-endian", "big-endian")
            .replace("target: bpf ", "target: bpfeb "),
        be
    );
}

#[test]
fn btf_show_json_has_the_documented_fields() {
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "btf",
        "show",
        "event",
        "--btf",
        "bpf/maps.bpf.o",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["size"], 40);
    assert_eq!(v["align"], 8);
    assert_eq!(v["members"][1]["name"], "ts_ns");
    assert_eq!(v["members"][1]["offset_bits"], 64);
    assert_eq!(v["members"][1]["size_bits"], 64);
    assert_eq!(v["members"][1]["type"], "__u64");
    assert_eq!(v["holes"][0]["offset"], 4);
    assert_eq!(v["holes"][0]["size"], 4);
    assert_eq!(v["trailing_padding"], 3);
    let bits: serde_json::Value = serde_json::from_str(&ok(&[
        "btf",
        "show",
        "bits",
        "--btf",
        "bpf/types.bpf.o",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(bits["members"][3]["bitfield"]["bits"], 6);
    assert_eq!(bits["members"][3]["bitfield"]["bit_in_unit"], 10);
}

#[test]
fn btf_show_vmlinux_and_split_btf() {
    snap!(
        "btf_show__vmlinux_sk_buff",
        ok(&["btf", "show", "sk_buff", "--btf", "btf/vmlinux.btf"])
    );
    snap!(
        "btf_show__split_ms_mod_table",
        ok(&[
            "btf",
            "show",
            "ms_mod_table",
            "--btf",
            "btf/split_module.btf",
            "--btf-base",
            "btf/vmlinux.btf"
        ])
    );
    let r = run(&[
        "btf",
        "show",
        "ms_mod_table",
        "--btf",
        "btf/split_module.btf",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("split_module.btf"), "{}", r.stderr);
}

#[test]
fn btf_maps_lists_btf_defined_and_legacy_maps() {
    snap!(
        "btf_maps__maps_bpf_o",
        ok(&["btf", "maps", "--btf", "bpf/maps.bpf.o"])
    );
    snap!(
        "btf_maps__legacy_bpfeb_o",
        ok(&["btf", "maps", "--btf", "bpf/legacy.bpfeb.o"])
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "btf",
        "maps",
        "--btf",
        "bpf/maps.bpf.o",
        "--format",
        "json",
    ]))
    .unwrap();
    let outer = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "outer_hash")
        .unwrap();
    assert_eq!(outer["map_type_name"], "hash_of_maps");
    assert_eq!(outer["inner"]["map_type_name"], "array");
    let lpm = v
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "lpm_v4")
        .unwrap();
    assert_eq!(lpm["key_type"], "struct lpm_v4_key");
    assert_eq!(lpm["map_flags"], 1);
}

#[test]
fn btf_types_filters_by_kind_and_name() {
    snap!(
        "btf_types__types_structs",
        ok(&[
            "btf",
            "types",
            "--btf",
            "bpf/types.bpf.o",
            "--kind",
            "struct"
        ])
    );
    let csv = ok(&[
        "btf",
        "types",
        "--btf",
        "btf/vmlinux.btf",
        "--name",
        "^task_struct$",
        "--format",
        "csv",
    ]);
    assert!(
        csv.lines().any(|l| l.contains(",STRUCT,task_struct,")),
        "{csv}"
    );
    let r = run(&[
        "btf",
        "types",
        "--btf",
        "bpf/types.bpf.o",
        "--kind",
        "nonsense",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown --kind"));
}

#[test]
fn btf_check_on_files() {
    let r = run(&["btf", "check", "--btf", "btf/vmlinux.btf"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("CO-RE can work"), "{}", r.stdout);
    let r = run(&[
        "btf",
        "check",
        "--btf",
        "bpf/maps.bpf.o",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["co_re"], "no");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "B008"));
    let r = run(&[
        "btf",
        "check",
        "--btf",
        "btf/split_module.btf",
        "--btf-base",
        "btf/vmlinux.btf",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["co_re"], "works", "{}", r.stdout);
    assert_eq!(v["base_types"], 126585);
    assert_eq!(v["types"], 9);
    // A file that is not BTF at all: an error finding, exit 1.
    let r = run(&["btf", "check", "--btf", "README.md"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("B002"));
}

#[test]
fn go_show_corpus_structs_per_architecture() {
    for bin in [
        "app-go1.25.5-linux-amd64",
        "app-go1.25.5-linux-386",
        "app-go1.25.5-linux-s390x",
        "app-go1.25.5-darwin-arm64",
    ] {
        let path = format!("go/bin/{bin}");
        for ty in [
            "main.Event",
            "implicit.Event",
            "embed.Event",
            "main.bpfConnFlags",
        ] {
            let name = format!("go_show__{bin}__{ty}").replace('.', "_");
            snap!(name, ok(&["go", "show", ty, "--go-bin", &path]));
        }
    }
}

#[test]
fn go_types_and_errors() {
    snap!(
        "go_types__events",
        ok(&[
            "go",
            "types",
            "--go-bin",
            "go/bin/app-go1.25.5-linux-amd64",
            "--name",
            "app/.*\\.Event$"
        ])
    );
    let r = run(&[
        "go",
        "show",
        "Event",
        "--go-bin",
        "go/bin/app-go1.25.5-linux-amd64",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("ambiguous") && r.stderr.contains("example.com/app/good.Event"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "go",
        "show",
        "main.Event",
        "--go-bin",
        "go/bin/app-go1.25.5-linux-amd64-nodwarf",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no DWARF") && r.stderr.contains("-ldflags=-w"),
        "{}",
        r.stderr
    );
    let r = run(&["go", "show", "main.Event", "--go-bin", "bpf/maps.bpf.o"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

fn validate(schema_file: &str, doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{CORPUS}/../schemas/{schema_file}")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

#[test]
fn analyze_layout_reports() {
    for (name, bin, object, pair) in [
        (
            "main_event_amd64",
            AMD64,
            "bpf/maps.bpf.o",
            "main.Event=event",
        ),
        (
            "implicit_event_386",
            "go/bin/app-go1.25.5-linux-386",
            "bpf/maps.bpf.o",
            "implicit.Event=event",
        ),
        (
            "bitbug_conn_flags",
            AMD64,
            "bpf/maps.bpf.o",
            "bitbug.ConnFlags=conn_flags",
        ),
        (
            "bpf2go_conn_flags",
            AMD64,
            "bpf/maps.bpf.o",
            "main.bpfConnFlags=conn_flags",
        ),
        ("uniongo_addr", AMD64, "bpf/maps.bpf.o", "uniongo.Addr=addr"),
        (
            "reorder_event",
            AMD64,
            "bpf/maps.bpf.o",
            "reorder.Event=event",
        ),
        (
            "good_event_s390x_vs_le",
            "go/bin/app-go1.25.5-linux-s390x",
            "bpf/maps.bpf.o",
            "good.Event=event",
        ),
    ] {
        let r = run(&[
            "analyze", "layout", "--go-bin", bin, "--btf", object, "--pair", pair,
        ]);
        let errors = r.stdout.contains("error[");
        assert_eq!(r.code, if errors { 1 } else { 0 }, "{name}: {}", r.stderr);
        snap!(format!("analyze_layout__{name}"), r.stdout);
    }
}

#[test]
fn analyze_layout_pairs_by_map_and_by_name() {
    let r = run(&layout_args("lpm_v4"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    snap!("analyze_layout__map_lpm_v4", r.stdout);
    // Without --pair or --map: every map type of the object, paired by name.
    let r = run(&layout_with(&["--format", "json"]));
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    validate("analyze-layout.schema.json", &v);
    let pairs = v["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 30, "{}", pairs.len());
    let weak = pairs
        .iter()
        .find(|p| p["go_type"] == "main.bpfEvent")
        .unwrap();
    assert_eq!(weak["matched_by"], "weak");
    // --fail-on warning turns a clean-but-noted pair into a failure only with warnings.
    let r = run(&layout_with(&["--pair", "boolbug.Event=event"]));
    assert_eq!(r.code, 0, "warnings pass the default --fail-on error");
    let r = run(&layout_with(&[
        "--pair",
        "boolbug.Event=event",
        "--fail-on",
        "warning",
    ]));
    assert_eq!(r.code, 1);
    // Bad usage: exit 2 with the reason.
    let r = run(&layout_args("nope"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no map named `nope`") && r.stderr.contains("flows"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_json_document_validates_against_its_schema() {
    let docs = [
        (
            "show.schema.json",
            vec!["btf", "show", "event", "--btf", "bpf/maps.bpf.o"],
        ),
        (
            "show.schema.json",
            vec!["btf", "show", "__u64", "--btf", "bpf/maps.bpf.o"],
        ),
        (
            "show.schema.json",
            vec!["go", "show", "main.Event", "--go-bin", AMD64],
        ),
        (
            "btf-types.schema.json",
            vec!["btf", "types", "--btf", "bpf/types.bpf.o"],
        ),
        (
            "btf-maps.schema.json",
            vec!["btf", "maps", "--btf", "bpf/maps.bpf.o"],
        ),
        (
            "btf-check.schema.json",
            vec!["btf", "check", "--btf", "btf/vmlinux.btf"],
        ),
        (
            "go-types.schema.json",
            vec!["go", "types", "--go-bin", AMD64, "--name", "^main"],
        ),
        (
            "analyze-layout.schema.json",
            vec![
                "analyze",
                "layout",
                "--go-bin",
                "go/bin/app-go1.25.5-linux-386",
                "--btf",
                "bpf/maps.bpf.o",
                "--pair",
                "implicit.Event=event",
            ],
        ),
    ];
    for (schema, mut args) in docs {
        args.extend(["--format", "json"]);
        let r = run(&args);
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", r.stderr));
        validate(schema, &v);
    }
}

/// Against kernel BTF (no maps), user Go structs pair with kernel structs by name; the
/// `go gen` mirrors of vmlinux types check clean.
#[test]
fn analyze_layout_pairs_with_kernel_btf_by_name() {
    let r = run(&[
        "analyze",
        "layout",
        "--go-bin",
        "go/bin/gen-go1.25.5-linux-amd64",
        "--btf",
        "btf/vmlinux.btf",
        "--format",
        "json",
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    validate("analyze-layout.schema.json", &v);
    let pairs = v["pairs"].as_array().unwrap();
    for (go, c) in [
        ("example.com/gen/vmlinux.Iphdr", "struct iphdr"),
        ("example.com/gen/vmlinux.SockCommon", "struct sock_common"),
    ] {
        let p = pairs
            .iter()
            .find(|p| p["go_type"] == go)
            .unwrap_or_else(|| panic!("{go} not paired: {pairs:#?}"));
        assert_eq!(p["c_type"], c);
        assert_eq!(p["matched_by"], "name");
        let serious: Vec<_> = p["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .collect();
        assert!(serious.is_empty(), "{go}: {serious:#?}");
    }
}

/// An unreadable input is named once: "error: /x.o: cannot read /x.o: ..." said it twice.
#[test]
fn unreadable_inputs_are_named_once() {
    let cases: [&[&str]; 7] = [
        &["btf", "show", "event", "--btf", "/nonexistent/x.o"],
        &["go", "show", "main.Event", "--go-bin", "/nonexistent/x.o"],
        &[
            "analyze",
            "layout",
            "--go-bin",
            "/nonexistent/x.o",
            "--btf",
            "bpf/maps.bpf.o",
        ],
        &["analyze", "dump", "/nonexistent/x.o"],
        &[
            "analyze",
            "dump",
            "dumps/flows.json",
            "--btf",
            "/nonexistent/x.o",
        ],
        &[
            "analyze",
            "dump",
            "dumps/flows.json",
            "--map-info",
            "/nonexistent/x.o",
        ],
        &["diff", "/nonexistent/x.o", "dumps/flows.json"],
    ];
    for args in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.matches("/nonexistent/x.o").count(),
            1,
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}
