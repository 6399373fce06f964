//! The JSON header and the fixed prelude: what a capture file says about itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// First 8 bytes of every capture file. The high-bit first byte catches 7-bit transfers,
/// the trailing `\n` catches newline conversion (the PNG trick).
pub const MAGIC: [u8; 8] = *b"\x89MSLCAP\n";
/// The format version of files without ring buffers (what version 1 readers read).
pub const FORMAT_VERSION: u32 = 1;
/// The format version of files holding a ring buffer's records (`MapHeader::ring`):
/// version 1 readers would cut its variable-length record block wrongly.
pub const FORMAT_VERSION_RING: u32 = 2;
/// Length of the SHA-256 digest that ends the file.
pub const DIGEST_LEN: usize = 32;
/// Byte offset of the JSON header.
pub const HEADER_OFFSET: usize = 16;

/// The JSON header: everything needed to interpret the binary sections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaptureHeader {
    /// Snapshot id: RFC 3339 UTC time at which the capture started,
    /// e.g. `2026-04-20T12:34:56.123456Z`.
    pub snapshot_id: String,
    /// RFC 3339 UTC time at which the last map was read.
    pub finished_at: String,
    /// The host the maps were read on.
    pub source: CaptureHost,
    /// Distinct BTF blobs (deduplicated by SHA-256), stored after the header in this order.
    pub btf: Vec<BtfBlob>,
    /// Captured maps; their entry blocks follow the BTF blobs in this order.
    pub maps: Vec<MapHeader>,
    /// Maps that were selected but not captured, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedMap>,
}

/// Where and with what the capture was taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaptureHost {
    /// Host name (uname nodename).
    pub hostname: String,
    /// Kernel release (uname release), e.g. `6.18.4`.
    pub kernel_release: String,
    /// Kernel build string (uname version).
    #[serde(default)]
    pub kernel_version: String,
    /// Machine architecture (uname machine), e.g. `x86_64`.
    #[serde(default)]
    pub machine: String,
    /// Byte order of the captured host: map keys and values are in this order.
    pub byte_order: ByteOrder,
    /// Number of possible CPUs: how many values each per-CPU entry holds.
    pub possible_cpus: u32,
    /// Tool that wrote the file, e.g. `mapsleuth-capture 0.1.0`.
    pub tool: String,
}

/// Byte order of the captured host: the model's own.
pub use mapsleuth_layout::ByteOrder;

impl CaptureHeader {
    /// Index of the kernel's own BTF (`vmlinux`), the base that a module's or a
    /// program's split BTF refers to.
    pub fn vmlinux_btf_index(&self) -> Option<usize> {
        self.btf
            .iter()
            .position(|b| b.kernel && b.name.as_deref() == Some("vmlinux"))
    }
}

/// One stored BTF blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BtfBlob {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the blob, lowercase hex.
    pub sha256: String,
    /// Kernel BTF object id at capture time, when it came from the kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btf_id: Option<u32>,
    /// Kernel name of the BTF object (`vmlinux`, a module name), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// True for kernel (vmlinux or module) BTF, false for BTF loaded by a program.
    #[serde(default)]
    pub kernel: bool,
}

/// What the value bytes of a map mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Raw value bytes as the program stored them.
    Data,
    /// Map-in-map: a `u32` id of the inner map (what the kernel returns to user space).
    MapId,
    /// Program array: a `u32` id of the program.
    ProgId,
    /// Sockmap/sockhash: the socket cookie.
    SocketCookie,
}

/// How the entries were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadMethod {
    /// `BPF_MAP_LOOKUP_BATCH`.
    Batch,
    /// `BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM`.
    NextKey,
    /// A read-only `mmap` of a ring buffer (no record consumed).
    Mmap,
}

/// One captured map: its kernel info and the shape of its entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MapHeader {
    /// Kernel map id at capture time.
    pub id: u32,
    /// `enum bpf_map_type` value.
    pub map_type: u32,
    /// Map type as bpftool names it (`hash`, `percpu_array`, `lpm_trie`, ...).
    pub type_name: String,
    /// Map name (up to 15 bytes, as the kernel stores it).
    pub name: String,
    pub key_size: u32,
    /// Size of one value (of one CPU's value for per-CPU maps).
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    #[serde(default)]
    pub map_extra: u64,
    #[serde(default)]
    pub ifindex: u32,
    /// Kernel BTF object id of the map's BTF (0: none).
    #[serde(default)]
    pub btf_id: u32,
    #[serde(default)]
    pub btf_key_type_id: u32,
    #[serde(default)]
    pub btf_value_type_id: u32,
    #[serde(default)]
    pub btf_vmlinux_value_type_id: u32,
    /// Index into `btf` of the map's BTF blob, when it was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btf_index: Option<u32>,
    /// Path the map was opened through, when it was opened by its pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_path: Option<String>,
    /// True for per-CPU maps.
    pub per_cpu: bool,
    /// Values per entry: the number of possible CPUs for per-CPU maps, else 1.
    pub values_per_entry: u32,
    pub value_kind: ValueKind,
    /// key_size + value_size × values_per_entry.
    pub record_size: u64,
    pub entry_count: u64,
    pub read: ReadStats,
    /// Ring buffers only (format version 2): the ring's state; the map's block then
    /// holds `entry_count` variable-length records (see [`RingState`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<RingState>,
    /// Inner maps captured by `capture --recursive`: the id of the array/hash of maps
    /// whose value led to this map (the outer key → inner map link is the outer map's
    /// value, which is this map's `id`). Absent for maps selected directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_map_id: Option<u32>,
}

