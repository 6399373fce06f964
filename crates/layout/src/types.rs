//! The type graph: every type is a node, typedefs and qualifiers included, so that what
//! the source said stays visible (`__u64` is a typedef of `unsigned long long`, not an
//! anonymous 8-byte integer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::LayoutError;

/// Index of a type in its [`TypeTable`]. Id 0 is always `void`, as in BTF.
pub type TypeId = u32;

/// The deepest type nesting any walk follows (the seeds' own bound).
pub const MAX_DEPTH: u32 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ByteOrder::Little => "little-endian",
            ByteOrder::Big => "big-endian",
        }
    }
}

/// Which language's spelling and rules the types follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    C,
    Go,
}

/// What the types were compiled for: byte order, pointer size and how far scalars align.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    /// `bpf`, `bpfeb`, `x86_64`, `amd64`, `386`, `s390x`, ... or `unknown`.
    pub arch: String,
    pub byte_order: ByteOrder,
    /// Bytes in a pointer.
    pub pointer_size: u32,
    /// Largest alignment a scalar type gets: 16 for C on LP64 (`__int128`), 8 for Go on
    /// 64-bit targets, 4 for Go on 386 and arm, where a `uint64` is only 4-aligned.
    pub max_scalar_align: u32,
    pub dialect: Dialect,
}

impl Target {
    /// BPF programs: LP64 with natural alignment, in either byte order.
    pub fn bpf(byte_order: ByteOrder) -> Self {
        Target {
            arch: match byte_order {
                ByteOrder::Little => "bpf".into(),
                ByteOrder::Big => "bpfeb".into(),
            },
            byte_order,
            pointer_size: 8,
            max_scalar_align: 16,
            dialect: Dialect::C,
        }
    }

