//! The `Dump` model: one map's entries, stored compactly.
//!
//! Keys, values (one per CPU for per-CPU maps) and bpftool's own decoded form live in
//! three contiguous tables; an entry is a fixed 40-byte record of indices into them, so
//! a 1M-entry dump of 4-byte keys and 32-byte values takes about 80 MB.

use std::sync::Arc;

use serde::Serialize;

use crate::capture_file::{CaptureInfo, MapHeader};
use crate::error::{DumpError, ErrorKind, Position};
use crate::format::DumpFormat;
use crate::formatted::{FormattedTable, FormattedTokens};
use crate::options::DumpLimits;
use crate::table::ByteTable;

const NONE: u32 = u32::MAX;
const FLAG_PERCPU: u8 = 1;

/// Where a dump came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DumpSource {
    /// The input's name: its path, `<stdin>`, or what the caller passed.
    pub name: Arc<str>,
    pub format: DumpFormat,
    /// Which map of the input this is (bpftool dumps several maps when a name matches
    /// several), 0-based.
    pub map_index: usize,
}

/// What is known about the map. Everything is optional: a plain dump says nothing,
/// a multi-map dump has a header (id, type, name, flags), `bpftool -j map show`
/// tells the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MapMeta {
    pub id: Option<u32>,
    pub name: Option<String>,
    /// The map type as bpftool names it: `hash`, `percpu_array`, `lpm_trie`, ...
    pub map_type: Option<String>,
    pub key_size: Option<u32>,
    pub value_size: Option<u32>,
    pub max_entries: Option<u32>,
    pub flags: Option<u64>,
    pub btf_id: Option<u32>,
    pub btf_key_type_id: Option<u32>,
    pub btf_value_type_id: Option<u32>,
    pub btf_vmlinux_value_type_id: Option<u32>,
    pub frozen: Option<bool>,
    pub pinned: Vec<String>,
}

impl MapMeta {
    /// True for the map types whose values bpftool prints once per possible CPU.
    pub fn is_percpu(&self) -> bool {
        self.map_type.as_deref().is_some_and(is_percpu_type)
    }

    /// Fills what `self` does not know from `other`.
    pub fn fill_from(&mut self, other: &MapMeta) {
        fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        fill(&mut self.id, &other.id);
        fill(&mut self.name, &other.name);
        fill(&mut self.map_type, &other.map_type);
        fill(&mut self.key_size, &other.key_size);
        fill(&mut self.value_size, &other.value_size);
        fill(&mut self.max_entries, &other.max_entries);
        fill(&mut self.flags, &other.flags);
        fill(&mut self.btf_id, &other.btf_id);
        fill(&mut self.btf_key_type_id, &other.btf_key_type_id);
        fill(&mut self.btf_value_type_id, &other.btf_value_type_id);
        fill(
            &mut self.btf_vmlinux_value_type_id,
            &other.btf_vmlinux_value_type_id,
        );
        fill(&mut self.frozen, &other.frozen);
        if self.pinned.is_empty() {
            self.pinned.clone_from(&other.pinned);
        }
    }

    /// What a user must know about how bpftool dumps maps of this type, if anything.
    pub fn bpftool_dump_note(&self) -> Option<&'static str> {
        bpftool_dump_note(self.map_type.as_deref()?)
    }
}

/// True for the bpftool map type names of per-CPU maps.
pub fn is_percpu_type(map_type: &str) -> bool {
    mapsleuth_layout::map_type_named(map_type).is_some_and(|t| t.per_cpu)
}

/// How bpftool 7.1 dumps maps of a type, where it is not the plain key/value listing.
pub fn bpftool_dump_note(map_type: &str) -> Option<&'static str> {
    mapsleuth_layout::map_type_named(map_type)?.dump_note
}

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub enum EntryKind {
    /// A key and one value.
    Value,
    /// A key and one value per CPU.
    PerCpu,
    /// bpftool could look the key up: it printed an error instead of the value.
    LookupError,
    /// Only bpftool's decoded (BTF) form, no raw bytes: the plain dump of a map with BTF.
    FormattedOnly,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryRec {
    pub offset: u64,
    pub line: u64,
    pub key: u32,
    pub value_first: u32,
    pub value_count: u32,
    pub message: u32,
    pub formatted: u32,
    pub flags: u8,
}

impl EntryRec {
    pub fn new(pos: Position) -> Self {
        EntryRec {
            offset: pos.offset,
            line: pos.line,
            key: NONE,
            value_first: NONE,
            value_count: 0,
            message: NONE,
            formatted: NONE,
            flags: 0,
        }
    }

    pub fn set_percpu(&mut self) {
        self.flags |= FLAG_PERCPU;
    }

    pub fn pos(&self) -> Position {
        Position::new(self.line, self.offset)
    }
}

/// A mark to undo a partly read entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    keys: usize,
    values: usize,
    formatted: usize,
}

