//! Go DWARF reader: Go binaries (ELF or Mach-O, any Go version and architecture),
//! compressed debug sections, DWARF 4 and 5, Go's own attributes; conversion of the
//! requested types to the mapsleuth layout model with Go's alignment rules for the
//! binary's architecture.
//!
//! ```no_run
//! # fn main() -> Result<(), mapsleuth_dwarf::DwarfError> {
//! let bin = mapsleuth_dwarf::GoBinary::open("app")?;
//! let (table, ids) = bin.table_for(&["main.Event"])?;
//! let layout = table.layout(ids[0])?;
//! # let _ = layout; Ok(()) }
//! ```
//!
//! Opening reads the unit headers only; the name index is built on the first lookup
//! (one pass that skips every non-type DIE), and only the requested types and what they
//! reach are converted. The crate does no I/O except [`GoBinary::open`], never prints
//! and never panics on input: every error says what is wrong and where.

mod container;
mod convert;
mod error;
mod index;
mod read;

use std::path::Path;
use std::sync::OnceLock;

use mapsleuth_layout::{Target, TypeId, TypeTable};

pub use container::{Compression, SectionInfo};
pub use convert::MAX_TYPES;
pub use error::DwarfError;
pub use index::TypeEntry;

use container::Sections;
use index::Index;
use read::{Dw, Units};

/// Reader limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The most bytes all compressed debug sections together may decompress to. A
    /// section that claims more is refused before anything is allocated for it.
    pub max_decompressed_bytes: u64,
}

/// 1 GiB: the largest Go binaries have a few hundred MB of DWARF.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

impl Default for Options {
    fn default() -> Self {
        Options {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// A Go binary's DWARF, ready for type lookups.
pub struct GoBinary<'data> {
    sections: Sections<'data>,
    endian: gimli::RunTimeEndian,
    target: Target,
    format: &'static str,
    infos: Vec<SectionInfo>,
    units: Units,
    index: OnceLock<Result<Index, DwarfError>>,
}

impl std::fmt::Debug for GoBinary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoBinary")
            .field("format", &self.format)
            .field("target", &self.target)
            .field("go_version", &self.go_version())
            .field("units", &self.units.list.len())
            .finish_non_exhaustive()
    }
}

impl GoBinary<'static> {
    /// Reads a file and parses it with the default [`Options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DwarfError> {
        Self::open_with(path, &Options::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: &Options) -> Result<Self, DwarfError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|e| DwarfError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(GoBinary::parse_with(&data, options)?.into_owned())
    }
}

impl<'data> GoBinary<'data> {
    /// Parses an ELF or Mach-O Go binary held in memory, with the default [`Options`].
    pub fn parse(data: &'data [u8]) -> Result<Self, DwarfError> {
        Self::parse_with(data, &Options::default())
    }

    pub fn parse_with(data: &'data [u8], options: &Options) -> Result<Self, DwarfError> {
        let c = container::parse(data, options.max_decompressed_bytes)?;
        if c.sections.info.is_empty() {
            return Err(if c.has_go_sections {
                DwarfError::NoDwarf
            } else {
                DwarfError::NotGo { units: 0 }
            });
        }
        let units = Dw::new(&c.sections, c.endian).scan_units()?;
        if units.list.is_empty() {
            return Err(DwarfError::NoDwarf);
        }
        if !units.list.iter().any(|u| u.go) {
            return Err(DwarfError::NotGo {
                units: units.list.len(),
            });
        }
        Ok(GoBinary {
            sections: c.sections,
            endian: c.endian,
            target: c.target,
            format: c.format,
            infos: c.infos,
            units,
            index: OnceLock::new(),
        })
    }

    /// Copies whatever is still borrowed from the input, so the bytes can be dropped.
    pub fn into_owned(self) -> GoBinary<'static> {
        GoBinary {
            sections: self.sections.into_owned(),
            endian: self.endian,
            target: self.target,
            format: self.format,
            infos: self.infos,
            units: self.units,
            index: self.index,
        }
    }

    /// The Go target: GOARCH, byte order, pointer size and Go's alignment rule.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `ELF` or `Mach-O`.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// The compiler version from `DW_AT_producer` (`go1.25.5`), when recorded.
    pub fn go_version(&self) -> Option<&str> {
        self.units.go_version.as_deref()
    }

    /// The highest DWARF version among the units (4 or 5 for Go).
    pub fn dwarf_version(&self) -> u16 {
        self.units.list.iter().map(|u| u.version).max().unwrap_or(0)
    }

    /// The debug sections that were loaded, with their compression.
    pub fn sections(&self) -> &[SectionInfo] {
        &self.infos
    }

    fn dw(&self) -> Dw<'_> {
        Dw::new(&self.sections, self.endian)
    }

    fn index(&self) -> Result<&Index, DwarfError> {
        self.index
            .get_or_init(|| {
                self.dw()
                    .build_index(&self.units, u64::from(self.target.pointer_size))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Every named type, sorted by name (Go's same-name typedef hooks left out).
    pub fn types(&self) -> Result<&[TypeEntry], DwarfError> {
        Ok(&self.index()?.entries)
    }

    /// The names of every type, sorted.
    pub fn type_names(&self) -> Result<impl Iterator<Item = &str>, DwarfError> {
        Ok(self.types()?.iter().map(|e| e.name.as_str()))
    }

    /// Finds a type by name: the exact name, or the name without its package path
    /// (`good.Event` for `example.com/app/good.Event`) when only one type has it. An
    /// ambiguous name is an error listing the candidates.
    pub fn lookup_name(&self, name: &str) -> Result<&TypeEntry, DwarfError> {
        self.index()?.lookup(name)
    }

    /// Converts the named types (and what they reach) into one table; the ids are in
    /// the order of `names`.
    pub fn table_for<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<(TypeTable, Vec<TypeId>), DwarfError> {
        let offsets = names
            .iter()
            .map(|n| self.lookup_name(n.as_ref()).map(|e| e.die_offset))
            .collect::<Result<Vec<_>, _>>()?;
        self.table_for_offsets(&offsets)
    }

    /// Like [`Self::table_for`], by DIE offset ([`TypeEntry::die_offset`]).
    pub fn table_for_offsets(
        &self,
        offsets: &[u64],
    ) -> Result<(TypeTable, Vec<TypeId>), DwarfError> {
        let dw = self.dw();
        let mut conv =
            convert::Converter::new(&dw, &self.units, TypeTable::new(self.target.clone()));
        let ids = offsets
            .iter()
            .map(|&off| conv.convert_root(off))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((conv.table, ids))
    }
}

#[cfg(test)]
mod tests;
