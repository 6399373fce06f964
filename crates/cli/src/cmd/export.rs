//! `mapsleuth export` and `mapsleuth query`: the dumps as data frames (entries,
//! findings, layout, changes), written to Parquet, CSV or NDJSON, or queried with SQL.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mapsleuth_dump::hex::encode as hex;
use mapsleuth_forensics::diff::{diff, DiffOptions, MapDiff};
use mapsleuth_forensics::dump_report::Types;
use mapsleuth_frames::polars::prelude::{AnyValue, DataFrame};
use mapsleuth_frames::{FileFormat, WriteOptions};

use mapsleuth_engine::{consecutive_pairs, Analysed, MapIdentity, TypeSource};

use crate::cmd::load::{report_truncations, DumpSources};
use crate::cmd::types::usage;
use crate::output::{csv_field, Format, Out, Style};

pub const EXPORT_HELP: &str = "Tables (--table):
  entries    one row per entry (per CPU for per-CPU maps): source, map, map_id, snapshot,
             entry, cpu, key_hex, one column per leaf field of the key (`key`, `key.saddr`)
             and of the value (`value.comm`, `value.addrs[1]`) with its real dtype,
             key_bytes and value_bytes (raw), inner_map_id (maps of maps: the inner map's
             map_id), error, codes (the D findings of the entry), and formatted
             (bpftool's decoding) when some entry has no decoding of ours; a ring
             buffer's records are rows without a key
  findings   source, map, snapshot, code, severity, message, type_name, field,
             byte_offset, key, fix
  layout     one row per leaf field and padding region of the key and value types
  changes    what changed between consecutive dumps of one map: inputs oldest first, each
             map against the same map (by name, then id) in the nearest earlier input;
             two inputs of one map each are OLD and NEW whatever their names, as for
             `diff`; maps of one input are never compared: old_source, new_source,
             old_snapshot, new_snapshot, map, key, kind, field_kind, path, cpu, old, new
docs/frames.md lists every column and dtype.

The format comes from OUT's extension: .parquet, .csv, .ndjson or .jsonl (or
--output-format). CSV and NDJSON hold the raw byte columns as lowercase hex. Parquet files
carry the snapshot metadata (sources, snapshot ids, tool version) as key-value metadata.

--partition-by COL,... writes OUT as a hive-partitioned directory, one folder per value
(OUT/map=flows/cpu=0/part-0.parquet), the layout Spark, Trino, DuckDB and pyarrow read
as one table.

Types (TYPES): as for `analyze dump` (--btf OBJ.o [--map NAME], --btf FILE / --go-bin APP
with --key-type/--value-type, or --record-type for a ring buffer's records; captures
carry their BTF).

Examples:
  mapsleuth export flows.json -o flows.parquet --btf prog.bpf.o --map flows
  mapsleuth export host*.mscap -o fleet.parquet --partition-by map
  mapsleuth export flows.json -o findings.csv --table findings --btf prog.bpf.o
  mapsleuth export monday.mscap tuesday.mscap -o changes.parquet --table changes
  mapsleuth export ring.mscap -o events.csv --btf prog.bpf.o --record-type 'struct event'
  mapsleuth export mom.mscap -o mom.parquet     a `capture --recursive` of a map of maps:
                                                join inner_map_id to map_id";

pub const QUERY_HELP: &str =
    "Tables: entries, findings, layout, changes (see `mapsleuth export --help`; only
the tables the query names are built). Column names with dots or brackets are quoted:
\"value.packets\", \"value.addrs[1]\".

Examples:
  top 5 flows by bytes:
    mapsleuth query 'SELECT \"key.saddr\", \"key.dport\", \"value.bytes\" FROM entries
      ORDER BY \"value.bytes\" DESC LIMIT 5' flows.json --btf prog.bpf.o --map flows
  findings by code:
    mapsleuth query 'SELECT code, severity, COUNT(*) AS n FROM findings
      GROUP BY code, severity ORDER BY n DESC' dumps/*.json --btf prog.bpf.o
  the entry each finding points at:
    mapsleuth query 'SELECT f.code, e.\"value.comm\", f.message FROM findings f
      JOIN entries e ON e.key_hex = f.key AND e.source = f.source' events.json --btf prog.bpf.o
  per-CPU totals:
    mapsleuth query 'SELECT key, SUM(\"value.packets\") AS packets FROM entries
      GROUP BY key' stats.json --btf prog.bpf.o --map stats
  what changed between two snapshots:
    mapsleuth query 'SELECT path, COUNT(*) FROM changes GROUP BY path' a.mscap b.mscap

