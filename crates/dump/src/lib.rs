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
//! ```
//! use mapsleuth_dump::{read_bytes, ReadOptions};
//! let text = b"key: 01 00 00 00  value: 2a 00 00 00\nFound 1 element\n";
//! let dumps = read_bytes(text, "example", &ReadOptions::default()).unwrap();
//! let entry = dumps[0].entry(0).unwrap();
//! assert_eq!(entry.key(), Some(&[1u8, 0, 0, 0][..]));
//! assert_eq!(entry.value(), Some(&[42u8, 0, 0, 0][..]));
//! assert_eq!(entry.position().line, 1);
//! ```

pub mod capture_file;

mod capture;
mod error;
mod format;
mod hex;
mod json;
mod jsonish;
mod meta;
mod model;
mod raw;
mod table;
mod text;
mod window;

#[cfg(test)]
mod window_tests;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use window::Window;

pub use error::{DumpError, ErrorKind, Position};
pub use format::{detect_format, DumpFormat, ParseFormatError};
pub use meta::parse_bpftool_map_show;
pub use model::{bpftool_dump_note, is_percpu_type, Dump, Entry, EntryKind, MapMeta, Source};

/// Bounds on what a reader accepts; every input is untrusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries per map dump.
    pub max_entries: u64,
    /// Bytes of one key or one value (per CPU).
    pub max_value_size: usize,
    /// Bytes of one line of plain text.
    pub max_line_len: usize,
    /// Per-CPU values of one entry.
    pub max_cpus: usize,
    /// Nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// Bytes of bpftool's decoded form of one entry.
    pub max_formatted_len: usize,
    /// Issues kept per dump; more are counted in [`Dump::issues_dropped`].
    pub max_issues: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 64 << 20,
            // KMALLOC_MAX_SIZE on x86-64: no map value can be larger.
            max_value_size: 4 << 20,
            max_line_len: 1 << 20,
            max_cpus: 8192,
            max_depth: 64,
            max_formatted_len: 16 << 20,
            max_issues: 1000,
        }
    }
}

/// Key and value sizes of raw records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLayout {
    pub key_size: usize,
    pub value_size: usize,
    /// For per-CPU records: values per record. Each value then takes
    /// `round_up(value_size, 8)` bytes, as `bpf(2)` lays them out.
    pub cpus: Option<usize>,
}

/// How to read a dump.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Force a format (`--input-format`); `None` detects it from content.
    pub format: Option<DumpFormat>,
    /// Sizes of raw records; also makes undetectable input read as raw records.
    pub raw: Option<RawLayout>,
    pub limits: Limits,
    /// Fail on the first recovered problem instead of keeping it in [`Dump::issues`].
    pub strict: bool,
}

/// Reads a dump file, in chunks (the file is never held whole in memory). Returns one
/// [`Dump`] per map in it (bpftool dumps several maps when a name matches several);
/// never an empty vector.
pub fn read_file(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<Vec<Dump>, DumpError> {
    let path = path.as_ref();
    let name: Arc<str> = path.display().to_string().into();
    let file =
        std::fs::File::open(path).map_err(|e| DumpError::new(&name, None, ErrorKind::Io(e)))?;
    let size = file
        .metadata()
        .ok()
        .and_then(|m| usize::try_from(m.len()).ok());
    let win = Window::from_reader(file, Arc::clone(&name), size);
    read_window(win, name, opts)
}

/// Reads a dump from a reader (stdin), in chunks.
pub fn read_from(
    reader: impl Read,
    name: &str,
    opts: &ReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = name.into();
    let win = Window::from_reader(reader, Arc::clone(&name), None);
    read_window(win, name, opts)
}

/// Reads a dump held in memory, in place; `name` is what errors call it.
pub fn read_bytes(input: &[u8], name: &str, opts: &ReadOptions) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = name.into();
    let win = Window::from_slice(input, Arc::clone(&name));
    read_window(win, name, opts)
}

