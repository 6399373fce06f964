//! Thin helpers over gimli: the unit list, DIEs at global `.debug_info` offsets, strings
//! in every DWARF 4/5 form, and Go's own attributes. No `gimli::Unit`: it would parse
//! line programs and need `.debug_line`/`.debug_addr`, which type reading never uses.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use gimli::{
    Abbreviations, AttributeValue, DebugAbbrev, DebugAbbrevOffset, DebugInfo, DebugInfoOffset,
    DebugLineStr, DebugStr, DebugStrOffsets, DebugStrOffsetsBase, DebuggingInformationEntry, DwAt,
    EndianSlice, Reader, RunTimeEndian, UnitHeader, UnitOffset,
};

use crate::container::Sections;
use crate::error::{DwarfError, Result};

pub(crate) type R<'a> = EndianSlice<'a, RunTimeEndian>;
pub(crate) type Die<'a> = DebuggingInformationEntry<R<'a>>;

pub(crate) const DW_AT_GO_KIND: DwAt = DwAt(0x2900);
pub(crate) const DW_AT_GO_EMBEDDED_FIELD: DwAt = DwAt(0x2903);

/// A struct, union or enum with more children than this is refused (a Go struct has at
/// most a few hundred fields; the model flattens to at most 65536 leaves anyway).
pub(crate) const MAX_CHILDREN: usize = 1 << 16;

/// One compilation unit, by its place in `.debug_info`.
#[derive(Clone, Debug)]
pub(crate) struct UnitInfo {
    /// Offset of the unit header.
    pub start: u64,
    /// Offset just past the unit.
    pub end: u64,
    pub abbrev_offset: u64,
    pub str_offsets_base: u64,
    pub version: u16,
    /// Produced by Go's compiler (or its linker's type unit).
    pub go: bool,
}

/// The compilation units, found once when the binary is opened.
#[derive(Clone, Debug, Default)]
pub(crate) struct Units {
    pub list: Vec<UnitInfo>,
    pub abbrevs: HashMap<u64, Arc<Abbreviations>>,
    /// `go1.25.5` from the first Go producer string.
    pub go_version: Option<String>,
}

/// The gimli views of the sections.
pub(crate) struct Dw<'a> {
    pub info: DebugInfo<R<'a>>,
    pub abbrev: DebugAbbrev<R<'a>>,
    pub str: DebugStr<R<'a>>,
    pub str_offsets: DebugStrOffsets<R<'a>>,
    pub line_str: DebugLineStr<R<'a>>,
}

impl<'a> Dw<'a> {
    pub fn new(s: &'a Sections<'_>, endian: RunTimeEndian) -> Self {
        Dw {
            info: DebugInfo::new(&s.info, endian),
            abbrev: DebugAbbrev::new(&s.abbrev, endian),
            str: DebugStr::new(&s.str, endian),
            str_offsets: DebugStrOffsets::from(EndianSlice::new(&s.str_offsets, endian)),
            line_str: DebugLineStr::from(EndianSlice::new(&s.line_str, endian)),
        }
    }
}

/// A unit ready for reading DIEs.
#[derive(Clone)]
pub(crate) struct UnitCtx<'a> {
    pub info: UnitInfo,
    pub header: UnitHeader<R<'a>>,
    pub abbrevs: Arc<Abbreviations>,
}

impl<'a> UnitCtx<'a> {
    /// The global `.debug_info` offset of a unit offset.
    pub fn global(&self, off: UnitOffset) -> u64 {
        self.info.start.saturating_add(off.0 as u64)
    }

    pub fn local(&self, global: u64) -> Result<UnitOffset> {
        let rel = global
            .checked_sub(self.info.start)
            .filter(|r| global < self.info.end && *r >= self.header.header_size() as u64)
            .ok_or_else(|| DwarfError::info(global, "reference outside its unit"))?;
        Ok(UnitOffset(rel as usize))
    }