    /// A Go target, with gc's rule that scalars align to at most the word size.
    pub fn go(arch: &str, byte_order: ByteOrder, pointer_size: u32) -> Self {
        Target {
            arch: arch.to_string(),
            byte_order,
            pointer_size,
            max_scalar_align: pointer_size.max(1),
            dialect: Dialect::Go,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntEncoding {
    Plain,
    Char,
    Bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Qualifier {
    Const,
    Volatile,
    Restrict,
}

/// Go kinds that hold pointers or runtime headers: they have a size, but their bytes
/// mean nothing outside the Go process, so they can never be copied to or from a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GoKind {
    String,
    Slice,
    Map,
    Interface,
    Chan,
    Func,
    UnsafePointer,
}

impl GoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GoKind::String => "string",
            GoKind::Slice => "slice",
            GoKind::Map => "map",
            GoKind::Interface => "interface",
            GoKind::Chan => "chan",
            GoKind::Func => "func",
            GoKind::UnsafePointer => "unsafe.Pointer",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EnumValue {
    pub name: String,
    /// Wide enough for both signed 64-bit and unsigned 64-bit (ENUM64) values.
    pub value: i128,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Member {
    /// `None` for anonymous struct/union members, whose fields belong to the parent.
    pub name: Option<String>,
    pub ty: TypeId,
    pub offset_bits: u64,
    /// Width in bits for a bitfield member.
    pub bitfield_bits: Option<u32>,
    /// A Go embedded field: its fields are promoted into the parent.
    pub embedded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Composite {
    /// Bytes.
    pub size: u64,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TypeKind {
    Void,
    Int {
        size: u32,
        signed: bool,
        encoding: IntEncoding,
    },
    Float {
        size: u32,
    },
    /// Go `complex64`/`complex128`: two floats.
    Complex {
        size: u32,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
    },
    Pointer {
        target: TypeId,
    },
    /// Multi-dimensional arrays are arrays of arrays; `len` 0 is a flexible or
    /// zero-length array.
    Array {
        elem: TypeId,
        len: u64,
    },
    Struct(Composite),
    Union(Composite),
    Typedef {
        target: TypeId,
    },
    Qualified {
        qualifier: Qualifier,
        target: TypeId,
    },
    /// BTF `type_tag`: an annotation on the type it wraps, with no layout of its own.
    TypeTag {
        tag: String,
        target: TypeId,
    },
    /// A declared but never defined struct or union: its size is unknown.
    Forward {
        union: bool,
    },
    GoOpaque {
        go_kind: GoKind,
        size: u32,
    },
    /// Functions and function prototypes: not data, kept so that pointers to them have
    /// a target.
    Function,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Type {
    pub name: Option<String>,
    #[serde(flatten)]
    pub kind: TypeKind,
}

impl Type {
    pub fn new(name: Option<String>, kind: TypeKind) -> Self {
        Type { name, kind }
    }
}

/// A graph of types from one source (a BTF blob, a Go binary), indexed by [`TypeId`].
#[derive(Debug)]
pub struct TypeTable {
    types: Vec<Type>,
    /// Alignment is asked for again and again for the same shared types (every struct
    /// of vmlinux reaches `list_head`); remembering it keeps walks linear in the graph.
    align_cache: Vec<OnceLock<u32>>,
    /// Whether anything is in `align_cache`, so that `set` during construction stays
    /// cheap.
    cached: AtomicBool,
    pub target: Target,
}

impl Clone for TypeTable {
    fn clone(&self) -> Self {
        TypeTable {
            types: self.types.clone(),
            align_cache: self.align_cache.clone(),
            cached: AtomicBool::new(self.cached.load(Ordering::Relaxed)),
            target: self.target.clone(),
        }
    }
}

impl TypeTable {
    /// A table holding only `void` as id 0.
    pub fn new(target: Target) -> Self {
        TypeTable {
            types: vec![Type::new(None, TypeKind::Void)],
            align_cache: vec![OnceLock::new()],
            cached: AtomicBool::new(false),
            target,
        }
    }

    /// Appends a type and returns its id.
    pub fn push(&mut self, ty: Type) -> TypeId {
        let id = self.types.len() as TypeId;
        self.types.push(ty);
        self.align_cache.push(OnceLock::new());
        id
    }

    /// Replaces a type in place: readers reserve ids before they know the whole type
    /// (recursive Go types point at themselves).
    pub fn set(&mut self, id: TypeId, ty: Type) -> Result<(), LayoutError> {
        let slot = self
            .types
            .get_mut(id as usize)
            .ok_or(LayoutError::BadTypeId(id))?;
        *slot = ty;
        // Alignments computed before this change may depend on the old type.
        if self.cached.swap(false, Ordering::Relaxed) {
            for cell in &mut self.align_cache {
                cell.take();
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    pub fn get(&self, id: TypeId) -> Result<&Type, LayoutError> {
        self.types
            .get(id as usize)
            .ok_or(LayoutError::BadTypeId(id))
    }

    pub fn iter(&self) -> impl Iterator<Item = (TypeId, &Type)> {
        self.types.iter().enumerate().map(|(i, t)| (i as TypeId, t))
    }

    /// Follows typedefs, qualifiers and type tags to the type that has a layout.
    pub fn resolve(&self, mut id: TypeId) -> Result<TypeId, LayoutError> {
        for _ in 0..=MAX_DEPTH {
            match &self.get(id)?.kind {
                TypeKind::Typedef { target }
                | TypeKind::Qualified { target, .. }
                | TypeKind::TypeTag { target, .. } => id = *target,
                _ => return Ok(id),
            }
        }
        Err(LayoutError::TooDeep { id })
    }

    /// Size in bytes.
    pub fn size_of(&self, id: TypeId) -> Result<u64, LayoutError> {
        self.size_at(id, 0)
    }

    fn size_at(&self, id: TypeId, depth: u32) -> Result<u64, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id });
        }
        Ok(match &self.get(id)?.kind {
            TypeKind::Void | TypeKind::Function | TypeKind::Forward { .. } => 0,
            TypeKind::Int { size, .. }
            | TypeKind::Float { size }
            | TypeKind::Complex { size }
            | TypeKind::Enum { size, .. }
            | TypeKind::GoOpaque { size, .. } => u64::from(*size),
            TypeKind::Pointer { .. } => u64::from(self.target.pointer_size),
            TypeKind::Array { elem, len } => self
                .size_at(*elem, depth + 1)?
                .checked_mul(*len)
                .ok_or(LayoutError::Overflow { id })?,
            TypeKind::Struct(c) | TypeKind::Union(c) => c.size,
            TypeKind::Typedef { target }
            | TypeKind::Qualified { target, .. }
            | TypeKind::TypeTag { target, .. } => self.size_at(*target, depth + 1)?,
        })
    }

    /// Alignment in bytes, by the target's rules. BTF and Go DWARF record no alignment,
    /// so it is derived the way the compilers do: scalars align to their size (capped by
    /// the target), aggregates to their most aligned member. A struct whose members sit
    /// off their natural alignment, or whose size is not a multiple of it, was packed.
    pub fn align_of(&self, id: TypeId) -> Result<u32, LayoutError> {
        self.align_at(id, 0)
    }

    fn align_at(&self, id: TypeId, depth: u32) -> Result<u32, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id });
        }
        if let Some(a) = self.align_cache.get(id as usize).and_then(OnceLock::get) {
            return Ok(*a);
        }
        let a = self.align_uncached(id, depth)?;
        if let Some(cell) = self.align_cache.get(id as usize) {
            let _ = cell.set(a);
            self.cached.store(true, Ordering::Relaxed);
        }
        Ok(a)
    }

    fn align_uncached(&self, id: TypeId, depth: u32) -> Result<u32, LayoutError> {
        let cap = self.target.max_scalar_align.max(1);
        let scalar = |size: u32| size.clamp(1, cap).next_power_of_two().min(cap);
        Ok(match &self.get(id)?.kind {
            TypeKind::Void | TypeKind::Function | TypeKind::Forward { .. } => 1,
            TypeKind::Int { size, .. } | TypeKind::Float { size } | TypeKind::Enum { size, .. } => {
                scalar(*size)
            }
            TypeKind::Complex { size } => scalar(size / 2),
            TypeKind::Pointer { .. } => scalar(self.target.pointer_size),
            TypeKind::GoOpaque { .. } => scalar(self.target.pointer_size),
            TypeKind::Array { elem, .. } => self.align_at(*elem, depth + 1)?,
            TypeKind::Struct(c) | TypeKind::Union(c) => {
                let mut natural = 1u32;
                let mut packed = false;
                let mut end_bits = 0u64;
                for m in &c.members {
                    let a = self.align_at(m.ty, depth + 1)?;
                    natural = natural.max(a);
                    if m.bitfield_bits.is_none() && m.offset_bits % (u64::from(a) * 8) != 0 {
                        packed = true;
                    }
                    let bits = match m.bitfield_bits {
                        Some(b) => u64::from(b),
                        None => self.size_at(m.ty, depth + 1)?.saturating_mul(8),
                    };
                    end_bits = end_bits.max(m.offset_bits.saturating_add(bits));
                }
                if packed || c.size % u64::from(natural) != 0 {
                    1
                } else if self.target.dialect == Dialect::Go {
                    // Go has no alignment attributes; its trailing padding after a
                    // zero-size last field is not one.
                    natural
                } else {
                    // A hole before a member, or trailing padding, that natural alignment
                    // does not explain means an `aligned(N)` attribute. BTF does not
                    // record N; the smallest N that explains every offset and the size is
                    // a lower bound on it (pahole guesses the largest power of two
                    // dividing the offset instead).
                    let smallest = |from: u64, to: u64, natural: u32| -> u32 {
                        let mut a = natural.max(1);
                        while from.next_multiple_of(u64::from(a)) < to && a < 4096 {
                            a *= 2;
                        }
                        if from.next_multiple_of(u64::from(a)) == to {
                            a
                        } else {
                            natural
                        }
                    };
                    let mut align = natural;
                    if matches!(self.get(id)?.kind, TypeKind::Struct(_)) {
                        let mut members: Vec<_> = c.members.iter().collect();
                        members.sort_by_key(|m| m.offset_bits);
                        let mut prev_end = 0u64;
                        for m in members {
                            let end_bits = match m.bitfield_bits {
                                Some(b) => m.offset_bits.saturating_add(u64::from(b)),
                                None => {
                                    let offset = m.offset_bits / 8;
                                    if offset > prev_end {
                                        let a = self.align_at(m.ty, depth + 1)?;
                                        align = align.max(smallest(prev_end, offset, a));
                                    }
                                    m.offset_bits.saturating_add(
                                        self.size_at(m.ty, depth + 1)?.saturating_mul(8),
                                    )
                                }
                            };
                            prev_end = prev_end.max(end_bits.div_ceil(8));
                        }
                    }
                    align.max(smallest(end_bits.div_ceil(8), c.size, natural))
                }
            }
            TypeKind::Typedef { target }
            | TypeKind::Qualified { target, .. }
            | TypeKind::TypeTag { target, .. } => self.align_at(*target, depth + 1)?,
        })
    }

    /// Ids of the types with this exact name, in id order.
    pub fn find_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = TypeId> + 'a {
        self.iter()
            .filter(move |(_, t)| t.name.as_deref() == Some(name))
            .map(|(id, _)| id)
    }
}
