//! D003/D004: keys or values whose size is not their type's.

use std::collections::BTreeMap;

use mapsleuth_layout::{Finding, Location, Severity};

use super::side::{Role, Side};
use super::tally::{EntryId, Tally};
use super::{Code, Marks, Place};

/// Sizes seen that differ from the type's, with their entries.
#[derive(Default)]
pub(super) struct Sizes(BTreeMap<usize, Tally>);

impl Sizes {
    /// Tallies a key or value whose size differs from the type's; false when it is too
    /// short for the other checks.
    pub fn check(
        &mut self,
        role: Role,
        size: u64,
        bytes: &[u8],
        entry: &EntryId<'_>,
        marks: &mut Marks,
    ) -> bool {
        let len = bytes.len();
        if len as u64 == size {
            return true;
        }
        marks.add(size_code(role));
        self.0.entry(len).or_default().add_for(entry, || None);
        len as u64 >= size
    }
}

impl Side {
    /// One finding per size seen; for an empty dump, the map's own size (`map_size`)
    /// when it is not the type's.
    pub(super) fn size_findings(
        &self,
        entries: u64,
        map_size: Option<u32>,
        place: &Place,
        out: &mut Vec<Finding>,
    ) {
        let code = size_code(self.role);
        let role = self.role.name();
        if self.sizes.0.is_empty() && entries == 0 {
            if let Some(s) = map_size.filter(|s| u64::from(*s) != self.size) {
                let msg = format!(
                    "the map's {role}s are {s} bytes, but {} is {} bytes: this is not the \
                        map's {role} type",
                    self.type_name, self.size,
                );
                out.push(
                    Finding::with_severity(code, Severity::Error, msg)
                        .at(place.at(Some(self)))
                        .fix(size_fix(self.role)),
                );
            }
        }
        for (&size, t) in &self.sizes.0 {
            if self.role == Role::Record {
                out.push(self.record_size_finding(size, t, place));
                continue;
            }
            let what = if (size as u64) < self.size {
                "cannot be decoded"
            } else {
                "were decoded from their first bytes only"
            };
            let msg = format!(
                "{} {role}s are {size} bytes, but {} is {} bytes: this is not the map's {role} \
                    type ({} {what}; {})",
                t.count,
                self.type_name,
                self.size,
                if t.count == 1 { "it" } else { "they" },
                t.keys_text()
            );
            out.push(
                Finding::with_severity(code, Severity::Error, msg)
                    .at(Location {
                        key: t.first_key(),
                        ..place.at(Some(self))
                    })
                    .fix(size_fix(self.role)),
            );
        }
    }
}

impl Side {
    /// D019: ring records of one length that is not the record type's.
    fn record_size_finding(&self, size: usize, t: &Tally, place: &Place) -> Finding {
        let what = if (size as u64) < self.size {
            "too short to decode"
        } else {
            "decoded from their first bytes only"
        };
        let msg = format!(
            "{} ring {} {size} bytes long, but {} is {} bytes ({}; {what})",
            t.count,
            if t.count == 1 {
                "record is"
            } else {
                "records are"
            },
            self.type_name,
            self.size,
            t.keys_text()
        );
        Finding::with_severity(Code::RecordSize, Severity::Error, msg)
            .at(Location {
                key: t.first_key(),
                ..place.at(Some(self))
            })
            .fix(
                "give the type the program reserves or outputs for these records \
                 (`bpf_ringbuf_reserve(&rb, sizeof(struct event), 0)`); records of several \
                 kinds need their own header field to tell them apart",
            )
    }
}

fn size_code(role: Role) -> Code {
    match role {
        Role::Key => Code::KeySize,
        Role::Value => Code::ValueSize,
        Role::Record => Code::RecordSize,
    }
}

fn size_fix(role: Role) -> String {
    format!(
        "check that the {} type is the map's (`mapsleuth btf maps --btf OBJ`) and, for a Go \
            type, that it mirrors the C one (`mapsleuth analyze layout`)",
        role.name()
    )
}
