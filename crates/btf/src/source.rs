//! Where BTF comes from: a raw blob (`/sys/kernel/btf/*`, `bpftool btf dump ... format
//! raw`) or the `.BTF` section of an ELF file, compressed or not. Also reads legacy
//! `maps` section definitions, which live in ELF symbols rather than in BTF.

use std::borrow::Cow;

use object::{Object, ObjectSection, ObjectSymbol};

use crate::raw;
use crate::{BtfError, ErrorKind};

/// The largest `.BTF` section we decompress (vmlinux BTF is ~6 MB).
pub const MAX_DECOMPRESSED: u64 = 512 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Container {
    Raw,
    Elf {
        /// `ELF64 little-endian BPF`, ...
        description: String,
        compressed: bool,
    },
}

/// A legacy `struct bpf_map_def` from a `maps` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyMap {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// Offset of the definition in the file.
    pub file_offset: u64,
}

/// The BTF bytes of a file, copied out of their container.
#[derive(Clone, Debug)]
pub struct BtfBytes {
    pub path: String,
    pub data: Vec<u8>,
    /// Offset of the BTF blob in the file (0 for raw BTF).
    pub file_offset: usize,
    pub container: Container,
    pub legacy_maps: Vec<LegacyMap>,
}

impl BtfBytes {
    pub fn read(path: &str) -> Result<Self, BtfError> {
        let bytes = std::fs::read(path)
            .map_err(|e| BtfError::at(0, ErrorKind::Io(format!("cannot read {path}: {e}"))))?;
        if raw::byte_order_of(&bytes).is_some() {
            // Raw BTF is kept as read, not copied (vmlinux is ~6 MB).
            return Ok(BtfBytes {
                path: path.to_string(),
                data: bytes,
                file_offset: 0,
                container: Container::Raw,
                legacy_maps: Vec::new(),
            });
        }
        Self::from_file_bytes(path, &bytes)
    }

    /// Raw BTF is taken as is; anything starting with the ELF magic is searched for
    /// a `.BTF` section.
    pub fn from_file_bytes(path: &str, bytes: &[u8]) -> Result<Self, BtfError> {
        if raw::byte_order_of(bytes).is_some() {
            return Ok(BtfBytes {
                path: path.to_string(),
                data: bytes.to_vec(),
                file_offset: 0,
                container: Container::Raw,
                legacy_maps: Vec::new(),
            });
        }
        if !bytes.starts_with(b"\x7fELF") {
            return Err(BtfError::at(
                0,
                ErrorKind::BadMagic {
                    found: bytes.get(..4).map(<[u8]>::to_vec).unwrap_or_default(),
                },
            )
            .in_file(path, 0));
        }
        let elf_err = |msg: String| BtfError::at(0, ErrorKind::Elf(msg)).in_file(path, 0);
        let file = object::File::parse(bytes)
            .map_err(|e| elf_err(format!("not a readable ELF file: {e}")))?;
        let section = file
            .section_by_name(".BTF")
            .ok_or_else(|| elf_err("the ELF file has no .BTF section (compile with clang -g, or use a kernel built with CONFIG_DEBUG_INFO_BTF=y)".into()))?;
        let (file_offset, _) = section.file_range().unwrap_or((0, 0));
        let compressed = section
            .compressed_file_range()
            .map(|r| r.format != object::CompressionFormat::None)
            .unwrap_or(false);
        if let Ok(range) = section.compressed_file_range() {
            if range.uncompressed_size > MAX_DECOMPRESSED {
                return Err(BtfError::at(
                    0,
                    ErrorKind::Limit {
                        what: "bytes of decompressed .BTF",
                        limit: MAX_DECOMPRESSED as usize,
                    },
                )
                .in_file(path, file_offset as usize));
            }
        }
        let data: Cow<[u8]> = section.uncompressed_data().map_err(|e| {
            BtfError::at(
                0,
                ErrorKind::Elf(format!(".BTF section at file offset {file_offset:#x}: {e}")),
            )
            .in_file(path, file_offset as usize)
        })?;
        let description = format!(
            "ELF{} {}-endian {:?}",
            if file.is_64() { 64 } else { 32 },
            if file.is_little_endian() {
                "little"
            } else {
                "big"
            },
            file.architecture()
        );
        let legacy_maps = legacy_maps(&file).map_err(elf_err)?;
        Ok(BtfBytes {
            path: path.to_string(),
            data: data.into_owned(),
            file_offset: if compressed { 0 } else { file_offset as usize },
            container: Container::Elf {
                description,
                compressed,
            },
            legacy_maps,
        })
    }
}

/// Definitions in a `maps` section: one `struct bpf_map_def` (five u32 in the file's
/// byte order, possibly followed by more fields) per symbol.
fn legacy_maps(file: &object::File) -> Result<Vec<LegacyMap>, String> {
    let Some(section) = file.section_by_name("maps") else {
        return Ok(Vec::new());
    };
    let data = section
        .data()
        .map_err(|e| format!("cannot read the maps section: {e}"))?;
    let (sec_off, _) = section.file_range().unwrap_or((0, 0));
    let little = file.is_little_endian();
    let u32_at = |d: &[u8], i: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(i..i + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.section_index() != Some(section.index()) || sym.name().map_or(true, str::is_empty) {
            continue;
        }
        if sym.kind() == object::SymbolKind::Section {
            continue;
        }
        let off = sym.address() as usize;
        let def = data.get(off..).unwrap_or_default();
        let field = |i: usize| {
            u32_at(def, i * 4).ok_or_else(|| {
                // `off` comes from the symbol and may be anything: name it within the
                // section rather than adding it to the section's file offset.
                format!(
                    "map definition `{}` at offset {:#x} of the maps section (file offset {:#x}) is truncated",
                    sym.name().unwrap_or("?"),
                    off,
                    sec_off
                )
            })
        };
        out.push(LegacyMap {
            name: sym.name().unwrap_or_default().to_string(),
            map_type: field(0)?,
            key_size: field(1)?,
            value_size: field(2)?,
            max_entries: field(3)?,
            map_flags: field(4)?,
            file_offset: sec_off + off as u64,
        });
    }
    out.sort_by_key(|m| m.file_offset);
    Ok(out)
}
