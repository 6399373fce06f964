//! Flattening a type into leaf fields with dotted paths (`hdr.addrs[2].port`) and into
//! the bit ranges that hold no field at all (holes and trailing padding, nested ones
//! included), which is what decoding and dump forensics work on.

use serde::{Deserialize, Serialize};

use crate::names::join_path;
use crate::types::{Composite, GoKind, IntEncoding, TypeId, TypeKind, TypeTable, MAX_DEPTH};
use crate::LayoutError;

/// At most this many leaves or padding regions come out of one type: a `u64[1 << 30]`
/// member must not become a billion fields.
pub const MAX_LEAVES: usize = 1 << 16;

/// At most this many steps (types entered, members looked at, regions copied) in one
/// flattening: a tiny graph can describe exponentially many paths (a struct holding 16
/// copies of a struct holding 16 copies of ... an empty struct), most of them without a
/// single field, so the work is bounded as well as the output.
pub const MAX_STEPS: usize = 1 << 18;

/// What a flattening collects, and the steps it has taken (shared with the walks it
/// starts for union alternatives and array elements).
struct Walk<T> {
    items: Vec<T>,
    steps: usize,
}

impl<T> Walk<T> {
    fn new(steps: usize) -> Self {
        Walk {
            items: Vec::new(),
            steps,
        }
    }

    fn step(&mut self, n: usize) -> Result<(), LayoutError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > MAX_STEPS {
            return Err(LayoutError::TooMany {
                what: "steps flattening one type",
                limit: MAX_STEPS,
            });
        }
        Ok(())
    }
}

