//! Typed decoding: the raw bytes of a key or value, with a type from a [`TypeTable`]
//! (BTF or Go DWARF), become a [`Value`] tree — integers in the table's byte order,
//! bitfields in either bit numbering, enums by name, `char` arrays as strings, nested
//! structs, arrays and every alternative of a union.
//!
//! A [`Decoder`] compiles the type once into a plan (names, offsets, enum names shared
//! by `Arc`) and then decodes any number of entries without looking at the table again.
//! A [`FlatDecoder`] decodes into one [`Value`] per leaf of [`TypeTable::leaves`] instead
//! (the form column exports and forensics use).
//!
//! Nothing here panics on input: the plan is bounded by [`MAX_DEPTH`] and [`MAX_VALUES`],
//! and every read is bounds-checked; a value shorter than its type is a
//! [`DecodeError::Short`] that names the byte offset that does not fit.
//!
//! Strings follow bpftool's rule: an array whose element is (through qualifiers, not
//! typedefs) the 1-byte integer `char` is text; `__u8 addr[4]` and Go's `[16]byte` are
//! bytes.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use mapsleuth_layout::bits::{low_bits, shift_in_window};
use mapsleuth_layout::{
    ByteOrder, Composite, IntEncoding, LayoutError, Leaf, LeafKind, TypeId, TypeKind, TypeTable,
    MAX_DEPTH,
};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// At most this many values (scalars, strings, byte arrays) in one decoded key or value:
/// a `__u64 buf[1 << 30]` member must not become a billion values.
pub const MAX_VALUES: usize = 1 << 16;

/// Widest bitfield decoded (its bytes must fit in 16).
const MAX_BITFIELD_BITS: u64 = 120;

/// One leaf of a decoded value, borrowed from the decoder and the bytes
/// ([`Decoder::leaves`]). Byte and `char` arrays are one leaf each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LeafValue<'a> {
    Int { value: i128, bits: u16 },
    Bool(bool),
    Float(f64),
    Enum { value: i128, name: Option<&'a str> },
    Bytes(&'a [u8]),
    Pointer(u64),
}

/// A decoded key or value.
///
/// Serialized (`serde`) in its natural JSON form: integers as numbers, enums by name
/// (unknown values as numbers), strings as strings (up to the first NUL, bytes outside
/// printable ASCII as `\xNN`), byte arrays and opaque bytes as lowercase hex, pointers as
/// `"0x..."`, structs and unions as objects whose anonymous members are merged into
/// their parent (as C spells `a.v4`), arrays as arrays.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any integer, bitfields and C `char` scalars included. `bits` is the width.
    Int {
        value: i128,
        signed: bool,
        bits: u16,
    },
    Bool(bool),
    Float {
        value: f64,
        bits: u16,
    },
    /// Go `complex64`/`complex128`.
    Complex {
        re: f64,
        im: f64,
    },
    /// `name` is `None` when the value is none of the enum's values.
    Enum {
        value: i128,
        name: Option<Arc<str>>,
        bits: u16,
    },
    /// A `char` array: all its bytes, and where the first NUL is.
    Str {
        bytes: Box<[u8]>,
        nul: Option<usize>,
        signed: bool,
    },
    /// Any other array of 1-byte elements.
    Bytes {
        bytes: Box<[u8]>,
        signed: bool,
    },
    Pointer(u64),
    /// Bytes without a meaning outside their process (Go strings, slices, maps,
    /// interfaces, ...) or of an unsized or unsupported type; `what` says which.
    Opaque {
        what: Arc<str>,
        bytes: Box<[u8]>,
    },
    Struct(Vec<Field>),
    Union(Vec<Field>),
    Array(Vec<Value>),
}

/// A member of a decoded struct or union.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Empty for an anonymous struct or union member.
    pub name: Arc<str>,
    /// Anonymous members and Go embedded fields: their fields belong to the parent.
    pub inline: bool,
    /// A bitfield member (its value's `bits` is the width).
    pub bitfield: bool,
    pub value: Value,
}

impl Value {
    /// The integer behind an `Int`, `Enum` or `Bool`.
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int { value, .. } | Value::Enum { value, .. } => Some(*value),
            Value::Bool(b) => Some(i128::from(*b)),
            _ => None,
        }
    }

    /// The text of a `Str` up to its first NUL, printable ASCII kept, `\` doubled,
    /// every other byte as `\xNN`.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str { bytes, nul, .. } => Some(escape(&bytes[..nul.unwrap_or(bytes.len())])),
            _ => None,
        }
    }

    /// A member of a struct or union by name, looking into anonymous members.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) | Value::Union(fields) => {
                for f in fields {
                    if &*f.name == name {
                        return Some(&f.value);
                    }
                    if f.inline {
                        if let Some(v) = f.value.field(name) {
                            return Some(v);
                        }
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Follows a dotted path with `[i]` indices: `hdr.addrs[2].port`.
    pub fn path(&self, path: &str) -> Option<&Value> {
        let mut cur = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (name, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                cur = cur.field(name)?;
            }
            for idx in rest.split('[').filter(|s| !s.is_empty()) {
                let i: usize = idx.strip_suffix(']')?.parse().ok()?;
                cur = match cur {
                    Value::Array(items) => items.get(i)?,
                    _ => return None,
                };
            }
        }
        Some(cur)
    }
}

/// Printable ASCII as is (`\` doubled), every other byte as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// Lowercase hex, no separators (its one home is `mapsleuth_dump::hex`).
pub(crate) use mapsleuth_dump::hex::encode as hex;

fn serialize_int<S: Serializer>(value: i128, s: S) -> Result<S::Ok, S::Error> {
    if let Ok(v) = i64::try_from(value) {
        s.serialize_i64(v)
    } else if let Ok(v) = u64::try_from(value) {
        s.serialize_u64(v)
    } else {
        s.serialize_i128(value)
    }
}