/// One map's dump.
#[derive(Debug)]
pub struct Dump {
    pub source: DumpSource,
    pub meta: MapMeta,
    /// Where this map's dump starts in the input.
    pub start: Position,
    /// The count bpftool printed in `Found N elements` (plain dumps without BTF only;
    /// bpftool does not count lookup errors).
    pub found_elements: Option<u64>,
    /// Problems met and recovered from, in input order, each with its position.
    pub issues: Vec<DumpError>,
    /// Issues not kept once [`DumpLimits::max_issues`] was reached.
    pub issues_dropped: u64,
    /// The capture this dump was read from, shared by its maps' dumps.
    capture: Option<Arc<CaptureInfo>>,
    keys: ByteTable,
    values: ByteTable,
    formatted: FormattedTable,
    messages: Vec<Box<str>>,
    entries: Vec<EntryRec>,
    expected_key: Option<usize>,
    expected_value: Option<usize>,
    expected_cpus: Option<usize>,
    lookup_errors: usize,
    max_issues: usize,
    /// A ring buffer's records: keyless values of any length.
    ring: bool,
}

impl Dump {
    pub(crate) fn new(source: DumpSource, start: Position, max_issues: usize) -> Self {
        Dump {
            source,
            meta: MapMeta::default(),
            start,
            found_elements: None,
            issues: Vec::new(),
            issues_dropped: 0,
            capture: None,
            keys: ByteTable::default(),
            values: ByteTable::default(),
            formatted: FormattedTable::default(),
            messages: Vec::new(),
            entries: Vec::new(),
            ring: false,
            expected_key: None,
            expected_value: None,
            expected_cpus: None,
            lookup_errors: 0,
            max_issues,
        }
    }

    /// What the capture this dump was read from holds besides entries: its header
    /// (snapshot id, host, every map), digest and BTF blobs. `None` for bpftool dumps
    /// and raw records.
    pub fn capture(&self) -> Option<&CaptureInfo> {
        self.capture.as_deref()
    }

    /// This map's header in its capture ([`Self::capture`]).
    pub fn capture_map(&self) -> Option<&MapHeader> {
        self.capture()?.map(self.source.map_index)
    }

    /// The BTF blob the capture holds for this map, if one was captured.
    pub fn embedded_btf(&self) -> Option<&[u8]> {
        let capture = self.capture()?;
        capture.map_btf(capture.map(self.source.map_index)?)
    }

    /// All entries, including lookup errors and formatted-only entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries that bpftool would count in `Found N elements`: all but lookup errors.
    pub fn counted_len(&self) -> usize {
        self.entries.len() - self.lookup_errors
    }

    /// Entries whose lookup failed.
    pub fn lookup_error_count(&self) -> usize {
        self.lookup_errors
    }

