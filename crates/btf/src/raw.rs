//! The BTF wire format, read with nom over a borrowed blob. Every kind of
//! `include/uapi/linux/btf.h` through ENUM64 is a variant of [`BtfType`]; records are
//! located once (one offset per type id) and decoded on demand.

use nom::number::complete::{i32 as le_i32, u16 as nu16, u32 as nu32, u8 as nu8};
use nom::number::Endianness;
use nom::{IResult, Parser};

use mapsleuth_layout::ByteOrder;

use crate::{BtfError, ErrorKind};

/// A BTF type graph larger than this many types is refused (vmlinux has ~150,000).
pub const MAX_TYPES: usize = 4_000_000;

/// The BTF header (`struct btf_header`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub byte_order: ByteOrder,
    pub version: u8,
    pub flags: u8,
    pub hdr_len: u32,
    pub type_off: u32,
    pub type_len: u32,
    pub str_off: u32,
    pub str_len: u32,
}

/// BTF kind numbers (`BTF_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Int = 1,
    Ptr = 2,
    Array = 3,
    Struct = 4,
    Union = 5,
    Enum = 6,
    Fwd = 7,
    Typedef = 8,
    Volatile = 9,
    Const = 10,
    Restrict = 11,
    Func = 12,
    FuncProto = 13,
    Var = 14,
    Datasec = 15,
    Float = 16,
    DeclTag = 17,
    TypeTag = 18,
    Enum64 = 19,
}

impl Kind {
    pub fn from_u32(k: u32) -> Option<Kind> {
        use Kind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// The name bpftool prints (`STRUCT`, `FUNC_PROTO`, ...).
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Int => "INT",
            Ptr => "PTR",
            Array => "ARRAY",
            Struct => "STRUCT",
            Union => "UNION",
            Enum => "ENUM",
            Fwd => "FWD",
            Typedef => "TYPEDEF",
            Volatile => "VOLATILE",
            Const => "CONST",
            Restrict => "RESTRICT",
            Func => "FUNC",
            FuncProto => "FUNC_PROTO",
            Var => "VAR",
            Datasec => "DATASEC",
            Float => "FLOAT",
            DeclTag => "DECL_TAG",
            TypeTag => "TYPE_TAG",
            Enum64 => "ENUM64",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        (1..=19)
            .filter_map(Kind::from_u32)
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Bytes of kind-specific data after the 12-byte common record.
    fn extra_len(self, vlen: usize) -> usize {
        use Kind::*;
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            Enum64 => 12 * vlen,
            _ => 0,
        }
    }
}

/// `INT` encoding bits.
pub const INT_SIGNED: u8 = 1;
pub const INT_CHAR: u8 = 2;
pub const INT_BOOL: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawMember {
    pub name_off: u32,
    pub type_id: u32,
    /// Bit offset; for a `kind_flag` struct, the low 24 bits of the raw field.
    pub bit_offset: u32,
    /// Bitfield width from the `kind_flag` encoding (0 = not a bitfield).
    pub bitfield_size: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEnumValue {
    pub name_off: u32,
    /// ENUM values are 32-bit, ENUM64 values 64-bit; signedness is the type's.
    pub value: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawParam {
    pub name_off: u32,
    pub type_id: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSecInfo {
    pub type_id: u32,
    pub offset: u32,
    pub size: u32,
}

/// One decoded type record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfType {
    Int {
        size: u32,
        encoding: u8,
        offset: u8,
        bits: u8,
    },
    Ptr {
        type_id: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        size: u32,
        members: Vec<RawMember>,
    },
    Union {
        size: u32,
        members: Vec<RawMember>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<RawEnumValue>,
    },
    Fwd {
        union: bool,
    },
    Typedef {
        type_id: u32,
    },
    Volatile {
        type_id: u32,
    },
    Const {
        type_id: u32,
    },
    Restrict {
        type_id: u32,
    },
    Func {
        proto: u32,
        linkage: u16,
    },
    FuncProto {
        ret: u32,
        params: Vec<RawParam>,
    },
    Var {
        type_id: u32,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<RawSecInfo>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        type_id: u32,
        component_idx: i32,
    },
    TypeTag {
        type_id: u32,
    },
    Enum64 {
        size: u32,
        signed: bool,
        values: Vec<RawEnumValue>,
    },
}

impl BtfType {
    pub fn kind(&self) -> Kind {
        match self {
            BtfType::Int { .. } => Kind::Int,
            BtfType::Ptr { .. } => Kind::Ptr,
            BtfType::Array { .. } => Kind::Array,
            BtfType::Struct { .. } => Kind::Struct,
            BtfType::Union { .. } => Kind::Union,
            BtfType::Enum { .. } => Kind::Enum,
            BtfType::Fwd { .. } => Kind::Fwd,
            BtfType::Typedef { .. } => Kind::Typedef,
            BtfType::Volatile { .. } => Kind::Volatile,
            BtfType::Const { .. } => Kind::Const,
            BtfType::Restrict { .. } => Kind::Restrict,
            BtfType::Func { .. } => Kind::Func,
            BtfType::FuncProto { .. } => Kind::FuncProto,
            BtfType::Var { .. } => Kind::Var,
            BtfType::Datasec { .. } => Kind::Datasec,
            BtfType::Float { .. } => Kind::Float,
            BtfType::DeclTag { .. } => Kind::DeclTag,
            BtfType::TypeTag { .. } => Kind::TypeTag,
            BtfType::Enum64 { .. } => Kind::Enum64,
        }
    }

    /// Every type id this record refers to, for validation.
    pub fn referenced_ids(&self) -> Vec<u32> {
        match self {
            BtfType::Ptr { type_id }
            | BtfType::Typedef { type_id }
            | BtfType::Volatile { type_id }
            | BtfType::Const { type_id }
            | BtfType::Restrict { type_id }
            | BtfType::Var { type_id, .. }
            | BtfType::DeclTag { type_id, .. }
            | BtfType::TypeTag { type_id } => vec![*type_id],
            BtfType::Func { proto, .. } => vec![*proto],
            BtfType::Array { elem, index, .. } => vec![*elem, *index],
            BtfType::Struct { members, .. } | BtfType::Union { members, .. } => {
                members.iter().map(|m| m.type_id).collect()
            }
            BtfType::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.type_id))
                .collect(),
            BtfType::Datasec { vars, .. } => vars.iter().map(|v| v.type_id).collect(),
            _ => Vec::new(),
        }
    }
}

