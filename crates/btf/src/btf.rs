//! A parsed BTF blob: the type records located by id, their names, validation, and the
//! conversion to the layout model. Split BTF (a kernel module's) continues the ids and
//! string offsets of its base.

use std::collections::HashMap;

use mapsleuth_layout::{
    ByteOrder, Composite, EnumValue, IntEncoding, Member, Qualifier, Target, Type, TypeKind,
    TypeTable,
};

use crate::raw::{self, BtfType, Common, Header, Kind, MAX_TYPES};
use crate::{BtfError, ErrorKind};

/// BTF over a borrowed blob. Records are decoded when asked for.
#[derive(Debug)]
pub struct Btf<'a> {
    header: Header,
    types: &'a [u8],
    strings: &'a [u8],
    /// Start of each local type record in `types`; local index 0 is id `first_id`.
    offsets: Vec<u32>,
    /// Byte offset of the type section in the blob, for error messages.
    types_at: usize,
    base: Option<&'a Btf<'a>>,
    first_id: u32,
    /// Split BTF string offsets below this refer to the base's strings.
    str_base: u32,
    /// Where the blob starts in the file it came from (the `.BTF` section offset).
    pub file_offset: usize,
    /// Found once: asked for every pointer's size.
    pointer_size: std::sync::OnceLock<u32>,
}

impl<'a> Btf<'a> {
    /// Parses base BTF (vmlinux, a BPF object's `.BTF`, a raw blob).
    pub fn parse(data: &'a [u8]) -> Result<Self, BtfError> {
        Self::parse_inner(data, None)
    }

    /// Parses split BTF whose ids and strings continue those of `base`.
    pub fn parse_split(data: &'a [u8], base: &'a Btf<'a>) -> Result<Self, BtfError> {
        Self::parse_inner(data, Some(base))
    }

    fn parse_inner(data: &'a [u8], base: Option<&'a Btf<'a>>) -> Result<Self, BtfError> {
        let header = raw::parse_header(data)?;
        let types_at = (header.hdr_len + header.type_off) as usize;
        let strings_at = (header.hdr_len + header.str_off) as usize;
        let types = &data[types_at..types_at + header.type_len as usize];
        let strings = &data[strings_at..strings_at + header.str_len as usize];
        if base.is_none() && !strings.is_empty() && strings[0] != 0 {
            return Err(BtfError::at(
                strings_at,
                ErrorKind::Invalid("string section does not start with an empty string".into()),
            ));
        }
        if strings.last().is_some_and(|&b| b != 0) {
            return Err(BtfError::at(
                strings_at + strings.len() - 1,
                ErrorKind::Invalid("string section does not end with a NUL".into()),
            ));
        }
        let (first_id, str_base) = match base {
            Some(b) => (b.count() + 1, b.str_base + b.strings.len() as u32),
            None => (1, 0),
        };
        let mut offsets = Vec::with_capacity(header.type_len as usize / 16);
        let mut pos = 0usize;
        while pos < types.len() {
            let id = first_id as usize + offsets.len();
            if offsets.len() >= MAX_TYPES {
                return Err(BtfError::at(
                    types_at + pos,
                    ErrorKind::Limit {
                        what: "types",
                        limit: MAX_TYPES,
                    },
                ));
            }
            let (_, (name_off, info, so)) = raw::parse_common(&types[pos..], header.endian())
                .map_err(|_| {
                    BtfError::at(
                        types_at + pos,
                        ErrorKind::Truncated {
                            what: "type record",
                            need: 12,
                        },
                    )
                    .with_type(id as u32)
                })?;
            let common = raw::split_info(name_off, info, so).map_err(|k| {
                BtfError::at(types_at + pos + 4, ErrorKind::UnknownKind(k)).with_type(id as u32)
            })?;
            let len = raw::record_len(&common);
            if pos + len > types.len() {
                return Err(BtfError::at(
                    types_at + pos,
                    ErrorKind::Truncated {
                        what: "type record",
                        need: len,
                    },
                )
                .with_type(id as u32));
            }
            offsets.push(pos as u32);
            pos += len;
        }
        Ok(Btf {
            header,
            types,
            strings,
            offsets,
            types_at,
            base,
            first_id,
            str_base,
            file_offset: 0,
            pointer_size: std::sync::OnceLock::new(),
        })
    }