fn serialize_float<S: Serializer>(value: f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(value)
    } else if value.is_nan() {
        s.serialize_str("NaN")
    } else if value > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

/// The members of a struct, anonymous ones merged in.
struct Members<'a>(&'a [Field]);

impl Members<'_> {
    fn write<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for f in self.0 {
            match (&f.value, f.inline) {
                (Value::Struct(inner) | Value::Union(inner), true) => {
                    Members(inner).write(map)?;
                }
                _ => map.serialize_entry(&*f.name, &f.value)?,
            }
        }
        Ok(())
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int { value, .. } => serialize_int(*value, s),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Float { value, .. } => serialize_float(*value, s),
            Value::Complex { re, im } => {
                let mut seq = s.serialize_seq(Some(2))?;
                seq.serialize_element(&FloatSer(*re))?;
                seq.serialize_element(&FloatSer(*im))?;
                seq.end()
            }
            Value::Enum {
                name: Some(name), ..
            } => s.serialize_str(name),
            Value::Enum { value, .. } => serialize_int(*value, s),
            Value::Str { .. } => s.serialize_str(&self.text().unwrap_or_default()),
            Value::Bytes { bytes, .. } | Value::Opaque { bytes, .. } => {
                s.serialize_str(&hex(bytes))
            }
            Value::Pointer(p) => s.serialize_str(&format!("0x{p:x}")),
            Value::Struct(fields) | Value::Union(fields) => {
                let mut map = s.serialize_map(None)?;
                Members(fields).write(&mut map)?;
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
        }
    }
}

struct FloatSer(f64);

impl Serialize for FloatSer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_float(self.0, s)
    }
}

impl schemars::JsonSchema for Value {
    fn schema_name() -> Cow<'static, str> {
        "DecodedValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A decoded key or value in its natural JSON form: integers as numbers, bool, floats (NaN and infinities as strings), enums by name (values outside the enum as numbers), char arrays as strings up to the first NUL (bytes outside printable ASCII as \\xNN, backslash doubled), other byte arrays and opaque bytes as lowercase hex, pointers as \"0x...\" strings, structs and unions as objects (anonymous members merged into their parent), arrays as arrays.",
            "type": ["object", "array", "string", "number", "integer", "boolean"]
        })
    }
}

/// Compact one-line form for tables: `{saddr: 10, comm: "bash", v6: 20010db8...}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn members(fields: &[Field], first: &mut bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for fl in fields {
                match (&fl.value, fl.inline) {
                    (Value::Struct(inner) | Value::Union(inner), true) => {
                        members(inner, first, f)?;
                    }
                    _ => {
                        if !*first {
                            f.write_str(", ")?;
                        }
                        *first = false;
                        write!(f, "{}: {}", fl.name, fl.value)?;
                    }
                }
            }
            Ok(())
        }
        match self {
            Value::Int { value, .. } => write!(f, "{value}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Float { value, .. } => write!(f, "{value}"),
            Value::Complex { re, im } => write!(f, "({re}{im:+}i)"),
            Value::Enum { name: Some(n), .. } => f.write_str(n),
            Value::Enum { value, .. } => write!(f, "{value}"),
            Value::Str { nul, .. } => {
                let text = self.text().unwrap_or_default().replace('"', "\\\"");
                write!(f, "\"{text}\"")?;
                if nul.is_none() {
                    f.write_str(" (no NUL)")?;
                }
                Ok(())
            }
            Value::Bytes { bytes, .. } => f.write_str(&hex(bytes)),
            Value::Opaque { what, bytes } => write!(f, "<{what} {}>", hex(bytes)),
            Value::Pointer(p) => write!(f, "0x{p:x}"),
            Value::Struct(fields) | Value::Union(fields) => {
                f.write_str("{")?;
                let mut first = true;
                members(fields, &mut first, f)?;
                f.write_str("}")
            }
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the type does.
    #[error("{len} bytes, but {type_name} is {needed} bytes (byte {offset} is past the end)")]
    Short {
        type_name: String,
        /// Bytes the type needs.
        needed: u64,
        /// Bytes there are.
        len: usize,
        /// The first byte offset that does not fit.
        offset: u64,
    },
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("{type_name} decodes into more than {limit} values")]
    TooMany { type_name: String, limit: usize },
    #[error("{type_name}: {what}")]
    Unsupported { type_name: String, what: String },
}

// ---------------------------------------------------------------------------
// The plan

#[derive(Clone, Debug)]
enum ScalarKind {
    Int { signed: bool },
    Bool,
    Float,
    Complex,
    Enum { signed: bool, values: EnumNames },
    Pointer,
    Opaque { what: Arc<str> },
}

/// One scalar: where it is (bits from the frame start) and how to read it.
#[derive(Clone, Debug)]
struct Scalar {
    offset_bits: u64,
    /// Width; for a non-bitfield a multiple of 8.
    size_bits: u64,
    bitfield: bool,
    kind: ScalarKind,
}

#[derive(Clone, Debug)]
enum Node {
    Scalar(Scalar),
    /// An array of 1-byte elements, kept whole.
    Bytes {
        offset: u64,
        len: u64,
        text: bool,
        signed: bool,
    },
    Aggregate {
        union: bool,
        fields: Vec<PlanField>,
    },
    /// Elements are planned once, relative to their own start.
    Array {
        offset_bits: u64,
        stride_bits: u64,
        len: u64,
        elem: Box<Node>,
    },
}

#[derive(Clone, Debug)]
struct PlanField {
    name: Arc<str>,
    inline: bool,
    bitfield: bool,
    node: Node,
}

/// An enum's values and names, shared by every decode.
type EnumNames = Arc<[(i128, Arc<str>)]>;

