//! The `analyze dump` report: per map dump, what was read, with which types, the
//! findings, and (for JSON output) every entry decoded.
//!
//! [`analyze`] runs the forensics over one [`Dump`]; [`DumpAnalysis::section`] makes the
//! JSON section of it. Decoded entries are produced while serializing ([`Entries`]), one
//! at a time, so a million-entry dump never becomes a million trees in memory.

use mapsleuth_dump::{Dump, DumpEntry, DumpFormat, EntryKind, MapMeta};
use mapsleuth_layout::{ByteOrder, Finding, Severity};
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use crate::decode::{hex, DecodeError, Decoder, Value};
use crate::forensics::{Forensics, Marks, Options, Stats, TypeRef};

/// The types to decode and check a dump with.
#[derive(Clone, Copy, Default)]
pub struct Types<'t> {
    pub key: Option<TypeRef<'t>>,
    pub value: Option<TypeRef<'t>>,
    /// Where they come from, for the report: `--btf maps.bpf.o --map flows`.
    pub source: Option<&'t str>,
}

/// A type used to decode keys or values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TypeUse {
    /// As the source spells it: `struct flow_key`, `main.Event`, `__u32`.
    pub name: String,
    /// Bytes.
    pub size: u64,
    pub byte_order: ByteOrder,
}

/// The result of [`analyze`]: findings, per-entry marks and the decoders, kept to
/// decode entries for output.
pub struct DumpAnalysis {
    pub key: Option<Decoder>,
    pub value: Option<Decoder>,
    pub key_type: Option<TypeUse>,
    pub value_type: Option<TypeUse>,
    pub types_from: Option<String>,
    pub findings: Vec<Finding>,
    pub marks: Vec<Marks>,
    pub stats: Stats,
    /// What the reader should know about how the dump was read.
    pub notes: Vec<String>,
    /// Checks that could not run, and what they need.
    pub skipped: Vec<String>,
}

fn type_use(t: TypeRef<'_>) -> Result<TypeUse, DecodeError> {
    Ok(TypeUse {
        name: t.table.type_name(t.id),
        size: t.table.size_of(t.id)?,
        byte_order: t.table.target.byte_order,
    })
}

/// Checks one dump. `progress` is called now and then with the entries done so far.
pub fn analyze(
    dump: &Dump,
    types: &Types<'_>,
    opts: Options,
    progress: &mut dyn FnMut(u64),
) -> Result<DumpAnalysis, DecodeError> {
    let mut notes = Vec::new();
    let mut skipped = Vec::new();
    let has_types = types.key.is_some() || types.value.is_some();
    let formatted_only = dump.entries().any(|e| e.kind() == EntryKind::FormattedOnly);
    if formatted_only {
        skipped.push(
            "this dump holds only bpftool's decoded values (plain `bpftool map dump` of a map \
             with BTF), no raw bytes: padding, size, string, enum, zero-field and duplicate-key \
             checks need them; dump with `bpftool -j map dump` instead"
                .to_string(),
        );
    } else if !has_types && dump.is_ring() {
        skipped.push(
            "padding (D002), record sizes (D019), zero and constant fields (D006, D007), \
             strings (D008-D010) and enums (D011) need the records' type: a ring buffer has \
             no value type, give --btf OBJ.o or --go-bin APP with --record-type TYPE"
                .to_string(),
        );
    } else if !has_types && dump.has_raw_bytes() {
        skipped.push(
            "padding (D001, D002), type sizes (D003, D004), zero and constant fields (D006, \
             D007), strings (D008-D010), enums (D011) and the comparison with bpftool's \
             decoding (D018) need the key and value types: give --btf OBJ.o [--map NAME], or \
             --btf FILE / --go-bin APP with --key-type and --value-type"
                .to_string(),
        );
        if dump.has_formatted() {
            notes.push("no types given: entries are shown as bpftool decoded them".to_string());
        }
    }
    let not_dumpable = dump
        .issues
        .iter()
        .any(|i| matches!(i.kind, mapsleuth_dump::ErrorKind::NotDumpable(_)));
    // A ring read from a capture was read: bpftool's limits do not apply to it.
    let note = dump.meta.bpftool_dump_note().filter(|_| !dump.is_ring());
    if let (Some(note), false) = (note, not_dumpable) {
        notes.push(format!(
            "{}: {note}",
            dump.meta.map_type.as_deref().unwrap_or("")
        ));
    }
    if let Some(e) = &opts.expected_keys {
        if e.assumed_order {
            notes.push(
                "--expect-keys: numbers were read as little-endian (no key type given)".to_string(),
            );
        }
    }
    let key_decoder = types.key.map(|t| Decoder::new(t.table, t.id)).transpose()?;
    let value_decoder = types
        .value
        .map(|t| Decoder::new(t.table, t.id))
        .transpose()?;
    let f = Forensics::new(dump, types.key, types.value, opts)?;
    let (findings, marks, stats) = f.run_with(progress);
    Ok(DumpAnalysis {
        key: key_decoder,
        value: value_decoder,
        key_type: types.key.map(type_use).transpose()?,
        value_type: types.value.map(type_use).transpose()?,
        types_from: types.source.map(str::to_string),
        findings,
        marks,
        stats,
        notes,
        skipped,
    })
}

