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

    /// A name no type in the binary has. Go's linker leaves out every type the program
    /// never uses, so a type the source declares may still be missing.
    #[error("{}", not_in_binary(.name, .similar, *.more))]
    NotInBinary {
        name: String,
        /// Names the user may have meant (same name but for case, or the same type name
        /// in another package), at most a few.
        similar: Vec<String>,
        /// How many more similar names there are.
        more: usize,
    },

    /// A name that matches more than one type (the candidates are listed).
    #[error(transparent)]
    Layout(#[from] LayoutError),
}

/// The message of [`DwarfError::NotInBinary`]: why a declared type can be missing, and
/// how to keep it.
fn not_in_binary(name: &str, similar: &[String], more: usize) -> String {
    let mut msg = format!("no type named `{name}` in the binary's DWARF");
    if !similar.is_empty() {
        let extra = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        msg.push_str(&format!(" (similar: {}{extra})", similar.join(", ")));
    }
    let short = match crate::index::last_component(name.trim()) {
        "" => "T",
        s => s,
    };
    msg.push_str(&format!(
        ". Go's linker leaves out types that nothing in the program uses: if the source \
         declares it, keep it by using it in code that runs, as bpf2go users do when they \
         decode map values into their generated types (`var v {short}; m.Lookup(&key, &v)`)"
    ));
    msg
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
