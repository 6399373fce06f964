//! Reads dump files and prints what was read and how long it took (benchmark driver:
//! `cargo run --release -p mapsleuth-dump --example read_dump -- FILE...`, under
//! `/usr/bin/time -v` for peak memory). `THREADS=1` reads in one pass (default: a big
//! `-j` dump in two halves on two threads).

// An example program: it prints, and stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::time::Instant;

use mapsleuth_dump::{read_file, DumpReadOptions};

fn main() {
    let mut status = 0;
    let opts = DumpReadOptions {
        threads: std::env::var("THREADS").map_or(0, |t| t.parse().unwrap()),
        ..DumpReadOptions::default()
    };
    for path in std::env::args().skip(1) {
        let t = Instant::now();
        match read_file(&path, &opts) {
            Ok(dumps) => {
                let secs = t.elapsed().as_secs_f64();
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                for d in &dumps {
                    println!(
                        "{path}: {} ({}), map {}: {} entries, key {:?} B, value {:?} B, cpus {:?}, \
                         {} issues, model {:.1} MB",
                        d.source.format,
                        d.meta.name.as_deref().unwrap_or("-"),
                        d.source.map_index,
                        d.len(),
                        d.key_size(),
                        d.value_size(),
                        d.cpu_count(),
                        d.issues.len(),
                        d.heap_bytes() as f64 / 1e6,
                    );
                    for e in d.issues.iter().take(5) {
                        println!("  issue: {e}");
                    }
                }
                println!(
                    "{path}: read {:.1} MB in {:.3} s ({:.0} MB/s)",
                    size as f64 / 1e6,
                    secs,
                    size as f64 / 1e6 / secs
                );
            }
            Err(e) => {
                eprintln!("{e}");
                status = 2;
            }
        }
    }
    std::process::exit(status);
}
