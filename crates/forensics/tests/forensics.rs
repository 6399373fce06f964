//! Every D finding fires on a case planted in the corpus (corpus/dumps/README.md) and
//! stays silent on a clean dump.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_btf::{discover_maps, Btf, BtfBytes, MapDef};
use mapsleuth_dump::{parse_bpftool_map_show, read_bytes, read_file, Dump, DumpReadOptions};
use mapsleuth_dwarf::GoBinary;
use mapsleuth_forensics::forensics::{check_dump, Code, ExpectedKeys, Marks, Options, TypeRef};
use mapsleuth_layout::{ByteOrder, Finding, Severity, TypeTable};

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

fn types(map: &str) -> (Option<TypeRef<'static>>, Option<TypeRef<'static>>) {
    let obj = object();
    let def = obj.maps.iter().find(|m| m.name == map).unwrap();
    let t = |id: Option<u32>| {
        id.map(|id| TypeRef {
            table: &obj.table,
            id,
        })
    };
    (t(def.key_type_id), t(def.value_type_id))
}

/// The dump with its `bpftool map show` information attached.
fn dump(file: &str) -> Dump {
    let mut d = read_file(
        corpus(&format!("dumps/{file}")),
        &DumpReadOptions::default(),
    )
    .unwrap()
    .remove(0);
    let stem = file.split('.').next().unwrap();
    if let Ok(show) = std::fs::read(corpus(&format!("dumps/{stem}.show.json"))) {
        d.merge_meta(&parse_bpftool_map_show(&show, "show").unwrap()[0]);
    }
    d
}

fn check(file: &str, map: &str, opts: Options) -> (Vec<Finding>, Vec<Marks>) {
    let d = dump(file);
    let (k, v) = types(map);
    let (f, m, _) = check_dump(&d, k, v, opts).unwrap();
    (f, m)
}

fn with(findings: &[Finding], code: &str) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.code == code)
        .cloned()
        .collect()
}

fn show(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {:?} {:?}: {}",
                f.code, f.severity, f.location, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_silent(findings: &[Finding], code: &str) {
    assert!(
        with(findings, code).is_empty(),
        "{code} fired:\n{}",
        show(findings)
    );
}

fn one(findings: &[Finding], code: &str) -> Finding {
    let f = with(findings, code);
    assert_eq!(f.len(), 1, "{code}:\n{}", show(findings));
    f.into_iter().next().unwrap()
}

fn go_types(names: &[&str]) -> (TypeTable, Vec<u32>) {
    let bin = GoBinary::open(corpus("go/bin/app-go1.25.5-linux-amd64")).unwrap();
    bin.table_for(names).unwrap()
}

/// lpm_v4 holds three clean entries of a padding-free key: nothing to say.
#[test]
fn clean_dump_has_no_findings() {
    let (f, marks) = check("lpm_v4.json", "lpm_v4", Options::default());
    assert!(f.is_empty(), "{}", show(&f));
    assert!(marks.iter().all(|m| m.is_empty()));
    let d = dump("lpm_v4.json");
    let (k, v) = types("lpm_v4");
    let (_, _, stats) = check_dump(&d, k, v, Options::default()).unwrap();
    assert_eq!(stats.entries, 3);
    assert!(stats.compared_fields >= 9, "{stats:?}");
}

#[test]
fn d001_key_padding() {
    for file in ["flows.json", "flows.pretty.json", "flows.after.json"] {
        let (f, marks) = check(file, "flows", Options::default());
        let d = one(&f, "D001");
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.location.offset, Some(13));
        assert_eq!(
            d.location.key.as_deref(),
            Some("0a0000050a00000601bb003511deadbe")
        );
        assert!(d.message.contains("de ad be"), "{}", d.message);
        assert_eq!(
            marks.iter().filter(|m| m.codes().contains(&"D001")).count(),
            1
        );
    }
    let (f, _) = check("lru_flows.json", "lru_flows", Options::default());
    one(&f, "D001");
    let (f, _) = check("lpm_v4.json", "lpm_v4", Options::default());
    assert_silent(&f, "D001");
}

#[test]
fn d002_value_padding() {
    let (f, _) = check("events.json", "events", Options::default());
    let d = with(&f, "D002");
    assert_eq!(d.len(), 2, "{}", show(&f));
    assert_eq!(d[0].location.offset, Some(4));
    assert!(d[0].message.contains("de ad be ef") && d[0].message.contains("after `pid`"));
    assert_eq!(d[1].location.offset, Some(37));
    assert!(d[1].message.contains("aa bb cc") && d[1].message.contains("trailing"));
    assert!(d
        .iter()
        .all(|x| x.location.key.as_deref() == Some("01000000")));
    let (f, _) = check("addrs.json", "addrs", Options::default());
    assert_eq!(one(&f, "D002").location.offset, Some(2));
    let (f, _) = check("conns.json", "conns", Options::default());
    let c = one(&f, "D002");
    assert_eq!(c.location.offset, Some(7));
    assert_eq!(c.severity, Severity::Warning);
    for (file, map) in [("flows.json", "flows"), ("lpm_v4.json", "lpm_v4")] {
        let (f, _) = check(file, map, Options::default());
        assert_silent(&f, "D002");
    }
}

