use std::fmt;

/// What went wrong, and where: the byte offset in the BTF blob (plus the blob's own
/// offset in its file when it came from an ELF section) and the type id when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfError {
    pub kind: ErrorKind,
    /// Offset in the BTF blob.
    pub offset: usize,
    pub type_id: Option<u32>,
    /// Where the blob starts in its file (0 for a raw BTF file).
    pub file_offset: usize,
    /// The file, when known.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not BTF: bad magic {found:02x?} (expected 9f eb or eb 9f)")]
    BadMagic { found: Vec<u8> },
    #[error("unsupported BTF version {0}")]
    UnsupportedVersion(u8),
    #[error("bad BTF header: {0}")]
    BadHeader(String),
    #[error("truncated {what} (needs {need} bytes)")]
    Truncated { what: &'static str, need: usize },
    #[error("unknown BTF kind {0}")]
    UnknownKind(u32),
    #[error("reference to type id {0}, which does not exist")]
    BadTypeId(u32),
    #[error("string offset {0} is outside the string section")]
    BadString(u32),
    #[error("type graph nests deeper than {} levels", mapsleuth_layout::MAX_DEPTH)]
    TooDeep,
    #[error("more than {limit} {what}")]
    Limit { what: &'static str, limit: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Elf(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Layout(#[from] mapsleuth_layout::LayoutError),
}

impl BtfError {
    pub fn at(offset: usize, kind: ErrorKind) -> Self {
        BtfError {
            kind,
            offset,
            type_id: None,
            file_offset: 0,
            path: None,
        }
    }

    pub fn with_type(mut self, id: u32) -> Self {
        self.type_id = Some(id);
        self
    }

    pub fn in_file(mut self, path: &str, blob_offset: usize) -> Self {
        self.path = Some(path.to_string());
        self.file_offset = blob_offset;
        self
    }
}

impl From<mapsleuth_layout::LayoutError> for BtfError {
    fn from(e: mapsleuth_layout::LayoutError) -> Self {
        BtfError::at(0, ErrorKind::Layout(e))
    }
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        let located = !matches!(
            self.kind,
            ErrorKind::Io(_) | ErrorKind::Layout(_) | ErrorKind::Elf(_) | ErrorKind::NotFound(_)
        );
        if located {
            if self.file_offset > 0 {
                write!(
                    f,
                    "at byte {} of the BTF (file offset {:#x}): ",
                    self.offset,
                    self.file_offset + self.offset
                )?;
            } else {
                write!(f, "at byte {} ({:#x}): ", self.offset, self.offset)?;
            }
        }
        if let Some(id) = self.type_id {
            write!(f, "type id {id}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for BtfError {}
