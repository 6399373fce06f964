//! One dump in the report: its `analyze dump --format json` section (without entries),
//! findings counted by code, one sample entry with its padding bytes shown, and charts.

use std::collections::BTreeMap;

use mapsleuth_engine::Analysed;
use mapsleuth_forensics::decode::FlatDecoder;
use mapsleuth_forensics::diff::Snapshot;
use mapsleuth_forensics::forensics::TypeRef;
use mapsleuth_layout::Finding;
use serde::Serialize;

use crate::aggregate::{choose, spread, tally, Tallies};
use crate::charts::{bars, histogram};
use crate::svg::{Svg, HATCH_FILL};

/// Findings listed per dump at most (all are counted by code).
pub const MAX_FINDINGS: usize = 200;
/// Bytes of the sample entry's key or value drawn at most.
pub const MAX_SAMPLE_BYTES: usize = 256;

#[derive(Clone, Debug, Serialize)]
pub struct CodeCount {
    pub code: String,
    pub severity: String,
    pub count: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// The sample entry: its bytes, padding hatched, non-zero padding in red.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub index: usize,
    pub why: String,
    pub svg: String,
    /// Non-zero padding bytes in it.
    pub leaked: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct DumpView {
    pub id: String,
    pub file: String,
    pub map: Option<String>,
    pub map_type: Option<String>,
    pub format: String,
    pub entry_count: usize,
    pub lookup_errors: usize,
    pub cpus: Option<usize>,
    pub key_type: Option<String>,
    pub value_type: Option<String>,
    pub types_from: Option<String>,
    pub notes: Vec<String>,
    pub checks_skipped: Vec<String>,
    pub by_code: Vec<CodeCount>,
    pub findings: Vec<Finding>,
    pub findings_left_out: usize,
    pub sample: Option<Sample>,
    pub charts: Vec<Chart>,
    pub snapshot: Option<Snapshot>,
}

fn by_code(findings: &[Finding]) -> Vec<CodeCount> {
    let mut m: BTreeMap<&str, CodeCount> = BTreeMap::new();
    for f in findings {
        m.entry(&f.code)
            .or_insert_with(|| CodeCount {
                code: f.code.clone(),
                severity: f.severity.as_str().to_string(),
                count: 0,
            })
            .count += 1;
    }
    m.into_values().collect()
}

/// The dump's view; `id` is unique in the page, `field` the histogram's field.
pub fn dump_view(a: &Analysed<'_>, id: String, field: Option<&str>) -> DumpView {
    // The JSON report's section: one source of truth for what is said about the dump.
    let s = a.analysis.section(&a.dump, false);
    let types = a.resolved.types();
    let mut notes = s.notes.clone();
    let charts = match types.value {
        Some(t) => charts(a, t, field, &mut notes),
        None => Vec::new(),
    };
    let type_name = |t: &Option<mapsleuth_forensics::dump_report::TypeUse>| {
        t.as_ref().map(|t| format!("{} ({} B)", t.name, t.size))
    };
    DumpView {
        id,
        file: s.file.clone(),
        map: s.map.name.clone(),
        map_type: s.map.map_type.clone(),
        format: s.format.to_string(),
        entry_count: s.entry_count,
        lookup_errors: s.lookup_errors,
        cpus: s.cpus,
        key_type: type_name(&s.key_type),
        value_type: type_name(&s.value_type),
        types_from: s.types_from.clone(),
        notes,
        checks_skipped: s.checks_skipped.clone(),
        by_code: by_code(&s.findings),
        findings: s.findings.iter().take(MAX_FINDINGS).cloned().collect(),
        findings_left_out: s.findings.len().saturating_sub(MAX_FINDINGS),
        sample: sample(a, types.key, types.value),
        charts,
        snapshot: a.snapshot.clone(),
    }
}

/// The charts of a typed dump: zero/constant fields, a histogram, per-CPU sums.
fn charts(
    a: &Analysed<'_>,
    t: TypeRef<'_>,
    field: Option<&str>,
    notes: &mut Vec<String>,
) -> Vec<Chart> {
    let flat = match FlatDecoder::new(t.table, t.id) {
        Ok(f) => f,
        Err(e) => {
            notes.push(format!("report: no charts ({e})"));
            return Vec::new();
        }
    };
    let tallies = tally(&a.dump, &flat);
    if tallies.values == 0 || tallies.fields.is_empty() {
        return Vec::new();
    }
    let mut out = vec![zero_chart(&tallies)];
    let chosen = choose(&tallies, field);
    if let Some(w) = field {
        let found = chosen
            .and_then(|i| tallies.fields.get(i))
            .is_some_and(|f| f.path == w);
        if !found {
            notes.push(format!(
                "report: --field {w} is not a numeric field of the value type"
            ));
        }
    }
    let Some((i, f)) = chosen.and_then(|i| tallies.fields.get(i).map(|f| (i, f))) else {
        return out;
    };
    let sp = spread(&a.dump, &flat, f, i);
    out.push(Chart {
        title: format!("Values of {}", f.path),
        caption: format!("{} values from {} to {}", tallies.values, f.min, f.max),
        svg: histogram(&sp.bins, &format!("histogram of {}", f.path)),
    });
    if a.dump.cpu_count().is_some() && sp.per_cpu.len() > 1 {
        out.push(cpu_chart(&f.path, &sp.per_cpu));
    }
    out
}

fn zero_chart(t: &Tallies) -> Chart {
    let items: Vec<(String, f64, String)> = t
        .fields
        .iter()
        .map(|f| {
            let share = f.zero as f64 / t.values.max(1) as f64;
            let mut text = format!("{:.0}% zero", share * 100.0);
            if let Some(c) = f.constant_text() {
                text = format!("constant: {c}");
            }
            (f.path.clone(), share, text)
        })
        .collect();
    let mut caption = format!(
        "share of the {} values in which each field is zero; constant fields say their value",
        t.values
    );
    if t.fields_left_out > 0 {
        caption.push_str(&format!(" ({} more fields not shown)", t.fields_left_out));
    }
    Chart {
        title: "Zero and constant fields".to_string(),
        caption,
        svg: bars(&items, 1.0, "zero and constant fields"),
    }
}

fn cpu_chart(path: &str, sums: &[i128]) -> Chart {
    let max = sums.iter().copied().max().unwrap_or(0).max(0) as f64;
    let mean = sums.iter().map(|&s| s as f64).sum::<f64>() / sums.len().max(1) as f64;
    let items: Vec<(String, f64, String)> = sums
        .iter()
        .enumerate()
        .map(|(cpu, &s)| (format!("CPU {cpu}"), s as f64, s.to_string()))
        .collect();
    let skew = if mean > 0.0 { max / mean } else { 0.0 };
    Chart {
        title: format!("Per-CPU sum of {path}"),
        caption: format!("busiest CPU / mean = {skew:.2} over {} CPUs", sums.len()),
        svg: bars(&items, max, &format!("sum of {path} per CPU")),
    }
}

/// The bytes of `t`'s padding (bits rounded out to whole bytes).
fn padding_bytes(t: Option<TypeRef<'_>>) -> Vec<bool> {
    let Some(t) = t else { return Vec::new() };
    let size = t
        .table
        .size_of(t.id)
        .unwrap_or(0)
        .min(MAX_SAMPLE_BYTES as u64) as usize;
    let mut pad = vec![false; size];
    for r in t.table.padding(t.id).unwrap_or_default() {
        let (s, e) = (r.offset_bits / 8, (r.offset_bits + r.size_bits).div_ceil(8));
        for b in s..e {
            if let Some(p) = pad.get_mut(b as usize) {
                *p = true;
            }
        }
    }
    pad
}

/// The first entry marked with a padding finding (else the first entry, when the
/// types have padding), drawn key above value.
fn sample(
    a: &Analysed<'_>,
    key: Option<TypeRef<'_>>,
    value: Option<TypeRef<'_>>,
) -> Option<Sample> {
    let (kpad, vpad) = (padding_bytes(key), padding_bytes(value));
    let leaking = a.analysis.marks.iter().position(|m| {
        let codes = m.codes();
        codes.contains(&"D001") || codes.contains(&"D002")
    });
    let has_pad = kpad.iter().chain(&vpad).any(|p| *p);
    let (index, why) = match leaking {
        Some(i) => (i, "the first entry with non-zero padding (D001/D002)"),
        None if has_pad => (0, "the first entry (no padding leaks found)"),
        None => return None,
    };
    let e = a.dump.entry(index)?;
    let value_bytes = e
        .values()
        .find(|v| v.iter().zip(&vpad).any(|(b, p)| *p && *b != 0))
        .or_else(|| e.values().next());
    let rows = [
        SampleRow {
            name: "key",
            bytes: e.key().unwrap_or(&[]),
            pad: &kpad,
        },
        SampleRow {
            name: "value",
            bytes: value_bytes.unwrap_or(&[]),
            pad: &vpad,
        },
    ];
    let (svg, leaked) = sample_svg(&rows);
    Some(Sample {
        index,
        why: why.to_string(),
        svg,
        leaked,
    })
}

const HEX_W: f64 = 22.0;
const HEX_COLS: usize = 32;

/// One blob of the sample entry: its bytes and which of them are padding.
struct SampleRow<'a> {
    name: &'a str,
    bytes: &'a [u8],
    pad: &'a [bool],
}