/// bpftool's decoded form of an entry, as bpftool ordered it.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Formatted(pub Box<serde_json::value::RawValue>);

impl PartialEq for Formatted {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Formatted {
    /// The JSON text of bpftool's key and of its value (or per-CPU values).
    pub fn parts(&self) -> (Option<&str>, Option<&str>) {
        #[derive(serde::Deserialize)]
        struct Parts<'a> {
            #[serde(borrow)]
            key: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow)]
            value: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow)]
            values: Option<&'a serde_json::value::RawValue>,
        }
        match serde_json::from_str::<Parts<'_>>(self.0.get()) {
            Ok(p) => (
                p.key.map(|k| k.get()),
                p.value.or(p.values).map(|v| v.get()),
            ),
            Err(_) => (None, Some(self.0.get())),
        }
    }
}

impl schemars::JsonSchema for Formatted {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BpftoolFormatted".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "bpftool's own decoding of the entry, as `bpftool -j map dump` prints it in `formatted`: {\"key\": .., \"value\": ..} or {\"key\": .., \"values\": [{\"cpu\": N, \"value\": ..}]}",
            "type": "object"
        })
    }
}

/// One CPU's value of a per-CPU entry.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CpuValue {
    pub cpu: usize,
    pub value: Value,
}

/// One entry, decoded.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DecodedEntry {
    /// Index in the dump, in input order.
    pub index: usize,
    /// Line of the input where the entry starts.
    pub line: u64,
    /// The raw key as lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hex: Option<String>,
    /// The key decoded with the key type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The value decoded with the value type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Per-CPU maps: each CPU's value, decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<CpuValue>>,
    /// Per-CPU maps: the integer fields summed over the CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<Value>,
    /// The raw value as hex, when no value type decodes it (one per CPU for per-CPU
    /// maps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_hex: Vec<String>,
    /// bpftool's own decoding (`{"key":..,"value":..}`), when no type of ours decodes
    /// the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<Formatted>,
    /// Maps of maps: the inner map the value points to (its map id; with `capture
    /// --recursive` the capture holds it as one more map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_map_id: Option<u32>,
    /// Why the entry has no value: bpftool's lookup error, or why decoding failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The finding codes this entry contributes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<&'static str>,
}

