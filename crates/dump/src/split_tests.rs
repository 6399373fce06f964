//! A dump read in two halves is the dump read in one pass: the same entries, positions,
//! issues and errors, on every corpus dump and on cut and damaged copies of them.

use crate::ctx::Ctx;
use crate::format::DumpFormat;
use crate::split::{self, Whole};
use crate::window_tests::{corpus, summary};
use crate::{read_bytes, read_file, DumpReadOptions};

fn one_pass() -> DumpReadOptions {
    DumpReadOptions {
        threads: 1,
        ..DumpReadOptions::default()
    }
}

/// Halves whatever the input's size; the second read in parts of `part_len` entries.
fn halves_in(part_len: usize) -> DumpReadOptions {
    DumpReadOptions {
        threads: 2,
        split_min_len: Some(0),
        split_part_len: Some(part_len),
        ..DumpReadOptions::default()
    }
}

fn halves() -> DumpReadOptions {
    halves_in(2)
}

fn json_corpus() -> Vec<(String, Vec<u8>)> {
    corpus()
        .into_iter()
        .filter(|(name, _)| name.ends_with(".json"))
        .collect()
}

/// Whether the halves were joined (not read again in one pass).
fn joined(name: &str, bytes: &[u8]) -> bool {
    let opts = halves();
    let ctx = Ctx {
        file: name.into(),
        opts: &opts,
        format: DumpFormat::Json,
    };
    split::opens_entry_array(bytes) && split::read(&ctx, Whole::Slice(bytes)).is_some()
}

#[test]
fn halves_read_what_one_pass_reads() {
    let mut split_files = 0;
    for (name, bytes) in json_corpus() {
        let one = summary(read_bytes(&bytes, &name, &one_pass()));
        for part_len in [1, 3, usize::MAX] {
            let two = summary(read_bytes(&bytes, &name, &halves_in(part_len)));
            assert_eq!(two, one, "{name} in parts of {part_len}");
        }
        // A clean dump of one map with entries on both sides of its middle is split.
        let clean = one.len() == 1 && one[0].1.is_empty();
        let entries = &one[0].2;
        let both_sides = entries
            .first()
            .is_some_and(|e| e.1 < bytes.len() as u64 / 2)
            && entries
                .iter()
                .filter(|e| e.1 > bytes.len() as u64 / 2)
                .count()
                >= 2;
        if clean && split::opens_entry_array(&bytes) && both_sides {
            assert!(joined(&name, &bytes), "{name} was not split");
            split_files += 1;
        }
    }
    // `-j` and `-p` dumps of several maps, hashes and per-CPU maps among them.
    assert!(
        split_files >= 10,
        "only {split_files} corpus dumps were split"
    );
}

#[test]
fn files_read_in_halves_too() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dumps");
    for name in ["flows.json", "flows.pretty.json", "conns.pretty.json"] {
        let path = dir.join(name);
        let one = summary(read_file(&path, &one_pass()));
        let two = summary(read_file(&path, &halves()));
        assert_eq!(two, one, "{name}");
        let file = std::fs::File::open(&path).unwrap();
        let len = file.metadata().unwrap().len() as usize;
        let opts = halves();
        let ctx = Ctx {
            file: name.into(),
            opts: &opts,
            format: DumpFormat::Json,
        };
        let dumps = split::read(&ctx, Whole::File(&file, len));
        assert!(dumps.is_some(), "{name} was not split");
        assert_eq!(summary(Ok(dumps.unwrap())), one, "{name}");
    }
}

/// Cut short anywhere, or with one byte changed anywhere: the same dumps or the same
/// error as one pass, whether the halves were joined or read again.
#[test]
fn damaged_dumps_read_the_same() {
    for (name, bytes) in json_corpus() {
        if bytes.len() > 64 << 10 {
            continue;
        }
        let step = (bytes.len() / 150).max(1);
        for at in (1..bytes.len()).step_by(step) {
            let cut = &bytes[..at];
            let one = summary(read_bytes(cut, &name, &one_pass()));
            let two = summary(read_bytes(cut, &name, &halves()));
            assert_eq!(two, one, "{name} cut at {at}");
            let mut flipped = bytes.clone();
            for (i, b) in [(at, b'}'), (at, b','), (at, b'"'), (at, b'[')] {
                flipped[i] = b;
                let one = summary(read_bytes(&flipped, &name, &one_pass()));
                let two = summary(read_bytes(&flipped, &name, &halves()));
                assert_eq!(two, one, "{name} byte {at} set to {}", b as char);
                flipped[i] = bytes[i];
            }
        }
    }
}

