//! Alignment inference. BTF and Go DWARF record sizes and offsets, never alignment, so
//! it is derived the way the compilers lay types out, and said to be exact only where
//! nothing else fits what was recorded.
//!
//! For a C struct or union the lower bound is the alignment of its members (a named
//! bitfield counts its declared type, as SysV does), raised by tail padding that only a
//! larger alignment explains (an `aligned(N)` struct or member). Holes between members
//! raise nothing: unnamed and zero-width bitfields, which BTF drops, make holes of any
//! size, and btf_dump writes every alignment hole of vmlinux.h that way. A struct that
//! may be packed (a member off its alignment, a bitfield across its unit, a size that
//! is not a multiple) is only known to be 1-aligned. A type that some struct holds off
//! its alignment may carry the `packed` attribute itself (libbpf's "nested packed but
//! aligned" case): its lower bound falls to 1 as well.
//!
//! The upper bound is the largest power of two dividing the size, lowered by every use
//! in a struct or union that does not look packed: the type's alignment divides its
//! offset there and is at most the holder's. The alignment is exact when the bounds
//! meet; otherwise it is "at least" the lower one (an `aligned(16)` on a 16-byte struct
//! of `long`s leaves no trace in BTF unless a use shows it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::types::{Dialect, TypeId, TypeKind, TypeTable, MAX_DEPTH};
use crate::LayoutError;

/// An inferred alignment: exact, or the least the recorded layout allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Alignment {
    pub bytes: u32,
    /// False when a larger alignment would have produced the same sizes and offsets.
    pub exact: bool,
}

impl std::fmt::Display for Alignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.exact {
            write!(f, "{}", self.bytes)
        } else {
            write!(f, "at least {}", self.bytes)
        }
    }
}

/// No upper bound (a zero-size type used nowhere).
const UNBOUNDED: u64 = u64::MAX;
/// Gaps are not read as alignments beyond this (a page).
const MAX_EVIDENCE: u64 = 4096;

/// What an aggregate's own members and size say.
#[derive(Clone, Copy, Debug)]
struct Shape {
    /// Lower bound, reading the struct as not packed; 1 when it may be packed.
    lo: u32,
    maybe_packed: bool,
}

/// A member of aggregate type (or array of it) inside another aggregate.
#[derive(Clone, Copy, Debug)]
struct Use {
    holder: TypeId,
    offset_bits: u64,
}

/// Every use of each aggregate, by the used type's id (compressed rows).
#[derive(Debug, Default)]
struct Uses {
    starts: Vec<u32>,
    uses: Vec<Use>,
}

impl Uses {
    fn of(&self, id: TypeId) -> &[Use] {
        let i = id as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.uses.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    shape: OnceLock<Shape>,
    lo: OnceLock<u32>,
    hi: OnceLock<u64>,
    /// Set while the upper bound is being computed: a use cycle (hostile BTF) stops here.
    busy: AtomicBool,
    libbpf: OnceLock<u32>,
}

/// Memoized inference: the same shared types (every vmlinux struct reaches `list_head`)
/// are asked for again and again, and the walks must stay linear in the graph.
#[derive(Debug, Default)]
pub(crate) struct AlignCache {
    slots: Vec<Slot>,
    uses: OnceLock<Uses>,
    /// Whether anything is cached, so that changing the table stays cheap until then.
    used: AtomicBool,
}

impl AlignCache {
    pub(crate) fn with_len(n: usize) -> Self {
        let mut slots = Vec::with_capacity(n);
        slots.resize_with(n, Slot::default);
        AlignCache {
            slots,
            ..Default::default()
        }
    }

    /// Room for one more type; forgets everything if the new type may change it.
    pub(crate) fn push(&mut self) {
        if self.used.load(Ordering::Relaxed) {
            *self = AlignCache::with_len(self.slots.len());
        }
        self.slots.push(Slot::default());
    }

    /// Forgets everything: a type changed.
    pub(crate) fn invalidate(&mut self) {
        if self.used.load(Ordering::Relaxed) {
            *self = AlignCache::with_len(self.slots.len());
        }
    }

    fn slot(&self, id: TypeId) -> Option<&Slot> {
        self.used.store(true, Ordering::Relaxed);
        self.slots.get(id as usize)
    }
}

fn pow2_dividing(x: u64) -> u64 {
    if x == 0 {
        UNBOUNDED
    } else {
        1 << x.trailing_zeros()
    }
}

/// The smallest power of two, at least `from`, that rounds `end` up to exactly `at`.
fn gap_alignment(from: u32, end: u64, at: u64) -> Option<u32> {
    let mut a = u64::from(from.max(1));
    while a <= at.min(MAX_EVIDENCE) {
        if end.next_multiple_of(a) == at {
            return u32::try_from(a).ok();
        }
        a *= 2;
    }
    None
}

impl TypeTable {
    /// Alignment in bytes by the target's rules: exact for scalars and Go types, for a
    /// C struct or union the least alignment its recorded layout allows (see
    /// [`TypeTable::alignment`]).
    pub fn align_of(&self, id: TypeId) -> Result<u32, LayoutError> {
        Ok(self.alignment(id)?.bytes)
    }

