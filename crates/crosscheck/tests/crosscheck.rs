//! The corpus table: every Go mirror in corpus/go/app against its BPF struct, on every
//! Go version and architecture built. Each deliberate bug must be reported with its
//! code at its field; every correct mirror must report nothing above `info`.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_btf::{Btf, BtfBytes};
use mapsleuth_crosscheck::crosscheck::{crosscheck, PairReport};
use mapsleuth_crosscheck::pairing::MatchRule;
use mapsleuth_dwarf::GoBinary;
use mapsleuth_layout::{ByteOrder, Severity, TypeRef};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

/// (Go type, C type, findings that must be there as (code, field or "")). An empty list
/// means a correct mirror: no warning, no error.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CORRECT: &[Case] = &[
    ("good.Event", "event", &[]),
    ("good.FlowKey", "flow_key", &[]),
    ("good.FlowStats", "flow_stats", &[]),
    ("good.ConnFlags", "conn_flags", &[]),
    ("good.Addr", "addr", &[]),
    ("good.LpmV4Key", "lpm_v4_key", &[]),
    ("main.bpfEvent", "event", &[]),
    ("main.bpfFlowKey", "flow_key", &[]),
    ("main.bpfFlowStats", "flow_stats", &[]),
    ("main.bpfConnFlags", "conn_flags", &[]),
    ("main.bpfAddr", "addr", &[]),
    ("main.bpfLpmV4Key", "lpm_v4_key", &[]),
    ("embed.Event", "event", &[]),
];

/// Bugs whose findings do not depend on the architecture.
const BUGS: &[Case] = &[
    (
        "main.Event",
        "event",
        &[("L006", "is_exit"), ("L012", "comm")],
    ),
    ("boolbug.Event", "event", &[("L006", "is_exit")]),
    ("stringbug.Event", "event", &[("L012", "comm")]),
    (
        "reorder.Event",
        "event",
        &[("L011", "ts_ns"), ("L003", "pid")],
    ),
    (
        "missingpad.Event",
        "event",
        &[("L003", "ts_ns"), ("L001", "")],
    ),
    ("signbug.Event", "event", &[("L005", "ret")]),
    (
        "trailingzero.FlowStats",
        "flow_stats",
        &[("L016", "Tail"), ("L001", "")],
    ),
    (
        "nonpod.FlowStats",
        "flow_stats",
        &[("L012", "bytes"), ("L010", "Extra")],
    ),
    (
        "nonpod.Event",
        "event",
        &[("L012", "comm"), ("L010", "Labels")],
    ),
    ("floatbug.FlowStats", "flow_stats", &[("L007", "bytes")]),
    ("enumbug.FlowStats", "flow_stats", &[("L008", "state")]),
    (
        "bitbug.ConnFlags",
        "conn_flags",
        &[("L013", "state"), ("L013", "dir"), ("L013", "nat")],
    ),
    (
        "missingfield.FlowKey",
        "flow_key",
        &[("L009", "proto"), ("L001", "")],
    ),
    ("extrafield.FlowKey", "flow_key", &[("L010", "Vlan")]),
    ("uniongo.Addr", "addr", &[("L020", "(union)"), ("L001", "")]),
];

/// `int` is 8 bytes on 64-bit targets and 4 on 32-bit ones: wrong size there, right by
/// accident here. Code `implicit.Event` relies on 8-byte alignment of uint64.
const ON_64_BIT: &[Case] = &[
    ("intbug.Event", "event", &[("L004", "pid"), ("L001", "")]),
    ("implicit.Event", "event", &[]),
    (
        "badpad.Event",
        "event",
        &[("L014", "comm"), ("L003", "comm"), ("L001", "")],
    ),
];
const ON_32_BIT: &[Case] = &[
    ("intbug.Event", "event", &[("L015", "pid")]),
    (
        "implicit.Event",
        "event",
        &[("L018", "ts_ns"), ("L003", "ts_ns"), ("L001", "")],
    ),
    // The uint64 moves first on 32-bit targets; the misplaced padding then covers `ret`.
    (
        "badpad.Event",
        "event",
        &[("L018", "ts_ns"), ("L003", "ts_ns"), ("L014", "ret")],
    ),
];

