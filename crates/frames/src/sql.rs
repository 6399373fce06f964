//! polars SQL over the named frames.

use polars::prelude::*;
use polars::sql::{extract_table_identifiers, SQLContext};
use polars_core::query_result::QueryResult;

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

/// [`query`] over lazy frames (a dataset's scans: only what the query needs is read),
/// run by polars' streaming engine: it reads the parts a batch at a time. The in-memory
/// engine materializes every part whole, hive columns included; on 100 parts of 1M rows
/// a `GROUP BY host` took 4 to 9 s and 2.7 GB there, against 1.3 s and 350 MB streaming
/// (docs/benchmarks.md). What the streaming engine lacks, polars runs in memory.
pub fn query_lazy<N: AsRef<str>>(
    sql: &str,
    tables: impl IntoIterator<Item = (N, LazyFrame)>,
) -> Result<DataFrame, FrameError> {
    let mut ctx = SQLContext::new();
    for (name, lf) in tables {
        ctx.register(name.as_ref(), lf);
    }
    let result = ctx
        .execute(sql)
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming))?;
    match result {
        QueryResult::Single(df) => Ok(df),
        QueryResult::Multiple(_) => Err(FrameError::Invalid(format!(
            "{sql}: gave several results; a query gives one"
        ))),
    }
}