A fleet dataset (`mapsleuth export CAPTURES -o DIR --partition-by map,host`) is queried
with --dataset DIR: lazily, reading only the partitions the WHERE can match (-v names the
files). The captures' host, captured_at and kernel are columns. Fleet questions:
  fleet: which hosts leak padding (D001/D002 by host):
    mapsleuth query --dataset DIR \"SELECT host, code, COUNT(*) AS n FROM findings
      WHERE code IN ('D001', 'D002') GROUP BY host, code ORDER BY host, code\"
  fleet: which keys are missing on some hosts (present on fewer hosts than the map):
    mapsleuth query --dataset DIR \"WITH k AS (SELECT map, key_hex, COUNT(DISTINCT host)
      AS hosts FROM entries GROUP BY map, key_hex), h AS (SELECT map, COUNT(DISTINCT host)
      AS n FROM entries GROUP BY map) SELECT k.map, k.key_hex, k.hosts, h.n AS of_hosts
      FROM k JOIN h ON k.map = h.map WHERE k.hosts < h.n ORDER BY k.map, k.key_hex\"
  fleet: value drift of one key across hosts and time:
    mapsleuth query --dataset DIR \"SELECT host, captured_at, \\\"value.packets\\\",
      \\\"value.bytes\\\" FROM entries WHERE map = 'flows'
      AND key_hex = '0a0000010a0000023039005006000000' ORDER BY host, captured_at\"
  fleet: per-CPU skew (the busiest CPU's share of each key's packets):
    mapsleuth query --dataset DIR \"SELECT host, snapshot, key, COUNT(*) AS cpus,
      MIN(\\\"value.packets\\\") AS min_cpu, MAX(\\\"value.packets\\\") AS max_cpu,
      MAX(\\\"value.packets\\\") * 1.0 / SUM(\\\"value.packets\\\") AS top_share
      FROM entries WHERE map = 'pcpu_hash_stats' GROUP BY host, snapshot, key
      ORDER BY top_share DESC\"

The result prints as a table (--format json, ndjson or csv for machines) or, with -o, is
written like `export` writes.";

/// Where a frame is written.
#[derive(Args)]
pub struct FrameOutput {
    /// The file format when OUT's extension does not say: parquet, csv, ndjson.
    #[arg(long, value_name = "FORMAT", value_parser = parse_file_format)]
    output_format: Option<FileFormat>,
    /// Write a hive-partitioned directory at OUT, one folder per value of these columns
    /// (comma-separated), e.g. `map` or `source,cpu`.
    #[arg(long, value_name = "COL,...", value_delimiter = ',')]
    partition_by: Vec<String>,
}

fn parse_file_format(s: &str) -> Result<FileFormat, String> {
    FileFormat::from_name(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("unknown file format `{s}` (parquet, csv, ndjson)"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Table {
    Entries,
    Findings,
    Layout,
    Changes,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Entries => "entries",
            Table::Findings => "findings",
            Table::Layout => "layout",
            Table::Changes => "changes",
        }
    }
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    input: DumpSources,
    /// The file (or directory, with --partition-by) to write.
    #[arg(short, long, value_name = "OUT", required = true)]
    output: PathBuf,
    /// Which table to export.
    #[arg(long, value_enum, default_value = "entries")]
    table: Table,
    #[command(flatten)]
    out: FrameOutput,
    /// With --partition-by and an OUT directory (no extension): a capture already in the
    /// dataset replaces its rows (the default skips it).
    #[arg(long)]
    replace: bool,
    /// With --partition-by and an OUT directory: the most `entries` rows a part file
    /// holds. An input is read whole, then exported chunk by chunk: memory holds the
    /// input and one chunk's frame (about 300 bytes a row), not every row's.
    #[arg(long, value_name = "N", default_value = "1000000", requires = "partition_by",
          value_parser = clap::value_parser!(u64).range(1..))]
    chunk_rows: u64,
}

#[derive(Args)]
pub struct QueryArgs {
    /// The SQL (polars SQL): SELECT ... FROM entries | findings | layout | changes.
    #[arg(value_name = "SQL")]
    sql: String,
    #[command(flatten)]
    input: DumpSources,
    /// Write the result to this file instead of printing it.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    #[command(flatten)]
    out: FrameOutput,
    /// Rows printed in table output (every row goes to json, ndjson, csv and -o).
    #[arg(long, default_value = "100", value_name = "N")]
    max_rows: usize,
    /// Query a dataset written by `export -o DIR --partition-by ...` (lazily: only the
    /// partitions and columns the query needs are read) instead of DUMP files.
    #[arg(long, value_name = "DIR", conflicts_with = "dumps")]
    dataset: Option<PathBuf>,
}

/// The analysed dumps, ready to become frames.
struct Loaded<'s> {
    dumps: Vec<Analysed<'s>>,
}

