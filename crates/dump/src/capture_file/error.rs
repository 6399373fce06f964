//! What can be wrong with a capture file's bytes, and with reading or writing one.

use std::io;
use std::path::PathBuf;

use super::header::{FORMAT_VERSION, FORMAT_VERSION_RING};

/// What is wrong with a capture file's bytes. Every variant names a byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a mapsleuth capture file (bad magic at byte 0)")]
    BadMagic,
    #[error("unsupported capture format version {found} at byte 8 (this build reads versions {FORMAT_VERSION} and {FORMAT_VERSION_RING})")]
    UnsupportedVersion { found: u32 },
    #[error("truncated at byte {len}: {what} needs {needed} bytes")]
    Truncated { len: u64, needed: u64, what: String },
    #[error("invalid JSON header at byte {offset}: {message}")]
    HeaderJson { offset: u64, message: String },
    #[error("inconsistent header at byte {offset}: {message}")]
    Header { offset: u64, message: String },
    #[error(
        "limit exceeded in header at byte {offset}: {what} is {value}, at most {limit} allowed"
    )]
    Limit {
        offset: u64,
        what: String,
        value: u64,
        limit: u64,
    },
    #[error("{extra} unexpected bytes after the end of the data at byte {offset}")]
    TrailingBytes { offset: u64, extra: u64 },
    #[error("SHA-256 mismatch (digest at byte {offset}): the file was altered or damaged")]
    DigestMismatch { offset: u64 },
}

/// Errors reading or writing a capture file on disk.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("capture file {} is corrupt: {source}", path.display())]
    Corrupt { path: PathBuf, source: FormatError },
    #[error("cannot read capture file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write capture file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot build capture: {0}")]
    Build(String),
}

impl FormatError {
    /// The byte offset the error names.
    pub fn offset(&self) -> u64 {
        match self {
            FormatError::BadMagic => 0,
            FormatError::UnsupportedVersion { .. } => 8,
            FormatError::Truncated { len, .. } => *len,
            FormatError::HeaderJson { offset, .. }
            | FormatError::Header { offset, .. }
            | FormatError::Limit { offset, .. }
            | FormatError::TrailingBytes { offset, .. }
            | FormatError::DigestMismatch { offset } => *offset,
        }
    }
}