#[test]
fn the_cut_is_between_two_entries() {
    assert_eq!(split::find_cut(br#""a"},{"key":["0x01"]"#), Some(5));
    assert_eq!(
        split::find_cut(b"  },\n    {\n        \"key\": [\"0x01\""),
        Some(9)
    );
    // `formatted`'s own "key" member, a member named key, a key that is not an array.
    assert_eq!(
        split::find_cut(br#""formatted":{"key":1,"value":{}}"#),
        None
    );
    assert_eq!(split::find_cut(br#"[{"key":{"a":1}},{"key":7}]"#), None);
    assert!(split::opens_entry_array(
        b"\xef\xbb\xbf [\n  {\n \"key\": ["
    ));
    assert!(!split::opens_entry_array(br#"[{"id":3,"elements":[]}]"#));
    assert!(!split::opens_entry_array(br#"{"error":"no such map"}"#));
}

/// Entries of two `formatted` shapes: the parts number them on from each other, and
/// the second half's numbers become the first's when it met them in another order.
#[test]
fn formatted_shapes_number_on_across_parts() {
    let entry = |i: usize, other: bool| {
        let value = if other {
            format!(r#"{{"b":[{i},{}]}}"#, i + 1)
        } else {
            format!(r#"{{"a":{i}}}"#)
        };
        format!(
            r#"{{"key":["0x{:02x}","0x00"],"value":["0x{:02x}","0x00"],"formatted":{{"key":{i},"value":{value}}}}}"#,
            i % 256,
            (i * 7) % 256
        )
    };
    let dump = |shape: &dyn Fn(usize) -> bool| {
        let entries: Vec<String> = (0..40).map(|i| entry(i, shape(i))).collect();
        format!("[{}]\n", entries.join(","))
    };
    let alternating = dump(&|i| i % 2 == 1);
    let second_half_first = dump(&|i| i == 25 || i == 30);
    for text in [alternating, second_half_first] {
        let one = summary(read_bytes(text.as_bytes(), "shapes", &one_pass()));
        assert!(one[0].1.is_empty() && one[0].2.len() == 40, "{one:?}");
        for part_len in [1, 3, usize::MAX] {
            let two = summary(read_bytes(text.as_bytes(), "shapes", &halves_in(part_len)));
            assert_eq!(two, one, "parts of {part_len}");
        }
        assert!(joined("shapes", text.as_bytes()), "{text}");
    }
}

/// Problems in the second half do not send the input back to one pass: a cut-short
/// end and broken entries are the issues one pass meets, in order, up to the cap.
#[test]
fn a_damaged_second_half_still_joins() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus/dumps/flows.pretty.json");
    let bytes = std::fs::read(path).unwrap();
    let entries: Vec<usize> = memchr::memmem::find_iter(&bytes, b"\"key\": [").collect();
    assert!(entries.len() > 4, "{} entries", entries.len());
    let late = entries[entries.len() - 2..].to_vec();
    let cut_short = &bytes[..bytes.len() * 9 / 10];
    let mut broken = bytes.clone();
    for at in &late {
        broken[at + 1] = b'!';
    }
    for (what, text) in [("cut short", cut_short.to_vec()), ("broken", broken)] {
        for max_issues in [1, 1000] {
            let mut one = one_pass();
            one.limits.max_issues = max_issues;
            let mut two = halves();
            two.limits.max_issues = max_issues;
            let one = summary(read_bytes(&text, what, &one));
            assert!(!one[0].1.is_empty(), "{what}: no issue");
            assert_eq!(summary(read_bytes(&text, what, &two)), one, "{what}");
        }
        assert!(joined(what, &text), "{what} was read again in one pass");
    }
}
