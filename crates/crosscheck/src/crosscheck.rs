//! The Go-vs-BTF layout cross-check: does a Go struct (from DWARF) mirror a BPF C type
//! (from BTF) byte for byte? Both are flattened to leaf fields; fields are matched by
//! name (then by position) and compared for offset, size and representation; unions,
//! bitfields, explicit `_` padding and the targets' rules are judged as a whole. Every
//! problem is a finding with an `L` code (docs/findings.md).

use std::collections::HashMap;

use mapsleuth_layout::{
    ByteOrder, Finding, GoKind, Layout, LayoutError, Leaf, LeafKind, Location, PaddingRegion,
    Severity, Target, TypeId, TypeKind, TypeTable, MAX_DEPTH,
};
use serde::Serialize;

use crate::pairing::MatchRule;

/// One side of a pair: a type in its table.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub table: &'a TypeTable,
    pub id: TypeId,
}

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

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct PairReport {
    pub go_type: String,
    pub c_type: String,
    pub matched_by: MatchRule,
    pub go_layout: Layout,
    pub c_layout: Layout,
    pub rows: Vec<Row>,
    pub findings: Vec<Finding>,
}

impl PairReport {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// A union somewhere in the C type: the bytes it spans and its alternatives.
struct UnionRegion {
    path: String,
    offset_bits: u64,
    size_bits: u64,
    alternatives: Vec<String>,
}

/// A bitfield storage unit of the C type and the bitfields in it.
struct BitUnit {
    offset: u64,
    size: u64,
    type_name: String,
    /// (leaf index, bit position inside the unit, width)
    fields: Vec<(usize, u64, u64)>,
}

fn is_blank(path: &str) -> bool {
    path.rsplit('.')
        .next()
        .is_some_and(|last| last == "_" || last.starts_with("_[") || last.starts_with("_ "))
}

fn norm(path: &str) -> String {
    path.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

fn bytes(bits: u64) -> u64 {
    bits / 8
}

/// Go spelling of the unsigned/signed integer of `size` bytes.
fn go_int(size: u64, signed: bool) -> String {
    match (size, signed) {
        (1 | 2 | 4 | 8, true) => format!("int{}", size * 8),
        (1 | 2 | 4 | 8, false) => format!("uint{}", size * 8),
        (n, _) => format!("[{n}]byte"),
    }
}

/// What a Go field should be declared as to mirror this C leaf.
fn go_spelling(c: &Leaf) -> String {
    let size = bytes(c.size_bits);
    match &c.kind {
        LeafKind::Int { signed } | LeafKind::Enum { signed } | LeafKind::Char { signed } => {
            go_int(size, *signed)
        }
        LeafKind::Bool => "uint8".into(),
        LeafKind::Float => format!("float{}", size * 8),
        LeafKind::Bytes { len, .. } => format!("[{len}]byte"),
        LeafKind::Pointer => "uint64".into(),
        _ => format!("[{size}]byte"),
    }
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
            mapsleuth_layout::PaddingKind::Hole => "(hole)".into(),
            mapsleuth_layout::PaddingKind::Trailing => "(padding)".into(),
        },
        type_name: String::new(),
        kind: CellKind::Hole,
    }
}

fn union_regions(table: &TypeTable, id: TypeId) -> Result<Vec<UnionRegion>, LayoutError> {
    let mut out = Vec::new();
    walk_unions(table, id, "", 0, 0, &mut out)?;
    Ok(out)
}