    /// The DIE at a global offset (which must lie in this unit).
    pub fn die(&self, global: u64) -> Result<Die<'a>> {
        let off = self.local(global)?;
        self.header
            .entry(&self.abbrevs, off)
            .map_err(|e| DwarfError::info(global, e))
    }

    /// The direct children of the DIE at `global`, each with its global offset.
    pub fn children(&self, global: u64) -> Result<Vec<(u64, Die<'a>)>> {
        let off = self.local(global)?;
        let mut raw = self
            .header
            .entries_raw(&self.abbrevs, Some(off))
            .map_err(|e| DwarfError::info(global, e))?;
        let parent = raw
            .read_abbreviation()
            .map_err(|e| DwarfError::info(global, e))?
            .ok_or_else(|| DwarfError::info(global, "no DIE here (a null entry)"))?;
        raw.skip_attributes(parent.attributes())
            .map_err(|e| DwarfError::info(global, e))?;
        let mut out = Vec::new();
        if !parent.has_children() {
            return Ok(out);
        }
        while raw.next_depth() > 0 && !raw.is_empty() {
            let depth = raw.next_depth();
            let at = self.global(raw.next_offset());
            if depth == 1 {
                let mut die = Die::null();
                if raw
                    .read_entry(&mut die)
                    .map_err(|e| DwarfError::info(at, e))?
                {
                    if out.len() >= MAX_CHILDREN {
                        return Err(DwarfError::info(
                            global,
                            format!("more than {MAX_CHILDREN} children"),
                        ));
                    }
                    out.push((at, die));
                }
            } else if let Some(abbrev) = raw
                .read_abbreviation()
                .map_err(|e| DwarfError::info(at, e))?
            {
                raw.skip_attributes(abbrev.attributes())
                    .map_err(|e| DwarfError::info(at, e))?;
            }
        }
        Ok(out)
    }

    /// A reference attribute as a global `.debug_info` offset.
    pub fn reference(&self, value: AttributeValue<R<'a>>) -> Option<u64> {
        match value {
            AttributeValue::UnitRef(off) => Some(self.global(off)),
            AttributeValue::DebugInfoRef(DebugInfoOffset(off)) => Some(off as u64),
            _ => None,
        }
    }

    /// The DIE's `attr` as a reference, if it has one.
    pub fn ref_attr(&self, die: &Die<'a>, attr: DwAt) -> Option<u64> {
        die.attr_value(attr).and_then(|v| self.reference(v))
    }
}

impl<'a> Dw<'a> {
    pub fn abbreviations(
        &self,
        cache: &mut HashMap<u64, Arc<Abbreviations>>,
        offset: u64,
    ) -> Result<Arc<Abbreviations>> {
        if let Some(a) = cache.get(&offset) {
            return Ok(a.clone());
        }
        let parsed = self
            .abbrev
            .abbreviations(DebugAbbrevOffset(offset as usize))
            .map_err(|e| DwarfError::corrupt(".debug_abbrev", offset, e))?;
        let arc = Arc::new(parsed);
        cache.insert(offset, arc.clone());
        Ok(arc)
    }

