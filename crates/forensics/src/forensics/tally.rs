//! What every check keeps: tallies of entries with a problem, and byte masks.

use mapsleuth_layout::{ByteOrder, Finding};

/// The entry being checked, as its tallies see it.
pub(super) struct EntryId<'a> {
    /// Its place in the dump: per-CPU values of one entry count once.
    pub index: usize,
    /// How findings name it (built only for the few entries listed).
    pub label: &'a dyn Fn() -> String,
    /// Keys one finding lists.
    pub max_keys: usize,
    /// A ring buffer's record (no key): findings say "record #N".
    pub record: bool,
}

/// How many entries had something, and the first few of them.
#[derive(Clone, Debug, Default)]
pub(super) struct Tally {
    pub count: u64,
    pub keys: Vec<String>,
    /// What the first one looked like.
    pub example: Option<String>,
    /// The entry counted last.
    last: Option<usize>,
    /// It counts ring records, not keyed entries.
    pub records: bool,
}

impl Tally {
    /// Counts `entry` once, however many of its values have the problem.
    pub fn add_for(&mut self, entry: &EntryId<'_>, example: impl FnOnce() -> Option<String>) {
        if self.last == Some(entry.index) {
            return;
        }
        self.last = Some(entry.index);
        self.records |= entry.record;
        self.add(entry.label, entry.max_keys, example);
    }

    pub fn add(
        &mut self,
        key: impl FnOnce() -> String,
        max: usize,
        example: impl FnOnce() -> Option<String>,
    ) {
        self.count += 1;
        if self.keys.len() < max {
            self.keys.push(key());
        }
        if self.example.is_none() {
            self.example = example();
        }
    }

    pub fn first_key(&self) -> Option<String> {
        self.keys.first().cloned()
    }

    /// `key 01000000` or `keys 01000000, 02000000 and 3 more`.
    pub fn keys_text(&self) -> String {
        let listed = self.keys.join(", ");
        let more = self.count.saturating_sub(self.keys.len() as u64);
        let word = match (self.records, self.count == 1) {
            (true, true) => "record",
            (true, false) => "records",
            (false, true) => "key",
            (false, false) => "keys",
        };
        if more > 0 {
            format!("{word} {listed} and {more} more")
        } else {
            format!("{word} {listed}")
        }
    }

    /// ` (first: EXAMPLE)`, or nothing.
    pub fn example_text(&self) -> String {
        self.example
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    }
}

/// A finding per item up to `max`, then one counting the rest (given the first of them).
pub(super) fn push_capped<T>(
    out: &mut Vec<Finding>,
    items: &[T],
    max: usize,
    each: impl Fn(&T) -> Finding,
    rest: impl FnOnce(&T, usize) -> Finding,
) {
    for (i, item) in items.iter().enumerate() {
        if i == max {
            out.push(rest(item, items.len() - i));
            return;
        }
        out.push(each(item));
    }
}

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(super) use mapsleuth_layout::bits::byte_masks as bit_mask;

/// [`bit_mask`] of the part of the bits inside a type of `size` bytes: a broken type
/// may declare members far past its end, and they are never in a value of that size.
pub(super) fn bit_mask_within(
    offset_bits: u64,
    size_bits: u64,
    size: u64,
    order: ByteOrder,
) -> Vec<(usize, u8)> {
    let total = size.saturating_mul(8);
    let start = offset_bits.min(total);
    let end = offset_bits.saturating_add(size_bits).min(total);
    bit_mask(start, end - start, order)
}

pub(super) fn masked_nonzero(bytes: &[u8], mask: &[(usize, u8)]) -> bool {
    mask.iter()
        .any(|&(i, m)| bytes.get(i).is_some_and(|b| b & m != 0))
}