    pub fn byte_order(&self) -> ByteOrder {
        self.header.byte_order
    }

    /// The highest type id (base types included for split BTF).
    pub fn count(&self) -> u32 {
        self.first_id - 1 + self.offsets.len() as u32
    }

    /// The first id this blob defines (1 for base BTF).
    pub fn first_id(&self) -> u32 {
        self.first_id
    }

    pub fn base(&self) -> Option<&'a Btf<'a>> {
        self.base
    }

    /// Byte offset of a type's record in the blob (for error messages).
    pub fn offset_of(&self, id: u32) -> Option<usize> {
        if id < self.first_id {
            return self.base.and_then(|b| b.offset_of(id));
        }
        let local = (id - self.first_id) as usize;
        self.offsets.get(local).map(|&o| self.types_at + o as usize)
    }

    /// The common part and decoded record of a type. Id 0 is `void` and has none.
    pub fn get(&self, id: u32) -> Result<(Common, BtfType), BtfError> {
        if id < self.first_id {
            return match self.base {
                Some(b) if id > 0 => b.get(id),
                _ => Err(BtfError::at(0, ErrorKind::BadTypeId(id))),
            };
        }
        let local = (id - self.first_id) as usize;
        let off = *self
            .offsets
            .get(local)
            .ok_or_else(|| BtfError::at(0, ErrorKind::BadTypeId(id)))? as usize;
        let at = self.types_at + off;
        let rec = &self.types[off..];
        let e = self.header.endian();
        let parse = || -> Option<(Common, BtfType)> {
            let (rest, (n, info, so)) = raw::parse_common(rec, e).ok()?;
            let c = raw::split_info(n, info, so).ok()?;
            let (_, t) = raw::parse_extra(rest, &c, e).ok()?;
            Some((c, t))
        };
        parse().ok_or_else(|| {
            BtfError::at(
                at,
                ErrorKind::Truncated {
                    what: "type record",
                    need: 12,
                },
            )
            .with_type(id)
        })
    }