struct Planner<'t> {
    table: &'t TypeTable,
    type_name: String,
    /// Enum names shared by every decode.
    enums: Vec<(TypeId, EnumNames)>,
}

impl Planner<'_> {
    fn too_many(&self) -> DecodeError {
        DecodeError::TooMany {
            type_name: self.type_name.clone(),
            limit: MAX_VALUES,
        }
    }

    fn enum_values(&mut self, id: TypeId) -> Result<EnumNames, DecodeError> {
        if let Some((_, v)) = self.enums.iter().find(|(e, _)| *e == id) {
            return Ok(Arc::clone(v));
        }
        let values: EnumNames = match &self.table.get(id)?.kind {
            TypeKind::Enum { values, .. } => values
                .iter()
                .map(|v| (v.value, Arc::<str>::from(v.name.as_str())))
                .collect(),
            _ => Arc::new([]),
        };
        self.enums.push((id, Arc::clone(&values)));
        Ok(values)
    }

    /// What kind of scalar a non-aggregate type is.
    fn scalar_kind(&mut self, id: TypeId) -> Result<ScalarKind, DecodeError> {
        let r = self.table.resolve(id)?;
        Ok(match &self.table.get(r)?.kind {
            TypeKind::Int {
                encoding: IntEncoding::Bool,
                ..
            } => ScalarKind::Bool,
            TypeKind::Int { signed, .. } => ScalarKind::Int { signed: *signed },
            TypeKind::Float { .. } => ScalarKind::Float,
            TypeKind::Complex { .. } => ScalarKind::Complex,
            TypeKind::Enum { signed, .. } => ScalarKind::Enum {
                signed: *signed,
                values: self.enum_values(r)?,
            },
            TypeKind::Pointer { .. } => ScalarKind::Pointer,
            TypeKind::GoOpaque { go_kind, .. } => ScalarKind::Opaque {
                what: format!("Go {}", go_kind.as_str()).into(),
            },
            other => ScalarKind::Opaque {
                what: mapsleuth_layout::kind_name(other).into(),
            },
        })
    }

    /// bpftool's rule for text: the element, through qualifiers but not typedefs, is the
    /// 1-byte `char`.
    fn char_element(&self, elem: TypeId) -> Result<Option<bool>, DecodeError> {
        let mut id = elem;
        for _ in 0..=MAX_DEPTH {
            let ty = self.table.get(id)?;
            match &ty.kind {
                TypeKind::Qualified { target, .. } | TypeKind::TypeTag { target, .. } => {
                    id = *target
                }
                TypeKind::Int {
                    size: 1,
                    encoding: IntEncoding::Char,
                    signed,
                } if ty.name.as_deref() == Some("char") => return Ok(Some(*signed)),
                _ => return Ok(None),
            }
        }
        Err(LayoutError::TooDeep { id: elem }.into())
    }

    /// For a 1-byte integer element (through typedefs): its signedness.
    fn byte_element(&self, elem: TypeId) -> Result<Option<bool>, DecodeError> {
        let r = self.table.resolve(elem)?;
        Ok(match &self.table.get(r)?.kind {
            TypeKind::Int {
                size: 1,
                encoding: IntEncoding::Plain | IntEncoding::Char,
                signed,
            } => Some(*signed),
            _ => None,
        })
    }

    /// Plans `id` at `offset_bits` in its frame; `budget` counts values left.
    fn plan(
        &mut self,
        id: TypeId,
        offset_bits: u64,
        depth: u32,
        budget: &mut usize,
    ) -> Result<Node, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(LayoutError::TooDeep { id }.into());
        }
        let table = self.table;
        let resolved = table.resolve(id)?;
        match &table.get(resolved)?.kind {
            TypeKind::Struct(c) => self.plan_members(c, false, offset_bits, depth, budget),
            TypeKind::Union(c) => self.plan_members(c, true, offset_bits, depth, budget),
            TypeKind::Array { elem, len } => {
                self.plan_array(*elem, *len, offset_bits, depth, budget)
            }
            _ => {
                self.take_one(budget)?;
                let size_bits = table.size_of(resolved)?.saturating_mul(8);
                Ok(Node::Scalar(Scalar {
                    offset_bits,
                    size_bits,
                    bitfield: false,
                    kind: self.scalar_kind(resolved)?,
                }))
            }
        }
    }

    /// Charges one value to `budget`.
    fn take_one(&self, budget: &mut usize) -> Result<(), DecodeError> {
        *budget = budget.checked_sub(1).ok_or_else(|| self.too_many())?;
        Ok(())
    }

    fn plan_members(
        &mut self,
        c: &Composite,
        union: bool,
        offset_bits: u64,
        depth: u32,
        budget: &mut usize,
    ) -> Result<Node, DecodeError> {
        let mut fields = Vec::with_capacity(c.members.len());
        for m in &c.members {
            let offset = offset_bits.saturating_add(m.offset_bits);
            let node = match m.bitfield_bits {
                Some(bits) => self.plan_bitfield(m.ty, offset, bits, budget)?,
                None => self.plan(m.ty, offset, depth + 1, budget)?,
            };
            fields.push(PlanField {
                inline: m.name.is_none() || m.embedded,
                name: m.name.as_deref().unwrap_or("").into(),
                bitfield: m.bitfield_bits.is_some(),
                node,
            });
        }
        Ok(Node::Aggregate { union, fields })
    }

    fn plan_bitfield(
        &mut self,
        ty: TypeId,
        offset_bits: u64,
        bits: u32,
        budget: &mut usize,
    ) -> Result<Node, DecodeError> {
        self.take_one(budget)?;
        if u64::from(bits) > MAX_BITFIELD_BITS {
            return Err(DecodeError::Unsupported {
                type_name: self.type_name.clone(),
                what: format!("a {bits}-bit bitfield"),
            });
        }
        Ok(Node::Scalar(Scalar {
            offset_bits,
            size_bits: u64::from(bits),
            bitfield: true,
            kind: self.scalar_kind(ty)?,
        }))
    }

    /// Byte and `char` arrays as one value; other arrays as one planned element
    /// repeated.
    fn plan_array(
        &mut self,
        elem: TypeId,
        len: u64,
        offset_bits: u64,
        depth: u32,
        budget: &mut usize,
    ) -> Result<Node, DecodeError> {
        let text = self.char_element(elem)?;
        let byte = self.byte_element(elem)?;
        if let Some(signed) = text.or(byte) {
            self.take_one(budget)?;
            return Ok(Node::Bytes {
                offset: offset_bits / 8,
                len,
                text: text.is_some(),
                signed,
            });
        }
        let stride_bits = self.table.size_of(elem)?.saturating_mul(8);
        // Plan one element with what is left, then charge the rest.
        let before = *budget;
        let elem_node = self.plan(elem, 0, depth + 1, budget)?;
        let per = (before - *budget).max(1) as u64;
        let rest = per.saturating_mul(len.saturating_sub(1));
        if rest > *budget as u64 {
            return Err(self.too_many());
        }
        *budget -= rest as usize;
        Ok(Node::Array {
            offset_bits,
            stride_bits,
            len,
            elem: Box::new(elem_node),
        })
    }
}

