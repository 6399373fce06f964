//! Fuzzes the JSON reader (`bpftool -j`/`-p map dump`): any bytes
//! must read or fail with a positioned error, never panic; every position must lie in
//! the input with the right line number; reading through tiny windows must give what
//! reading in place gives, and so must reading in two halves on two threads (split at
//! every size, in parts of 2 entries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapsleuth_dump::{read_bytes, Dump, DumpError, DumpFormat, Position, DumpReadOptions};

/// The position lies in the input and has the right line number (`newlines`: the
/// offsets of the input's newlines).
fn check_pos(data: &[u8], newlines: &[usize], p: Position) {
    let at = p.offset as usize;
    assert!(at <= data.len());
    let line = newlines.partition_point(|&n| n < at) as u64 + 1;
    assert_eq!(p.line, line);
}

fn summary(data: &[u8], r: &Result<Vec<Dump>, DumpError>) -> String {
    let newlines: Vec<usize> = (0..data.len()).filter(|&i| data[i] == b'\n').collect();
    let check_pos = |data: &[u8], p: Position| check_pos(data, &newlines, p);
    match r {
        Err(e) => {
            if let Some(p) = e.pos {
                check_pos(data, p);
            }
            format!("error {e}")
        }
        Ok(dumps) => {
            let mut s = String::new();
            for d in dumps {
                for e in &d.issues {
                    check_pos(data, e.pos.expect("issues have positions"));
                    s += &format!("issue {e}\n");
                }
                for e in d.entries() {
                    check_pos(data, e.position());
                    s += &format!(
                        "{:?} {:?} {:?} {:?} {:?}\n",
                        e.position(),
                        e.key(),
                        e.values().collect::<Vec<_>>(),
                        e.lookup_error(),
                        e.formatted_json()
                    );
                }
                s += &format!("{:?} {:?}\n", d.meta, d.found_elements);
            }
            s
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for format in [Some(DumpFormat::Json), None] {
        let opts = DumpReadOptions {
            format,
            ..DumpReadOptions::default()
        };
        let whole = read_bytes(data, "fuzz", &opts);
        let a = summary(data, &whole);
        let windowed = mapsleuth_dump::fuzz_read_windowed(data, 7, 16, &opts);
        let b = summary(data, &windowed);
        assert_eq!(a, b);
        let halves = DumpReadOptions {
            threads: 2,
            split_min_len: Some(0),
            split_part_len: Some(2),
            ..opts.clone()
        };
        let c = summary(data, &read_bytes(data, "fuzz", &halves));
        assert_eq!(a, c);
    }
});
