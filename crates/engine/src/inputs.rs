//! Reading the type sources: BTF files (with their base for split BTF) and Go binaries.

use mapsleuth_btf::{Btf, BtfBytes, BtfError};
use mapsleuth_dwarf::GoBinary;

use crate::error::{Error, Result};

/// The bytes of a BTF file and of its base, kept together so that a split [`Btf`] can
/// borrow both.
pub struct BtfInput {
    pub main: BtfBytes,
    pub base: Option<BtfBytes>,
}

impl BtfInput {
    /// Reads `path` (raw BTF or an ELF file with `.BTF`) and, for split BTF, its base.
    pub fn read(path: &str, base: Option<&str>) -> Result<Self> {
        Ok(BtfInput {
            main: BtfBytes::read(path)?,
            base: base.map(BtfBytes::read).transpose()?,
        })
    }

    /// The file the types come from.
    pub fn path(&self) -> &str {
        &self.main.path
    }

    /// Parses (the base first) and hands the BTF to `f`. Parse errors name the file and
    /// the file offset.
    pub fn with<R, E>(&self, f: impl FnOnce(&Btf) -> Result<R, E>) -> Result<R, E>
    where
        E: From<BtfError>,
    {
        let locate = |e: BtfError, b: &BtfBytes| e.in_file(&b.path, b.file_offset);
        match &self.base {
            Some(base) => {
                let base_btf = Btf::parse(&base.data).map_err(|e| locate(e, base))?;
                let btf = Btf::parse_split(&self.main.data, &base_btf)
                    .map_err(|e| locate(e, &self.main))?;
                f(&btf)
            }
            None => {
                let btf = Btf::parse(&self.main.data).map_err(|e| locate(e, &self.main))?;
                f(&btf)
            }
        }
    }
}

/// Opens a Go binary; errors name the file once.
pub fn open_go_binary(path: &str) -> Result<GoBinary<'static>> {
    GoBinary::open(path).map_err(|e| Error::dwarf(path, e))
}
