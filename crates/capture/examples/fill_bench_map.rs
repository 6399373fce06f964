//! Creates a hash map of N entries (4-byte keys, 32-byte values), fills it and pins it,
//! for benchmarks: `fill_bench_map [--entries N] [--pin PATH]` (default 1000000 and
//! /sys/fs/bpf/ms_bench). Remove the pin with `rm PATH` afterwards.

// An example program: it prints, and stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
use std::path::PathBuf;

use mapsleuth_capture::testing::{map_create, MapFd, MapSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut entries: u32 = 1_000_000;
    let mut pin = PathBuf::from("/sys/fs/bpf/ms_bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--entries" => entries = args.next().ok_or("--entries N")?.parse()?,
            "--pin" => pin = args.next().ok_or("--pin PATH")?.into(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if pin.exists() {
        std::fs::remove_file(&pin)?;
    }
    let spec = MapSpec {
        map_type: 1, // hash
        key_size: 4,
        value_size: 32,
        max_entries: entries,
        name: "ms_bench".into(),
        ..MapSpec::default()
    };
    let map = MapFd::new(map_create(&spec, None, None)?)?;
    let mut value = [0u8; 32];
    for k in 0..entries {
        for (i, chunk) in value.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(
                &k.wrapping_mul(0x9e37_79b9)
                    .rotate_left(i as u32)
                    .to_le_bytes(),
            );
        }
        map.update(&k.to_le_bytes(), &value, 0)?;
    }
    map.pin(&pin)?;
    println!(
        "map id {} with {entries} entries pinned at {}",
        map.info().id,
        pin.display()
    );
    Ok(())
}