fn read<'s>(src: &'s TypeSource, input: &DumpSources) -> anyhow::Result<Loaded<'s>> {
    let dumps = input.load(src, &mut |_, _| Ok(None))?;
    Ok(Loaded { dumps })
}

impl Loaded<'_> {
    fn inputs(&self) -> Vec<mapsleuth_frames::DumpInput<'_>> {
        self.dumps
            .iter()
            .map(|a| mapsleuth_frames::DumpInput {
                dump: &a.dump,
                analysis: &a.analysis,
                types: a.resolved.types(),
                snapshot: a.snapshot.as_ref().map(|s| s.snapshot_id.as_str()),
            })
            .collect()
    }

    /// Diffs of consecutive dumps of each map: each dump against the dump of the same
    /// map in the nearest earlier input (the engine's map pairing rule, as `diff`'s).
    fn diffs(&self) -> anyhow::Result<Vec<MapDiff>> {
        let ids: Vec<MapIdentity<'_>> = self
            .dumps
            .iter()
            .map(|a| MapIdentity::of(a.input, &a.dump))
            .collect();
        let mut out = Vec::new();
        for (o, n) in consecutive_pairs(&ids) {
            let (old, new) = (&self.dumps[o], &self.dumps[n]);
            // NEW's types explain the change, else OLD's (captures carry their own).
            let types: Types<'_> = if new.resolved.has_types() {
                new.resolved.types()
            } else {
                old.resolved.types()
            };
            let mut m =
                diff(&old.dump, &new.dump, &types, &DiffOptions { force: false }).map_err(|e| {
                    anyhow::anyhow!(
                        "{} against {}: {e}",
                        new.dump.source.name,
                        old.dump.source.name
                    )
                })?;
            m.old.snapshot = old.snapshot.clone();
            m.new.snapshot = new.snapshot.clone();
            out.push(m);
        }
        if out.is_empty() {
            return Err(usage(format!(
                "the changes table needs two or more dumps of one map, from different inputs \
                 (oldest first); the inputs hold {}",
                self.map_list()
            )));
        }
        Ok(out)
    }

    /// `multi.json: ms_dup (id 370), ms_dup (id 371)`: what the inputs hold.
    fn map_list(&self) -> String {
        let mut by_input: Vec<(String, Vec<String>)> = Vec::new();
        for a in &self.dumps {
            let d = &a.dump;
            let mut map = d
                .meta
                .name
                .clone()
                .unwrap_or_else(|| "a map without a name".into());
            if let Some(id) = d.meta.id {
                map.push_str(&format!(" (id {id})"));
            }
            match by_input.last_mut() {
                Some((file, maps)) if **file == *d.source.name => maps.push(map),
                _ => by_input.push((d.source.name.to_string(), vec![map])),
            }
        }
        let parts: Vec<String> = by_input
            .iter()
            .map(|(file, maps)| format!("{file}: {}", maps.join(", ")))
            .collect();
        parts.join("; ")
    }

    fn frame(&self, table: Table) -> anyhow::Result<DataFrame> {
        let inputs = self.inputs();
        Ok(match table {
            Table::Entries => mapsleuth_frames::entries(&inputs)?,
            Table::Findings => mapsleuth_frames::findings(&inputs)?,
            Table::Layout => mapsleuth_frames::layout(&inputs)?,
            Table::Changes => {
                let diffs = self.diffs()?;
                let refs: Vec<&MapDiff> = diffs.iter().collect();
                mapsleuth_frames::changes(&refs)?
            }
        })
    }

    /// Parquet key-value metadata: where the rows come from.
    fn metadata(&self, table: &str, sql: Option<&str>) -> Vec<(String, String)> {
        let sources: Vec<serde_json::Value> = self
            .dumps
            .iter()
            .map(|a| {
                let d = &a.dump;
                let mut s = serde_json::json!({
                    "file": &*d.source.name,
                    "format": d.source.format.to_string(),
                    "map_index": d.source.map_index,
                    "map": d.meta.name,
                    "map_id": d.meta.id,
                    "map_type": d.meta.map_type,
                    "entries": d.len(),
                    "types_from": a.analysis.types_from,
                });
                if let Some(snap) = &a.snapshot {
                    s["snapshot"] = serde_json::to_value(snap).unwrap_or_default();
                }
                s
            })
            .collect();
        let mut kv = vec![
            (
                "mapsleuth.tool_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("mapsleuth.table".to_string(), table.to_string()),
            (
                "mapsleuth.sources".to_string(),
                serde_json::Value::Array(sources).to_string(),
            ),
        ];
        // One snapshot id only when every row comes from that one snapshot.
        let ids: Option<BTreeSet<&str>> = self
            .dumps
            .iter()
            .map(|a| a.snapshot.as_ref().map(|s| s.snapshot_id.as_str()))
            .collect();
        if let Some(one) = ids
            .filter(|ids| ids.len() == 1)
            .and_then(|mut ids| ids.pop_first())
        {
            kv.push(("mapsleuth.snapshot_id".to_string(), one.to_string()));
        }
        if let Some(sql) = sql {
            kv.push(("mapsleuth.query".to_string(), sql.to_string()));
        }
        kv
    }
}

