//! Dump forensics: what a human would miss in a map dump, as `D` findings (catalogue:
//! docs/findings.md).
//!
//! The checks work on the raw bytes: padding is a byte mask, sizes are lengths, strings
//! and enums are read leaf by leaf with a [`FlatDecoder`](crate::decode::FlatDecoder);
//! only the comparison with bpftool's own decoding (D018) builds
//! [`Value`](crate::decode::Value) trees, and only for entries that carry bpftool's
//! `formatted` form. One pass over the entries ([`Forensics::check`]), then
//! [`Forensics::finish`] turns the tallies into findings: one finding per padding region,
//! field or kind of problem, with the number of entries and the first keys (as hex).
//!
//! Each group of codes has a module holding its state and building its findings.

use mapsleuth_dump::{Dump, DumpEntry, EntryKind};
use mapsleuth_layout::{Finding, Location};

use crate::decode::{hex, DecodeError};

/// Every dump finding code: the catalogue's `D` family.
pub use mapsleuth_layout::DumpCode as Code;
/// A type to check keys or values against.
pub use mapsleuth_layout::TypeRef;

fn bit(code: Code) -> u32 {
    1 << (code as u32)
}

/// The codes one entry triggered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks(u32);

impl Marks {
    pub fn add(&mut self, code: Code) {
        self.0 |= bit(code);
    }

    pub fn contains(self, code: Code) -> bool {
        self.0 & bit(code) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The codes, in code order.
    pub fn codes(self) -> Vec<&'static str> {
        Code::ALL
            .iter()
            .filter(|c| self.contains(**c))
            .map(|c| c.as_str())
            .collect()
    }
}

/// Tunables of the checks.
#[derive(Clone, Debug)]
pub struct Options {
    /// D006/D007 need at least this many (non-zero) entries to say "always".
    pub min_entries_for_constant: usize,
    /// Keys listed in one finding's message.
    pub max_keys_listed: usize,
    /// Findings of one code about fields (D006, D007, D018) before the rest are counted
    /// in one last finding.
    pub max_field_findings: usize,
    /// Reader issues turned into findings, one each, before the rest are counted.
    pub max_issue_findings: usize,
    /// The map's max_entries when the dump does not say (from the object's map
    /// definition), and where it comes from.
    pub max_entries_hint: Option<(u32, String)>,
    pub expected_keys: Option<ExpectedKeys>,
    /// Compare our decoding with bpftool's `formatted` form (D018).
    pub compare_formatted: bool,
    /// Threads for [`Forensics::run_with`]: 0 for one per core. The comparison with
    /// bpftool's decoding runs beside the other checks; the result is the same.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_entries_for_constant: 4,
            max_keys_listed: 8,
            max_field_findings: 16,
            max_issue_findings: 20,
            max_entries_hint: None,
            expected_keys: None,
            compare_formatted: true,
            threads: 0,
        }
    }
}

/// What was looked at, for the report's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Stats {
    /// Entries looked at.
    pub entries: u64,
    /// Keys checked against the key type.
    pub keys_checked: u64,
    /// Values (one per CPU for per-CPU maps) checked against the value type.
    pub values_checked: u64,
    /// Entries with only bpftool's decoded form (no raw bytes to check).
    pub formatted_only: u64,
    /// Entries whose decoding was compared with bpftool's `formatted` form.
    pub compared_entries: u64,
    /// Field values compared with bpftool's.
    pub compared_fields: u64,
    /// Our fields that bpftool's form has no field for (by normalised name), and
    /// bpftool's fields we have none for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_fields: Vec<String>,
}

mod agreement;
mod capacity;
mod enums;
mod expected;
mod fields;
mod padding;
mod reading;
mod side;
mod sizes;
mod strings;
mod tally;
mod their_json;

pub use expected::{ExpectedKeys, KeysError};

use agreement::{Agreement, TreeSide};
use capacity::KeyHashes;
use fields::ZeroValues;
use reading::LookupErrors;
use side::{Role, Side};
use tally::EntryId;

// ---------------------------------------------------------------------------
// The engine

/// One pass over a dump's entries. The checks of keys and values are on their side;
/// the checks of whole entries keep their state here, one field per group of codes.
pub struct Forensics<'d> {
    dump: &'d Dump,
    opts: Options,
    key: Option<Side>,
    value: Option<Side>,
    stats: Stats,
    /// D005, and the entry counts D002, D006 and D007 report.
    zero: ZeroValues,
    /// D013.
    key_hashes: KeyHashes,
    /// D014.
    lookups: LookupErrors,
    /// D018.
    d018: D018,
    marks: Vec<Marks>,
}

/// The comparison with bpftool's decoding: state of its own, so that it can run on
/// another thread than the other checks.
#[derive(Default)]
struct D018 {
    sides: [Option<TreeSide>; 2],
    agreement: Agreement,
    /// Its counts (`compared_*`), added to the others' at the end.
    stats: Stats,
    /// Entries it marked, in order (when run apart).
    marked: Vec<usize>,
}

