//! DIEs to the layout model. Only the requested types and what they reach are converted,
//! memoized by DIE offset. Value edges (struct members, array elements, typedef targets)
//! recurse with a depth bound; pointer edges only reserve an id and queue the target, so
//! a pointer-rich type does not turn into deep recursion and recursive types (linked
//! lists) terminate.

use std::collections::HashMap;

use gimli::{AttributeValue, DwTag};
use mapsleuth_layout::{
    Composite, EnumValue, GoKind, IntEncoding, Member, Qualifier, Type, TypeId, TypeKind,
    TypeTable, MAX_DEPTH,
};

use crate::error::{DwarfError, Result};
use crate::read::{
    member_location, udata, Die, Dw, UnitCtx, Units, DW_AT_GO_EMBEDDED_FIELD, DW_AT_GO_KIND,
};

/// At most this many types come out of one conversion.
pub const MAX_TYPES: usize = 1 << 20;

/// How many same-name typedef hooks may chain before the chain counts as corrupt.
const MAX_TYPEDEF_HOPS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reserved by a pointer, not converted yet.
    Pending,
    InProgress,
    Done,
}

pub(crate) struct Converter<'a, 'u> {
    dw: &'u Dw<'a>,
    units: &'u Units,
    pub table: TypeTable,
    slots: HashMap<u64, (TypeId, State)>,
    /// Conversion finished for this type id (parallel to the table).
    done: Vec<bool>,
    pending: Vec<u64>,
    canonical: HashMap<u64, u64>,
    unit_cache: HashMap<u64, UnitCtx<'a>>,
    word: u32,
}

impl<'a, 'u> Converter<'a, 'u> {
    pub fn new(dw: &'u Dw<'a>, units: &'u Units, table: TypeTable) -> Self {
        let word = table.target.pointer_size;
        let done = vec![true; table.len()];
        Converter {
            dw,
            units,
            table,
            slots: HashMap::new(),
            done,
            pending: Vec::new(),
            canonical: HashMap::new(),
            unit_cache: HashMap::new(),
            word,
        }
    }

    /// Converts the type at a DIE offset and everything it reaches (pointer targets
    /// included) and returns its id.
    pub fn convert_root(&mut self, offset: u64) -> Result<TypeId> {
        let id = self.convert(offset, 0)?;
        while let Some(off) = self.pending.pop() {
            if let Some(&(pid, State::Pending)) = self.slots.get(&off) {
                self.fill(off, pid, 0)?;
            }
        }
        Ok(id)
    }

