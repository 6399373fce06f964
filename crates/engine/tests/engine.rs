//! The engine as a library user calls it, on corpus inputs.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use mapsleuth_dump::read_file;
use mapsleuth_engine::{
    consecutive_pairs, load, open_go_binary, pair_maps, BtfInput, DumpRequest, Inputs, MapIdentity,
    Silent, TypeSource, TypeSpec,
};
use mapsleuth_testkit::{corpus, flows_capture_bytes};

fn path(p: &str) -> String {
    corpus(p).display().to_string()
}

fn codes(a: &mapsleuth_engine::Analysed<'_>) -> Vec<(String, String)> {
    a.analysis
        .findings
        .iter()
        .map(|f| {
            (
                f.code.to_string(),
                f.location.field.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// "Analyse a capture with its own BTF": no types given, the capture's BTF decodes it,
/// and the findings are those of the same entries typed from the BPF object.
#[test]
fn a_capture_is_analysed_with_its_own_btf() {
    let file = format!("{}/engine-flows.mscap", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(
        &file,
        flows_capture_bytes("flows.json", "node-1", 1_700_000_000),
    )
    .unwrap();
    let req = DumpRequest {
        inputs: vec![file.clone()],
        ..Default::default()
    };
    let src = TypeSource::read(&req.types).unwrap();
    let done = load(&src, &req, &mut |_, _| Ok(None), &mut Silent).unwrap();
    assert_eq!(done.len(), 1);
    let cap = &done[0];
    assert!(
        cap.analysis
            .types_from
            .as_deref()
            .is_some_and(|s| s.starts_with("the capture's BTF")),
        "{:?}",
        cap.analysis.types_from
    );
    assert_eq!(
        cap.analysis.key_type.as_ref().map(|t| t.name.as_str()),
        Some("struct flow_key")
    );
    assert_eq!(
        cap.snapshot.as_ref().map(|s| s.hostname.as_str()),
        Some("node-1")
    );

    let typed = DumpRequest {
        inputs: vec![path("dumps/flows.json")],
        types: TypeSpec {
            btf: Some(path("bpf/maps.bpf.o")),
            map: Some("flows".into()),
            ..TypeSpec::default()
        },
        ..Default::default()
    };
    let src = TypeSource::read(&typed.types).unwrap();
    let json = load(&src, &typed, &mut |_, _| Ok(None), &mut Silent).unwrap();
    assert_eq!(cap.dump.len(), json[0].dump.len());
    // D014/D015 are about the dump file itself; the rest depend only on entries and types.
    let entry_codes = |a| -> Vec<(String, String)> {
        codes(a)
            .into_iter()
            .filter(|(c, _)| c != "D015" && c != "D014" && c != "D012")
            .collect()
    };
    assert_eq!(entry_codes(cap), entry_codes(&json[0]));
}

/// corpus/dumps/multi.json holds maps 370 and 371, both named `ms_dup`: never one map.
#[test]
fn two_maps_of_one_file_are_not_one_map() {
    let dumps = read_file(corpus("dumps/multi.json"), &Default::default()).unwrap();
    assert_eq!(dumps.len(), 2);
    assert_eq!(dumps[0].meta.name, dumps[1].meta.name);
    let ids: Vec<MapIdentity<'_>> = dumps.iter().map(|d| MapIdentity::of(0, d)).collect();
    assert!(consecutive_pairs(&ids).is_empty());

    // The same file as OLD and NEW: each map pairs with itself, by id.
    let again = read_file(corpus("dumps/multi.json"), &Default::default()).unwrap();
    let new: Vec<MapIdentity<'_>> = again.iter().rev().map(|d| MapIdentity::of(1, d)).collect();
    let p = pair_maps(&ids, &new, None, Inputs::OldAndNew);
    let paired: Vec<(Option<u32>, Option<u32>)> = p
        .pairs
        .iter()
        .map(|&(o, n)| (ids[o].id, new[n].id))
        .collect();
    assert_eq!(paired, vec![(Some(370), Some(370)), (Some(371), Some(371))]);
}

/// Errors name the file once.
#[test]
fn errors_name_the_file_once() {
    let missing = "/nonexistent/prog.bpf.o";
    for err in [
        BtfInput::read(missing, None).err().unwrap().to_string(),
        open_go_binary(missing).err().unwrap().to_string(),
        TypeSource::read(&TypeSpec {
            btf: Some(missing.into()),
            ..TypeSpec::default()
        })
        .err()
        .unwrap()
        .to_string(),
    ] {
        assert_eq!(err.matches(missing).count(), 1, "{err}");
    }
}