    pub fn entry(&self, index: usize) -> Option<DumpEntry<'_>> {
        self.entries.get(index).map(|rec| DumpEntry {
            dump: self,
            rec,
            index,
        })
    }

    pub fn entries(&self) -> impl ExactSizeIterator<Item = DumpEntry<'_>> + '_ {
        self.entries
            .iter()
            .enumerate()
            .map(move |(index, rec)| DumpEntry {
                dump: self,
                rec,
                index,
            })
    }

    /// The key size shared by every entry with a key (or the map's, when known).
    pub fn key_size(&self) -> Option<usize> {
        self.expected_key.or(self.meta.key_size.map(|n| n as usize))
    }

    /// The value size shared by every value (per CPU for per-CPU maps).
    pub fn value_size(&self) -> Option<usize> {
        self.expected_value
            .or(self.meta.value_size.map(|n| n as usize))
    }

    /// Values per entry of a per-CPU map: the number of possible CPUs of the dumped host.
    pub fn cpu_count(&self) -> Option<usize> {
        self.expected_cpus
    }

    /// True for a ring buffer's records (a capture of a `ringbuf`/`user_ringbuf`): the
    /// entries have no key, and each value is one record of its own length.
    pub fn is_ring(&self) -> bool {
        self.ring
    }

    pub(crate) fn set_ring(&mut self) {
        self.ring = true;
    }

    /// True when entries carry one value per CPU, or the map type says so.
    pub fn is_percpu(&self) -> bool {
        self.expected_cpus.is_some() || self.meta.is_percpu()
    }

    /// True when some entry has raw key/value bytes (not only bpftool's decoded form).
    pub fn has_raw_bytes(&self) -> bool {
        self.keys.len() > 0 || self.values.len() > 0
    }

    /// True when some entry has bpftool's decoded (BTF) form.
    pub fn has_formatted(&self) -> bool {
        self.formatted.len() > 0
    }

    /// Heap memory held by the dump, roughly.
    pub fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes()
            + self.values.heap_bytes()
            + self.formatted.heap_bytes()
            + self.entries.capacity() * std::mem::size_of::<EntryRec>()
    }

    /// Adds what `meta` knows, and checks the entries against its sizes.
    pub fn merge_meta(&mut self, meta: &MapMeta) {
        self.meta.fill_from(meta);
        let file = Arc::clone(&self.source.name);
        if let (Some(want), Some(have)) = (self.meta.key_size, self.expected_key) {
            if want as usize != have {
                self.issue(DumpError::new(
                    &file,
                    Some(self.start),
                    ErrorKind::SizeMismatch {
                        what: "the map's key size",
                        expected: have,
                        actual: want as usize,
                    },
                ));
            }
        }
        if let (Some(want), Some(have)) = (self.meta.value_size, self.expected_value) {
            if want as usize != have {
                self.issue(DumpError::new(
                    &file,
                    Some(self.start),
                    ErrorKind::SizeMismatch {
                        what: "the map's value size",
                        expected: have,
                        actual: want as usize,
                    },
                ));
            }
        }
        if self.entries.is_empty() {
            if let Some(note) = self.meta.bpftool_dump_note() {
                if matches!(
                    self.meta.map_type.as_deref(),
                    Some("ringbuf" | "user_ringbuf" | "queue" | "stack" | "bloom_filter")
                ) {
                    self.issue(DumpError::new(
                        &file,
                        Some(self.start),
                        ErrorKind::NotDumpable(note.to_string()),
                    ));
                }
            }
        }
    }

    // ---- building (readers only) ----

    pub(crate) fn set_capture(&mut self, capture: Arc<CaptureInfo>) {
        self.capture = Some(capture);
    }

    pub(crate) fn issue(&mut self, e: DumpError) {
        // The truncation is kept past the cap: it says where reading stopped.
        if self.issues.len() < self.max_issues || e.is_truncation() {
            self.issues.push(e);
        } else {
            self.issues_dropped += 1;
        }
    }

    pub(crate) fn keys_mut(&mut self) -> &mut ByteTable {
        &mut self.keys
    }

    pub(crate) fn values_mut(&mut self) -> &mut ByteTable {
        &mut self.values
    }

    pub(crate) fn formatted_mut(&mut self) -> &mut FormattedTable {
        &mut self.formatted
    }

    pub(crate) fn value_records(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            keys: self.keys.len(),
            values: self.values.len(),
            formatted: self.formatted.len(),
        }
    }

    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.keys.truncate(mark.keys);
        self.values.truncate(mark.values);
        self.formatted.truncate(mark.formatted);
    }

    pub(crate) fn intern_message(&mut self, msg: &str) -> u32 {
        if let Some(i) = self.messages.iter().position(|m| &**m == msg) {
            return i as u32;
        }
        // Bounded: a hostile dump could print a new message per entry.
        if self.messages.len() >= 4096 {
            if let Some(i) = self.messages.iter().position(|m| &**m == "<other error>") {
                return i as u32;
            }
            self.messages.push("<other error>".into());
        } else {
            let msg: String = msg.chars().take(256).collect();
            self.messages.push(msg.into_boxed_str());
        }
        (self.messages.len() - 1) as u32
    }

    pub(crate) fn reserve(&mut self, entries: usize, key_bytes: usize, value_bytes: usize) {
        self.entries.reserve(entries);
        self.keys.reserve(key_bytes);
        self.values.reserve(value_bytes);
    }

    /// Grows the tables once for `entries` more entries shaped like entry 0.
    pub(crate) fn reserve_like_first(&mut self, entries: usize) {
        let Some(first) = self.entries.first().copied() else {
            return;
        };
        let key = self.keys.get(first.key as usize).map_or(0, <[u8]>::len);
        let values: usize = (0..first.value_count)
            .map(|i| {
                self.values
                    .get((first.value_first + i) as usize)
                    .map_or(0, <[u8]>::len)
            })
            .sum();
        let formatted = if first.formatted == NONE {
            0
        } else {
            self.formatted.record_len(first.formatted as usize)
        };
        self.entries.reserve(entries);
        self.keys.reserve(entries.saturating_mul(key));
        self.values.reserve(entries.saturating_mul(values));
        self.formatted.reserve(entries.saturating_mul(formatted));
    }

    /// Adds an entry of raw bytes (raw records, captures): a key and its values, one
    /// per CPU when `percpu`.
    pub(crate) fn push_raw_entry<'v>(
        &mut self,
        pos: Position,
        key: Option<&[u8]>,
        values: impl Iterator<Item = &'v [u8]>,
        percpu: bool,
        limits: &DumpLimits,
    ) -> Result<(), DumpError> {
        let mut rec = EntryRec::new(pos);
        if let Some(key) = key {
            rec.key = self.keys.push(key) as u32;
        }
        rec.value_first = u32::try_from(self.values.len()).map_err(|_| {
            DumpError::new(
                &self.source.name,
                Some(pos),
                ErrorKind::TooManyEntries {
                    limit: u64::from(u32::MAX),
                },
            )
        })?;
        for v in values {
            self.values.push(v);
            rec.value_count += 1;
        }
        if percpu {
            rec.set_percpu();
        }
        self.commit(rec, limits)
    }

    /// Adds a finished entry, checking limits and that its sizes match earlier entries.
    /// Records referenced by `rec` must already be closed.
    pub(crate) fn commit(&mut self, rec: EntryRec, limits: &DumpLimits) -> Result<(), DumpError> {
        // Entries index their records with u32s.
        let limit = limits.max_entries.min(u64::from(u32::MAX - 1));
        if self.entries.len() as u64 >= limit {
            return Err(DumpError::new(
                &self.source.name,
                Some(rec.pos()),
                ErrorKind::TooManyEntries { limit },
            ));
        }
        let file = Arc::clone(&self.source.name);
        if rec.key != NONE {
            let size = self.keys.get(rec.key as usize).map_or(0, <[u8]>::len);
            match self.expected_key {
                None => self.expected_key = Some(size),
                Some(n) if n != size => self.issue(DumpError::new(
                    &file,
                    Some(rec.pos()),
                    ErrorKind::SizeMismatch {
                        what: "key",
                        expected: n,
                        actual: size,
                    },
                )),
                _ => {}
            }
        }
        // Ring records have lengths of their own (D019 checks them against a type).
        if rec.value_count > 0 && !self.ring {
            for i in 0..rec.value_count {
                let size = self
                    .values
                    .get((rec.value_first + i) as usize)
                    .map_or(0, <[u8]>::len);
                match self.expected_value {
                    None => self.expected_value = Some(size),
                    Some(n) if n != size => {
                        self.issue(DumpError::new(
                            &file,
                            Some(rec.pos()),
                            ErrorKind::SizeMismatch {
                                what: "value",
                                expected: n,
                                actual: size,
                            },
                        ));
                        break;
                    }
                    _ => {}
                }
            }
            if rec.flags & FLAG_PERCPU != 0 {
                let n = rec.value_count as usize;
                match self.expected_cpus {
                    None => self.expected_cpus = Some(n),
                    Some(m) if m != n => self.issue(DumpError::new(
                        &file,
                        Some(rec.pos()),
                        ErrorKind::CpuCountMismatch {
                            expected: m,
                            actual: n,
                        },
                    )),
                    _ => {}
                }
            }
        }
        if rec.message != NONE {
            self.lookup_errors += 1;
        }
        self.entries.push(rec);
        Ok(())
    }

    /// Ends reading: frees slack, checks the `Found N elements` count.
    pub(crate) fn finish(&mut self) {
        self.keys.shrink_to_fit();
        self.values.shrink_to_fit();
        self.formatted.shrink_to_fit();
        self.entries.shrink_to_fit();
        if let Some(found) = self.found_elements {
            let read = self.counted_len() as u64;
            if found != read {
                let file = Arc::clone(&self.source.name);
                let start = self.start;
                self.issue(DumpError::new(
                    &file,
                    Some(start),
                    ErrorKind::CountMismatch { found, read },
                ));
            }
        }
    }
}