    fn unit_for(&mut self, offset: u64) -> Result<UnitCtx<'a>> {
        if let Some(u) = self
            .unit_cache
            .values()
            .find(|u| u.info.start <= offset && offset < u.info.end)
        {
            return Ok(u.clone());
        }
        let u = self.dw.unit_at(self.units, offset)?;
        self.unit_cache.insert(u.info.start, u.clone());
        Ok(u)
    }

    fn die(&mut self, offset: u64) -> Result<(UnitCtx<'a>, Die<'a>)> {
        let unit = self.unit_for(offset)?;
        let die = unit.die(offset)?;
        Ok((unit, die))
    }

    /// Follows the typedefs Go's linker puts in front of named types (same name as
    /// their target) to the DIE that describes the type.
    fn canonical(&mut self, offset: u64) -> Result<u64> {
        if let Some(&c) = self.canonical.get(&offset) {
            return Ok(c);
        }
        let mut cur = offset;
        for _ in 0..MAX_TYPEDEF_HOPS {
            let (unit, die) = self.die(cur)?;
            if die.tag() != gimli::DW_TAG_typedef || die.attr_value(DW_AT_GO_KIND).is_some() {
                break;
            }
            let Some(target) = unit.ref_attr(&die, gimli::DW_AT_type) else {
                break;
            };
            let name = self.dw.name(&unit, &die, cur)?;
            let (tunit, tdie) = self.die(target)?;
            if name.is_none() || self.dw.name(&tunit, &tdie, target)? != name {
                break;
            }
            cur = target;
        }
        self.canonical.insert(offset, cur);
        Ok(cur)
    }

    fn push(&mut self, ty: Type, done: bool) -> Result<TypeId> {
        if self.table.len() >= MAX_TYPES {
            return Err(DwarfError::TooMany {
                what: "types",
                limit: MAX_TYPES,
            });
        }
        self.done.push(done);
        Ok(self.table.push(ty))
    }

    fn placeholder() -> Type {
        Type::new(None, TypeKind::Void)
    }

    /// A value edge: the type must be complete when this returns (unless it is part of
    /// a cycle through values, which only crafted DWARF has).
    fn convert(&mut self, offset: u64, depth: u32) -> Result<TypeId> {
        let offset = self.canonical(offset)?;
        match self.slots.get(&offset) {
            Some(&(id, State::Done | State::InProgress)) => return Ok(id),
            Some(&(id, State::Pending)) => {
                self.fill(offset, id, depth)?;
                return Ok(id);
            }
            None => {}
        }
        let id = self.push(Self::placeholder(), false)?;
        self.fill(offset, id, depth)?;
        Ok(id)
    }

    /// A pointer edge: reserve an id, convert later.
    fn reserve(&mut self, offset: u64) -> Result<TypeId> {
        let offset = self.canonical(offset)?;
        if let Some(&(id, _)) = self.slots.get(&offset) {
            return Ok(id);
        }
        let id = self.push(Self::placeholder(), false)?;
        self.slots.insert(offset, (id, State::Pending));
        self.pending.push(offset);
        Ok(id)
    }

    fn fill(&mut self, offset: u64, id: TypeId, depth: u32) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(DwarfError::TooDeep { offset });
        }
        self.slots.insert(offset, (id, State::InProgress));
        let ty = self.build(offset, depth)?;
        self.table.set(id, ty)?;
        if let Some(d) = self.done.get_mut(id as usize) {
            *d = true;
        }
        self.slots.insert(offset, (id, State::Done));
        Ok(())
    }

    fn size_u32(offset: u64, what: &str, size: u64) -> Result<u32> {
        u32::try_from(size)
            .map_err(|_| DwarfError::info(offset, format!("{what} of {size} bytes is too large")))
    }

    fn build(&mut self, offset: u64, depth: u32) -> Result<Type> {
        let (unit, die) = self.die(offset)?;
        let name = self.dw.name(&unit, &die, offset)?;
        let byte_size = udata(&die, gimli::DW_AT_byte_size);
        let word = self.word;
        let opaque = |go_kind: GoKind, size: u32| TypeKind::GoOpaque { go_kind, size };
        let go_kind = udata(&die, DW_AT_GO_KIND);
        let kind = match go_kind {
            Some(1..=16) => Self::go_scalar(offset, go_kind.unwrap_or(0), byte_size)?,
            Some(17) => self.array(offset, &unit, &die, byte_size, true, depth)?,
            Some(18) => opaque(GoKind::Chan, word),
            Some(19) => opaque(
                GoKind::Func,
                Self::size_u32(offset, "func", byte_size.unwrap_or(u64::from(word)))?,
            ),
            Some(20) => {
                let size = match unit.ref_attr(&die, gimli::DW_AT_type) {
                    Some(t) => self.byte_size_of(t)?,
                    None => None,
                };
                let size = size.unwrap_or(2 * u64::from(word));
                opaque(
                    GoKind::Interface,
                    Self::size_u32(offset, "interface", size)?,
                )
            }
            Some(21) => opaque(GoKind::Map, word),
            Some(22) => self.pointer(&unit, &die)?,
            Some(23) => opaque(
                GoKind::Slice,
                Self::size_u32(offset, "slice", byte_size.unwrap_or(3 * u64::from(word)))?,
            ),
            Some(24) => opaque(
                GoKind::String,
                Self::size_u32(offset, "string", byte_size.unwrap_or(2 * u64::from(word)))?,
            ),
            Some(25) => self.composite(offset, &unit, byte_size, false, depth)?,
            Some(26) => opaque(GoKind::UnsafePointer, word),
            _ => self.by_tag(offset, &unit, &die, byte_size, depth)?,
        };
        Ok(Type::new(name, kind))
    }

    fn go_scalar(offset: u64, kind: u64, size: Option<u64>) -> Result<TypeKind> {
        let size =
            size.ok_or_else(|| DwarfError::info(offset, "Go scalar type without DW_AT_byte_size"))?;
        let size = Self::size_u32(offset, "scalar", size)?;
        Ok(match kind {
            1 => TypeKind::Int {
                size,
                signed: false,
                encoding: IntEncoding::Bool,
            },
            2..=6 => TypeKind::Int {
                size,
                signed: true,
                encoding: IntEncoding::Plain,
            },
            7..=12 => TypeKind::Int {
                size,
                signed: false,
                encoding: IntEncoding::Plain,
            },
            13 | 14 => TypeKind::Float { size },
            _ => TypeKind::Complex { size },
        })
    }

    fn by_tag(
        &mut self,
        offset: u64,
        unit: &UnitCtx<'a>,
        die: &Die<'a>,
        byte_size: Option<u64>,
        depth: u32,
    ) -> Result<TypeKind> {
        let tag = die.tag();
        Ok(match tag {
            gimli::DW_TAG_base_type => {
                let size = byte_size
                    .ok_or_else(|| DwarfError::info(offset, "base type without DW_AT_byte_size"))?;
                let size = Self::size_u32(offset, "base type", size)?;
                let enc = match die.attr_value(gimli::DW_AT_encoding) {
                    Some(AttributeValue::Encoding(e)) => e,
                    _ => gimli::DW_ATE_unsigned,
                };
                let int = |signed, encoding| TypeKind::Int {
                    size,
                    signed,
                    encoding,
                };
                match enc {
                    gimli::DW_ATE_boolean => int(false, IntEncoding::Bool),
                    gimli::DW_ATE_signed => int(true, IntEncoding::Plain),
                    gimli::DW_ATE_signed_char => int(true, IntEncoding::Char),
                    gimli::DW_ATE_unsigned_char | gimli::DW_ATE_UTF => {
                        int(false, IntEncoding::Char)
                    }
                    gimli::DW_ATE_float => TypeKind::Float { size },
                    gimli::DW_ATE_complex_float => TypeKind::Complex { size },
                    _ => int(false, IntEncoding::Plain),
                }
            }
            gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => self.pointer(unit, die)?,
            gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type | gimli::DW_TAG_union_type => {
                let union = tag == gimli::DW_TAG_union_type;
                let declaration = matches!(
                    die.attr_value(gimli::DW_AT_declaration),
                    Some(AttributeValue::Flag(true))
                );
                if declaration || byte_size.is_none() {
                    TypeKind::Forward { union }
                } else {
                    self.composite(offset, unit, byte_size, union, depth)?
                }
            }
            gimli::DW_TAG_enumeration_type => self.enumeration(offset, unit, byte_size)?,
            gimli::DW_TAG_array_type => self.array(offset, unit, die, byte_size, false, depth)?,
            gimli::DW_TAG_typedef => TypeKind::Typedef {
                target: self.value_target(unit, die, depth)?,
            },
            gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type => TypeKind::Qualified {
                qualifier: match tag {
                    gimli::DW_TAG_const_type => Qualifier::Const,
                    gimli::DW_TAG_volatile_type => Qualifier::Volatile,
                    _ => Qualifier::Restrict,
                },
                target: self.value_target(unit, die, depth)?,
            },
            gimli::DW_TAG_subroutine_type => TypeKind::Function,
            gimli::DW_TAG_unspecified_type => TypeKind::Void,
            other => {
                return Err(DwarfError::info(
                    offset,
                    format!("{} is not a type", tag_str(other)),
                ))
            }
        })
    }

    fn value_target(&mut self, unit: &UnitCtx<'a>, die: &Die<'a>, depth: u32) -> Result<TypeId> {
        match unit.ref_attr(die, gimli::DW_AT_type) {
            Some(t) => self.convert(t, depth + 1),
            None => Ok(0),
        }
    }

    fn pointer(&mut self, unit: &UnitCtx<'a>, die: &Die<'a>) -> Result<TypeKind> {
        let target = match unit.ref_attr(die, gimli::DW_AT_type) {
            Some(t) => self.reserve(t)?,
            None => 0,
        };
        Ok(TypeKind::Pointer { target })
    }

    /// `DW_AT_byte_size` of the type at `offset`, through same-name typedefs.
    fn byte_size_of(&mut self, offset: u64) -> Result<Option<u64>> {
        let c = self.canonical(offset)?;
        let (_, die) = self.die(c)?;
        Ok(udata(&die, gimli::DW_AT_byte_size))
    }

    fn composite(
        &mut self,
        offset: u64,
        unit: &UnitCtx<'a>,
        byte_size: Option<u64>,
        union: bool,
        depth: u32,
    ) -> Result<TypeKind> {
        let size =
            byte_size.ok_or_else(|| DwarfError::info(offset, "struct without DW_AT_byte_size"))?;
        let mut members = Vec::new();
        for (at, child) in unit.children(offset)? {
            if child.tag() != gimli::DW_TAG_member {
                continue;
            }
            let name = self.dw.name(unit, &child, at)?;
            let ty_off = unit
                .ref_attr(&child, gimli::DW_AT_type)
                .ok_or_else(|| DwarfError::info(at, "member without DW_AT_type"))?;
            let ty = self.convert(ty_off, depth + 1)?;
            let bit_size = udata(&child, gimli::DW_AT_bit_size);
            let bitfield_bits = match bit_size {
                Some(b) => Some(
                    u32::try_from(b)
                        .map_err(|_| DwarfError::info(at, format!("bit size {b} too large")))?,
                ),
                None => None,
            };
            let offset_bits = match udata(&child, gimli::DW_AT_data_bit_offset) {
                Some(bits) => bits,
                None => {
                    let bytes = match child.attr_value(gimli::DW_AT_data_member_location) {
                        None => 0,
                        Some(_) => member_location(&child).ok_or_else(|| {
                            DwarfError::info(at, "unsupported DW_AT_data_member_location")
                        })?,
                    };
                    bytes
                        .checked_mul(8)
                        .ok_or_else(|| DwarfError::info(at, "member offset overflows"))?
                }
            };
            if offset_bits / 8 > size {
                return Err(DwarfError::info(
                    at,
                    format!(
                        "member {} at byte {} lies past the end of its {size}-byte struct",
                        name.as_deref().unwrap_or("<anonymous>"),
                        offset_bits / 8
                    ),
                ));
            }
            let embedded = matches!(
                child.attr_value(DW_AT_GO_EMBEDDED_FIELD),
                Some(AttributeValue::Flag(true))
            );
            members.push(Member {
                name,
                ty,
                offset_bits,
                bitfield_bits,
                embedded,
            });
        }
        let c = Composite { size, members };
        Ok(if union {
            TypeKind::Union(c)
        } else {
            TypeKind::Struct(c)
        })
    }

    fn enumeration(
        &mut self,
        offset: u64,
        unit: &UnitCtx<'a>,
        byte_size: Option<u64>,
    ) -> Result<TypeKind> {
        let size = Self::size_u32(offset, "enum", byte_size.unwrap_or(4))?;
        let mut values = Vec::new();
        let mut signed = false;
        for (at, child) in unit.children(offset)? {
            if child.tag() != gimli::DW_TAG_enumerator {
                continue;
            }
            let name = self.dw.name(unit, &child, at)?.unwrap_or_default();
            let value = match child.attr_value(gimli::DW_AT_const_value) {
                Some(AttributeValue::Sdata(v)) => {
                    signed |= v < 0;
                    i128::from(v)
                }
                Some(v) => i128::from(v.udata_value().unwrap_or(0)),
                None => 0,
            };
            values.push(EnumValue { name, value });
        }
        Ok(TypeKind::Enum {
            size,
            signed,
            values,
        })
    }

    fn array(
        &mut self,
        offset: u64,
        unit: &UnitCtx<'a>,
        die: &Die<'a>,
        byte_size: Option<u64>,
        go: bool,
        depth: u32,
    ) -> Result<TypeKind> {
        let elem_off = unit
            .ref_attr(die, gimli::DW_AT_type)
            .ok_or_else(|| DwarfError::info(offset, "array without an element type"))?;
        let elem = self.convert(elem_off, depth + 1)?;
        let mut dims = Vec::new();
        for (at, child) in unit.children(offset)? {
            if child.tag() != gimli::DW_TAG_subrange_type {
                continue;
            }
            let count = match udata(&child, gimli::DW_AT_count) {
                Some(c) => c,
                None => match child.attr_value(gimli::DW_AT_upper_bound) {
                    // C writes -1 (or nothing) for flexible arrays.
                    Some(AttributeValue::Sdata(v)) if v < 0 => 0,
                    Some(v) => {
                        let upper = match v {
                            AttributeValue::Sdata(s) => s as u64,
                            other => other.udata_value().unwrap_or(0),
                        };
                        let lower = udata(&child, gimli::DW_AT_lower_bound).unwrap_or(0);
                        upper
                            .checked_sub(lower)
                            .and_then(|d| d.checked_add(1))
                            .ok_or_else(|| DwarfError::info(at, "bad array bounds"))?
                    }
                    None => 0,
                },
            };
            dims.push(count);
        }
        if dims.is_empty() {
            dims.push(0);
        }
        // Check the total size now, so that no later walk meets an overflow.
        if self.done.get(elem as usize).copied().unwrap_or(false) {
            let elem_size = self.table.size_of(elem)?;
            let mut total = elem_size;
            for &d in dims.iter().rev() {
                total = total.checked_mul(d).ok_or(DwarfError::ArrayOverflow {
                    offset,
                    count: d,
                    elem_size: total,
                })?;
            }
            if go {
                if let Some(bs) = byte_size {
                    if bs != total {
                        return Err(DwarfError::info(
                            offset,
                            format!(
                                "array of {} × {elem_size}-byte elements claims {bs} bytes",
                                dims[0]
                            ),
                        ));
                    }
                }
            }
        }
        // u32 a[2][3] is an array of 2 arrays of 3: build from the innermost out.
        let mut inner = elem;
        for &d in dims[1..].iter().rev() {
            inner = self.push(
                Type::new(
                    None,
                    TypeKind::Array {
                        elem: inner,
                        len: d,
                    },
                ),
                true,
            )?;
        }
        Ok(TypeKind::Array {
            elem: inner,
            len: dims[0],
        })
    }
}

fn tag_str(tag: DwTag) -> String {
    tag.static_string()
        .map(str::to_string)
        .unwrap_or_else(|| format!("DW_TAG {:#x}", tag.0))
}
