//! D012: more entries than the map holds; D013: the same key more than once.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use mapsleuth_dump::Dump;
use mapsleuth_layout::{Finding, Location, Severity};

use super::side::Side;
use super::tally::plural;
use super::{Code, Marks, Place};
use crate::decode::hex;

/// D012, from the dump's max_entries or else `hint` (the object's, and where from).
pub(super) fn max_entries_finding(
    dump: &Dump,
    hint: Option<&(u32, String)>,
    place: &Place,
) -> Option<Finding> {
    let (max, from) = match (dump.meta.max_entries, hint) {
        (Some(m), _) => (m, "the map".to_string()),
        (None, Some((m, from))) => (*m, from.clone()),
        _ => return None,
    };
    let n = dump.counted_len() as u64;
    (n > u64::from(max)).then(|| {
        Finding::with_severity(
            Code::OverMaxEntries,
            Severity::Error,
            format!(
                "{n} entries, but {from} holds at most {max} (max_entries): the dump mixes maps, \
                    was taken while the map changed, or the map was resized"
            ),
        )
        .at(place.at(None))
        .fix(
            "dump the map again (a capture reads it consistently with batch lookups) and check \
            that the dump and its map information belong together",
        )
    })
}

/// The hash of every entry's key with the entry's index in its low bits (8 bytes an
/// entry): sorted at the end to find repeated keys without a million-entry hash table.
/// Fewer hash bits only make more candidate groups, which are compared by their bytes.
pub(super) struct KeyHashes {
    hashes: Vec<u64>,
    /// Bits of the index: enough for every entry of the dump.
    index_bits: u32,
    hasher: RandomState,
}

impl KeyHashes {
    /// For a dump of `entries` entries (indices `0..entries`).
    pub fn with_capacity(entries: usize) -> KeyHashes {
        KeyHashes {
            hashes: Vec::with_capacity(entries),
            index_bits: (usize::BITS - entries.leading_zeros()).clamp(1, 40),
            hasher: RandomState::new(),
        }
    }

    pub fn add(&mut self, key: &[u8], index: usize) {
        let mask = (1u64 << self.index_bits) - 1;
        let Some(index) = u64::try_from(index).ok().filter(|i| *i <= mask) else {
            return;
        };
        let hash = self.hasher.hash_one(key) & !mask;
        self.hashes.push(hash | index);
    }

    fn index_of(&self, packed: u64) -> u32 {
        let mask = (1u64 << self.index_bits) - 1;
        u32::try_from(packed & mask).unwrap_or(u32::MAX)
    }

    /// The D013 finding; marks every repeat.
    pub fn finding(
        &mut self,
        dump: &Dump,
        marks: &mut [Marks],
        max_keys: usize,
        key: Option<&Side>,
        place: &Place,
    ) -> Option<Finding> {
        let dups = self.duplicates(dump, marks);
        let (first, _) = dups.first()?;
        let total: u64 = dups.iter().map(|(_, n)| u64::from(*n - 1)).sum();
        let shown: Vec<String> = dups
            .iter()
            .take(max_keys)
            .map(|(k, n)| format!("{} ({n}×)", hex(k)))
            .collect();
        let more = dups.len().saturating_sub(shown.len());
        let msg = format!(
            "{} listed more than once ({total} extra entries): {}{}; a map holds each key \
                once, so the dump was taken while the map changed (bpftool restarts its walk \
                when the key it stands on is deleted) or joins several dumps",
            plural(shown.len() as u64 + more as u64, "key is", "keys are"),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        Some(
            Finding::with_severity(Code::DuplicateKey, Severity::Error, msg)
                .at(Location {
                    key: Some(hex(first)),
                    ..place.at(key)
                })
                .fix("take the dump again, or a capture (batch lookups give a consistent view)"),
        )
    }

    /// Keys listed more than once, with their counts, in order of first appearance;
    /// marks every repeat.
    fn duplicates<'d>(&mut self, dump: &'d Dump, marks: &mut [Marks]) -> Vec<(&'d [u8], u32)> {
        let key = |i: u32| dump.entry(i as usize).and_then(|e| e.key()).unwrap_or(&[]);
        self.hashes.sort_unstable();
        let bits = self.index_bits;
        // (first index, count) of each repeated key.
        let mut found: Vec<(u32, u32)> = Vec::new();
        for run in self.hashes.chunk_by(|a, b| a >> bits == b >> bits) {
            if run.len() < 2 {
                continue;
            }
            // Equal hashes: group by the bytes (entry order kept within a group).
            let mut group: Vec<u32> = run.iter().map(|&x| self.index_of(x)).collect();
            group.sort_by(|a, b| key(*a).cmp(key(*b)).then(a.cmp(b)));
            for same in group.chunk_by(|a, b| key(*a) == key(*b)) {
                for &repeat in &same[1..] {
                    if let Some(m) = marks.get_mut(repeat as usize) {
                        m.add(Code::DuplicateKey);
                    }
                }
                if same.len() > 1 {
                    found.push((same[0], same.len() as u32));
                }
            }
        }
        found.sort_unstable();
        found.into_iter().map(|(i, n)| (key(i), n)).collect()
    }
}
