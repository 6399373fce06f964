//! The report model: what the page shows, built from the same structs as `analyze
//! layout --format json` ([`LayoutReport`]) and `analyze dump --format json` (the
//! [`DumpSection`](mapsleuth_forensics::dump_report::DumpSection) of each analysed dump).

use mapsleuth_crosscheck::crosscheck::{PairReport, RowStatus};
use mapsleuth_crosscheck::pairing::MatchRule;
use mapsleuth_crosscheck::report::LayoutReport;
use mapsleuth_engine::Analysed;
use mapsleuth_forensics::diff::Snapshot;
use mapsleuth_layout::{Finding, Severity};
use serde::Serialize;

use crate::bytemap::{byte_map, ByteMap};
use crate::dumpview::{dump_view, DumpView};
use crate::svg::field_colour;

/// Rows of a pair's field table at most.
pub const MAX_LEGEND_ROWS: usize = 256;

/// A file the report was made from.
#[derive(Clone, Debug, Serialize)]
pub struct InputFile {
    /// `Go binary`, `BTF`, `dump`.
    pub role: String,
    pub path: String,
    pub bytes: Option<u64>,
}

impl InputFile {
    /// The file, its size read from the file system (none for `-`).
    pub fn new(role: &str, path: &str) -> Self {
        InputFile {
            role: role.to_string(),
            path: path.to_string(),
            bytes: std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }
}

/// What the report is made of.
pub struct Input<'a, 's> {
    pub title: Option<String>,
    pub inputs: Vec<InputFile>,
    pub layouts: &'a [LayoutReport],
    pub dumps: &'a [Analysed<'s>],
    /// The numeric field whose values the dump histograms show.
    pub field: Option<&'a str>,
}

/// One row of a pair's field table, with the colour its bytes have in the map.
#[derive(Clone, Debug, Serialize)]
pub struct LegendRow {
    pub colour: String,
    pub go: String,
    pub c: String,
    pub status: String,
    pub codes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PairView {
    pub id: String,
    pub go_type: String,
    pub c_type: String,
    pub matched_by: String,
    pub go_binary: String,
    pub go_version: Option<String>,
    pub go_arch: String,
    pub btf_file: String,
    pub btf_arch: String,
    pub go_size: u64,
    pub c_size: u64,
    pub go_align: u32,
    pub c_align: u32,
    pub byte_map: ByteMap,
    pub legend: Vec<LegendRow>,
    pub legend_left_out: usize,
    pub findings: Vec<Finding>,
    /// `error`, `warning`, `info` or `ok`: the worst finding.
    pub verdict: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub pairs: usize,
    pub dumps: usize,
    pub entries: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub title: String,
    pub tool_version: String,
    pub inputs: Vec<InputFile>,
    pub snapshots: Vec<Snapshot>,
    pub pairs: Vec<PairView>,
    /// Findings of the layout checks about no single pair (types not found, ...).
    pub layout_findings: Vec<Finding>,
    pub dumps: Vec<DumpView>,
    pub summary: Summary,
}

fn verdict(findings: &[Finding]) -> String {
    let worst = findings.iter().map(|f| f.severity).max_by_key(|s| match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    });
    worst.map_or("ok", |s| s.as_str()).to_string()
}

fn cell_text(c: &Option<mapsleuth_crosscheck::crosscheck::Cell>) -> String {
    match c {
        None => String::new(),
        Some(c) if c.type_name.is_empty() => format!("{} {} ({} B)", c.offset, c.name, c.size),
        Some(c) => format!("{} {} {} ({} B)", c.offset, c.name, c.type_name, c.size),
    }
}

fn status_text(s: RowStatus) -> &'static str {
    match s {
        RowStatus::Same => "same",
        RowStatus::Differs => "differs",
        RowStatus::GoOnly => "Go only",
        RowStatus::COnly => "C only",
        RowStatus::Padding => "padding",
    }
}

fn pair_view(p: &PairReport, r: &LayoutReport, id: String) -> PairView {
    let legend = p
        .rows
        .iter()
        .enumerate()
        .take(MAX_LEGEND_ROWS)
        .map(|(i, row)| LegendRow {
            colour: field_colour(i).to_string(),
            go: cell_text(&row.go),
            c: cell_text(&row.c),
            status: status_text(row.status).to_string(),
            codes: row.codes.clone(),
        })
        .collect();
    PairView {
        id,
        go_type: p.go_type.clone(),
        c_type: p.c_type.clone(),
        matched_by: match p.matched_by {
            MatchRule::Explicit => "--pair",
            MatchRule::Map => "map type",
            MatchRule::Name => "same name",
            MatchRule::Weak => "naming convention",
        }
        .to_string(),
        go_binary: r.go_binary.clone(),
        go_version: r.go_version.clone(),
        go_arch: r.go_target.arch.to_string(),
        btf_file: r.btf_file.clone(),
        btf_arch: r.btf_target.arch.to_string(),
        go_size: p.go_layout.size,
        c_size: p.c_layout.size,
        go_align: p.go_layout.align,
        c_align: p.c_layout.align,
        byte_map: byte_map(p),
        legend,
        legend_left_out: p.rows.len().saturating_sub(MAX_LEGEND_ROWS),
        findings: p.findings.clone(),
        verdict: verdict(&p.findings),
    }
}

impl Report {
    /// Builds the model: every pair of every layout report, every dump.
    pub fn build(input: &Input<'_, '_>) -> Report {
        let mut pairs = Vec::new();
        let mut layout_findings = Vec::new();
        for r in input.layouts {
            for p in &r.pairs {
                pairs.push(pair_view(p, r, format!("pair-{}", pairs.len() + 1)));
            }
            layout_findings.extend(r.findings.iter().cloned());
        }
        let dumps: Vec<DumpView> = input
            .dumps
            .iter()
            .enumerate()
            .map(|(i, a)| dump_view(a, format!("dump-{}", i + 1), input.field))
            .collect();
        let mut snapshots: Vec<Snapshot> = Vec::new();
        for s in input.dumps.iter().filter_map(|a| a.snapshot.as_ref()) {
            if !snapshots.contains(s) {
                snapshots.push(s.clone());
            }
        }
        let mut summary = Summary {
            pairs: pairs.len(),
            dumps: dumps.len(),
            entries: dumps.iter().map(|d| d.entry_count).sum(),
            ..Summary::default()
        };
        let layout_all = input.layouts.iter().flat_map(|r| r.all_findings());
        let dump_all = input.dumps.iter().flat_map(|a| a.analysis.findings.iter());
        for f in layout_all.chain(dump_all) {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        Report {
            title: input
                .title
                .clone()
                .unwrap_or_else(|| "mapsleuth report".to_string()),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs: input.inputs.clone(),
            snapshots,
            pairs,
            layout_findings,
            dumps,
            summary,
        }
    }
}