    /// The inferred alignment and whether BTF determines it.
    pub fn alignment(&self, id: TypeId) -> Result<Alignment, LayoutError> {
        let base = self.strip_arrays(id)?;
        let exact = |bytes| Alignment { bytes, exact: true };
        Ok(match &self.get(base)?.kind {
            TypeKind::Struct(_) | TypeKind::Union(_) if self.target.dialect == Dialect::C => {
                let lo = self.lo_final(base, 0)?;
                let hi = self.hi_bound(base, 0)?;
                Alignment {
                    bytes: lo,
                    exact: hi == u64::from(lo),
                }
            }
            TypeKind::Struct(_) | TypeKind::Union(_) => exact(self.go_align(base, 0)?),
            TypeKind::Forward { .. } => Alignment {
                bytes: 1,
                exact: false,
            },
            _ => exact(self.scalar_align(base)?),
        })
    }

    /// Follows typedefs, qualifiers, type tags and array elements to the type whose
    /// alignment it is.
    fn strip_arrays(&self, mut id: TypeId) -> Result<TypeId, LayoutError> {
        for _ in 0..=MAX_DEPTH {
            match &self.get(id)?.kind {
                TypeKind::Typedef { target }
                | TypeKind::Qualified { target, .. }
                | TypeKind::TypeTag { target, .. } => id = *target,
                TypeKind::Array { elem, .. } => id = *elem,
                _ => return Ok(id),
            }
        }
        Err(LayoutError::TooDeep { id })
    }

    /// Scalars align to their size, capped by the target; what has no layout, to 1.
    fn scalar_align(&self, base: TypeId) -> Result<u32, LayoutError> {
        let cap = self.target.max_scalar_align.max(1);
        let scalar = |size: u32| size.clamp(1, cap).next_power_of_two().min(cap);
        Ok(match &self.get(base)?.kind {
            TypeKind::Int { size, .. } | TypeKind::Float { size } | TypeKind::Enum { size, .. } => {
                scalar(*size)
            }
            TypeKind::Complex { size } => scalar(size / 2),
            TypeKind::Pointer { .. } | TypeKind::GoOpaque { .. } => {
                scalar(self.target.pointer_size)
            }
            _ => 1,
        })
    }