fn write_options(
    path: &Path,
    out: &FrameOutput,
    metadata: Vec<(String, String)>,
) -> anyhow::Result<WriteOptions> {
    let format = match out.output_format.or_else(|| FileFormat::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(usage(format!(
                "{}: the extension names no format (.parquet, .csv, .ndjson, .jsonl): give \
                 --output-format",
                path.display()
            )))
        }
    };
    Ok(WriteOptions {
        format,
        partition_by: out.partition_by.clone(),
        metadata,
    })
}

fn report_written(out: &mut Out, w: &mapsleuth_frames::Written, path: &Path) -> anyhow::Result<()> {
    if out.quiet {
        return Ok(());
    }
    let files = if w.files.len() == 1 {
        String::new()
    } else {
        format!(" in {} files", w.files.len())
    };
    let msg = format!("wrote {} rows{files} to {}", w.rows, path.display());
    eprintln!("{}", out.paint(&msg, Style::Dim));
    Ok(())
}

/// `-v`: how long a step took, on stderr.
fn timed<T>(out: &Out, what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let start = std::time::Instant::now();
    let r = f();
    if out.verbose {
        let ms = start.elapsed().as_secs_f64() * 1e3;
        eprintln!("mapsleuth: {what} in {ms:.1} ms");
    }
    r
}

pub fn export(args: &ExportArgs, out: &mut Out) -> anyhow::Result<i32> {
    if is_dataset(args) {
        return crate::cmd::export::dataset::export(args, out);
    }
    let src = TypeSource::read(&args.input.types.spec())?;
    let loaded = timed(out, "read and analysed", || read(&src, &args.input))?;
    let opts = write_options(
        &args.output,
        &args.out,
        loaded.metadata(args.table.name(), None),
    )?;
    let df = timed(out, "built the frame", || loaded.frame(args.table))?;
    let written = timed(out, "wrote it", || {
        Ok(mapsleuth_frames::write(&df, &args.output, &opts)?)
    })?;
    report_written(out, &written, &args.output)?;
    Ok(truncation_status(&loaded))
}

/// Exit status 2 when a dump was truncated: its rows before the cut are written, and
/// stderr says where it stops (as `analyze dump` does).
fn truncation_status(loaded: &Loaded<'_>) -> i32 {
    if report_truncations(&loaded.dumps) {
        2
    } else {
        0
    }
}

pub fn query(args: &QueryArgs, out: &mut Out) -> anyhow::Result<i32> {
    let tables =
        mapsleuth_frames::referenced_tables(&args.sql).map_err(|e| usage(e.to_string()))?;
    if let Some(dir) = &args.dataset {
        let result = dataset::query(&args.sql, dir, tables, out.verbose)?;
        if let Some(path) = &args.output {
            let meta = vec![("mapsleuth.query".to_string(), args.sql.clone())];
            let opts = write_options(path, &args.out, meta)?;
            let written = mapsleuth_frames::write(&result, path, &opts)?;
            report_written(out, &written, path)?;
        } else {
            print_frame(&result, args.max_rows, out)?;
        }
        return Ok(0);
    }
    let src = TypeSource::read(&args.input.types.spec())?;
    let loaded = read(&src, &args.input)?;
    let mut frames = Vec::new();
    for (t, spellings) in tables {
        let table = Table::from_str(t, true).map_err(|e| usage(e.to_string()))?;
        let df = loaded.frame(table)?;
        for name in spellings {
            frames.push((name, df.clone()));
        }
    }
    let result = mapsleuth_frames::query(&args.sql, frames)?;
    if let Some(path) = &args.output {
        let opts = write_options(path, &args.out, loaded.metadata("query", Some(&args.sql)))?;
        let written = mapsleuth_frames::write(&result, path, &opts)?;
        report_written(out, &written, path)?;
        return Ok(truncation_status(&loaded));
    }
    print_frame(&result, args.max_rows, out)?;
    Ok(truncation_status(&loaded))
}

