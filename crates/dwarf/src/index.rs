//! The name index: one pass over the Go units that records every named type DIE at the
//! top level of its unit (where Go's linker puts all types), skipping the attributes of
//! everything else without decoding them.

use std::collections::{BTreeSet, HashMap};

use gimli::{AttributeValue, DwTag};
use mapsleuth_layout::{go_short_name, LayoutError};
use serde::Serialize;

use crate::error::{DwarfError, Result};
use crate::read::{Die, Dw, Units, DW_AT_GO_KIND};

/// A named type in the binary's DWARF, as `go types` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TypeEntry {
    /// The name as Go's DWARF spells it: `main.Event`, `[]uint8`,
    /// `example.com/app/generic.Pair[uint32,uint64]`.
    pub name: String,
    /// Go's kind (`struct`, `uint32`, `slice`, `map`, `ptr`, ...) or, for DIEs without
    /// `DW_AT_go_kind`, the DWARF tag (`struct`, `typedef`, `base`, ...).
    pub kind: String,
    /// `DW_AT_byte_size`, or the word-based size of pointer-like kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where the type's DIE is in `.debug_info`.
    pub die_offset: u64,
}

#[derive(Debug)]
struct Raw {
    offset: u64,
    name: String,
    tag: DwTag,
    go_kind: Option<u8>,
    byte_size: Option<u64>,
    target: Option<u64>,
    declaration: bool,
}

/// Entries sorted by name, with lookup maps into them.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub entries: Vec<TypeEntry>,
    aggregate: Vec<bool>,
    by_name: HashMap<String, Vec<usize>>,
    by_short: HashMap<String, Vec<usize>>,
}

/// Close names suggested for a name no type has, at most.
const MAX_SIMILAR: usize = 8;

/// A defined type's name (`main.Event`, `generic.Pair[uint32]`), not a type literal
/// (`*main.Event`, `[]uint8`, `func(int)`, `chan int`, `struct { ... }`).
fn is_named(name: &str) -> bool {
    let head = &name[..name.find('[').unwrap_or(name.len())];
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !head.contains([' ', '(', '*'])
}

/// The type's own name, without package path or generic arguments: `Event` of
/// `example.com/app/good.Event`.
pub(crate) fn last_component(name: &str) -> &str {
    let head = &name[..name.find('[').unwrap_or(name.len())];
    head.rsplit(['.', '/']).next().unwrap_or(head)
}

const TYPE_TAGS: &[DwTag] = &[
    gimli::DW_TAG_base_type,
    gimli::DW_TAG_structure_type,
    gimli::DW_TAG_class_type,
    gimli::DW_TAG_union_type,
    gimli::DW_TAG_enumeration_type,
    gimli::DW_TAG_pointer_type,
    gimli::DW_TAG_array_type,
    gimli::DW_TAG_typedef,
    gimli::DW_TAG_subroutine_type,
    gimli::DW_TAG_unspecified_type,
];

/// reflect.Kind numbering, which `DW_AT_go_kind` carries.
pub(crate) fn go_kind_name(kind: u8) -> Option<&'static str> {
    const NAMES: [&str; 27] = [
        "invalid",
        "bool",
        "int",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "uintptr",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "array",
        "chan",
        "func",
        "interface",
        "map",
        "ptr",
        "slice",
        "string",
        "struct",
        "unsafe.Pointer",
    ];
    NAMES.get(kind as usize).copied().filter(|_| kind != 0)
}

fn tag_name(tag: DwTag) -> &'static str {
    match tag {
        gimli::DW_TAG_base_type => "base",
        gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type => "struct",
        gimli::DW_TAG_union_type => "union",
        gimli::DW_TAG_enumeration_type => "enum",
        gimli::DW_TAG_pointer_type => "ptr",
        gimli::DW_TAG_array_type => "array",
        gimli::DW_TAG_typedef => "typedef",
        gimli::DW_TAG_subroutine_type => "func",
        _ => "unspecified",
    }
}

