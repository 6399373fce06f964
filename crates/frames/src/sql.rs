//! polars SQL over the named frames.

use polars::prelude::*;
use polars::sql::{extract_table_identifiers, SQLContext};

use crate::FrameError;

/// The tables a query can name.
pub const TABLES: [&str; 4] = ["entries", "findings", "layout", "changes"];

/// The tables `sql` reads (so only those are built), each with the spellings the query
/// uses for it (`Entries`, `entries`): SQL names are case-insensitive here, polars'
/// lookup is not. Other names (common table expressions, typos) are left to [`query`].
pub fn referenced_tables(sql: &str) -> Result<Vec<(&'static str, Vec<String>)>, FrameError> {
    let names = extract_table_identifiers(sql, false, true)?;
    Ok(TABLES
        .iter()
        .filter_map(|&t| {
            let spellings: Vec<String> = names
                .iter()
                .filter(|n| n.eq_ignore_ascii_case(t))
                .cloned()
                .collect();
            (!spellings.is_empty()).then_some((t, spellings))
        })
        .collect())
}

/// Runs `sql` over `tables` (name, frame). An unknown table is an error that lists the
/// ones there are.
pub fn query<N: AsRef<str>>(
    sql: &str,
    tables: impl IntoIterator<Item = (N, DataFrame)>,
) -> Result<DataFrame, FrameError> {
    let mut ctx = SQLContext::new();
    for (name, df) in tables {
        ctx.register(name.as_ref(), df.lazy());
    }
    let result = ctx.execute(sql).and_then(|lf| lf.collect());
    result.map_err(|e| {
        let text = e.to_string();
        if text.contains("relation") && text.contains("not found") {
            FrameError::Invalid(format!("{text}: the tables are {}", TABLES.join(", ")))
        } else {
            e.into()
        }
    })
}

/// [`query`] over lazy frames (a dataset's scans: only what the query needs is read).
pub fn query_lazy<N: AsRef<str>>(
    sql: &str,
    tables: impl IntoIterator<Item = (N, LazyFrame)>,
) -> Result<DataFrame, FrameError> {
    let mut ctx = SQLContext::new();
    for (name, lf) in tables {
        ctx.register(name.as_ref(), lf);
    }
    Ok(ctx.execute(sql).and_then(|lf| lf.collect())?)
}
