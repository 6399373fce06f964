//! Every recorded bpftool dump in corpus/dumps parses, counts agree, and the formats
//! of one map agree with each other.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use mapsleuth_dump::{
    read_bytes, read_file, Dump, DumpFormat, DumpReadOptions, EntryKind, ErrorKind,
};

fn dumps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dumps")
}

struct Row {
    file: String,
    format: DumpFormat,
    map: String,
    map_type: String,
    exit: i32,
}

fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(dumps_dir().join("manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].to_string(),
                format: f[1].parse().unwrap(),
                map: f[2].to_string(),
                map_type: f[3].to_string(),
                exit: f[4].parse().unwrap(),
            }
        })
        .collect()
}

fn cpus() -> usize {
    std::fs::read_to_string(dumps_dir().join("cpus.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn read(file: &str) -> Vec<Dump> {
    read_file(dumps_dir().join(file), &DumpReadOptions::default())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn read1(file: &str) -> Dump {
    let mut v = read(file);
    assert_eq!(v.len(), 1, "{file}");
    v.remove(0)
}

#[test]
fn every_dump_parses_cleanly_in_its_detected_format() {
    let rows = manifest();
    assert!(rows.len() > 80, "manifest has {} rows", rows.len());
    for row in &rows {
        let path = dumps_dir().join(&row.file);
        let result = read_file(&path, &DumpReadOptions::default());
        if row.file.starts_with("error.") {
            let e = result.expect_err(&row.file);
            assert!(matches!(e.kind, ErrorKind::BpftoolError(_)), "{e}");
            assert!(e.to_string().contains("get map by id"), "{e}");
            assert!(e.pos.is_some());
            continue;
        }
        let dumps = result.unwrap_or_else(|e| panic!("{}: {e}", row.file));
        for d in &dumps {
            assert_eq!(d.source.format, row.format, "{}", row.file);
            assert!(
                d.issues.is_empty(),
                "{}: unexpected issues {:#?}",
                row.file,
                d.issues
            );
        }
        // The same format when forced.
        let forced = read_file(
            &path,
            &DumpReadOptions {
                format: Some(row.format),
                ..DumpReadOptions::default()
            },
        )
        .unwrap();
        assert_eq!(forced.len(), dumps.len());
        let _ = (&row.map, &row.map_type, row.exit);
    }
}

#[test]
fn counts_match_found_elements_and_json_length() {
    for row in manifest() {
        if row.file.starts_with("error.") {
            continue;
        }
        let bytes = std::fs::read(dumps_dir().join(&row.file)).unwrap();
        let dumps = read(&row.file);
        match row.format {
            DumpFormat::Text => {
                for d in &dumps {
                    let found = d.found_elements.expect(&row.file);
                    assert_eq!(found, d.counted_len() as u64, "{}", row.file);
                    // Lookup errors are listed but not counted.
                    assert_eq!(d.len(), d.counted_len() + d.lookup_error_count());
                }
            }
            DumpFormat::Json | DumpFormat::BtfText => {
                // The BTF listing is not always JSON (bare `0x5` bitfields): Null then.
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                if let Some(arr) = v.as_array() {
                    if row.file.starts_with("multi") {
                        assert_eq!(arr.len(), dumps.len(), "{}: maps", row.file);
                        for (m, d) in arr.iter().zip(&dumps) {
                            assert_eq!(m["elements"].as_array().unwrap().len(), d.len());
                        }
                    } else {
                        assert_eq!(arr.len(), dumps[0].len(), "{}", row.file);
                    }
                } else {
                    assert_eq!(row.format, DumpFormat::BtfText, "{}", row.file);
                }
            }
            DumpFormat::Raw | DumpFormat::Capture => unreachable!(),
        }
    }
}

/// Key, values, lookup error and kind of an entry.
type EntryBytes = (Option<Vec<u8>>, Vec<Vec<u8>>, Option<String>, EntryKind);

fn bytes_of(d: &Dump) -> Vec<EntryBytes> {
    d.entries()
        .map(|e| {
            (
                e.key().map(<[u8]>::to_vec),
                e.values().map(<[u8]>::to_vec).collect(),
                e.lookup_error().map(str::to_string),
                e.kind(),
            )
        })
        .collect()
}

fn normalise_error(s: &str) -> &str {
    // Plain text prints ENOENT as `<no entry>`; JSON prints strerror.
    match s {
        "<no entry>" => "No such file or directory",
        other => other,
    }
}

#[test]
fn formats_of_one_map_agree_entry_for_entry() {
    let rows = manifest();
    let mut by_base: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        let base = row
            .file
            .trim_end_matches(".pretty.json")
            .trim_end_matches(".json")
            .trim_end_matches(".txt")
            .to_string();
        by_base.entry(base).or_default().push(row);
    }
    let mut compared_text = 0;
    let mut compared_btf = 0;
    for (base, rows) in by_base {
        if base.starts_with("error") {
            continue;
        }
        let plain = rows.iter().find(|r| r.file.ends_with(".txt")).unwrap();
        let json = read(&format!("{base}.json"));
        let pretty = read(&format!("{base}.pretty.json"));
        let text = read(&plain.file);
        assert_eq!(json.len(), pretty.len());
        assert_eq!(json.len(), text.len(), "{base}");
        for ((j, p), t) in json.iter().zip(&pretty).zip(&text) {
            // -j and -p: identical, formatted text included (both compacted).
            assert_eq!(bytes_of(j), bytes_of(p), "{base}");
            let fj: Vec<_> = j.entries().map(|e| e.formatted_json()).collect();
            let fp: Vec<_> = p.entries().map(|e| e.formatted_json()).collect();
            assert_eq!(fj, fp, "{base}");
            assert_eq!(j.meta, p.meta, "{base}");
            match plain.format {
                DumpFormat::Text => {
                    let tb = bytes_of(t);
                    let jb = bytes_of(j);
                    assert_eq!(tb.len(), jb.len(), "{base}");
                    for (a, b) in tb.iter().zip(&jb) {
                        assert_eq!(a.0, b.0, "{base}: key");
                        assert_eq!(a.1, b.1, "{base}: values");
                        assert_eq!(a.3, b.3, "{base}: kind");
                        assert_eq!(
                            a.2.as_deref().map(normalise_error),
                            b.2.as_deref().map(normalise_error),
                            "{base}: lookup error"
                        );
                    }
                    compared_text += 1;
                }
                DumpFormat::BtfText => {
                    assert_eq!(t.len(), j.len(), "{base}");
                    for (te, je) in t.entries().zip(j.entries()) {
                        assert_eq!(te.kind(), EntryKind::FormattedOnly);
                        assert!(te.key().is_none());
                        let a = te.formatted().unwrap().unwrap();
                        let b = je.formatted().unwrap().unwrap();
                        assert_eq!(a, b, "{base}: entry {}", te.index());
                        // Compacted the same way: the text itself agrees.
                        assert_eq!(te.formatted_json(), je.formatted_json());
                    }
                    compared_btf += 1;
                }
                _ => unreachable!(),
            }
        }
    }
    assert!(compared_text >= 12, "{compared_text}");
    assert!(compared_btf >= 10, "{compared_btf}");
}

#[test]
fn percpu_values_match_the_recorded_cpu_count() {
    let n = cpus();
    let mut seen = 0;
    for row in manifest() {
        if !mapsleuth_dump::is_percpu_type(&row.map_type) {
            continue;
        }
        for d in read(&row.file) {
            for e in d.entries() {
                match e.kind() {
                    EntryKind::PerCpu => {
                        assert_eq!(e.value_count(), n, "{}", row.file);
                        assert_eq!(d.cpu_count(), Some(n));
                        seen += 1;
                    }
                    EntryKind::FormattedOnly => {
                        let f = e.formatted().unwrap().unwrap();
                        assert_eq!(f["values"].as_array().unwrap().len(), n, "{}", row.file);
                        seen += 1;
                    }
                    other => panic!("{}: {other:?}", row.file),
                }
            }
        }
    }
    assert!(seen > 20);
}

#[test]
fn planted_anomalies_are_where_the_readme_says() {
    // events key 1: hole 4..8 = de ad be ef, trailing 37..40 = aa bb cc.
    let d = read1("events.json");
    let e1 = d
        .entries()
        .find(|e| e.key() == Some(&[1, 0, 0, 0][..]))
        .unwrap();
    let v = e1.value().unwrap();
    assert_eq!(v.len(), 40);
    assert_eq!(&v[4..8], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&v[37..40], &[0xaa, 0xbb, 0xcc]);
    // key 2: comm (21..37) without NUL.
    let e2 = d.entry(2).unwrap();
    assert!(e2.value().unwrap()[21..37].iter().all(|&b| b != 0));
    // key 0: all zero.
    assert!(d.entry(0).unwrap().value().unwrap().iter().all(|&b| b == 0));
    // per-CPU divergence: CPU 0 ran twice, CPU 1 five times (when the host had 2 CPUs).
    let p = read1("pcpu_array_u64.json");
    let e0 = p.entry(0).unwrap();
    assert_eq!(e0.cpu_value(0).unwrap()[0], 2);
    if cpus() > 1 {
        assert_eq!(e0.cpu_value(1).unwrap()[0], 5);
    }
    // flows: key padding de ad be at 13..16 on one key.
    let f = read1("flows.json");
    assert_eq!(f.len(), 6);
    assert!(f
        .entries()
        .any(|e| e.key().is_some_and(|k| k[13..16] == [0xde, 0xad, 0xbe])));
    assert_eq!(read1("flows.after.json").len(), 7);
    // the bitfield listing quotes bare hex like -j does.
    let c = read1("conns.txt");
    assert!(c
        .entry(0)
        .unwrap()
        .formatted_json()
        .unwrap()
        .contains("\"state\":\"0x5\""));
}

#[test]
fn special_maps() {
    // queue, stack, ring buffer: bpftool prints an empty dump (and fails).
    for f in ["fifo", "rb", "nb_stack"] {
        for ext in ["txt", "json"] {
            let mut d = read1(&format!("{f}.{ext}"));
            assert!(d.is_empty());
            let meta = mapsleuth_dump::parse_bpftool_map_show(
                &std::fs::read(dumps_dir().join(format!("{f}.show.json"))).unwrap(),
                "show",
            )
            .unwrap();
            d.merge_meta(&meta[0]);
            assert!(
                d.issues
                    .iter()
                    .any(|e| matches!(e.kind, ErrorKind::NotDumpable(_))),
                "{f}.{ext}"
            );
        }
    }
    // devmap: empty slots are lookup errors, in both forms.
    let t = read1("nb_devmap.txt");
    assert_eq!(t.lookup_error_count(), 2);
    assert_eq!(t.entry(0).unwrap().lookup_error(), Some("<no entry>"));
    let s = read1("nb_sockmap.txt");
    assert_eq!(
        s.entry(1).unwrap().lookup_error(),
        Some("No space left on device")
    );
    assert_eq!(s.entry(1).unwrap().key(), Some(&[1u8, 0, 0, 0][..]));
    assert_eq!(s.entry(1).unwrap().position().line, 5);
    // multi-map dumps: headers become metadata.
    for f in ["multi.txt", "multi.json", "multi.pretty.json"] {
        let v = read(f);
        assert_eq!(v.len(), 2, "{f}");
        for (i, d) in v.iter().enumerate() {
            assert_eq!(d.meta.name.as_deref(), Some("ms_dup"), "{f}");
            assert_eq!(d.meta.map_type.as_deref(), Some("hash"));
            assert!(d.meta.id.is_some());
            assert_eq!(d.source.map_index, i);
            assert_eq!(d.len(), 1);
            assert_eq!(d.entry(0).unwrap().key().unwrap()[0], i as u8 + 1);
        }
    }
}

#[test]
fn positions_point_at_entries() {
    let bytes = std::fs::read(dumps_dir().join("nb_event.txt")).unwrap();
    let d = read_bytes(&bytes, "nb_event.txt", &DumpReadOptions::default()).unwrap();
    for e in d[0].entries() {
        let at = e.position().offset as usize;
        assert!(bytes[at..].starts_with(b"key:"));
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        assert_eq!(e.position().line, line);
    }
    for f in ["flows.pretty.json", "flows.json", "flows.txt"] {
        let bytes = std::fs::read(dumps_dir().join(f)).unwrap();
        let d = read_bytes(&bytes, f, &DumpReadOptions::default()).unwrap();
        for e in d[0].entries() {
            let at = e.position().offset as usize;
            assert_eq!(bytes[at], b'{', "{f}");
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            assert_eq!(e.position().line, line, "{f}");
        }
    }
}
