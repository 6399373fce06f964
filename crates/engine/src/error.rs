//! One error type for everything the engine does. Each variant's text names the file
//! (and, through the readers' own errors, the byte offset) once, and is whole: the
//! wrapped errors are part of the text, not a `source()` a caller would print again.

use mapsleuth_btf::BtfError;
use mapsleuth_dump::capture_file::FileError;
use mapsleuth_dump::DumpError;
use mapsleuth_dwarf::DwarfError;
use mapsleuth_forensics::decode::DecodeError;
use mapsleuth_layout::LayoutError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request cannot be met as asked: a map or type that is not there, options
    /// that do not go together. The CLI exits with status 2 and says `usage:`.
    #[error("{0}")]
    Usage(String),
    /// BTF errors carry their file and offset.
    #[error(transparent)]
    Btf(#[from] BtfError),
    /// DWARF errors carry the section offset; the path is added here, except for a
    /// read error, whose text has it already.
    #[error("{}", dwarf_text(path, error))]
    Dwarf { path: String, error: DwarfError },
    /// Dump errors carry their file and offset.
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    CaptureFile(#[from] FileError),
    #[error("{context}: {error}")]
    Decode { context: String, error: DecodeError },
    #[error("{context}: {error}")]
    Layout { context: String, error: LayoutError },
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

fn dwarf_text(path: &str, e: &DwarfError) -> String {
    match e {
        DwarfError::Io { .. } => e.to_string(),
        _ => format!("{path}: {e}"),
    }
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn dwarf(path: &str, error: DwarfError) -> Self {
        Error::Dwarf {
            path: path.to_string(),
            error,
        }
    }

    pub fn layout(context: impl Into<String>, error: LayoutError) -> Self {
        Error::Layout {
            context: context.into(),
            error,
        }
    }

    /// True for [`Error::Usage`]: bad usage rather than bad input.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
