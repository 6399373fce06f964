//! The Go-vs-BTF layout cross-check: does a Go struct (from DWARF) mirror a BPF C type
//! (from BTF) byte for byte? Both are flattened to leaf fields; fields are matched by
//! name (then by position) and compared for offset, size and representation; unions,
//! bitfields, explicit `_` padding and the targets' rules are judged as a whole. Every
//! problem is a finding with an `L` code (docs/findings.md).

mod fields;
mod matching;
mod regions;
mod rows;

use std::collections::HashMap;

use mapsleuth_layout::{
    in_go_blank, ByteOrder, Finding, Layout, LayoutCode, LayoutError, Leaf, LeafKind, Location,
    PaddingRegion, Severity, Target,
};
use serde::Serialize;

use crate::pairing::MatchRule;
use fields::{go_spelling, FieldPair, Shift};
use matching::Matching;
use regions::{BitUnit, UnionRegion};

pub use mapsleuth_layout::TypeRef;
pub use rows::{Cell, CellKind, Row, RowStatus};

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

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

fn bytes(bits: u64) -> u64 {
    bits / 8
}

/// Cross-checks one pair. The Go side's target and the C side's target both matter:
/// offsets are compared as each compiler laid them out.
pub fn crosscheck(go: TypeRef, c: TypeRef, rule: MatchRule) -> Result<PairReport, LayoutError> {
    let s = Sides::new(go, c)?;
    let m = Matching::new(&s.go_leaves, &s.c_leaves);
    let out = Findings {
        list: Vec::new(),
        c_codes: HashMap::new(),
        go_codes: HashMap::new(),
        go_name: s.go_layout.type_name.clone(),
        c_name: s.c_layout.type_name.clone(),
    };
    let mut check = Check {
        s,
        m,
        out,
        mirrored_unions: Vec::new(),
    };
    // The order matters: unions and bitfield units claim Go fields (`go_used`) that
    // would otherwise count as extra, and findings at one offset keep this order.
    check.matched_fields();
    check.unions();
    check.bitfield_units();
    check.unmatched_c_fields();
    check.unmatched_go_fields();
    check.stray_padding();
    check.order();
    check.whole_struct();
    check.targets();
    if rule == MatchRule::Weak {
        check.weak_pair();
    }
    Ok(check.into_report(rule))
}

/// Both types of a pair, flattened once: what every check reads.
struct Sides<'a> {
    go: TypeRef<'a>,
    c: TypeRef<'a>,
    go_layout: Layout,
    c_layout: Layout,
    /// Go's leaves, without its blank `_` fields (those are `go_pad`).
    go_leaves: Vec<Leaf>,
    go_pad: Vec<Leaf>,
    /// Go's implicit padding.
    go_gaps: Vec<PaddingRegion>,
    c_leaves: Vec<Leaf>,
    c_padding: Vec<PaddingRegion>,
    unions: Vec<UnionRegion>,
    units: Vec<BitUnit>,
}

impl<'a> Sides<'a> {
    fn new(go: TypeRef<'a>, c: TypeRef<'a>) -> Result<Self, LayoutError> {
        let go_layout = go.table.layout(go.id)?;
        let c_layout = c.table.layout(c.id)?;
        let (go_pad, go_leaves) = go
            .table
            .leaves(go.id)?
            .into_iter()
            .partition(|l| in_go_blank(&l.path));
        let c_leaves = c.table.leaves(c.id)?;
        let c_padding = c.table.padding(c.id)?;
        let go_gaps = go.table.padding(go.id)?;
        let unions = regions::union_regions(c.table, c.id)?;
        let units = regions::bit_units(c.table, &c_leaves)?;
        Ok(Sides {
            go,
            c,
            go_layout,
            c_layout,
            go_leaves,
            go_pad,
            go_gaps,
            c_leaves,
            c_padding,
            unions,
            units,
        })
    }
}

/// The findings of a pair, and the codes each leaf's row shows.
struct Findings {
    list: Vec<Finding>,
    c_codes: HashMap<usize, Vec<String>>,
    go_codes: HashMap<usize, Vec<String>>,
    go_name: String,
    c_name: String,
}