    /// A string by offset (split BTF offsets continue the base's).
    pub fn string(&self, off: u32) -> Result<&'a str, BtfError> {
        if off < self.str_base {
            return match self.base {
                Some(b) => b.string(off),
                None => Err(BtfError::at(0, ErrorKind::BadString(off))),
            };
        }
        let local = (off - self.str_base) as usize;
        let bytes = self
            .strings
            .get(local..)
            .ok_or_else(|| BtfError::at(self.strings_at(), ErrorKind::BadString(off)))?;
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| BtfError::at(self.strings_at() + local, ErrorKind::BadString(off)))?;
        std::str::from_utf8(&bytes[..end]).map_err(|_| {
            BtfError::at(
                self.strings_at() + local,
                ErrorKind::Invalid(format!("string at offset {off} is not UTF-8")),
            )
        })
    }

    fn strings_at(&self) -> usize {
        (self.header.hdr_len + self.header.str_off) as usize
    }

    /// The type's own name, empty for anonymous types.
    pub fn name_of(&self, id: u32) -> Result<&'a str, BtfError> {
        if id == 0 {
            return Ok("void");
        }
        let (c, _) = self.get(id)?;
        self.string(c.name_off)
    }

    /// Ids of the types named `name` (base first).
    pub fn ids_named(&self, name: &str) -> Vec<u32> {
        let mut out = self.base.map(|b| b.ids_named(name)).unwrap_or_default();
        let e = self.header.endian();
        for (i, &off) in self.offsets.iter().enumerate() {
            let Ok((_, (name_off, _, _))) = raw::parse_common(&self.types[off as usize..], e)
            else {
                continue;
            };
            if self.string_is(name_off, name.as_bytes()) {
                out.push(self.first_id + i as u32);
            }
        }
        out
    }

    /// Whether the string at `off` is exactly `want`: a byte comparison, without
    /// measuring or UTF-8-checking every name a scan passes (vmlinux has ~126,000).
    fn string_is(&self, off: u32, want: &[u8]) -> bool {
        if off < self.str_base {
            return self.base.is_some_and(|b| b.string_is(off, want));
        }
        let local = (off - self.str_base) as usize;
        let Some(end) = local.checked_add(want.len()) else {
            return false;
        };
        self.strings.get(local..end) == Some(want) && self.strings.get(end) == Some(&0)
    }

    /// The type a user means by `name`: `struct x`/`union x`/`enum x` or a bare name.
    /// A definition wins over a forward declaration, then structs and unions over
    /// typedefs, then anything else that is a data type. Functions, variables and
    /// declaration tags are never picked.
    pub fn find_type(&self, name: &str) -> Result<u32, BtfError> {
        let (want, bare) = match name.split_once(' ') {
            Some(("struct", b)) => (Some(Kind::Struct), b.trim()),
            Some(("union", b)) => (Some(Kind::Union), b.trim()),
            Some(("enum", b)) => (Some(Kind::Enum), b.trim()),
            _ => (None, name.trim()),
        };
        let mut best: Option<(u8, u32)> = None;
        for id in self.ids_named(bare) {
            let Ok((c, _)) = self.get(id) else { continue };
            let rank = match (want, c.kind) {
                (Some(Kind::Enum), Kind::Enum | Kind::Enum64) => 0,
                (Some(w), k) if w == k => 0,
                (Some(_), _) => continue,
                (None, Kind::Struct | Kind::Union) => 0,
                (None, Kind::Typedef) => 1,
                (
                    None,
                    Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag | Kind::FuncProto,
                ) => continue,
                (None, Kind::Fwd) => 3,
                (None, _) => 2,
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, id));
            }
        }
        best.map(|(_, id)| id).ok_or_else(|| {
            let mut near: Vec<&str> = Vec::new();
            let lower = bare.to_ascii_lowercase();
            for id in 1..=self.count() {
                if let Ok(n) = self.name_of(id) {
                    if !n.is_empty()
                        && n.to_ascii_lowercase().contains(&lower)
                        && !near.contains(&n)
                    {
                        near.push(n);
                        if near.len() == 5 {
                            break;
                        }
                    }
                }
            }
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (similar: {})", near.join(", "))
            };
            BtfError::at(
                0,
                ErrorKind::NotFound(format!("no type named `{name}`{hint}")),
            )
        })
    }

    /// Checks every record this blob defines: kinds, string offsets, referenced ids,
    /// sizes and member offsets. Stops at the first problem, naming its byte offset
    /// and type id.
    pub fn validate(&self) -> Result<(), BtfError> {
        let count = self.count();
        for local in 0..self.offsets.len() {
            let id = self.first_id + local as u32;
            let at = self.types_at + self.offsets[local] as usize;
            let err = |kind: ErrorKind| BtfError::at(at, kind).with_type(id);
            let (c, t) = self.get(id)?;
            self.string(c.name_off)
                .map_err(|_| err(ErrorKind::BadString(c.name_off)))?;
            for r in t.referenced_ids() {
                if r > count {
                    return Err(err(ErrorKind::BadTypeId(r)));
                }
            }
            match &t {
                BtfType::Int {
                    size, bits, offset, ..
                } => {
                    if !matches!(size, 1 | 2 | 4 | 8 | 16) {
                        return Err(err(ErrorKind::Invalid(format!(
                            "INT size {size} is not 1, 2, 4, 8 or 16"
                        ))));
                    }
                    if u32::from(*bits) + u32::from(*offset) > size * 8 {
                        return Err(err(ErrorKind::Invalid(format!(
                            "INT has {bits} bits at offset {offset}, more than its {size} bytes hold"
                        ))));
                    }
                }
                BtfType::Struct { size, members } | BtfType::Union { size, members } => {
                    for (i, m) in members.iter().enumerate() {
                        self.string(m.name_off)
                            .map_err(|_| err(ErrorKind::BadString(m.name_off)))?;
                        let msize_bits = if m.bitfield_size > 0 {
                            u64::from(m.bitfield_size)
                        } else {
                            self.size_of(m.type_id).unwrap_or(0).saturating_mul(8)
                        };
                        if u64::from(m.bit_offset) + msize_bits > u64::from(*size) * 8 {
                            return Err(err(ErrorKind::Invalid(format!(
                                "member {i} (`{}`) at bit {} with {} bits runs past the {}-byte {}",
                                self.string(m.name_off).unwrap_or("?"),
                                m.bit_offset,
                                msize_bits,
                                size,
                                c.kind.name()
                            ))));
                        }
                    }
                }
                BtfType::Enum { values, .. } | BtfType::Enum64 { values, .. } => {
                    for v in values {
                        self.string(v.name_off)
                            .map_err(|_| err(ErrorKind::BadString(v.name_off)))?;
                    }
                }
                BtfType::FuncProto { params, .. } => {
                    for p in params {
                        self.string(p.name_off)
                            .map_err(|_| err(ErrorKind::BadString(p.name_off)))?;
                    }
                }
                BtfType::Func { proto, .. }
                    if !matches!(self.get(*proto), Ok((_, BtfType::FuncProto { .. }))) =>
                {
                    return Err(err(ErrorKind::Invalid(format!(
                        "FUNC points at type {proto}, not a FUNC_PROTO"
                    ))));
                }
                BtfType::Array { elem, .. } if *elem == 0 => {
                    return Err(err(ErrorKind::Invalid("ARRAY of void".into())));
                }
                _ => {}
            }
            // Typedefs, qualifiers and arrays must lead to a sized type: a loop
            // (`typedef a b; typedef b a`, CONST of itself) never does, and the kernel
            // refuses it.
            if matches!(
                c.kind,
                Kind::Typedef
                    | Kind::Volatile
                    | Kind::Const
                    | Kind::Restrict
                    | Kind::TypeTag
                    | Kind::Array
            ) {
                if let Err(BtfError {
                    kind: ErrorKind::TooDeep,
                    ..
                }) = self.size_of(id)
                {
                    return Err(err(ErrorKind::TooDeep));
                }
            }
        }
        Ok(())
    }

    /// Size in bytes of a type, following the graph (bounded).
    pub fn size_of(&self, id: u32) -> Result<u64, BtfError> {
        let mut id = id;
        let mut mult: u64 = 1;
        for _ in 0..=mapsleuth_layout::MAX_DEPTH {
            if id == 0 {
                return Ok(0);
            }
            let (_, t) = self.get(id)?;
            match t {
                BtfType::Int { size, .. }
                | BtfType::Struct { size, .. }
                | BtfType::Union { size, .. }
                | BtfType::Enum { size, .. }
                | BtfType::Enum64 { size, .. }
                | BtfType::Float { size }
                | BtfType::Datasec { size, .. } => return Ok(mult.saturating_mul(u64::from(size))),
                BtfType::Ptr { .. } => {
                    return Ok(mult.saturating_mul(u64::from(self.pointer_size())))
                }
                BtfType::Array { elem, nelems, .. } => {
                    mult = mult.saturating_mul(u64::from(nelems));
                    id = elem;
                }
                BtfType::Typedef { type_id }
                | BtfType::Volatile { type_id }
                | BtfType::Const { type_id }
                | BtfType::Restrict { type_id }
                | BtfType::TypeTag { type_id }
                | BtfType::Var { type_id, .. } => id = type_id,
                _ => return Ok(0),
            }
        }
        Err(BtfError::at(self.offset_of(id).unwrap_or(0), ErrorKind::TooDeep).with_type(id))
    }

    /// Pointer size of the target: BTF does not record it, so take it from `long` as
    /// libbpf does, defaulting to 8.
    pub fn pointer_size(&self) -> u32 {
        if let Some(b) = self.base {
            return b.pointer_size();
        }
        *self.pointer_size.get_or_init(|| self.find_pointer_size())
    }

    fn find_pointer_size(&self) -> u32 {
        // One pass over the records, looking only at INTs: the first INT with the
        // earliest of these names wins.
        const NAMES: [&str; 4] = ["long", "unsigned long", "long int", "long unsigned int"];
        let mut best: Option<(usize, u32)> = None;
        for &off in &self.offsets {
            let Ok((_, (name_off, info, size))) =
                raw::parse_common(&self.types[off as usize..], self.header.endian())
            else {
                continue;
            };
            if !matches!(raw::split_info(name_off, info, size), Ok(c) if c.kind == Kind::Int) {
                continue;
            }
            if let Some(rank) = NAMES
                .iter()
                .position(|n| self.string_is(name_off, n.as_bytes()))
            {
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, size));
                }
            }
        }
        best.map_or(8, |(_, size)| size)
    }

    /// The layout model of every type, with the same ids as BTF's.
    pub fn to_table(&self) -> Result<TypeTable, BtfError> {
        let mut target = Target::bpf(self.byte_order());
        target.pointer_size = self.pointer_size();
        let mut table = TypeTable::new(target);
        let count = self.count();
        for id in 1..=count {
            let ty = self.convert(id)?;
            table.push(ty);
        }
        Ok(table)
    }

    fn convert(&self, id: u32) -> Result<Type, BtfError> {
        let (c, t) = self.get(id)?;
        let name = self.string(c.name_off)?;
        let name = (!name.is_empty()).then(|| name.to_string());
        let kind = match t {
            BtfType::Int { size, encoding, .. } => TypeKind::Int {
                size,
                signed: encoding & raw::INT_SIGNED != 0,
                encoding: if encoding & raw::INT_BOOL != 0 {
                    IntEncoding::Bool
                } else if encoding & raw::INT_CHAR != 0
                    || name.as_deref().is_some_and(|n| n.ends_with("char"))
                {
                    IntEncoding::Char
                } else {
                    IntEncoding::Plain
                },
            },
            BtfType::Ptr { type_id } => TypeKind::Pointer { target: type_id },
            BtfType::Array { elem, nelems, .. } => TypeKind::Array {
                elem,
                len: u64::from(nelems),
            },
            BtfType::Struct { size, members } | BtfType::Union { size, members } => {
                let mut out = Vec::with_capacity(members.len());
                for m in &members {
                    let mname = self.string(m.name_off)?;
                    let (mut offset_bits, mut bitfield_bits) = (
                        u64::from(m.bit_offset),
                        (m.bitfield_size > 0).then_some(u32::from(m.bitfield_size)),
                    );
                    // Without kind_flag, a bitfield is a member whose INT type has
                    // fewer bits than its size (the old encoding).
                    if !c.kind_flag {
                        if let Some((bits, int_off)) = self.int_bitfield(m.type_id) {
                            offset_bits += u64::from(int_off);
                            bitfield_bits = Some(bits);
                        }
                    }
                    out.push(Member {
                        name: (!mname.is_empty()).then(|| mname.to_string()),
                        ty: m.type_id,
                        offset_bits,
                        bitfield_bits,
                        embedded: false,
                    });
                }
                let comp = Composite {
                    size: u64::from(size),
                    members: out,
                };
                if c.kind == Kind::Struct {
                    TypeKind::Struct(comp)
                } else {
                    TypeKind::Union(comp)
                }
            }
            BtfType::Enum {
                size,
                signed,
                values,
            }
            | BtfType::Enum64 {
                size,
                signed,
                values,
            } => {
                let is64 = c.kind == Kind::Enum64;
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    let value = match (signed, is64) {
                        (true, _) => i128::from(v.value as i64),
                        (false, true) => i128::from(v.value),
                        (false, false) => i128::from(v.value as u32),
                    };
                    out.push(EnumValue {
                        name: self.string(v.name_off)?.to_string(),
                        value,
                    });
                }
                TypeKind::Enum {
                    size,
                    signed,
                    values: out,
                }
            }
            BtfType::Fwd { union } => TypeKind::Forward { union },
            BtfType::Typedef { type_id } => TypeKind::Typedef { target: type_id },
            BtfType::Volatile { type_id } => TypeKind::Qualified {
                qualifier: Qualifier::Volatile,
                target: type_id,
            },
            BtfType::Const { type_id } => TypeKind::Qualified {
                qualifier: Qualifier::Const,
                target: type_id,
            },
            BtfType::Restrict { type_id } => TypeKind::Qualified {
                qualifier: Qualifier::Restrict,
                target: type_id,
            },
            BtfType::TypeTag { type_id } => TypeKind::TypeTag {
                tag: name.clone().unwrap_or_default(),
                target: type_id,
            },
            BtfType::Float { size } => TypeKind::Float { size },
            BtfType::Func { .. } | BtfType::FuncProto { .. } => TypeKind::Function,
            // Variables, sections and declaration tags are not data types; they keep
            // their name so that listings can show them, and point nowhere.
            BtfType::Var { type_id, .. } => TypeKind::Typedef { target: type_id },
            BtfType::Datasec { .. } | BtfType::DeclTag { .. } => TypeKind::Function,
        };
        let name = if c.kind == Kind::TypeTag { None } else { name };
        Ok(Type::new(name, kind))
    }

    /// For an INT (through typedefs/qualifiers) whose bit count is smaller than its
    /// size: (bits, bit offset).
    fn int_bitfield(&self, mut id: u32) -> Option<(u32, u32)> {
        for _ in 0..=mapsleuth_layout::MAX_DEPTH {
            match self.get(id).ok()?.1 {
                BtfType::Int {
                    size, bits, offset, ..
                } => {
                    return (u64::from(bits) < u64::from(size) * 8 || offset != 0)
                        .then_some((u32::from(bits), u32::from(offset)));
                }
                BtfType::Typedef { type_id }
                | BtfType::Volatile { type_id }
                | BtfType::Const { type_id }
                | BtfType::Restrict { type_id } => id = type_id,
                _ => return None,
            }
        }
        None
    }

    /// Name → ids of named types, for fast repeated lookups.
    pub fn name_index(&self) -> HashMap<&'a str, Vec<u32>> {
        let mut map: HashMap<&'a str, Vec<u32>> = HashMap::new();
        for id in 1..=self.count() {
            if let Ok(n) = self.name_of(id) {
                if !n.is_empty() {
                    map.entry(n).or_default().push(id);
                }
            }
        }
        map
    }

    /// Converts only the types reachable from `roots` (fast for one lookup in vmlinux);
    /// the table keeps BTF's ids. Types reached only through pointers are converted
    /// shallowly (a struct keeps its name and size, not its members), so that pointer
    /// members still print as `struct task_struct *`; unreached ids become `void`.
    pub fn to_table_for(&self, roots: &[u32]) -> Result<TypeTable, BtfError> {
        const SHALLOW: u8 = 1;
        const FULL: u8 = 2;
        let mut target = Target::bpf(self.byte_order());
        target.pointer_size = self.pointer_size();
        let mut table = TypeTable::new(target);
        let count = self.count();
        let mut state = vec![0u8; count as usize + 1];
        let mut stack: Vec<(u32, u8)> = roots.iter().map(|&r| (r, FULL)).collect();
        while let Some((id, want)) = stack.pop() {
            if id == 0 || id > count || state[id as usize] >= want {
                continue;
            }
            state[id as usize] = want;
            let (_, t) = self.get(id)?;
            match (&t, want) {
                (BtfType::Ptr { type_id }, _) => stack.push((*type_id, SHALLOW)),
                (_, FULL) => stack.extend(t.referenced_ids().into_iter().map(|r| (r, FULL))),
                (BtfType::Struct { .. } | BtfType::Union { .. } | BtfType::FuncProto { .. }, _) => {
                }
                _ => stack.extend(t.referenced_ids().into_iter().map(|r| (r, SHALLOW))),
            }
        }
        for id in 1..=count {
            let ty = match state[id as usize] {
                FULL => self.convert(id)?,
                SHALLOW => self.convert_shallow(id)?,
                _ => Type::new(None, TypeKind::Void),
            };
            table.push(ty);
        }
        Ok(table)
    }

    /// Like `convert`, without reading a struct's members.
    fn convert_shallow(&self, id: u32) -> Result<Type, BtfError> {
        let (c, t) = self.get(id)?;
        match t {
            BtfType::Struct { size, .. } | BtfType::Union { size, .. } => {
                let name = self.string(c.name_off)?;
                let comp = Composite {
                    size: u64::from(size),
                    members: Vec::new(),
                };
                Ok(Type::new(
                    (!name.is_empty()).then(|| name.to_string()),
                    if c.kind == Kind::Struct {
                        TypeKind::Struct(comp)
                    } else {
                        TypeKind::Union(comp)
                    },
                ))
            }
            _ => self.convert(id),
        }
    }
}
