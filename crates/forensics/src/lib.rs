//! mapsleuth's dump engine: typed decoding of map entries with the layout model, dump
//! forensics and its `D` findings, the dump report, and typed snapshot diffs. It shares
//! nothing with the layout cross-check (`mapsleuth-crosscheck`) but the model.

pub mod decode;
pub mod diff;
pub mod dump_report;
pub mod forensics;
mod names;
