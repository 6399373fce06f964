//! Live capture of eBPF maps with raw `bpf(2)` syscalls (no libbpf), into self-describing
//! capture files (see [`capture_file`] and `docs/capture-format.md`). The format itself
//! (reader and writer) lives in `mapsleuth-dump`, re-exported here as [`capture_file`].
//!
//! Everything is read-only: maps are opened with `BPF_F_RDONLY` and only looked up,
//! never updated, deleted or popped. All `unsafe` code is in the private `sys` module.
//!
//! ```no_run
//! use mapsleuth_capture::{capture_to_file, CaptureOptions, Selector};
//! let summary = capture_to_file(
//!     &[Selector::Name("flows".into())],
//!     &CaptureOptions::default(),
//!     "flows.mscap".as_ref(),
//!     &mut |_progress| {},
//! )?;
//! println!("{} entries", summary.entries);
//! # Ok::<(), mapsleuth_capture::CaptureError>(())
//! ```
#![deny(unsafe_code)]

pub use mapsleuth_dump::capture_file;

#[cfg(target_os = "linux")]
pub mod cpus;
#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
mod map;
#[cfg(target_os = "linux")]
mod read;
#[cfg(target_os = "linux")]
mod ring;
#[cfg(target_os = "linux")]
mod snapshot;
#[cfg(target_os = "linux")]
mod sys;

#[cfg(target_os = "linux")]
pub use error::CaptureError;
#[cfg(target_os = "linux")]
pub use map::{
    list_maps, map_ids, read_btf, read_vmlinux_btf, KernelBtf, Map, MapInfo, MapType, Readability,
};
#[cfg(target_os = "linux")]
pub use read::{MapEntries, ReadOptions};
#[cfg(target_os = "linux")]
pub use ring::RingRecords;
#[cfg(target_os = "linux")]
pub use snapshot::{
    capture, capture_to_file, source, CaptureOptions, CaptureSummary, Progress, Selector,
};

/// Creating and filling real maps, for tests, examples and benchmarks.
#[cfg(all(target_os = "linux", any(test, feature = "test-util")))]
pub mod testing {
    pub use crate::sys::testing::{
        btf_load, map_create, prog_load, prog_test_run, ConsumerPage, MapSpec, UserProducer,
    };
    pub use crate::sys::{page_size, MapFd, RingMmap};
    pub use crate::test_prog::{pattern, ring_writer, Op, PATTERN_LEN, SOCKET_FILTER};
}

#[cfg(all(target_os = "linux", any(test, feature = "test-util")))]
mod test_prog;

#[cfg(all(test, target_os = "linux"))]
mod ring_tests;
#[cfg(all(test, target_os = "linux"))]
mod tests;

/// Off Linux the live tests do not exist: that fails a run that requires them.
#[cfg(all(test, not(target_os = "linux")))]
#[test]
fn live_capture_needs_linux() {
    assert!(
        std::env::var_os("MAPSLEUTH_REQUIRE_LIVE").is_none(),
        "MAPSLEUTH_REQUIRE_LIVE is set, but live capture needs Linux's bpf(2)"
    );
}
