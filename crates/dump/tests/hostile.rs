//! Truncated, corrupted and random inputs: errors with positions, never a panic.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_dump::{
    read_bytes, Dump, DumpError, DumpFormat, DumpLimits, DumpReadOptions, ErrorKind, Position,
    RawLayout,
};
use proptest::prelude::*;

fn dumps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dumps")
}

/// Every corpus dump (not the error outputs), with its bytes.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(dumps_dir().join("manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty() && !f.starts_with("error."))
        .map(|f| (f.to_string(), std::fs::read(dumps_dir().join(f)).unwrap()))
        .collect()
}

/// A small deterministic generator (tests must not depend on a seed source).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The position is inside the input and its line number is right.
fn check_pos(input: &[u8], pos: Position, what: &str) {
    let at = pos.offset as usize;
    assert!(
        at <= input.len(),
        "{what}: offset {at} past {}",
        input.len()
    );
    let line = input[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    assert_eq!(
        pos.line,
        line,
        "{what}: line of offset {at} in {:?}",
        String::from_utf8_lossy(input)
    );
}

fn check_error(input: &[u8], e: &DumpError, what: &str) {
    assert!(!e.to_string().is_empty());
    match e.pos {
        Some(p) => check_pos(input, p, &format!("{what}: {e}")),
        None => assert!(
            matches!(
                e.kind,
                ErrorKind::Empty | ErrorKind::InvalidOption(_) | ErrorKind::Io(_)
            ),
            "{what}: no position on {e}"
        ),
    }
}

/// Parses and checks every error and position; returns the dumps when reading worked.
fn parse_checked(input: &[u8], opts: &DumpReadOptions, what: &str) -> Option<Vec<Dump>> {
    match read_bytes(input, what, opts) {
        Err(e) => {
            check_error(input, &e, what);
            None
        }
        Ok(dumps) => {
            assert!(!dumps.is_empty());
            for d in &dumps {
                for e in &d.issues {
                    check_error(input, e, what);
                }
                check_pos(input, d.start, what);
                for e in d.entries() {
                    check_pos(input, e.position(), what);
                    let _ = (e.key(), e.values().count(), e.lookup_error(), e.formatted());
                }
            }
            Some(dumps)
        }
    }
}

#[test]
fn truncated_dumps_say_where_they_end() {
    let opts = DumpReadOptions::default();
    let mut rng = Lcg(7);
    let mut cuts_checked = 0;
    for (name, bytes) in corpus() {
        let len = bytes.len();
        let mut cuts: Vec<usize> = if len <= 600 {
            (0..len).collect()
        } else {
            (0..150)
                .map(|i| i * len / 150)
                .chain((0..50).map(|_| rng.below(len)))
                .collect()
        };
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts {
            let input = &bytes[..cut];
            if bytes[cut..].iter().all(u8::is_ascii_whitespace) {
                continue; // nothing but the final newline was lost
            }
            let what = format!("{name} cut at {cut}");
            match parse_checked(input, &opts, &what) {
                None => {}
                Some(dumps) => {
                    let flagged = dumps.iter().any(|d| !d.issues.is_empty());
                    // Cutting a multi-map text dump between two maps leaves a complete
                    // dump of the first map: nothing can tell.
                    let between_maps = name == "multi.txt" && dumps.len() == 1;
                    assert!(flagged || between_maps, "{what}: truncation not reported");
                }
            }
            cuts_checked += 1;
        }
    }
    assert!(cuts_checked > 5000, "{cuts_checked}");
}

#[test]
fn corrupted_dumps_never_panic() {
    let opts = DumpReadOptions::default();
    let mut rng = Lcg(42);
    let corpus = corpus();
    let interesting = b"{}[],:\"\\ \n0xgkeyvalue(CPU)F<>\x00\xff";
    let mut n = 0;
    for round in 0..4 {
        for (name, bytes) in &corpus {
            let mut m = bytes.clone();
            let edits = 1 + rng.below(3);
            for _ in 0..edits {
                if m.is_empty() {
                    break;
                }
                let at = rng.below(m.len());
                match rng.below(5) {
                    0 => m[at] ^= 1 << rng.below(8),
                    1 => m[at] = interesting[rng.below(interesting.len())],
                    2 => {
                        m.remove(at);
                    }
                    3 => {
                        // Duplicate a slice (a repeated line or entry).
                        let end = (at + rng.below(80)).min(m.len());
                        let piece = m[at..end].to_vec();
                        let to = rng.below(m.len());
                        m.splice(to..to, piece);
                    }
                    _ => m.insert(at, interesting[rng.below(interesting.len())]),
                }
            }
            let what = format!("{name} mutation {round}");
            parse_checked(&m, &opts, &what);
            // Forced into every format too.
            for f in [DumpFormat::Text, DumpFormat::BtfText, DumpFormat::Json] {
                let o = DumpReadOptions {
                    format: Some(f),
                    ..DumpReadOptions::default()
                };
                parse_checked(&m, &o, &what);
            }
            n += 1;
        }
    }
    assert!(n >= 300, "{n}");
}

#[test]
fn a_bad_entry_is_skipped_and_reading_goes_on() {
    // Text: bad hex in the second entry.
    let t = b"key: 01 00 00 00  value: 01 00 00 00\nkey: 02 00 00 00  value: 0g 00 00 00\nkey: 03 00 00 00  value: 03 00 00 00\nFound 3 elements\n";
    let d = &read_bytes(t, "t", &DumpReadOptions::default()).unwrap()[0];
    assert_eq!(d.len(), 2);
    assert_eq!(d.entry(1).unwrap().key(), Some(&[3u8, 0, 0, 0][..]));
    let kinds: Vec<String> = d.issues.iter().map(|e| e.to_string()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0], "t: line 2, byte 62: `0g` is not a hex byte");
    assert!(
        kinds[1].contains("`Found 3 elements` but 2 entries"),
        "{kinds:?}"
    );
    // Strict mode: the first problem is an error.
    let strict = DumpReadOptions {
        strict: true,
        ..DumpReadOptions::default()
    };
    let e = read_bytes(t, "t", &strict).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadHex { .. }));

    // JSON: a broken entry in the middle.
    let j = br#"[{"key":["0x01"],"value":["0x01"]},{"key":["0x02"],"value":["0x0z"]},{"key":["0x03"],"value":["0x03"]}]"#;
    let d = &read_bytes(j, "j", &DumpReadOptions::default()).unwrap()[0];
    assert_eq!(d.len(), 2);
    assert_eq!(d.entry(1).unwrap().key(), Some(&[3u8][..]));
    assert_eq!(d.issues.len(), 1);
    // serde reports the end of the bad string.
    assert_eq!(d.issues[0].pos.unwrap().offset, 65);

    // JSON: cut in the middle.
    let d = &read_bytes(&j[..60], "j", &DumpReadOptions::default()).unwrap()[0];
    assert_eq!(d.len(), 1);
    assert!(
        d.issues.iter().any(DumpError::is_truncation),
        "{:?}",
        d.issues
    );
}

