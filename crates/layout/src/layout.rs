//! The layout of one aggregate as pahole shows it: members at offsets, bitfields in
//! their storage units, holes between members and padding at the end.

use serde::{Deserialize, Serialize};

use crate::types::{Dialect, Target, TypeId, TypeKind, TypeTable};
use crate::LayoutError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AggregateKind {
    Struct,
    Union,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Bitfield {
    /// Width in bits.
    pub bits: u32,
    /// Byte offset of the storage unit (the member's declared type) that holds it.
    pub unit_offset: u64,
    /// Bytes in that storage unit.
    pub unit_size: u64,
    /// Bit position inside the storage unit, counted the way the struct's memory is
    /// laid out (from the first byte, as BTF and DWARF 4+ count).
    pub bit_in_unit: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LayoutMember {
    /// Member name; anonymous members (a nested anonymous struct or union) are empty.
    pub name: String,
    /// The member's type as the source language spells it.
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip)]
    pub type_id: TypeId,
    pub offset_bits: u64,
    pub size_bits: u64,
    /// Byte offset (floor of `offset_bits / 8`).
    pub offset: u64,
    /// Bytes of the member's type (for a bitfield: of its storage unit).
    pub size: u64,
    pub align: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitfield: Option<Bitfield>,
    /// A Go embedded field.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub embedded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Hole {
    /// Byte offset where the hole starts (floor).
    pub offset: u64,
    /// Whole bytes of the hole.
    pub size: u64,
    pub offset_bits: u64,
    pub size_bits: u64,
    /// The member after which the hole opens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Layout {
    /// The name asked for (a typedef name stays a typedef name).
    pub name: String,
    /// The aggregate's own name: `struct event`, `main.Event`.
    pub type_name: String,
    pub kind: AggregateKind,
    pub size: u64,
    /// Inferred: BTF records no alignment. Exact where `align_exact`, else the least
    /// alignment the recorded sizes and offsets allow (an `aligned(N)` attribute may
    /// raise it without a trace).
    pub align: u32,
    /// False where a larger alignment would leave the same sizes and offsets.
    pub align_exact: bool,
    pub members: Vec<LayoutMember>,
    pub holes: Vec<Hole>,
    /// Bytes after the last member up to `size`.
    pub trailing_padding: u64,
    /// Where libbpf's btf_dump (`bpftool btf dump ... format c`) prints
    /// `__attribute__((packed))`: a member off its alignment, or a size that is not a
    /// multiple of it. A packed struct whose layout is natural does not show.
    pub packed: bool,
    pub target: Target,
}

impl Layout {
    /// Sum of hole bytes, as pahole's `sum holes` line.
    pub fn hole_bytes(&self) -> u64 {
        self.holes.iter().map(|h| h.size).sum()
    }
}

impl TypeTable {
    /// The layout of a struct or union, reached through typedefs and qualifiers.
    pub fn layout(&self, id: TypeId) -> Result<Layout, LayoutError> {
        let resolved = self.resolve(id)?;
        let ty = self.get(resolved)?;
        let (kind, comp) = match &ty.kind {
            TypeKind::Struct(c) => (AggregateKind::Struct, c),
            TypeKind::Union(c) => (AggregateKind::Union, c),
            _ => {
                return Err(LayoutError::NotAggregate {
                    name: self.type_name(id),
                })
            }
        };
        let align = self.alignment(resolved)?;
        let mut members = Vec::with_capacity(comp.members.len());
        for m in &comp.members {
            let size = self.size_of(m.ty)?;
            let malign = self.align_of(m.ty)?;
            let (size_bits, bitfield) = match m.bitfield_bits {
                Some(bits) => {
                    let unit_bits = size.saturating_mul(8).max(1);
                    // The storage unit is the declared type, aligned to its size, even
                    // when a packed bitfield spills out of it (pahole shows it so).
                    let unit_start = m.offset_bits - m.offset_bits % unit_bits;
                    (
                        u64::from(bits),
                        Some(Bitfield {
                            bits,
                            unit_offset: unit_start / 8,
                            unit_size: size,
                            bit_in_unit: m.offset_bits - unit_start,
                        }),
                    )
                }
                None => (size.saturating_mul(8), None),
            };
            members.push(LayoutMember {
                name: m.name.clone().unwrap_or_default(),
                type_name: self.type_name(m.ty),
                type_id: m.ty,
                offset_bits: m.offset_bits,
                size_bits,
                offset: m.offset_bits / 8,
                size,
                align: malign,
                bitfield,
                embedded: m.embedded,
            });
        }
        let mut holes = Vec::new();
        let mut trailing_padding = comp.size;
        if kind == AggregateKind::Struct {
            let mut order: Vec<usize> = (0..members.len()).collect();
            order.sort_by_key(|&i| members[i].offset_bits);
            let mut end_bits = 0u64;
            let mut last: Option<&str> = None;
            for &i in &order {
                let m = &members[i];
                if m.offset_bits > end_bits {
                    holes.push(Hole {
                        offset: end_bits / 8,
                        size: (m.offset_bits - end_bits) / 8,
                        offset_bits: end_bits,
                        size_bits: m.offset_bits - end_bits,
                        after: last.map(str::to_string),
                    });
                }
                end_bits = end_bits.max(m.offset_bits.saturating_add(m.size_bits));
                last = Some(m.name.as_str());
            }
            let used = end_bits.div_ceil(8);
            // Bits left over in the last bitfield's unit are a bit hole, not padding.
            if !end_bits.is_multiple_of(8) {
                holes.push(Hole {
                    offset: end_bits / 8,
                    size: 0,
                    offset_bits: end_bits,
                    size_bits: 8 - end_bits % 8,
                    after: last.map(str::to_string),
                });
            }
            trailing_padding = comp.size.saturating_sub(used);
        } else {
            let widest = members
                .iter()
                .map(|m| m.size_bits.div_ceil(8))
                .max()
                .unwrap_or(0);
            trailing_padding = trailing_padding.saturating_sub(widest);
        }
        let packed = self.libbpf_packed(resolved)?;
        Ok(Layout {
            name: self.type_name(id),
            type_name: self.type_name(resolved),
            kind,
            size: comp.size,
            align: align.bytes,
            align_exact: align.exact,
            members,
            holes,
            trailing_padding,
            packed,
            target: self.target.clone(),
        })
    }