/// The 12-byte common part of every record.
#[derive(Clone, Copy, Debug)]
pub struct Common {
    pub name_off: u32,
    pub kind: Kind,
    pub vlen: usize,
    pub kind_flag: bool,
    pub size_or_type: u32,
}

impl Header {
    /// The byte order as nom's parsers take it (nom stays inside this crate).
    pub(crate) fn endian(&self) -> Endianness {
        nom_endian(self.byte_order)
    }
}

fn nom_endian(order: ByteOrder) -> Endianness {
    match order {
        ByteOrder::Little => Endianness::Little,
        ByteOrder::Big => Endianness::Big,
    }
}

/// The byte order of raw BTF, from its magic; `None` when it is not BTF.
pub fn byte_order_of(data: &[u8]) -> Option<ByteOrder> {
    match data.get(..2)? {
        [0x9f, 0xeb] => Some(ByteOrder::Little),
        [0xeb, 0x9f] => Some(ByteOrder::Big),
        _ => None,
    }
}

fn header_fields(order: ByteOrder) -> impl Fn(&[u8]) -> IResult<&[u8], Header> {
    let e = nom_endian(order);
    move |i| {
        let (i, (_magic, version, flags, hdr_len)) = (nu16(e), nu8, nu8, nu32(e)).parse(i)?;
        let (i, (type_off, type_len, str_off, str_len)) =
            (nu32(e), nu32(e), nu32(e), nu32(e)).parse(i)?;
        Ok((
            i,
            Header {
                byte_order: order,
                version,
                flags,
                hdr_len,
                type_off,
                type_len,
                str_off,
                str_len,
            },
        ))
    }
}

pub fn parse_header(data: &[u8]) -> Result<Header, BtfError> {
    let endian = byte_order_of(data).ok_or_else(|| {
        BtfError::at(
            0,
            ErrorKind::BadMagic {
                found: data.get(..2).map(|b| b.to_vec()).unwrap_or_default(),
            },
        )
    })?;
    let (_, h) = header_fields(endian)(data).map_err(|_| {
        BtfError::at(
            data.len(),
            ErrorKind::Truncated {
                what: "BTF header",
                need: 24,
            },
        )
    })?;
    if h.version != 1 {
        return Err(BtfError::at(2, ErrorKind::UnsupportedVersion(h.version)));
    }
    if h.hdr_len < 24 {
        return Err(BtfError::at(
            4,
            ErrorKind::BadHeader("hdr_len is smaller than 24 bytes".into()),
        ));
    }
    let end = |off: u32, len: u32| u64::from(h.hdr_len) + u64::from(off) + u64::from(len);
    if end(h.type_off, h.type_len) > data.len() as u64 {
        return Err(BtfError::at(
            12,
            ErrorKind::BadHeader(format!(
                "type section ({} bytes at {}) runs past the end of the {}-byte blob",
                h.type_len,
                u64::from(h.hdr_len) + u64::from(h.type_off),
                data.len()
            )),
        ));
    }
    if end(h.str_off, h.str_len) > data.len() as u64 {
        return Err(BtfError::at(
            20,
            ErrorKind::BadHeader(format!(
                "string section ({} bytes at {}) runs past the end of the {}-byte blob",
                h.str_len,
                u64::from(h.hdr_len) + u64::from(h.str_off),
                data.len()
            )),
        ));
    }
    if h.type_off % 4 != 0 {
        return Err(BtfError::at(
            8,
            ErrorKind::BadHeader("type section is not 4-byte aligned".into()),
        ));
    }
    Ok(h)
}

pub fn parse_common(i: &[u8], e: Endianness) -> IResult<&[u8], (u32, u32, u32)> {
    (nu32(e), nu32(e), nu32(e)).parse(i)
}