impl<'a> Dw<'a> {
    pub(crate) fn build_index(&self, units: &Units, pointer_size: u64) -> Result<Index> {
        let mut raws: Vec<Raw> = Vec::new();
        for info in units.list.iter().filter(|u| u.go) {
            let unit = self.unit(units, info)?;
            let mut raw = unit
                .header
                .entries_raw(&unit.abbrevs, None)
                .map_err(|e| DwarfError::info(info.start, e))?;
            while !raw.is_empty() {
                let depth = raw.next_depth();
                let at = unit.global(raw.next_offset());
                let Some(abbrev) = raw
                    .read_abbreviation()
                    .map_err(|e| DwarfError::info(at, e))?
                else {
                    if depth <= 0 {
                        break; // the root's terminator: padding may follow
                    }
                    continue;
                };
                if depth != 1 || !TYPE_TAGS.contains(&abbrev.tag()) {
                    raw.skip_attributes(abbrev.attributes())
                        .map_err(|e| DwarfError::info(at, e))?;
                    continue;
                }
                let mut attrs = Vec::with_capacity(abbrev.attributes().len());
                raw.read_attributes(abbrev.attributes(), &mut attrs)
                    .map_err(|e| DwarfError::info(at, e))?;
                let die = Die::new(abbrev.tag(), abbrev.has_children(), attrs, unit.local(at)?);
                let name = match die.attr_value(gimli::DW_AT_name) {
                    Some(v) => self
                        .string(&unit, v)
                        .map_err(|e| DwarfError::info(at, format!("DW_AT_name: {e}")))?,
                    None => None,
                };
                let entry = name.map(|name| Raw {
                    offset: at,
                    name: name.into_owned(),
                    tag: abbrev.tag(),
                    go_kind: crate::read::udata(&die, DW_AT_GO_KIND).map(|k| k as u8),
                    byte_size: crate::read::udata(&die, gimli::DW_AT_byte_size),
                    target: unit.ref_attr(&die, gimli::DW_AT_type),
                    declaration: matches!(
                        die.attr_value(gimli::DW_AT_declaration),
                        Some(AttributeValue::Flag(true))
                    ),
                });
                if let Some(e) = entry {
                    raws.push(e);
                }
            }
        }
        Ok(Index::from_raw(raws, pointer_size))
    }
}

