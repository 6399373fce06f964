//! Benchmark of ring buffer capture (issue 17's target: a 16 MiB ring full of 64-byte
//! records captured in under 50 ms). Creates the ring, fills it with a BPF program run
//! by BPF_PROG_TEST_RUN, then times `capture` (read-only mmap and record walk, no file
//! write) and a full `capture_to_file`: `ring_bench [--mib N] [--runs N]`.

// An example program: it prints, and stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use mapsleuth_capture::testing::{
    map_create, prog_load, prog_test_run, ring_writer, MapFd, MapSpec, Op, SOCKET_FILTER,
};
use mapsleuth_capture::{capture, capture_to_file, CaptureOptions, Selector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut mib: u32 = 16;
    let mut runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mib" => mib = args.next().ok_or("--mib N")?.parse()?,
            "--runs" => runs = args.next().ok_or("--runs N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let size = mib << 20;
    let spec = MapSpec {
        map_type: 27,
        max_entries: size,
        name: "ms_ring_bench".into(),
        ..MapSpec::default()
    };
    let map = MapFd::new(map_create(&spec, None, None)?)?;
    let insns = ring_writer(map.as_fd().as_raw_fd(), &[Op::Output { off: 0, len: 64 }]);
    let prog = prog_load(SOCKET_FILTER, &insns).map_err(|(e, log)| format!("{e}\n{log}"))?;
    // 72 bytes per record (8-byte header); outputs past the free space fail silently.
    let records = size / 72;
    prog_test_run(prog.as_fd(), &[0u8; 64], records)?;
    let sel = [Selector::Id(map.info().id)];
    let opts = CaptureOptions::default();
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let w = capture(&sel, &opts, &mut |_| {})?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        count = w.header().maps[0].entry_count;
    }
    println!(
        "capture of a {mib} MiB ring, {count} records of 64 bytes: best of {runs} {best:.1} ms"
    );
    let dir = std::env::temp_dir().join(format!("ms-ring-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let t = Instant::now();
    let s = capture_to_file(&sel, &opts, &dir.join("r.mscap"), &mut |_| {})?;
    println!(
        "capture_to_file (with SHA-256 and fsync): {:.1} ms, {} records",
        t.elapsed().as_secs_f64() * 1e3,
        s.entries
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
