//! The side-by-side view of a pair: one row per field or gap, Go on the left, C on the
//! right, with the codes of the findings about it.

use std::collections::HashMap;

use mapsleuth_layout::{LayoutCode, Leaf, PaddingKind, PaddingRegion};
use serde::Serialize;

use super::{bytes, Check};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    Field,
    Bitfield,
    /// Implicit padding the compiler inserted.
    Hole,
    /// Explicit `_` padding written in Go.
    Padding,
}

/// One field or gap of one side, as a row of the side-by-side view shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Cell {
    pub offset: u64,
    pub size: u64,
    /// For bitfields: first bit (from the byte at `offset`) and width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<(u64, u64)>,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub kind: CellKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Both sides agree.
    Same,
    /// Both sides have it, and they disagree.
    Differs,
    GoOnly,
    COnly,
    /// Padding on either side with nothing against it.
    Padding,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go: Option<Cell>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<Cell>,
    pub status: RowStatus,
    /// Codes of the findings about this row.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub codes: Vec<String>,
}

fn cell(l: &Leaf, kind: CellKind) -> Cell {
    Cell {
        offset: bytes(l.offset_bits),
        size: l.size_bits.div_ceil(8),
        bits: l.bitfield.then_some((l.offset_bits % 8, l.size_bits)),
        name: l.path.clone(),
        type_name: l.type_name.clone(),
        kind,
    }
}

fn gap_cell(r: &PaddingRegion) -> Cell {
    Cell {
        offset: bytes(r.offset_bits),
        size: r.size_bits.div_ceil(8),
        bits: (!r.size_bits.is_multiple_of(8) || !r.offset_bits.is_multiple_of(8))
            .then_some((r.offset_bits % 8, r.size_bits)),
        name: match r.kind {
            PaddingKind::Hole => "(hole)".into(),
            PaddingKind::Trailing => "(padding)".into(),
        },
        type_name: String::new(),
        kind: CellKind::Hole,
    }
}

fn padding_row(go: Option<Cell>, c: Option<Cell>) -> Row {
    Row {
        go,
        c,
        status: RowStatus::Padding,
        codes: Vec::new(),
    }
}

/// Rows before they are put in order: (bit offset, rank among rows at that offset).
type Placed = Vec<(u64, u8, Row)>;

