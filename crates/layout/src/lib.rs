//! The language-neutral model every mapsleuth reader produces and every engine consumes:
//! a graph of types (BTF and Go DWARF alike), the layout of an aggregate the way pahole
//! shows it, and the flattening of a type into leaf fields and padding regions.
//!
//! No I/O here, and no panics: every walk is bounded by [`MAX_DEPTH`] and
//! [`MAX_LEAVES`], and a broken graph gives a [`LayoutError`].

mod align;
pub mod bits;
pub mod catalogue;
mod finding;
mod flatten;
mod layout;
mod maps;
mod names;
mod type_ref;
mod types;

pub use align::Alignment;
pub use catalogue::{BtfCode, CodeInfo, DumpCode, FindingCode, LayoutCode};
pub use finding::{Finding, Location, Severity};
pub use flatten::{Leaf, LeafKind, PaddingKind, PaddingRegion, MAX_LEAVES};
pub use layout::{go_short_name, AggregateKind, Bitfield, Hole, Layout, LayoutMember};
pub use maps::{map_type, map_type_name, map_type_named, MapTypeInfo, MapValues, MAP_TYPES};
pub use names::{fold_name, in_go_blank, is_go_blank, join_path};
pub use type_ref::TypeRef;
pub use types::{
    ByteOrder, Composite, Dialect, EnumValue, GoKind, IntEncoding, Member, Qualifier, Target, Type,
    TypeId, TypeKind, TypeTable, MAX_DEPTH,
};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("type id {0} does not exist")]
    BadTypeId(TypeId),
    #[error("type id {id} nests deeper than {MAX_DEPTH} levels (a loop?)")]
    TooDeep { id: TypeId },
    #[error("size of type id {id} overflows")]
    Overflow { id: TypeId },
    #[error("more than {limit} {what}")]
    TooMany { what: &'static str, limit: usize },
    #[error("`{name}` is not a struct or union")]
    NotAggregate { name: String },
    #[error("no type named `{name}`")]
    NotFound { name: String },
    #[error("`{name}` is ambiguous; candidates: {}", candidates.join(", "))]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },
}

/// What a non-aggregate type is, for `show` on a typedef or scalar: the typedef chain
/// down to the type with the layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TypeSummary {
    pub name: String,
    /// Each step through typedefs and qualifiers, starting with `name`.
    pub chain: Vec<String>,
    pub kind: String,
    pub size: u64,
    /// Inferred (see [`Alignment`]); for a struct or union a lower bound unless
    /// `align_exact`.
    pub align: u32,
    /// False where a larger alignment would leave the same sizes and offsets.
    pub align_exact: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub values: Vec<EnumValue>,
}

impl TypeTable {
    pub fn describe(&self, id: TypeId) -> Result<TypeSummary, LayoutError> {
        let mut chain = vec![self.type_name(id)];
        let mut cur = id;
        for _ in 0..=MAX_DEPTH {
            match &self.get(cur)?.kind {
                TypeKind::Typedef { target }
                | TypeKind::Qualified { target, .. }
                | TypeKind::TypeTag { target, .. } => {
                    cur = *target;
                    chain.push(self.type_name(cur));
                }
                _ => break,
            }
        }
        let resolved = self.resolve(id)?;
        let ty = self.get(resolved)?;
        let kind = kind_name(&ty.kind).to_string();
        let align = self.alignment(id)?;
        let values = match &ty.kind {
            TypeKind::Enum { values, .. } => values.clone(),
            _ => Vec::new(),
        };
        Ok(TypeSummary {
            name: self.type_name(id),
            chain,
            kind,
            size: self.size_of(id)?,
            align: align.bytes,
            align_exact: align.exact,
            values,
        })
    }
}

/// A short lowercase name of a kind, as `btf types --kind` takes it.
pub fn kind_name(kind: &TypeKind) -> &'static str {
    match kind {
        TypeKind::Void => "void",
        TypeKind::Int { .. } => "int",
        TypeKind::Float { .. } => "float",
        TypeKind::Complex { .. } => "complex",
        TypeKind::Enum { .. } => "enum",
        TypeKind::Pointer { .. } => "ptr",
        TypeKind::Array { .. } => "array",
        TypeKind::Struct(_) => "struct",
        TypeKind::Union(_) => "union",
        TypeKind::Typedef { .. } => "typedef",
        TypeKind::Qualified { qualifier, .. } => match qualifier {
            Qualifier::Const => "const",
            Qualifier::Volatile => "volatile",
            Qualifier::Restrict => "restrict",
        },
        TypeKind::TypeTag { .. } => "type_tag",
        TypeKind::Forward { .. } => "fwd",
        TypeKind::GoOpaque { go_kind, .. } => go_kind.as_str(),
        TypeKind::Function => "func",
    }
}

#[cfg(test)]
mod tests;