impl<T> std::ops::Deref for Walk<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl<T> std::ops::DerefMut for Walk<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeafKind {
    Int {
        signed: bool,
    },
    Bool,
    Char {
        signed: bool,
    },
    Float,
    Complex,
    Enum {
        signed: bool,
    },
    Pointer,
    /// An array of one-byte elements, kept whole: `char comm[16]` is a string,
    /// `__u8 addr[4]` and Go `[16]byte` are bytes.
    Bytes {
        len: u64,
        text: bool,
    },
    /// A Go string, slice, map, interface, chan or func.
    GoOpaque {
        go_kind: GoKind,
    },
    /// A forward-declared or otherwise unsized type.
    Opaque,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Leaf {
    /// Dotted path from the top type: `hdr.addrs[2].port`. Members of anonymous structs
    /// and unions take their parent's path, as in C.
    pub path: String,
    pub offset_bits: u64,
    pub size_bits: u64,
    /// Set for bitfields: `size_bits` is then the width.
    pub bitfield: bool,
    #[serde(skip)]
    pub type_id: TypeId,
    pub type_name: String,
    #[serde(flatten)]
    pub kind: LeafKind,
    /// For leaves inside a union: the path of the union alternative they belong to.
    /// Several alternatives cover the same bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaddingKind {
    /// Between two members.
    Hole,
    /// After the last member of a struct (or the widest alternative of a union).
    Trailing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PaddingRegion {
    pub offset_bits: u64,
    pub size_bits: u64,
    pub kind: PaddingKind,
    /// Path of the aggregate the padding belongs to ("" for the top type).
    pub container: String,
    /// The member before it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl TypeTable {
    /// Leaf fields of a type, in offset order of declaration.
    pub fn leaves(&self, id: TypeId) -> Result<Vec<Leaf>, LayoutError> {
        let mut out = Walk::new(0);
        self.collect_leaves(id, "", 0, None, 0, &mut out)?;
        Ok(out.items)
    }

    /// True for one-byte integers and chars, which arrays keep as whole byte strings.
    fn byte_element(&self, elem: TypeId) -> Result<Option<bool>, LayoutError> {
        let r = self.resolve(elem)?;
        Ok(match &self.get(r)?.kind {
            TypeKind::Int {
                size: 1, encoding, ..
            } => Some(*encoding == IntEncoding::Char),
            _ => None,
        })
    }

    fn collect_leaves(
        &self,
        id: TypeId,
        path: &str,
        base_bits: u64,
        alternative: Option<&str>,
        depth: u32,
        out: &mut Walk<Leaf>,
    ) -> Result<(), LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id });
        }
        out.step(1)?;
        if out.len() >= MAX_LEAVES {
            return Err(LayoutError::TooMany {
                what: "leaf fields",
                limit: MAX_LEAVES,
            });
        }
        let resolved = self.resolve(id)?;
        let ty = self.get(resolved)?;
        let leaf = |kind: LeafKind, size_bits: u64| Leaf {
            path: path.to_string(),
            offset_bits: base_bits,
            size_bits,
            bitfield: false,
            type_id: id,
            type_name: self.type_name(id),
            kind,
            alternative: alternative.map(str::to_string),
        };
        let size_bits = self.size_of(resolved)?.saturating_mul(8);
        match &ty.kind {
            TypeKind::Struct(c) | TypeKind::Union(c) => {
                let is_union = matches!(ty.kind, TypeKind::Union(_));
                for m in &c.members {
                    out.step(1)?;
                    let name = m.name.as_deref().unwrap_or("");
                    let child_path = if m.embedded {
                        path.to_string()
                    } else {
                        join_path(path, name)
                    };
                    let offset = base_bits.saturating_add(m.offset_bits);
                    // Each union alternative gets a name; alternatives of an anonymous
                    // union are named by their own member path.
                    let alt_owned;
                    let alt = if is_union {
                        alt_owned = if child_path.is_empty() {
                            format!("{path}#{}", m.offset_bits)
                        } else {
                            child_path.clone()
                        };
                        Some(alt_owned.as_str())
                    } else {
                        alternative
                    };
                    if let Some(bits) = m.bitfield_bits {
                        let mkind = self.leaf_kind_of(m.ty)?;
                        out.push(Leaf {
                            path: child_path,
                            offset_bits: offset,
                            size_bits: u64::from(bits),
                            bitfield: true,
                            type_id: m.ty,
                            type_name: self.type_name(m.ty),
                            kind: mkind,
                            alternative: alt.map(str::to_string),
                        });
                    } else {
                        self.collect_leaves(m.ty, &child_path, offset, alt, depth + 1, out)?;
                    }
                }
                Ok(())
            }
            TypeKind::Array { elem, len } => {
                if let Some(text) = self.byte_element(*elem)? {
                    out.push(leaf(LeafKind::Bytes { len: *len, text }, size_bits));
                    return Ok(());
                }
                let elem_bits = self.size_of(*elem)?.saturating_mul(8);
                for i in 0..*len {
                    if out.len() >= MAX_LEAVES {
                        return Err(LayoutError::TooMany {
                            what: "leaf fields",
                            limit: MAX_LEAVES,
                        });
                    }
                    let child = format!("{path}[{i}]");
                    let before = out.len();
                    self.collect_leaves(
                        *elem,
                        &child,
                        base_bits.saturating_add(elem_bits.saturating_mul(i)),
                        alternative,
                        depth + 1,
                        out,
                    )?;
                    // Every element has the same fields: none, if the first has none
                    // (`int a[1 << 32][0]` must not take four billion steps).
                    if out.len() == before {
                        break;
                    }
                }
                Ok(())
            }
            _ => {
                out.push(leaf(self.leaf_kind_of(resolved)?, size_bits));
                Ok(())
            }
        }
    }

    /// What kind of scalar a (non-aggregate) type is.
    pub fn leaf_kind_of(&self, id: TypeId) -> Result<LeafKind, LayoutError> {
        let r = self.resolve(id)?;
        Ok(match &self.get(r)?.kind {
            TypeKind::Int {
                encoding: IntEncoding::Bool,
                ..
            } => LeafKind::Bool,
            TypeKind::Int {
                encoding: IntEncoding::Char,
                signed,
                ..
            } => LeafKind::Char { signed: *signed },
            TypeKind::Int { signed, .. } => LeafKind::Int { signed: *signed },
            TypeKind::Float { .. } => LeafKind::Float,
            TypeKind::Complex { .. } => LeafKind::Complex,
            TypeKind::Enum { signed, .. } => LeafKind::Enum { signed: *signed },
            TypeKind::Pointer { .. } => LeafKind::Pointer,
            TypeKind::GoOpaque { go_kind, .. } => LeafKind::GoOpaque { go_kind: *go_kind },
            TypeKind::Array { elem, len } => match self.byte_element(*elem)? {
                Some(text) => LeafKind::Bytes { len: *len, text },
                None => LeafKind::Opaque,
            },
            _ => LeafKind::Opaque,
        })
    }

    /// Every bit range of the type that no member covers: holes and trailing padding of
    /// the type itself and of every nested struct, array element and union (a union
    /// byte is padding only when no alternative covers it). Offsets from the type start.
    pub fn padding(&self, id: TypeId) -> Result<Vec<PaddingRegion>, LayoutError> {
        let mut out = Walk::new(0);
        self.collect_padding(id, "", 0, 0, &mut out)?;
        out.sort_by_key(|r| r.offset_bits);
        Ok(out.items)
    }

    fn collect_padding(
        &self,
        id: TypeId,
        path: &str,
        base_bits: u64,
        depth: u32,
        out: &mut Walk<PaddingRegion>,
    ) -> Result<(), LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id });
        }
        out.step(1)?;
        if out.len() >= MAX_LEAVES {
            return Err(LayoutError::TooMany {
                what: "padding regions",
                limit: MAX_LEAVES,
            });
        }
        let resolved = self.resolve(id)?;
        match &self.get(resolved)?.kind {
            TypeKind::Struct(c) => self.struct_padding(c, path, base_bits, depth, out),
            TypeKind::Union(c) => self.union_padding(c, path, base_bits, depth, out),
            TypeKind::Array { elem, len } => {
                self.array_padding(*elem, *len, path, base_bits, depth, out)
            }
            _ => Ok(()),
        }
    }

    /// Holes between members, and a bitfield's unused bits and trailing padding at the end.
    fn struct_padding(
        &self,
        c: &Composite,
        path: &str,
        base_bits: u64,
        depth: u32,
        out: &mut Walk<PaddingRegion>,
    ) -> Result<(), LayoutError> {
        let mut members: Vec<_> = c.members.iter().collect();
        members.sort_by_key(|m| m.offset_bits);
        let mut end = 0u64;
        let mut last: Option<String> = None;
        for m in members {
            out.step(1)?;
            let name = m.name.as_deref().unwrap_or("");
            let child = if m.embedded {
                path.to_string()
            } else {
                join_path(path, name)
            };
            if m.offset_bits > end {
                out.push(PaddingRegion {
                    offset_bits: base_bits.saturating_add(end),
                    size_bits: m.offset_bits - end,
                    kind: PaddingKind::Hole,
                    container: path.to_string(),
                    after: last.clone(),
                });
            }
            let msize = match m.bitfield_bits {
                Some(b) => u64::from(b),
                None => {
                    self.collect_padding(
                        m.ty,
                        &child,
                        base_bits.saturating_add(m.offset_bits),
                        depth + 1,
                        out,
                    )?;
                    self.size_of(m.ty)?.saturating_mul(8)
                }
            };
            end = end.max(m.offset_bits.saturating_add(msize));
            last = Some(child);
        }
        let total = c.size.saturating_mul(8);
        if total > end {
            // Unused bits of a bitfield's last byte are a hole; whole bytes
            // after that are trailing padding.
            let byte_end = end.div_ceil(8).saturating_mul(8);
            if byte_end > end {
                out.push(PaddingRegion {
                    offset_bits: base_bits.saturating_add(end),
                    size_bits: byte_end.min(total) - end,
                    kind: PaddingKind::Hole,
                    container: path.to_string(),
                    after: last.clone(),
                });
            }
            if total > byte_end {
                out.push(PaddingRegion {
                    offset_bits: base_bits.saturating_add(byte_end),
                    size_bits: total - byte_end,
                    kind: PaddingKind::Trailing,
                    container: path.to_string(),
                    after: last,
                });
            }
        }
        Ok(())
    }

    /// The bytes no alternative of a union covers.
    fn union_padding(
        &self,
        c: &Composite,
        path: &str,
        base_bits: u64,
        depth: u32,
        out: &mut Walk<PaddingRegion>,
    ) -> Result<(), LayoutError> {
        // Intersect the uncovered ranges of every alternative.
        let total = c.size.saturating_mul(8);
        let mut common: Option<Vec<(u64, u64)>> = None;
        for m in &c.members {
            out.step(1)?;
            let mut alt = Walk::new(out.steps);
            let msize = match m.bitfield_bits {
                Some(b) => u64::from(b),
                None => {
                    let name = m.name.as_deref().unwrap_or("");
                    self.collect_padding(m.ty, &join_path(path, name), 0, depth + 1, &mut alt)?;
                    self.size_of(m.ty)?.saturating_mul(8)
                }
            };
            out.steps = alt.steps;
            let mut gaps: Vec<(u64, u64)> = alt
                .iter()
                .map(|r| {
                    let s = m.offset_bits.saturating_add(r.offset_bits);
                    (s, s.saturating_add(r.size_bits))
                })
                .collect();
            if m.offset_bits > 0 {
                gaps.push((0, m.offset_bits));
            }
            let alt_end = m.offset_bits.saturating_add(msize);
            if total > alt_end {
                gaps.push((alt_end, total));
            }
            gaps.sort_unstable();
            common = Some(match common {
                None => gaps,
                Some(prev) => intersect(&prev, &gaps),
            });
        }
        let widest_end = c
            .members
            .iter()
            .map(|m| {
                let s = match m.bitfield_bits {
                    Some(b) => u64::from(b),
                    None => self.size_of(m.ty).unwrap_or(0).saturating_mul(8),
                };
                m.offset_bits.saturating_add(s)
            })
            .max()
            .unwrap_or(0);
        let gaps = common.unwrap_or_else(|| if total > 0 { vec![(0, total)] } else { vec![] });
        for (s, e) in gaps {
            out.push(PaddingRegion {
                offset_bits: base_bits.saturating_add(s),
                size_bits: e - s,
                kind: if s >= widest_end {
                    PaddingKind::Trailing
                } else {
                    PaddingKind::Hole
                },
                container: path.to_string(),
                after: None,
            });
        }
        Ok(())
    }

    /// One element's padding, repeated for every element.
    fn array_padding(
        &self,
        elem: TypeId,
        len: u64,
        path: &str,
        base_bits: u64,
        depth: u32,
        out: &mut Walk<PaddingRegion>,
    ) -> Result<(), LayoutError> {
        let mut one = Walk::new(out.steps);
        self.collect_padding(elem, "", 0, depth + 1, &mut one)?;
        out.steps = one.steps;
        if one.is_empty() {
            return Ok(());
        }
        let elem_bits = self.size_of(elem)?.saturating_mul(8);
        for i in 0..len {
            if out.len() + one.len() > MAX_LEAVES {
                return Err(LayoutError::TooMany {
                    what: "padding regions",
                    limit: MAX_LEAVES,
                });
            }
            out.step(one.len())?;
            let prefix = format!("{path}[{i}]");
            for r in one.iter() {
                out.push(PaddingRegion {
                    offset_bits: base_bits
                        .saturating_add(elem_bits.saturating_mul(i))
                        .saturating_add(r.offset_bits),
                    size_bits: r.size_bits,
                    kind: r.kind,
                    container: join_path(&prefix, &r.container),
                    after: r.after.as_ref().map(|a| join_path(&prefix, a)),
                });
            }
        }
        Ok(())
    }
}

/// Intersection of two sorted lists of half-open ranges.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::intersect;

    #[test]
    fn intersect_ranges() {
        assert_eq!(
            intersect(&[(0, 10), (20, 30)], &[(5, 25)]),
            vec![(5, 10), (20, 25)]
        );
        assert_eq!(intersect(&[(0, 10)], &[(10, 20)]), vec![]);
    }
}
