//! Shapes of bpftool output that the recorded corpus lacks, from bpftool's source or
//! from runs on this machine that could not be recorded reproducibly.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use mapsleuth_dump::{read_bytes, DumpFormat, DumpReadOptions, EntryKind, ErrorKind};

/// `bpftool map dump name lpm_v4` with two loaded copies of maps.bpf.o (bpftool v7.1.0,
/// recorded by hand: the map ids depend on what else is loaded).
const MULTI_BTF: &str = r#"[{
        "id": 123,
        "type": "lpm_trie",
        "name": "lpm_v4",
        "flags": 1,
        "elements": [{
                "key": {
                    "prefixlen": 24,
                    "addr": [10,1,2,0
                    ]
                },
                "value": 7
            }
        ]
    },{
        "id": 153,
        "type": "lpm_trie",
        "name": "lpm_v4",
        "flags": 1,
        "elements": []
    }
]
"#;

#[test]
fn multi_map_btf_listing() {
    let v = read_bytes(
        MULTI_BTF.as_bytes(),
        "multi-btf",
        &DumpReadOptions::default(),
    )
    .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].source.format, DumpFormat::BtfText);
    assert_eq!(v[0].meta.id, Some(123));
    assert_eq!(v[0].meta.flags, Some(1));
    assert_eq!(v[0].meta.map_type.as_deref(), Some("lpm_trie"));
    assert_eq!(v[1].meta.id, Some(153));
    assert_eq!(v[0].len(), 1);
    assert!(v[1].is_empty());
    assert_eq!(
        v[0].entry(0).unwrap().formatted_json().as_deref(),
        Some(r#"{"key":{"prefixlen":24,"addr":[10,1,2,0]},"value":7}"#)
    );
    assert_eq!(v[0].entry(0).unwrap().position().line, 6);
    assert!(v.iter().all(|d| d.issues.is_empty()));
}

/// Lookup errors of a map with BTF: bpftool prints them with printf between the JSON
/// writer's objects (map.c `print_entry_error`).
#[test]
fn lookup_errors_inside_a_btf_listing() {
    let s = "[key: 00 00 00 00  value: <no entry>\n{\n        \"key\": 1,\n        \"value\": 0x5\n    }key:\n01 00 00 00\nvalue:\nOperation not permitted\n,{\n        \"key\": 2,\n        \"value\": 3\n    }\n]\n";
    let v = read_bytes(s.as_bytes(), "x", &DumpReadOptions::default()).unwrap();
    let d = &v[0];
    assert_eq!(d.source.format, DumpFormat::BtfText);
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    let kinds: Vec<EntryKind> = d.entries().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            EntryKind::LookupError,
            EntryKind::FormattedOnly,
            EntryKind::LookupError,
            EntryKind::FormattedOnly
        ]
    );
    assert_eq!(d.entry(0).unwrap().lookup_error(), Some("<no entry>"));
    assert_eq!(d.entry(0).unwrap().key(), Some(&[0u8, 0, 0, 0][..]));
    assert_eq!(
        d.entry(1).unwrap().formatted_json().as_deref(),
        Some(r#"{"key":1,"value":"0x5"}"#)
    );
    assert_eq!(d.entry(2).unwrap().key(), Some(&[1u8, 0, 0, 0][..]));
    assert_eq!(
        d.entry(2).unwrap().lookup_error(),
        Some("Operation not permitted")
    );
    assert_eq!(d.entry(2).unwrap().position().line, 5);
    assert_eq!(d.lookup_error_count(), 2);
}