struct Checked {
    binary: String,
    go: String,
    report: PairReport,
}

fn check_binary(path: &str, object: &str, cases: &[Case]) -> Vec<Checked> {
    let bin = GoBinary::open(corpus(path)).unwrap();
    let btf_bytes = BtfBytes::read(corpus(object).to_str().unwrap()).unwrap();
    let btf = Btf::parse(&btf_bytes.data).unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let (go_table, go_ids) = bin.table_for(&names).unwrap();
    let c_ids: Vec<u32> = cases.iter().map(|c| btf.find_type(c.1).unwrap()).collect();
    let c_table = btf.to_table_for(&c_ids).unwrap();
    assert_eq!(go_ids.len(), cases.len(), "{path}: one Go type per case");
    cases
        .iter()
        .zip(go_ids.iter().zip(&c_ids))
        .map(|(case, (&g, &c))| Checked {
            binary: path.to_string(),
            go: case.0.to_string(),
            report: crosscheck(
                TypeRef {
                    table: &go_table,
                    id: g,
                },
                TypeRef {
                    table: &c_table,
                    id: c,
                },
                MatchRule::Explicit,
            )
            .unwrap(),
        })
        .collect()
}

/// The side-by-side rows read in offset order on each side; Go's only where Go keeps
/// C's field order (L011 says it does not).
fn assert_rows_in_order(checked: &Checked, what: &str) {
    let r = &checked.report;
    let offsets = |go: bool| -> Vec<(u64, u64)> {
        r.rows
            .iter()
            .filter_map(|row| if go { row.go.as_ref() } else { row.c.as_ref() })
            .map(|c| (c.offset, c.bits.map_or(0, |b| b.0)))
            .collect()
    };
    let sorted = |v: &[(u64, u64)]| v.windows(2).all(|w| w[0] <= w[1]);
    assert!(
        sorted(&offsets(false)),
        "{what}: C rows out of order: {:#?}",
        r.rows
    );
    if !r.findings.iter().any(|f| f.code == "L011") {
        assert!(
            sorted(&offsets(true)),
            "{what}: Go rows out of order: {:#?}",
            r.rows
        );
    }
}

fn assert_case(checked: &Checked, expect: &[(&str, &str)]) {
    let r = &checked.report;
    let what = format!("{} {} vs {}", checked.binary, checked.go, r.c_type);
    assert_rows_in_order(checked, &what);
    let serious: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    if expect.is_empty() {
        assert!(
            serious.is_empty(),
            "{what}: a correct mirror reported {serious:#?}"
        );
        return;
    }
    for (code, field) in expect {
        let hit = r.findings.iter().any(|f| {
            f.code == *code
                && (field.is_empty() || f.location.field.as_deref() == Some(*field))
                && f.severity > Severity::Info
        });
        assert!(
            hit,
            "{what}: expected {code} at `{field}`, got {:#?}",
            r.findings
        );
    }
}

#[derive(serde::Deserialize)]
struct Manifest {
    binaries: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    file: String,
    has_dwarf: bool,
    pointer_size: u32,
    byte_order: String,
    #[serde(default)]
    goos: String,
}

