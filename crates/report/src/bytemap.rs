//! The byte map of one checked pair: one row of cells per side (Go above C), a cell per
//! byte, coloured by the row of the side-by-side view it belongs to (so a Go field and
//! the C field it was matched with share a colour), holes and padding hatched, fields
//! with findings outlined, and a hover text per field.

use mapsleuth_crosscheck::crosscheck::{Cell, CellKind, PairReport, Row};
use serde::Serialize;

use crate::svg::{field_colour, Svg, HATCH_FILL as HATCH};

/// Bytes per line of the map.
pub const COLS: u64 = 32;
/// Bytes drawn per side at most: bigger types are summarised (the first bytes drawn,
/// the rest counted), so that `task_struct` does not make a 10 MB page.
pub const MAX_BYTES: u64 = 1024;

const CELL: f64 = 18.0;
const ROW_H: f64 = 16.0;
const LABEL_W: f64 = 58.0;
const TOP: f64 = 14.0;
const LINE_H: f64 = 2.0 * ROW_H + 12.0;

#[derive(Clone, Debug, Serialize)]
pub struct ByteMap {
    /// The SVG, escaped by [`Svg`].
    pub svg: String,
    /// Byte cells drawn per side (the type's size, up to [`MAX_BYTES`]).
    pub go_cells: u64,
    pub c_cells: u64,
    /// Set when a side is bigger than [`MAX_BYTES`]: only its first bytes are drawn.
    pub truncated: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Go,
    C,
}

impl Side {
    fn cell(self, row: &Row) -> Option<&Cell> {
        match self {
            Side::Go => row.go.as_ref(),
            Side::C => row.c.as_ref(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Side::Go => "Go",
            Side::C => "C",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Side::Go => "bg",
            Side::C => "bc",
        }
    }
}

/// Which rows cover each drawn byte of one side.
fn owners(p: &PairReport, side: Side, drawn: u64) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); drawn as usize];
    for (i, row) in p.rows.iter().enumerate() {
        let Some(c) = side.cell(row) else { continue };
        let end = c.offset.saturating_add(c.size).min(drawn);
        for b in c.offset.min(drawn)..end {
            if let Some(v) = out.get_mut(b as usize) {
                v.push(i);
            }
        }
    }
    out
}

/// The hover text of a run of bytes owned by `rows` (empty: bytes no field covers).
fn title(p: &PairReport, side: Side, rows: &[usize], first_byte: u64) -> String {
    if rows.is_empty() {
        return format!(
            "{} byte {first_byte}: not covered by any field",
            side.label()
        );
    }
    let parts: Vec<String> = rows
        .iter()
        .filter_map(|&i| {
            let row = p.rows.get(i)?;
            let c = side.cell(row)?;
            let place = match c.bits {
                Some((bit, width)) if c.kind == CellKind::Bitfield => {
                    format!("offset {} bit {bit}, {width} bits", c.offset)
                }
                _ => format!("offset {}, {} B", c.offset, c.size),
            };
            let ty = if c.type_name.is_empty() {
                String::new()
            } else {
                format!(" {}", c.type_name)
            };
            let codes = if row.codes.is_empty() {
                String::new()
            } else {
                format!(" [{}]", row.codes.join(" "))
            };
            Some(format!("{} {}{ty}, {place}{codes}", side.label(), c.name))
        })
        .collect();
    parts.join("\n")
}

/// Hatched: bytes that only holes, padding or Go's blank `_` fields cover (a byte that a
/// bitfield shares with a hole holds data, so it keeps the field's colour).
fn is_gap(p: &PairReport, side: Side, rows: &[usize]) -> bool {
    !rows.is_empty()
        && rows.iter().all(|&i| {
            p.rows
                .get(i)
                .and_then(|r| side.cell(r))
                .is_some_and(|c| matches!(c.kind, CellKind::Hole | CellKind::Padding))
        })
}

fn flagged(p: &PairReport, rows: &[usize]) -> bool {
    rows.iter()
        .any(|&i| p.rows.get(i).is_some_and(|r| !r.codes.is_empty()))
}

/// Draws one side's bytes, a group of cells per run of bytes with the same owners.
fn draw_side(svg: &mut Svg, p: &PairReport, side: Side, drawn: u64) {
    let own = owners(p, side, drawn);
    let row_y =
        |line: u64| TOP + line as f64 * LINE_H + if side == Side::C { ROW_H + 2.0 } else { 0.0 };
    let mut b = 0u64;
    while b < drawn {
        let rows = own.get(b as usize).cloned().unwrap_or_default();
        let line = b / COLS;
        let mut end = b + 1;
        while end < drawn && end / COLS == line && own.get(end as usize) == Some(&rows) {
            end += 1;
        }
        let fill = if rows.is_empty() {
            "#d9d9d9"
        } else if is_gap(p, side, &rows) {
            HATCH
        } else {
            // The first row that is a field gives the colour.
            rows.iter()
                .find(|&&i| !is_gap(p, side, &[i]))
                .map_or("#d9d9d9", |&i| field_colour(i))
        };
        let stroke = if flagged(p, &rows) {
            r##" stroke="#d00000" stroke-width="2""##
        } else {
            ""
        };
        let data = rows
            .first()
            .map_or(String::new(), |i| format!(r#" data-r="{i}""#));
        svg.group(&title(p, side, &rows, b), &data);
        for byte in b..end {
            let x = LABEL_W + (byte % COLS) as f64 * CELL;
            // data-b: the byte's offset, for tests and scripts reading the page.
            let extra = format!(r#" class="{}" data-b="{byte}"{stroke}"#, side.class());
            svg.rect(x, row_y(line), CELL - 2.0, ROW_H, fill, &extra);
        }
        svg.end_group();
        b = end;
    }
    for line in 0..drawn.div_ceil(COLS) {
        let label = format!("{} {}", side.label(), line * COLS);
        svg.text(LABEL_W - 4.0, row_y(line) + 12.0, "end", "lbl", &label);
    }
}

/// The byte map of a pair.
pub fn byte_map(p: &PairReport) -> ByteMap {
    let go = p.go_layout.size.min(MAX_BYTES);
    let c = p.c_layout.size.min(MAX_BYTES);
    let lines = go.max(c).div_ceil(COLS).max(1);
    let width = (LABEL_W + COLS as f64 * CELL) as u32;
    let height = (TOP + lines as f64 * LINE_H) as u32;
    let label = format!("byte map of {} (Go) and {} (C)", p.go_type, p.c_type);
    let mut svg = Svg::new(width, height, "bytemap", &label);
    for col in (0..COLS).step_by(8) {
        let x = LABEL_W + col as f64 * CELL + 1.0;
        svg.text(x, 10.0, "start", "lbl", &format!("+{col}"));
    }
    draw_side(&mut svg, p, Side::Go, go);
    draw_side(&mut svg, p, Side::C, c);
    ByteMap {
        svg: svg.finish(),
        go_cells: go,
        c_cells: c,
        truncated: p.go_layout.size > MAX_BYTES || p.c_layout.size > MAX_BYTES,
    }
}
