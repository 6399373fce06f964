//! D005: all-zero values; D006/D007: fields that are zero, or the same, in every entry.

use mapsleuth_dump::DumpEntry;
use mapsleuth_layout::{ByteOrder, Finding, Leaf, Location, Severity};

use super::side::{Role, Side};
use super::tally::{bit_mask_within, masked_nonzero, push_capped, EntryId, Tally};
use super::{Code, Marks, Options, Place};
use crate::decode::FlatDecoder;
use mapsleuth_layout::in_go_blank;

/// Entries whose values are all zero (D005), over the entries with value bytes.
#[derive(Default)]
pub(super) struct ZeroValues {
    tally: Tally,
    /// Entries with value bytes.
    pub with_bytes: u64,
    /// Entries with a value that is not all zero.
    pub nonzero: u64,
}

impl ZeroValues {
    /// Tallies an entry with value bytes; true when they are all zero.
    pub fn check(&mut self, entry: &DumpEntry<'_>, id: &EntryId<'_>, marks: &mut Marks) -> bool {
        let all_zero = entry.values().all(|v| v.iter().all(|&b| b == 0));
        self.with_bytes += 1;
        if all_zero {
            marks.add(Code::ZeroEntries);
            self.tally.add_for(id, || None);
        } else {
            self.nonzero += 1;
        }
        all_zero
    }

    /// The D005 finding; `array`: the map is an array (whose slots always exist).
    pub fn finding(&self, array: bool, value: Option<&Side>, place: &Place) -> Option<Finding> {
        let t = &self.tally;
        if t.count == 0 {
            return None;
        }
        if t.records {
            return Some(self.record_finding(value, place));
        }
        let mut msg = format!(
            "{} of {} entries {} an all-zero value: {}",
            t.count,
            self.with_bytes,
            if t.count == 1 { "has" } else { "have" },
            t.keys_text()
        );
        msg.push_str(if array {
            "; in an array map these are slots never written (arrays always hold max_entries \
                entries)"
        } else {
            "; the entry exists but holds nothing: created with a zero value and never updated, \
                or reset"
        });
        Some(
            Finding::with_severity(Code::ZeroEntries, Severity::Info, msg)
                .at(Location {
                    key: t.first_key(),
                    ..place.at(value)
                })
                .fix(
                    "if the program should have filled them, check the code path that updates \
                    these keys (the lookup may be failing and a new zeroed entry created)",
                ),
        )
    }
}

impl ZeroValues {
    /// D005 of a ring buffer: records the producer committed with nothing in them.
    fn record_finding(&self, value: Option<&Side>, place: &Place) -> Finding {
        let t = &self.tally;
        let (is, them) = if t.count == 1 {
            ("is", "it")
        } else {
            ("are", "them")
        };
        let msg = format!(
            "{} of {} ring records {is} all zero: {}; the producer reserved {them} and \
                submitted {them} without filling {them} in",
            t.count,
            self.with_bytes,
            t.keys_text()
        );
        Finding::with_severity(Code::ZeroEntries, Severity::Info, msg)
            .at(Location {
                key: t.first_key(),
                ..place.at(value)
            })
            .fix("check the path between bpf_ringbuf_reserve and bpf_ringbuf_submit")
    }
}

/// One leaf, while it has been zero, or the same, in every key or value so far.
struct FieldStat {
    leaf: usize,
    mask: Vec<(usize, u8)>,
    zero: bool,
    constant: bool,
    /// The first key or value, for the constant's value.
    first: Option<Vec<u8>>,
}

/// The leaves of one side's type, over its keys or values that are not all zero.
#[derive(Default)]
pub(super) struct FieldStats {
    fields: Vec<FieldStat>,
    /// Keys or values looked at.
    samples: u64,
}

