//! mapsleuth's data frames: what the engines found, as polars [`DataFrame`]s to query
//! with SQL and to export to Parquet, CSV and NDJSON.
//!
//! - [`entries`]: one row per map entry (per CPU for per-CPU maps), one column per leaf
//!   field of the key and of the value with its real dtype, the raw bytes, and the
//!   source (file, map, snapshot);
//! - [`findings`]: one row per finding of `analyze dump`;
//! - [`layout`]: one row per leaf field or padding region of each key and value type;
//! - [`changes`]: one row per change of a [`MapDiff`].
//!
//! Several dumps become one frame ([`concat()`]): the columns are the union of theirs,
//! so a fleet of captures is queried together. [`write()`] exports a frame (optionally
//! hive-partitioned), [`query`] runs polars SQL over named frames. docs/frames.md has
//! the columns and dtypes.

mod columns;
mod dataset;
mod frames;
mod prune;
mod sql;
mod write;

pub use columns::ColType;
pub use dataset::{
    parse_manifest, with_capture_columns, Append, Appended, CommitStep, Dataset, Manifest, Part,
    MANIFEST,
};
pub use frames::{changes, concat, entries, entries_in, entry_chunks, findings, layout, DumpInput};
pub use prune::PartitionFilter;
pub use sql::{query, query_lazy, referenced_tables, TABLES};
pub use write::{write, FileFormat, WriteOptions, Written, HIVE_NULL};

/// The polars this crate builds with (its features: the workspace Cargo.toml).
pub use polars;
pub use polars::prelude::{AnyValue, DataFrame, DataType};

use mapsleuth_forensics::decode::DecodeError;
pub use mapsleuth_forensics::diff::MapDiff;
use mapsleuth_layout::LayoutError;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl FrameError {
    fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        FrameError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