impl Findings {
    /// A location in the pair: C type, Go type, field path and byte offset.
    fn loc(&self, field: &str, offset: u64) -> Location {
        Location {
            type_name: Some(self.c_name.clone()),
            other_type: Some(self.go_name.clone()),
            field: (!field.is_empty()).then(|| field.to_string()),
            offset: Some(offset),
            ..Default::default()
        }
    }

    /// A finding about the pair, a union or a unit: no leaf's row shows it.
    fn push(&mut self, f: Finding) {
        self.list.push(f);
    }

    fn code_for_c(&mut self, ci: usize, code: LayoutCode) {
        self.c_codes
            .entry(ci)
            .or_default()
            .push(code.as_str().to_string());
    }

    fn push_for_c(&mut self, ci: usize, f: Finding) {
        self.c_codes.entry(ci).or_default().push(f.code.clone());
        self.list.push(f);
    }

    fn push_for_go(&mut self, gi: usize, f: Finding) {
        self.go_codes.entry(gi).or_default().push(f.code.clone());
        self.list.push(f);
    }

    fn push_for_pair(&mut self, ci: usize, gi: usize, f: Finding) {
        self.go_codes.entry(gi).or_default().push(f.code.clone());
        self.push_for_c(ci, f);
    }
}

/// One cross-check under way: the sides, the matching, and the findings so far.
struct Check<'a> {
    s: Sides<'a>,
    m: Matching,
    out: Findings,
    /// Unions whose bytes Go holds whole: the bitfields inside them are judged with them.
    mirrored_unions: Vec<(u64, u64)>,
}