impl FieldStats {
    /// Every leaf but Go's blank fields.
    pub fn plan(flat: &FlatDecoder, size: u64, order: ByteOrder) -> FieldStats {
        let fields = flat
            .leaves()
            .iter()
            .enumerate()
            .filter(|(_, l)| !in_go_blank(&l.path))
            .map(|(i, l)| FieldStat {
                leaf: i,
                mask: bit_mask_within(l.offset_bits, l.size_bits, size, order),
                zero: true,
                constant: true,
                first: None,
            })
            .collect();
        FieldStats { fields, samples: 0 }
    }

    /// Looks at a key or value that is not all zero.
    pub fn check(&mut self, bytes: &[u8]) {
        self.samples += 1;
        for f in &mut self.fields {
            if f.zero && masked_nonzero(bytes, &f.mask) {
                f.zero = false;
            }
            if !f.constant {
                continue;
            }
            match &f.first {
                None => f.first = Some(bytes.to_vec()),
                Some(first) => {
                    let same = f
                        .mask
                        .iter()
                        .all(|&(i, m)| bytes.get(i).map(|b| b & m) == first.get(i).map(|b| b & m));
                    if !same {
                        f.constant = false;
                        f.first = None;
                    }
                }
            }
        }
    }

    /// The leaves zero in every key or value, and those the same in every one (with
    /// that value).
    fn always<'f>(&self, flat: &'f FlatDecoder) -> (Vec<&'f Leaf>, Vec<(&'f Leaf, String)>) {
        let leaves = flat.leaves();
        let mut zero = Vec::new();
        let mut constant = Vec::new();
        for f in &self.fields {
            if f.zero {
                zero.push(&leaves[f.leaf]);
            } else if f.constant {
                let shown = f
                    .first
                    .as_ref()
                    .and_then(|b| flat.decode_leaf(f.leaf, b).ok())
                    .map_or_else(|| "?".to_string(), |v| v.to_string());
                constant.push((&leaves[f.leaf], shown));
            }
        }
        (zero, constant)
    }
}

impl Side {
    /// D006 then D007, once enough entries were seen to say "always": `min` keys, or
    /// `min` entries with non-zero values (`nonzero_entries`).
    pub(super) fn field_findings(
        &self,
        nonzero_entries: u64,
        opts: &Options,
        place: &Place,
        out: &mut Vec<Finding>,
    ) {
        let min = opts.min_entries_for_constant as u64;
        // Values too short for the type are not sampled: "always" needs `min` samples.
        let seen = nonzero_entries.min(self.fields.samples);
        if self.role.pick(self.fields.samples, seen) < min {
            return;
        }
        let (zero, constant) = self.fields.always(&self.flat);
        let n = self.fields.samples;
        let what = match self.role {
            Role::Record => "non-zero records",
            role => role.pick("keys", "non-zero values"),
        };
        let of = &self.type_name;
        let field = |leaf: &Leaf| Location {
            field: Some(leaf.path.clone()),
            offset: Some(leaf.offset_bits / 8),
            ..place.at(Some(self))
        };
        let info = |code: Code, msg: String| Finding::with_severity(code, Severity::Info, msg);
        push_capped(
            out,
            &zero,
            opts.max_field_findings,
            |leaf| {
                info(
                    Code::ZeroField,
                    format!("`{}` is zero in all {n} {what} of {of}", leaf.path),
                )
                .at(field(leaf))
                .fix(
                    "if it should carry data, check that the program sets it (and that user \
                        space reads it at this offset)",
                )
            },
            |_, more| {
                info(
                    Code::ZeroField,
                    format!("and {more} more fields of {of} are zero in all {n} {what}"),
                )
                .at(place.at(Some(self)))
            },
        );
        push_capped(
            out,
            &constant,
            opts.max_field_findings,
            |(leaf, shown)| {
                info(
                    Code::ConstantField,
                    format!("`{}` is {shown} in all {n} {what} of {of}", leaf.path),
                )
                .at(field(leaf))
            },
            |_, more| {
                info(
                    Code::ConstantField,
                    format!("and {more} more fields of {of} are the same in all {n} {what}"),
                )
                .at(place.at(Some(self)))
            },
        );
    }
}