// ---------------------------------------------------------------------------
// Reading

/// Reads bytes and integers at offsets, bounds-checked.
#[derive(Clone, Copy)]
struct Reader<'b> {
    bytes: &'b [u8],
    order: ByteOrder,
}

/// Where a read went past the end: the first byte offset that is not there.
struct Past(u64);

impl<'b> Reader<'b> {
    fn slice(&self, offset: u64, len: u64) -> Result<&'b [u8], Past> {
        let start = usize::try_from(offset).map_err(|_| Past(offset))?;
        let n = usize::try_from(len).map_err(|_| Past(offset))?;
        let end = start.checked_add(n).ok_or(Past(offset))?;
        self.bytes
            .get(start..end)
            .ok_or(Past(offset.max(self.bytes.len() as u64)))
    }

    /// An unsigned integer of up to 16 bytes.
    fn uint(&self, offset: u64, len: u64) -> Result<u128, Past> {
        let b = self.slice(offset, len.min(16))?;
        Ok(uint_from_bytes(b, self.order))
    }

    /// Bits `[offset_bits, offset_bits + width)` in memory order: from the least
    /// significant bit of the first byte on little-endian targets, from the most
    /// significant bit of the first byte on big-endian ones (BTF and DWARF 4+ count bit
    /// offsets that way, and bpftool reads them so).
    fn bits(&self, offset_bits: u64, width: u64) -> Result<u128, Past> {
        if width == 0 {
            return Ok(0);
        }
        let first = offset_bits / 8;
        let shift = offset_bits % 8;
        let n = (shift + width).div_ceil(8);
        let b = self.slice(first, n)?;
        let raw = uint_from_bytes(b, self.order);
        Ok((raw >> shift_in_window(self.order, n, shift, width)) & low_bits(width))
    }
}

/// Bytes as an unsigned integer in the given byte order (at most 16 bytes).
pub(crate) fn uint_from_bytes(b: &[u8], order: ByteOrder) -> u128 {
    let b = &b[..b.len().min(16)];
    match order {
        ByteOrder::Little => b
            .iter()
            .rev()
            .fold(0u128, |acc, &x| (acc << 8) | u128::from(x)),
        ByteOrder::Big => b.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x)),
    }
}

/// Sign-extends the low `width` bits.
fn sign_extend(v: u128, width: u64) -> i128 {
    if width == 0 {
        return 0;
    }
    if width >= 128 {
        return v as i128;
    }
    let shift = 128 - width as u32;
    ((v << shift) as i128) >> shift
}

impl Scalar {
    /// The integer of an integer, enum or bool scalar; `None` for other kinds.
    fn int(&self, r: Reader<'_>) -> Result<Option<i128>, Past> {
        let width = self.size_bits;
        let signed = match &self.kind {
            ScalarKind::Int { signed } | ScalarKind::Enum { signed, .. } => *signed,
            ScalarKind::Bool => false,
            _ => return Ok(None),
        };
        if width > 128 {
            return Ok(None);
        }
        let at = self.offset_bits;
        let v = if self.bitfield || !at.is_multiple_of(8) {
            r.bits(at, width.min(MAX_BITFIELD_BITS))?
        } else {
            r.uint(at / 8, width / 8)?
        };
        Ok(Some(if signed {
            sign_extend(v, width)
        } else {
            v as i128
        }))
    }