impl SampleRow<'_> {
    fn shown(&self) -> &[u8] {
        &self.bytes[..self.bytes.len().min(MAX_SAMPLE_BYTES)]
    }

    fn lines(&self) -> usize {
        self.shown().len().div_ceil(HEX_COLS).max(1)
    }
}

/// Hex cells, 32 a line: padding hatched, non-zero padding red. Returns the SVG and
/// the number of non-zero padding bytes.
fn sample_svg(rows: &[SampleRow<'_>]) -> (String, usize) {
    let lines: usize = rows.iter().map(SampleRow::lines).sum();
    let h = 8.0 + lines as f64 * 20.0;
    let mut svg = Svg::new(
        (60.0 + HEX_W * HEX_COLS as f64) as u32,
        h as u32,
        "sample",
        "sample entry bytes",
    );
    let (mut line, mut leaked) = (0usize, 0usize);
    for row in rows {
        svg.text(
            54.0,
            4.0 + line as f64 * 20.0 + 14.0,
            "end",
            "lbl",
            row.name,
        );
        for (i, b) in row.shown().iter().enumerate() {
            let padding = row.pad.get(i).copied().unwrap_or(false);
            leaked += usize::from(padding && *b != 0);
            let y = 4.0 + (line + i / HEX_COLS) as f64 * 20.0;
            let x = 60.0 + (i % HEX_COLS) as f64 * HEX_W;
            hex_cell(&mut svg, (x, y), row.name, i, *b, padding);
        }
        line += row.lines();
    }
    (svg.finish(), leaked)
}

/// One byte of the sample: its cell, its hex text and its hover text.
fn hex_cell(svg: &mut Svg, (x, y): (f64, f64), name: &str, i: usize, b: u8, padding: bool) {
    let leak = padding && b != 0;
    let (fill, what) = match (padding, leak) {
        (_, true) => ("#ff6b6b", ", non-zero padding"),
        (true, false) => (HATCH_FILL, ", padding"),
        _ => ("#f4f4f4", ""),
    };
    svg.group(
        &format!("{name} byte {i} = 0x{b:02x}{what}"),
        if leak { r#" class="leak""# } else { "" },
    );
    svg.rect(x, y, HEX_W - 2.0, 18.0, fill, "");
    svg.text(
        x + HEX_W / 2.0 - 1.0,
        y + 13.0,
        "middle",
        "hex",
        &format!("{b:02x}"),
    );
    svg.end_group();
}
