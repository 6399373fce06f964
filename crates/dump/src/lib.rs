//! Readers for eBPF map dumps into one compact [`Dump`] model.
//!
//! Formats (see `docs/dump-formats.md`), detected from content unless forced:
//! - [`DumpFormat::Text`]: `bpftool map dump` of a map without BTF;
//! - [`DumpFormat::BtfText`]: `bpftool map dump` of a map with BTF (decoded values only);
//! - [`DumpFormat::Json`]: `bpftool -j` / `-p map dump`, raw bytes and `formatted`;
//! - [`DumpFormat::Raw`]: concatenated key‖value records of sizes given by the caller;
//! - [`DumpFormat::Capture`]: mapsleuth capture files ([`capture_file`]), one dump per map.
//!
//! Reading never panics and never prints. A fatal problem is an `Err` naming the input,
//! line and byte offset; a problem confined to one entry (bad hex, a truncated last
//! entry, a size that differs from the others) drops or flags that entry, is kept in
//! [`Dump::issues`], and reading goes on.
//!
//! Memory: text, BTF text, JSON and raw input is read through a sliding window (4 MiB
//! at a time, 256 KiB kept ahead of the current entry), so its bytes are never held
//! whole; a slice in memory is read in place. A capture file is the exception: it is
//! held whole while it is verified (its SHA-256 covers every byte) and copied into the
//! dumps, so reading one takes about its size on top of the dumps. In every format the
//! [`Dump`]s themselves hold every entry, compactly.
//!
//! Threads: a file of 32 MiB or more is read ahead on a second thread, and a big `-j`
//! dump of one map is read in two halves at once, then joined; the dumps are those of
//! one pass ([`DumpReadOptions::threads`]).
//!
//! Dumps read from a capture carry what else it holds ([`Dump::capture`]: the
//! snapshot's identity and the map's BTF), so one read gives everything, from a file or
//! from stdin.
//!
//! ```
//! use mapsleuth_dump::{read_bytes, DumpReadOptions};
//! let text = b"key: 01 00 00 00  value: 2a 00 00 00\nFound 1 element\n";
//! let dumps = read_bytes(text, "example", &DumpReadOptions::default()).unwrap();
//! let entry = dumps[0].entry(0).unwrap();
//! assert_eq!(entry.key(), Some(&[1u8, 0, 0, 0][..]));
//! assert_eq!(entry.value(), Some(&[42u8, 0, 0, 0][..]));
//! assert_eq!(entry.position().line, 1);
//! ```

// Layers, bottom up (a module uses only modules above it in this list):
// error, hex, table, capture_file (the format, self-contained) · format (DumpFormat,
// detection) · options · model (Dump) · window, ctx · the format readers (text,
// jsonish, json, raw, meta, capture) · read (dispatch) · this file (entry points).
pub mod capture_file;
pub mod hex;

mod capture;
mod ctx;
mod error;
mod format;
mod formatted;
mod json;
mod jsonish;
mod meta;
mod model;
mod options;
mod prefetch;
mod raw;
mod read;
mod split;
mod table;
mod text;
mod window;

#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod window_tests;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use read::read_window;
use split::Whole;
use window::Window;

pub use capture_file::CaptureInfo;
pub use error::{DumpError, ErrorKind, Position};
pub use format::{detect_format, DumpFormat, ParseFormatError};
pub use formatted::{FormattedToken, FormattedTokens};
pub use meta::parse_bpftool_map_show;
pub use model::{
    bpftool_dump_note, is_percpu_type, Dump, DumpEntry, DumpSource, EntryKind, MapMeta,
};
pub use options::{DumpLimits, DumpReadOptions, RawLayout};

/// Reads a dump file: in chunks, or whole for a capture file (see the crate's doc on
/// memory). Returns one [`Dump`] per map in it (bpftool dumps several maps when a name
/// matches several, a capture holds several); never an empty vector.
pub fn read_file(path: impl AsRef<Path>, opts: &DumpReadOptions) -> Result<Vec<Dump>, DumpError> {
    let path = path.as_ref();
    let name: Arc<str> = path.display().to_string().into();
    let file =
        std::fs::File::open(path).map_err(|e| DumpError::new(&name, None, ErrorKind::Io(e)))?;
    let size = file
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok());
    // A second handle, for reading a big dump in halves (the window owns the first).
    let again = file.try_clone().ok();
    let whole = again.as_ref().zip(size).map(|(f, n)| Whole::File(f, n));
    let win = if size.is_some_and(|s| s >= prefetch::MIN_PREFETCH) {
        Window::from_reader(prefetch::Prefetch::new(file), Arc::clone(&name), size)
    } else {
        Window::from_reader(file, Arc::clone(&name), size)
    };
    read_window(win, name, opts, whole)
}

/// Reads a dump from a reader (stdin), as [`read_file`] reads a file.
pub fn read_from(
    reader: impl Read,
    name: &str,
    opts: &DumpReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = name.into();
    let win = Window::from_reader(reader, Arc::clone(&name), None);
    read_window(win, name, opts, None)
}

/// Reads a dump held in memory, in place (a capture too); `name` is what errors call it.
pub fn read_bytes(
    input: &[u8],
    name: &str,
    opts: &DumpReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = name.into();
    let win = Window::from_slice(input, Arc::clone(&name));
    read_window(win, name, opts, Some(Whole::Slice(input)))
}

/// Fuzzing only: reads `input` through a reader and windows of the given sizes, so that
/// entries straddle window boundaries.
#[cfg(fuzzing)]
pub fn fuzz_read_windowed(
    input: &[u8],
    chunk: usize,
    lookahead: usize,
    opts: &DumpReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = "fuzz".into();
    let win = Window::from_reader(input, Arc::clone(&name), None).with_sizes(chunk, lookahead);
    read_window(win, name, opts, None)
}