    fn read(&self, r: Reader<'_>, base_bits: u64) -> Result<Value, Past> {
        let at = base_bits.saturating_add(self.offset_bits);
        let width = self.size_bits;
        let raw = || -> Result<u128, Past> {
            if self.bitfield || !at.is_multiple_of(8) {
                r.bits(at, width.min(MAX_BITFIELD_BITS))
            } else {
                r.uint(at / 8, width / 8)
            }
        };
        let bits = width.min(u64::from(u16::MAX)) as u16;
        Ok(match &self.kind {
            ScalarKind::Int { signed } if width <= 128 => {
                let v = raw()?;
                Value::Int {
                    value: if *signed {
                        sign_extend(v, width)
                    } else {
                        v as i128
                    },
                    signed: *signed,
                    bits,
                }
            }
            ScalarKind::Bool if width <= 128 => Value::Bool(raw()? != 0),
            ScalarKind::Enum { signed, values } if width <= 128 => {
                let v = raw()?;
                let value = if *signed {
                    sign_extend(v, width)
                } else {
                    v as i128
                };
                let name = values
                    .iter()
                    .find(|(x, _)| *x == value)
                    .map(|(_, n)| Arc::clone(n));
                Value::Enum { value, name, bits }
            }
            ScalarKind::Float if !self.bitfield && (width == 32 || width == 64) => {
                let v = raw()?;
                let value = if width == 32 {
                    f64::from(f32::from_bits(v as u32))
                } else {
                    f64::from_bits(v as u64)
                };
                Value::Float { value, bits }
            }
            ScalarKind::Complex if !self.bitfield && (width == 64 || width == 128) => {
                let half = width / 16;
                let re = r.uint(at / 8, half)?;
                let im = r.uint(at / 8 + half, half)?;
                let f = |x: u128| {
                    if half == 4 {
                        f64::from(f32::from_bits(x as u32))
                    } else {
                        f64::from_bits(x as u64)
                    }
                };
                Value::Complex {
                    re: f(re),
                    im: f(im),
                }
            }
            ScalarKind::Pointer if !self.bitfield && width <= 64 => Value::Pointer(raw()? as u64),
            ScalarKind::Opaque { what } => Value::Opaque {
                what: Arc::clone(what),
                bytes: r.slice(at / 8, width.div_ceil(8))?.into(),
            },
            other => Value::Opaque {
                what: format!("{}-bit {}", width, scalar_name(other)).into(),
                bytes: r.slice(at / 8, width.div_ceil(8))?.into(),
            },
        })
    }
}

impl Scalar {
    /// The leaf [`Scalar::read`] gives, borrowed (no enum name is cloned); `None` for
    /// what a comparison skips (complex numbers, opaque bytes).
    fn leaf<'a>(&'a self, r: Reader<'a>, base_bits: u64) -> Result<Option<LeafValue<'a>>, Past> {
        if let ScalarKind::Enum { signed, values } = &self.kind {
            let width = self.size_bits;
            if width <= 128 {
                let at = base_bits.saturating_add(self.offset_bits);
                let v = if self.bitfield || !at.is_multiple_of(8) {
                    r.bits(at, width.min(MAX_BITFIELD_BITS))?
                } else {
                    r.uint(at / 8, width / 8)?
                };
                let value = if *signed {
                    sign_extend(v, width)
                } else {
                    v as i128
                };
                let name = values.iter().find(|(x, _)| *x == value).map(|(_, n)| &**n);
                return Ok(Some(LeafValue::Enum { value, name }));
            }
        }
        Ok(match self.read(r, base_bits)? {
            Value::Int { value, bits, .. } => Some(LeafValue::Int { value, bits }),
            Value::Bool(b) => Some(LeafValue::Bool(b)),
            Value::Float { value, .. } => Some(LeafValue::Float(value)),
            Value::Pointer(p) => Some(LeafValue::Pointer(p)),
            _ => None,
        })
    }
}

fn scalar_name(k: &ScalarKind) -> &'static str {
    match k {
        ScalarKind::Int { .. } => "int",
        ScalarKind::Bool => "bool",
        ScalarKind::Float => "float",
        ScalarKind::Complex => "complex",
        ScalarKind::Enum { .. } => "enum",
        ScalarKind::Pointer => "pointer",
        ScalarKind::Opaque { .. } => "opaque",
    }
}

fn read_bytes_node(
    r: Reader<'_>,
    base_bits: u64,
    offset: u64,
    len: u64,
    text: bool,
    signed: bool,
) -> Result<Value, Past> {
    let at = (base_bits / 8).saturating_add(offset);
    let b = r.slice(at, len)?;
    Ok(if text {
        Value::Str {
            bytes: b.into(),
            nul: memchr(b),
            signed,
        }
    } else {
        Value::Bytes {
            bytes: b.into(),
            signed,
        }
    })
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&x| x == 0)
}

impl Node {
    /// The leaves [`Node::read`] would give, in its order, without building the tree.
    fn leaves<'a>(
        &'a self,
        r: Reader<'a>,
        base_bits: u64,
        out: &mut Vec<LeafValue<'a>>,
    ) -> Result<(), Past> {
        match self {
            Node::Scalar(s) => {
                if let Some(l) = s.leaf(r, base_bits)? {
                    out.push(l);
                }
            }
            Node::Bytes { offset, len, .. } => {
                let at = (base_bits / 8).saturating_add(*offset);
                out.push(LeafValue::Bytes(r.slice(at, *len)?));
            }
            Node::Aggregate { fields, .. } => {
                for f in fields {
                    f.node.leaves(r, base_bits, out)?;
                }
            }
            Node::Array {
                offset_bits,
                stride_bits,
                len,
                elem,
            } => {
                let n = usize::try_from(*len).unwrap_or(usize::MAX).min(MAX_VALUES);
                let start = base_bits.saturating_add(*offset_bits);
                for i in 0..n as u64 {
                    elem.leaves(r, start.saturating_add(stride_bits.saturating_mul(i)), out)?;
                }
            }
        }
        Ok(())
    }
}

