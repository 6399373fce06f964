//! One typed column builder per leaf field: the dtype a leaf gets, and how a decoded
//! [`Value`] goes into it.

use mapsleuth_forensics::decode::{escape, Value};
use mapsleuth_layout::{Leaf, LeafKind};
use polars::prelude::*;

/// The dtype of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Str,
    Bin,
}

impl ColType {
    /// The integer dtype holding `bits` bits (a bitfield's width or an integer's size);
    /// 65 to 128 bits (`__int128`) become decimal text, which every reader keeps exactly;
    /// wider ones are bytes, as the decoder reads them.
    fn int(bits: u64, signed: bool) -> ColType {
        match (bits, signed) {
            (0..=8, false) => ColType::U8,
            (9..=16, false) => ColType::U16,
            (17..=32, false) => ColType::U32,
            (33..=64, false) => ColType::U64,
            (0..=8, true) => ColType::I8,
            (9..=16, true) => ColType::I16,
            (17..=32, true) => ColType::I32,
            (33..=64, true) => ColType::I64,
            (65..=128, _) => ColType::Str,
            _ => ColType::Bin,
        }
    }

    /// The dtype of a leaf field (docs/frames.md has the table). `text` says whether a
    /// one-byte array is text, as the decoder reads it (bpftool's rule: `char` elements).
    /// What the decoder cannot read as a number (a `long double`, a 256-bit integer) is
    /// its bytes.
    pub fn of_leaf(leaf: &Leaf, text: bool) -> ColType {
        let bits = leaf.size_bits;
        match &leaf.kind {
            LeafKind::Int { signed } => ColType::int(bits, *signed),
            LeafKind::Char { signed } => ColType::int(8, *signed),
            LeafKind::Bool if bits <= 128 => ColType::Bool,
            LeafKind::Float if !leaf.bitfield && bits == 32 => ColType::F32,
            LeafKind::Float if !leaf.bitfield && bits == 64 => ColType::F64,
            // Enums by name: the number alone is what the user cannot read.
            LeafKind::Enum { .. } if bits <= 128 => ColType::Str,
            LeafKind::Complex if !leaf.bitfield && (bits == 64 || bits == 128) => ColType::Str,
            LeafKind::Pointer if bits <= 64 => ColType::U64,
            LeafKind::Bytes { .. } if text => ColType::Str,
            _ => ColType::Bin,
        }
    }

    pub fn dtype(self) -> DataType {
        match self {
            ColType::Bool => DataType::Boolean,
            ColType::U8 => DataType::UInt8,
            ColType::U16 => DataType::UInt16,
            ColType::U32 => DataType::UInt32,
            ColType::U64 => DataType::UInt64,
            ColType::I8 => DataType::Int8,
            ColType::I16 => DataType::Int16,
            ColType::I32 => DataType::Int32,
            ColType::I64 => DataType::Int64,
            ColType::F32 => DataType::Float32,
            ColType::F64 => DataType::Float64,
            ColType::Str => DataType::String,
            ColType::Bin => DataType::Binary,
        }
    }
}

/// A column being filled, row by row.
pub enum ColumnBuilder {
    Bool(BooleanChunkedBuilder),
    U8(PrimitiveChunkedBuilder<UInt8Type>),
    U16(PrimitiveChunkedBuilder<UInt16Type>),
    U32(PrimitiveChunkedBuilder<UInt32Type>),
    U64(PrimitiveChunkedBuilder<UInt64Type>),
    I8(PrimitiveChunkedBuilder<Int8Type>),
    I16(PrimitiveChunkedBuilder<Int16Type>),
    I32(PrimitiveChunkedBuilder<Int32Type>),
    I64(PrimitiveChunkedBuilder<Int64Type>),
    F32(PrimitiveChunkedBuilder<Float32Type>),
    F64(PrimitiveChunkedBuilder<Float64Type>),
    Str(StringChunkedBuilder),
    Bin(BinaryChunkedBuilder),
}

