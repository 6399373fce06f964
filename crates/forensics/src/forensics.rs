//! Dump forensics: what a human would miss in a map dump, as `D` findings (catalogue:
//! docs/findings.md).
//!
//! The checks work on the raw bytes: padding is a byte mask, sizes are lengths, strings
//! and enums are read leaf by leaf with a [`FlatDecoder`]; only the comparison with
//! bpftool's own decoding (D018) builds [`Value`] trees, and only for entries that carry
//! bpftool's `formatted` form. One pass over the entries ([`Forensics::check`]), then
//! [`Forensics::finish`] turns the tallies into findings: one finding per padding region,
//! field or kind of problem, with the number of entries and the first keys (as hex).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::BuildHasher;

use mapsleuth_dump::{Dump, DumpEntry, DumpError, EntryKind, ErrorKind};
use mapsleuth_layout::{
    ByteOrder, Finding, LeafKind, Location, PaddingKind, Severity, TypeId, TypeTable,
};

use crate::decode::{hex, DecodeError, Decoder, FlatDecoder, Value};

/// Every dump finding code. The numbers are stable and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// D001: non-zero key padding.
    KeyPadding,
    /// D002: non-zero value padding.
    ValuePadding,
    /// D003: key size differs from the key type's.
    KeySize,
    /// D004: value size differs from the value type's.
    ValueSize,
    /// D005: all-zero values.
    ZeroEntries,
    /// D006: a field that is zero in every entry.
    ZeroField,
    /// D007: a field with the same non-zero value in every entry.
    ConstantField,
    /// D008: a string without a NUL terminator.
    NoNul,
    /// D009: a string with bytes outside printable ASCII.
    NonPrintable,
    /// D010: non-zero bytes after a string's NUL.
    AfterNul,
    /// D011: an enum value that is none of the enum's.
    BadEnum,
    /// D012: more entries than max_entries.
    OverMaxEntries,
    /// D013: the same key more than once.
    DuplicateKey,
    /// D014: entries bpftool could not read.
    LookupError,
    /// D015: the dump itself is damaged (reader issues).
    DumpIssue,
    /// D016: an expected key is not in the dump.
    MissingKey,
    /// D017: a key in the dump is not among the expected ones.
    UnexpectedKey,
    /// D018: our decoding of a field differs from bpftool's.
    Disagrees,
}