impl Node {
    fn read(&self, r: Reader<'_>, base_bits: u64) -> Result<Value, Past> {
        match self {
            Node::Scalar(s) => s.read(r, base_bits),
            Node::Bytes {
                offset,
                len,
                text,
                signed,
            } => read_bytes_node(r, base_bits, *offset, *len, *text, *signed),
            Node::Aggregate { union, fields } => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push(Field {
                        name: Arc::clone(&f.name),
                        inline: f.inline,
                        bitfield: f.bitfield,
                        value: f.node.read(r, base_bits)?,
                    });
                }
                Ok(if *union {
                    Value::Union(out)
                } else {
                    Value::Struct(out)
                })
            }
            Node::Array {
                offset_bits,
                stride_bits,
                len,
                elem,
            } => {
                // The plan's budget bounds `len` (or every element is empty).
                let n = usize::try_from(*len).unwrap_or(usize::MAX).min(MAX_VALUES);
                let mut out = Vec::with_capacity(n);
                let start = base_bits.saturating_add(*offset_bits);
                for i in 0..n as u64 {
                    out.push(elem.read(r, start.saturating_add(stride_bits.saturating_mul(i)))?);
                }
                Ok(Value::Array(out))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Decoders

/// Decodes the bytes of one type, over and over.
#[derive(Clone, Debug)]
pub struct Decoder {
    plan: Node,
    size: u64,
    type_name: String,
    order: ByteOrder,
}

impl Decoder {
    pub fn new(table: &TypeTable, id: TypeId) -> Result<Self, DecodeError> {
        let type_name = table.type_name(id);
        let size = table.size_of(id)?;
        let mut planner = Planner {
            table,
            type_name: type_name.clone(),
            enums: Vec::new(),
        };
        let mut budget = MAX_VALUES;
        let plan = planner.plan(id, 0, 0, &mut budget)?;
        Ok(Decoder {
            plan,
            size,
            type_name,
            order: table.target.byte_order,
        })
    }

    /// Bytes of the type.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// Decodes the first [`Self::size`] bytes; bytes after them are not looked at (a
    /// size that differs from the type's is for forensics to report).
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, DecodeError> {
        let r = self.reader(bytes)?;
        self.plan
            .read(r, 0)
            .map_err(|Past(at)| self.short(bytes.len(), at))
    }

    /// The scalar leaves of [`Self::decode`]'s value in its order (integers, bools,
    /// floats, enums, pointers, byte and `char` arrays), borrowed, without building the
    /// tree: for checks that read every entry (D018). Fails as `decode` does.
    pub fn leaves<'a>(
        &'a self,
        bytes: &'a [u8],
        out: &mut Vec<LeafValue<'a>>,
    ) -> Result<(), DecodeError> {
        out.clear();
        let r = self.reader(bytes)?;
        self.plan
            .leaves(r, 0, out)
            .map_err(|Past(at)| self.short(bytes.len(), at))
    }

    /// A reader over `bytes`, which must hold the whole type.
    fn reader<'b>(&self, bytes: &'b [u8]) -> Result<Reader<'b>, DecodeError> {
        if (bytes.len() as u64) < self.size {
            return Err(self.short(bytes.len(), bytes.len() as u64));
        }
        Ok(Reader {
            bytes,
            order: self.order,
        })
    }

    /// Decodes one value per CPU, and sums their integers.
    pub fn decode_percpu<'b>(
        &self,
        values: impl IntoIterator<Item = &'b [u8]>,
    ) -> Result<PerCpu, DecodeError> {
        let cpus = values
            .into_iter()
            .map(|v| self.decode(v))
            .collect::<Result<Vec<_>, _>>()?;
        let sum = sum(&cpus);
        Ok(PerCpu { cpus, sum })
    }

    fn short(&self, len: usize, offset: u64) -> DecodeError {
        DecodeError::Short {
            type_name: self.type_name.clone(),
            needed: self.size,
            len,
            offset,
        }
    }
}

/// Decodes `bytes` as type `id` of `table` (see [`Decoder`]).
pub fn decode(table: &TypeTable, id: TypeId, bytes: &[u8]) -> Result<Value, DecodeError> {
    Decoder::new(table, id)?.decode(bytes)
}

/// The values of a per-CPU entry, one per CPU in CPU order, and their sum.
#[derive(Clone, Debug, PartialEq)]
pub struct PerCpu {
    pub cpus: Vec<Value>,
    /// The integers summed over the CPUs (same shape, non-integer fields left out);
    /// `None` when nothing is an integer.
    pub sum: Option<Value>,
}

