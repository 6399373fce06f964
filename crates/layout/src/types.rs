//! The type graph: every type is a node, typedefs and qualifiers included, so that what
//! the source said stays visible (`__u64` is a typedef of `unsigned long long`, not an
//! anonymous 8-byte integer).

use serde::{Deserialize, Serialize};

use crate::align::AlignCache;
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
    /// The byte order of the machine running this code.
    pub fn native() -> Self {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
    }

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
    pub(crate) align: AlignCache,
    pub target: Target,
}

impl Clone for TypeTable {
    fn clone(&self) -> Self {
        // The copy infers again, lazily.
        TypeTable {
            types: self.types.clone(),
            align: AlignCache::with_len(self.types.len()),
            target: self.target.clone(),
        }
    }
}

impl TypeTable {
    /// A table holding only `void` as id 0.
    pub fn new(target: Target) -> Self {
        TypeTable {
            types: vec![Type::new(None, TypeKind::Void)],
            align: AlignCache::with_len(1),
            target,
        }
    }

    /// Appends a type and returns its id.
    pub fn push(&mut self, ty: Type) -> TypeId {
        let id = self.types.len() as TypeId;
        self.types.push(ty);
        // A new type may hold others: what was inferred may change.
        self.align.push();
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
        // Alignments inferred before this change may depend on the old type.
        self.align.invalidate();
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

    /// Ids of the types with this exact name, in id order.
    pub fn find_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = TypeId> + 'a {
        self.iter()
            .filter(move |(_, t)| t.name.as_deref() == Some(name))
            .map(|(id, _)| id)
    }
}
