//! BTF for mapsleuth: raw blobs of either byte order, `.BTF` sections of ELF files (BPF
//! objects, vmlinux images, modules; compressed sections included), split BTF on a
//! base; every kind through ENUM64; validation that names the byte offset of what is
//! wrong; map discovery (`.maps` and legacy `maps`); conversion to the layout model.

mod btf;
mod check;
mod error;
mod maps;
mod raw;
mod source;

pub use btf::Btf;
pub use check::{check_file, check_system, BtfCheck, CoreVerdict, KernelConfig, ModuleCheck};
pub use error::{BtfError, ErrorKind};
pub use maps::{discover_maps, map_type_name, MapDef, MapSource};
// The record parsers (nom) stay inside; the header and records are ours.
pub use raw::{byte_order_of, parse_header, BtfType, Header, Kind};
pub use source::{BtfBytes, Container, LegacyMap};