#[test]
fn limits_are_enforced() {
    let j = br#"[{"key":["0x01"],"value":["0x01"]},{"key":["0x02"],"value":["0x02"]}]"#;
    let opts = DumpReadOptions {
        limits: DumpLimits {
            max_entries: 1,
            ..DumpLimits::default()
        },
        ..DumpReadOptions::default()
    };
    let e = read_bytes(j, "j", &opts).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::TooManyEntries { limit: 1 }),
        "{e}"
    );
    assert_eq!(e.pos.unwrap().offset, 35);

    let t = b"key: 01 00 00 00  value: 01 00 00 00\nkey: 02 00 00 00  value: 02 00 00 00\nFound 2 elements\n";
    let e = read_bytes(t, "t", &opts).unwrap_err();
    assert_eq!(e.pos.unwrap().line, 2);

    let small = DumpReadOptions {
        limits: DumpLimits {
            max_value_size: 2,
            max_line_len: 30,
            ..DumpLimits::default()
        },
        ..DumpReadOptions::default()
    };
    let d = &read_bytes(j, "j", &small).unwrap()[0];
    assert_eq!(d.len(), 2);
    let d = &read_bytes(t, "t", &small).unwrap()[0];
    assert_eq!(d.len(), 0);
    assert!(d
        .issues
        .iter()
        .any(|e| matches!(e.kind, ErrorKind::LineTooLong { .. })));

    let deep = format!(
        "[{{\"key\":1,\"value\":{}1{}}}]",
        "[".repeat(100),
        "]".repeat(100)
    );
    let d = &read_bytes(deep.as_bytes(), "deep", &DumpReadOptions::default()).unwrap()[0];
    assert!(d
        .issues
        .iter()
        .any(|e| matches!(e.kind, ErrorKind::TooDeep { .. })));
}

#[test]
fn raw_records() {
    let opts = DumpReadOptions {
        raw: Some(RawLayout {
            key_size: 2,
            value_size: 3,
            cpus: None,
        }),
        ..DumpReadOptions::default()
    };
    let d = &read_bytes(b"\x01\x00abc\x02\x00def\x03", "r", &opts).unwrap()[0];
    assert_eq!(d.source.format, DumpFormat::Raw);
    assert_eq!(d.len(), 2);
    assert_eq!(d.entry(1).unwrap().value(), Some(&b"def"[..]));
    assert!(matches!(
        d.issues[0].kind,
        ErrorKind::RawRemainder {
            bytes: 1,
            record: 5
        }
    ));
    // Per-CPU: values padded to 8 bytes.
    let opts = DumpReadOptions {
        raw: Some(RawLayout {
            key_size: 1,
            value_size: 3,
            cpus: Some(2),
        }),
        format: Some(DumpFormat::Raw),
        ..DumpReadOptions::default()
    };
    let rec = b"\x07abc\0\0\0\0\0xyz\0\0\0\0\0";
    let d = &read_bytes(rec, "r", &opts).unwrap()[0];
    let e = d.entry(0).unwrap();
    assert!(e.is_percpu());
    assert_eq!(e.values().collect::<Vec<_>>(), [&b"abc"[..], &b"xyz"[..]]);
    // No sizes: not a dump.
    let e = read_bytes(b"\x01\x02", "r", &DumpReadOptions::default()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::UnknownFormat));
}

