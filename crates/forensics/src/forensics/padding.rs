//! D001/D002: non-zero bytes in the padding of keys and values.

use std::collections::BTreeMap;

use mapsleuth_layout::{ByteOrder, Finding, Location, PaddingKind, Severity};

use super::side::{Role, Side};
use super::tally::{bit_mask_within, masked_nonzero, EntryId, Tally};
use super::{Code, Marks, Place, TypeRef};
use crate::decode::{DecodeError, FlatDecoder};
use mapsleuth_layout::in_go_blank;

/// One padding region of the type, and the entries with non-zero bytes in it.
struct PadRegion {
    offset_bits: u64,
    size_bits: u64,
    mask: Vec<(usize, u8)>,
    /// `the 4-byte hole after pid`, `the 3 bytes of trailing padding`.
    what: String,
    tally: Tally,
}

/// The padding regions of one side's type.
#[derive(Default)]
pub(super) struct Padding {
    regions: Vec<PadRegion>,
    /// Every padding bit of the type.
    pub any: Vec<(usize, u8)>,
}

impl Padding {
    /// The type's padding and Go's explicit padding (`_ [4]byte`), in offset order.
    pub fn plan(
        t: TypeRef<'_>,
        flat: &FlatDecoder,
        size: u64,
        order: ByteOrder,
    ) -> Result<Padding, DecodeError> {
        let mut found: Vec<(u64, u64, String)> = t
            .table
            .padding(t.id)?
            .into_iter()
            .map(|r| {
                let what = padding_text(r.kind, r.size_bits, &r.container, r.after.as_deref());
                (r.offset_bits, r.size_bits, what)
            })
            .collect();
        for l in flat.leaves().iter().filter(|l| in_go_blank(&l.path)) {
            let what = format!("the {}-byte blank field `{}`", l.size_bits / 8, l.path);
            found.push((l.offset_bits, l.size_bits, what));
        }
        found.sort_by_key(|r| r.0);
        let mut any: BTreeMap<usize, u8> = BTreeMap::new();
        let mut regions = Vec::with_capacity(found.len());
        for (offset_bits, size_bits, what) in found {
            let mask = bit_mask_within(offset_bits, size_bits, size, order);
            for &(i, m) in &mask {
                *any.entry(i).or_default() |= m;
            }
            regions.push(PadRegion {
                offset_bits,
                size_bits,
                mask,
                what,
                tally: Tally::default(),
            });
        }
        Ok(Padding {
            regions,
            any: any.into_iter().collect(),
        })
    }

    /// Tallies each region with non-zero bytes in `bytes`, with the bytes as example.
    pub fn check(&mut self, role: Role, bytes: &[u8], entry: &EntryId<'_>, marks: &mut Marks) {
        if !masked_nonzero(bytes, &self.any) {
            return;
        }
        for r in &mut self.regions {
            if masked_nonzero(bytes, &r.mask) {
                marks.add(role.pick(Code::KeyPadding, Code::ValuePadding));
                let shown: Vec<String> = r
                    .mask
                    .iter()
                    .take(16)
                    .map(|&(i, m)| format!("{:02x}", bytes.get(i).copied().unwrap_or(0) & m))
                    .collect();
                r.tally.add_for(entry, || Some(shown.join(" ")));
            }
        }
    }
}

const KEY_MEANING: &str = "; the kernel compares whole keys, so a lookup built with zeroed \
    padding will not find these entries";
const KEY_FIX: &str = "zero the whole key before filling it (`struct flow_key k = {}` or \
    `__builtin_memset(&k, 0, sizeof(k))`) in the BPF program and in user space; in Go, build \
    keys with the padding fields zeroed";
const VALUE_MEANING: &str =
    "; uninitialised memory (BPF stack) is leaking into the map and to user space";
const VALUE_FIX: &str = "zero the value before filling it (`__builtin_memset(&v, 0, sizeof(v))` \
    or `= {}` then assign the fields), or make the padding explicit fields set to 0";

impl Side {
    /// One finding per region with non-zero bytes; `checked`: the keys or values looked at.
    pub(super) fn padding_findings(&self, checked: u64, place: &Place, out: &mut Vec<Finding>) {
        let (code, sev) = self.role.pick(
            (Code::KeyPadding, Severity::Error),
            (Code::ValuePadding, Severity::Warning),
        );
        let (meaning, fix) = self
            .role
            .pick((KEY_MEANING, KEY_FIX), (VALUE_MEANING, VALUE_FIX));
        let of = match self.role {
            Role::Record => "records",
            role => role.pick("keys", "entries"),
        };
        for r in self.padding.regions.iter().filter(|r| r.tally.count > 0) {
            let (start, end) = (r.offset_bits, r.offset_bits + r.size_bits);
            let range = if start.is_multiple_of(8) && r.size_bits.is_multiple_of(8) {
                format!("bytes {}..{}", start / 8, end / 8)
            } else {
                format!("bits {start}..{end}")
            };
            let msg = format!(
                "{} of {checked} {of} {} non-zero bytes in {} of {} ({range}): {}{}{meaning}",
                r.tally.count,
                if r.tally.count == 1 { "has" } else { "have" },
                r.what,
                self.type_name,
                r.tally.keys_text(),
                r.tally.example_text(),
            );
            out.push(
                Finding::with_severity(code, sev, msg)
                    .at(Location {
                        offset: Some(r.offset_bits / 8),
                        key: r.tally.first_key(),
                        ..place.at(Some(self))
                    })
                    .fix(fix),
            );
        }
    }
}

/// `the 4-byte hole after `pid``, `the 3 bytes of trailing padding of `hdr``.
fn padding_text(kind: PaddingKind, size_bits: u64, container: &str, after: Option<&str>) -> String {
    let of = if container.is_empty() {
        String::new()
    } else {
        format!(" of `{container}`")
    };
    let bytes = size_bits / 8;
    let exact = size_bits.is_multiple_of(8);
    match kind {
        PaddingKind::Hole => {
            let size = if exact {
                format!("{bytes}-byte")
            } else {
                format!("{size_bits}-bit")
            };
            match after {
                Some(a) => format!("the {size} hole after `{a}`"),
                None => format!("the {size} hole{of}"),
            }
        }
        PaddingKind::Trailing if exact && bytes == 1 => format!("the trailing padding byte{of}"),
        PaddingKind::Trailing if exact => format!("the {bytes} bytes of trailing padding{of}"),
        PaddingKind::Trailing => format!("the {size_bits} bits of trailing padding{of}"),
    }
}
