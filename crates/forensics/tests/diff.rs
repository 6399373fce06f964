//! `diff` on pairs of real dumps (corpus/dumps/flows{,.after}.* and corpus/dumps/diff/:
//! fill, dump, mutate, dump): every add, remove and field change is found, and nothing
//! else, whatever the formats of the two dumps and whether types are given.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use mapsleuth_btf::{discover_maps, Btf, BtfBytes, MapDef};
use mapsleuth_dump::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadMethod, ReadStats, ValueKind,
};
use mapsleuth_dump::{
    parse_bpftool_map_show, read_bytes, read_file, Dump, DumpFormat, DumpReadOptions,
};
use mapsleuth_forensics::diff::{
    diff, Basis, ChangeKind, DiffError, DiffOptions, FieldKind, MapDiff,
};
use mapsleuth_forensics::dump_report::Types;
use mapsleuth_forensics::forensics::TypeRef;
use mapsleuth_layout::TypeTable;

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

struct Object {
    table: TypeTable,
    maps: Vec<MapDef>,
}

fn object() -> &'static Object {
    static OBJ: std::sync::OnceLock<Object> = std::sync::OnceLock::new();
    OBJ.get_or_init(|| {
        let bytes = BtfBytes::read(corpus("bpf/maps.bpf.o").to_str().unwrap()).unwrap();
        let btf = Btf::parse(&bytes.data).unwrap();
        let table = btf.to_table().unwrap();
        let maps = discover_maps(&btf, &table, &bytes.legacy_maps).unwrap();
        Object { table, maps }
    })
}

fn types(map: &str) -> Types<'static> {
    let obj = object();
    let def = obj.maps.iter().find(|m| m.name == map).unwrap();
    let t = |id: Option<u32>| {
        id.map(|id| TypeRef {
            table: &obj.table,
            id,
        })
    };
    Types {
        key: t(def.key_type_id),
        value: t(def.value_type_id),
        source: Some("maps.bpf.o"),
    }
}

/// The dump with its `bpftool map show` information attached (as the CLI does).
fn dump(file: &str) -> Dump {
    let mut d = read_file(
        corpus(&format!("dumps/{file}")),
        &DumpReadOptions::default(),
    )
    .unwrap()
    .remove(0);
    let stem = [".pretty.json", ".json", ".txt"]
        .iter()
        .find_map(|s| file.strip_suffix(s))
        .unwrap();
    if let Ok(show) = std::fs::read(corpus(&format!("dumps/{stem}.show.json"))) {
        d.merge_meta(&parse_bpftool_map_show(&show, "show").unwrap()[0]);
    }
    d
}

/// A capture file holding the entries of a `-j` dump of `flows` (as `mapsleuth capture`
/// would have read them), read back as a dump.
fn capture_of(file: &str) -> Dump {
    let src = dump(file);
    let mut records = Vec::new();
    for e in src.entries() {
        records.extend_from_slice(e.key().unwrap());
        records.extend_from_slice(e.value().unwrap());
    }
    let source = CaptureHost {
        hostname: "h".into(),
        kernel_release: "6.18.0".into(),
        kernel_version: String::new(),
        machine: "x86_64".into(),
        byte_order: ByteOrder::Little,
        possible_cpus: 2,
        tool: "test".into(),
    };
    let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), source);
    w.add_map(
        MapHeader {
            id: 116,
            map_type: 1,
            type_name: "hash".into(),
            name: "flows".into(),
            key_size: 16,
            value_size: 32,
            max_entries: 1024,
            map_flags: 0,
            map_extra: 0,
            ifindex: 0,
            btf_id: 0,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            btf_vmlinux_value_type_id: 0,
            btf_index: None,
            pinned_path: None,
            per_cpu: false,
            values_per_entry: 1,
            value_kind: ValueKind::Data,
            record_size: 48,
            entry_count: src.len() as u64,
            read: ReadStats {
                method: ReadMethod::Batch,
                started_at: "x".into(),
                finished_at: "y".into(),
                vanished_keys: 0,
                revisits: 0,
                complete: true,
            },
            ring: None,
        },
        records,
    )
    .unwrap();
    let mut d = read_bytes(
        &w.to_bytes(),
        &format!("{file}.mscap"),
        &DumpReadOptions::default(),
    )
    .unwrap()
    .remove(0);
    assert_eq!(d.source.format, DumpFormat::Capture);
    d.merge_meta(&src.meta);
    d
}

/// A key as the tests name it: `saddr` of a `flow_key`, the number of a `u32`.
fn key_id(d: &MapDiff, i: usize) -> String {
    let e = &d.entries[i];
    let k = serde_json::to_value(e.key.as_ref().expect("a decoded key")).unwrap();
    match &k {
        serde_json::Value::Object(m) => m["saddr"].to_string(),
        other => other.to_string(),
    }
}