    /// Walks the unit headers and reads each unit's root DIE: producer, language and
    /// the string-offsets base that DWARF 5 string forms need.
    pub fn scan_units(&self) -> Result<Units> {
        let mut units = Units::default();
        let mut iter = self.info.units();
        let mut offset = 0u64;
        loop {
            let header = match iter.next() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(DwarfError::info(offset, format!("unit header: {e}"))),
            };
            let start = header
                .debug_info_offset()
                .map(|o| o.0 as u64)
                .unwrap_or(offset);
            let end = start.saturating_add(header.length_including_self() as u64);
            offset = end;
            let abbrev_offset = header.debug_abbrev_offset().0 as u64;
            let abbrevs = self.abbreviations(&mut units.abbrevs, abbrev_offset)?;
            let mut info = UnitInfo {
                start,
                end,
                abbrev_offset,
                str_offsets_base: 0,
                version: header.version(),
                go: false,
            };
            let root_at = start.saturating_add(header.header_size() as u64);
            let root = header
                .entry(&abbrevs, header.root_offset())
                .map_err(|e| DwarfError::info(root_at, format!("unit root DIE: {e}")))?;
            if let Some(AttributeValue::DebugStrOffsetsBase(base)) =
                root.attr_value(gimli::DW_AT_str_offsets_base)
            {
                info.str_offsets_base = base.0 as u64;
            }
            let ctx = UnitCtx {
                info: info.clone(),
                header,
                abbrevs,
            };
            let producer = root
                .attr_value(gimli::DW_AT_producer)
                .and_then(|v| self.string(&ctx, v).ok().flatten());
            let lang_go = matches!(
                root.attr_value(gimli::DW_AT_language),
                Some(AttributeValue::Language(gimli::DW_LANG_Go))
            );
            let go_producer = producer
                .as_deref()
                .is_some_and(|p| p.starts_with("Go cmd/compile"));
            info.go = lang_go || go_producer;
            if go_producer && units.go_version.is_none() {
                let p = producer.as_deref().unwrap_or_default();
                units.go_version = p
                    .split(|c: char| c.is_whitespace() || c == ';')
                    .find(|w| w.starts_with("go1") || w.starts_with("devel"))
                    .map(str::to_string);
            }
            units.list.push(info);
        }
        Ok(units)
    }

    /// The unit holding a global offset.
    pub fn unit_at(&self, units: &Units, global: u64) -> Result<UnitCtx<'a>> {
        let i = units.list.partition_point(|u| u.start <= global);
        let info = i
            .checked_sub(1)
            .and_then(|i| units.list.get(i))
            .filter(|u| global < u.end)
            .ok_or_else(|| DwarfError::info(global, "offset is in no compilation unit"))?;
        self.unit(units, info)
    }

    pub fn unit(&self, units: &Units, info: &UnitInfo) -> Result<UnitCtx<'a>> {
        let header = self
            .info
            .header_from_offset(DebugInfoOffset(info.start as usize))
            .map_err(|e| DwarfError::info(info.start, format!("unit header: {e}")))?;
        let abbrevs = units
            .abbrevs
            .get(&info.abbrev_offset)
            .cloned()
            .ok_or_else(|| DwarfError::info(info.start, "abbreviations not loaded"))?;
        Ok(UnitCtx {
            info: info.clone(),
            header,
            abbrevs,
        })
    }

    /// A string attribute in any form; `None` for a value that is not a string.
    pub fn string(
        &self,
        unit: &UnitCtx<'a>,
        value: AttributeValue<R<'a>>,
    ) -> Result<Option<Cow<'a, str>>, gimli::Error> {
        let r = match value {
            AttributeValue::String(s) => s,
            AttributeValue::DebugStrRef(o) => self.str.get_str(o)?,
            AttributeValue::DebugLineStrRef(o) => self.line_str.get_str(o)?,
            AttributeValue::DebugStrOffsetsIndex(i) => {
                let base = DebugStrOffsetsBase(unit.info.str_offsets_base as usize);
                let o = self
                    .str_offsets
                    .get_str_offset(unit.header.format(), base, i)?;
                self.str.get_str(o)?
            }
            _ => return Ok(None),
        };
        Ok(Some(r.to_string_lossy()))
    }

    /// The DIE's name, if any.
    pub fn name(&self, unit: &UnitCtx<'a>, die: &Die<'a>, at: u64) -> Result<Option<String>> {
        match die.attr_value(gimli::DW_AT_name) {
            None => Ok(None),
            Some(v) => self
                .string(unit, v)
                .map(|s| s.map(Cow::into_owned))
                .map_err(|e| DwarfError::info(at, format!("DW_AT_name: {e}"))),
        }
    }
}

/// An unsigned constant attribute.
pub(crate) fn udata(die: &Die<'_>, attr: DwAt) -> Option<u64> {
    let value = die.attr_value(attr)?;
    match value {
        AttributeValue::Sdata(v) => u64::try_from(v).ok(),
        v => v.udata_value(),
    }
}

/// A struct member's byte offset: a constant, or the `DW_OP_plus_uconst N` expression
/// older producers write.
pub(crate) fn member_location(die: &Die<'_>) -> Option<u64> {
    match die.attr_value(gimli::DW_AT_data_member_location)? {
        AttributeValue::Exprloc(expr) => {
            let mut r = expr.0;
            let op = r.read_u8().ok()?;
            if op != gimli::DW_OP_plus_uconst.0 {
                return None;
            }
            let v = r.read_uleb128().ok()?;
            r.is_empty().then_some(v)
        }
        AttributeValue::Sdata(v) => u64::try_from(v).ok(),
        v => v.udata_value(),
    }
}
