//! Every L finding on the corpus has a severity the catalogue lists for its code, and
//! every severity listed occurs: the catalogue (and docs/findings.md with it) says what
//! the engine does.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use mapsleuth_btf::{Btf, BtfBytes};
use mapsleuth_crosscheck::crosscheck::{crosscheck, TypeRef};
use mapsleuth_crosscheck::pairing::{is_user_go_type, match_names};
use mapsleuth_dwarf::GoBinary;
use mapsleuth_layout::{FindingCode, LayoutCode, TypeKind};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

#[test]
fn layout_findings_take_the_catalogue_severities() {
    let mut seen = BTreeSet::new();
    for bin in [
        "go/bin/app-go1.25.5-linux-amd64",
        "go/bin/app-go1.25.5-linux-386",
    ] {
        let go = GoBinary::open(corpus(bin)).unwrap();
        let go_names: Vec<String> = go
            .types()
            .unwrap()
            .iter()
            .filter(|t| t.kind == "struct" && is_user_go_type(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let (gt, gids) = go.table_for(&go_names).unwrap();
        for object in ["bpf/types.bpf.o", "bpf/types.bpfeb.o"] {
            let bytes = BtfBytes::read(corpus(object).to_str().unwrap()).unwrap();
            let ct = Btf::parse(&bytes.data).unwrap().to_table().unwrap();
            for (cid, t) in ct.iter() {
                if !matches!(t.kind, TypeKind::Struct(_) | TypeKind::Union(_)) {
                    continue;
                }
                let c_name = ct.type_name(cid);
                for (gname, &gid) in go_names.iter().zip(&gids) {
                    let Some(rule) = match_names(gname, &c_name) else {
                        continue;
                    };
                    let go = TypeRef {
                        table: &gt,
                        id: gid,
                    };
                    let c = TypeRef {
                        table: &ct,
                        id: cid,
                    };
                    let report = crosscheck(go, c, rule).unwrap();
                    for f in &report.findings {
                        let code: FindingCode = f.code.parse().unwrap();
                        assert!(
                            code.info().severities.contains(&f.severity),
                            "{gname} vs {c_name}: {} is {:?}, the catalogue says {:?}",
                            f.code,
                            f.severity,
                            code.info().severities
                        );
                        seen.insert((f.code.clone(), f.severity));
                    }
                }
            }
        }
    }
    // And every severity the catalogue lists occurs (L022 is about the inputs, not a
    // pair: report.rs tests it; L024/L025 are the lockfile's: crates/cli/tests/gate.rs).
    let not_a_pair = [
        LayoutCode::Unpaired,
        LayoutCode::LockIncompatible,
        LayoutCode::LockCompatible,
    ];
    let listed: BTreeSet<_> = LayoutCode::ALL
        .iter()
        .filter(|c| !not_a_pair.contains(c))
        .flat_map(|c| {
            c.info()
                .severities
                .iter()
                .map(|s| (c.as_str().to_string(), *s))
        })
        .collect();
    assert_eq!(seen, listed);
}
