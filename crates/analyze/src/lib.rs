//! The engines of mapsleuth, over the layout model: the Go-vs-BTF layout cross-check
//! and its `L` findings, Go source that mirrors a BTF type byte for byte, and (with the
//! dump readers) typed decoding and dump forensics.

pub mod crosscheck;
pub mod decode;
pub mod diff;
pub mod dump_report;
pub mod forensics;
pub mod gogen;
pub mod pairing;
pub mod report;
