//! mapsleuth's layout engine: does a Go struct (from DWARF) mirror a BPF type (from BTF)?
//! The cross-check and its `L` findings, the pairing of Go and C types, the side-by-side
//! report, and Go source that mirrors a BTF type byte for byte. It sees only the layout
//! model: it never knows whether a type came from BTF or DWARF.

pub mod crosscheck;
pub mod gogen;
pub mod pairing;
pub mod report;
