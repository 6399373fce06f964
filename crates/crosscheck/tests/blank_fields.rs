//! Go blank fields as the corpus binaries' DWARF spells them: gc names every blank
//! field exactly `_`, so `is_go_blank` is a comparison with `_` and `_x` stays a field.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_crosscheck::pairing::is_user_go_type;
use mapsleuth_dwarf::GoBinary;
use mapsleuth_layout::{in_go_blank, is_go_blank, TypeKind, TypeTable};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

const BINARIES: [&str; 5] = [
    "go/bin/app-go1.19.8-linux-amd64",
    "go/bin/app-go1.25.5-linux-386",
    "go/bin/app-go1.25.5-linux-s390x",
    "go/bin/app-go1.25.5-darwin-arm64",
    "go/bin/app-go1.27.3-linux-amd64",
];

/// Every user struct of the binary, in one table.
fn user_structs(bin: &str) -> (TypeTable, Vec<(String, u32)>) {
    let go = GoBinary::open(corpus(bin)).unwrap();
    let names: Vec<String> = go
        .types()
        .unwrap()
        .iter()
        .filter(|t| t.kind == "struct" && is_user_go_type(&t.name))
        .map(|t| t.name.clone())
        .collect();
    let (table, ids) = go.table_for(&names).unwrap();
    (table, names.into_iter().zip(ids).collect())
}

/// (member name, byte offset, byte size) of a struct.
fn members(table: &TypeTable, id: u32) -> Vec<(String, u64, u64)> {
    let TypeKind::Struct(s) = &table.get(table.resolve(id).unwrap()).unwrap().kind else {
        panic!("{} is not a struct", table.type_name(id));
    };
    s.members
        .iter()
        .map(|m| {
            let name = m.name.clone().unwrap_or_default();
            (name, m.offset_bits / 8, table.size_of(m.ty).unwrap())
        })
        .collect()
}

/// corpus/go/app/bpf_types.go: `_ hostLayout` at 0, `_ [4]byte` after `Pid`, `_ [3]byte`
/// after `Comm`.
#[test]
fn bpf2go_blank_fields_are_named_underscore() {
    for bin in BINARIES {
        let (table, structs) = user_structs(bin);
        let (_, id) = structs.iter().find(|(n, _)| n == "main.bpfEvent").unwrap();
        let blanks: Vec<(u64, u64)> = members(&table, *id)
            .into_iter()
            .filter(|(name, _, _)| is_go_blank(name))
            .map(|(_, offset, size)| (offset, size))
            .collect();
        assert_eq!(blanks, [(0, 0), (4, 4), (37, 3)], "{bin}");
        let blank_leaves: Vec<(u64, u64)> = table
            .leaves(*id)
            .unwrap()
            .into_iter()
            .filter(|l| in_go_blank(&l.path))
            .map(|l| (l.offset_bits / 8, l.size_bits / 8))
            .collect();
        assert_eq!(blank_leaves, [(4, 4), (37, 3)], "{bin}");
    }
}

/// No other spelling: in every user struct, a member name starting with `_` is `_`
/// itself, and blank fields are there to find.
#[test]
fn go_dwarf_spells_every_blank_field_underscore() {
    for bin in BINARIES {
        let (table, structs) = user_structs(bin);
        let mut blanks = 0;
        for (name, id) in &structs {
            for (member, _, _) in members(&table, *id) {
                assert!(
                    !member.starts_with('_') || is_go_blank(&member),
                    "{bin}: {name} has a member `{member}`"
                );
                blanks += usize::from(is_go_blank(&member));
            }
        }
        assert!(blanks >= 30, "{bin}: {blanks} blank fields");
    }
}