fn walk_unions(
    table: &TypeTable,
    id: TypeId,
    path: &str,
    base: u64,
    depth: u32,
    out: &mut Vec<UnionRegion>,
) -> Result<(), LayoutError> {
    if depth > MAX_DEPTH {
        return Err(LayoutError::TooDeep { id });
    }
    let r = table.resolve(id)?;
    match &table.get(r)?.kind {
        TypeKind::Union(c) => {
            out.push(UnionRegion {
                path: if path.is_empty() {
                    "(union)".into()
                } else {
                    path.to_string()
                },
                offset_bits: base,
                size_bits: c.size.saturating_mul(8),
                alternatives: c
                    .members
                    .iter()
                    .map(|m| {
                        format!(
                            "{} {}",
                            table.type_name(m.ty),
                            m.name.as_deref().unwrap_or("(anon)")
                        )
                    })
                    .collect(),
            });
        }
        TypeKind::Struct(c) => {
            for m in &c.members {
                if m.bitfield_bits.is_some() {
                    continue;
                }
                let name = m.name.as_deref().unwrap_or("");
                let child = match (path.is_empty(), name.is_empty()) {
                    (_, true) => path.to_string(),
                    (true, false) => name.to_string(),
                    (false, false) => format!("{path}.{name}"),
                };
                walk_unions(
                    table,
                    m.ty,
                    &child,
                    base.saturating_add(m.offset_bits),
                    depth + 1,
                    out,
                )?;
            }
        }
        TypeKind::Array { elem, len } => {
            let elem_bits = table.size_of(*elem)?.saturating_mul(8);
            for i in 0..*len {
                if out.len() >= mapsleuth_layout::MAX_LEAVES {
                    return Err(LayoutError::TooMany {
                        what: "unions",
                        limit: mapsleuth_layout::MAX_LEAVES,
                    });
                }
                let before = out.len();
                walk_unions(
                    table,
                    *elem,
                    &format!("{path}[{i}]"),
                    base.saturating_add(elem_bits.saturating_mul(i)),
                    depth + 1,
                    out,
                )?;
                if out.len() == before {
                    break; // no unions in the element type: none in the others
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn bit_units(table: &TypeTable, leaves: &[Leaf]) -> Result<Vec<BitUnit>, LayoutError> {
    let mut units: Vec<BitUnit> = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        if !l.bitfield {
            continue;
        }
        let unit_bits = table.size_of(l.type_id)?.saturating_mul(8).max(8);
        let start = l.offset_bits - l.offset_bits % unit_bits;
        let (offset, size) = (start / 8, unit_bits / 8);
        let bit = l.offset_bits - start;
        match units
            .iter_mut()
            .find(|u| u.offset == offset && u.size == size)
        {
            Some(u) => u.fields.push((i, bit, l.size_bits)),
            None => units.push(BitUnit {
                offset,
                size,
                type_name: l.type_name.clone(),
                fields: vec![(i, bit, l.size_bits)],
            }),
        }
    }
    Ok(units)
}

/// Whether a Go field holds whole C bitfields and nothing else: every C leaf it
/// overlaps is a bitfield lying entirely inside it. Then it is the bitfields' storage,
/// whatever its width (a unit, or only the bytes the bitfields use).
fn holds_only_bitfields(go: &Leaf, c_leaves: &[Leaf]) -> bool {
    let (start, len) = (go.offset_bits, go.size_bits);
    let integral = matches!(go.kind, LeafKind::Int { .. } | LeafKind::Bytes { .. });
    let mut any = false;
    for l in c_leaves
        .iter()
        .filter(|l| overlaps((l.offset_bits, l.size_bits), (start, len)))
    {
        if !(l.bitfield && l.offset_bits >= start && l.offset_bits + l.size_bits <= start + len) {
            return false;
        }
        any = true;
    }
    integral && any
}

/// Cross-checks one pair. The Go side's target and the C side's target both matter:
/// offsets are compared as each compiler laid them out.
pub fn crosscheck(go: Side, c: Side, rule: MatchRule) -> Result<PairReport, LayoutError> {
    let gl = go.table.layout(go.id)?;
    let cl = c.table.layout(c.id)?;
    let go_all = go.table.leaves(go.id)?;
    let (go_pad, go_leaves): (Vec<Leaf>, Vec<Leaf>) =
        go_all.into_iter().partition(|l| is_blank(&l.path));
    let c_leaves = c.table.leaves(c.id)?;
    let c_padding = c.table.padding(c.id)?;
    let go_gaps = go.table.padding(go.id)?;
    let unions = union_regions(c.table, c.id)?;
    let units = bit_units(c.table, &c_leaves)?;

    let go_name = gl.type_name.clone();
    let c_name = cl.type_name.clone();
    let mut findings: Vec<Finding> = Vec::new();
    let loc = |field: &str, offset: u64| Location {
        type_name: Some(c_name.clone()),
        other_type: Some(go_name.clone()),
        field: (!field.is_empty()).then(|| field.to_string()),
        offset: Some(offset),
        ..Default::default()
    };
    let mut c_codes: HashMap<usize, Vec<String>> = HashMap::new();
    let mut go_codes: HashMap<usize, Vec<String>> = HashMap::new();

    // --- matching -------------------------------------------------------------
    let in_union = |l: &Leaf| l.alternative.is_some();
    let mut go_used = vec![false; go_leaves.len()];
    let mut pair_of_c: Vec<Option<usize>> = vec![None; c_leaves.len()];
    let mut by_position = vec![false; c_leaves.len()];
    // 1: the whole dotted path; 2: the last component, when unique.
    // Names are normalized once: matching is a lookup, not a scan of every Go field
    // for every C field (task_struct has hundreds of each).
    for pass in 0..2 {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (gi, g) in go_leaves.iter().enumerate() {
            let key = if pass == 0 {
                norm(&g.path)
            } else {
                norm(last(&g.path))
            };
            by_name.entry(key).or_default().push(gi);
        }
        for (ci, cleaf) in c_leaves.iter().enumerate() {
            // A union's inner alternatives match by their whole path only: by its last
            // component, `u.id` would take a Go field named after the union itself.
            if pair_of_c[ci].is_some() || (pass == 1 && in_union(cleaf)) {
                continue;
            }
            let key = if pass == 0 {
                norm(&cleaf.path)
            } else {
                norm(last(&cleaf.path))
            };
            let Some(all) = by_name.get(&key) else {
                continue;
            };
            let mut free = all.iter().copied().filter(|&gi| !go_used[gi]);
            if let (Some(gi), None) = (free.next(), free.next()) {
                pair_of_c[ci] = Some(gi);
                go_used[gi] = true;
            }
        }
    }
    // 3: by position, for plain fields whose names differ.
    for (ci, cleaf) in c_leaves.iter().enumerate() {
        if pair_of_c[ci].is_some() || in_union(cleaf) || cleaf.bitfield {
            continue;
        }
        if let Some(gi) = (0..go_leaves.len()).find(|&gi| {
            !go_used[gi]
                && go_leaves[gi].offset_bits == cleaf.offset_bits
                && go_leaves[gi].size_bits == cleaf.size_bits
        }) {
            pair_of_c[ci] = Some(gi);
            go_used[gi] = true;
            by_position[ci] = true;
        }
    }

    // --- matched fields ---------------------------------------------------------
    let mut shift: Option<(i128, String)> = None;
    for (ci, cleaf) in c_leaves.iter().enumerate() {
        let Some(gi) = pair_of_c[ci] else { continue };
        let gleaf = &go_leaves[gi];
        let mut push = |f: Finding, c_codes: &mut HashMap<usize, Vec<String>>| {
            c_codes.entry(ci).or_default().push(f.code.clone());
            go_codes.entry(gi).or_default().push(f.code.clone());
            findings.push(f);
        };
        let coff = bytes(cleaf.offset_bits);
        let goff = bytes(gleaf.offset_bits);
        let csize = cleaf.size_bits.div_ceil(8);
        let gsize = gleaf.size_bits.div_ceil(8);
        let here = loc(&cleaf.path, coff);
        if cleaf.bitfield && holds_only_bitfields(gleaf, &c_leaves) {
            // A Go field named after the bitfield that holds just its bits: judged with
            // the rest of the storage unit below.
            continue;
        }
        if cleaf.bitfield {
            push(
                Finding::new(
                    "L013",
                    Severity::Error,
                    format!(
                        "C bitfield `{}` ({} bit{} at bit {} of its unit) is mirrored by Go field `{}` ({}, {} byte{} at {}): Go has no bitfields, so the bits of several C fields land in one Go field and the rest read other bytes",
                        cleaf.path,
                        cleaf.size_bits,
                        if cleaf.size_bits == 1 { "" } else { "s" },
                        cleaf.offset_bits % 8,
                        gleaf.path,
                        gleaf.type_name,
                        gsize,
                        if gsize == 1 { "" } else { "s" },
                        goff
                    ),
                )
                .at(here.clone())
                .fix("declare one integer for the whole storage unit (see the unit finding) and extract each bitfield with shifts and masks"),
                &mut c_codes,
            );
            continue;
        }
        if let LeafKind::GoOpaque { go_kind } = &gleaf.kind {
            let fix = match go_kind {
                GoKind::String => format!("declare `{} {}`: a C char array is bytes in the struct, a Go string is a pointer and a length", gleaf.path, go_spelling(cleaf)),
                GoKind::Slice => format!("declare `{} {}`: a fixed-size array, not a slice (a slice is a pointer, length and capacity)", gleaf.path, go_spelling(cleaf)),
                _ => format!("declare `{} {}`: map values hold plain bytes, never Go {} values", gleaf.path, go_spelling(cleaf), go_kind.as_str()),
            };
            push(
                Finding::new(
                    "L012",
                    Severity::Error,
                    format!(
                        "Go field `{}` is a {} ({}, {} bytes), which holds pointers into the Go heap: it cannot be copied to or from a map; C has `{} {}` ({} bytes at {})",
                        gleaf.path, go_kind.as_str(), gleaf.type_name, gsize, cleaf.type_name, cleaf.path, csize, coff
                    ),
                )
                .at(here.clone())
                .fix(fix),
                &mut c_codes,
            );
            continue;
        }
        if gleaf.kind == LeafKind::Pointer && cleaf.kind != LeafKind::Pointer {
            push(
                Finding::new(
                    "L012",
                    Severity::Error,
                    format!(
                        "Go field `{}` is a pointer ({}): the kernel writes a plain value there (C `{} {}`), and the Go runtime would follow it",
                        gleaf.path, gleaf.type_name, cleaf.type_name, cleaf.path
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            );
            continue;
        }
        if gleaf.kind == LeafKind::Pointer {
            push(
                Finding::new(
                    "L012",
                    Severity::Error,
                    format!(
                        "Go field `{}` is a Go pointer mirroring C pointer `{}`: the value is a kernel address, meaningless (and dangerous) as a Go pointer",
                        gleaf.path, cleaf.path
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} uint64`", gleaf.path)),
                &mut c_codes,
            );
            continue;
        }
        if coff != goff {
            let delta = i128::from(goff) - i128::from(coff);
            if let Some((_, first)) = shift.as_ref().filter(|(d, _)| *d == delta) {
                // The same shift as an earlier field: one cause, said once.
                push(
                    Finding::new(
                        "L003",
                        Severity::Error,
                        format!("`{}` is at offset {coff} in C but at {goff} in Go (`{}`): the same shift as `{first}`", cleaf.path, gleaf.path),
                    )
                    .at(here.clone())
                    .fix(format!("fixed with `{first}`")),
                    &mut c_codes,
                );
            } else {
                shift = Some((delta, cleaf.path.clone()));
                let fix = if goff < coff {
                    format!("Go places `{}` {} bytes early: insert `_ [{}]byte` before it, or fix the field before it", gleaf.path, coff - goff, coff - goff)
                } else {
                    format!(
                    "Go places `{}` {} bytes late: remove padding or narrow the field before it",
                    gleaf.path,
                    goff - coff
                )
                };
                push(
                    Finding::new(
                        "L003",
                        Severity::Error,
                        format!(
                            "`{}` is at offset {coff} in C but at {goff} in Go (`{}`)",
                            cleaf.path, gleaf.path
                        ),
                    )
                    .at(here.clone())
                    .fix(fix),
                    &mut c_codes,
                );
            }
        }
        let c_enum = matches!(cleaf.kind, LeafKind::Enum { .. });
        if csize != gsize {
            let (code, what) = if c_enum {
                ("L008", "enum")
            } else {
                ("L004", "field")
            };
            push(
                Finding::new(
                    code,
                    Severity::Error,
                    format!(
                        "{what} `{}` is {csize} bytes in C (`{}`) but {gsize} in Go (`{} {}`)",
                        cleaf.path, cleaf.type_name, gleaf.path, gleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            );
            continue;
        }
        if matches!(gleaf.type_name.as_str(), "int" | "uint" | "uintptr") {
            push(
                Finding::new(
                    "L015",
                    Severity::Warning,
                    format!(
                        "Go field `{}` is `{}`, whose size follows GOARCH (4 bytes on 386 and arm, 8 on 64-bit): it matches C `{}` here only by accident",
                        gleaf.path, gleaf.type_name, cleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            );
        }
        let float = |k: &LeafKind| matches!(k, LeafKind::Float | LeafKind::Complex);
        let integral = |k: &LeafKind| {
            matches!(
                k,
                LeafKind::Int { .. }
                    | LeafKind::Char { .. }
                    | LeafKind::Enum { .. }
                    | LeafKind::Bool
            )
        };
        if float(&cleaf.kind) != float(&gleaf.kind) {
            push(
                Finding::new(
                    "L007",
                    Severity::Error,
                    format!(
                        "`{}` is {} in C (`{}`) but {} in Go (`{}`): the same bytes mean a different number",
                        cleaf.path,
                        if float(&cleaf.kind) { "floating point" } else { "an integer" },
                        cleaf.type_name,
                        if float(&gleaf.kind) { "floating point" } else { "an integer" },
                        gleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            );
            continue;
        }
        // An integer at an offset Go cannot align it to (packed C structs) can only be
        // mirrored by bytes.
        let go_align = u64::from(go.table.target.max_scalar_align.max(1)).min(csize.max(1));
        // ... and Go has no 128-bit integers.
        let aligned_for_go = coff.is_multiple_of(go_align) && matches!(csize, 2 | 4 | 8);
        match (&cleaf.kind, &gleaf.kind) {
            (LeafKind::Int { .. } | LeafKind::Char { .. } | LeafKind::Enum { .. }, LeafKind::Bool) => push(
                Finding::new(
                    "L006",
                    Severity::Warning,
                    format!(
                        "`{}` is an integer in C (`{}`) but `bool` in Go: any value other than 0 or 1 is undefined behaviour for a Go bool",
                        cleaf.path, cleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} uint8` and compare it with 0", gleaf.path)),
                &mut c_codes,
            ),
            (LeafKind::Int { signed: cs }, LeafKind::Int { signed: gs }) if cs != gs => push(
                Finding::new(
                    "L005",
                    Severity::Warning,
                    format!(
                        "`{}` is {} in C (`{}`) but {} in Go (`{}`): values past {} read wrong",
                        cleaf.path,
                        if *cs { "signed" } else { "unsigned" },
                        cleaf.type_name,
                        if *gs { "signed" } else { "unsigned" },
                        gleaf.type_name,
                        if *cs { "-1 (negative numbers)" } else { "the signed maximum" }
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            ),
            (LeafKind::Bytes { .. }, g) if integral(g) && csize > 1 => push(
                Finding::new(
                    "L023",
                    Severity::Warning,
                    format!(
                        "`{}` is a byte array in C (`{}`) but an integer in Go (`{}`): the value depends on the byte order",
                        cleaf.path, cleaf.type_name, gleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}` and convert explicitly", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            ),
            (c, LeafKind::Bytes { .. }) if integral(c) && csize > 1 && aligned_for_go => push(
                Finding::new(
                    "L023",
                    Severity::Warning,
                    format!(
                        "`{}` is an integer in C (`{}`) but a byte array in Go (`{}`): decode it with the target's byte order",
                        cleaf.path, cleaf.type_name, gleaf.type_name
                    ),
                )
                .at(here.clone())
                .fix(format!("declare `{} {}`", gleaf.path, go_spelling(cleaf))),
                &mut c_codes,
            ),
            _ => {}
        }
        if by_position[ci] && !c_codes.contains_key(&ci) {
            // Matched only because it sits at the same place: say so quietly.
            let f = Finding::new(
                "L021",
                Severity::Info,
                format!(
                    "C `{}` and Go `{}` were matched by position (the names differ)",
                    cleaf.path, gleaf.path
                ),
            )
            .at(here.clone());
            findings.push(f);
        }
    }

    // --- unions ---------------------------------------------------------------------
    // Unions whose bytes Go holds whole: the bitfields inside them are judged with them.
    let mut mirrored_unions: Vec<(u64, u64)> = Vec::new();
    for u in &unions {
        let span = (u.offset_bits, u.size_bits);
        let alts_text = u.alternatives.join(", ");
        let matched_alt: Vec<usize> = (0..c_leaves.len())
            .filter(|&ci| {
                pair_of_c[ci].is_some()
                    && c_leaves[ci].alternative.is_some()
                    && overlaps((c_leaves[ci].offset_bits, c_leaves[ci].size_bits), span)
            })
            .collect();
        let covering = (0..go_leaves.len()).find(|&gi| {
            !go_used[gi]
                && go_leaves[gi].offset_bits == u.offset_bits
                && go_leaves[gi].size_bits == u.size_bits
        });
        let covering_pad = go_pad.iter().any(|p| {
            p.offset_bits <= u.offset_bits
                && p.offset_bits + p.size_bits >= u.offset_bits + u.size_bits
        });
        let size = bytes(u.size_bits);
        let off = bytes(u.offset_bits);
        if covering.is_some() || covering_pad {
            mirrored_unions.push((u.offset_bits, u.size_bits));
        }
        if let Some(gi) = covering {
            go_used[gi] = true;
            findings.push(
                Finding::new(
                    "L020",
                    Severity::Info,
                    format!(
                        "union `{}` ({size} bytes at {off}; alternatives: {alts_text}) is mirrored by Go field `{}` ({}) covering all of it",
                        u.path, go_leaves[gi].path, go_leaves[gi].type_name
                    ),
                )
                .at(loc(&u.path, off))
                .fix("decode the alternative you need from those bytes"),
            );
        } else if !matched_alt.is_empty() {
            let covered: u64 = matched_alt
                .iter()
                .filter_map(|&ci| pair_of_c[ci].map(|gi| go_leaves[gi].size_bits))
                .max()
                .unwrap_or(0);
            let names: Vec<&str> = matched_alt
                .iter()
                .map(|&ci| c_leaves[ci].path.as_str())
                .collect();
            // bpf2go mirrors a union as its first member plus `_ [N]byte` for the rest:
            // that covers every byte.
            let pad_after = go_pad
                .iter()
                .filter(|p| {
                    p.offset_bits >= u.offset_bits + covered
                        && p.offset_bits + p.size_bits <= u.offset_bits + u.size_bits
                })
                .map(|p| p.size_bits)
                .sum::<u64>();
            let partial = covered + pad_after < u.size_bits;
            findings.push(
                Finding::new(
                    "L020",
                    if partial { Severity::Warning } else { Severity::Info },
                    format!(
                        "union `{}` ({size} bytes at {off}; alternatives: {alts_text}) is mirrored in Go by alternative {}{}",
                        u.path,
                        names.join(", "),
                        if partial { format!(", which covers only {} of its {size} bytes", covered / 8) } else { String::new() }
                    ),
                )
                .at(loc(&u.path, off))
                .fix(if partial {
                    format!("declare a field of the union's full size ({size} bytes), e.g. `[{size}]byte`, and decode alternatives from it")
                } else {
                    "fine while the kernel writes that alternative; another alternative needs its own decoding".into()
                }),
            );
        } else if covering_pad {
            findings.push(
                Finding::new(
                    "L020",
                    Severity::Info,
                    format!("union `{}` ({size} bytes at {off}; alternatives: {alts_text}) is covered by explicit Go padding: its value is not readable from Go", u.path),
                )
                .at(loc(&u.path, off))
                .fix(format!("declare a named `[{size}]byte` field there to read it")),
            );
        } else {
            findings.push(
                Finding::new(
                    "L009",
                    Severity::Error,
                    format!("union `{}` ({size} bytes at {off}; alternatives: {alts_text}) has no Go counterpart", u.path),
                )
                .at(loc(&u.path, off))
                .fix(format!("declare a `[{size}]byte` field at offset {off}")),
            );
        }
    }

    // --- bitfield storage units ---------------------------------------------------
    let big = c.table.target.byte_order == ByteOrder::Big;
    for u in &units {
        let misread = |i: usize| {
            pair_of_c[i].is_some_and(|gi| !holds_only_bitfields(&go_leaves[gi], &c_leaves))
        };
        if u.fields.iter().all(|(i, _, _)| misread(*i)) {
            continue; // each pairing already reported L013
        }
        let span = (u.offset * 8, u.size * 8);
        if mirrored_unions
            .iter()
            .any(|&(o, n)| o <= span.0 && span.0 + span.1 <= o + n)
        {
            continue; // inside a union Go mirrors as bytes: said with the union (L020)
        }
        let recipe: Vec<String> = u
            .fields
            .iter()
            .map(|&(i, bit, width)| {
                let path = &c_leaves[i].path;
                // A packed bitfield may spill out of its unit: no single shift then.
                let shift = if big { (u.size * 8).checked_sub(bit + width) } else { Some(bit) };
                match shift {
                    Some(shift) if bit + width <= u.size * 8 => format!(
                        "{path} = (unit >> {shift}) & {:#x}",
                        if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
                    ),
                    _ => format!(
                        "{path} = {width} bits from bit {bit} of the bytes at offset {} (it spills past its {}-byte unit)",
                        u.offset, u.size
                    ),
                }
            })
            .collect();
        // A Go integer over the whole unit, or over just the bytes its bitfields use.
        let fields_span = u
            .fields
            .iter()
            .fold((u64::MAX, 0u64), |(lo, hi), &(i, _, _)| {
                let l = &c_leaves[i];
                (lo.min(l.offset_bits), hi.max(l.offset_bits + l.size_bits))
            });
        let bitfield_pair = |gi: usize| {
            pair_of_c
                .iter()
                .enumerate()
                .any(|(ci, p)| *p == Some(gi) && c_leaves[ci].bitfield)
        };
        let covering = (0..go_leaves.len()).find(|&gi| {
            let g = &go_leaves[gi];
            let holds = g.offset_bits <= fields_span.0
                && g.offset_bits + g.size_bits >= fields_span.1
                && holds_only_bitfields(g, &c_leaves);
            // A field holding only bitfields may serve several units (packed structs
            // put one unit's bitfields across another's bytes).
            holds
                || ((!go_used[gi] || bitfield_pair(gi))
                    && g.offset_bits == span.0
                    && g.size_bits == span.1)
        });
        let covering_pad = go_pad
            .iter()
            .any(|p| p.offset_bits <= span.0 && p.offset_bits + p.size_bits >= span.0 + span.1);
        let names: Vec<&str> = u
            .fields
            .iter()
            .map(|(i, _, _)| c_leaves[*i].path.as_str())
            .collect();
        let first = names.first().copied().unwrap_or("");
        if let Some(gi) = covering {
            go_used[gi] = true;
            findings.push(
                Finding::new(
                    "L013",
                    Severity::Info,
                    format!(
                        "C bitfields {} share a {}-byte `{}` unit at offset {}; Go field `{}` ({}) holds the whole unit, which is the right mirror",
                        names.join(", "), u.size, u.type_name, u.offset, go_leaves[gi].path, go_leaves[gi].type_name
                    ),
                )
                .at(loc(first, u.offset))
                .fix(format!("extract with shifts ({}): {}", if big { "big-endian bit numbering" } else { "little-endian" }, recipe.join("; "))),
            );
        } else if covering_pad {
            findings.push(
                Finding::new(
                    "L013",
                    Severity::Info,
                    format!(
                        "C bitfields {} share a {}-byte `{}` unit at offset {}; Go covers it with explicit padding, so their values are not readable from Go",
                        names.join(", "), u.size, u.type_name, u.offset
                    ),
                )
                .at(loc(first, u.offset))
                .fix(format!("declare a named `{}` field for the unit and extract with shifts: {}", go_int(u.size, false), recipe.join("; "))),
            );
        } else {
            findings.push(
                Finding::new(
                    "L013",
                    Severity::Error,
                    format!(
                        "C bitfields {} share a {}-byte `{}` unit at offset {} that Go does not mirror",
                        names.join(", "), u.size, u.type_name, u.offset
                    ),
                )
                .at(loc(first, u.offset))
                .fix(format!("declare `{} {}` at offset {} and extract with shifts: {}", "Bits", go_int(u.size, false), u.offset, recipe.join("; "))),
            );
        }
        for (i, _, _) in &u.fields {
            c_codes.entry(*i).or_default().push("L013".into());
        }
    }

    // --- C fields with no Go counterpart ---------------------------------------------
    for (ci, cleaf) in c_leaves.iter().enumerate() {
        // Zero-size members (flexible arrays) have no bytes to mirror; a Go `[0]T` at
        // the end would even grow the struct (L016).
        if pair_of_c[ci].is_some()
            || cleaf.alternative.is_some()
            || cleaf.bitfield
            || cleaf.size_bits == 0
        {
            continue;
        }
        let span = (cleaf.offset_bits, cleaf.size_bits);
        let coff = bytes(cleaf.offset_bits);
        let hidden = go_pad
            .iter()
            .find(|p| overlaps((p.offset_bits, p.size_bits), span));
        let f = match hidden {
            Some(p) => Finding::new(
                "L014",
                Severity::Warning,
                format!(
                    "C field `{}` ({} bytes at {coff}) falls in Go's explicit padding `_ {}` at {}: Go never reads it",
                    cleaf.path,
                    cleaf.size_bits.div_ceil(8),
                    p.type_name,
                    bytes(p.offset_bits)
                ),
            )
            .at(loc(&cleaf.path, coff))
            .fix(format!("declare `{} {}` at offset {coff} instead of padding", camel(&cleaf.path), go_spelling(cleaf))),
            None => Finding::new(
                "L009",
                Severity::Error,
                format!("C field `{}` (`{}`, {} bytes at {coff}) has no Go counterpart", cleaf.path, cleaf.type_name, cleaf.size_bits.div_ceil(8)),
            )
            .at(loc(&cleaf.path, coff))
            .fix(format!("declare `{} {}` at offset {coff}", camel(&cleaf.path), go_spelling(cleaf))),
        };
        c_codes.entry(ci).or_default().push(f.code.clone());
        findings.push(f);
    }

    // --- Go fields with no C counterpart ----------------------------------------------
    for (gi, gleaf) in go_leaves.iter().enumerate() {
        if go_used[gi] || gleaf.size_bits == 0 {
            continue;
        }
        let span = (gleaf.offset_bits, gleaf.size_bits);
        let goff = bytes(gleaf.offset_bits);
        let in_c_padding = c_padding
            .iter()
            .any(|p| p.offset_bits <= span.0 && p.offset_bits + p.size_bits >= span.0 + span.1);
        let beyond = gleaf.offset_bits >= cl.size * 8;
        let f = if in_c_padding {
            Finding::new(
                "L010",
                Severity::Warning,
                format!(
                    "Go field `{}` ({} bytes at {goff}) lies in C's padding: the kernel never writes it, so it holds zeroes or leftover bytes",
                    gleaf.path,
                    gleaf.size_bits.div_ceil(8)
                ),
            )
        } else if beyond {
            Finding::new(
                "L010",
                Severity::Error,
                format!("Go field `{}` at {goff} lies past the end of the {}-byte C type", gleaf.path, cl.size),
            )
        } else {
            let over: Vec<&str> = c_leaves
                .iter()
                .filter(|c| overlaps((c.offset_bits, c.size_bits), span))
                .map(|c| c.path.as_str())
                .collect();
            Finding::new(
                "L010",
                Severity::Error,
                format!("Go field `{}` ({} bytes at {goff}) has no C counterpart; it overlaps C {}", gleaf.path, gleaf.size_bits.div_ceil(8), over.join(", ")),
            )
        }
        .at(Location {
            type_name: Some(c_name.clone()),
            other_type: Some(go_name.clone()),
            field: Some(gleaf.path.clone()),
            offset: Some(goff),
            ..Default::default()
        })
        .fix("remove the field, or add it to the C struct too");
        go_codes.entry(gi).or_default().push(f.code.clone());
        findings.push(f);
    }

    // --- explicit Go padding over C data ------------------------------------------------
    let credited = |p: &Leaf| {
        let span = (p.offset_bits, p.size_bits);
        units
            .iter()
            .any(|u| overlaps((u.offset * 8, u.size * 8), span))
            || unions
                .iter()
                .any(|u| overlaps((u.offset_bits, u.size_bits), span))
    };
    for p in &go_pad {
        if p.size_bits == 0 || credited(p) {
            continue;
        }
        let span = (p.offset_bits, p.size_bits);
        let hits: Vec<usize> = (0..c_leaves.len())
            .filter(|&ci| {
                pair_of_c[ci].is_some()
                    && overlaps((c_leaves[ci].offset_bits, c_leaves[ci].size_bits), span)
            })
            .collect();
        if let Some(&ci) = hits.first() {
            let c0 = &c_leaves[ci];
            findings.push(
                Finding::new(
                    "L014",
                    Severity::Warning,
                    format!(
                        "Go's explicit padding `_ {}` ({} bytes at {}) overlaps C field `{}` ({} bytes at {}): the padding no longer lines up with C's holes",
                        p.type_name,
                        p.size_bits / 8,
                        bytes(p.offset_bits),
                        c0.path,
                        c0.size_bits.div_ceil(8),
                        bytes(c0.offset_bits)
                    ),
                )
                .at(loc(&c0.path, bytes(c0.offset_bits)))
                .fix(format!(
                    "put the padding where C has its holes: {}",
                    describe_holes(&c_padding)
                )),
            );
            c_codes.entry(ci).or_default().push("L014".into());
        }
    }

    // --- order ------------------------------------------------------------------
    let mut named: Vec<(u64, u64, &str, &str)> = (0..c_leaves.len())
        .filter(|&ci| !by_position[ci] && c_leaves[ci].alternative.is_none())
        .filter_map(|ci| {
            pair_of_c[ci].map(|gi| {
                (
                    c_leaves[ci].offset_bits,
                    go_leaves[gi].offset_bits,
                    c_leaves[ci].path.as_str(),
                    go_leaves[gi].path.as_str(),
                )
            })
        })
        .collect();
    named.sort();
    if let Some(w) = named.windows(2).find(|w| w[1].1 < w[0].1) {
        findings.push(
            Finding::new(
                "L011",
                Severity::Warning,
                format!("fields are in a different order: C declares `{}` before `{}`, Go declares `{}` after `{}`", w[0].2, w[1].2, w[0].3, w[1].3),
            )
            .at(loc(w[1].2, bytes(w[1].0)))
            .fix("declare the Go fields in the C order: Go lays fields out in declaration order, never by name"),
        );
    }

    // --- the struct as a whole -----------------------------------------------------
    if gl.size != cl.size {
        findings.push(
            Finding::new(
                "L001",
                Severity::Error,
                format!("`{}` is {} bytes in Go but `{}` is {} bytes in C", go_name, gl.size, c_name, cl.size),
            )
            .at(loc("", 0))
            .fix("fix the field findings above; a map lookup with the wrong size fails with EINVAL or reads the wrong bytes"),
        );
    }
    if let Some(last) = gl
        .members
        .iter()
        .max_by_key(|m| (m.offset_bits, m.size_bits))
    {
        let data_end = gl
            .members
            .iter()
            .map(|m| m.offset + m.size)
            .max()
            .unwrap_or(0);
        if last.size == 0
            && gl.size > data_end.next_multiple_of(u64::from(gl.align.max(1)))
            && gl.size != cl.size
        {
            findings.push(
                Finding::new(
                    "L016",
                    Severity::Error,
                    format!(
                        "Go's last field `{}` has size zero, so Go pads the struct past it (to {} bytes instead of {}): a pointer to it must not point past the object",
                        last.name,
                        gl.size,
                        data_end.next_multiple_of(u64::from(gl.align.max(1)))
                    ),
                )
                .at(loc(&last.name, last.offset))
                .fix(format!("remove `{}` or move it before a non-zero-size field", last.name)),
            );
        }
    }
    if gl.align != cl.align {
        findings.push(
            Finding::new(
                "L002",
                Severity::Info,
                format!("alignment differs: {} in Go ({}), {} in C ({})", gl.align, go.table.target.arch, cl.align, c.table.target.arch),
            )
            .at(loc("", 0))
            .fix("only matters when the struct is embedded in another or laid out in an array by a different rule; sizes decide map compatibility"),
        );
    }
    arch_findings(
        &go.table.target,
        &c.table.target,
        &c_leaves,
        &pair_of_c,
        &go_leaves,
        &loc,
        &mut findings,
    );
    if rule == MatchRule::Weak {
        findings.push(
            Finding::new(
                "L021",
                Severity::Info,
                format!("`{}` was paired with `{}` only by a naming convention (bpf2go prefix or `_t` suffix)", go_name, c_name),
            )
            .at(loc("", 0))
            .fix(format!("confirm with --pair {}={}", go_name, cl.type_name.trim_start_matches("struct ").trim_start_matches("union "))),
        );
    }

    findings.sort_by_key(|f| {
        (
            f.location.offset.unwrap_or(0),
            std::cmp::Reverse(f.severity),
        )
    });
    let rows = build_rows(
        &c_leaves, &go_leaves, &go_pad, &c_padding, &go_gaps, &pair_of_c, &go_used, &c_codes,
        &go_codes,
    );
    Ok(PairReport {
        go_type: go_name,
        c_type: c_name,
        matched_by: rule,
        go_layout: gl,
        c_layout: cl,
        rows,
        findings,
    })
}

/// `hdr.src_port` → `Hdr.SrcPort`
fn camel(path: &str) -> String {
    path.split('.')
        .map(|part| {
            part.split('_')
                .filter(|s| !s.is_empty())
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn describe_holes(p: &[PaddingRegion]) -> String {
    if p.is_empty() {
        return "C has none".into();
    }
    p.iter()
        .map(|r| format!("{} bytes at {}", r.size_bits / 8, r.offset_bits / 8))
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
fn arch_findings(
    go: &Target,
    c: &Target,
    c_leaves: &[Leaf],
    pair_of_c: &[Option<usize>],
    go_leaves: &[Leaf],
    loc: &dyn Fn(&str, u64) -> Location,
    findings: &mut Vec<Finding>,
) {
    if go.byte_order != c.byte_order {
        findings.push(
            Finding::new(
                "L017",
                Severity::Error,
                format!(
                    "the Go binary is {} ({}) but the BPF types are {} ({}): every multi-byte field reads byte-swapped",
                    go.byte_order.as_str(),
                    go.arch,
                    c.byte_order.as_str(),
                    c.arch
                ),
            )
            .at(loc("", 0))
            .fix(format!(
                "compile the BPF program for the Go program's machine: clang -target {}",
                if go.byte_order == ByteOrder::Big { "bpfeb" } else { "bpfel" }
            )),
        );
    }
    if go.max_scalar_align < 8 {
        // On 386 and arm, gc aligns 64-bit values to 4 bytes: say so where it moved one.
        for (ci, cl) in c_leaves.iter().enumerate() {
            let Some(gi) = pair_of_c[ci] else { continue };
            let gl = &go_leaves[gi];
            let eight = cl.size_bits == 64
                && matches!(
                    cl.kind,
                    LeafKind::Int { .. } | LeafKind::Float | LeafKind::Enum { .. }
                );
            if eight
                && cl.offset_bits % 64 == 0
                && gl.offset_bits != cl.offset_bits
                && !gl.offset_bits.is_multiple_of(64)
            {
                findings.push(
                    Finding::new(
                        "L018",
                        Severity::Error,
                        format!(
                            "on {} Go aligns 64-bit values to {} bytes, so `{}` lands at {} where C (aligned to 8) has it at {}",
                            go.arch,
                            go.max_scalar_align,
                            gl.path,
                            gl.offset_bits / 8,
                            cl.offset_bits / 8
                        ),
                    )
                    .at(loc(&cl.path, cl.offset_bits / 8))
                    .fix(format!(
                        "make the padding explicit: insert `_ [{}]byte` before `{}` (it then works on every GOARCH)",
                        (cl.offset_bits - gl.offset_bits.min(cl.offset_bits)) / 8,
                        gl.path
                    )),
                );
            }
        }
    }
    if go.pointer_size != c.pointer_size {
        findings.push(
            Finding::new(
                "L019",
                Severity::Info,
                format!(
                    "the Go binary has {}-byte pointers ({}), the BPF side {}-byte ({}): pointer-sized C fields must be uint{} in Go",
                    go.pointer_size,
                    go.arch,
                    c.pointer_size,
                    c.arch,
                    c.pointer_size * 8
                ),
            )
            .at(loc("", 0))
            .fix("never use int, uint or uintptr for map fields: their size follows GOARCH"),
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn build_rows(
    c_leaves: &[Leaf],
    go_leaves: &[Leaf],
    go_pad: &[Leaf],
    c_padding: &[PaddingRegion],
    go_gaps: &[PaddingRegion],
    pair_of_c: &[Option<usize>],
    go_used: &[bool],
    c_codes: &HashMap<usize, Vec<String>>,
    go_codes: &HashMap<usize, Vec<String>>,
) -> Vec<Row> {
    let mut rows: Vec<(u64, u8, Row)> = Vec::new();
    let codes_of = |ci: Option<usize>, gi: Option<usize>| {
        let mut v: Vec<String> = ci
            .and_then(|i| c_codes.get(&i))
            .cloned()
            .unwrap_or_default();
        v.extend(
            gi.and_then(|i| go_codes.get(&i))
                .cloned()
                .unwrap_or_default(),
        );
        v.sort();
        v.dedup();
        v
    };
    let serious = |v: &[String]| {
        v.iter()
            .any(|c| !matches!(c.as_str(), "L020" | "L021" | "L002"))
    };
    for (ci, cl) in c_leaves.iter().enumerate() {
        let kind = if cl.bitfield {
            CellKind::Bitfield
        } else {
            CellKind::Field
        };
        let codes = codes_of(Some(ci), pair_of_c[ci]);
        let row = match pair_of_c[ci] {
            Some(gi) => Row {
                go: Some(cell(&go_leaves[gi], CellKind::Field)),
                c: Some(cell(cl, kind)),
                status: if serious(&codes) {
                    RowStatus::Differs
                } else {
                    RowStatus::Same
                },
                codes,
            },
            None => Row {
                go: None,
                c: Some(cell(cl, kind)),
                status: RowStatus::COnly,
                codes,
            },
        };
        rows.push((cl.offset_bits, 0, row));
    }
    for (gi, gl) in go_leaves.iter().enumerate() {
        if pair_of_c.contains(&Some(gi)) {
            continue;
        }
        let codes = codes_of(None, Some(gi));
        rows.push((
            gl.offset_bits,
            1,
            Row {
                go: Some(cell(gl, CellKind::Field)),
                c: None,
                status: if go_used[gi] {
                    RowStatus::Same
                } else {
                    RowStatus::GoOnly
                },
                codes,
            },
        ));
    }
    for p in go_pad.iter().filter(|p| p.size_bits > 0) {
        rows.push((
            p.offset_bits,
            2,
            Row {
                go: Some(cell(p, CellKind::Padding)),
                c: None,
                status: RowStatus::Padding,
                codes: Vec::new(),
            },
        ));
    }
    for r in c_padding {
        rows.push((
            r.offset_bits,
            3,
            Row {
                go: None,
                c: Some(gap_cell(r)),
                status: RowStatus::Padding,
                codes: Vec::new(),
            },
        ));
    }
    for r in go_gaps {
        rows.push((
            r.offset_bits,
            4,
            Row {
                go: Some(gap_cell(r)),
                c: None,
                status: RowStatus::Padding,
                codes: Vec::new(),
            },
        ));
    }
    // Pair a lone C hole with a lone Go gap at the same place: one row for both.
    rows.sort_by_key(|(o, k, _)| (*o, *k));
    let mut merged: Vec<Row> = Vec::with_capacity(rows.len());
    for (_, _, row) in rows {
        if let (Some(prev), true) = (merged.last_mut(), row.status == RowStatus::Padding) {
            let same_place = |a: &Cell, b: &Cell| a.offset == b.offset && a.size == b.size;
            if prev.status == RowStatus::Padding {
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
