//! The object file around the DWARF: which architecture (and so which Go target), and
//! the debug sections, plain or compressed (SHF_COMPRESSED zlib/zstd, GNU `.zdebug_*`,
//! Mach-O `__DWARF,__debug_*`/`__zdebug_*`), decompressed under a size cap.

use std::borrow::Cow;

use mapsleuth_layout::{ByteOrder, Target};
use object::{
    Architecture, CompressionFormat, Endianness, FileKind, Object, ObjectSection, SectionKind,
};
use serde::Serialize;

use crate::error::{DwarfError, Result};

/// How a debug section is stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    None,
    /// SHF_COMPRESSED with ELFCOMPRESS_ZLIB.
    Zlib,
    /// SHF_COMPRESSED with ELFCOMPRESS_ZSTD.
    Zstd,
    /// A GNU `.zdebug_*` (or Mach-O `__zdebug_*`) section: "ZLIB" and a size, then zlib.
    ZlibGnu,
}

/// One debug section the reader loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SectionInfo {
    /// The name in the file: `.debug_info`, `.zdebug_info`, `__debug_info`.
    pub name: String,
    pub file_offset: u64,
    /// Bytes in the file.
    pub file_size: u64,
    /// Bytes after decompression.
    pub size: u64,
    pub compression: Compression,
}

/// The debug sections the type reader needs. Line tables, frames and location lists
/// are never decompressed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sections<'data> {
    pub info: Cow<'data, [u8]>,
    pub abbrev: Cow<'data, [u8]>,
    pub str: Cow<'data, [u8]>,
    pub str_offsets: Cow<'data, [u8]>,
    pub line_str: Cow<'data, [u8]>,
}

impl Sections<'_> {
    pub fn into_owned(self) -> Sections<'static> {
        let own = |c: Cow<'_, [u8]>| Cow::Owned(c.into_owned());
        Sections {
            info: own(self.info),
            abbrev: own(self.abbrev),
            str: own(self.str),
            str_offsets: own(self.str_offsets),
            line_str: own(self.line_str),
        }
    }
}

pub(crate) struct Container<'data> {
    pub target: Target,
    pub endian: gimli::RunTimeEndian,
    pub format: &'static str,
    pub sections: Sections<'data>,
    pub infos: Vec<SectionInfo>,
    /// Go's build info or pclntab is there: a Go binary, whatever its DWARF says.
    pub has_go_sections: bool,
}

/// Go's GOARCH for an object architecture.
fn goarch(arch: Architecture, little: bool) -> Option<&'static str> {
    Some(match arch {
        Architecture::X86_64 => "amd64",
        Architecture::I386 => "386",
        Architecture::Aarch64 => "arm64",
        Architecture::Arm => "arm",
        Architecture::S390x => "s390x",
        Architecture::PowerPc64 if little => "ppc64le",
        Architecture::PowerPc64 => "ppc64",
        Architecture::Mips if little => "mipsle",
        Architecture::Mips => "mips",
        Architecture::Mips64 if little => "mips64le",
        Architecture::Mips64 => "mips64",
        Architecture::Riscv64 => "riscv64",
        Architecture::LoongArch64 => "loong64",
        Architecture::Wasm32 => "wasm",
        _ => return None,
    })
}

pub(crate) fn parse(data: &[u8], max_decompressed: u64) -> Result<Container<'_>> {
    let kind = FileKind::parse(data).map_err(|e| DwarfError::NotObject {
        reason: e.to_string(),
    })?;
    let format = match kind {
        FileKind::Elf32 | FileKind::Elf64 => "ELF",
        FileKind::MachO32 | FileKind::MachO64 => "Mach-O",
        FileKind::MachOFat32 | FileKind::MachOFat64 => {
            return Err(DwarfError::NotObject {
                reason: "a universal (fat) Mach-O; extract one architecture with `lipo -thin`"
                    .into(),
            })
        }
        other => {
            return Err(DwarfError::NotObject {
                reason: format!("unsupported file kind {other:?}"),
            })
        }
    };
    let file = object::File::parse(data).map_err(|e| DwarfError::NotObject {
        reason: e.to_string(),
    })?;
    let little = file.endianness() == Endianness::Little;
    let arch = file.architecture();
    let pointer_size = match arch.address_size() {
        Some(a) => a.bytes() as u32,
        None if file.is_64() => 8,
        None => 4,
    };
    let arch_name = goarch(arch, little).map(str::to_string).unwrap_or_else(|| {
        let debug = format!("{arch:?}");
        debug.to_ascii_lowercase()
    });
    let byte_order = if little {
        ByteOrder::Little
    } else {
        ByteOrder::Big
    };
    let target = Target::go(&arch_name, byte_order, pointer_size);
    let endian = if little {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let has_go_sections = file.sections().any(|s| {
        matches!(
            s.name(),
            Ok(".go.buildinfo" | ".gopclntab" | "__go_buildinfo" | "__gopclntab")
        )
    });

    let mut budget = max_decompressed;
    let mut infos = Vec::new();
    let mut load = |name: &'static str| -> Result<Cow<'_, [u8]>> {
        let Some(section) = file.section_by_name(name) else {
            return Ok(Cow::Borrowed(&[][..]));
        };
        load_section(&section, &mut budget, max_decompressed, &mut infos)
    };
    let sections = Sections {
        info: load(".debug_info")?,
        abbrev: load(".debug_abbrev")?,
        str: load(".debug_str")?,
        str_offsets: load(".debug_str_offsets")?,
        line_str: load(".debug_line_str")?,
    };
    Ok(Container {
        target,
        endian,
        format,
        sections,
        infos,
        has_go_sections,
    })
}