impl Code {
    pub const ALL: [Code; 18] = [
        Code::KeyPadding,
        Code::ValuePadding,
        Code::KeySize,
        Code::ValueSize,
        Code::ZeroEntries,
        Code::ZeroField,
        Code::ConstantField,
        Code::NoNul,
        Code::NonPrintable,
        Code::AfterNul,
        Code::BadEnum,
        Code::OverMaxEntries,
        Code::DuplicateKey,
        Code::LookupError,
        Code::DumpIssue,
        Code::MissingKey,
        Code::UnexpectedKey,
        Code::Disagrees,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::KeyPadding => "D001",
            Code::ValuePadding => "D002",
            Code::KeySize => "D003",
            Code::ValueSize => "D004",
            Code::ZeroEntries => "D005",
            Code::ZeroField => "D006",
            Code::ConstantField => "D007",
            Code::NoNul => "D008",
            Code::NonPrintable => "D009",
            Code::AfterNul => "D010",
            Code::BadEnum => "D011",
            Code::OverMaxEntries => "D012",
            Code::DuplicateKey => "D013",
            Code::LookupError => "D014",
            Code::DumpIssue => "D015",
            Code::MissingKey => "D016",
            Code::UnexpectedKey => "D017",
            Code::Disagrees => "D018",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// The codes one entry triggered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks(u32);

impl Marks {
    pub fn add(&mut self, code: Code) {
        self.0 |= code.bit();
    }

    pub fn contains(self, code: Code) -> bool {
        self.0 & code.bit() != 0
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

/// A type to check keys or values against.
#[derive(Clone, Copy)]
pub struct TypeRef<'t> {
    pub table: &'t TypeTable,
    pub id: TypeId,
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

// ---------------------------------------------------------------------------
// Expected keys

/// Keys a user expects in the map (`--expect-keys FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedKeys {
    /// Key bytes and the 1-based line they came from, in file order, without repeats.
    pub keys: Vec<(Vec<u8>, usize)>,
    /// True when some key was a number read without a key type (as little-endian).
    pub assumed_order: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct KeysError {
    pub line: usize,
    pub message: String,
}

impl ExpectedKeys {
    /// One key per line; `#` starts a comment. A key is
    /// - hex bytes separated by spaces: `0a 00 00 05` (`0x0a 0x00 ...` too), in memory order;
    /// - one hex string of exactly two digits per key byte: `0a000005` or `0x0a000005`,
    ///   in memory order (as findings print keys) — even when all its digits are decimal;
    /// - a number: decimal (`5`, `-1`) or shorter `0x` hex (`0x5`), stored in the key's
    ///   size and in `order` (the key type's byte order).
    ///
    /// `order` is `None` when there is no key type: numbers are then read as
    /// little-endian and [`ExpectedKeys::assumed_order`] says so.
    pub fn parse(text: &str, key_size: usize, order: Option<ByteOrder>) -> Result<Self, KeysError> {
        let mut out = ExpectedKeys::default();
        let mut seen = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let err = |message: String| KeysError { line, message };
            let tokens: Vec<&str> = content
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
                .collect();
            let bytes = if tokens.len() > 1 {
                let mut b = Vec::with_capacity(tokens.len());
                for t in &tokens {
                    let d = t
                        .strip_prefix("0x")
                        .or_else(|| t.strip_prefix("0X"))
                        .unwrap_or(t);
                    if d.is_empty() || d.len() > 2 {
                        return Err(err(format!("`{t}` is not a hex byte")));
                    }
                    b.push(
                        u8::from_str_radix(d, 16)
                            .map_err(|_| err(format!("`{t}` is not a hex byte")))?,
                    );
                }
                b
            } else {
                let t = tokens[0];
                let prefixed = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
                let digits = prefixed.unwrap_or(t);
                let all_hex = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_hexdigit());
                let all_dec = t
                    .strip_prefix('-')
                    .unwrap_or(t)
                    .bytes()
                    .all(|c| c.is_ascii_digit())
                    && t != "-";
                if all_hex && digits.len() == 2 * key_size {
                    (0..key_size)
                        .map(|k| u8::from_str_radix(&digits[2 * k..2 * k + 2], 16))
                        .collect::<Result<Vec<u8>, _>>()
                        .map_err(|_| err(format!("`{t}` is not hex")))?
                } else if prefixed.is_some() && all_hex {
                    let v = u128::from_str_radix(digits, 16)
                        .map_err(|_| err(format!("`{t}` does not fit in 128 bits")))?;
                    number_bytes(v, false, key_size, order, &mut out.assumed_order).map_err(err)?
                } else if all_dec {
                    let v: i128 = t
                        .parse()
                        .map_err(|_| err(format!("`{t}` does not fit in 128 bits")))?;
                    number_bytes(v as u128, v < 0, key_size, order, &mut out.assumed_order)
                        .map_err(err)?
                } else {
                    return Err(err(format!(
                        "`{t}` is neither a number nor {key_size} hex bytes"
                    )));
                }
            };
            if bytes.len() != key_size {
                return Err(err(format!(
                    "{} bytes, but keys are {key_size} bytes",
                    bytes.len()
                )));
            }
            if seen.insert(bytes.clone()) {
                out.keys.push((bytes, line));
            }
        }
        Ok(out)
    }
}

fn number_bytes(
    v: u128,
    negative: bool,
    size: usize,
    order: Option<ByteOrder>,
    assumed: &mut bool,
) -> Result<Vec<u8>, String> {
    if size == 0 || size > 16 {
        return Err(format!(
            "a number cannot be a {size}-byte key: give the key's bytes in hex"
        ));
    }
    let bits = size as u32 * 8;
    let fits = if bits >= 128 {
        true
    } else if negative {
        (v as i128) >= -(1i128 << (bits - 1))
    } else {
        v < (1u128 << bits)
    };
    if !fits {
        return Err(format!("{} does not fit in a {size}-byte key", v as i128));
    }
    let order = order.unwrap_or_else(|| {
        *assumed = true;
        ByteOrder::Little
    });
    let le = v.to_le_bytes();
    let mut b = le[..size].to_vec();
    if order == ByteOrder::Big {
        b.reverse();
    }
    Ok(b)
}

// ---------------------------------------------------------------------------
// Tallies

/// How many entries had something, and the first few of them.
#[derive(Clone, Debug, Default)]
struct Tally {
    count: u64,
    keys: Vec<String>,
    /// What the first one looked like.
    example: Option<String>,
    /// The entry counted last: per-CPU values of one entry count once.
    last: Option<usize>,
}

impl Tally {
    /// Counts entry `entry` once, however many of its values have the problem.
    fn add_for(
        &mut self,
        entry: usize,
        key: impl FnOnce() -> String,
        max: usize,
        example: impl FnOnce() -> Option<String>,
    ) {
        if self.last == Some(entry) {
            return;
        }
        self.last = Some(entry);
        self.add(key, max, example);
    }

    fn add(
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

    fn first_key(&self) -> Option<String> {
        self.keys.first().cloned()
    }

    /// `key 01000000` or `keys 01000000, 02000000 and 3 more`.
    fn keys_text(&self) -> String {
        let listed = self.keys.join(", ");
        let more = self.count.saturating_sub(self.keys.len() as u64);
        let word = if self.count == 1 { "key" } else { "keys" };
        if more > 0 {
            format!("{word} {listed} and {more} more")
        } else {
            format!("{word} {listed}")
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// (byte index, bit mask) of every byte that bits `[offset, offset + size)` touch, bits
/// numbered in memory order (see `decode`).
fn bit_mask(offset_bits: u64, size_bits: u64, order: ByteOrder) -> Vec<(usize, u8)> {
    let mut out: Vec<(usize, u8)> = Vec::new();
    let end = offset_bits.saturating_add(size_bits);
    let mut p = offset_bits;
    while p < end {
        let byte = (p / 8) as usize;
        let in_byte = p % 8;
        let take = (8 - in_byte).min(end - p);
        let run: u16 = ((1u16 << take) - 1) << in_byte;
        let m = match order {
            ByteOrder::Little => run as u8,
            ByteOrder::Big => (run as u8).reverse_bits(),
        };
        match out.last_mut() {
            Some((b, mm)) if *b == byte => *mm |= m,
            _ => out.push((byte, m)),
        }
        p += take;
    }
    out
}

/// [`bit_mask`] of the part of the bits inside a type of `size` bytes: a broken type
/// may declare members far past its end, and they are never in a value of that size.
fn bit_mask_within(
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

fn masked_nonzero(bytes: &[u8], mask: &[(usize, u8)]) -> bool {
    mask.iter()
        .any(|&(i, m)| bytes.get(i).is_some_and(|b| b & m != 0))
}

// ---------------------------------------------------------------------------
// Per-side plans

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Key,
    Value,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Key => "key",
            Role::Value => "value",
        }
    }
}

struct PadRegion {
    offset_bits: u64,
    size_bits: u64,
    mask: Vec<(usize, u8)>,
    /// `the 4-byte hole after pid`, `the 3 bytes of trailing padding`.
    what: String,
    tally: Tally,
}

struct FieldStat {
    leaf: usize,
    mask: Vec<(usize, u8)>,
    zero: bool,
    constant: bool,
    first: Option<Vec<u8>>,
}

struct StrCheck {
    leaf: usize,
    offset: usize,
    len: usize,
    no_nul: Tally,
    nonprint: Tally,
    after_nul: Tally,
}

struct EnumCheck {
    leaf: usize,
    /// The enum's values, sorted.
    valid: Vec<i128>,
    tally: Tally,
    values: BTreeMap<i128, u64>,
}

/// Everything checked on one side (keys or values) of the entries.
struct Side {
    role: Role,
    type_name: String,
    size: u64,
    order: ByteOrder,
    flat: FlatDecoder,
    tree: Option<Decoder>,
    /// Byte-level checks run only on types small enough to hold masks for.
    byte_checks: bool,
    pad: Vec<PadRegion>,
    pad_any: Vec<(usize, u8)>,
    fields: Vec<FieldStat>,
    strings: Vec<StrCheck>,
    enums: Vec<EnumCheck>,
    /// Sizes seen that differ from the type's, with counts.
    sizes: BTreeMap<usize, Tally>,
    samples: u64,
    /// Leaf path → byte offset, for locations.
    offsets: HashMap<String, u64>,
}

/// Types larger than this get no byte masks (the dump reader allows 4 MiB values).
const MAX_MASKED_SIZE: u64 = 4 << 20;

fn is_go_blank(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    last == "_" || last.starts_with("_[")
}

impl Side {
    fn new(role: Role, t: TypeRef<'_>) -> Result<Side, DecodeError> {
        let flat = FlatDecoder::new(t.table, t.id)?;
        let size = flat.size();
        let order = t.table.target.byte_order;
        let byte_checks = size <= MAX_MASKED_SIZE;
        let tree = Decoder::new(t.table, t.id).ok();
        let mut side = Side {
            role,
            type_name: flat.type_name().to_string(),
            size,
            order,
            tree,
            byte_checks,
            pad: Vec::new(),
            pad_any: Vec::new(),
            fields: Vec::new(),
            strings: Vec::new(),
            enums: Vec::new(),
            sizes: BTreeMap::new(),
            samples: 0,
            offsets: HashMap::new(),
            flat,
        };
        for l in side.flat.leaves() {
            side.offsets
                .entry(l.path.clone())
                .or_insert(l.offset_bits / 8);
        }
        if !byte_checks {
            return Ok(side);
        }
        let mut regions: Vec<(u64, u64, String)> = t
            .table
            .padding(t.id)?
            .into_iter()
            .map(|r| {
                let what = padding_text(r.kind, r.size_bits, &r.container, r.after.as_deref());
                (r.offset_bits, r.size_bits, what)
            })
            .collect();
        // Go's explicit padding (`_ [4]byte`) is padding too.
        for l in side.flat.leaves() {
            if is_go_blank(&l.path) {
                regions.push((
                    l.offset_bits,
                    l.size_bits,
                    format!("the {}-byte blank field `{}`", l.size_bits / 8, l.path),
                ));
            }
        }
        regions.sort_by_key(|r| r.0);
        let mut any: BTreeMap<usize, u8> = BTreeMap::new();
        for (offset_bits, size_bits, what) in regions {
            let mask = bit_mask_within(offset_bits, size_bits, size, order);
            for &(i, m) in &mask {
                *any.entry(i).or_default() |= m;
            }
            side.pad.push(PadRegion {
                offset_bits,
                size_bits,
                mask,
                what,
                tally: Tally::default(),
            });
        }
        side.pad_any = any.into_iter().collect();
        for (i, l) in side.flat.leaves().iter().enumerate() {
            if is_go_blank(&l.path) {
                continue;
            }
            match &l.kind {
                LeafKind::Bytes { len, .. } if side.flat.is_text(i) => {
                    side.strings.push(StrCheck {
                        leaf: i,
                        offset: (l.offset_bits / 8) as usize,
                        len: usize::try_from(*len).unwrap_or(usize::MAX),
                        no_nul: Tally::default(),
                        nonprint: Tally::default(),
                        after_nul: Tally::default(),
                    });
                }
                LeafKind::Enum { .. } => side.enums.push(EnumCheck {
                    leaf: i,
                    valid: side.flat.enum_values(i).unwrap_or_default(),
                    tally: Tally::default(),
                    values: BTreeMap::new(),
                }),
                _ => {}
            }
            side.fields.push(FieldStat {
                leaf: i,
                mask: bit_mask_within(l.offset_bits, l.size_bits, size, order),
                zero: true,
                constant: true,
                first: None,
            });
        }
        Ok(side)
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

// ---------------------------------------------------------------------------
// The engine

/// One pass over a dump's entries.
pub struct Forensics<'d> {
    dump: &'d Dump,
    opts: Options,
    key: Option<Side>,
    value: Option<Side>,
    stats: Stats,
    zero_values: Tally,
    values_with_bytes: u64,
    nonzero_entries: u64,
    /// (hash of the key, entry index) of every entry with a key: sorted at the end to
    /// find repeated keys without a million-entry hash table.
    key_hashes: Vec<(u64, u32)>,
    hasher: std::collections::hash_map::RandomState,
    lookup_errors: Tally,
    lookup_messages: BTreeMap<String, u64>,
    /// (our path, bpftool's path) → differences.
    disagree: BTreeMap<(Role2, String, String), Tally>,
    compared: HashMap<(Role2, String), u64>,
    unmatched: BTreeMap<String, ()>,
    marks: Vec<Marks>,
}

/// Key or value, ordered for output.
type Role2 = u8;

impl<'d> Forensics<'d> {
    /// Sets up the checks of `dump` with the key and value types, when known.
    pub fn new(
        dump: &'d Dump,
        key: Option<TypeRef<'_>>,
        value: Option<TypeRef<'_>>,
        opts: Options,
    ) -> Result<Self, DecodeError> {
        let key = key.map(|t| Side::new(Role::Key, t)).transpose()?;
        let value = value.map(|t| Side::new(Role::Value, t)).transpose()?;
        Ok(Forensics {
            dump,
            opts,
            key,
            value,
            stats: Stats::default(),
            zero_values: Tally::default(),
            values_with_bytes: 0,
            nonzero_entries: 0,
            key_hashes: Vec::with_capacity(dump.len()),
            hasher: std::collections::hash_map::RandomState::new(),
            lookup_errors: Tally::default(),
            lookup_messages: BTreeMap::new(),
            disagree: BTreeMap::new(),
            compared: HashMap::new(),
            unmatched: BTreeMap::new(),
            marks: vec![Marks::default(); dump.len()],
        })
    }

    /// Checks every entry and returns the findings and per-entry marks.
    pub fn run(mut self) -> (Vec<Finding>, Vec<Marks>, Stats) {
        for e in self.dump.entries() {
            self.check(e);
        }
        self.finish()
    }

    /// How an entry is named in findings: its key as hex, else its place in the input.
    fn label(entry: &DumpEntry<'_>) -> String {
        match entry.key() {
            Some(k) => hex(k),
            None => format!("#{} (line {})", entry.index(), entry.position().line),
        }
    }

    /// Checks one entry (entries must come from the dump given to [`Forensics::new`]).
    pub fn check(&mut self, entry: DumpEntry<'d>) {
        let idx = entry.index();
        let mut marks = Marks::default();
        // Keys as hex only for the few entries a finding lists.
        let label = || Self::label(&entry);
        let max = self.opts.max_keys_listed;
        self.stats.entries += 1;
        if let Some(k) = entry.key() {
            self.key_hashes.push((
                self.hasher.hash_one(k),
                u32::try_from(idx).unwrap_or(u32::MAX),
            ));
            if let Some(side) = self.key.as_mut() {
                self.stats.keys_checked += 1;
                check_bytes(side, k, idx, &label, max, false, &mut marks);
            }
        }
        match entry.kind() {
            EntryKind::LookupError => {
                marks.add(Code::LookupError);
                let msg = entry.lookup_error().unwrap_or("?").to_string();
                self.lookup_errors.add(label, max, || None);
                *self.lookup_messages.entry(msg).or_default() += 1;
            }
            EntryKind::FormattedOnly => self.stats.formatted_only += 1,
            EntryKind::Value | EntryKind::PerCpu => {
                let all_zero = entry.values().all(|v| v.iter().all(|&b| b == 0));
                self.values_with_bytes += 1;
                if all_zero {
                    marks.add(Code::ZeroEntries);
                    self.zero_values.add(label, max, || None);
                } else {
                    self.nonzero_entries += 1;
                }
                if let Some(side) = self.value.as_mut() {
                    for v in entry.values() {
                        self.stats.values_checked += 1;
                        check_bytes(side, v, idx, &label, max, all_zero, &mut marks);
                    }
                }
            }
        }
        if self.opts.compare_formatted && (self.key.is_some() || self.value.is_some()) {
            self.compare_formatted(&entry, &label, &mut marks);
        }
        if let Some(m) = self.marks.get_mut(idx) {
            *m = marks;
        }
    }

    fn compare_formatted(
        &mut self,
        entry: &DumpEntry<'d>,
        label: &dyn Fn() -> String,
        marks: &mut Marks,
    ) {
        if entry.key().is_none() && entry.value_count() == 0 {
            return;
        }
        let Some(Ok(formatted)) = entry.formatted() else {
            return;
        };
        let mut pairs: Vec<(Role2, &Side, &[u8], &serde_json::Value)> = Vec::new();
        if let (Some(side), Some(k), Some(theirs)) =
            (self.key.as_ref(), entry.key(), formatted.get("key"))
        {
            pairs.push((0, side, k, theirs));
        }
        if let Some(side) = self.value.as_ref() {
            if let Some(theirs) = formatted.get("value") {
                if let Some(v) = entry.value() {
                    pairs.push((1, side, v, theirs));
                }
            } else if let Some(serde_json::Value::Array(cpus)) = formatted.get("values") {
                for (i, c) in cpus.iter().enumerate() {
                    let cpu = c
                        .get("cpu")
                        .and_then(serde_json::Value::as_u64)
                        .map_or(i, |n| n as usize);
                    if let (Some(v), Some(theirs)) = (entry.cpu_value(cpu), c.get("value")) {
                        pairs.push((1, side, v, theirs));
                    }
                }
            }
        }
        if pairs.is_empty() {
            return;
        }
        let mut compared_any = false;
        let max = self.opts.max_keys_listed;
        for (role, side, bytes, theirs) in pairs {
            let Some(tree) = side.tree.as_ref() else {
                continue;
            };
            let Ok(ours) = tree.decode(bytes) else {
                continue;
            };
            let mut ours_flat = Vec::new();
            flatten_ours(&ours, "", &mut ours_flat);
            let mut theirs_flat = HashMap::new();
            flatten_theirs(theirs, "", "", 0, &mut theirs_flat);
            let mut used: HashSet<String> = HashSet::new();
            for (path, cmp) in &ours_flat {
                let Some(norm) = normalize(path) else {
                    continue;
                };
                let Some((their_path, j)) = theirs_flat.get(&norm) else {
                    self.unmatched
                        .insert(format!("{} `{path}` (ours)", Role::from(role).name()), ());
                    continue;
                };
                used.insert(norm.clone());
                // Elements of a byte array were matched as the array.
                if let Cmp::Bytes(..) = cmp {
                    used.extend(
                        theirs_flat
                            .keys()
                            .filter(|k| k.starts_with(&format!("{norm}[")))
                            .cloned(),
                    );
                }
                let Some(same) = cmp.same_as(j, side.order) else {
                    continue;
                };
                compared_any = true;
                self.stats.compared_fields += 1;
                *self.compared.entry((role, path.clone())).or_default() += 1;
                if !same {
                    marks.add(Code::Disagrees);
                    let ours_text = cmp.to_string();
                    let theirs_text = j.to_string();
                    self.disagree
                        .entry((role, path.clone(), their_path.clone()))
                        .or_default()
                        .add_for(entry.index(), label, max, || {
                            Some(format!("{ours_text} here, {theirs_text} in bpftool's"))
                        });
                }
            }
            for (norm, (their_path, j)) in &theirs_flat {
                if used.contains(norm) || j.is_object() || j.is_array() {
                    continue;
                }
                // Elements of arrays we matched whole.
                if their_path.ends_with(']') {
                    let base = &norm[..norm.rfind('[').unwrap_or(norm.len())];
                    if used.contains(base) {
                        continue;
                    }
                }
                self.unmatched.insert(
                    format!("{} `{their_path}` (bpftool's)", Role::from(role).name()),
                    (),
                );
            }
        }
        if compared_any {
            self.stats.compared_entries += 1;
        }
    }

    /// Turns the tallies into findings (in code order) and hands back the marks.
    pub fn finish(mut self) -> (Vec<Finding>, Vec<Marks>, Stats) {
        let mut out = Vec::new();
        let map = self.dump.meta.name.clone();
        let file = self.dump.source.name.to_string();
        let loc = |side: Option<&Side>| Location {
            file: Some(file.clone()),
            map: map.clone(),
            type_name: side.map(|s| s.type_name.clone()),
            ..Location::default()
        };
        let max_fields = self.opts.max_field_findings;

        // D001/D002: padding.
        for side in [self.key.as_ref(), self.value.as_ref()]
            .into_iter()
            .flatten()
        {
            let (code, sev) = match side.role {
                Role::Key => (Code::KeyPadding, Severity::Error),
                Role::Value => (Code::ValuePadding, Severity::Warning),
            };
            for r in side.pad.iter().filter(|r| r.tally.count > 0) {
                let range = if r.offset_bits.is_multiple_of(8) && r.size_bits.is_multiple_of(8) {
                    format!(
                        "bytes {}..{}",
                        r.offset_bits / 8,
                        (r.offset_bits + r.size_bits) / 8
                    )
                } else {
                    format!("bits {}..{}", r.offset_bits, r.offset_bits + r.size_bits)
                };
                let of = match side.role {
                    Role::Key => "keys",
                    Role::Value => "entries",
                };
                let mut msg = format!(
                    "{} of {} {of} {} non-zero bytes in {} of {} ({range}): {}",
                    r.tally.count,
                    match side.role {
                        Role::Key => self.stats.keys_checked,
                        Role::Value => self.values_with_bytes,
                    },
                    if r.tally.count == 1 { "has" } else { "have" },
                    r.what,
                    side.type_name,
                    r.tally.keys_text()
                );
                if let Some(ex) = &r.tally.example {
                    let _ = write!(msg, " (first: {ex})");
                }
                let (meaning, fix) = match side.role {
                    Role::Key => (
                        "; the kernel compares whole keys, so a lookup built with zeroed padding will not find these entries",
                        "zero the whole key before filling it (`struct flow_key k = {}` or `__builtin_memset(&k, 0, sizeof(k))`) in the BPF program and in user space; in Go, build keys with the padding fields zeroed",
                    ),
                    Role::Value => (
                        "; uninitialised memory (BPF stack) is leaking into the map and to user space",
                        "zero the value before filling it (`__builtin_memset(&v, 0, sizeof(v))` or `= {}` then assign the fields), or make the padding explicit fields set to 0",
                    ),
                };
                msg.push_str(meaning);
                out.push(
                    Finding::new(code.as_str(), sev, msg)
                        .at(Location {
                            offset: Some(r.offset_bits / 8),
                            key: r.tally.first_key(),
                            ..loc(Some(side))
                        })
                        .fix(fix),
                );
            }
        }

        // D003/D004: sizes.
        for side in [self.key.as_ref(), self.value.as_ref()]
            .into_iter()
            .flatten()
        {
            let code = match side.role {
                Role::Key => Code::KeySize,
                Role::Value => Code::ValueSize,
            };
            let mut mismatches: Vec<(usize, &Tally)> =
                side.sizes.iter().map(|(s, t)| (*s, t)).collect();
            if mismatches.is_empty() && self.stats.entries == 0 {
                // An empty dump: the map's own sizes, when known.
                let meta = match side.role {
                    Role::Key => self.dump.meta.key_size,
                    Role::Value => self.dump.meta.value_size,
                };
                if let Some(s) = meta.filter(|s| u64::from(*s) != side.size) {
                    let msg = format!(
                        "the map's {}s are {s} bytes, but {} is {} bytes: this is not the map's {} type",
                        side.role.name(),
                        side.type_name,
                        side.size,
                        side.role.name()
                    );
                    out.push(
                        Finding::new(code.as_str(), Severity::Error, msg)
                            .at(loc(Some(side)))
                            .fix(size_fix(side.role)),
                    );
                }
            }
            mismatches.sort_by_key(|(s, _)| *s);
            for (size, t) in mismatches {
                let what = if (size as u64) < side.size {
                    "cannot be decoded"
                } else {
                    "were decoded from their first bytes only"
                };
                let msg = format!(
                    "{} {}s are {size} bytes, but {} is {} bytes: this is not the map's {} type ({} {what}; {})",
                    t.count,
                    side.role.name(),
                    side.type_name,
                    side.size,
                    side.role.name(),
                    if t.count == 1 { "it" } else { "they" },
                    t.keys_text()
                );
                out.push(
                    Finding::new(code.as_str(), Severity::Error, msg)
                        .at(Location {
                            key: t.first_key(),
                            ..loc(Some(side))
                        })
                        .fix(size_fix(side.role)),
                );
            }
        }

        // D005: all-zero values.
        if self.zero_values.count > 0 {
            let array = self
                .dump
                .meta
                .map_type
                .as_deref()
                .is_some_and(|t| t.ends_with("array"));
            let mut msg = format!(
                "{} of {} entries {} an all-zero value: {}",
                self.zero_values.count,
                self.values_with_bytes,
                if self.zero_values.count == 1 {
                    "has"
                } else {
                    "have"
                },
                self.zero_values.keys_text()
            );
            msg.push_str(if array {
                "; in an array map these are slots never written (arrays always hold max_entries entries)"
            } else {
                "; the entry exists but holds nothing: created with a zero value and never updated, or reset"
            });
            out.push(
                Finding::new(Code::ZeroEntries.as_str(), Severity::Info, msg)
                    .at(Location {
                        key: self.zero_values.first_key(),
                        ..loc(self.value.as_ref())
                    })
                    .fix("if the program should have filled them, check the code path that updates these keys (the lookup may be failing and a new zeroed entry created)"),
            );
        }

        // D006/D007: zero and constant fields.
        let min = self.opts.min_entries_for_constant as u64;
        for side in [self.key.as_ref(), self.value.as_ref()]
            .into_iter()
            .flatten()
        {
            let enough = match side.role {
                Role::Key => side.samples >= min,
                Role::Value => self.nonzero_entries >= min,
            };
            if enough {
                let mut zero = Vec::new();
                let mut constant = Vec::new();
                for f in &side.fields {
                    let leaf = &side.flat.leaves()[f.leaf];
                    if f.zero {
                        zero.push(leaf);
                    } else if f.constant {
                        let shown = f
                            .first
                            .as_ref()
                            .and_then(|b| side.flat.decode_leaf(f.leaf, b).ok())
                            .map_or_else(|| "?".to_string(), |v| v.to_string());
                        constant.push((leaf, shown));
                    }
                }
                let n = side.samples;
                let what = match side.role {
                    Role::Key => "keys",
                    Role::Value => "non-zero values",
                };
                for (i, leaf) in zero.iter().enumerate() {
                    if i == max_fields {
                        out.push(
                            Finding::new(
                                Code::ZeroField.as_str(),
                                Severity::Info,
                                format!(
                                    "and {} more fields of {} are zero in all {n} {what}",
                                    zero.len() - max_fields,
                                    side.type_name
                                ),
                            )
                            .at(loc(Some(side))),
                        );
                        break;
                    }
                    out.push(
                        Finding::new(
                            Code::ZeroField.as_str(),
                            Severity::Info,
                            format!(
                                "`{}` is zero in all {n} {what} of {}",
                                leaf.path, side.type_name
                            ),
                        )
                        .at(Location {
                            field: Some(leaf.path.clone()),
                            offset: Some(leaf.offset_bits / 8),
                            ..loc(Some(side))
                        })
                        .fix("if it should carry data, check that the program sets it (and that user space reads it at this offset)"),
                    );
                }
                for (i, (leaf, shown)) in constant.iter().enumerate() {
                    if i == max_fields {
                        out.push(
                            Finding::new(
                                Code::ConstantField.as_str(),
                                Severity::Info,
                                format!(
                                    "and {} more fields of {} are the same in all {n} {what}",
                                    constant.len() - max_fields,
                                    side.type_name
                                ),
                            )
                            .at(loc(Some(side))),
                        );
                        break;
                    }
                    out.push(
                        Finding::new(
                            Code::ConstantField.as_str(),
                            Severity::Info,
                            format!(
                                "`{}` is {shown} in all {n} {what} of {}",
                                leaf.path, side.type_name
                            ),
                        )
                        .at(Location {
                            field: Some(leaf.path.clone()),
                            offset: Some(leaf.offset_bits / 8),
                            ..loc(Some(side))
                        }),
                    );
                }
            }
        }

        // D008-D010: strings.
        for side in [self.key.as_ref(), self.value.as_ref()]
            .into_iter()
            .flatten()
        {
            for s in &side.strings {
                let leaf = &side.flat.leaves()[s.leaf];
                let at = |t: &Tally| Location {
                    field: Some(leaf.path.clone()),
                    offset: Some(s.offset as u64),
                    key: t.first_key(),
                    ..loc(Some(side))
                };
                let ex = |t: &Tally| {
                    t.example
                        .as_ref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                };
                if s.no_nul.count > 0 {
                    out.push(
                        Finding::new(
                            Code::NoNul.as_str(),
                            Severity::Warning,
                            format!(
                                "`{}` ({} bytes) has no NUL terminator in {}: {}{}; C code reading it as a string runs past its end",
                                leaf.path,
                                s.len,
                                plural(s.no_nul.count, "entry", "entries"),
                                s.no_nul.keys_text(),
                                ex(&s.no_nul)
                            ),
                        )
                        .at(at(&s.no_nul))
                        .fix("copy with a bounded helper that terminates (`bpf_probe_read_kernel_str`, `bpf_get_current_comm`) or write at most len-1 bytes; in user space never assume the terminator"),
                    );
                }
                if s.nonprint.count > 0 {
                    out.push(
                        Finding::new(
                            Code::NonPrintable.as_str(),
                            Severity::Info,
                            format!(
                                "`{}` has bytes outside printable ASCII before its end in {}: {}{}",
                                leaf.path,
                                plural(s.nonprint.count, "entry", "entries"),
                                s.nonprint.keys_text(),
                                ex(&s.nonprint)
                            ),
                        )
                        .at(at(&s.nonprint))
                        .fix("if the field is text, the bytes are binary data or garbage: check what is copied into it; if it is binary, declare it `__u8[]` so tools show bytes"),
                    );
                }
                if s.after_nul.count > 0 {
                    out.push(
                        Finding::new(
                            Code::AfterNul.as_str(),
                            Severity::Warning,
                            format!(
                                "`{}` has non-zero bytes after its NUL terminator in {}: {}{}; stale data from an earlier string or uninitialised memory",
                                leaf.path,
                                plural(s.after_nul.count, "entry", "entries"),
                                s.after_nul.keys_text(),
                                ex(&s.after_nul)
                            ),
                        )
                        .at(at(&s.after_nul))
                        .fix("zero the buffer before copying a string into it"),
                    );
                }
            }
        }

        // D011: enums.
        for side in [self.key.as_ref(), self.value.as_ref()]
            .into_iter()
            .flatten()
        {
            for e in side.enums.iter().filter(|e| e.tally.count > 0) {
                let leaf = &side.flat.leaves()[e.leaf];
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
                out.push(
                    Finding::new(
                        Code::BadEnum.as_str(),
                        Severity::Warning,
                        format!(
                            "`{}` ({}) holds {} that {} no value of the enum in {}: {}",
                            leaf.path,
                            leaf.type_name,
                            values.join(", "),
                            if e.values.len() == 1 { "is" } else { "are" },
                            plural(e.tally.count, "entry", "entries"),
                            e.tally.keys_text()
                        ),
                    )
                    .at(Location {
                        field: Some(leaf.path.clone()),
                        offset: Some(leaf.offset_bits / 8),
                        key: e.tally.first_key(),
                        ..loc(Some(side))
                    })
                    .fix("the program stores a value the enum does not define: a missing enumerator, a stale object file, or garbage in the field"),
                );
            }
        }

        // D012: max_entries.
        let (max_entries, from) = match (self.dump.meta.max_entries, &self.opts.max_entries_hint) {
            (Some(m), _) => (Some(m), "the map".to_string()),
            (None, Some((m, from))) => (Some(*m), from.clone()),
            _ => (None, String::new()),
        };
        if let Some(m) = max_entries {
            let n = self.dump.counted_len() as u64;
            if n > u64::from(m) {
                out.push(
                    Finding::new(
                        Code::OverMaxEntries.as_str(),
                        Severity::Error,
                        format!(
                            "{n} entries, but {from} holds at most {m} (max_entries): the dump mixes maps, was taken while the map changed, or the map was resized"
                        ),
                    )
                    .at(loc(None))
                    .fix("dump the map again (a capture reads it consistently with batch lookups) and check that the dump and its map information belong together"),
                );
            }
        }

        // D013: duplicates.
        let dups = self.duplicates();
        if !dups.is_empty() {
            let total: u64 = dups.iter().map(|(_, n)| u64::from(*n - 1)).sum();
            let shown: Vec<String> = dups
                .iter()
                .take(self.opts.max_keys_listed)
                .map(|(k, n)| format!("{} ({n}×)", hex(k)))
                .collect();
            let more = dups.len().saturating_sub(shown.len());
            let first = hex(dups[0].0);
            out.push(
                Finding::new(
                    Code::DuplicateKey.as_str(),
                    Severity::Error,
                    format!(
                        "{} listed more than once ({total} extra entries): {}{}; a map holds each key once, so the dump was taken while the map changed (bpftool restarts its walk when the key it stands on is deleted) or joins several dumps",
                        plural(shown.len() as u64 + more as u64, "key is", "keys are"),
                        shown.join(", "),
                        if more > 0 { format!(" and {more} more") } else { String::new() }
                    ),
                )
                .at(Location {
                    key: Some(first),
                    ..loc(self.key.as_ref())
                })
                .fix("take the dump again, or a capture (batch lookups give a consistent view)"),
            );
        }

        // D014: lookup errors.
        if self.lookup_errors.count > 0 {
            let normal = self
                .dump
                .meta
                .bpftool_dump_note()
                .is_some_and(|n| n.contains("lookup errors"));
            let msgs: Vec<String> = self
                .lookup_messages
                .iter()
                .map(|(m, n)| format!("`{m}` ({n})"))
                .collect();
            let mut msg = format!(
                "bpftool could not read {}: {}; {}",
                plural(self.lookup_errors.count, "entry", "entries"),
                msgs.join(", "),
                self.lookup_errors.keys_text()
            );
            if normal {
                msg.push_str("; for this map type these are empty slots");
            }
            out.push(
                Finding::new(
                    Code::LookupError.as_str(),
                    if normal { Severity::Info } else { Severity::Warning },
                    msg,
                )
                .at(Location {
                    key: self.lookup_errors.first_key(),
                    ..loc(None)
                })
                .fix("`No such file or directory` means the key vanished (or a slot is empty) between listing and lookup; `Operation not permitted`/`not supported` means the map type cannot be read from user space this way"),
            );
        }

        // D015: reader issues.
        for (i, issue) in self.dump.issues.iter().enumerate() {
            if i == self.opts.max_issue_findings {
                let more = self.dump.issues.len() - i;
                out.push(
                    Finding::new(
                        Code::DumpIssue.as_str(),
                        Severity::Warning,
                        format!("and {more} more problems reading the dump"),
                    )
                    .at(loc(None)),
                );
                break;
            }
            out.push(issue_finding(issue, map.clone()));
        }
        if self.dump.issues_dropped > 0 {
            out.push(
                Finding::new(
                    Code::DumpIssue.as_str(),
                    Severity::Warning,
                    format!(
                        "{} more problems reading the dump were not kept",
                        self.dump.issues_dropped
                    ),
                )
                .at(loc(None)),
            );
        }

        // D016/D017: expected keys.
        if let Some(expected) = self.opts.expected_keys.take() {
            self.expected_findings(&expected, &mut out, &loc(self.key.as_ref()));
        }

        // D018: disagreements with bpftool.
        let mut n = 0;
        let total = self.disagree.len();
        let mut disagree: Vec<_> = self.disagree.iter().collect();
        disagree.sort_by_key(|((role, ours, _), _)| {
            let side = if *role == 0 {
                self.key.as_ref()
            } else {
                self.value.as_ref()
            };
            (
                *role,
                side.and_then(|s| s.offsets.get(ours).copied()),
                ours.clone(),
            )
        });
        for ((role, ours, theirs), t) in disagree {
            let side = if *role == 0 {
                self.key.as_ref()
            } else {
                self.value.as_ref()
            };
            let Some(side) = side else { continue };
            if n == max_fields {
                out.push(
                    Finding::new(
                        Code::Disagrees.as_str(),
                        Severity::Error,
                        format!(
                            "and {} more fields of {} decode differently from bpftool's",
                            total - n,
                            side.type_name
                        ),
                    )
                    .at(loc(Some(side))),
                );
                break;
            }
            n += 1;
            let compared = self
                .compared
                .get(&(*role, ours.clone()))
                .copied()
                .unwrap_or(0);
            let same_name = ours == theirs;
            let name = if same_name {
                format!("`{ours}`")
            } else {
                format!("`{ours}` (bpftool's `{theirs}`)")
            };
            let offset = side.offsets.get(ours).copied();
            out.push(
                Finding::new(
                    Code::Disagrees.as_str(),
                    Severity::Error,
                    format!(
                        "{name} of the {} decodes differently with {} than in bpftool's own decoding in {} of {compared} {}: {}{}; the type does not match the map's BTF layout",
                        side.role.name(),
                        side.type_name,
                        t.count,
                        if side.role == Role::Key { "keys" } else { "values" },
                        t.keys_text(),
                        t.example.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
                    ),
                )
                .at(Location {
                    field: Some(ours.clone()),
                    offset,
                    key: t.first_key(),
                    ..loc(Some(side))
                })
                .fix("compare the layouts with `mapsleuth analyze layout` and fix the type (offsets, padding, sizes, signedness)"),
            );
        }
        self.stats.unmatched_fields = self.unmatched.keys().take(32).cloned().collect();
        (out, self.marks, self.stats)
    }

    /// Keys listed more than once, with their counts, in order of first appearance;
    /// marks every repeat.
    fn duplicates(&mut self) -> Vec<(&'d [u8], u32)> {
        let dump = self.dump;
        let key = |i: u32| dump.entry(i as usize).and_then(|e| e.key()).unwrap_or(&[]);
        self.key_hashes.sort_unstable();
        // (first index, count) of each repeated key.
        let mut found: Vec<(u32, u32)> = Vec::new();
        let mut run = 0;
        while run < self.key_hashes.len() {
            let h = self.key_hashes[run].0;
            let mut end = run + 1;
            while end < self.key_hashes.len() && self.key_hashes[end].0 == h {
                end += 1;
            }
            if end - run > 1 {
                // Equal hashes: group by the bytes (entry order kept within a group).
                let mut group: Vec<u32> = self.key_hashes[run..end].iter().map(|x| x.1).collect();
                group.sort_by(|a, b| key(*a).cmp(key(*b)).then(a.cmp(b)));
                let mut i = 0;
                while i < group.len() {
                    let mut j = i + 1;
                    while j < group.len() && key(group[j]) == key(group[i]) {
                        if let Some(m) = self.marks.get_mut(group[j] as usize) {
                            m.add(Code::DuplicateKey);
                        }
                        j += 1;
                    }
                    if j - i > 1 {
                        found.push((group[i], (j - i) as u32));
                    }
                    i = j;
                }
            }
            run = end;
        }
        found.sort_unstable();
        found.into_iter().map(|(i, n)| (key(i), n)).collect()
    }

    /// Every key of the dump, in order.
    fn dump_keys(&self) -> impl Iterator<Item = &'d [u8]> + 'd {
        self.dump.entries().filter_map(|e| e.key())
    }

    fn expected_findings(&self, expected: &ExpectedKeys, out: &mut Vec<Finding>, loc: &Location) {
        let max = self.opts.max_keys_listed;
        let want: HashSet<&[u8]> = expected.keys.iter().map(|(k, _)| k.as_slice()).collect();
        // A missing key may be present with different padding bytes.
        let pad = self
            .key
            .as_ref()
            .map(|s| s.pad_any.as_slice())
            .unwrap_or(&[]);
        let masked = |k: &[u8]| -> Vec<u8> {
            let mut v = k.to_vec();
            for &(i, m) in pad {
                if let Some(b) = v.get_mut(i) {
                    *b &= !m;
                }
            }
            v
        };
        let by_fields: HashMap<Vec<u8>, &[u8]> = if pad.is_empty() {
            HashMap::new()
        } else {
            self.dump_keys().map(|k| (masked(k), k)).collect()
        };
        let present: HashSet<&[u8]> = self.dump_keys().collect();
        let mut missing = Tally::default();
        let mut near = Vec::new();
        for (k, line) in &expected.keys {
            if present.contains(k.as_slice()) {
                continue;
            }
            missing.add(|| hex(k), max, || Some(format!("line {line}")));
            if let Some(found) = by_fields.get(&masked(k)) {
                near.push(format!("{} is there as {}", hex(k), hex(found)));
            }
        }
        if missing.count > 0 {
            let mut msg = format!(
                "{} of {} expected keys {} not in the dump: {}",
                missing.count,
                expected.keys.len(),
                if missing.count == 1 { "is" } else { "are" },
                missing.keys_text()
            );
            if !near.is_empty() {
                let _ = write!(
                    msg,
                    "; some differ only in padding bytes ({}), so a lookup with a zeroed key misses them",
                    near.iter().take(max).cloned().collect::<Vec<_>>().join(", ")
                );
            }
            if expected.assumed_order {
                msg.push_str(" (numbers read as little-endian: no key type given)");
            }
            out.push(
                Finding::new(Code::MissingKey.as_str(), Severity::Error, msg)
                    .at(Location {
                        key: missing.first_key(),
                        ..loc.clone()
                    })
                    .fix("the program never inserted these keys, or they were deleted (LRU eviction, a timeout, user space); check the key's byte order and padding against the map's key type"),
            );
        }
        let mut unexpected = Tally::default();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for k in self.dump_keys() {
            if seen.insert(k) && !want.contains(k) {
                unexpected.add(|| hex(k), max, || None);
            }
        }
        if unexpected.count > 0 {
            out.push(
                Finding::new(
                    Code::UnexpectedKey.as_str(),
                    Severity::Warning,
                    format!(
                        "{} of {} keys in the dump {} not expected: {}",
                        unexpected.count,
                        present.len(),
                        if unexpected.count == 1 { "is" } else { "are" },
                        unexpected.keys_text()
                    ),
                )
                .at(Location {
                    key: unexpected.first_key(),
                    ..loc.clone()
                })
                .fix("keys nobody expects: a byte-order mistake building keys, stale entries, or another writer"),
            );
        }
    }
}

fn size_fix(role: Role) -> String {
    format!(
        "check that the {} type is the map's (`mapsleuth btf maps --btf OBJ`) and, for a Go type, that it mirrors the C one (`mapsleuth analyze layout`)",
        role.name()
    )
}

fn issue_finding(issue: &DumpError, map: Option<String>) -> Finding {
    let sev = match issue.kind {
        ErrorKind::Truncated { .. } => Severity::Error,
        _ => Severity::Warning,
    };
    let msg = match issue.pos {
        Some(p) => format!("line {}: {}", p.line, issue.kind),
        None => issue.kind.to_string(),
    };
    let fix = match issue.kind {
        ErrorKind::Truncated { .. } | ErrorKind::MissingTrailer => {
            "the dump is incomplete: take it again and keep all of bpftool's output"
        }
        ErrorKind::NotDumpable(_) => "read this map another way (see the message)",
        _ => "the dump was damaged or edited; entries around this place may be missing",
    };
    Finding::new(Code::DumpIssue.as_str(), sev, msg)
        .at(Location {
            file: Some(issue.file.to_string()),
            offset: issue.pos.map(|p| p.offset),
            map,
            ..Location::default()
        })
        .fix(fix)
}

/// The byte checks of one key or value against its side's type.
fn check_bytes(
    side: &mut Side,
    bytes: &[u8],
    entry: usize,
    label: &dyn Fn() -> String,
    max: usize,
    all_zero: bool,
    marks: &mut Marks,
) {
    let len = bytes.len();
    if len as u64 != side.size {
        let code = match side.role {
            Role::Key => Code::KeySize,
            Role::Value => Code::ValueSize,
        };
        marks.add(code);
        side.sizes
            .entry(len)
            .or_default()
            .add_for(entry, label, max, || None);
        if (len as u64) < side.size {
            return;
        }
    }
    if !side.byte_checks {
        return;
    }
    // Padding.
    if !all_zero && masked_nonzero(bytes, &side.pad_any) {
        let code = match side.role {
            Role::Key => Code::KeyPadding,
            Role::Value => Code::ValuePadding,
        };
        for r in &mut side.pad {
            if masked_nonzero(bytes, &r.mask) {
                marks.add(code);
                let shown: Vec<String> = r
                    .mask
                    .iter()
                    .take(16)
                    .map(|&(i, m)| format!("{:02x}", bytes.get(i).copied().unwrap_or(0) & m))
                    .collect();
                r.tally.add_for(entry, label, max, || Some(shown.join(" ")));
            }
        }
    }
    // Strings.
    for s in &mut side.strings {
        let Some(b) = s
            .offset
            .checked_add(s.len)
            .and_then(|end| bytes.get(s.offset..end))
        else {
            continue;
        };
        let nul = b.iter().position(|&x| x == 0);
        let text = &b[..nul.unwrap_or(b.len())];
        let show = || Some(format!("\"{}\"", crate::decode::escape(b)));
        if nul.is_none() {
            marks.add(Code::NoNul);
            s.no_nul.add_for(entry, label, max, show);
        }
        if text.iter().any(|&c| !(0x20..0x7f).contains(&c)) {
            marks.add(Code::NonPrintable);
            s.nonprint.add_for(entry, label, max, || {
                Some(format!("\"{}\"", crate::decode::escape(text)))
            });
        }
        if let Some(n) = nul {
            if b[n..].iter().any(|&c| c != 0) {
                marks.add(Code::AfterNul);
                s.after_nul.add_for(entry, label, max, show);
            }
        }
    }
    // Enums.
    for e in &mut side.enums {
        let Some(value) = side.flat.read_int(e.leaf, bytes) else {
            continue;
        };
        if e.valid.binary_search(&value).is_err() {
            marks.add(Code::BadEnum);
            e.tally.add_for(entry, label, max, || None);
            if e.values.len() < 16 || e.values.contains_key(&value) {
                *e.values.entry(value).or_default() += 1;
            }
        }
    }
    // Zero and constant fields, over entries that are not all zero.
    if !all_zero {
        side.samples += 1;
        for f in &mut side.fields {
            if !f.zero && !f.constant {
                continue;
            }
            if f.zero && masked_nonzero(bytes, &f.mask) {
                f.zero = false;
            }
            if f.constant {
                match &f.first {
                    None => f.first = Some(bytes.to_vec()),
                    Some(first) => {
                        let same = f.mask.iter().all(|&(i, m)| {
                            bytes.get(i).map(|b| b & m) == first.get(i).map(|b| b & m)
                        });
                        if !same {
                            f.constant = false;
                            f.first = None;
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Comparison with bpftool's decoding

/// A leaf value, in a form comparable with bpftool's JSON.
#[derive(Clone, Debug)]
enum Cmp {
    Num { value: i128, bits: u16 },
    Float(f64),
    Enum { value: i128, name: Option<String> },
    Bytes(Vec<u8>),
}

impl std::fmt::Display for Cmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmp::Num { value, .. } => write!(f, "{value}"),
            Cmp::Float(x) => write!(f, "{x}"),
            Cmp::Enum { name: Some(n), .. } => f.write_str(n),
            Cmp::Enum { value, .. } => write!(f, "{value}"),
            Cmp::Bytes(b) => match b.iter().position(|&c| c == 0) {
                Some(n) if b[..n].iter().all(|c| (0x20..0x7f).contains(c)) => {
                    write!(f, "\"{}\"", String::from_utf8_lossy(&b[..n]))
                }
                _ => f.write_str(&hex(b)),
            },
        }
    }
}

fn parse_hex(s: &str) -> Option<u128> {
    u128::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn json_int(j: &serde_json::Value) -> Option<i128> {
    j.as_i64()
        .map(i128::from)
        .or_else(|| j.as_u64().map(i128::from))
}

fn low_bits(v: i128, bits: u16) -> u128 {
    let bits = u32::from(bits).min(128);
    if bits == 128 {
        v as u128
    } else {
        (v as u128) & ((1u128 << bits) - 1)
    }
}

impl Cmp {
    /// `None` when the two cannot be compared (an enum name against a plain integer).
    fn same_as(&self, j: &serde_json::Value, order: ByteOrder) -> Option<bool> {
        use serde_json::Value as J;
        match (self, j) {
            (Cmp::Num { value, .. }, J::Number(_)) => match json_int(j) {
                Some(n) => Some(n == *value),
                None => j.as_f64().map(|x| x == *value as f64),
            },
            (Cmp::Num { value, bits }, J::String(s)) => {
                parse_hex(s).map(|h| h == low_bits(*value, *bits))
            }
            (Cmp::Num { value, .. }, J::Bool(b)) => Some(*value == i128::from(*b)),
            (Cmp::Float(x), J::Number(_)) => {
                j.as_f64().map(|y| y == *x || (x.is_nan() && y.is_nan()))
            }
            (Cmp::Enum { value, name }, J::String(s)) => match parse_hex(s) {
                Some(h) => Some(h == *value as u128 || low_bits(*value, 64) == h),
                None => Some(name.as_deref() == Some(s.as_str())),
            },
            (Cmp::Enum { value, .. }, J::Number(_)) => json_int(j).map(|n| {
                n == *value
                    || (n < 0 && low_bits(n, 32) == *value as u128)
                    || low_bits(n, 64) == *value as u128
            }),
            (Cmp::Bytes(b), J::String(s)) => {
                let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(&b[..n] == s.as_bytes())
            }
            (Cmp::Bytes(b), J::Array(items)) => {
                if items.len() != b.len() {
                    return Some(false);
                }
                Some(
                    items
                        .iter()
                        .zip(b)
                        .all(|(x, y)| json_int(x).is_some_and(|n| n as u8 == *y)),
                )
            }
            // A byte array standing in for an integer (Go `[8]byte` for a `__u64`).
            (Cmp::Bytes(b), J::Number(_)) if b.len() <= 16 => {
                let mut v: u128 = 0;
                match order {
                    ByteOrder::Little => {
                        for &x in b.iter().rev() {
                            v = (v << 8) | u128::from(x);
                        }
                    }
                    ByteOrder::Big => {
                        for &x in b {
                            v = (v << 8) | u128::from(x);
                        }
                    }
                }
                json_int(j).map(|n| low_bits(n, b.len() as u16 * 8) == v)
            }
            _ => None,
        }
    }
}

impl From<Role2> for Role {
    fn from(r: Role2) -> Role {
        if r == 0 {
            Role::Key
        } else {
            Role::Value
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Our leaves with the paths `TypeTable::leaves` gives them.
fn flatten_ours(v: &Value, path: &str, out: &mut Vec<(String, Cmp)>) {
    match v {
        Value::Int { value, bits, .. } => out.push((
            path.to_string(),
            Cmp::Num {
                value: *value,
                bits: *bits,
            },
        )),
        Value::Bool(b) => out.push((
            path.to_string(),
            Cmp::Num {
                value: i128::from(*b),
                bits: 8,
            },
        )),
        Value::Float { value, .. } => out.push((path.to_string(), Cmp::Float(*value))),
        Value::Enum { value, name, .. } => out.push((
            path.to_string(),
            Cmp::Enum {
                value: *value,
                name: name.as_deref().map(str::to_string),
            },
        )),
        Value::Str { bytes, .. } | Value::Bytes { bytes, .. } => {
            out.push((path.to_string(), Cmp::Bytes(bytes.to_vec())))
        }
        Value::Pointer(p) => out.push((
            path.to_string(),
            Cmp::Num {
                value: i128::from(*p),
                bits: 64,
            },
        )),
        Value::Complex { .. } | Value::Opaque { .. } => {}
        Value::Struct(fields) | Value::Union(fields) => {
            for f in fields {
                let p = if f.inline {
                    path.to_string()
                } else {
                    join(path, &f.name)
                };
                flatten_ours(&f.value, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten_ours(x, &format!("{path}[{i}]"), out);
            }
        }
    }
}

/// bpftool's leaves (and arrays, which may be byte arrays) by normalised path.
fn flatten_theirs(
    j: &serde_json::Value,
    path: &str,
    norm: &str,
    depth: u32,
    out: &mut HashMap<String, (String, serde_json::Value)>,
) {
    if depth > 64 || out.len() > crate::decode::MAX_VALUES {
        return;
    }
    match j {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten_theirs(v, &join(path, k), &join(norm, &fold(k)), depth + 1, out);
            }
        }
        serde_json::Value::Array(items) => {
            out.insert(norm.to_string(), (path.to_string(), j.clone()));
            for (i, x) in items.iter().enumerate() {
                flatten_theirs(
                    x,
                    &format!("{path}[{i}]"),
                    &format!("{norm}[{i}]"),
                    depth + 1,
                    out,
                );
            }
        }
        _ => {
            out.insert(norm.to_string(), (path.to_string(), j.clone()));
        }
    }
}

/// Lowercase, without underscores: `ts_ns` and Go's `TsNs` meet as `tsns`.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A leaf path with every component folded; `None` for Go blank fields.
fn normalize(path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name == "_" {
            return None;
        }
        let f = fold(name);
        if f.is_empty() && idx.is_empty() {
            continue;
        }
        if !out.is_empty() && !f.is_empty() {
            out.push('.');
        }
        out.push_str(&f);
        out.push_str(idx);
    }
    Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_masks_in_memory_order() {
        assert_eq!(
            bit_mask(8, 16, ByteOrder::Little),
            vec![(1, 0xff), (2, 0xff)]
        );
        assert_eq!(
            bit_mask(4, 8, ByteOrder::Little),
            vec![(0, 0xf0), (1, 0x0f)]
        );
        assert_eq!(bit_mask(4, 8, ByteOrder::Big), vec![(0, 0x0f), (1, 0xf0)]);
        assert_eq!(bit_mask(6, 1, ByteOrder::Big), vec![(0, 0x02)]);
    }

    #[test]
    fn expected_key_forms() {
        let k = ExpectedKeys::parse(
            "# comment\n5\n0x6\n0a 00 00 05\n0x0a000009\n0a000008 # note\n-1\n5\n00000007\n",
            4,
            Some(ByteOrder::Little),
        )
        .unwrap();
        let keys: Vec<String> = k.keys.iter().map(|(b, _)| hex(b)).collect();
        assert_eq!(
            keys,
            ["05000000", "06000000", "0a000005", "0a000009", "0a000008", "ffffffff", "00000007"]
        );
        assert!(!k.assumed_order);
        let be = ExpectedKeys::parse("5", 4, Some(ByteOrder::Big)).unwrap();
        assert_eq!(be.keys[0].0, [0, 0, 0, 5]);
        let e = ExpectedKeys::parse("1\n\n0x1ffffffff\n", 4, None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(ExpectedKeys::parse("0a 00", 4, None).is_err());
        assert!(ExpectedKeys::parse("zz", 4, None).is_err());
        assert!(ExpectedKeys::parse("5", 20, None).is_err());
        assert!(ExpectedKeys::parse("5", 4, None).unwrap().assumed_order);
    }

    #[test]
    fn paths_normalise_across_languages() {
        assert_eq!(normalize("ts_ns"), normalize("TsNs"));
        assert_eq!(
            normalize("hdr.addrs[2].src_port").unwrap(),
            "hdr.addrs[2].srcport"
        );
        assert_eq!(normalize("_"), None);
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("Header.Pid").unwrap(), "header.pid");
    }
}