#[test]
fn d003_key_size() {
    let obj = object();
    let d = dump("events.json");
    let flow_key = obj.table.lookup("struct flow_key").unwrap();
    let (_, v) = types("events");
    let (f, marks, _) = check_dump(
        &d,
        Some(TypeRef {
            table: &obj.table,
            id: flow_key,
        }),
        v,
        Options::default(),
    )
    .unwrap();
    let x = one(&f, "D003");
    assert!(
        x.message
            .contains("16 keys are 4 bytes, but struct flow_key is 16 bytes"),
        "{}",
        x.message
    );
    assert!(marks.iter().all(|m| m.codes().contains(&"D003")));
    let (f, _) = check("events.json", "events", Options::default());
    assert_silent(&f, "D003");
}

/// A Go mirror that lost the padding before `TsNs` (corpus/go/app/missingpad): 36
/// bytes for 40-byte values, and every field after `Pid` decodes differently from
/// bpftool's decoding with the map's BTF.
#[test]
fn d004_value_size_and_d018_disagreement_with_a_go_type() {
    let (table, ids) = go_types(&["uint32", "missingpad.Event"]);
    let d = dump("events.json");
    let (f, marks, stats) = check_dump(
        &d,
        Some(TypeRef {
            table: &table,
            id: ids[0],
        }),
        Some(TypeRef {
            table: &table,
            id: ids[1],
        }),
        Options::default(),
    )
    .unwrap();
    let size = one(&f, "D004");
    assert_eq!(size.severity, Severity::Error);
    assert!(
        size.message.contains("16 values are 40 bytes, but"),
        "{}",
        size.message
    );
    assert!(size.message.contains("is 36 bytes"), "{}", size.message);
    let dis = with(&f, "D018");
    let fields: Vec<&str> = dis
        .iter()
        .filter_map(|x| x.location.field.as_deref())
        .collect();
    assert!(fields.contains(&"TsNs"), "{}", show(&f));
    assert!(fields.contains(&"Ret"), "{}", show(&f));
    assert!(!fields.contains(&"Pid"), "{}", show(&f));
    let ts = dis
        .iter()
        .find(|x| x.location.field.as_deref() == Some("TsNs"))
        .unwrap();
    assert_eq!(ts.location.offset, Some(4));
    assert!(ts.message.contains("bpftool's `ts_ns`"), "{}", ts.message);
    assert!(marks[1].codes().contains(&"D018"));
    assert!(stats.compared_fields > 0);

    // The correct mirror: same sizes, same values.
    let (table, ids) = go_types(&["uint32", "good.Event"]);
    let (f, _, stats) = check_dump(
        &d,
        Some(TypeRef {
            table: &table,
            id: ids[0],
        }),
        Some(TypeRef {
            table: &table,
            id: ids[1],
        }),
        Options::default(),
    )
    .unwrap();
    assert_silent(&f, "D004");
    assert_silent(&f, "D018");
    // pid, ts_ns, ret, is_exit, comm of 16 values, and the 16 keys.
    assert_eq!(stats.compared_fields, 16 * 5 + 16, "{stats:?}");
    // Go's blank `_ [4]byte` is padding too.
    assert!(
        with(&f, "D002")
            .iter()
            .any(|x| x.message.contains("blank field")),
        "{}",
        show(&f)
    );
}

#[test]
fn d005_all_zero_values() {
    let (f, marks) = check("flows.json", "flows", Options::default());
    let z = one(&f, "D005");
    assert_eq!(z.severity, Severity::Info);
    assert_eq!(
        z.location.key.as_deref(),
        Some("0a0000070a0000080016c35006000000")
    );
    assert_eq!(
        marks.iter().filter(|m| m.codes().contains(&"D005")).count(),
        1
    );
    let (f, _) = check("events.json", "events", Options::default());
    assert!(one(&f, "D005")
        .message
        .starts_with("12 of 16 entries have an all-zero value"));
    let (f, _) = check("lpm_v4.json", "lpm_v4", Options::default());
    assert_silent(&f, "D005");
}