impl DumpAnalysis {
    /// Decodes one entry of the analysed dump for output.
    pub fn decode_entry(&self, entry: &DumpEntry<'_>) -> DecodedEntry {
        let mut errors = Vec::new();
        let key_bytes = entry.key();
        let key = match (&self.key, key_bytes) {
            (Some(d), Some(k)) => match d.decode(k) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(format!("key: {e}"));
                    None
                }
            },
            _ => None,
        };
        let (mut value, mut values, mut sum, mut value_hex) = (None, None, None, Vec::new());
        match entry.kind() {
            EntryKind::LookupError => {
                errors.push(entry.lookup_error().unwrap_or("lookup error").to_string());
            }
            EntryKind::FormattedOnly => {}
            EntryKind::Value | EntryKind::PerCpu => match &self.value {
                Some(d) if entry.kind() == EntryKind::PerCpu => {
                    let mut cpus = Vec::with_capacity(entry.value_count());
                    for (cpu, v) in entry.values().enumerate() {
                        match d.decode(v) {
                            Ok(value) => cpus.push(CpuValue { cpu, value }),
                            Err(e) => {
                                errors.push(format!("value (CPU {cpu}): {e}"));
                                break;
                            }
                        }
                    }
                    if cpus.len() == entry.value_count() {
                        let plain: Vec<Value> = cpus.iter().map(|c| c.value.clone()).collect();
                        sum = crate::decode::sum(&plain);
                        values = Some(cpus);
                    }
                }
                Some(d) => match entry.value().map(|v| d.decode(v)) {
                    Some(Ok(v)) => value = Some(v),
                    Some(Err(e)) if key_bytes.is_none() => errors.push(format!("record: {e}")),
                    Some(Err(e)) => errors.push(format!("value: {e}")),
                    None => {}
                },
                None => value_hex = entry.values().map(hex).collect(),
            },
        }
        let decoded_by_us = key.is_some() || value.is_some() || values.is_some();
        let formatted = if decoded_by_us {
            None
        } else {
            entry
                .formatted_json()
                .and_then(|j| serde_json::value::RawValue::from_string(j).ok())
                .map(Formatted)
        };
        DecodedEntry {
            index: entry.index(),
            line: entry.position().line,
            key_hex: key_bytes.map(hex),
            key,
            value,
            values,
            sum,
            value_hex,
            formatted,
            inner_map_id: entry.inner_map_id(),
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            codes: self
                .marks
                .get(entry.index())
                .map(|m| m.codes())
                .unwrap_or_default(),
        }
    }

    /// The JSON section of this analysis; with `with_entries`, every entry decoded.
    pub fn section<'a>(&'a self, dump: &'a Dump, with_entries: bool) -> DumpSection<'a> {
        DumpSection {
            file: dump.source.name.to_string(),
            format: dump.source.format,
            map_index: dump.source.map_index,
            map: dump.meta.clone(),
            entry_count: dump.len(),
            lookup_errors: dump.lookup_error_count(),
            cpus: dump.cpu_count(),
            key_size: dump.key_size(),
            value_size: dump.value_size(),
            key_type: self.key_type.clone(),
            value_type: self.value_type.clone(),
            types_from: self.types_from.clone(),
            stats: self.stats.clone(),
            notes: self.notes.clone(),
            checks_skipped: self.skipped.clone(),
            findings: self.findings.clone(),
            entries: with_entries.then_some(Entries {
                dump,
                analysis: self,
            }),
        }
    }
}

/// Every entry of a dump, decoded while being serialized.
pub struct Entries<'a> {
    dump: &'a Dump,
    analysis: &'a DumpAnalysis,
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.dump.len()))?;
        for e in self.dump.entries() {
            seq.serialize_element(&self.analysis.decode_entry(&e))?;
        }
        seq.end()
    }
}

impl schemars::JsonSchema for Entries<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DecodedEntries".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<DecodedEntry>>::json_schema(generator)
    }
}

/// One map dump in the report.
#[derive(Serialize, schemars::JsonSchema)]
pub struct DumpSection<'a> {
    /// The input file.
    pub file: String,
    pub format: DumpFormat,
    /// Which map of the file (bpftool dumps several when a name matches several).
    pub map_index: usize,
    /// What is known about the map (from the dump, a capture, or `bpftool map show`).
    pub map: MapMeta,
    /// Entries read, lookup errors included.
    pub entry_count: usize,
    pub lookup_errors: usize,
    /// Values per entry of a per-CPU map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<TypeUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_type: Option<TypeUse>,
    /// Where the types come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types_from: Option<String>,
    pub stats: Stats,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Checks that could not run, and what they need.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks_skipped: Vec<String>,
    pub findings: Vec<Finding>,
    /// Every entry, decoded (`--format json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Entries<'a>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DumpSummary {
    pub dumps: usize,
    pub entries: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// One JSON document: `schemas/analyze-dump.schema.json`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct DumpReport<'a> {
    pub tool_version: String,
    pub dumps: Vec<DumpSection<'a>>,
    pub summary: DumpSummary,
}

impl<'a> DumpReport<'a> {
    pub fn new(dumps: Vec<DumpSection<'a>>) -> Self {
        let mut summary = DumpSummary {
            dumps: dumps.len(),
            ..DumpSummary::default()
        };
        for d in &dumps {
            summary.entries += d.entry_count;
            for f in &d.findings {
                match f.severity {
                    Severity::Error => summary.errors += 1,
                    Severity::Warning => summary.warnings += 1,
                    Severity::Info => summary.infos += 1,
                }
            }
        }
        DumpReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            dumps,
            summary,
        }
    }
}

/// One line of `--format ndjson`: an entry with the file and map it belongs to.
#[derive(Serialize, schemars::JsonSchema)]
pub struct EntryLine<'a> {
    pub file: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<&'a str>,
    #[serde(flatten)]
    pub entry: DecodedEntry,
}