/// A view of one entry.
#[derive(Clone, Copy)]
pub struct DumpEntry<'a> {
    dump: &'a Dump,
    rec: &'a EntryRec,
    index: usize,
}

impl std::fmt::Debug for DumpEntry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpEntry")
            .field("index", &self.index)
            .field("position", &self.position())
            .field("kind", &self.kind())
            .field("key", &self.key())
            .field("values", &self.values().collect::<Vec<_>>())
            .field("lookup_error", &self.lookup_error())
            .field("formatted", &self.formatted_json())
            .finish()
    }
}

impl<'a> DumpEntry<'a> {
    /// For an array/hash of maps: the inner map id the value holds (the kernel returns
    /// ids, 4 bytes in the dumped host's byte order); None for other maps and for an
    /// empty slot (id 0).
    pub fn inner_map_id(&self) -> Option<u32> {
        let t = self.dump.meta.map_type.as_deref()?;
        if !matches!(t, "array_of_maps" | "hash_of_maps") {
            return None;
        }
        let b: [u8; 4] = self.value()?.try_into().ok()?;
        let big = self
            .dump
            .capture()
            .is_some_and(|c| c.header().source.byte_order == crate::capture_file::ByteOrder::Big);
        let id = if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        (id != 0).then_some(id)
    }