/// A dump shaped like the benchmark's (corpus/gen-big-dump.sh): drops always 0, state
/// always CS_ESTABLISHED.
fn big_like(n: u32) -> Dump {
    let mut s = String::from("[");
    for i in 1..=n {
        let hx = |b: &[u8]| {
            b.iter()
                .map(|x| format!("\"0x{x:02x}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut v = Vec::new();
        v.extend_from_slice(&u64::from(i).to_le_bytes());
        v.extend_from_slice(&(64 * u64::from(i)).to_le_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
        v.extend_from_slice(&(1000 * u64::from(i)).to_le_bytes());
        if i > 1 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"key\":[{}],\"value\":[{}]}}",
            hx(&i.to_le_bytes()),
            hx(&v)
        ));
    }
    s.push(']');
    read_bytes(s.as_bytes(), "big-like.json", &DumpReadOptions::default())
        .unwrap()
        .remove(0)
}

#[test]
fn d006_d007_zero_and_constant_fields() {
    let obj = object();
    let u32_ = obj.table.lookup("__u32").unwrap();
    let stats = obj.table.lookup("struct flow_stats").unwrap();
    let t = |id| {
        Some(TypeRef {
            table: &obj.table,
            id,
        })
    };
    let d = big_like(8);
    let (f, _, _) = check_dump(&d, t(u32_), t(stats), Options::default()).unwrap();
    let z = one(&f, "D006");
    assert_eq!(z.location.field.as_deref(), Some("drops"));
    assert_eq!(z.location.offset, Some(16));
    let c = one(&f, "D007");
    assert_eq!(c.location.field.as_deref(), Some("state"));
    assert!(
        c.message.contains("CS_ESTABLISHED in all 8"),
        "{}",
        c.message
    );
    // Too few entries to say "always".
    let (f, _, _) = check_dump(&big_like(3), t(u32_), t(stats), Options::default()).unwrap();
    assert_silent(&f, "D006");
    assert_silent(&f, "D007");
    // flows: five non-zero values, no field always zero or the same.
    let (f, _) = check("flows.json", "flows", Options::default());
    assert_silent(&f, "D006");
    assert_silent(&f, "D007");
}

#[test]
fn d008_d009_d010_strings() {
    let (f, marks) = check("events.json", "events", Options::default());
    let no_nul = one(&f, "D008");
    assert_eq!(no_nul.location.key.as_deref(), Some("02000000"));
    assert_eq!(no_nul.location.field.as_deref(), Some("comm"));
    assert_eq!(no_nul.location.offset, Some(21));
    assert!(no_nul.message.contains("abcdefghijklmnop"));
    let np = one(&f, "D009");
    assert_eq!(np.location.key.as_deref(), Some("03000000"));
    assert!(np.message.contains("\\xff"), "{}", np.message);
    let after = one(&f, "D010");
    assert_eq!(after.location.key.as_deref(), Some("04000000"));
    assert_eq!(marks[2].codes(), ["D008"]);
    assert_eq!(marks[3].codes(), ["D009"]);
    assert_eq!(marks[4].codes(), ["D010"]);
    // Keys 0 and 1 alone: "" and "bash" are clean strings.
    let d = dump("events.json");
    let (k, v) = types("events");
    let mut fx =
        mapsleuth_forensics::forensics::Forensics::new(&d, k, v, Options::default()).unwrap();
    for e in d.entries().take(2) {
        fx.check(e);
    }
    let (f, _, _) = fx.finish();
    for code in ["D008", "D009", "D010"] {
        assert_silent(&f, code);
    }
}

#[test]
fn d011_enum_values_outside_the_enum() {
    let (f, _) = check("flows.json", "flows", Options::default());
    let e = one(&f, "D011");
    assert_eq!(e.location.field.as_deref(), Some("state"));
    assert_eq!(e.location.offset, Some(20));
    assert_eq!(
        e.location.key.as_deref(),
        Some("0a0000090a00000a1f90d43106000000")
    );
    assert!(e.message.contains("holds 7"), "{}", e.message);
    // Per-CPU values: state -1 is CS_CLOSED, fine; key 1 of pcpu_hash_stats holds
    // the bytes 0x15..0x18 = 404166165.
    let (f, _) = check(
        "pcpu_hash_stats.json",
        "pcpu_hash_stats",
        Options::default(),
    );
    assert!(
        one(&f, "D011").message.contains("404166165 (2×)"),
        "{}",
        show(&f)
    );
    // The diff pair's second dump has state 2 there.
    let (f, _) = check("flows.after.json", "flows", Options::default());
    assert_silent(&f, "D011");
}

#[test]
fn d012_more_entries_than_max_entries() {
    let (k, v) = types("events");
    let mut d = dump("events.json");
    assert_eq!(d.meta.max_entries, Some(16));
    let (f, _, _) = check_dump(&d, k, v, Options::default()).unwrap();
    assert_silent(&f, "D012");
    d.meta.max_entries = Some(8);
    let (f, _, _) = check_dump(&d, k, v, Options::default()).unwrap();
    assert!(one(&f, "D012")
        .message
        .starts_with("16 entries, but the map holds at most 8"));
    // From the object when the dump does not say.
    d.meta.max_entries = None;
    let opts = Options {
        max_entries_hint: Some((4, "maps.bpf.o's map definition".into())),
        ..Options::default()
    };
    let (f, _, _) = check_dump(&d, k, v, opts).unwrap();
    assert!(one(&f, "D012")
        .message
        .contains("maps.bpf.o's map definition holds at most 4"));
}

#[test]
fn d013_duplicate_keys() {
    let text = std::fs::read_to_string(corpus("dumps/nb_small.txt")).unwrap();
    let (f, _, _) = check_dump(
        &read_bytes(text.as_bytes(), "nb_small.txt", &DumpReadOptions::default()).unwrap()[0],
        None,
        None,
        Options::default(),
    )
    .unwrap();
    assert_silent(&f, "D013");
    // The first entry twice, as a walk restarted by a concurrent delete prints it.
    let first = text.lines().next().unwrap();
    let twice = text.replacen("Found 3 elements", &format!("{first}\nFound 4 elements"), 1);
    let d = &read_bytes(twice.as_bytes(), "dup.txt", &DumpReadOptions::default()).unwrap()[0];
    let (f, marks, _) = check_dump(d, None, None, Options::default()).unwrap();
    let x = one(&f, "D013");
    assert_eq!(x.severity, Severity::Error);
    assert!(
        x.message
            .starts_with("1 key is listed more than once (1 extra entries): 01000000 (2×)"),
        "{}",
        x.message
    );
    assert_eq!(marks[3].codes(), ["D013"]);
    assert!(marks[0].is_empty());
}

#[test]
fn d014_lookup_errors() {
    let d = dump("nb_devmap.json");
    let (f, marks, _) = check_dump(&d, None, None, Options::default()).unwrap();
    let x = one(&f, "D014");
    assert_eq!(x.severity, Severity::Info, "devmap slots: {}", x.message);
    assert!(
        x.message.contains("`No such file or directory` (2)"),
        "{}",
        x.message
    );
    assert_eq!(marks[0].codes(), ["D014"]);
    let d = dump("nb_sockmap.json");
    let (f, _, _) = check_dump(&d, None, None, Options::default()).unwrap();
    assert!(one(&f, "D014").message.contains("No space left on device"));
    // Not an expected-empty slot map type: a warning.
    let mut d = dump("nb_devmap.json");
    d.meta.map_type = Some("hash".into());
    let (f, _, _) = check_dump(&d, None, None, Options::default()).unwrap();
    assert_eq!(one(&f, "D014").severity, Severity::Warning);
    let (f, _) = check("lpm_v4.json", "lpm_v4", Options::default());
    assert_silent(&f, "D014");
}

#[test]
fn d015_damaged_dumps() {
    let text = std::fs::read(corpus("dumps/flows.pretty.json")).unwrap();
    let cut = &text[..text.len() * 2 / 3];
    let d = &read_bytes(cut, "cut.json", &DumpReadOptions::default()).unwrap()[0];
    let (k, v) = types("flows");
    let (f, _, _) = check_dump(d, k, v, Options::default()).unwrap();
    let x = with(&f, "D015");
    assert!(!x.is_empty(), "{}", show(&f));
    assert!(
        x.iter()
            .any(|i| i.severity == Severity::Error && i.location.offset.is_some()),
        "{}",
        show(&f)
    );
    // A queue: bpftool cannot dump it and says nothing.
    let d = dump("fifo.json");
    let (f, _, _) = check_dump(&d, None, None, Options::default()).unwrap();
    assert!(one(&f, "D015").message.contains("queue"), "{}", show(&f));
    let (f, _) = check("flows.pretty.json", "flows", Options::default());
    assert_silent(&f, "D015");
}

#[test]
fn d016_d017_expected_keys() {
    let d = dump("flows.json");
    let (k, v) = types("flows");
    // The padded key as a user builds it (zeroed padding), a key that was never there,
    // and two that are.
    let keys = "# flows we expect\n\
                0a000005 0a000006 01bb 0035 11 000000\n\
                0a 00 00 01 0a 00 00 02 30 39 00 50 06 00 00 00\n\
                0x0a0000030a00000401bb15b311000000\n\
                0x0a0000630a00006401bb15b311000000\n";
    let keys = keys.replace(
        "0a000005 0a000006 01bb 0035 11 000000",
        "0a0000050a00000601bb003511000000",
    );
    let expected = ExpectedKeys::parse(&keys, 16, Some(ByteOrder::Little)).unwrap();
    let opts = Options {
        expected_keys: Some(expected),
        ..Options::default()
    };
    let (f, _, _) = check_dump(&d, k, v, opts).unwrap();
    let m = one(&f, "D016");
    assert!(
        m.message
            .starts_with("2 of 4 expected keys are not in the dump"),
        "{}",
        m.message
    );
    assert!(
        m.message.contains(
            "0a0000050a00000601bb003511000000 is there as 0a0000050a00000601bb003511deadbe"
        ),
        "{}",
        m.message
    );
    let u = one(&f, "D017");
    assert!(
        u.message
            .starts_with("4 of 6 keys in the dump are not expected"),
        "{}",
        u.message
    );
    // Expecting exactly what is there.
    let all: String = d
        .entries()
        .map(|e| mapsleuth_dump::hex::encode(e.key().unwrap()) + "\n")
        .collect();
    let opts = Options {
        expected_keys: Some(ExpectedKeys::parse(&all, 16, Some(ByteOrder::Little)).unwrap()),
        ..Options::default()
    };
    let (f, _, _) = check_dump(&d, k, v, opts).unwrap();
    assert_silent(&f, "D016");
    assert_silent(&f, "D017");
    // Numbers in the key type's byte order.
    let d = dump("events.json");
    let (k, v) = types("events");
    let opts = Options {
        expected_keys: Some(ExpectedKeys::parse("1\n2\n99\n", 4, Some(ByteOrder::Little)).unwrap()),
        ..Options::default()
    };
    let (f, _, _) = check_dump(&d, k, v, opts).unwrap();
    assert!(
        one(&f, "D016").message.contains("key 63000000"),
        "{}",
        show(&f)
    );
}

/// Our decoding with the object's BTF agrees with bpftool's on every BTF dump.
#[test]
fn d018_silent_with_the_maps_own_btf() {
    for (file, map) in [
        ("flows.json", "flows"),
        ("flows.after.pretty.json", "flows"),
        ("events.pretty.json", "events"),
        ("addrs.json", "addrs"),
        ("conns.json", "conns"),
        ("lru_flows.json", "lru_flows"),
        ("pcpu_array_stat.json", "pcpu_array_stats"),
        ("pcpu_hash_stats.pretty.json", "pcpu_hash_stats"),
        ("pcpu_hash_u64.json", "pcpu_hash_u64"),
        ("lpm_v4.json", "lpm_v4"),
        ("inner_a.json", "inner_a"),
    ] {
        let d = dump(file);
        let (k, v) = types(map);
        let (f, _, stats) = check_dump(&d, k, v, Options::default()).unwrap();
        assert_silent(&f, "D018");
        assert!(stats.compared_fields > 0, "{file}");
        assert!(
            stats.unmatched_fields.is_empty(),
            "{file}: {:?}",
            stats.unmatched_fields
        );
    }
}

/// Every code has a section in docs/findings.md (that it fires is
/// `every_code_fires_on_a_corpus_case_and_not_on_a_clean_one`).
#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(corpus("../docs/findings.md")).unwrap_or_default();
    for c in Code::ALL {
        assert!(
            doc.contains(&format!("### {}", c.as_str())),
            "{} is not in docs/findings.md",
            c.as_str()
        );
    }
}

/// Forensics with broken types (sizes, offsets, bitfield widths and array lengths made
/// up) over real dumps: findings or errors, never a panic.
#[test]
fn hostile_types_never_panic() {
    use mapsleuth_layout::{Member, TypeKind};
    let obj = object();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dumps: Vec<(Dump, &str)> = [
        ("events.json", "events"),
        ("flows.json", "flows"),
        ("conns.json", "conns"),
        ("addrs.json", "addrs"),
        ("pcpu_hash_stats.json", "pcpu_hash_stats"),
    ]
    .into_iter()
    .map(|(f, m)| (dump(f), m))
    .collect();
    let mut ran = 0;
    for round in 0..300 {
        let (d, map) = &dumps[round % dumps.len()];
        let def = obj.maps.iter().find(|m| m.name == *map).unwrap();
        let mut t = obj.table.clone();
        for _ in 0..3 {
            let id = 1 + (next() % (t.len() as u64 - 1)) as u32;
            let mut ty = t.get(id).unwrap().clone();
            let wild = match next() % 4 {
                0 => next() % 64,
                1 => next() % 4096,
                2 => u64::from(u32::MAX),
                _ => next(),
            };
            match &mut ty.kind {
                TypeKind::Struct(c) | TypeKind::Union(c) => match next() % 4 {
                    0 => c.size = wild,
                    1 if !c.members.is_empty() => {
                        let i = (next() % c.members.len() as u64) as usize;
                        c.members[i].offset_bits = wild;
                    }
                    2 if !c.members.is_empty() => {
                        let i = (next() % c.members.len() as u64) as usize;
                        c.members[i].bitfield_bits = Some((wild % 200) as u32);
                    }
                    _ => c.members.push(Member {
                        name: Some("x".into()),
                        ty: (next() % t.len() as u64) as u32,
                        offset_bits: wild % 512,
                        bitfield_bits: None,
                        embedded: false,
                    }),
                },
                TypeKind::Array { len, .. } => *len = wild,
                TypeKind::Int { size, .. } | TypeKind::Enum { size, .. } => {
                    *size = (wild % 40) as u32
                }
                _ => {}
            }
            t.set(id, ty).unwrap();
        }
        let r = |id: Option<u32>| id.map(|id| TypeRef { table: &t, id });
        if let Ok((f, marks, _)) = check_dump(
            d,
            r(def.key_type_id),
            r(def.value_type_id),
            Options::default(),
        ) {
            assert_eq!(marks.len(), d.len());
            let _ = show(&f);
            ran += 1;
        }
    }
    assert!(ran > 50, "{ran} of 300 mutated types were usable");
}

// ---------------------------------------------------------------------------
// Every code fires

/// A dump with its types and options: one run of the forensics.
struct Case {
    what: String,
    dump: Dump,
    key: Option<TypeRef<'static>>,
    value: Option<TypeRef<'static>>,
    opts: Options,
}

impl Case {
    /// A corpus dump with its map's types from maps.bpf.o (`None`: no types).
    fn corpus(file: &str, map: Option<&str>) -> Case {
        Case::of(file, dump(file), map)
    }

    fn of(what: &str, dump: Dump, map: Option<&str>) -> Case {
        let (key, value) = map.map_or((None, None), types);
        Case {
            what: what.to_string(),
            dump,
            key,
            value,
            opts: Options::default(),
        }
    }

    /// The same input, described as `what` (what was changed).
    fn named(mut self, what: &str) -> Case {
        self.what = what.to_string();
        self
    }

    fn findings(&self) -> Vec<Finding> {
        check_dump(&self.dump, self.key, self.value, self.opts.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", self.what))
            .0
    }
}

/// A `bpftool -j map dump` from the corpus with its entries edited, read as `file`
/// (with the map's `show` information, as [`dump`] does).
fn edited(file: &str, edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Dump {
    let text = std::fs::read_to_string(corpus(&format!("dumps/{file}"))).unwrap();
    let mut entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    edit(&mut entries);
    // serde_json sorts members; the reader wants bpftool's order (raw bytes first).
    let members = |e: &serde_json::Value| -> Vec<String> {
        let e = e.as_object().unwrap();
        assert!(e.len() <= 3, "{e:?}");
        ["key", "value", "formatted"]
            .iter()
            .filter_map(|m| e.get(*m).map(|v| format!("\"{m}\":{v}")))
            .collect()
    };
    let objects: Vec<String> = entries
        .iter()
        .map(|e| format!("{{{}}}", members(e).join(",")))
        .collect();
    let bytes = format!("[{}]", objects.join(","));
    let mut d = read_bytes(bytes.as_bytes(), file, &DumpReadOptions::default())
        .unwrap()
        .remove(0);
    let stem = file.split('.').next().unwrap();
    let show = std::fs::read(corpus(&format!("dumps/{stem}.show.json"))).unwrap();
    d.merge_meta(&parse_bpftool_map_show(&show, "show").unwrap()[0]);
    d
}

/// Sets value bytes `at..` of a JSON entry, and bpftool's decoded field `field` to
/// `decoded`, so that only the planted problem differs.
fn plant(entry: &mut serde_json::Value, at: usize, bytes: &[u8], field: &str, decoded: &str) {
    for (i, b) in bytes.iter().enumerate() {
        entry["value"][at + i] = format!("0x{b:02x}").into();
    }
    entry["formatted"]["value"][field] = serde_json::from_str(decoded).unwrap();
}

fn is_zero_value(entry: &serde_json::Value) -> bool {
    entry["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b.as_str() == Some("0x00"))
}

/// flows.json with `field` (at byte `at` of struct flow_stats) set in every non-zero
/// value.
fn flows_with(at: usize, bytes: &[u8], field: &str, decoded: &str) -> Case {
    let d = edited("flows.json", |entries| {
        for e in entries.iter_mut().filter(|e| !is_zero_value(e)) {
            plant(e, at, bytes, field, decoded);
        }
    });
    Case::of(
        &format!("flows.json with `{field}` {decoded} everywhere"),
        d,
        Some("flows"),
    )
}

/// The key and value of `events` as the Go type that lost the padding before `TsNs`.
fn missingpad_events() -> Case {
    static GO: std::sync::OnceLock<(TypeTable, Vec<u32>)> = std::sync::OnceLock::new();
    let (table, ids) = GO.get_or_init(|| go_types(&["uint32", "missingpad.Event"]));
    Case {
        key: Some(TypeRef { table, id: ids[0] }),
        value: Some(TypeRef { table, id: ids[1] }),
        ..Case::corpus("events.json", None).named("events.json with Go's missingpad.Event")
    }
}

/// flows.json expecting `keys` (hex, one per line).
fn flows_expecting(what: &str, keys: &str) -> Case {
    let mut c =
        Case::corpus("flows.json", Some("flows")).named(&format!("flows.json expecting {what}"));
    c.opts.expected_keys = Some(ExpectedKeys::parse(keys, 16, Some(ByteOrder::Little)).unwrap());
    c
}

/// The BTF of corpus/captures/ring_event.bpf.o (the ring capture's `struct event`).
fn ring_table() -> &'static TypeTable {
    static TABLE: std::sync::OnceLock<TypeTable> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let path = corpus("captures/ring_event.bpf.o");
        let bytes = BtfBytes::read(path.to_str().unwrap()).unwrap();
        Btf::parse(&bytes.data).unwrap().to_table().unwrap()
    })
}

/// corpus/captures/ring.mscap (a ring buffer's records: three 24-byte `struct event`s,
/// one 16-byte record) with `struct event` as the record type.
fn ring_case() -> Case {
    let table = ring_table();
    let d = read_file(corpus("captures/ring.mscap"), &DumpReadOptions::default())
        .unwrap()
        .remove(0);
    assert!(d.is_ring());
    Case {
        value: Some(TypeRef {
            table,
            id: table.lookup("struct event").unwrap(),
        }),
        ..Case::of("ring.mscap with struct event", d, None)
    }
}

/// nb_small.txt, with its first entry listed again when `twice` (as a walk restarted by
/// a concurrent delete prints it).
fn nb_small(twice: bool) -> Case {
    let text = std::fs::read_to_string(corpus("dumps/nb_small.txt")).unwrap();
    let first = text.lines().next().unwrap();
    let text = if twice {
        text.replacen("Found 3 elements", &format!("{first}\nFound 4 elements"), 1)
    } else {
        text
    };
    let d = read_bytes(text.as_bytes(), "nb_small.txt", &DumpReadOptions::default())
        .unwrap()
        .remove(0);
    Case::of(
        &format!("nb_small.txt (first entry twice: {twice})"),
        d,
        None,
    )
}

/// A real input on which `code` fires: a corpus dump, one with bytes planted, or with
/// other types, map information or expected keys.
fn firing(code: Code) -> Case {
    match code {
        Code::KeyPadding | Code::ZeroEntries | Code::BadEnum => {
            Case::corpus("flows.json", Some("flows"))
        }
        Code::ValuePadding | Code::NoNul | Code::NonPrintable | Code::AfterNul => {
            Case::corpus("events.json", Some("events"))
        }
        Code::KeySize => {
            let obj = object();
            let flow_key = obj.table.lookup("struct flow_key").unwrap();
            Case {
                key: Some(TypeRef {
                    table: &obj.table,
                    id: flow_key,
                }),
                ..Case::corpus("events.json", Some("events"))
                    .named("events.json with the key type struct flow_key")
            }
        }
        Code::ValueSize | Code::Disagrees => missingpad_events(),
        Code::RecordSize => ring_case(),
        Code::ZeroField => flows_with(16, &[0; 4], "drops", "0"),
        Code::ConstantField => flows_with(20, &[1, 0, 0, 0], "state", "\"CS_ESTABLISHED\""),
        Code::OverMaxEntries => {
            let mut c =
                Case::corpus("events.json", Some("events")).named("events.json, max_entries 8");
            c.dump.meta.max_entries = Some(8);
            c
        }
        Code::DuplicateKey => nb_small(true),
        Code::LookupError => Case::corpus("nb_devmap.json", None),
        Code::DumpIssue => Case::corpus("fifo.json", None),
        Code::MissingKey | Code::UnexpectedKey => flows_expecting(
            "one of its keys and one never there",
            "0a0000010a0000023039005006000000\n0a0000630a00006401bb15b311000000\n",
        ),
    }
}

/// A real input on which `code` stays silent.
fn clean(code: Code) -> Case {
    match code {
        Code::KeyPadding | Code::ValuePadding | Code::ZeroEntries | Code::LookupError => {
            Case::corpus("lpm_v4.json", Some("lpm_v4"))
        }
        Code::KeySize
        | Code::ValueSize
        | Code::OverMaxEntries
        | Code::Disagrees
        | Code::RecordSize => Case::corpus("events.json", Some("events")),
        Code::ZeroField | Code::ConstantField => Case::corpus("flows.json", Some("flows")),
        Code::NoNul | Code::NonPrintable | Code::AfterNul => {
            let d = edited("events.json", |entries| {
                entries.retain(|e| !matches!(e["formatted"]["key"].as_u64(), Some(2..=4)))
            });
            Case::of("events.json without keys 2, 3 and 4", d, Some("events"))
        }
        Code::BadEnum => Case::corpus("flows.after.json", Some("flows")),
        Code::DuplicateKey => nb_small(false),
        Code::DumpIssue => Case::corpus("flows.pretty.json", Some("flows")),
        Code::MissingKey | Code::UnexpectedKey => {
            let keys: String = dump("flows.json")
                .entries()
                .map(|e| mapsleuth_dump::hex::encode(e.key().unwrap()) + "\n")
                .collect();
            flows_expecting("exactly its keys", &keys)
        }
    }
}

/// Every code (a new one does not compile without its cases) fires on a real input and
/// stays silent on a clean one.
#[test]
fn every_code_fires_on_a_corpus_case_and_not_on_a_clean_one() {
    for &code in Code::ALL {
        let c = firing(code);
        let f = c.findings();
        assert!(
            !with(&f, code.as_str()).is_empty(),
            "{} does not fire on {}:\n{}",
            code.as_str(),
            c.what,
            show(&f)
        );
        let c = clean(code);
        let f = c.findings();
        assert!(
            with(&f, code.as_str()).is_empty(),
            "{} fires on {}:\n{}",
            code.as_str(),
            c.what,
            show(&f)
        );
    }
}

/// Findings, marks and stats with `threads` (D018 on its own thread from 2 on).
fn run_threads(d: &Dump, k: Option<TypeRef<'_>>, v: Option<TypeRef<'_>>, threads: usize) -> String {
    let opts = Options {
        threads,
        ..Options::default()
    };
    let (f, m, s) = check_dump(d, k, v, opts).unwrap();
    format!("{}\n{m:?}\n{s:?}", show(&f))
}

/// The report is the same whether D018 runs beside the other checks or after them, on
/// every corpus dump of a map of maps.bpf.o, and with Go types that disagree.
#[test]
fn parallel_checks_report_what_one_thread_reports() {
    let manifest = std::fs::read_to_string(corpus("dumps/manifest.tsv")).unwrap();
    let mut compared = 0;
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if !object().maps.iter().any(|m| m.name == f[2]) {
            continue;
        }
        let d = dump(f[0]);
        let (k, v) = types(f[2]);
        let one = run_threads(&d, k, v, 1);
        assert_eq!(one, run_threads(&d, k, v, 2), "{}", f[0]);
        assert_eq!(one, run_threads(&d, k, v, 0), "{}", f[0]);
        compared += usize::from(d.has_formatted());
    }
    assert!(compared >= 20, "{compared} dumps with bpftool's decoding");
    let (table, ids) = go_types(&["uint32", "missingpad.Event"]);
    let t = |id| Some(TypeRef { table: &table, id });
    let d = dump("events.json");
    let one = run_threads(&d, t(ids[0]), t(ids[1]), 1);
    assert!(one.contains("D018"), "{one}");
    assert_eq!(one, run_threads(&d, t(ids[0]), t(ids[1]), 2));
}

