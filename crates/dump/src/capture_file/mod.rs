//! The mapsleuth capture file format: reader and writer (no syscalls, no `unsafe`).
//!
//! Specified in `docs/capture-format.md`. In short:
//!
//! ```text
//! offset 0   magic            8 bytes  89 4D 53 4C 43 41 50 0A  ("\x89MSLCAP\n")
//! offset 8   format version   u32 LE   (1; 2 when a map holds ring buffer records)
//! offset 12  header length H  u32 LE
//! offset 16  header           H bytes  UTF-8 JSON, schema: schemas/capture-header.schema.json
//!            BTF blobs        header.btf[i].size bytes each, in header order
//!            entry blocks     header.maps[i].entry_count × record_size bytes each, in order;
//!                             a record is key bytes then value bytes (per-CPU values
//!                             concatenated in possible-CPU order, value_size bytes each);
//!                             a ring buffer's block: ring.block_size bytes of records,
//!                             each position u64 ‖ length u32 ‖ bytes
//! end - 32   digest           SHA-256 of every byte before it
//! ```
//!
//! The reader works over `&[u8]`, checks every bound, enforces [`CaptureLimits`] and
//! never panics; errors name the byte offset. The whole file is in memory while it is
//! read: the digest covers every byte, so nothing is trusted before the end is seen.
//!
//! Modules, bottom up: `header` (the prelude's constants and the JSON header's types),
//! `error`, `layout` (the structural parse), `reader` ([`Capture`], [`MapView`]),
//! `info` ([`CaptureInfo`]: what stays after the entries are copied out), `writer`
//! ([`CaptureWriter`]). Nothing here uses the rest of the crate but [`crate::hex`], so
//! the format can move to whichever crate reads captures.

mod error;
mod header;
mod info;
mod layout;
mod reader;
#[cfg(test)]
mod test_support;
mod time;
mod writer;

pub use error::{FileError, FormatError};
pub use header::{
    header_schema_json, sorted_keys, BtfBlob, ByteOrder, CaptureHeader, CaptureHost, MapHeader,
    ReadMethod, ReadStats, RingState, SkippedMap, ValueKind, DIGEST_LEN, FORMAT_VERSION,
    FORMAT_VERSION_RING, HEADER_OFFSET, MAGIC, RING_RECORD_PREFIX,
};
pub use info::CaptureInfo;
pub use layout::CaptureLimits;
pub use reader::{Capture, CaptureEntry, MapView, RingRecord};
pub use time::rfc3339_utc;
pub use writer::CaptureWriter;