    /// Index of the entry in its dump, in input order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Where the entry starts in the input (its `key:` line or its `{`).
    pub fn position(&self) -> Position {
        self.rec.pos()
    }

    pub fn kind(&self) -> EntryKind {
        if self.rec.message != NONE {
            EntryKind::LookupError
        } else if self.rec.flags & FLAG_PERCPU != 0 {
            EntryKind::PerCpu
        } else if self.rec.value_count > 0 {
            EntryKind::Value
        } else {
            EntryKind::FormattedOnly
        }
    }

    /// The raw key bytes, when the source has them.
    pub fn key(&self) -> Option<&'a [u8]> {
        if self.rec.key == NONE {
            None
        } else {
            self.dump.keys.get(self.rec.key as usize)
        }
    }

    /// The raw value; for a per-CPU entry, CPU 0's value.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.cpu_value(0)
    }

    /// The raw value of one CPU (`cpu` 0 for a plain entry).
    pub fn cpu_value(&self, cpu: usize) -> Option<&'a [u8]> {
        if cpu >= self.rec.value_count as usize {
            return None;
        }
        self.dump.values.get(self.rec.value_first as usize + cpu)
    }

    /// Number of raw values: 0 without raw bytes, 1, or the CPU count of a per-CPU entry.
    pub fn value_count(&self) -> usize {
        self.rec.value_count as usize
    }

    pub fn is_percpu(&self) -> bool {
        self.rec.flags & FLAG_PERCPU != 0
    }

    /// Every raw value: the one value, or one per CPU in CPU order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let dump = self.dump;
        let first = self.rec.value_first as usize;
        (0..self.rec.value_count as usize).map(move |i| dump.values.get(first + i).unwrap_or(&[]))
    }

    /// The error bpftool printed instead of the value (`<no entry>`, `No such file or
    /// directory`, ...).
    pub fn lookup_error(&self) -> Option<&'a str> {
        if self.rec.message == NONE {
            None
        } else {
            self.dump
                .messages
                .get(self.rec.message as usize)
                .map(|m| &**m)
        }
    }

    /// bpftool's decoded form as compact JSON text: `{"key":...,"value":...}` (or
    /// `"values":[{"cpu":0,"value":...}]`). Bare tokens of the plain BTF listing, such
    /// as bitfields printed `0x5`, are quoted, as `bpftool -j` prints them. The text is
    /// stored compactly and rebuilt here: in a loop, [`Self::formatted_json_in`] reuses
    /// one buffer.
    pub fn formatted_json(&self) -> Option<String> {
        let mut scratch = String::new();
        self.formatted_json_in(&mut scratch).map(str::to_string)
    }

    /// [`Self::formatted_json`], rebuilt in `scratch` (no allocation once it is large
    /// enough).
    pub fn formatted_json_in<'s>(&self, scratch: &'s mut String) -> Option<&'s str>
    where
        'a: 's,
    {
        if self.rec.formatted == NONE {
            return None;
        }
        self.dump
            .formatted
            .get(self.rec.formatted as usize, scratch)
    }

    /// bpftool's decoded form as its skeleton's index and its scalar tokens, without
    /// rebuilding the text; `None` when there is none or it was kept as text. Entries
    /// of one dump with the same skeleton index have the same text around their tokens.
    pub fn formatted_tokens(&self) -> Option<(u32, FormattedTokens<'a>)> {
        if self.rec.formatted == NONE {
            return None;
        }
        self.dump.formatted.tokens(self.rec.formatted as usize)
    }

    /// bpftool's decoded form parsed into a JSON value.
    pub fn formatted(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        let mut scratch = String::new();
        self.formatted_json_in(&mut scratch)
            .map(serde_json::from_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_record_is_small() {
        assert!(std::mem::size_of::<EntryRec>() <= 40);
    }
}
