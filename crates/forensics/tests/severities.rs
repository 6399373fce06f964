//! Every D finding on the corpus dumps has a severity the catalogue lists for its code:
//! the catalogue (and docs/findings.md with it) says what the engine does.

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

use mapsleuth_btf::{discover_maps, Btf, BtfBytes};
use mapsleuth_dump::{parse_bpftool_map_show, read_file, DumpReadOptions};
use mapsleuth_forensics::forensics::{check_dump, Options, TypeRef};
use mapsleuth_layout::FindingCode;

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

#[test]
fn dump_findings_take_the_catalogue_severities() {
    let bytes = BtfBytes::read(corpus("bpf/maps.bpf.o").to_str().unwrap()).unwrap();
    let btf = Btf::parse(&bytes.data).unwrap();
    let table = btf.to_table().unwrap();
    let maps = discover_maps(&btf, &table, &bytes.legacy_maps).unwrap();
    let tref = |id: Option<u32>| id.map(|id| TypeRef { table: &table, id });
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus("dumps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".txt") || (name.ends_with(".json") && !name.ends_with(".show.json"))
        })
        .collect();
    files.sort();
    let mut seen = BTreeSet::new();
    for path in &files {
        let Ok(dumps) = read_file(path, &DumpReadOptions::default()) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let stem = name.split('.').next().unwrap();
        for mut dump in dumps {
            if let Ok(show) = std::fs::read(corpus(&format!("dumps/{stem}.show.json"))) {
                dump.merge_meta(&parse_bpftool_map_show(&show, "show").unwrap()[0]);
            }
            let def = maps.iter().find(|m| m.name == stem);
            // The map's own types, none, and (for D003/D004) another map's.
            let events = maps.iter().find(|m| m.name == "events").unwrap();
            let typings = [
                def.map(|d| (tref(d.key_type_id), tref(d.value_type_id))),
                Some((None, None)),
                Some((tref(events.key_type_id), tref(events.value_type_id))),
            ];
            for (key, value) in typings.into_iter().flatten() {
                let Ok((findings, _, _)) = check_dump(&dump, key, value, Options::default()) else {
                    continue;
                };
                for f in findings {
                    let code: FindingCode = f.code.parse().unwrap();
                    assert!(
                        code.info().severities.contains(&f.severity),
                        "{name}: {} is {:?}, the catalogue says {:?}",
                        f.code,
                        f.severity,
                        code.info().severities
                    );
                    seen.insert((f.code, f.severity));
                }
            }
        }
    }
    // The ring capture, its records typed with the struct its BTF object declares.
    let bytes = BtfBytes::read(corpus("captures/ring_event.bpf.o").to_str().unwrap()).unwrap();
    let ring_table = Btf::parse(&bytes.data).unwrap().to_table().unwrap();
    let event = TypeRef {
        table: &ring_table,
        id: ring_table.lookup("struct event").unwrap(),
    };
    let ring = read_file(corpus("captures/ring.mscap"), &DumpReadOptions::default()).unwrap();
    let (findings, _, _) = check_dump(&ring[0], None, Some(event), Options::default()).unwrap();
    for f in findings {
        let code: FindingCode = f.code.parse().unwrap();
        assert!(code.info().severities.contains(&f.severity), "{}", f.code);
        seen.insert((f.code, f.severity));
    }
    // (D006/D007 used to count here from types whose values were all too short: no
    // samples, no "always".)
    assert!(seen.len() >= 12, "{seen:?}");
}