/// Every change, one line each: `+ KEY`, `- KEY`, `~ KEY [cpuN ]PATH: OLD -> NEW`.
fn lines(d: &MapDiff) -> Vec<String> {
    let mut out = Vec::new();
    for (i, e) in d.entries.iter().enumerate() {
        let k = key_id(d, i);
        match e.change {
            ChangeKind::Added => out.push(format!("+ {k}")),
            ChangeKind::Removed => out.push(format!("- {k}")),
            ChangeKind::Changed => {
                assert!(!e.fields.is_empty());
                for f in &e.fields {
                    let cpu = f.cpu.map(|c| format!("cpu{c} ")).unwrap_or_default();
                    out.push(format!(
                        "~ {k} {cpu}{}: {} -> {}",
                        f.path,
                        f.old.brief(),
                        f.new.brief()
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

fn run(old: &Dump, new: &Dump, types: &Types<'_>) -> MapDiff {
    diff(old, new, types, &DiffOptions::default()).unwrap()
}

/// flows -> flows.after (corpus/dumps/README.md): keys c0a80101.. and c0a80103.. added,
/// 0a000003.. deleted, packets 1 -> 2 of 0a000001.., bytes 192 -> 4096 of 0a000005..,
/// state 7 -> 2 of 0a000009.. (the saddr numbers are the address bytes read
/// little-endian, as bpftool prints a `__be32`).
const FLOWS: [&str; 6] = [
    "+ 16885952",                               // c0 a8 01 01
    "+ 50440384",                               // c0 a8 01 03
    "- 50331658",                               // 0a 00 00 03
    "~ 150994954 state: 7 -> \"CS_TIME_WAIT\"", // 0a 00 00 09
    "~ 16777226 packets: 1 -> 2",               // 0a 00 00 01
    "~ 83886090 bytes: 192 -> 4096",            // 0a 00 00 05
];

fn check_flows(d: &MapDiff) {
    let mut want: Vec<String> = FLOWS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(lines(d), want, "{:#?}", d.notes);
    let c = &d.counts;
    assert_eq!((c.old_entries, c.new_entries), (6, 7));
    assert_eq!((c.added, c.removed, c.changed, c.unchanged), (2, 1, 3, 2));
    assert_eq!(c.field_changes, 3);
    assert!(d.differ());
}

#[test]
fn flows_every_format_pair_with_and_without_types() {
    let typed = types("flows");
    let none = Types::default();
    let forms = ["json", "pretty.json", "txt"];
    let mut runs = 0;
    for a in forms {
        for b in forms {
            let old = dump(&format!("flows.{a}"));
            let new = dump(&format!("flows.after.{b}"));
            for t in [&typed, &none] {
                let d = run(&old, &new, t);
                check_flows(&d);
                let basis = if a == "txt" || b == "txt" {
                    Basis::Decoded
                } else {
                    Basis::Bytes
                };
                assert_eq!(d.basis, basis, "{a} {b}");
                // Key bytes are shown whenever a dump has them.
                if basis == Basis::Bytes {
                    assert!(d.entries.iter().all(|e| e.key_hex.is_some()));
                    for e in &d.entries {
                        for f in &e.fields {
                            assert_eq!(f.kind, FieldKind::Field);
                        }
                    }
                }
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 18);
}

#[test]
fn byte_offsets_come_with_the_types() {
    let d = run(
        &dump("flows.json"),
        &dump("flows.after.json"),
        &types("flows"),
    );
    let fields: Vec<(&str, Option<u64>, Option<u64>)> = d
        .entries
        .iter()
        .flat_map(|e| e.fields.iter())
        .map(|f| (f.path.as_str(), f.offset, f.size))
        .collect();
    assert!(fields.contains(&("packets", Some(0), Some(8))));
    assert!(fields.contains(&("bytes", Some(8), Some(8))));
    assert!(fields.contains(&("state", Some(20), Some(4))));
    assert_eq!(d.key_type.as_ref().unwrap().name, "struct flow_key");
    assert_eq!(d.value_type.as_ref().unwrap().size, 32);
    // Sorted by key bytes.
    let keys: Vec<&str> = d
        .entries
        .iter()
        .map(|e| e.key_hex.as_deref().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(&keys[0][..8], "0a000001");
}

#[test]
fn captures_against_bpftool_dumps() {
    let typed = types("flows");
    // Capture (raw bytes, no bpftool decoding) against -j: by bytes.
    let d = run(&capture_of("flows.json"), &dump("flows.after.json"), &typed);
    assert_eq!(d.basis, Basis::Bytes);
    check_flows(&d);
    let d = run(&dump("flows.json"), &capture_of("flows.after.json"), &typed);
    check_flows(&d);
    // Against the plain BTF listing: the capture decoded into bpftool's form agrees with
    // bpftool on every unchanged entry.
    let d = run(&capture_of("flows.json"), &dump("flows.after.txt"), &typed);
    assert_eq!(d.basis, Basis::Decoded);
    check_flows(&d);
    // ... and without types it cannot be matched.
    let e = diff(
        &capture_of("flows.json"),
        &dump("flows.after.txt"),
        &Types::default(),
        &DiffOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, DiffError::Undecodable { .. }), "{e}");
    assert!(
        e.to_string().contains("give the key and value types"),
        "{e}"
    );
}

#[test]
fn without_types_or_decoding_changes_are_byte_ranges() {
    let (old, new) = (capture_of("flows.json"), capture_of("flows.after.json"));
    let d = run(&old, &new, &Types::default());
    assert_eq!(d.basis, Basis::Bytes);
    assert!(d.entries.iter().all(|e| e.key.is_none()));
    let mut got: Vec<String> = d
        .entries
        .iter()
        .flat_map(|e| {
            let k = e.key_hex.clone().unwrap();
            let mut v: Vec<String> = e
                .fields
                .iter()
                .map(|f| {
                    format!(
                        "{} {}: {} -> {}",
                        &k[..8],
                        f.path,
                        f.old.brief(),
                        f.new.brief()
                    )
                })
                .collect();
            if v.is_empty() {
                v.push(format!("{} {:?}", &k[..8], e.change));
            }
            v
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "0a000001 <bytes 0..1>: \"01\" -> \"02\"",
            "0a000003 Removed",
            "0a000005 <bytes 8..10>: \"c000\" -> \"0010\"",
            "0a000009 <bytes 20..21>: \"07\" -> \"02\"",
            "c0a80101 Added",
            "c0a80103 Added",
        ]
    );
    assert!(d
        .entries
        .iter()
        .flat_map(|e| &e.fields)
        .all(|f| f.kind == FieldKind::Bytes));
}

/// diff/pcpu_hash_stats (corpus/dumps/diff/README.md): key 0 packets 5 -> 8 on CPU 1
/// only, key 1 bytes 1000 -> 2000 on both CPUs, key 2 deleted, key 3 added.
#[test]
fn percpu_changes_are_per_cpu() {
    let typed = types("pcpu_hash_stats");
    let want = [
        "+ 3",
        "- 2",
        "~ 0 cpu1 packets: 5 -> 8",
        "~ 1 cpu0 bytes: 1000 -> 2000",
        "~ 1 cpu1 bytes: 1000 -> 2000",
    ];
    let forms = ["json", "pretty.json", "txt"];
    for a in forms {
        for b in forms {
            let old = dump(&format!("diff/pcpu_hash_stats.{a}"));
            let new = dump(&format!("diff/pcpu_hash_stats.after.{b}"));
            for t in [&typed, &Types::default()] {
                let d = run(&old, &new, t);
                assert_eq!(lines(&d), want, "{a} -> {b}");
                let c = &d.counts;
                assert_eq!((c.added, c.removed, c.changed, c.unchanged), (1, 1, 2, 0));
                assert_eq!(d.new.cpus.or(d.old.cpus).unwrap_or(2), 2);
                // Per-CPU values of the added entry, one per CPU.
                let added = d.entries.iter().find(|e| e.change == ChangeKind::Added);
                let values = added.unwrap().new.as_ref().unwrap().values.as_ref();
                assert_eq!(values.map(Vec::len), Some(2), "{a} -> {b}");
            }
        }
    }
}

/// diff/nb_pcpu: no BTF; key 1 bytes 4..6 05 06 -> aa bb on both CPUs, key 2 deleted,
/// key 4 added.
#[test]
fn untyped_percpu_maps_in_text_and_json() {
    for (a, b) in [
        ("txt", "txt"),
        ("json", "json"),
        ("txt", "json"),
        ("pretty.json", "txt"),
    ] {
        let old = dump(&format!("diff/nb_pcpu.{a}"));
        let new = dump(&format!("diff/nb_pcpu.after.{b}"));
        let d = run(&old, &new, &Types::default());
        assert_eq!(d.basis, Basis::Bytes);
        let rows: Vec<String> = d
            .changes()
            .iter()
            .map(|c| {
                format!(
                    "{} {} {:?} {} {} {}",
                    c.kind.as_str(),
                    c.key,
                    c.cpu,
                    c.path,
                    c.old.as_deref().unwrap_or("-"),
                    c.new.as_deref().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "changed 01000000 Some(0) <bytes 4..6> \"0506\" \"aabb\"",
                "changed 01000000 Some(1) <bytes 4..6> \"0506\" \"aabb\"",
                "removed 02000000 None  [\"000000000000000000000000\",\"000000000000000000000000\"] -",
                "added 04000000 None  - [\"040000000000000000000000\",\"040000000000000000000000\"]",
            ],
            "{a} -> {b}"
        );
    }
}

#[test]
fn identical_dumps_do_not_differ() {
    for (a, b) in [
        ("flows.json", "flows.pretty.json"),
        ("flows.txt", "flows.json"),
        ("diff/nb_pcpu.txt", "diff/nb_pcpu.json"),
    ] {
        let d = run(&dump(a), &dump(b), &Types::default());
        assert!(!d.differ(), "{a} {b}: {:#?}", d.entries);
        assert!(d.entries.is_empty());
        assert_eq!(d.counts.unchanged, d.counts.old_entries);
    }
}

#[test]
fn incompatible_maps_need_force() {
    let (old, new) = (dump("flows.json"), dump("diff/nb_pcpu.json"));
    let e = diff(&old, &new, &Types::default(), &DiffOptions::default()).unwrap_err();
    assert!(
        matches!(e, DiffError::Incompatible { what: "key", .. }),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("key sizes differ (16 vs 4 bytes)"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    let d = diff(&old, &new, &Types::default(), &DiffOptions { force: true }).unwrap();
    assert_eq!(
        (d.counts.added, d.counts.removed, d.counts.changed),
        (3, 6, 0)
    );
    assert!(
        d.notes.iter().any(|n| n.starts_with("--force")),
        "{:?}",
        d.notes
    );
    assert!(
        d.notes.iter().any(|n| n.contains("different names")),
        "{:?}",
        d.notes
    );
}

#[test]
fn flat_changes_have_one_row_per_change() {
    let d = run(
        &dump("flows.json"),
        &dump("flows.after.json"),
        &types("flows"),
    );
    let rows = d.changes();
    assert_eq!(rows.len(), 6);
    let packets = rows.iter().find(|r| r.path == "packets").unwrap();
    assert_eq!(packets.key, "0a0000010a0000023039005006000000");
    assert_eq!(packets.kind, ChangeKind::Changed);
    assert_eq!(packets.field_kind, Some(FieldKind::Field));
    assert_eq!(packets.map.as_deref(), Some("flows"));
    assert_eq!(
        (packets.old.as_deref(), packets.new.as_deref()),
        (Some("1"), Some("2"))
    );
    let added = rows.iter().find(|r| r.kind == ChangeKind::Added).unwrap();
    assert!(added.old.is_none());
    // The whole value, members in the type's order.
    assert!(
        added.new.as_deref().unwrap().starts_with("{\"packets\":"),
        "{added:?}"
    );
    // Rows round-trip through JSON (what a data frame loads).
    let text = serde_json::to_string(&rows).unwrap();
    let back: Vec<mapsleuth_forensics::diff::Change> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, rows);
}

/// Plain-text dump of 4-byte keys and values (first byte given).
fn text_dump(name: &str, entries: &[(u8, u8)]) -> Dump {
    let mut text: String = entries
        .iter()
        .map(|(k, v)| format!("key: {k:02x} 00 00 00  value: {v:02x} 00 00 00\n"))
        .collect();
    text.push_str(&format!("Found {} elements\n", entries.len()));
    read_bytes(text.as_bytes(), name, &DumpReadOptions::default())
        .unwrap()
        .remove(0)
}

#[test]
fn order_does_not_matter_and_repeated_keys_are_noted() {
    let old = text_dump("old", &[(1, 1), (2, 2), (3, 3), (4, 4), (6, 6)]);
    // Reordered, key 3 changed (then listed again), 2 gone, 5 new; 6 lines up again.
    let new = text_dump("new", &[(4, 4), (3, 9), (1, 1), (5, 5), (3, 3), (6, 6)]);
    let d = run(&old, &new, &Types::default());
    let got: Vec<String> = d
        .changes()
        .iter()
        .map(|c| format!("{} {} {}", c.kind.as_str(), c.key, c.path))
        .collect();
    assert_eq!(
        got,
        [
            "removed 02000000 ",
            "changed 03000000 <bytes 0..1>",
            "added 05000000 "
        ]
    );
    assert_eq!(d.counts.unchanged, 3);
    assert!(
        d.notes
            .iter()
            .any(|n| n == "NEW lists 1 key more than once: only the first of each is compared"),
        "{:?}",
        d.notes
    );
    // The same dumps in the same order: no hashing needed, nothing differs.
    let d = run(
        &old,
        &text_dump("again", &[(1, 1), (2, 2), (3, 3), (4, 4), (6, 6)]),
        &Types::default(),
    );
    assert!(!d.differ());
}