    /// Finds the aggregate (or typedef of one) a user means by `name`: an exact type
    /// name first, then `struct NAME`/`union NAME` spelled out, for C; for Go also the
    /// name without its package path when that is unambiguous.
    pub fn lookup(&self, name: &str) -> Result<TypeId, LayoutError> {
        let bare = name
            .strip_prefix("struct ")
            .or_else(|| name.strip_prefix("union "))
            .or_else(|| name.strip_prefix("enum "))
            .unwrap_or(name)
            .trim();
        let want_kind = if name.starts_with("struct ") {
            Some("struct")
        } else if name.starts_with("union ") {
            Some("union")
        } else if name.starts_with("enum ") {
            Some("enum")
        } else {
            None
        };
        let kind_ok = |k: &TypeKind| match want_kind {
            None => !matches!(k, TypeKind::Function | TypeKind::Forward { .. }),
            Some("struct") => matches!(k, TypeKind::Struct(_)),
            Some("union") => matches!(k, TypeKind::Union(_)),
            Some(_) => matches!(k, TypeKind::Enum { .. }),
        };
        let exact: Vec<TypeId> = self
            .iter()
            .filter(|(_, t)| t.name.as_deref() == Some(bare) && kind_ok(&t.kind))
            .map(|(id, _)| id)
            .collect();
        if let Some(best) = self.prefer_defined(&exact) {
            return Ok(best);
        }
        if self.target.dialect == Dialect::Go {
            let suffix_matches: Vec<(TypeId, String)> = self
                .iter()
                .filter(|(_, t)| kind_ok(&t.kind))
                .filter_map(|(id, t)| {
                    let n = t.name.as_deref()?;
                    let short = go_short_name(n);
                    (short == bare || n.ends_with(&format!("/{bare}"))).then(|| (id, n.to_string()))
                })
                .collect();
            let mut names: Vec<String> = suffix_matches.iter().map(|(_, n)| n.clone()).collect();
            names.sort();
            names.dedup();
            match names.len() {
                0 => {}
                1 => {
                    let ids: Vec<TypeId> = suffix_matches.iter().map(|(id, _)| *id).collect();
                    if let Some(best) = self.prefer_defined(&ids) {
                        return Ok(best);
                    }
                }
                _ => {
                    return Err(LayoutError::Ambiguous {
                        name: name.to_string(),
                        candidates: names,
                    })
                }
            }
        }
        Err(LayoutError::NotFound {
            name: name.to_string(),
        })
    }

    /// Among same-named types, the one with a layout (a struct over its forward
    /// declaration, a typedef that leads to one over a bare integer of that name).
    fn prefer_defined(&self, ids: &[TypeId]) -> Option<TypeId> {
        ids.iter()
            .copied()
            .find(|&id| {
                self.resolve(id)
                    .ok()
                    .and_then(|r| self.get(r).ok())
                    .is_some_and(|t| matches!(t.kind, TypeKind::Struct(_) | TypeKind::Union(_)))
            })
            .or_else(|| ids.first().copied())
    }
}

/// `example.com/app/good.Event` → `good.Event`; `main.Event` stays.
pub fn go_short_name(name: &str) -> &str {
    // Generic arguments may contain slashes: cut the path before the first '['.
    let head_end = name.find('[').unwrap_or(name.len());
    match name[..head_end].rfind('/') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}