#[test]
fn json_in_another_order_goes_through_serde() {
    // Members reordered, an extra member, an escape, short hex: not bpftool's exact shape.
    let s = r#"[{"value":["0x1","0x02"],"extra":{"a":[1,2]},"key":["0x0a"],"formatted":{"key":10,"value":"a\"b"}},
{"key":["0x0b"],"values":[{"value":["0x01","0x00"],"cpu":0}]}]"#;
    let v = read_bytes(s.as_bytes(), "x", &DumpReadOptions::default()).unwrap();
    let d = &v[0];
    assert!(d.issues.is_empty(), "{:?}", d.issues);
    let e = d.entry(0).unwrap();
    assert_eq!(e.key(), Some(&[10u8][..]));
    assert_eq!(e.value(), Some(&[1u8, 2][..]));
    assert_eq!(
        e.formatted_json().as_deref(),
        Some(r#"{"key":10,"value":"a\"b"}"#)
    );
    let e = d.entry(1).unwrap();
    assert_eq!(e.position().line, 2);
    assert!(e.is_percpu());
    assert_eq!(e.cpu_value(0), Some(&[1u8, 0][..]));
}

#[test]
fn bpftool_errors_and_stderr_lines() {
    let e = read_bytes(
        br#"{"error":"can't get next key: Invalid argument"}"#,
        "x",
        &DumpReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::BpftoolError(ref m) if m == "can't get next key: Invalid argument")
    );
    // stderr mixed into a plain dump after some entries: kept as an issue.
    let s = b"key: 01 00 00 00  value: 01 00 00 00\nError: can't get next key: Invalid argument\n";
    let v = read_bytes(s, "x", &DumpReadOptions::default()).unwrap();
    assert_eq!(v[0].len(), 1);
    assert!(v[0]
        .issues
        .iter()
        .any(|e| matches!(e.kind, ErrorKind::BpftoolError(_)) && e.pos.unwrap().line == 2));
    // An empty input says why it is suspicious.
    let e = read_bytes(b"\n", "x", &DumpReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("stderr"), "{e}");
}

#[test]
fn found_count_and_sizes_are_checked() {
    let s = b"key: 01 00 00 00  value: 01 00\nkey: 02 00  value: 01 00 00\nFound 3 elements\n";
    let v = read_bytes(s, "x", &DumpReadOptions::default()).unwrap();
    let msgs: Vec<String> = v[0].issues.iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "x: line 2, byte 31: key is 2 bytes but earlier entries have 4",
            "x: line 2, byte 31: value is 3 bytes but earlier entries have 2",
            "x: line 1, byte 0: `Found 3 elements` but 2 entries with values were read",
        ]
    );
}

/// Fuzz finding (dump_json): capture magic, then a JSON dump. Positions of capture errors
/// must count the newline inside the magic like any other.
#[test]
fn fuzz_capture_magic_then_json() {
    let data = b"\x89\x4d\x53\x4c\x43\x41\x50\x0a\x5b\x7b\x22\x6b\x65\x79\x22\x3a\x5b\x30\x30\x78\x30\x22\x5d\x2c\x22\x76\x61\x6c\x75\x65\x22\x3a\x5b\x22\x30\x78\x30\x31\x22\x2c\x22\x30\x78\x30\x30\x22\x2c\x22\x30\x78\x30\x30\x22\x2c\x22\x30\x78\x30\x30\x22\x5d\x7d\xb4\x7b\x22\x6b\x65\x79\x22\x3a\x5b\x22\x30\x78\x30\x32\x22\x2c\x22\x30\x78\x30\x30\x22\x2c\x22\x30\x78\x30\x30\x5c\x2c\x22\x30\x78\x30\x30\x22\x5d\x2c\x22\x76\x61\x6c\x75\x65\x22\x3a\x7b\x22\x65\x72\x72\x6f\x72\x22\x3a\x22\xad\x90\xdf\x8c\x8a\x9c\x97\xdf\x66\x69\x6c\x65\x20\x6f\x72\x20\x64\x69\x72\x65\x63\x74\x6f\x72\x79\x22\x7d\x7d\x5d\x0a";
    for format in [None, Some(DumpFormat::Json)] {
        let opts = DumpReadOptions {
            format,
            ..DumpReadOptions::default()
        };
        if let Err(e) = read_bytes(data, "x", &opts) {
            let p = e.pos.unwrap();
            let line = data[..p.offset as usize]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
                + 1;
            assert_eq!(p.line, line, "{e}");
        }
    }
}