impl Check<'_> {
    /// Every matched pair of fields: offset, size, representation.
    fn matched_fields(&mut self) {
        let go_max_align = u64::from(self.s.go.table.target.max_scalar_align.max(1));
        let mut shift: Shift = None;
        for (ci, cleaf) in self.s.c_leaves.iter().enumerate() {
            let Some(gi) = self.m.pair_of_c[ci] else {
                continue;
            };
            let gleaf = &self.s.go_leaves[gi];
            if cleaf.bitfield && regions::holds_only_bitfields(gleaf, &self.s.c_leaves) {
                // A Go field named after the bitfield that holds just its bits: judged
                // with the rest of the storage unit.
                continue;
            }
            let at = self.out.loc(&cleaf.path, bytes(cleaf.offset_bits));
            let pair = FieldPair::new(cleaf, gleaf, at);
            let found = pair.findings(go_max_align, &mut shift);
            if found.is_empty() && self.m.by_position[ci] {
                // Matched only because it sits at the same place: say so quietly.
                self.out.push(pair.matched_by_position());
            }
            for f in found {
                self.out.push_for_pair(ci, gi, f);
            }
        }
    }

    /// L009, or L014 when Go's explicit padding hides it: C fields with no Go match.
    fn unmatched_c_fields(&mut self) {
        for (ci, cleaf) in self.s.c_leaves.iter().enumerate() {
            // Zero-size members (flexible arrays) have no bytes to mirror; a Go `[0]T` at
            // the end would even grow the struct (L016).
            if self.m.pair_of_c[ci].is_some()
                || cleaf.alternative.is_some()
                || cleaf.bitfield
                || cleaf.size_bits == 0
            {
                continue;
            }
            let coff = bytes(cleaf.offset_bits);
            let size = cleaf.size_bits.div_ceil(8);
            let want = format!("`{} {}`", camel(&cleaf.path), go_spelling(cleaf));
            let hidden = self.s.go_pad.iter().find(|p| {
                overlaps(
                    (p.offset_bits, p.size_bits),
                    (cleaf.offset_bits, cleaf.size_bits),
                )
            });
            let f = match hidden {
                Some(p) => Finding::new(
                    LayoutCode::PaddingMisplaced,
                    format!(
                        "C field `{}` ({size} bytes at {coff}) falls in Go's explicit padding \
                         `_ {}` at {}: Go never reads it",
                        cleaf.path,
                        p.type_name,
                        bytes(p.offset_bits)
                    ),
                )
                .fix(format!(
                    "declare {want} at offset {coff} instead of padding"
                )),
                None => Finding::new(
                    LayoutCode::MissingInGo,
                    format!(
                        "C field `{}` (`{}`, {size} bytes at {coff}) has no Go counterpart",
                        cleaf.path, cleaf.type_name
                    ),
                )
                .fix(format!("declare {want} at offset {coff}")),
            };
            let f = f.at(self.out.loc(&cleaf.path, coff));
            self.out.push_for_c(ci, f);
        }
    }

    /// L010: Go fields with no C match, in C's padding (a warning) or over C data.
    fn unmatched_go_fields(&mut self) {
        for (gi, gleaf) in self.s.go_leaves.iter().enumerate() {
            if self.m.go_used[gi] || gleaf.size_bits == 0 {
                continue;
            }
            let f = self.extra_go_field(gleaf);
            self.out.push_for_go(gi, f);
        }
    }

    fn extra_go_field(&self, gleaf: &Leaf) -> Finding {
        let span = (gleaf.offset_bits, gleaf.size_bits);
        let goff = bytes(gleaf.offset_bits);
        let size = gleaf.size_bits.div_ceil(8);
        let in_c_padding = self
            .s
            .c_padding
            .iter()
            .any(|p| p.offset_bits <= span.0 && p.offset_bits + p.size_bits >= span.0 + span.1);
        let c_size = self.s.c_layout.size;
        let (severity, message) = if in_c_padding {
            (
                Severity::Warning,
                format!(
                    "Go field `{}` ({size} bytes at {goff}) lies in C's padding: the kernel \
                     never writes it, so it holds zeroes or leftover bytes",
                    gleaf.path
                ),
            )
        } else if gleaf.offset_bits >= c_size * 8 {
            (
                Severity::Error,
                format!(
                    "Go field `{}` at {goff} lies past the end of the {c_size}-byte C type",
                    gleaf.path
                ),
            )
        } else {
            let over: Vec<&str> = self
                .s
                .c_leaves
                .iter()
                .filter(|c| overlaps((c.offset_bits, c.size_bits), span))
                .map(|c| c.path.as_str())
                .collect();
            (
                Severity::Error,
                format!(
                    "Go field `{}` ({size} bytes at {goff}) has no C counterpart; it overlaps C {}",
                    gleaf.path,
                    over.join(", ")
                ),
            )
        };
        Finding::with_severity(LayoutCode::MissingInC, severity, message)
            .at(Location {
                field: Some(gleaf.path.clone()),
                ..self.out.loc("", goff)
            })
            .fix("remove the field, or add it to the C struct too")
    }

    /// L014: explicit Go padding over a C field that Go also mirrors elsewhere.
    fn stray_padding(&mut self) {
        let (c_leaves, pair_of_c) = (&self.s.c_leaves, &self.m.pair_of_c);
        // Padding over a union or a bitfield unit was judged with it.
        let credited = |span: (u64, u64)| {
            self.s.units.iter().any(|u| overlaps(u.span(), span))
                || self.s.unions.iter().any(|u| overlaps(u.span(), span))
        };
        for p in &self.s.go_pad {
            let span = (p.offset_bits, p.size_bits);
            if p.size_bits == 0 || credited(span) {
                continue;
            }
            let Some(ci) = (0..c_leaves.len()).find(|&ci| {
                pair_of_c[ci].is_some()
                    && overlaps((c_leaves[ci].offset_bits, c_leaves[ci].size_bits), span)
            }) else {
                continue;
            };
            let c0 = &c_leaves[ci];
            let f = Finding::new(
                LayoutCode::PaddingMisplaced,
                format!(
                    "Go's explicit padding `_ {}` ({} bytes at {}) overlaps C field `{}` ({} \
                     bytes at {}): the padding no longer lines up with C's holes",
                    p.type_name,
                    p.size_bits / 8,
                    bytes(p.offset_bits),
                    c0.path,
                    c0.size_bits.div_ceil(8),
                    bytes(c0.offset_bits)
                ),
            )
            .at(self.out.loc(&c0.path, bytes(c0.offset_bits)))
            .fix(format!(
                "put the padding where C has its holes: {}",
                describe_holes(&self.s.c_padding)
            ));
            self.out.push_for_c(ci, f);
        }
    }

    /// L011: fields matched by name whose order differs.
    fn order(&mut self) {
        let (c_leaves, go_leaves) = (&self.s.c_leaves, &self.s.go_leaves);
        let mut named: Vec<(u64, u64, &str, &str)> = (0..c_leaves.len())
            .filter(|&ci| !self.m.by_position[ci] && c_leaves[ci].alternative.is_none())
            .filter_map(|ci| {
                self.m.pair_of_c[ci].map(|gi| {
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
        let Some(w) = named.windows(2).find(|w| w[1].1 < w[0].1) else {
            return;
        };
        let f = Finding::new(
            LayoutCode::Reordered,
            format!(
                "fields are in a different order: C declares `{}` before `{}`, Go declares `{}` \
                 after `{}`",
                w[0].2, w[1].2, w[0].3, w[1].3
            ),
        )
        .at(self.out.loc(w[1].2, bytes(w[1].0)))
        .fix(
            "declare the Go fields in the C order: Go lays fields out in declaration order, \
             never by name",
        );
        self.out.push(f);
    }

    /// L001 size, L016 trailing zero-size field, L002 alignment.
    fn whole_struct(&mut self) {
        let (gl, cl) = (&self.s.go_layout, &self.s.c_layout);
        let whole = self.out.loc("", 0);
        if gl.size != cl.size {
            let f = Finding::new(
                LayoutCode::SizeDiffers,
                format!(
                    "`{}` is {} bytes in Go but `{}` is {} bytes in C",
                    self.out.go_name, gl.size, self.out.c_name, cl.size
                ),
            )
            .at(whole.clone())
            .fix(
                "fix the field findings above; a map lookup with the wrong size fails with \
                 EINVAL or reads the wrong bytes",
            );
            self.out.push(f);
        }
        if let Some(f) = self.trailing_zero_size() {
            self.out.push(f);
        }
        // BTF may only bound C's alignment from below ("at least N"): a larger Go
        // alignment that C's size allows may be the same.
        let may_agree = gl.align == cl.align
            || (!cl.align_exact
                && gl.align > cl.align
                && cl.size.is_multiple_of(u64::from(gl.align)));
        if !may_agree {
            let c_align = if cl.align_exact {
                cl.align.to_string()
            } else {
                format!("at least {}", cl.align)
            };
            let f = Finding::new(
                LayoutCode::AlignDiffers,
                format!(
                    "alignment differs: {} in Go ({}), {c_align} in C ({})",
                    gl.align, self.s.go.table.target.arch, self.s.c.table.target.arch
                ),
            )
            .at(whole)
            .fix(
                "only matters when the struct is embedded in another or laid out in an array by \
                 a different rule; sizes decide map compatibility",
            );
            self.out.push(f);
        }
    }

    /// L016: Go pads a struct whose last field has size zero.
    fn trailing_zero_size(&self) -> Option<Finding> {
        let (gl, cl) = (&self.s.go_layout, &self.s.c_layout);
        let last = gl
            .members
            .iter()
            .max_by_key(|m| (m.offset_bits, m.size_bits))?;
        let data_end = gl
            .members
            .iter()
            .map(|m| m.offset + m.size)
            .max()
            .unwrap_or(0);
        let unpadded = data_end.next_multiple_of(u64::from(gl.align.max(1)));
        if last.size != 0 || gl.size <= unpadded || gl.size == cl.size {
            return None;
        }
        Some(
            Finding::new(
                LayoutCode::TrailingZeroSize,
                format!(
                    "Go's last field `{}` has size zero, so Go pads the struct past it (to {} \
                     bytes instead of {}): a pointer to it must not point past the object",
                    last.name, gl.size, unpadded
                ),
            )
            .at(self.out.loc(&last.name, last.offset))
            .fix(format!(
                "remove `{}` or move it before a non-zero-size field",
                last.name
            )),
        )
    }

    /// L017 byte order, L018 64-bit alignment on 32-bit targets, L019 pointer size.
    fn targets(&mut self) {
        let (go, c) = (&self.s.go.table.target, &self.s.c.table.target);
        if go.byte_order != c.byte_order {
            let f = byte_order_finding(go, c).at(self.out.loc("", 0));
            self.out.push(f);
        }
        if go.max_scalar_align < 8 {
            self.align64();
        }
        if go.pointer_size != c.pointer_size {
            let f = Finding::new(
                LayoutCode::PointerSizeDiffers,
                format!(
                    "the Go binary has {}-byte pointers ({}), the BPF side {}-byte ({}): \
                     pointer-sized C fields must be uint{} in Go",
                    go.pointer_size,
                    go.arch,
                    c.pointer_size,
                    c.arch,
                    c.pointer_size * 8
                ),
            )
            .at(self.out.loc("", 0))
            .fix("never use int, uint or uintptr for map fields: their size follows GOARCH");
            self.out.push(f);
        }
    }

    /// L018: on 386 and arm, gc aligns 64-bit values to 4 bytes; said where that moved
    /// one.
    fn align64(&mut self) {
        let go = &self.s.go.table.target;
        for (ci, cl) in self.s.c_leaves.iter().enumerate() {
            let Some(gi) = self.m.pair_of_c[ci] else {
                continue;
            };
            let gl = &self.s.go_leaves[gi];
            let eight = cl.size_bits == 64
                && matches!(
                    cl.kind,
                    LeafKind::Int { .. } | LeafKind::Float | LeafKind::Enum { .. }
                );
            if !(eight
                && cl.offset_bits % 64 == 0
                && gl.offset_bits != cl.offset_bits
                && !gl.offset_bits.is_multiple_of(64))
            {
                continue;
            }
            let f = Finding::new(
                LayoutCode::Align64,
                format!(
                    "on {} Go aligns 64-bit values to {} bytes, so `{}` lands at {} where C \
                     (aligned to 8) has it at {}",
                    go.arch,
                    go.max_scalar_align,
                    gl.path,
                    gl.offset_bits / 8,
                    cl.offset_bits / 8
                ),
            )
            .at(self.out.loc(&cl.path, cl.offset_bits / 8))
            .fix(format!(
                "make the padding explicit: insert `_ [{}]byte` before `{}` (it then works on \
                 every GOARCH)",
                (cl.offset_bits - gl.offset_bits.min(cl.offset_bits)) / 8,
                gl.path
            ));
            self.out.push(f);
        }
    }

    /// L021: the pair itself was made only by a naming convention.
    fn weak_pair(&mut self) {
        let (go_name, c_name) = (&self.out.go_name, &self.out.c_name);
        let c_bare = c_name
            .trim_start_matches("struct ")
            .trim_start_matches("union ");
        let f = Finding::new(
            LayoutCode::WeakPair,
            format!(
                "`{go_name}` was paired with `{c_name}` only by a naming convention (bpf2go \
                 prefix or `_t` suffix)"
            ),
        )
        .at(self.out.loc("", 0))
        .fix(format!("confirm with --pair {go_name}={c_bare}"));
        self.out.push(f);
    }

    fn into_report(mut self, rule: MatchRule) -> PairReport {
        self.out.list.sort_by_key(|f| {
            (
                f.location.offset.unwrap_or(0),
                std::cmp::Reverse(f.severity),
            )
        });
        let rows = self.rows();
        PairReport {
            go_type: self.out.go_name,
            c_type: self.out.c_name,
            matched_by: rule,
            go_layout: self.s.go_layout,
            c_layout: self.s.c_layout,
            rows,
            findings: self.out.list,
        }
    }
}

/// L017.
fn byte_order_finding(go: &Target, c: &Target) -> Finding {
    Finding::new(
        LayoutCode::ByteOrderDiffers,
        format!(
            "the Go binary is {} ({}) but the BPF types are {} ({}): every multi-byte field \
             reads byte-swapped",
            go.byte_order.as_str(),
            go.arch,
            c.byte_order.as_str(),
            c.arch
        ),
    )
    .fix(format!(
        "compile the BPF program for the Go program's machine: clang -target {}",
        if go.byte_order == ByteOrder::Big {
            "bpfeb"
        } else {
            "bpfel"
        }
    ))
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