/// Splits the info word; `None` for an unknown kind.
pub fn split_info(name_off: u32, info: u32, size_or_type: u32) -> Result<Common, u32> {
    let k = (info >> 24) & 0x1f;
    let kind = Kind::from_u32(k).ok_or(k)?;
    Ok(Common {
        name_off,
        kind,
        vlen: (info & 0xffff) as usize,
        kind_flag: info >> 31 == 1,
        size_or_type,
    })
}

/// Length in bytes of the record at the start of `i` (common part plus extra data).
pub fn record_len(c: &Common) -> usize {
    12 + c.kind.extra_len(c.vlen)
}

/// Decodes the extra data of a record whose common part is `c`; `i` starts after it.
pub fn parse_extra<'a>(i: &'a [u8], c: &Common, e: Endianness) -> IResult<&'a [u8], BtfType> {
    use nom::multi::count;
    let so = c.size_or_type;
    match c.kind {
        Kind::Int => {
            let (i, v) = nu32(e)(i)?;
            Ok((
                i,
                BtfType::Int {
                    size: so,
                    encoding: ((v >> 24) & 0x0f) as u8,
                    offset: ((v >> 16) & 0xff) as u8,
                    bits: (v & 0xff) as u8,
                },
            ))
        }
        Kind::Ptr => Ok((i, BtfType::Ptr { type_id: so })),
        Kind::Array => {
            let (i, (elem, index, nelems)) = (nu32(e), nu32(e), nu32(e)).parse(i)?;
            Ok((
                i,
                BtfType::Array {
                    elem,
                    index,
                    nelems,
                },
            ))
        }
        Kind::Struct | Kind::Union => {
            let kf = c.kind_flag;
            let (i, members) = count(
                (nu32(e), nu32(e), nu32(e)).map(move |(name_off, type_id, off)| RawMember {
                    name_off,
                    type_id,
                    bit_offset: if kf { off & 0x00ff_ffff } else { off },
                    bitfield_size: if kf { (off >> 24) as u8 } else { 0 },
                }),
                c.vlen,
            )
            .parse(i)?;
            Ok((
                i,
                if c.kind == Kind::Struct {
                    BtfType::Struct { size: so, members }
                } else {
                    BtfType::Union { size: so, members }
                },
            ))
        }
        Kind::Enum => {
            let signed = c.kind_flag;
            let (i, values) = count(
                (nu32(e), le_i32(e)).map(move |(name_off, v)| RawEnumValue {
                    name_off,
                    value: if signed {
                        v as i64 as u64
                    } else {
                        v as u32 as u64
                    },
                }),
                c.vlen,
            )
            .parse(i)?;
            Ok((
                i,
                BtfType::Enum {
                    size: so,
                    signed,
                    values,
                },
            ))
        }
        Kind::Enum64 => {
            let (i, values) = count(
                (nu32(e), nu32(e), nu32(e)).map(|(name_off, lo, hi)| RawEnumValue {
                    name_off,
                    value: (u64::from(hi) << 32) | u64::from(lo),
                }),
                c.vlen,
            )
            .parse(i)?;
            Ok((
                i,
                BtfType::Enum64 {
                    size: so,
                    signed: c.kind_flag,
                    values,
                },
            ))
        }
        Kind::Fwd => Ok((i, BtfType::Fwd { union: c.kind_flag })),
        Kind::Typedef => Ok((i, BtfType::Typedef { type_id: so })),
        Kind::Volatile => Ok((i, BtfType::Volatile { type_id: so })),
        Kind::Const => Ok((i, BtfType::Const { type_id: so })),
        Kind::Restrict => Ok((i, BtfType::Restrict { type_id: so })),
        Kind::TypeTag => Ok((i, BtfType::TypeTag { type_id: so })),
        Kind::Func => Ok((
            i,
            BtfType::Func {
                proto: so,
                linkage: c.vlen as u16,
            },
        )),
        Kind::FuncProto => {
            let (i, params) = count(
                (nu32(e), nu32(e)).map(|(name_off, type_id)| RawParam { name_off, type_id }),
                c.vlen,
            )
            .parse(i)?;
            Ok((i, BtfType::FuncProto { ret: so, params }))
        }
        Kind::Var => {
            let (i, linkage) = nu32(e)(i)?;
            Ok((
                i,
                BtfType::Var {
                    type_id: so,
                    linkage,
                },
            ))
        }
        Kind::Datasec => {
            let (i, vars) = count(
                (nu32(e), nu32(e), nu32(e)).map(|(type_id, offset, size)| RawSecInfo {
                    type_id,
                    offset,
                    size,
                }),
                c.vlen,
            )
            .parse(i)?;
            Ok((i, BtfType::Datasec { size: so, vars }))
        }
        Kind::Float => Ok((i, BtfType::Float { size: so })),
        Kind::DeclTag => {
            let (i, component_idx) = le_i32(e)(i)?;
            Ok((
                i,
                BtfType::DeclTag {
                    type_id: so,
                    component_idx,
                },
            ))
        }
    }
}