/// A partitioned export to a directory (OUT without a format extension) appends to a
/// fleet dataset, one input at a time.
fn is_dataset(args: &ExportArgs) -> bool {
    !args.out.partition_by.is_empty()
        && args.out.output_format.is_none()
        && FileFormat::from_path(&args.output).is_none()
}

mod dataset;

// ---------------------------------------------------------------------------------------
// Printing a result

/// A cell as JSON: numbers as numbers, bytes as lowercase hex.
fn json_cell(v: &AnyValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::UInt8(x) => J::from(*x),
        AnyValue::UInt16(x) => J::from(*x),
        AnyValue::UInt32(x) => J::from(*x),
        AnyValue::UInt64(x) => J::from(*x),
        AnyValue::Int8(x) => J::from(*x),
        AnyValue::Int16(x) => J::from(*x),
        AnyValue::Int32(x) => J::from(*x),
        AnyValue::Int64(x) => J::from(*x),
        AnyValue::Float32(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(J::Null, J::Number)
        }
        AnyValue::Float64(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        AnyValue::String(s) => J::from(*s),
        AnyValue::StringOwned(s) => J::from(s.as_str()),
        AnyValue::Binary(b) => J::from(hex(b)),
        AnyValue::BinaryOwned(b) => J::from(hex(b)),
        other => J::from(other.to_string()),
    }
}

/// A cell as text: JSON's spelling, strings unquoted, null empty.
fn text_cell(v: &AnyValue<'_>) -> String {
    match json_cell(v) {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn print_frame(df: &DataFrame, max_rows: usize, out: &mut Out) -> anyhow::Result<()> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let columns = df.columns();
    let row = |i: usize| -> anyhow::Result<Vec<AnyValue<'_>>> {
        columns.iter().map(|c| Ok(c.get(i)?)).collect()
    };
    match out.format {
        Format::Json | Format::Ndjson => {
            let mut rows = Vec::new();
            for i in 0..df.height() {
                let obj: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .cloned()
                    .zip(row(i)?.iter().map(json_cell))
                    .collect();
                rows.push(serde_json::Value::Object(obj));
            }
            if out.format == Format::Json {
                out.json(&rows)?;
            } else {
                out.ndjson(rows)?;
            }
        }
        Format::Sarif => return Err(out.unsupported("query")),
        Format::Csv => {
            let header: Vec<String> = names.iter().map(|n| csv_field(n)).collect();
            writeln!(out.stdout, "{}", header.join(","))?;
            for i in 0..df.height() {
                let cells: Vec<String> = row(i)?.iter().map(|v| csv_field(&text_cell(v))).collect();
                writeln!(out.stdout, "{}", cells.join(","))?;
            }
        }
        Format::Table => {
            const MAX_CELL: usize = 60;
            let shown = df.height().min(max_rows);
            let mut cells: Vec<Vec<String>> = Vec::with_capacity(shown);
            for i in 0..shown {
                cells.push(
                    row(i)?
                        .iter()
                        .map(|v| {
                            let t = text_cell(v);
                            if t.chars().count() > MAX_CELL {
                                let cut: String = t.chars().take(MAX_CELL - 1).collect();
                                format!("{cut}…")
                            } else {
                                t
                            }
                        })
                        .collect(),
                );
            }
            let widths: Vec<usize> = names
                .iter()
                .enumerate()
                .map(|(j, n)| {
                    cells
                        .iter()
                        .map(|r| r[j].chars().count())
                        .chain([n.chars().count()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let numeric: Vec<bool> = columns
                .iter()
                .map(|c| c.dtype().is_primitive_numeric())
                .collect();
            let line = |cells: &[String]| -> String {
                let parts: Vec<String> = cells
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        if numeric[j] {
                            format!("{c:>w$}", w = widths[j])
                        } else {
                            format!("{c:<w$}", w = widths[j])
                        }
                    })
                    .collect();
                parts.join("  ").trim_end().to_string()
            };
            let head = line(&names);
            writeln!(out.stdout, "{}", out.paint(&head, Style::Bold))?;
            for r in &cells {
                writeln!(out.stdout, "{}", line(r))?;
            }
            let n = df.height();
            let tail = if n > shown {
                format!("{n} rows, {shown} shown (--max-rows N, or --format csv for all)")
            } else {
                format!("{n} row{}", if n == 1 { "" } else { "s" })
            };
            if !out.quiet {
                writeln!(out.stdout, "{}", out.paint(&tail, Style::Dim))?;
            }
        }
    }
    Ok(())
}