/// Fuzzing only: reads `input` through a reader and windows of the given sizes, so that
/// entries straddle window boundaries.
#[cfg(fuzzing)]
pub fn fuzz_read_windowed(
    input: &[u8],
    chunk: usize,
    lookahead: usize,
    opts: &ReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    let name: Arc<str> = "fuzz".into();
    let win = Window::from_reader(input, Arc::clone(&name), None).with_sizes(chunk, lookahead);
    read_window(win, name, opts)
}

/// How much of the input detection looks at.
const SNIFF: usize = 64 * 1024;

pub(crate) fn read_window(
    mut win: Window<'_>,
    file: Arc<str>,
    opts: &ReadOptions,
) -> Result<Vec<Dump>, DumpError> {
    win.fill(SNIFF)?;
    if opts.format == Some(DumpFormat::Capture)
        || (opts.format.is_none() && capture::is_capture(win.bytes()))
    {
        let bytes = read_all(&mut win)?;
        let ctx = Ctx {
            file,
            opts,
            format: DumpFormat::Capture,
        };
        return capture::read(&ctx, &bytes);
    }
    let blank = win.at_eof() && win.bytes().iter().all(u8::is_ascii_whitespace);
    let format = match opts.format {
        Some(f) => f,
        None => match detect_format(win.bytes()) {
            Some(f) => f,
            None if opts.raw.is_some() => DumpFormat::Raw,
            None => {
                if blank {
                    return Err(DumpError::new(&file, None, ErrorKind::Empty));
                }
                let at = win
                    .bytes()
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .unwrap_or(0);
                let pos = win.pos(at);
                return Err(DumpError::new(&file, Some(pos), ErrorKind::UnknownFormat));
            }
        },
    };
    if format != DumpFormat::Raw && blank {
        return Err(DumpError::new(&file, None, ErrorKind::Empty));
    }
    let ctx = Ctx { file, opts, format };
    let mut dumps = match format {
        DumpFormat::Text => text::read(&ctx, &mut win)?,
        DumpFormat::BtfText => json::read(&ctx, &mut win, json::Mode::BtfText)?,
        DumpFormat::Json => json::read(&ctx, &mut win, json::Mode::Json)?,
        DumpFormat::Raw => raw::read(&ctx, &mut win)?,
        DumpFormat::Capture => unreachable_capture(&ctx)?,
    };
    if dumps.is_empty() {
        dumps.push(ctx.new_dump(0, Position::START));
    }
    // Only bpftool's complaint and no dump at all (`bpftool map dump ... 2>&1` failed):
    // that is the error.
    let nothing = dumps
        .iter()
        .all(|d| d.is_empty() && d.found_elements.is_none() && d.meta == MapMeta::default());
    if nothing {
        for d in &mut dumps {
            if let Some(i) = d
                .issues
                .iter()
                .position(|e| matches!(e.kind, ErrorKind::BpftoolError(_)))
            {
                return Err(d.issues.swap_remove(i));
            }
        }
    }
    if opts.strict {
        for d in &mut dumps {
            if !d.issues.is_empty() {
                return Err(d.issues.swap_remove(0));
            }
        }
    }
    Ok(dumps)
}

/// Captures are read above; this keeps the match exhaustive without a panic.
fn unreachable_capture(ctx: &Ctx<'_>) -> Result<Vec<Dump>, DumpError> {
    Err(DumpError::new(
        &ctx.file,
        None,
        ErrorKind::InvalidOption("capture files are read whole".into()),
    ))
}

/// The rest of the input (captures are verified whole: a digest covers the file).
fn read_all(win: &mut Window<'_>) -> Result<Vec<u8>, DumpError> {
    while !win.at_eof() {
        let want = win.bytes().len().saturating_add(win.chunk());
        win.fill(want)?;
    }
    Ok(win.bytes().to_vec())
}

/// What every reader shares: the input's name, the options, the format.
pub(crate) struct Ctx<'a> {
    pub file: Arc<str>,
    pub opts: &'a ReadOptions,
    pub format: DumpFormat,
}

impl Ctx<'_> {
    pub fn new_dump(&self, map_index: usize, start: Position) -> Dump {
        Dump::new(
            Source {
                name: Arc::clone(&self.file),
                format: self.format,
                map_index,
            },
            start,
            self.opts.limits.max_issues,
        )
    }
}
