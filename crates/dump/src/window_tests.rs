//! Reading through tiny windows (every entry straddles a window boundary) gives what
//! reading the whole input in place gives.

use std::io::Read;
use std::path::PathBuf;

use crate::read::read_window;
use crate::window::Window;
use crate::{read_bytes, Dump, DumpReadOptions};

/// A reader that returns at most `n` bytes per read.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(out.len()).min(self.1);
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

pub(crate) type Summary = (
    String,
    Vec<String>,
    Vec<(
        u64,
        u64,
        Option<Vec<u8>>,
        Vec<Vec<u8>>,
        Option<String>,
        Option<String>,
    )>,
);

pub(crate) fn summary(r: Result<Vec<Dump>, crate::DumpError>) -> Vec<Summary> {
    match r {
        Err(e) => vec![(format!("error: {e}"), vec![], vec![])],
        Ok(v) => v
            .iter()
            .map(|d| {
                (
                    format!(
                        "{:?} {:?} {:?}, {} issues dropped",
                        d.meta, d.found_elements, d.start, d.issues_dropped
                    ),
                    d.issues.iter().map(|e| e.to_string()).collect(),
                    d.entries()
                        .map(|e| {
                            (
                                e.position().line,
                                e.position().offset,
                                e.key().map(<[u8]>::to_vec),
                                e.values().map(<[u8]>::to_vec).collect(),
                                e.lookup_error().map(str::to_string),
                                e.formatted_json(),
                            )
                        })
                        .collect(),
                )
            })
            .collect(),
    }
}

pub(crate) fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/dumps");
    let mut v = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".txt") || (name.ends_with(".json") && !name.ends_with(".show.json")) {
            v.push((name, std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

#[test]
fn tiny_windows_read_the_same() {
    let opts = DumpReadOptions::default();
    for (name, bytes) in corpus() {
        let whole = summary(read_bytes(&bytes, &name, &opts));
        for (chunk, lookahead, trickle) in [(1, 1, 1), (7, 16, 5), (64, 32, 1000), (4096, 256, 3)] {
            let win = Window::from_reader(Trickle(&bytes, trickle), name.as_str().into(), None)
                .with_sizes(chunk, lookahead);
            let got = summary(read_window(win, name.as_str().into(), &opts, None));
            assert_eq!(got, whole, "{name} chunk {chunk} lookahead {lookahead}");
        }
        // Cut and flipped inputs too.
        for cut in [
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(2),
        ] {
            let mut m = bytes[..cut].to_vec();
            if let Some(b) = m.get_mut(cut / 2) {
                *b ^= 0x21;
            }
            let whole = summary(read_bytes(&m, &name, &opts));
            let win =
                Window::from_reader(Trickle(&m, 2), name.as_str().into(), None).with_sizes(5, 8);
            let got = summary(read_window(win, name.as_str().into(), &opts, None));
            assert_eq!(got, whole, "{name} cut {cut}");
        }
    }
}