    /// Go has no alignment attributes: a struct aligns to its most aligned field.
    fn go_align(&self, base: TypeId, depth: u32) -> Result<u32, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id: base });
        }
        let Some(slot) = self.align.slot(base) else {
            return Err(LayoutError::BadTypeId(base));
        };
        if let Some(&a) = slot.lo.get() {
            return Ok(a);
        }
        let a = match &self.get(base)?.kind {
            TypeKind::Struct(c) | TypeKind::Union(c) => {
                let mut natural = 1;
                for m in &c.members {
                    natural = natural.max(self.member_go_align(m.ty, depth + 1)?);
                }
                natural
            }
            _ => self.scalar_align(base)?,
        };
        let _ = slot.lo.set(a);
        Ok(a)
    }

    fn member_go_align(&self, ty: TypeId, depth: u32) -> Result<u32, LayoutError> {
        let base = self.strip_arrays(ty)?;
        self.go_align(base, depth)
    }

    /// Lower bound of a member's type as its own shape says (for telling whether a
    /// holder sits it off its alignment).
    fn shape_lo_of(&self, ty: TypeId, depth: u32) -> Result<u32, LayoutError> {
        let base = self.strip_arrays(ty)?;
        match &self.get(base)?.kind {
            TypeKind::Struct(_) | TypeKind::Union(_) => Ok(self.shape(base, depth)?.lo),
            TypeKind::Forward { .. } => Ok(1),
            _ => self.scalar_align(base),
        }
    }

    /// Lower bound of a member's type, counting every use of it.
    fn final_lo_of(&self, ty: TypeId, depth: u32) -> Result<u32, LayoutError> {
        let base = self.strip_arrays(ty)?;
        match &self.get(base)?.kind {
            TypeKind::Struct(_) | TypeKind::Union(_) => self.lo_final(base, depth),
            TypeKind::Forward { .. } => Ok(1),
            _ => self.scalar_align(base),
        }
    }

    /// The shape's lower bound, or 1 when some holder sits the type off it (the type
    /// may then be packed itself).
    fn lo_final(&self, base: TypeId, depth: u32) -> Result<u32, LayoutError> {
        let Some(slot) = self.align.slot(base) else {
            return Err(LayoutError::BadTypeId(base));
        };
        if let Some(&a) = slot.lo.get() {
            return Ok(a);
        }
        let shape = self.shape(base, depth)?;
        let bits = u64::from(shape.lo) * 8;
        let misplaced = self
            .uses()
            .of(base)
            .iter()
            .any(|u| u.offset_bits % bits != 0);
        let lo = if misplaced { 1 } else { shape.lo };
        let _ = slot.lo.set(lo);
        Ok(lo)
    }

    fn shape(&self, base: TypeId, depth: u32) -> Result<Shape, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id: base });
        }
        let Some(slot) = self.align.slot(base) else {
            return Err(LayoutError::BadTypeId(base));
        };
        if let Some(&s) = slot.shape.get() {
            return Ok(s);
        }
        let s = match &self.get(base)?.kind {
            TypeKind::Struct(c) => self.struct_shape(&c.members, c.size, depth)?,
            TypeKind::Union(c) => self.union_shape(&c.members, c.size, depth)?,
            _ => Shape {
                lo: self.scalar_align(base)?,
                maybe_packed: false,
            },
        };
        let _ = slot.shape.set(s);
        Ok(s)
    }

    fn struct_shape(
        &self,
        members: &[crate::Member],
        size: u64,
        depth: u32,
    ) -> Result<Shape, LayoutError> {
        let mut order: Vec<&crate::Member> = members.iter().collect();
        order.sort_by_key(|m| m.offset_bits);
        let mut natural = Natural::default();
        let mut end_bits = 0u64;
        for m in order {
            let member = self.member_bounds(m.ty, depth)?;
            natural.add(member);
            let bits = match m.bitfield_bits {
                Some(b) => {
                    let b = u64::from(b);
                    let unit = self.size_of(m.ty)?.saturating_mul(8);
                    if unit > 0 && (m.offset_bits % unit).saturating_add(b) > unit {
                        natural.maybe_packed = true;
                    }
                    b
                }
                None => {
                    if m.offset_bits % (u64::from(member.shape) * 8) != 0 {
                        natural.maybe_packed = true;
                    }
                    self.size_of(m.ty)?.saturating_mul(8)
                }
            };
            end_bits = end_bits.max(m.offset_bits.saturating_add(bits));
        }
        Ok(natural.finish(size, end_bits.div_ceil(8)))
    }

    fn union_shape(
        &self,
        members: &[crate::Member],
        size: u64,
        depth: u32,
    ) -> Result<Shape, LayoutError> {
        let mut natural = Natural::default();
        let mut end_bits = 0u64;
        for m in members {
            let member = self.member_bounds(m.ty, depth)?;
            natural.add(member);
            if m.bitfield_bits.is_none() && m.offset_bits % (u64::from(member.shape) * 8) != 0 {
                natural.maybe_packed = true;
            }
            let bits = match m.bitfield_bits {
                Some(b) => u64::from(b),
                None => self.size_of(m.ty)?.saturating_mul(8),
            };
            end_bits = end_bits.max(m.offset_bits.saturating_add(bits));
        }
        Ok(natural.finish(size, end_bits.div_ceil(8)))
    }

    fn member_bounds(&self, ty: TypeId, depth: u32) -> Result<MemberBounds, LayoutError> {
        Ok(MemberBounds {
            shape: self.shape_lo_of(ty, depth + 1)?,
            last: self.final_lo_of(ty, depth + 1)?,
        })
    }

    /// Upper bound: the size's largest power-of-two divisor, and for every use in a
    /// holder that does not look packed, its offset's and the holder's own bound.
    fn hi_bound(&self, base: TypeId, depth: u32) -> Result<u64, LayoutError> {
        let Some(slot) = self.align.slot(base) else {
            return Err(LayoutError::BadTypeId(base));
        };
        if let Some(&h) = slot.hi.get() {
            return Ok(h);
        }
        if depth > MAX_DEPTH || slot.busy.swap(true, Ordering::Relaxed) {
            // Too far up, or a cycle of holders: no constraint, which only loosens.
            return Ok(UNBOUNDED);
        }
        let result = self.hi_uncached(base, depth);
        slot.busy.store(false, Ordering::Relaxed);
        let h = result?;
        let _ = slot.hi.set(h);
        Ok(h)
    }

    fn hi_uncached(&self, base: TypeId, depth: u32) -> Result<u64, LayoutError> {
        let mut hi = pow2_dividing(self.size_of(base)?);
        for u in self.uses().of(base) {
            // A holder that may be packed, or that cannot be laid out (hostile BTF),
            // says nothing.
            if !matches!(self.shape(u.holder, 0), Ok(s) if !s.maybe_packed) {
                continue;
            }
            let holder = self.hi_bound(u.holder, depth + 1).unwrap_or(UNBOUNDED);
            hi = hi.min(pow2_dividing(u.offset_bits / 8)).min(holder);
        }
        Ok(hi)
    }

    fn uses(&self) -> &Uses {
        self.align.uses.get_or_init(|| {
            let mut pairs: Vec<(TypeId, Use)> = Vec::new();
            for (holder, t) in self.iter() {
                let (TypeKind::Struct(c) | TypeKind::Union(c)) = &t.kind else {
                    continue;
                };
                for m in c.members.iter().filter(|m| m.bitfield_bits.is_none()) {
                    let Ok(base) = self.strip_arrays(m.ty) else {
                        continue;
                    };
                    if let Ok(TypeKind::Struct(_) | TypeKind::Union(_)) =
                        self.get(base).map(|t| &t.kind)
                    {
                        pairs.push((
                            base,
                            Use {
                                holder,
                                offset_bits: m.offset_bits,
                            },
                        ));
                    }
                }
            }
            pairs.sort_by_key(|(id, _)| *id);
            let mut starts = vec![0u32; self.len() + 1];
            for (id, _) in &pairs {
                if let Some(s) = starts.get_mut(*id as usize + 1) {
                    *s += 1;
                }
            }
            for i in 1..starts.len() {
                starts[i] += starts[i - 1];
            }
            Uses {
                starts,
                uses: pairs.into_iter().map(|(_, u)| u).collect(),
            }
        })
    }

    /// Whether libbpf's btf_dump would print `__attribute__((packed))` for this struct:
    /// a member that is not a bitfield sits off its alignment, or the size is not a
    /// multiple of the largest member alignment, each by libbpf's `btf__align_of`.
    pub(crate) fn libbpf_packed(&self, base: TypeId) -> Result<bool, LayoutError> {
        let TypeKind::Struct(c) = &self.get(base)?.kind else {
            return Ok(false);
        };
        let mut max = 1u32;
        for m in &c.members {
            let a = self.libbpf_align(m.ty, 1)?;
            if m.bitfield_bits.is_none() && m.offset_bits % (u64::from(a) * 8) != 0 {
                return Ok(true);
            }
            max = max.max(a);
        }
        Ok(c.size % u64::from(max) != 0)
    }

    /// libbpf's `btf__align_of`: scalars to their size up to a pointer's, aggregates to
    /// their largest member's unless they look packed (then 1).
    fn libbpf_align(&self, ty: TypeId, depth: u32) -> Result<u32, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id: ty });
        }
        let base = self.strip_arrays(ty)?;
        let Some(slot) = self.align.slot(base) else {
            return Err(LayoutError::BadTypeId(base));
        };
        if let Some(&a) = slot.libbpf.get() {
            return Ok(a);
        }
        let ptr = self.target.pointer_size.max(1);
        let a = match &self.get(base)?.kind {
            TypeKind::Int { size, .. } | TypeKind::Float { size } | TypeKind::Enum { size, .. } => {
                (*size).clamp(1, ptr)
            }
            TypeKind::Struct(c) | TypeKind::Union(c) => {
                let mut max = 1u32;
                let mut off = false;
                for m in &c.members {
                    let a = self.libbpf_align(m.ty, depth + 1)?;
                    off |= m.bitfield_bits.is_none() && m.offset_bits % (u64::from(a) * 8) != 0;
                    max = max.max(a);
                }
                if off || c.size % u64::from(max) != 0 {
                    1
                } else {
                    max
                }
            }
            _ => self.scalar_align(base)?,
        };
        let _ = slot.libbpf.set(a);
        Ok(a)
    }
}

/// A member type's lower bound by its own shape, and counting its uses.
#[derive(Clone, Copy)]
struct MemberBounds {
    shape: u32,
    last: u32,
}

/// The largest member alignments seen so far, and whether packing showed.
#[derive(Default)]
struct Natural {
    shape: u32,
    last: u32,
    maybe_packed: bool,
}

impl Natural {
    fn add(&mut self, m: MemberBounds) {
        self.shape = self.shape.max(m.shape);
        self.last = self.last.max(m.last);
    }

    /// The lower bound from members and tail padding.
    fn finish(self, size: u64, data_end: u64) -> Shape {
        let shape = self.shape.max(1);
        if self.maybe_packed || !size.is_multiple_of(u64::from(shape)) {
            return Shape {
                lo: 1,
                maybe_packed: true,
            };
        }
        let mut lo = self.last.max(1);
        // Tail padding that an alignment explains is taken as one (an aligned struct or
        // member); tail that none explains is padding BTF does not show.
        if data_end < size {
            if let Some(tail) = gap_alignment(lo, data_end, size) {
                lo = tail;
            }
        }
        Shape {
            lo,
            maybe_packed: false,
        }
    }
}
