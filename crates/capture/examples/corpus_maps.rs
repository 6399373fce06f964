//! Creates and pins the live maps of corpus/regen-captures.sh (run as root):
//! `corpus_maps DIR` pins under DIR (a bpffs directory)
//! - `events`: a ring buffer holding records written by a hand-assembled program:
//!   24-byte records of the pattern (`struct event` of corpus/captures/ring_event.bpf.c)
//!   at offsets 0, 8 and 40, one 16-byte record (a record of another type), and a
//!   discarded one;
//! - `outer`: an array of maps (4 slots), slot 0 → `inner_a`, slot 2 → `inner_b`,
//!   both arrays of 4 `__u64` (10, 11, 12, 13 and 100, 0, 300, 0), pinned as `inner_a`
//!   and `inner_b` too (for the script's changes).
//!
//! The script captures them with `mapsleuth capture`, then removes DIR.

// An example program: it prints, and stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use mapsleuth_capture::testing::{
    map_create, prog_load, prog_test_run, ring_writer, MapFd, MapSpec, Op, SOCKET_FILTER,
};

const ARRAY: u32 = 2;
const ARRAY_OF_MAPS: u32 = 12;
const RINGBUF: u32 = 27;

fn array(name: &str, values: [u64; 4]) -> Result<MapFd, Box<dyn std::error::Error>> {
    let spec = MapSpec {
        map_type: ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        name: name.into(),
        ..MapSpec::default()
    };
    let m = MapFd::new(map_create(&spec, None, None)?)?;
    for (k, v) in values.iter().enumerate() {
        m.update(&(k as u32).to_le_bytes(), &v.to_le_bytes(), 0)?;
    }
    Ok(m)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: corpus_maps DIR")?);
    let spec = MapSpec {
        map_type: RINGBUF,
        max_entries: 4096,
        name: "ms_events".into(),
        ..MapSpec::default()
    };
    let ring = MapFd::new(map_create(&spec, None, None)?)?;
    let ops = [
        Op::Output { off: 0, len: 24 },
        Op::Output { off: 8, len: 24 },
        Op::Discard { len: 24 },
        Op::Output { off: 0, len: 16 },
        Op::Output { off: 40, len: 24 },
    ];
    let insns = ring_writer(ring.as_fd().as_raw_fd(), &ops);
    let prog = prog_load(SOCKET_FILTER, &insns).map_err(|(e, log)| format!("{e}\n{log}"))?;
    prog_test_run(prog.as_fd(), &[0u8; 64], 1)?;
    ring.pin(&dir.join("events"))?;

    let inner_a = array("ms_inner_a", [10, 11, 12, 13])?;
    let inner_b = array("ms_inner_b", [100, 0, 300, 0])?;
    let spec = MapSpec {
        map_type: ARRAY_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries: 4,
        name: "ms_outer".into(),
        ..MapSpec::default()
    };
    let outer = MapFd::new(map_create(&spec, None, Some(inner_a.as_fd()))?)?;
    for (slot, inner) in [(0u32, &inner_a), (2, &inner_b)] {
        let fd = inner.as_fd().as_raw_fd() as u32;
        outer.update(&slot.to_le_bytes(), &fd.to_le_bytes(), 0)?;
    }
    outer.pin(&dir.join("outer"))?;
    inner_a.pin(&dir.join("inner_a"))?;
    inner_b.pin(&dir.join("inner_b"))?;
    println!(
        "pinned {} (ring id {}) and {} (outer id {}; inner ids {} and {})",
        dir.join("events").display(),
        ring.info().id,
        dir.join("outer").display(),
        outer.info().id,
        inner_a.info().id,
        inner_b.info().id
    );
    Ok(())
}