fn load_section<'data>(
    section: &object::Section<'data, '_>,
    budget: &mut u64,
    limit: u64,
    infos: &mut Vec<SectionInfo>,
) -> Result<Cow<'data, [u8]>> {
    let name = section.name().unwrap_or("<unnamed>").to_string();
    let (file_offset, file_size) = section.file_range().unwrap_or((0, 0));
    let bad = |reason: String| DwarfError::Section {
        section: name.clone(),
        file_offset,
        reason,
    };
    if section.kind() == SectionKind::UninitializedData {
        // SHT_NOBITS: a debug-info-stripped file keeps the header only.
        return Ok(Cow::Borrowed(&[][..]));
    }
    let range = section
        .compressed_file_range()
        .map_err(|e| bad(e.to_string()))?;
    let compression = match range.format {
        CompressionFormat::None => Compression::None,
        CompressionFormat::Zlib if name.contains("zdebug") => Compression::ZlibGnu,
        CompressionFormat::Zlib => Compression::Zlib,
        CompressionFormat::Zstandard => Compression::Zstd,
        other => return Err(bad(format!("unsupported compression {other:?}"))),
    };
    let data = if compression == Compression::None {
        section
            .data()
            .map(Cow::Borrowed)
            .map_err(|e| bad(e.to_string()))?
    } else {
        // Check the claimed size before allocating anything for it.
        if range.uncompressed_size > *budget {
            return Err(DwarfError::DecompressionLimit {
                section: name,
                file_offset,
                claimed: range.uncompressed_size,
                limit,
            });
        }
        *budget -= range.uncompressed_size;
        let compressed = section.compressed_data().map_err(|e| bad(e.to_string()))?;
        let out = match compression {
            // object's zlib path accepts a stream longer than the header claims and
            // returns it cut short; ours insists on the exact size.
            Compression::Zlib | Compression::ZlibGnu => {
                inflate_exact(compressed.data, range.uncompressed_size)
            }
            _ => compressed.decompress().map_err(|e| e.to_string()),
        };
        out.map_err(|reason| DwarfError::Section {
            section: name.clone(),
            file_offset,
            reason: format!("cannot decompress: {reason}"),
        })?
    };
    infos.push(SectionInfo {
        name,
        file_offset,
        file_size,
        size: data.len() as u64,
        compression,
    });
    Ok(data)
}

/// Inflates a zlib stream that must end exactly at `size` bytes.
fn inflate_exact<'data>(data: &[u8], size: u64) -> Result<Cow<'data, [u8]>, String> {
    let size = usize::try_from(size).map_err(|_| "size does not fit in memory".to_string())?;
    let mut out = Vec::new();
    out.try_reserve_exact(size)
        .map_err(|_| format!("cannot allocate {size} bytes"))?;
    let mut z = flate2::Decompress::new(true);
    let status = z
        .decompress_vec(data, &mut out, flate2::FlushDecompress::Finish)
        .map_err(|e| format!("invalid zlib data: {e}"))?;
    match status {
        flate2::Status::StreamEnd if out.len() == size => Ok(Cow::Owned(out)),
        flate2::Status::StreamEnd => Err(format!(
            "the zlib stream holds {} bytes, the header claims {size}",
            out.len()
        )),
        _ if out.len() == size => Err(format!(
            "the zlib stream holds more than the {size} bytes the header claims"
        )),
        _ => Err(format!(
            "the zlib stream ends early, after {} of {size} bytes",
            out.len()
        )),
    }
}
