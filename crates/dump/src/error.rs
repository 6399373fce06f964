//! Typed errors. Every error names the input and, when it comes from a place in the
//! input, the line and byte offset of that place.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A place in the input: 1-based line number and 0-based byte offset.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    schemars::JsonSchema,
)]
pub struct Position {
    pub line: u64,
    pub offset: u64,
}

impl Position {
    pub const START: Position = Position { line: 1, offset: 0 };

    pub fn new(line: u64, offset: u64) -> Self {
        Position { line, offset }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, byte {}", self.line, self.offset)
    }
}

/// An error, fatal (returned as `Err`) or recovered (kept in [`crate::Dump::issues`]).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}{kind}", pos_prefix(.pos))]
pub struct DumpError {
    /// The input's name: its path, or `<stdin>`, or what the caller passed.
    pub file: Arc<str>,
    /// Where in the input; `None` for errors about the input as a whole (I/O, options).
    pub pos: Option<Position>,
    pub kind: ErrorKind,
}

fn pos_prefix(pos: &Option<Position>) -> String {
    match pos {
        Some(p) => format!("{p}: "),
        None => String::new(),
    }
}

impl DumpError {
    pub fn new(file: &Arc<str>, pos: Option<Position>, kind: ErrorKind) -> Self {
        DumpError {
            file: Arc::clone(file),
            pos,
            kind,
        }
    }

    /// True for problems that make the rest of the input unreadable (truncation).
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "empty input: bpftool prints `Found 0 elements` or `[]` even for an empty map \
         (was its stderr, with the error, lost?)"
    )]
    Empty,
    #[error(
        "not a bpftool map dump (expected `key:`, `[`, a map header or `Found N elements`); \
         for raw key+value records give the key and value sizes"
    )]
    UnknownFormat,
    #[error("bpftool reported an error instead of a dump: {0}")]
    BpftoolError(String),
    #[error("bpftool warning: {0}")]
    BpftoolWarning(String),
    #[error("expected {expected}, found {found}")]
    Syntax {
        expected: &'static str,
        found: String,
    },
    #[error("`{token}` is not a hex byte")]
    BadHex { token: String },
    #[error("input ends inside {context}: the dump is truncated here")]
    Truncated { context: &'static str },
    #[error("no `Found N elements` line at the end: the dump may be truncated")]
    MissingTrailer,
    #[error("`Found {found} elements` but {read} entries with values were read")]
    CountMismatch { found: u64, read: u64 },
    #[error("{what} is {actual} bytes but earlier entries have {expected}")]
    SizeMismatch {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{actual} per-CPU values but earlier entries have {expected}")]
    CpuCountMismatch { expected: usize, actual: usize },
    #[error("per-CPU value for CPU {found} where CPU {expected} was expected")]
    CpuOrder { expected: u64, found: u64 },
    #[error("unexpected line `{0}`")]
    UnexpectedLine(String),
    #[error("entry has a key but no value")]
    NoValue,
    #[error("line longer than the limit of {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("more than {limit} entries (raise the limit to read this dump)")]
    TooManyEntries { limit: u64 },
    #[error("more than {limit} per-CPU values in one entry")]
    TooManyCpus { limit: usize },
    #[error("{what} longer than the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    #[error("{bytes} bytes left over after the last whole {record}-byte record")]
    RawRemainder { bytes: usize, record: usize },
    #[error("unexpected data after the end of the dump: {0}")]
    TrailingData(String),
    #[error("{0}")]
    InvalidOption(String),
    #[error("bad capture file: {0}")]
    Capture(String),
    #[error("{0}")]
    NotDumpable(String),
}

/// A short, printable excerpt of input bytes for messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = &bytes[..bytes.len().min(MAX)];
    let mut s: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if bytes.len() > MAX {
        s.push('…');
    }
    if s.is_empty() {
        s.push_str("end of input");
    }
    s
}