/// Sums values of the same shape: integers add up (counters kept per CPU), structs keep
/// their summable members, arrays are summed element-wise; enums, bools, strings, bytes
/// and unions have no sum.
pub fn sum(values: &[Value]) -> Option<Value> {
    let first = values.first()?;
    match first {
        Value::Int { signed, bits, .. } => {
            let mut total: i128 = 0;
            for v in values {
                match v {
                    Value::Int { value, .. } => total = total.saturating_add(*value),
                    _ => return None,
                }
            }
            Some(Value::Int {
                value: total,
                signed: *signed,
                bits: *bits,
            })
        }
        Value::Struct(fields) => {
            let mut out = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                let column: Option<Vec<Value>> = values
                    .iter()
                    .map(|v| match v {
                        Value::Struct(fs) => fs.get(i).map(|x| x.value.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(s) = column.and_then(|c| sum(&c)) {
                    out.push(Field {
                        name: Arc::clone(&f.name),
                        inline: f.inline,
                        bitfield: f.bitfield,
                        value: s,
                    });
                }
            }
            (!out.is_empty()).then_some(Value::Struct(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in 0..items.len() {
                let column: Option<Vec<Value>> = values
                    .iter()
                    .map(|v| match v {
                        Value::Array(xs) => xs.get(i).cloned(),
                        _ => None,
                    })
                    .collect();
                out.push(column.and_then(|c| sum(&c))?);
            }
            Some(Value::Array(out))
        }
        _ => None,
    }
}

/// Decodes into one value per leaf of [`TypeTable::leaves`]: the flat form, one column
/// per leaf path.
#[derive(Clone, Debug)]
pub struct FlatDecoder {
    leaves: Vec<Leaf>,
    readers: Vec<Node>,
    size: u64,
    type_name: String,
    order: ByteOrder,
}

impl FlatDecoder {
    pub fn new(table: &TypeTable, id: TypeId) -> Result<Self, DecodeError> {
        let type_name = table.type_name(id);
        let size = table.size_of(id)?;
        let leaves = table.leaves(id)?;
        let mut planner = Planner {
            table,
            type_name: type_name.clone(),
            enums: Vec::new(),
        };
        let mut readers = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let node = match &leaf.kind {
                LeafKind::Bytes { len, .. } => {
                    let elem = match &table.get(table.resolve(leaf.type_id)?)?.kind {
                        TypeKind::Array { elem, .. } => *elem,
                        _ => leaf.type_id,
                    };
                    let text = planner.char_element(elem)?;
                    let signed = text.or(planner.byte_element(elem)?).unwrap_or(false);
                    Node::Bytes {
                        offset: leaf.offset_bits / 8,
                        len: *len,
                        text: text.is_some(),
                        signed,
                    }
                }
                _ => Node::Scalar(Scalar {
                    offset_bits: leaf.offset_bits,
                    size_bits: leaf.size_bits,
                    bitfield: leaf.bitfield,
                    kind: planner.scalar_kind(leaf.type_id)?,
                }),
            };
            readers.push(node);
        }
        Ok(FlatDecoder {
            leaves,
            readers,
            size,
            type_name,
            order: table.target.byte_order,
        })
    }

    /// The leaves, in the order [`Self::decode`] returns their values.
    pub fn leaves(&self) -> &[Leaf] {
        &self.leaves
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// One value per leaf.
    pub fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
        let mut out = Vec::with_capacity(self.leaves.len());
        self.decode_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Like [`Self::decode`], into a reused vector (cleared first).
    pub fn decode_into(&self, bytes: &[u8], out: &mut Vec<Value>) -> Result<(), DecodeError> {
        out.clear();
        if (bytes.len() as u64) < self.size {
            return Err(self.short(bytes.len(), bytes.len() as u64));
        }
        for i in 0..self.readers.len() {
            out.push(self.decode_leaf(i, bytes)?);
        }
        Ok(())
    }

    /// The integer of leaf `index` (an integer, enum or bool) without building a
    /// [`Value`]; `None` for other leaves or when the bytes are too short.
    pub fn read_int(&self, index: usize, bytes: &[u8]) -> Option<i128> {
        match self.readers.get(index)? {
            Node::Scalar(s) => s
                .int(Reader {
                    bytes,
                    order: self.order,
                })
                .ok()
                .flatten(),
            _ => None,
        }
    }

    /// True when leaf `index` is a `char` array, decoded as [`Value::Str`].
    pub fn is_text(&self, index: usize) -> bool {
        matches!(
            self.readers.get(index),
            Some(Node::Bytes { text: true, .. })
        )
    }

    /// The values an enum leaf may hold, sorted; `None` for other leaves.
    pub fn enum_values(&self, index: usize) -> Option<Vec<i128>> {
        match self.readers.get(index)? {
            Node::Scalar(Scalar {
                kind: ScalarKind::Enum { values, .. },
                ..
            }) => {
                let mut v: Vec<i128> = values.iter().map(|(x, _)| *x).collect();
                v.sort_unstable();
                Some(v)
            }
            _ => None,
        }
    }

    /// The value of leaf `index` alone.
    pub fn decode_leaf(&self, index: usize, bytes: &[u8]) -> Result<Value, DecodeError> {
        let node = self
            .readers
            .get(index)
            .ok_or_else(|| DecodeError::Unsupported {
                type_name: self.type_name.clone(),
                what: format!("no leaf {index}"),
            })?;
        let r = Reader {
            bytes,
            order: self.order,
        };
        node.read(r, 0)
            .map_err(|Past(at)| self.short(bytes.len(), at))
    }

    fn short(&self, len: usize, offset: u64) -> DecodeError {
        DecodeError::Short {
            type_name: self.type_name.clone(),
            needed: self.size,
            len,
            offset,
        }
    }
}

/// `(leaf path, value)` for every leaf of type `id` (see [`FlatDecoder`]).
pub fn decode_flat(
    table: &TypeTable,
    id: TypeId,
    bytes: &[u8],
) -> Result<Vec<(String, Value)>, DecodeError> {
    let d = FlatDecoder::new(table, id)?;
    let values = d.decode(bytes)?;
    Ok(d.leaves
        .iter()
        .map(|l| l.path.clone())
        .zip(values)
        .collect())
}

// ---------------------------------------------------------------------------
// bpftool's conventions

/// The value as `bpftool -j map dump` prints it in `formatted` (bpftool 7.x,
/// `btf_dumper.c`): integers as numbers (128-bit ones and odd widths as `"0x..."`),
/// bitfields as `"0x..."` strings, enums by name or as a signed number, `char` arrays as
/// strings only when a NUL ends printable text (else as numbers), other byte arrays as
/// numbers, anonymous members under `""`, pointers as numbers.
pub fn to_bpftool_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    fn num(v: i128) -> J {
        if let Ok(x) = i64::try_from(v) {
            J::from(x)
        } else if let Ok(x) = u64::try_from(v) {
            J::from(x)
        } else {
            J::String(format!("0x{:x}", v as u128))
        }
    }
    fn bits_hex(v: &Value) -> J {
        match v {
            Value::Int { value, bits, .. } | Value::Enum { value, bits, .. } => J::String(format!(
                "0x{:x}",
                (*value as u128) & low_bits(u64::from(*bits))
            )),
            Value::Bool(b) => J::String(format!("0x{:x}", u8::from(*b))),
            other => to_bpftool_json(other),
        }
    }
    fn members(fields: &[Field]) -> J {
        let mut m = serde_json::Map::new();
        for f in fields {
            let v = if f.bitfield {
                bits_hex(&f.value)
            } else {
                to_bpftool_json(&f.value)
            };
            m.insert(f.name.to_string(), v);
        }
        J::Object(m)
    }
    match v {
        Value::Int { value, bits, .. } => match bits {
            8 | 16 | 32 | 64 => num(*value),
            _ => J::String(format!(
                "0x{:x}",
                (*value as u128) & low_bits(u64::from(*bits))
            )),
        },
        Value::Bool(b) => J::Bool(*b),
        Value::Float { value, .. } => serde_json::Number::from_f64(*value)
            .map(J::Number)
            .unwrap_or_else(|| J::String(value.to_string())),
        Value::Complex { re, im } => J::Array(vec![
            serde_json::Number::from_f64(*re).map_or(J::Null, J::Number),
            serde_json::Number::from_f64(*im).map_or(J::Null, J::Number),
        ]),
        Value::Enum { name: Some(n), .. } => J::String(n.to_string()),
        Value::Enum { value, bits, .. } => {
            // bpftool reads the enum as a signed integer of its size.
            num(sign_extend(*value as u128, u64::from(*bits)))
        }
        Value::Str { bytes, nul, signed } => {
            let printable =
                nul.is_some_and(|n| bytes[..n].iter().all(|b| (0x20..0x7f).contains(b)));
            match nul {
                Some(n) if printable => J::String(bytes[..*n].iter().map(|&b| b as char).collect()),
                _ => byte_array(bytes, *signed),
            }
        }
        Value::Bytes { bytes, signed } => byte_array(bytes, *signed),
        Value::Pointer(p) => J::from(*p),
        Value::Opaque { bytes, .. } => J::String(hex(bytes)),
        Value::Struct(fields) | Value::Union(fields) => members(fields),
        Value::Array(items) => J::Array(items.iter().map(to_bpftool_json).collect()),
    }
}

fn byte_array(bytes: &[u8], signed: bool) -> serde_json::Value {
    serde_json::Value::Array(
        bytes
            .iter()
            .map(|&b| {
                if signed {
                    serde_json::Value::from(b as i8)
                } else {
                    serde_json::Value::from(b)
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapsleuth_layout::{Composite, Member, Target, Type};

    fn int(t: &mut TypeTable, name: &str, size: u32, signed: bool) -> TypeId {
        t.push(Type::new(
            Some(name.into()),
            TypeKind::Int {
                size,
                signed,
                encoding: IntEncoding::Plain,
            },
        ))
    }

    fn member(name: &str, ty: TypeId, offset_bits: u64, bits: Option<u32>) -> Member {
        Member {
            name: Some(name.into()),
            ty,
            offset_bits,
            bitfield_bits: bits,
            embedded: false,
        }
    }

    #[test]
    fn bit_numbering_follows_the_byte_order() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let mut t = TypeTable::new(Target::bpf(order));
            let u32_ = int(&mut t, "u32", 4, false);
            let s = t.push(Type::new(
                Some("f".into()),
                TypeKind::Struct(Composite {
                    size: 4,
                    members: vec![
                        member("a", u32_, 0, Some(4)),
                        member("b", u32_, 4, Some(1)),
                        member("c", u32_, 5, Some(11)),
                        member("d", u32_, 16, Some(16)),
                    ],
                }),
            ));
            // a=5, b=1, c=0x3ff, d=0x1234 laid out in memory order.
            let bytes: [u8; 4] = match order {
                // LE: bit k of the storage is bit k%8 of byte k/8.
                ByteOrder::Little => {
                    let v: u32 = 5 | (1 << 4) | (0x3ff << 5) | (0x1234 << 16);
                    v.to_le_bytes()
                }
                // BE: bit 0 is the most significant bit of byte 0.
                ByteOrder::Big => {
                    let v: u32 = (5 << 28) | (1 << 27) | (0x3ff << 16) | 0x1234;
                    v.to_be_bytes()
                }
            };
            let v = decode(&t, s, &bytes).unwrap();
            assert_eq!(v.field("a").and_then(Value::as_int), Some(5), "{order:?}");
            assert_eq!(v.field("b").and_then(Value::as_int), Some(1), "{order:?}");
            assert_eq!(
                v.field("c").and_then(Value::as_int),
                Some(0x3ff),
                "{order:?}"
            );
            assert_eq!(
                v.field("d").and_then(Value::as_int),
                Some(0x1234),
                "{order:?}"
            );
        }
    }

    #[test]
    fn signed_bitfields_sign_extend() {
        let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
        let s32 = int(&mut t, "int", 4, true);
        let s = t.push(Type::new(
            Some("f".into()),
            TypeKind::Struct(Composite {
                size: 4,
                members: vec![member("x", s32, 3, Some(3))],
            }),
        ));
        let v = decode(&t, s, &[0b0011_1000, 0, 0, 0]).unwrap();
        assert_eq!(v.field("x").and_then(Value::as_int), Some(-1));
    }

    #[test]
    fn short_values_name_the_offset() {
        let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
        let u64_ = int(&mut t, "u64", 8, false);
        let e = decode(&t, u64_, &[1, 2, 3]).unwrap_err();
        assert!(
            matches!(
                e,
                DecodeError::Short {
                    needed: 8,
                    len: 3,
                    offset: 3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("3 bytes"), "{e}");
    }

    #[test]
    fn strings_escape_and_stop_at_nul() {
        let v = Value::Str {
            bytes: b"a\\b\xff\x01\0zz"[..].into(),
            nul: Some(5),
            signed: true,
        };
        assert_eq!(v.text().unwrap(), "a\\\\b\\xff\\x01");
        assert_eq!(serde_json::to_string(&v).unwrap(), r#""a\\\\b\\xff\\x01""#);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x0a, 0xff, 0]), "0aff00");
    }
}