/// A ring buffer's records are checked as map values are, named by their index, and a
/// record of another length is D019 (never D004, nor a D015 about differing sizes).
#[test]
fn ring_records_are_checked_as_values_and_named_as_records() {
    let c = ring_case();
    let (f, marks, stats) = check_dump(&c.dump, c.key, c.value, c.opts.clone()).unwrap();
    let codes: Vec<&str> = f.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["D002", "D019", "D008", "D009"], "{}", show(&f));
    let d019 = &with(&f, "D019")[0];
    assert_eq!(
        d019.message,
        "1 ring record is 16 bytes long, but struct event is 24 bytes (record #2; too short \
         to decode)"
    );
    assert_eq!(d019.location.key.as_deref(), Some("#2"));
    let d002 = &with(&f, "D002")[0];
    assert!(
        d002.message.contains("3 of 4 records") && d002.message.contains("records #0, #1, #3"),
        "{}",
        d002.message
    );
    assert!(f.iter().all(|f| !f.message.contains("key")), "{}", show(&f));
    assert_eq!(marks[2].codes(), ["D019"]);
    assert_eq!((stats.keys_checked, stats.values_checked), (0, 4));
}

/// A record the producer submitted without filling it in is D005, worded for rings (no
/// "entry exists" or "keys" talk).
#[test]
fn an_all_zero_ring_record_is_d005_about_records() {
    use mapsleuth_dump::capture_file::{Capture, CaptureWriter};
    let bytes = std::fs::read(corpus("captures/ring.mscap")).unwrap();
    let cap = Capture::parse(&bytes[..]).unwrap();
    let view = cap.map(0).unwrap();
    let mut block = view.records().to_vec();
    let r = view.ring_record(1).unwrap();
    let start = r.offset - view.offset();
    block[start..start + r.data.len()].fill(0);
    let mut w = CaptureWriter::new(std::time::UNIX_EPOCH, cap.header().source.clone());
    w.add_map(view.header.clone(), block).unwrap();
    let d = read_bytes(&w.to_bytes(), "zeroed.mscap", &DumpReadOptions::default())
        .unwrap()
        .remove(0);
    let c = Case {
        dump: d,
        ..ring_case()
    };
    let f = c.findings();
    let d005 = with(&f, "D005");
    assert_eq!(d005.len(), 1, "{}", show(&f));
    assert_eq!(
        d005[0].message,
        "1 of 4 ring records is all zero: record #1; the producer reserved it and \
         submitted it without filling it in"
    );
    // The zeroed record is not a padding leak any more: D002 counts the other two.
    assert!(
        with(&f, "D002")[0].message.contains("2 of 4 records"),
        "{}",
        show(&f)
    );
}