impl D018 {
    fn check(&mut self, entry: &DumpEntry<'_>, id: &EntryId<'_>, marks: &mut Marks) {
        // Off, or running on its own thread.
        if self.sides.iter().all(Option::is_none) {
            return;
        }
        let sides = [self.sides[0].as_ref(), self.sides[1].as_ref()];
        self.agreement
            .compare(entry, sides, id, &mut self.stats, marks);
    }

    /// Checks every entry of `dump`, keeping the entries it marks.
    fn check_all(&mut self, dump: &Dump, max_keys: usize) {
        for entry in dump.entries() {
            let label = || Forensics::label(&entry, dump.is_ring());
            let id = EntryId {
                index: entry.index(),
                label: &label,
                max_keys,
                record: dump.is_ring(),
            };
            let mut marks = Marks::default();
            self.check(&entry, &id, &mut marks);
            if !marks.is_empty() {
                self.marked.push(entry.index());
            }
        }
    }
}

/// Where the findings of one dump point.
struct Place {
    file: String,
    map: Option<String>,
}

impl Place {
    fn new(dump: &Dump) -> Place {
        Place {
            file: dump.source.name.to_string(),
            map: dump.meta.name.clone(),
        }
    }

    /// The dump, and the type of `side` when the finding is about one.
    fn at(&self, side: Option<&Side>) -> Location {
        Location {
            file: Some(self.file.clone()),
            map: self.map.clone(),
            type_name: side.map(|s| s.type_name.clone()),
            ..Location::default()
        }
    }
}

impl<'d> Forensics<'d> {
    /// Sets up the checks of `dump` with the key and value types, when known.
    pub fn new(
        dump: &'d Dump,
        key: Option<TypeRef<'_>>,
        value: Option<TypeRef<'_>>,
        opts: Options,
    ) -> Result<Self, DecodeError> {
        let trees = [
            key.and_then(|t| TreeSide::new(Role::Key, t)),
            value.and_then(|t| TreeSide::new(Role::Value, t)),
        ];
        let key = key.map(|t| Side::new(Role::Key, t)).transpose()?;
        let role = if dump.is_ring() {
            Role::Record
        } else {
            Role::Value
        };
        let value = value.map(|t| Side::new(role, t)).transpose()?;
        let compares = opts.compare_formatted && (key.is_some() || value.is_some());
        let d018 = D018 {
            sides: if compares { trees } else { [None, None] },
            ..D018::default()
        };
        Ok(Forensics {
            dump,
            opts,
            key,
            value,
            stats: Stats::default(),
            zero: ZeroValues::default(),
            key_hashes: KeyHashes::with_capacity(dump.len()),
            lookups: LookupErrors::default(),
            d018,
            marks: vec![Marks::default(); dump.len()],
        })
    }

    /// Checks every entry and returns the findings and per-entry marks.
    pub fn run(self) -> (Vec<Finding>, Vec<Marks>, Stats) {
        self.run_with(&mut |_| {})
    }

    /// [`Forensics::run`], calling `progress` now and then with the entries done.
    /// With two threads or more, the comparison with bpftool's decoding (D018) runs on
    /// its own thread over the same entries; findings and marks are the same.
    pub fn run_with(mut self, progress: &mut dyn FnMut(u64)) -> (Vec<Finding>, Vec<Marks>, Stats) {
        let threads = match self.opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let apart = threads > 1 && self.d018.sides.iter().any(Option::is_some);
        if !apart {
            self.check_each(progress);
            return self.finish();
        }
        let mut d018 = std::mem::take(&mut self.d018);
        let (dump, max_keys) = (self.dump, self.opts.max_keys_listed);
        std::thread::scope(|s| {
            let other = s.spawn(|| d018.check_all(dump, max_keys));
            self.check_each(progress);
            // A panic there is a bug; the findings of the other checks still stand.
            let _ = other.join();
        });
        for &i in &d018.marked {
            if let Some(m) = self.marks.get_mut(i) {
                m.add(Code::Disagrees);
            }
        }
        self.d018 = d018;
        self.finish()
    }

    fn check_each(&mut self, progress: &mut dyn FnMut(u64)) {
        for (i, e) in self.dump.entries().enumerate() {
            self.check(e);
            if i % 65536 == 65535 {
                progress(i as u64 + 1);
            }
        }
        progress(self.dump.len() as u64);
    }

    /// How an entry is named in findings: its key as hex, else its place in the input.
    fn label(entry: &DumpEntry<'_>, ring: bool) -> String {
        match entry.key() {
            Some(k) => hex(k),
            // Ring records: their index in ring order (positions are in the capture).
            None if ring => format!("#{}", entry.index()),
            None => format!("#{} (line {})", entry.index(), entry.position().line),
        }
    }