// ---- a model of bpftool's printing, for round trips ----

fn fprint_hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % 16 == 0 {
                "\n"
            } else if i % 8 == 0 {
                "  "
            } else {
                " "
            });
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `print_entry_plain` of bpftool 7.1.
fn plain(entries: &[(Vec<u8>, Vec<Vec<u8>>)], percpu: bool) -> String {
    let mut s = String::new();
    for (k, vals) in entries {
        let (ks, vs) = (k.len(), vals[0].len());
        if percpu {
            s += &format!("key:\n{}\n", fprint_hex(k));
            for (cpu, v) in vals.iter().enumerate() {
                let sep = if vs > 16 { '\n' } else { ' ' };
                s += &format!("value (CPU {cpu:02}):{sep}{}\n", fprint_hex(v));
            }
        } else {
            let brk = ks > 16 || vs > 16;
            let single = ks + vs <= 24 && !brk;
            let sep = if brk { '\n' } else { ' ' };
            s += &format!("key:{sep}{}", fprint_hex(k));
            s += if single { "  " } else { "\n" };
            s += &format!("value:{sep}{}\n", fprint_hex(&vals[0]));
        }
    }
    let n = entries.len();
    s += &format!("Found {n} element{}\n", if n == 1 { "" } else { "s" });
    s
}

fn hex_json(bytes: &[u8], pretty: bool) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("\"0x{b:02x}\"")).collect();
    if pretty {
        format!("[{}\n        ]", items.join(","))
    } else {
        format!("[{}]", items.join(","))
    }
}

fn json(entries: &[(Vec<u8>, Vec<Vec<u8>>)], percpu: bool, pretty: bool) -> String {
    let nl = if pretty { "\n        " } else { "" };
    let sp = if pretty { " " } else { "" };
    let items: Vec<String> = entries
        .iter()
        .map(|(k, vals)| {
            let value = if percpu {
                let cpus: Vec<String> = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        format!("{{\"cpu\":{sp}{i},\"value\":{sp}{}}}", hex_json(v, pretty))
                    })
                    .collect();
                format!("\"values\":{sp}[{}]", cpus.join(","))
            } else {
                format!("\"value\":{sp}{}", hex_json(&vals[0], pretty))
            };
            format!("{{{nl}\"key\":{sp}{},{nl}{value}}}", hex_json(k, pretty))
        })
        .collect();
    format!("[{}]\n", items.join(","))
}

/// Entries (key, one value per CPU) and whether the map is per-CPU.
type Generated = (Vec<(Vec<u8>, Vec<Vec<u8>>)>, bool);

fn entries_strategy() -> impl Strategy<Value = Generated> {
    (1usize..40, 1usize..70, 1usize..4, any::<bool>()).prop_flat_map(|(ks, vs, cpus, percpu)| {
        let cpus = if percpu { cpus } else { 1 };
        (
            prop::collection::vec(
                (
                    prop::collection::vec(any::<u8>(), ks),
                    prop::collection::vec(prop::collection::vec(any::<u8>(), vs), cpus),
                ),
                0..12,
            ),
            Just(percpu),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn printed_dumps_read_back((entries, percpu) in entries_strategy()) {
        for (input, fmt) in [
            (plain(&entries, percpu), DumpFormat::Text),
            (json(&entries, percpu, false), DumpFormat::Json),
            (json(&entries, percpu, true), DumpFormat::Json),
        ] {
            let dumps = read_bytes(input.as_bytes(), "gen", &DumpReadOptions::default())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{input}")))?;
            let d = &dumps[0];
            prop_assert_eq!(d.source.format, fmt);
            prop_assert!(d.issues.is_empty(), "{:?}\n{}", d.issues, input);
            prop_assert_eq!(d.len(), entries.len());
            for (e, (k, vals)) in d.entries().zip(&entries) {
                prop_assert_eq!(e.key(), Some(&k[..]));
                let got: Vec<&[u8]> = e.values().collect();
                let want: Vec<&[u8]> = vals.iter().map(|v| &v[..]).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(e.is_percpu(), percpu);
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for f in [None, Some(DumpFormat::Text), Some(DumpFormat::BtfText), Some(DumpFormat::Json)] {
            let o = DumpReadOptions { format: f, ..DumpReadOptions::default() };
            parse_checked(&bytes, &o, "random");
        }
    }

    #[test]
    fn random_text_never_panics(s in "(key: |value: |value \\(CPU 0[0-9]\\): |Found [0-9] elements?|[0-9a-f]{2} |  |\n|<no entry>|\\[|\\{|\"key\": |\"0x0[0-9]\",|\\]|\\}|,|1: hash  name x  flags 0x0\n)*") {
        for f in [None, Some(DumpFormat::Text), Some(DumpFormat::BtfText), Some(DumpFormat::Json)] {
            let o = DumpReadOptions { format: f, ..DumpReadOptions::default() };
            parse_checked(s.as_bytes(), &o, "random text");
        }
    }
}
