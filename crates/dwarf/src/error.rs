//! Every error names what went wrong and where: the section and its file offset for
//! container problems, the `.debug_*` section and the offset inside it (after
//! decompression) for DWARF problems.

use mapsleuth_layout::{LayoutError, MAX_DEPTH};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DwarfError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },

    #[error("not an ELF or Mach-O file: {reason}")]
    NotObject { reason: String },

    #[error("the binary has no DWARF; rebuild without -ldflags=-w/-s")]
    NoDwarf,

    #[error(
        "not a Go binary: none of its {units} DWARF compile units comes from Go's compiler \
         (DW_AT_producer \"Go cmd/compile ...\" or DW_AT_language Go)"
    )]
    NotGo { units: usize },

    #[error(
        "section {section} at file offset {file_offset:#x} claims {claimed} bytes \
         uncompressed, over the limit of {limit} bytes for all debug sections together \
         (a decompression bomb?)"
    )]
    DecompressionLimit {
        section: String,
        file_offset: u64,
        claimed: u64,
        limit: u64,
    },

    #[error("section {section} at file offset {file_offset:#x}: {reason}")]
    Section {
        section: String,
        file_offset: u64,
        reason: String,
    },

    /// Malformed DWARF. `offset` is inside the (decompressed) section.
    #[error("corrupt DWARF: {section} offset {offset:#x}: {reason}")]
    Corrupt {
        section: &'static str,
        offset: u64,
        reason: String,
    },

    #[error("type DIE at .debug_info offset {offset:#x} nests deeper than {MAX_DEPTH} levels")]
    TooDeep { offset: u64 },

    #[error(
        "array DIE at .debug_info offset {offset:#x}: {count} elements of {elem_size} bytes \
         overflow a 64-bit size"
    )]
    ArrayOverflow {
        offset: u64,
        count: u64,
        elem_size: u64,
    },

    #[error("more than {limit} {what} reached from the requested types")]
    TooMany { what: &'static str, limit: usize },

    /// A name that matches no type, or more than one (the candidates are listed).
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

impl DwarfError {
    pub(crate) fn corrupt(section: &'static str, offset: u64, reason: impl ToString) -> Self {
        DwarfError::Corrupt {
            section,
            offset,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn info(offset: u64, reason: impl ToString) -> Self {
        Self::corrupt(".debug_info", offset, reason)
    }
}

pub type Result<T, E = DwarfError> = std::result::Result<T, E>;
