//! mapsleuth as a library: what the `mapsleuth` binary calls.
//!
//! It reads the inputs (BTF files with their base, Go binaries, dumps with their `bpftool
//! map show` information), resolves the key and value types of each dump, pairs maps
//! across inputs and Go types with BTF types, and runs the two engines
//! ([`mapsleuth_crosscheck`] for layouts, [`mapsleuth_forensics`] for dumps).
//!
//! Analysing a capture with its own BTF:
//!
//! ```no_run
//! use mapsleuth_engine::{load, DumpRequest, Silent, TypeSource};
//!
//! let req = DumpRequest { inputs: vec!["snapshot.mscap".into()], ..Default::default() };
//! let src = TypeSource::read(&req.types)?;
//! for dump in load(&src, &req, &mut |_, _| Ok(None), &mut Silent)? {
//!     for finding in &dump.analysis.findings {
//!         println!("{} {}", finding.code, finding.message);
//!     }
//! }
//! # Ok::<(), mapsleuth_engine::Error>(())
//! ```

pub mod config;
mod error;
pub mod gate;
pub mod gosrc;
pub mod inputs;
pub mod layout;
pub mod load;
pub mod lock;
pub mod lockdiff;
pub mod maps;
pub mod types;

pub use config::GateConfig;
pub use error::{Error, Result};
pub use gate::{check, CheckReport, CheckRequest, Gate};
pub use gosrc::GoSources;
pub use inputs::{open_go_binary, BtfInput};
pub use layout::{check_layout, LayoutRequest};
pub use load::{
    load, read_input, snapshot_of, Analysed, DumpRequest, ExpectedFn, Input, Progress, Silent,
    STDIN,
};
pub use lock::Lockfile;
pub use lockdiff::{LockChange, LockCheckReport};
pub use maps::{consecutive_pairs, pair_maps, same_map_name, Inputs, MapIdentity, Pairing};
pub use types::{resolve, Purpose, Resolved, TypeSource, TypeSpec};