impl ColumnBuilder {
    pub fn new(name: &str, ty: ColType, capacity: usize) -> Self {
        let name = PlSmallStr::from_str(name);
        match ty {
            ColType::Bool => ColumnBuilder::Bool(BooleanChunkedBuilder::new(name, capacity)),
            ColType::U8 => ColumnBuilder::U8(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::U16 => ColumnBuilder::U16(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::U32 => ColumnBuilder::U32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::U64 => ColumnBuilder::U64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::I8 => ColumnBuilder::I8(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::I16 => ColumnBuilder::I16(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::I32 => ColumnBuilder::I32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::I64 => ColumnBuilder::I64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::F32 => ColumnBuilder::F32(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::F64 => ColumnBuilder::F64(PrimitiveChunkedBuilder::new(name, capacity)),
            ColType::Str => ColumnBuilder::Str(StringChunkedBuilder::new(name, capacity)),
            ColType::Bin => ColumnBuilder::Bin(BinaryChunkedBuilder::new(name, capacity)),
        }
    }

    pub fn push_null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::U8(b) => b.append_null(),
            ColumnBuilder::U16(b) => b.append_null(),
            ColumnBuilder::U32(b) => b.append_null(),
            ColumnBuilder::U64(b) => b.append_null(),
            ColumnBuilder::I8(b) => b.append_null(),
            ColumnBuilder::I16(b) => b.append_null(),
            ColumnBuilder::I32(b) => b.append_null(),
            ColumnBuilder::I64(b) => b.append_null(),
            ColumnBuilder::F32(b) => b.append_null(),
            ColumnBuilder::F64(b) => b.append_null(),
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Bin(b) => b.append_null(),
        }
    }

    pub fn push_str(&mut self, s: Option<&str>) {
        match self {
            ColumnBuilder::Str(b) => b.append_option(s),
            other => other.push_null(),
        }
    }

    pub fn push_bytes(&mut self, s: Option<&[u8]>) {
        match self {
            ColumnBuilder::Bin(b) => b.append_option(s),
            other => other.push_null(),
        }
    }

    pub fn push_u64(&mut self, v: Option<u64>) {
        match (self, v) {
            (ColumnBuilder::U64(b), v) => b.append_option(v),
            (ColumnBuilder::U32(b), v) => b.append_option(v.and_then(|v| u32::try_from(v).ok())),
            (other, _) => other.push_null(),
        }
    }

    /// A decoded value of the leaf this column was made for. A value that does not fit
    /// the column (which the leaf's type rules out) is a null, never a panic.
    pub fn push_value(&mut self, v: &Value) {
        fn int<T: TryFrom<i128>>(v: &Value) -> Option<T> {
            v.as_int().and_then(|i| T::try_from(i).ok())
        }
        match self {
            ColumnBuilder::Bool(b) => b.append_option(match v {
                Value::Bool(x) => Some(*x),
                other => other.as_int().map(|i| i != 0),
            }),
            ColumnBuilder::U8(b) => b.append_option(int(v)),
            ColumnBuilder::U16(b) => b.append_option(int(v)),
            ColumnBuilder::U32(b) => b.append_option(int(v)),
            ColumnBuilder::U64(b) => b.append_option(match v {
                Value::Pointer(p) => Some(*p),
                other => int(other),
            }),
            ColumnBuilder::I8(b) => b.append_option(int(v)),
            ColumnBuilder::I16(b) => b.append_option(int(v)),
            ColumnBuilder::I32(b) => b.append_option(int(v)),
            ColumnBuilder::I64(b) => b.append_option(int(v)),
            ColumnBuilder::F32(b) => b.append_option(match v {
                Value::Float { value, .. } => Some(*value as f32),
                _ => None,
            }),
            ColumnBuilder::F64(b) => b.append_option(match v {
                Value::Float { value, .. } => Some(*value),
                _ => None,
            }),
            ColumnBuilder::Str(b) => match v {
                Value::Str { bytes, nul, .. } => {
                    let end = nul.unwrap_or(bytes.len());
                    b.append_value(escape(bytes.get(..end).unwrap_or(bytes)))
                }
                Value::Enum {
                    name: Some(name), ..
                } => b.append_value(&**name),
                Value::Enum { value, .. }
                | Value::Int {
                    value,
                    signed: true,
                    ..
                } => b.append_value(value.to_string()),
                // The decoder keeps an unsigned 128-bit value's bits in an i128.
                Value::Int {
                    value,
                    signed: false,
                    ..
                } => b.append_value((*value as u128).to_string()),
                Value::Complex { re, im } => b.append_value(format!("({re}{im:+}i)")),
                _ => b.append_null(),
            },
            ColumnBuilder::Bin(b) => match v {
                Value::Bytes { bytes, .. }
                | Value::Str { bytes, .. }
                | Value::Opaque { bytes, .. } => b.append_value(&**bytes),
                _ => b.append_null(),
            },
        }
    }

    pub fn finish(self) -> Column {
        match self {
            ColumnBuilder::Bool(b) => b.finish().into_column(),
            ColumnBuilder::U8(b) => b.finish().into_column(),
            ColumnBuilder::U16(b) => b.finish().into_column(),
            ColumnBuilder::U32(b) => b.finish().into_column(),
            ColumnBuilder::U64(b) => b.finish().into_column(),
            ColumnBuilder::I8(b) => b.finish().into_column(),
            ColumnBuilder::I16(b) => b.finish().into_column(),
            ColumnBuilder::I32(b) => b.finish().into_column(),
            ColumnBuilder::I64(b) => b.finish().into_column(),
            ColumnBuilder::F32(b) => b.finish().into_column(),
            ColumnBuilder::F64(b) => b.finish().into_column(),
            ColumnBuilder::Str(b) => b.finish().into_column(),
            ColumnBuilder::Bin(b) => b.finish().into_column(),
        }
    }
}
