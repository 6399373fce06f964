//! Parts of the C type judged as a whole: unions (Go mirrors one alternative, or the
//! bytes) and bitfield storage units (Go has no bitfields).

use mapsleuth_layout::{
    ByteOrder, Finding, LayoutCode, LayoutError, Leaf, LeafKind, Severity, TypeId, TypeKind,
    TypeTable, MAX_DEPTH, MAX_LEAVES,
};

use super::fields::go_int;
use super::{bytes, overlaps, Check};

/// A union somewhere in the C type: the bytes it spans and its alternatives.
pub(super) struct UnionRegion {
    path: String,
    offset_bits: u64,
    size_bits: u64,
    alternatives: Vec<String>,
}

impl UnionRegion {
    pub(super) fn span(&self) -> (u64, u64) {
        (self.offset_bits, self.size_bits)
    }
}

/// A bitfield storage unit of the C type and the bitfields in it.
pub(super) struct BitUnit {
    offset: u64,
    size: u64,
    type_name: String,
    /// (leaf index, bit position inside the unit, width)
    fields: Vec<(usize, u64, u64)>,
}

impl BitUnit {
    pub(super) fn span(&self) -> (u64, u64) {
        (self.offset * 8, self.size * 8)
    }
}

/// Every union in the type, nested ones and those in arrays included.
pub(super) fn union_regions(
    table: &TypeTable,
    id: TypeId,
) -> Result<Vec<UnionRegion>, LayoutError> {
    let mut walk = UnionWalk {
        table,
        out: Vec::new(),
    };
    walk.walk(id, "", 0, 0)?;
    Ok(walk.out)
}

struct UnionWalk<'t> {
    table: &'t TypeTable,
    out: Vec<UnionRegion>,
}

impl UnionWalk<'_> {
    fn walk(&mut self, id: TypeId, path: &str, base: u64, depth: u32) -> Result<(), LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id });
        }
        let table = self.table;
        let r = table.resolve(id)?;
        match &table.get(r)?.kind {
            TypeKind::Union(c) => {
                let alternatives = c
                    .members
                    .iter()
                    .map(|m| {
                        let name = m.name.as_deref().unwrap_or("(anon)");
                        format!("{} {name}", table.type_name(m.ty))
                    })
                    .collect();
                self.out.push(UnionRegion {
                    path: if path.is_empty() {
                        "(union)".into()
                    } else {
                        path.to_string()
                    },
                    offset_bits: base,
                    size_bits: c.size.saturating_mul(8),
                    alternatives,
                });
            }
            TypeKind::Struct(c) => {
                for m in c.members.iter().filter(|m| m.bitfield_bits.is_none()) {
                    let name = m.name.as_deref().unwrap_or("");
                    let child = mapsleuth_layout::join_path(path, name);
                    self.walk(m.ty, &child, base.saturating_add(m.offset_bits), depth + 1)?;
                }
            }
            TypeKind::Array { elem, len } => self.array(*elem, *len, path, base, depth)?,
            _ => {}
        }
        Ok(())
    }

    fn array(
        &mut self,
        elem: TypeId,
        len: u64,
        path: &str,
        base: u64,
        depth: u32,
    ) -> Result<(), LayoutError> {
        let elem_bits = self.table.size_of(elem)?.saturating_mul(8);
        for i in 0..len {
            if self.out.len() >= MAX_LEAVES {
                return Err(LayoutError::TooMany {
                    what: "unions",
                    limit: MAX_LEAVES,
                });
            }
            let before = self.out.len();
            let offset = base.saturating_add(elem_bits.saturating_mul(i));
            self.walk(elem, &format!("{path}[{i}]"), offset, depth + 1)?;
            if self.out.len() == before {
                break; // no unions in the element type: none in the others
            }
        }
        Ok(())
    }
}