/// A ring buffer's state when it was read. Its block holds the unread records in ring
/// order, each as `position u64 LE ‖ length u32 LE ‖ length bytes`
/// ([`RING_RECORD_PREFIX`] bytes of prefix).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RingState {
    /// Size of the data area in bytes (the map's max_entries, a power of 2).
    pub data_size: u64,
    /// Consumer position when the read started: the first unread byte.
    pub consumer_pos: u64,
    /// Producer position when the read started: the end of the committed area.
    pub producer_pos: u64,
    /// Consumer position after the read: a live consumer moved it if it differs.
    pub consumer_pos_after: u64,
    /// Size of the map's record block in bytes.
    pub block_size: u64,
    /// Records between the positions with the discard bit set (not stored).
    pub discarded: u64,
    /// Position of a record still being written (busy bit) where the read stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_at: Option<u64>,
    /// Records a producer may have overwritten while they were copied (a live consumer
    /// freed their space and the producer wrapped onto it); they are not stored.
    #[serde(default)]
    pub overwritten: u64,
    /// Why the read stopped before the producer position: inconsistent positions or a
    /// record header that points out of the ring, with the positions involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Bytes before each ring record's data in a ring block: position u64, length u32.
pub const RING_RECORD_PREFIX: usize = 12;

impl MapHeader {
    /// The record size the other fields imply: key_size + value_size × values_per_entry.
    pub fn expected_record_size(&self) -> u64 {
        u64::from(self.key_size) + u64::from(self.value_size) * u64::from(self.values_per_entry)
    }
}

/// How the map's entries were read, and what changed under the reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadStats {
    pub method: ReadMethod,
    /// RFC 3339 UTC start and end of this map's read.
    pub started_at: String,
    pub finished_at: String,
    /// Keys returned by GET_NEXT_KEY that were deleted before they could be looked up.
    #[serde(default)]
    pub vanished_keys: u64,
    /// Times a GET_NEXT_KEY walk came back to keys it had already read (a restart from
    /// the first key after the current one vanished, or an updated key moved ahead).
    #[serde(default)]
    pub revisits: u64,
    /// False when the read stopped early (a writer faster than the GET_NEXT_KEY walk).
    pub complete: bool,
}

impl ReadStats {
    /// A read in one pass of batch lookups that nothing disturbed, between two RFC 3339
    /// instants: what a capture made from a dump, not from a live map, records.
    pub fn complete_batch(started_at: &str, finished_at: &str) -> ReadStats {
        ReadStats {
            method: ReadMethod::Batch,
            started_at: started_at.into(),
            finished_at: finished_at.into(),
            vanished_keys: 0,
            revisits: 0,
            complete: true,
        }
    }
}

/// A selected map that is not in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedMap {
    pub id: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub type_name: String,
    /// Why it was not captured.
    pub reason: String,
}

/// The JSON Schema of [`CaptureHeader`], as committed in
/// `schemas/capture-header.schema.json`.
pub fn header_schema_json() -> String {
    let schema = schemars::schema_for!(CaptureHeader);
    let value = serde_json::to_value(&schema).unwrap_or_default();
    let mut s = serde_json::to_string_pretty(&sorted_keys(value)).unwrap_or_default();
    s.push('\n');
    s
}

/// `v` with every object's keys in sorted order. serde_json keeps objects sorted unless
/// its `preserve_order` feature is on, which a dependency (polars) turns on in builds of
/// the whole workspace: committed JSON (schemas) is written sorted either way.
pub fn sorted_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted_keys).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;

    #[test]
    fn header_schema_is_committed() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/capture-header.schema.json");
        let fresh = header_schema_json();
        if std::env::var_os("MAPSLEUTH_BLESS").is_some() {
            fs::write(&path, &fresh).unwrap();
        }
        let committed = fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is out of date: rerun with MAPSLEUTH_BLESS=1 and commit it",
            path.display()
        );
    }
}