#[test]
fn every_binary_of_the_go_corpus() {
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(corpus("go/manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for b in manifest
        .binaries
        .iter()
        .filter(|b| b.has_dwarf && b.file.contains("/app-"))
    {
        let path = format!("go/{}", b.file);
        // A big-endian Go program talks to a kernel of its own byte order: check it
        // against the object compiled for that byte order.
        let object = if b.byte_order == "big" {
            "bpf/maps.bpfeb.o"
        } else {
            "bpf/maps.bpf.o"
        };
        let arch_cases = if b.pointer_size == 8 {
            ON_64_BIT
        } else {
            ON_32_BIT
        };
        let cases: Vec<Case> = CORRECT
            .iter()
            .chain(BUGS)
            .chain(arch_cases)
            .copied()
            .collect();
        let checked_cases = check_binary(&path, object, &cases);
        assert_eq!(checked_cases.len(), cases.len(), "{path}");
        for (c, case) in checked_cases.iter().zip(&cases) {
            assert_case(c, case.2);
            checked += 1;
        }
        let _ = &b.goos;
    }
    assert!(checked > 300, "only {checked} pairs checked");
}

#[test]
fn byte_order_mismatch_is_reported_for_every_pair() {
    let s390x = "go/bin/app-go1.25.5-linux-s390x";
    let bin = GoBinary::open(corpus(s390x)).unwrap();
    assert_eq!(bin.target().byte_order, ByteOrder::Big);
    for c in check_binary(s390x, "bpf/maps.bpf.o", CORRECT) {
        assert_case(&c, &[("L017", "")]);
    }
}

/// Every layout code of docs/findings.md fires somewhere on the corpus (L022 is about
/// the inputs as a whole and is tested with the report), and exact mirrors report
/// nothing, not even a note.
#[test]
fn every_code_fires_and_exact_mirrors_are_silent() {
    let mut seen = std::collections::BTreeSet::new();
    for (bin, object, cases) in [
        (
            "go/bin/app-go1.25.5-linux-amd64",
            "bpf/maps.bpf.o",
            [CORRECT, BUGS, ON_64_BIT].concat(),
        ),
        (
            "go/bin/app-go1.25.5-linux-386",
            "bpf/maps.bpf.o",
            [CORRECT, BUGS, ON_32_BIT].concat(),
        ),
        (
            "go/bin/app-go1.25.5-linux-s390x",
            "bpf/maps.bpf.o",
            CORRECT.to_vec(),
        ),
    ] {
        for c in check_binary(bin, object, &cases) {
            seen.extend(c.report.findings.iter().map(|f| f.code.clone()));
        }
    }
    // A weak pair (bpf2go naming) is noted as such.
    let amd64 = "go/bin/app-go1.25.5-linux-amd64";
    let bin = GoBinary::open(corpus(amd64)).unwrap();
    let btf_bytes = BtfBytes::read(corpus("bpf/maps.bpf.o").to_str().unwrap()).unwrap();
    let btf = Btf::parse(&btf_bytes.data).unwrap();
    let (gt, gids) = bin.table_for(&["main.bpfEvent"]).unwrap();
    let cid = btf.find_type("event").unwrap();
    let ct = btf.to_table_for(&[cid]).unwrap();
    let weak = crosscheck(
        TypeRef {
            table: &gt,
            id: gids[0],
        },
        TypeRef {
            table: &ct,
            id: cid,
        },
        MatchRule::Weak,
    )
    .unwrap();
    seen.extend(weak.findings.iter().map(|f| f.code.clone()));
    let catalogue = std::fs::read_to_string(corpus("../docs/findings.md")).unwrap();
    for code in catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .filter_map(|l| l.split_whitespace().next())
    {
        // L022 is the pairing's, L024/L025 the lockfile's: not a pair's cross-check.
        if code.starts_with('L') && !["L022", "L024", "L025"].contains(&code) {
            assert!(
                seen.contains(code),
                "{code} never fires on the corpus (seen: {seen:?})"
            );
        }
    }
    for exact in [
        "good.Event",
        "good.FlowKey",
        "good.FlowStats",
        "good.LpmV4Key",
        "embed.Event",
        "main.bpfEvent",
    ] {
        let case: Vec<Case> = CORRECT.iter().filter(|c| c.0 == exact).copied().collect();
        for c in check_binary(amd64, "bpf/maps.bpf.o", &case) {
            assert!(
                c.report.findings.is_empty(),
                "{exact}: {:#?}",
                c.report.findings
            );
        }
    }
}

/// The round trip of `go gen`: Go generated from BTF (corpus/go/gen, compiled by
/// corpus/regen-go.sh for amd64 and 386) mirrors every root type with no warning and no
/// error, on both targets.
#[test]
fn go_gen_output_cross_checks_clean() {
    let tsv = std::fs::read_to_string(corpus("go/gen/packages.tsv")).unwrap();
    let mut checked = 0;
    for bin in [
        "go/bin/gen-go1.25.5-linux-amd64",
        "go/bin/gen-go1.25.5-linux-386",
    ] {
        let go = GoBinary::open(corpus(bin)).unwrap();
        for line in tsv
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            let (pkg, object, roots) = (cols[0], cols[1], cols[2]);
            let bytes = BtfBytes::read(corpus(object).to_str().unwrap()).unwrap();
            let btf = Btf::parse(&bytes.data).unwrap();
            for root in roots.split(',') {
                let go_name = format!(
                    "example.com/gen/{pkg}.{}",
                    mapsleuth_crosscheck::gogen::camel_case(root)
                );
                let (gt, gids) = go.table_for(&[go_name.as_str()]).unwrap();
                let cid = btf.find_type(root).unwrap();
                let ct = btf.to_table_for(&[cid]).unwrap();
                let r = crosscheck(
                    TypeRef {
                        table: &gt,
                        id: gids[0],
                    },
                    TypeRef {
                        table: &ct,
                        id: cid,
                    },
                    MatchRule::Explicit,
                )
                .unwrap();
                let serious: Vec<_> = r
                    .findings
                    .iter()
                    // The big-endian package against a little-endian Go target is
                    // expected to differ in byte order, and only that.
                    .filter(|f| {
                        f.severity > Severity::Info && !(pkg == "bpfeb" && f.code == "L017")
                    })
                    .collect();
                assert!(
                    serious.is_empty(),
                    "{bin} {go_name} vs {root}: {serious:#?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "{checked}");
}

/// Every Go struct of the corpus against every struct and union of the corpus objects,
/// little- and big-endian: nonsense pairs on purpose (bitfields against strings, unions
/// against arrays, packed against 386). The engine must answer each with findings,
/// never a panic or an error.
#[test]
fn any_pair_is_answered_without_panicking() {
    let mut pairs = 0;
    for bin in [
        "go/bin/app-go1.25.5-linux-386",
        "go/bin/gen-go1.25.5-linux-amd64",
    ] {
        let go = GoBinary::open(corpus(bin)).unwrap();
        let go_names: Vec<String> = go
            .types()
            .unwrap()
            .iter()
            .filter(|t| t.kind == "struct" && t.name.starts_with("example.com/"))
            .map(|t| t.name.clone())
            .collect();
        let (gt, gids) = go.table_for(&go_names).unwrap();
        for object in ["bpf/types.bpf.o", "bpf/types.bpfeb.o", "bpf/maps.bpf.o"] {
            let bytes = BtfBytes::read(corpus(object).to_str().unwrap()).unwrap();
            let btf = Btf::parse(&bytes.data).unwrap();
            let ct = btf.to_table().unwrap();
            let c_ids: Vec<u32> = ct
                .iter()
                .filter(|(_, t)| {
                    matches!(
                        t.kind,
                        mapsleuth_layout::TypeKind::Struct(_)
                            | mapsleuth_layout::TypeKind::Union(_)
                    )
                })
                .map(|(id, _)| id)
                .collect();
            for &g in &gids {
                for &c in &c_ids {
                    crosscheck(
                        TypeRef { table: &gt, id: g },
                        TypeRef { table: &ct, id: c },
                        MatchRule::Weak,
                    )
                    .unwrap();
                    pairs += 1;
                }
            }
        }
    }
    assert!(pairs > 1000, "{pairs}");
}