/// The storage units of the C type's bitfields, each with its bitfields.
pub(super) fn bit_units(table: &TypeTable, leaves: &[Leaf]) -> Result<Vec<BitUnit>, LayoutError> {
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
pub(super) fn holds_only_bitfields(go: &Leaf, c_leaves: &[Leaf]) -> bool {
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

/// How Go mirrors a union.
enum UnionCover {
    /// One free Go field of exactly its offset and size.
    Whole(usize),
    /// Go fields matched with its alternatives (bpf2go: the first one, then padding).
    Alternatives {
        names: Vec<String>,
        /// Bits the largest of them covers.
        covered_bits: u64,
        /// Whether that and the padding after it leave bytes of the union uncovered.
        partial: bool,
    },
    /// Explicit Go padding over all of it.
    Padding,
    Missing,
}

impl Check<'_> {
    /// L020 or L009 for every union of the C type.
    pub(super) fn unions(&mut self) {
        for u in &self.s.unions {
            let covering_pad = self.pad_covers(u.span());
            let cover = self.union_cover(u, covering_pad);
            if matches!(cover, UnionCover::Whole(_)) || covering_pad {
                self.mirrored_unions.push(u.span());
            }
            if let UnionCover::Whole(gi) = cover {
                self.m.go_used[gi] = true;
            }
            let f = self.union_finding(u, &cover);
            self.out.push(f);
        }
    }

    /// Whether explicit Go padding covers all of `span`.
    fn pad_covers(&self, span: (u64, u64)) -> bool {
        self.s
            .go_pad
            .iter()
            .any(|p| p.offset_bits <= span.0 && p.offset_bits + p.size_bits >= span.0 + span.1)
    }

    fn union_cover(&self, u: &UnionRegion, covering_pad: bool) -> UnionCover {
        let (c_leaves, go_leaves) = (&self.s.c_leaves, &self.s.go_leaves);
        let whole = (0..go_leaves.len()).find(|&gi| {
            !self.m.go_used[gi]
                && go_leaves[gi].offset_bits == u.offset_bits
                && go_leaves[gi].size_bits == u.size_bits
        });
        if let Some(gi) = whole {
            return UnionCover::Whole(gi);
        }
        let matched_alt: Vec<usize> = (0..c_leaves.len())
            .filter(|&ci| {
                self.m.pair_of_c[ci].is_some()
                    && c_leaves[ci].alternative.is_some()
                    && overlaps((c_leaves[ci].offset_bits, c_leaves[ci].size_bits), u.span())
            })
            .collect();
        if matched_alt.is_empty() {
            return if covering_pad {
                UnionCover::Padding
            } else {
                UnionCover::Missing
            };
        }
        let covered_bits: u64 = matched_alt
            .iter()
            .filter_map(|&ci| self.m.pair_of_c[ci].map(|gi| go_leaves[gi].size_bits))
            .max()
            .unwrap_or(0);
        // bpf2go mirrors a union as its first member plus `_ [N]byte` for the rest:
        // that covers every byte.
        let pad_after = self
            .s
            .go_pad
            .iter()
            .filter(|p| {
                p.offset_bits >= u.offset_bits + covered_bits
                    && p.offset_bits + p.size_bits <= u.offset_bits + u.size_bits
            })
            .map(|p| p.size_bits)
            .sum::<u64>();
        UnionCover::Alternatives {
            names: matched_alt
                .iter()
                .map(|&ci| c_leaves[ci].path.clone())
                .collect(),
            covered_bits,
            partial: covered_bits + pad_after < u.size_bits,
        }
    }

    fn union_finding(&self, u: &UnionRegion, cover: &UnionCover) -> Finding {
        let size = bytes(u.size_bits);
        let off = bytes(u.offset_bits);
        let what = format!(
            "union `{}` ({size} bytes at {off}; alternatives: {})",
            u.path,
            u.alternatives.join(", ")
        );
        let f = match cover {
            UnionCover::Whole(gi) => {
                let g = &self.s.go_leaves[*gi];
                Finding::with_severity(
                    LayoutCode::Union,
                    Severity::Info,
                    format!(
                        "{what} is mirrored by Go field `{}` ({}) covering all of it",
                        g.path, g.type_name
                    ),
                )
                .fix("decode the alternative you need from those bytes")
            }
            UnionCover::Alternatives {
                names,
                covered_bits,
                partial,
            } => alternatives_finding(&what, size, names, *covered_bits, *partial),
            UnionCover::Padding => Finding::with_severity(
                LayoutCode::Union,
                Severity::Info,
                format!(
                    "{what} is covered by explicit Go padding: its value is not readable from Go"
                ),
            )
            .fix(format!(
                "declare a named `[{size}]byte` field there to read it"
            )),
            UnionCover::Missing => Finding::new(
                LayoutCode::MissingInGo,
                format!("{what} has no Go counterpart"),
            )
            .fix(format!("declare a `[{size}]byte` field at offset {off}")),
        };
        f.at(self.out.loc(&u.path, off))
    }

    /// L013 for every bitfield storage unit Go does not misread field by field.
    pub(super) fn bitfield_units(&mut self) {
        for u in &self.s.units {
            let misread = |&(i, _, _): &(usize, u64, u64)| {
                self.m.pair_of_c[i].is_some_and(|gi| {
                    !holds_only_bitfields(&self.s.go_leaves[gi], &self.s.c_leaves)
                })
            };
            if u.fields.iter().all(misread) {
                continue; // each pairing already reported L013
            }
            let (start, len) = u.span();
            if self
                .mirrored_unions
                .iter()
                .any(|&(o, n)| o <= start && start + len <= o + n)
            {
                continue; // inside a union Go mirrors as bytes: said with the union (L020)
            }
            let cover = self.unit_cover(u);
            if let Some(gi) = cover {
                self.m.go_used[gi] = true;
            }
            let f = self.unit_finding(u, cover);
            self.out.push(f);
            for (i, _, _) in &u.fields {
                self.out.code_for_c(*i, LayoutCode::Bitfields);
            }
        }
    }

    /// The Go field holding the unit: an integer over the whole unit, or over just the
    /// bytes its bitfields use.
    fn unit_cover(&self, u: &BitUnit) -> Option<usize> {
        let (c_leaves, go_leaves) = (&self.s.c_leaves, &self.s.go_leaves);
        let span = u.span();
        let fields_span = u
            .fields
            .iter()
            .fold((u64::MAX, 0u64), |(lo, hi), &(i, _, _)| {
                let l = &c_leaves[i];
                (lo.min(l.offset_bits), hi.max(l.offset_bits + l.size_bits))
            });
        let bitfield_pair = |gi: usize| {
            self.m
                .pair_of_c
                .iter()
                .enumerate()
                .any(|(ci, p)| *p == Some(gi) && c_leaves[ci].bitfield)
        };
        (0..go_leaves.len()).find(|&gi| {
            let g = &go_leaves[gi];
            let holds = g.offset_bits <= fields_span.0
                && g.offset_bits + g.size_bits >= fields_span.1
                && holds_only_bitfields(g, c_leaves);
            // A field holding only bitfields may serve several units (packed structs
            // put one unit's bitfields across another's bytes).
            holds
                || ((!self.m.go_used[gi] || bitfield_pair(gi))
                    && g.offset_bits == span.0
                    && g.size_bits == span.1)
        })
    }

    /// How to extract each bitfield from the unit, in the target's bit numbering.
    fn unit_recipe(&self, u: &BitUnit) -> Vec<String> {
        let big = self.s.c.table.target.byte_order == ByteOrder::Big;
        u.fields
            .iter()
            .map(|&(i, bit, width)| {
                let path = &self.s.c_leaves[i].path;
                // A packed bitfield may spill out of its unit: no single shift then.
                let shift = if big {
                    (u.size * 8).checked_sub(bit + width)
                } else {
                    Some(bit)
                };
                match shift {
                    Some(shift) if bit + width <= u.size * 8 => format!(
                        "{path} = (unit >> {shift}) & {:#x}",
                        if width >= 64 {
                            u64::MAX
                        } else {
                            (1u64 << width) - 1
                        }
                    ),
                    _ => format!(
                        "{path} = {width} bits from bit {bit} of the bytes at offset {} (it \
                         spills past its {}-byte unit)",
                        u.offset, u.size
                    ),
                }
            })
            .collect()
    }

    fn unit_finding(&self, u: &BitUnit, cover: Option<usize>) -> Finding {
        let big = self.s.c.table.target.byte_order == ByteOrder::Big;
        let recipe = self.unit_recipe(u).join("; ");
        let names: Vec<&str> = u
            .fields
            .iter()
            .map(|(i, _, _)| self.s.c_leaves[*i].path.as_str())
            .collect();
        let first = names.first().copied().unwrap_or("");
        let what = format!(
            "C bitfields {} share a {}-byte `{}` unit at offset {}",
            names.join(", "),
            u.size,
            u.type_name,
            u.offset
        );
        let info = Severity::Info;
        let f = if let Some(gi) = cover {
            let g = &self.s.go_leaves[gi];
            let order = if big {
                "big-endian bit numbering"
            } else {
                "little-endian"
            };
            Finding::with_severity(
                LayoutCode::Bitfields,
                info,
                format!(
                    "{what}; Go field `{}` ({}) holds the whole unit, which is the right mirror",
                    g.path, g.type_name
                ),
            )
            .fix(format!("extract with shifts ({order}): {recipe}"))
        } else if self.pad_covers(u.span()) {
            Finding::with_severity(
                LayoutCode::Bitfields,
                info,
                format!(
                    "{what}; Go covers it with explicit padding, so their values are not \
                     readable from Go"
                ),
            )
            .fix(format!(
                "declare a named `{}` field for the unit and extract with shifts: {recipe}",
                go_int(u.size, false)
            ))
        } else {
            Finding::new(
                LayoutCode::Bitfields,
                format!("{what} that Go does not mirror"),
            )
            .fix(format!(
                "declare `Bits {}` at offset {} and extract with shifts: {recipe}",
                go_int(u.size, false),
                u.offset
            ))
        };
        f.at(self.out.loc(first, u.offset))
    }
}

/// L020 for a union Go mirrors through its alternatives: a warning when they cover
/// less than the union.
fn alternatives_finding(
    what: &str,
    size: u64,
    names: &[String],
    covered_bits: u64,
    partial: bool,
) -> Finding {
    let mut message = format!(
        "{what} is mirrored in Go by alternative {}",
        names.join(", ")
    );
    let (severity, fix) = if partial {
        message.push_str(&format!(
            ", which covers only {} of its {size} bytes",
            covered_bits / 8
        ));
        (
            Severity::Warning,
            format!(
                "declare a field of the union's full size ({size} bytes), e.g. `[{size}]byte`, \
                 and decode alternatives from it"
            ),
        )
    } else {
        (
            Severity::Info,
            "fine while the kernel writes that alternative; another alternative needs its own \
             decoding"
                .to_string(),
        )
    };
    Finding::with_severity(LayoutCode::Union, severity, message).fix(fix)
}