    /// Checks one entry (entries must come from the dump given to [`Forensics::new`]).
    pub fn check(&mut self, entry: DumpEntry<'d>) {
        let index = entry.index();
        let mut marks = Marks::default();
        // Keys as hex only for the few entries a finding lists.
        let ring = self.dump.is_ring();
        let label = || Self::label(&entry, ring);
        let id = EntryId {
            index,
            label: &label,
            max_keys: self.opts.max_keys_listed,
            record: self.dump.is_ring(),
        };
        self.stats.entries += 1;
        if let Some(k) = entry.key() {
            self.key_hashes.add(k, index);
            if let Some(side) = self.key.as_mut() {
                self.stats.keys_checked += 1;
                side.check(k, &id, false, &mut marks);
            }
        }
        match entry.kind() {
            EntryKind::LookupError => self.lookups.add(&entry, &id, &mut marks),
            EntryKind::FormattedOnly => self.stats.formatted_only += 1,
            EntryKind::Value | EntryKind::PerCpu => {
                let all_zero = self.zero.check(&entry, &id, &mut marks);
                if let Some(side) = self.value.as_mut() {
                    for v in entry.values() {
                        self.stats.values_checked += 1;
                        side.check(v, &id, all_zero, &mut marks);
                    }
                }
            }
        }
        self.d018.check(&entry, &id, &mut marks);
        if let Some(m) = self.marks.get_mut(index) {
            *m = marks;
        }
    }

    /// Turns the tallies into findings (in code order) and hands back the marks.
    pub fn finish(mut self) -> (Vec<Finding>, Vec<Marks>, Stats) {
        let place = Place::new(self.dump);
        let mut out = Vec::new();
        self.padding_findings(&place, &mut out);
        self.size_findings(&place, &mut out);
        self.zero_findings(&place, &mut out);
        self.string_findings(&place, &mut out);
        self.enum_findings(&place, &mut out);
        self.capacity_findings(&place, &mut out);
        self.reading_findings(&place, &mut out);
        self.expected_findings(&place, &mut out);
        let sides = [self.key.as_ref(), self.value.as_ref()];
        let max_fields = self.opts.max_field_findings;
        let agreement = &self.d018.agreement;
        agreement.findings(sides, max_fields, &place, &mut out);
        self.stats.unmatched_fields = agreement.unmatched();
        self.stats.compared_entries += self.d018.stats.compared_entries;
        self.stats.compared_fields += self.d018.stats.compared_fields;
        (out, self.marks, self.stats)
    }

    /// The key side, then the value side.
    fn sides(&self) -> impl Iterator<Item = &Side> {
        self.key.iter().chain(self.value.iter())
    }

    /// D001/D002.
    fn padding_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        for side in self.sides() {
            let checked = side
                .role
                .pick(self.stats.keys_checked, self.zero.with_bytes);
            side.padding_findings(checked, place, out);
        }
    }

    /// D003/D004.
    fn size_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        let meta = &self.dump.meta;
        for side in self.sides() {
            // A ring's "value size" is 0: its records have lengths of their own.
            let map_size = match side.role {
                Role::Record => None,
                role => role.pick(meta.key_size, meta.value_size),
            };
            side.size_findings(self.stats.entries, map_size, place, out);
        }
    }

    /// D005, then D006/D007.
    fn zero_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        let map_type = self.dump.meta.map_type.as_deref();
        let array = map_type.is_some_and(|t| t.ends_with("array"));
        out.extend(self.zero.finding(array, self.value.as_ref(), place));
        for side in self.sides() {
            side.field_findings(self.zero.nonzero, &self.opts, place, out);
        }
    }

    /// D008-D010.
    fn string_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        for side in self.sides() {
            side.string_findings(place, out);
        }
    }

    /// D011.
    fn enum_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        for side in self.sides() {
            side.enum_findings(place, out);
        }
    }

    /// D012/D013 (marking the repeated keys).
    fn capacity_findings(&mut self, place: &Place, out: &mut Vec<Finding>) {
        let hint = self.opts.max_entries_hint.as_ref();
        out.extend(capacity::max_entries_finding(self.dump, hint, place));
        out.extend(self.key_hashes.finding(
            self.dump,
            &mut self.marks,
            self.opts.max_keys_listed,
            self.key.as_ref(),
            place,
        ));
    }

    /// D014/D015.
    fn reading_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        out.extend(self.lookups.finding(self.dump, place));
        reading::issue_findings(self.dump, self.opts.max_issue_findings, place, out);
    }

    /// D016/D017, when keys are expected.
    fn expected_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        let Some(expected) = &self.opts.expected_keys else {
            return;
        };
        let pad = self
            .key
            .as_ref()
            .map_or(&[][..], |s| s.padding.any.as_slice());
        let loc = place.at(self.key.as_ref());
        expected.findings(self.dump, pad, self.opts.max_keys_listed, &loc, out);
    }
}

/// Checks every entry of `dump` (see [`Forensics`]).
pub fn check_dump(
    dump: &Dump,
    key: Option<TypeRef<'_>>,
    value: Option<TypeRef<'_>>,
    opts: Options,
) -> Result<(Vec<Finding>, Vec<Marks>, Stats), DecodeError> {
    Ok(Forensics::new(dump, key, value, opts)?.run())
}
