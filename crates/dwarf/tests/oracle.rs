//! The acceptance test: for every Go binary in corpus/go/manifest.json that has DWARF,
//! every struct in its compiler oracle (`unsafe.Sizeof/Alignof/Offsetof`) has the same
//! size and alignment in the layout model, and every named field (embedded promotions
//! as `Header.Pid`) the same offset, size and alignment. Binaries without DWARF give
//! the "rebuild without -ldflags=-w/-s" error.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use mapsleuth_dwarf::{Compression, DwarfError, GoBinary};
use mapsleuth_layout::{ByteOrder, TypeId, TypeKind, TypeTable};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");

fn read_json(rel: &str) -> Value {
    let path = format!("{CORPUS}/go/{rel}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Walks a dotted field path (`Header.Pid`) from a struct: (offset, member type).
fn field(t: &TypeTable, top: TypeId, path: &str) -> Result<(u64, TypeId), String> {
    let (mut ty, mut offset) = (top, 0u64);
    for part in path.split('.') {
        let r = t.resolve(ty).map_err(|e| e.to_string())?;
        let TypeKind::Struct(c) = &t.get(r).map_err(|e| e.to_string())?.kind else {
            return Err(format!("{} is not a struct", t.type_name(ty)));
        };
        let m = c
            .members
            .iter()
            .find(|m| m.name.as_deref() == Some(part))
            .ok_or_else(|| format!("no member {part}"))?;
        offset += m.offset_bits / 8;
        ty = m.ty;
    }
    Ok((offset, ty))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn every_oracle_struct_matches_the_dwarf_layout() {
    let manifest = read_json("manifest.json");
    let binaries = manifest["binaries"].as_array().expect("manifest.binaries");
    assert!(
        !binaries.is_empty(),
        "corpus/go/manifest.json lists no binaries"
    );
    let (mut checked_bins, mut checked_types, mut checked_fields) = (0, 0, 0);
    let mut failures = Vec::new();
    for b in binaries {
        let file = b["file"].as_str().unwrap();
        let data = std::fs::read(format!("{CORPUS}/go/{file}")).unwrap();
        if b["has_dwarf"] != Value::Bool(true) {
            assert_eq!(
                GoBinary::parse(&data).unwrap_err(),
                DwarfError::NoDwarf,
                "{file}"
            );
            continue;
        }
        let bin = GoBinary::parse(&data).unwrap_or_else(|e| panic!("{file}: {e}"));
        let target = bin.target();
        assert_eq!(target.arch, b["goarch"].as_str().unwrap(), "{file}");
        assert_eq!(
            u64::from(target.pointer_size),
            u(&b["pointer_size"]),
            "{file}"
        );
        let order = match target.byte_order {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        };
        assert_eq!(order, b["byte_order"].as_str().unwrap(), "{file}");
        assert_eq!(bin.go_version(), b["go_version"].as_str(), "{file}");
        assert_eq!(
            u64::from(bin.dwarf_version()),
            u(&b["dwarf_version"]),
            "{file}"
        );
        let want_compression = match b["compression"].as_str().unwrap() {
            "zlib" => Compression::Zlib,
            "zstd" => Compression::Zstd,
            "zlib-gnu" => Compression::ZlibGnu,
            _ => Compression::None,
        };
        let info = bin
            .sections()
            .iter()
            .find(|s| s.name.ends_with("debug_info"))
            .unwrap();
        assert_eq!(info.compression, want_compression, "{file}");

        let Some(oracle_rel) = b["oracle"].as_str() else {
            continue;
        };
        let oracle = read_json(oracle_rel);
        let types = oracle["types"].as_array().unwrap();
        let names: Vec<&str> = types.iter().map(|t| t["type"].as_str().unwrap()).collect();
        let (table, ids) = bin
            .table_for(&names)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(ids.len(), types.len(), "{file}: one id per oracle type");
        for (t, &id) in types.iter().zip(&ids) {
            let name = t["type"].as_str().unwrap();
            let mut missing = Vec::new();
            let mut check = |what: String, got: u64, want: u64| {
                if got != want {
                    failures.push(format!(
                        "{file}: {name}: {what}: dwarf {got}, oracle {want}"
                    ));
                }
            };
            check("size".into(), table.size_of(id).unwrap(), u(&t["size"]));
            check(
                "align".into(),
                u64::from(table.align_of(id).unwrap()),
                u(&t["align"]),
            );
            // The whole layout must be computable too (holes, padding, leaves).
            table
                .layout(id)
                .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
            table
                .padding(id)
                .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
            for f in t["fields"].as_array().unwrap() {
                let fname = f["name"].as_str().unwrap();
                match field(&table, id, fname) {
                    Ok((offset, ty)) => {
                        check(format!("{fname} offset"), offset, u(&f["offset"]));
                        check(
                            format!("{fname} size"),
                            table.size_of(ty).unwrap(),
                            u(&f["size"]),
                        );
                        check(
                            format!("{fname} align"),
                            u64::from(table.align_of(ty).unwrap()),
                            u(&f["align"]),
                        );
                    }
                    Err(e) => missing.push(format!("{file}: {name}.{fname}: {e}")),
                }
                checked_fields += 1;
            }
            failures.extend(missing);
            checked_types += 1;
        }
        checked_bins += 1;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked_bins > 0,
        "no binary with DWARF and an oracle in the manifest"
    );
    eprintln!("{checked_bins} binaries, {checked_types} structs, {checked_fields} fields agree");
}
