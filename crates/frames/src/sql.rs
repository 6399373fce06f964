//! polars SQL over the named frames.

use polars::prelude::*;
use polars::sql::{extract_table_identifiers, SQLContext};

use crate::FrameError;

/// The tables a query can name.
pub const TABLES: [&str; 4] = ["entries", "findings", "layout", "changes"];

/// The tables `sql` reads (so only those are built), in [`TABLES`] order. A name that is
/// none of them is an error listing the ones there are.
pub fn referenced_tables(sql: &str) -> Result<Vec<&'static str>, FrameError> {
    let names = extract_table_identifiers(sql, false, true)?;
    let mut out = Vec::new();
    for n in &names {
        let lower = n.to_ascii_lowercase();
        if !TABLES.contains(&lower.as_str()) {
            return Err(FrameError::Invalid(format!(
                "no table `{n}`: the tables are {}",
                TABLES.join(", ")
            )));
        }
    }
    for t in TABLES {
        if names.iter().any(|n| n.eq_ignore_ascii_case(t)) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Runs `sql` over `tables` (name, frame).
pub fn query(sql: &str, tables: Vec<(&str, DataFrame)>) -> Result<DataFrame, FrameError> {
    let mut ctx = SQLContext::new();
    for (name, df) in tables {
        ctx.register(name, df.lazy());
    }
    Ok(ctx.execute(sql)?.collect()?)
}
