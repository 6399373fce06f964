//! D011: enum fields holding a value the enum does not define.

use std::collections::BTreeMap;

use mapsleuth_layout::{Finding, LeafKind, Location, Severity};

use super::side::Side;
use super::tally::{plural, EntryId, Tally};
use super::{Code, Marks, Place};
use crate::decode::FlatDecoder;
use mapsleuth_layout::in_go_blank;

/// One enum leaf of the type, and the values outside the enum it held.
pub(super) struct EnumCheck {
    leaf: usize,
    /// The enum's values, sorted.
    valid: Vec<i128>,
    tally: Tally,
    /// Bad values and how often each was seen (the first 16 values).
    values: BTreeMap<i128, u64>,
}

impl EnumCheck {
    /// Every enum leaf but Go's blank fields.
    pub fn plan(flat: &FlatDecoder) -> Vec<EnumCheck> {
        flat.leaves()
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.kind, LeafKind::Enum { .. }) && !in_go_blank(&l.path))
            .map(|(i, _)| EnumCheck {
                leaf: i,
                valid: flat.enum_values(i).unwrap_or_default(),
                tally: Tally::default(),
                values: BTreeMap::new(),
            })
            .collect()
    }

    pub fn check(
        &mut self,
        flat: &FlatDecoder,
        bytes: &[u8],
        entry: &EntryId<'_>,
        marks: &mut Marks,
    ) {
        let Some(value) = flat.read_int(self.leaf, bytes) else {
            return;
        };
        if self.valid.binary_search(&value).is_ok() {
            return;
        }
        marks.add(Code::BadEnum);
        self.tally.add_for(entry, || None);
        if self.values.len() < 16 || self.values.contains_key(&value) {
            *self.values.entry(value).or_default() += 1;
        }
    }
}

impl Side {
    /// One finding per enum field that held a bad value.
    pub(super) fn enum_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        for e in self.enums.iter().filter(|e| e.tally.count > 0) {
            let leaf = &self.flat.leaves()[e.leaf];
            let values: Vec<String> = e
                .values
                .iter()
                .map(|(v, n)| {
                    if *n == 1 {
                        v.to_string()
                    } else {
                        format!("{v} ({n}×)")
                    }
                })
                .collect();
            let msg = format!(
                "`{}` ({}) holds {} that {} no value of the enum in {}: {}",
                leaf.path,
                leaf.type_name,
                values.join(", "),
                if e.values.len() == 1 { "is" } else { "are" },
                plural(e.tally.count, "entry", "entries"),
                e.tally.keys_text()
            );
            out.push(
                Finding::with_severity(Code::BadEnum, Severity::Warning, msg)
                    .at(Location {
                        field: Some(leaf.path.clone()),
                        offset: Some(leaf.offset_bits / 8),
                        key: e.tally.first_key(),
                        ..place.at(Some(self))
                    })
                    .fix(
                        "the program stores a value the enum does not define: a missing \
                        enumerator, a stale object file, or garbage in the field",
                    ),
            );
        }
    }
}