impl Index {
    fn from_raw(mut raws: Vec<Raw>, pointer_size: u64) -> Index {
        // Go's linker follows each named struct, slice, func, interface and pointer
        // type with a typedef of the same name (a hook for gdb): the typedef is not a
        // type of its own.
        let names_by_offset: HashMap<u64, usize> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| (r.offset, i))
            .collect();
        let hook: Vec<bool> = raws
            .iter()
            .map(|r| {
                r.tag == gimli::DW_TAG_typedef
                    && r.go_kind.is_none()
                    && r.target
                        .and_then(|t| names_by_offset.get(&t))
                        .is_some_and(|&i| raws[i].name == r.name)
            })
            .collect();
        let mut keep: Vec<Raw> = Vec::with_capacity(raws.len());
        for (r, h) in raws.drain(..).zip(hook) {
            if !h && !r.declaration {
                keep.push(r);
            }
        }
        keep.sort_by(|a, b| a.name.cmp(&b.name).then(a.offset.cmp(&b.offset)));
        let mut index = Index::default();
        for r in keep {
            let word = pointer_size;
            let size = r.byte_size.or(match r.go_kind {
                Some(18 | 21 | 22 | 26) => Some(word),
                Some(20) => Some(2 * word),
                _ if r.tag == gimli::DW_TAG_pointer_type => Some(word),
                _ => None,
            });
            let kind = r
                .go_kind
                .and_then(go_kind_name)
                .unwrap_or_else(|| tag_name(r.tag));
            let i = index.entries.len();
            index.by_name.entry(r.name.clone()).or_default().push(i);
            let short = go_short_name(&r.name);
            if short != r.name {
                index.by_short.entry(short.to_string()).or_default().push(i);
            }
            index.aggregate.push(
                matches!(
                    r.tag,
                    gimli::DW_TAG_structure_type
                        | gimli::DW_TAG_class_type
                        | gimli::DW_TAG_union_type
                ) && !matches!(r.go_kind, Some(23 | 24)),
            );
            index.entries.push(TypeEntry {
                name: r.name,
                kind: kind.to_string(),
                size,
                die_offset: r.offset,
            });
        }
        index
    }

    /// Among same-named entries, a struct or union before anything else.
    fn prefer_defined(&self, ids: &[usize]) -> Option<usize> {
        ids.iter()
            .copied()
            .find(|&i| self.aggregate[i])
            .or_else(|| ids.first().copied())
    }

    /// Named types a user asking for `name` (which no type has) may have meant: the same
    /// name but for case first, then the same type name in other packages (case ignored),
    /// each group sorted; at most [`MAX_SIMILAR`], and how many more there are.
    fn similar(&self, name: &str) -> (Vec<String>, usize) {
        let wanted = name.to_ascii_lowercase();
        let last = last_component(&wanted);
        let mut same = BTreeSet::new();
        let mut same_last = BTreeSet::new();
        for e in self.entries.iter().filter(|e| is_named(&e.name)) {
            let lower = e.name.to_ascii_lowercase();
            if lower == wanted || go_short_name(&lower) == wanted {
                same.insert(e.name.as_str());
            } else if !last.is_empty() && last_component(&lower) == last {
                same_last.insert(e.name.as_str());
            }
        }
        let all: Vec<String> = same
            .into_iter()
            .chain(same_last)
            .map(str::to_string)
            .collect();
        let more = all.len().saturating_sub(MAX_SIMILAR);
        (all.into_iter().take(MAX_SIMILAR).collect(), more)
    }

    /// The model's lookup rule: the exact name, else the name without its package path
    /// (`good.Event`, or any `/`-suffix such as `app/good.Event`) when only one type
    /// has it.
    pub fn lookup(&self, name: &str) -> Result<&TypeEntry> {
        let bare = name.trim();
        if let Some(ids) = self.by_name.get(bare) {
            if let Some(i) = self.prefer_defined(ids) {
                return Ok(&self.entries[i]);
            }
        }
        let mut ids: Vec<usize> = self.by_name.get(bare).cloned().unwrap_or_default();
        ids.extend(self.by_short.get(bare).into_iter().flatten().copied());
        if bare.contains('/') {
            let suffix = format!("/{bare}");
            ids.extend(
                self.entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.name.ends_with(&suffix))
                    .map(|(i, _)| i),
            );
        }
        // A bare identifier (`Event`) names the struct types called that in any
        // package: one is an answer, several are a list to choose from.
        if ids.is_empty() && !bare.contains(['.', '/', '[', '*']) {
            ids.extend((0..self.entries.len()).filter(|&i| {
                self.aggregate[i] && {
                    let n = &self.entries[i].name;
                    let head = &n[..n.find('[').unwrap_or(n.len())];
                    head.rsplit('.').next() == Some(bare)
                }
            }));
        }
        ids.sort_unstable();
        ids.dedup();
        let mut names: Vec<&str> = ids.iter().map(|&i| self.entries[i].name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        match names.len() {
            0 => {
                let (similar, more) = self.similar(bare);
                Err(DwarfError::NotInBinary {
                    name: name.to_string(),
                    similar,
                    more,
                })
            }
            1 => Ok(&self.entries[self.prefer_defined(&ids).unwrap_or_default()]),
            _ => Err(LayoutError::Ambiguous {
                name: name.to_string(),
                candidates: names.into_iter().map(str::to_string).collect(),
            }
            .into()),
        }
    }
}