impl Check<'_> {
    /// The rows of the view, in offset order on each side (as far as the pairs allow:
    /// fields Go declares in another order cannot be in order on both sides).
    pub(super) fn rows(&self) -> Vec<Row> {
        let mut rows = self.field_rows();
        self.gap_rows(&mut rows);
        rows.sort_by_key(|(o, k, _)| (*o, *k));
        merge_gaps(in_go_order(rows.into_iter().map(|(_, _, row)| row)).into_iter())
    }

    /// The codes shown on the row of C leaf `ci` and Go leaf `gi`, sorted.
    fn codes_of(&self, ci: Option<usize>, gi: Option<usize>) -> Vec<String> {
        let get = |codes: &HashMap<usize, Vec<String>>, i: Option<usize>| {
            i.and_then(|i| codes.get(&i)).cloned().unwrap_or_default()
        };
        let mut v = get(&self.out.c_codes, ci);
        v.extend(get(&self.out.go_codes, gi));
        v.sort();
        v.dedup();
        v
    }

    /// A row for every leaf: C leaves with their Go match, then Go leaves without one.
    fn field_rows(&self) -> Placed {
        let (pair_of_c, go_leaves) = (&self.m.pair_of_c, &self.s.go_leaves);
        let notes = [
            LayoutCode::Union,
            LayoutCode::WeakPair,
            LayoutCode::AlignDiffers,
        ];
        let serious = |v: &[String]| v.iter().any(|c| !notes.iter().any(|n| n.as_str() == c));
        let mut rows = Vec::new();
        for (ci, cl) in self.s.c_leaves.iter().enumerate() {
            let kind = if cl.bitfield {
                CellKind::Bitfield
            } else {
                CellKind::Field
            };
            let codes = self.codes_of(Some(ci), pair_of_c[ci]);
            let (go, status) = match pair_of_c[ci] {
                Some(gi) if serious(&codes) => (Some(gi), RowStatus::Differs),
                Some(gi) => (Some(gi), RowStatus::Same),
                None => (None, RowStatus::COnly),
            };
            let go = go.map(|gi| cell(&go_leaves[gi], CellKind::Field));
            let row = Row {
                go,
                c: Some(cell(cl, kind)),
                status,
                codes,
            };
            rows.push((cl.offset_bits, 0, row));
        }
        for (gi, gl) in go_leaves.iter().enumerate() {
            if pair_of_c.contains(&Some(gi)) {
                continue;
            }
            let row = Row {
                go: Some(cell(gl, CellKind::Field)),
                c: None,
                // A Go field covering a union or bitfield unit is a good mirror.
                status: if self.m.go_used[gi] {
                    RowStatus::Same
                } else {
                    RowStatus::GoOnly
                },
                codes: self.codes_of(None, Some(gi)),
            };
            rows.push((gl.offset_bits, 1, row));
        }
        rows
    }

    /// Rows for Go's explicit padding, C's holes and Go's holes.
    fn gap_rows(&self, rows: &mut Placed) {
        for p in self.s.go_pad.iter().filter(|p| p.size_bits > 0) {
            let row = Row {
                go: Some(cell(p, CellKind::Padding)),
                ..padding_row(None, None)
            };
            rows.push((p.offset_bits, 2, row));
        }
        for r in &self.s.c_padding {
            rows.push((r.offset_bits, 3, padding_row(None, Some(gap_cell(r)))));
        }
        for r in &self.s.go_gaps {
            rows.push((r.offset_bits, 4, padding_row(Some(gap_cell(r)), None)));
        }
    }
}

/// The bit offset of a cell.
fn bit_offset(c: &Cell) -> u64 {
    c.offset * 8 + c.bits.map_or(0, |(bit, _)| bit)
}

/// Rows in C order, with each Go-only row (a Go field or gap with nothing against it)
/// placed among the rows whose Go cells surround it, before the first row there whose C
/// cell lies after it: rows with a C cell keep C's order, and Go's cells read in Go's
/// order (a Go hole no longer follows the field after it).
fn in_go_order(rows: impl Iterator<Item = Row>) -> Vec<Row> {
    let (mut out, go_only): (Vec<Row>, Vec<Row>) = rows.partition(|r| r.c.is_some());
    let go_at = |r: &Row| r.go.as_ref().map(bit_offset);
    for row in go_only {
        let at = go_at(&row).unwrap_or(0);
        let hi = out
            .iter()
            .position(|r| go_at(r).is_some_and(|o| o > at))
            .unwrap_or(out.len());
        let lo = out[..hi]
            .iter()
            .rposition(|r| go_at(r).is_some())
            .map_or(0, |i| i + 1);
        let place = (lo..hi)
            .find(|&i| out[i].c.as_ref().is_some_and(|c| bit_offset(c) > at))
            .unwrap_or(hi);
        out.insert(place, row);
    }
    out
}

/// Pairs a lone C hole with a lone Go gap at the same place: one row for both.
fn merge_gaps(rows: impl Iterator<Item = Row>) -> Vec<Row> {
    let same_place = |a: &Cell, b: &Cell| a.offset == b.offset && a.size == b.size;
    let mut merged: Vec<Row> = Vec::new();
    for row in rows {
        if let Some(prev) = merged.last_mut() {
            if prev.status == RowStatus::Padding && row.status == RowStatus::Padding {
                match (&prev.go, &prev.c, &row.go, &row.c) {
                    (None, Some(pc), Some(rg), None) if same_place(pc, rg) => {
                        prev.go = row.go;
                        continue;
                    }
                    (Some(pg), None, None, Some(rc)) if same_place(pg, rc) => {
                        prev.c = row.c;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        merged.push(row);
    }
    merged
}
