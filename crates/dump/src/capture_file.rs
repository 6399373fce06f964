//! The mapsleuth capture file format: reader and writer (no syscalls, no `unsafe`).
//!
//! Specified in `docs/capture-format.md`. In short:
//!
//! ```text
//! offset 0   magic            8 bytes  89 4D 53 4C 43 41 50 0A  ("\x89MSLCAP\n")
//! offset 8   format version   u32 LE   (1)
//! offset 12  header length H  u32 LE
//! offset 16  header           H bytes  UTF-8 JSON, schema: schemas/capture-header.schema.json
//!            BTF blobs        header.btf[i].size bytes each, in header order
//!            entry blocks     header.maps[i].entry_count × record_size bytes each, in order;
//!                             a record is key bytes then value bytes (per-CPU values
//!                             concatenated in possible-CPU order, value_size bytes each)
//! end - 32   digest           SHA-256 of every byte before it
//! ```
//!
//! The reader works over `&[u8]`, checks every bound, enforces [`Limits`] and never
//! panics; errors name the byte offset. This module is self-contained (serde, schemars,
//! sha2, thiserror) so it can live in whichever crate reads captures.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First 8 bytes of every capture file. The high-bit first byte catches 7-bit transfers,
/// the trailing `\n` catches newline conversion (the PNG trick).
pub const MAGIC: [u8; 8] = *b"\x89MSLCAP\n";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
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
    pub source: Source,
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
pub struct Source {
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

/// Byte order of the captured host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// The byte order of the machine running this code.
    pub fn native() -> Self {
        if cfg!(target_endian = "big") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        }
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

/// Bounds the reader enforces on untrusted files.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_header_len: u32,
    pub max_maps: usize,
    pub max_btf_blobs: usize,
    pub max_btf_size: u64,
    pub max_entries_per_map: u64,
    pub max_record_size: u64,
    pub max_values_per_entry: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_len: 64 << 20,
            max_maps: 1 << 16,
            max_btf_blobs: 1 << 12,
            max_btf_size: 256 << 20,
            max_entries_per_map: 1 << 32,
            max_record_size: 64 << 20,
            max_values_per_entry: 1 << 16,
        }
    }
}

/// What is wrong with a capture file's bytes. Every variant names a byte offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a mapsleuth capture file (bad magic at byte 0)")]
    BadMagic,
    #[error("unsupported capture format version {found} at byte 8 (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: u32 },
    #[error("truncated at byte {len}: {what} needs {needed} bytes")]
    Truncated { len: u64, needed: u64, what: String },
    #[error("invalid JSON header at byte {offset}: {message}")]
    HeaderJson { offset: u64, message: String },
    #[error("inconsistent header at byte {offset}: {message}")]
    Header { offset: u64, message: String },
    #[error(
        "limit exceeded in header at byte {offset}: {what} is {value}, at most {limit} allowed"
    )]
    Limit {
        offset: u64,
        what: String,
        value: u64,
        limit: u64,
    },
    #[error("{extra} unexpected bytes after the end of the data at byte {offset}")]
    TrailingBytes { offset: u64, extra: u64 },
    #[error("SHA-256 mismatch (digest at byte {offset}): the file was altered or damaged")]
    DigestMismatch { offset: u64 },
}

/// Errors reading or writing a capture file on disk.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("capture file {} is corrupt: {source}", path.display())]
    Corrupt { path: PathBuf, source: FormatError },
    #[error("cannot read capture file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write capture file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot build capture: {0}")]
    Build(String),
}

// ---------------------------------------------------------------------------------------
// Reader

/// A parsed, digest-verified capture over bytes it borrows or owns.
#[derive(Clone, Debug)]
pub struct Capture<B: AsRef<[u8]>> {
    bytes: B,
    header: CaptureHeader,
    btf_spans: Vec<(usize, usize)>,
    map_spans: Vec<(usize, usize)>,
}

impl Capture<Vec<u8>> {
    /// Reads and verifies a capture file.
    pub fn read_file(path: &Path) -> Result<Self, FileError> {
        let bytes = fs::read(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Capture::parse(bytes).map_err(|source| FileError::Corrupt {
            path: path.to_owned(),
            source,
        })
    }
}

impl<B: AsRef<[u8]>> Capture<B> {
    /// Parses and verifies with the default [`Limits`].
    pub fn parse(bytes: B) -> Result<Self, FormatError> {
        Self::parse_with_limits(bytes, &Limits::default())
    }

    /// Parses and verifies: structure, limits, consistency, then the SHA-256 digest.
    pub fn parse_with_limits(bytes: B, limits: &Limits) -> Result<Self, FormatError> {
        let data = bytes.as_ref();
        let layout = parse_layout(data, limits);
        // The digest decides whether the bytes are intact; the structural parse only
        // explains *how* a damaged file is damaged (truncated beats a generic mismatch).
        let digest_ok = data.len() >= HEADER_OFFSET + DIGEST_LEN && {
            let body = data.len() - DIGEST_LEN;
            Sha256::digest(&data[..body]).as_slice() == &data[body..]
        };
        let layout = match layout {
            Ok(layout) => layout,
            Err(e @ (FormatError::BadMagic | FormatError::UnsupportedVersion { .. })) => {
                return Err(e)
            }
            Err(e @ FormatError::Truncated { .. }) => return Err(e),
            Err(e) if digest_ok => return Err(e),
            Err(FormatError::TrailingBytes { offset, .. }) => {
                // Bytes after the end: the digest is where the structure says it is.
                return Err(FormatError::DigestMismatch { offset });
            }
            Err(_) => {
                return Err(FormatError::DigestMismatch {
                    offset: data.len().saturating_sub(DIGEST_LEN) as u64,
                })
            }
        };
        if !digest_ok {
            return Err(FormatError::DigestMismatch {
                offset: (data.len() - DIGEST_LEN) as u64,
            });
        }
        Ok(Capture {
            bytes,
            header: layout.header,
            btf_spans: layout.btf_spans,
            map_spans: layout.map_spans,
        })
    }

    pub fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The SHA-256 digest stored at the end (verified by `parse`).
    pub fn digest(&self) -> &[u8] {
        let b = self.bytes.as_ref();
        &b[b.len() - DIGEST_LEN..]
    }

    /// BTF blob `index` (see `CaptureHeader::btf`).
    pub fn btf_blob(&self, index: usize) -> Option<&[u8]> {
        let (start, end) = *self.btf_spans.get(index)?;
        self.bytes.as_ref().get(start..end)
    }

    /// The BTF blob of a map, if one was captured.
    pub fn map_btf(&self, map: &MapHeader) -> Option<&[u8]> {
        self.btf_blob(map.btf_index? as usize)
    }

    pub fn map_count(&self) -> usize {
        self.header.maps.len()
    }

    /// Map `index` with its entries.
    pub fn map(&self, index: usize) -> Option<MapView<'_>> {
        let header = self.header.maps.get(index)?;
        let (start, end) = *self.map_spans.get(index)?;
        Some(MapView {
            header,
            records: self.bytes.as_ref().get(start..end)?,
            offset: start,
        })
    }

    pub fn maps(&self) -> impl ExactSizeIterator<Item = MapView<'_>> + '_ {
        let bytes = self.bytes.as_ref();
        self.header
            .maps
            .iter()
            .zip(&self.map_spans)
            .map(move |(header, &(start, end))| MapView {
                header,
                records: bytes.get(start..end).unwrap_or(&[]),
                offset: start,
            })
    }
}

/// One map of a capture: header plus its entry records.
#[derive(Clone, Copy, Debug)]
pub struct MapView<'a> {
    pub header: &'a MapHeader,
    records: &'a [u8],
    offset: usize,
}

impl<'a> MapView<'a> {
    /// Byte offset of this map's entry block in the file.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The raw entry block.
    pub fn records(&self) -> &'a [u8] {
        self.records
    }

    pub fn len(&self) -> usize {
        self.header.entry_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.header.entry_count == 0
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Option<Entry<'a>> {
        let h = self.header;
        if i >= self.len() {
            return None;
        }
        let rs = h.record_size as usize;
        let ks = h.key_size as usize;
        let rec = self.records.get(i * rs..(i + 1) * rs)?;
        Some(Entry {
            key: &rec[..ks],
            value: &rec[ks..],
            value_size: h.value_size as usize,
            values: h.values_per_entry as usize,
        })
    }

    pub fn entries(&self) -> impl ExactSizeIterator<Item = Entry<'a>> + 'a {
        let view = *self;
        (0..view.len()).map(move |i| {
            view.entry(i).unwrap_or(Entry {
                key: &[],
                value: &[],
                value_size: 0,
                values: 0,
            })
        })
    }
}

/// One entry: key bytes and value bytes (per-CPU values concatenated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key: &'a [u8],
    /// All value bytes: `value_size × values_per_entry`.
    pub value: &'a [u8],
    value_size: usize,
    values: usize,
}

impl<'a> Entry<'a> {
    /// The value of each CPU (one item for non-per-CPU maps).
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let (value, size) = (self.value, self.value_size);
        (0..self.values).map(move |i| value.get(i * size..(i + 1) * size).unwrap_or(&[]))
    }
}

struct Layout {
    header: CaptureHeader,
    btf_spans: Vec<(usize, usize)>,
    map_spans: Vec<(usize, usize)>,
}

fn truncated(len: usize, needed: u64, what: impl Into<String>) -> FormatError {
    FormatError::Truncated {
        len: len as u64,
        needed,
        what: what.into(),
    }
}

fn read_u32(data: &[u8], at: usize, what: &str) -> Result<u32, FormatError> {
    let b = data
        .get(at..at + 4)
        .ok_or_else(|| truncated(data.len(), (at + 4) as u64, what))?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn limit(offset: usize, what: String, value: u64, limit: u64) -> Result<(), FormatError> {
    if value > limit {
        return Err(FormatError::Limit {
            offset: offset as u64,
            what,
            value,
            limit,
        });
    }
    Ok(())
}

fn header_err(message: String) -> FormatError {
    FormatError::Header {
        offset: HEADER_OFFSET as u64,
        message,
    }
}

/// Byte offset of serde_json's (line, column) inside `json`.
fn json_offset(json: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line {
        match json[offset..].iter().position(|&b| b == b'\n') {
            Some(p) => offset += p + 1,
            None => return json.len(),
        }
    }
    (offset + column.saturating_sub(1)).min(json.len())
}

fn parse_layout(data: &[u8], limits: &Limits) -> Result<Layout, FormatError> {
    let magic = data
        .get(..MAGIC.len())
        .ok_or_else(|| truncated(data.len(), MAGIC.len() as u64, "the magic"))?;
    if magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = read_u32(data, 8, "the format version")?;
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion { found: version });
    }
    let header_len = read_u32(data, 12, "the header length")?;
    limit(
        12,
        "header length".into(),
        header_len.into(),
        limits.max_header_len.into(),
    )?;
    let header_end = HEADER_OFFSET + header_len as usize;
    let json = data
        .get(HEADER_OFFSET..header_end)
        .ok_or_else(|| truncated(data.len(), header_end as u64, "the JSON header"))?;
    let header: CaptureHeader = serde_json::from_slice(json).map_err(|e| {
        let offset = HEADER_OFFSET + json_offset(json, e.line(), e.column());
        FormatError::HeaderJson {
            offset: offset as u64,
            message: e.to_string(),
        }
    })?;

    limit(
        HEADER_OFFSET,
        "number of BTF blobs".into(),
        header.btf.len() as u64,
        limits.max_btf_blobs as u64,
    )?;
    limit(
        HEADER_OFFSET,
        "number of maps".into(),
        header.maps.len() as u64,
        limits.max_maps as u64,
    )?;

    let mut pos = header_end as u64;
    let mut btf_spans = Vec::with_capacity(header.btf.len());
    for (i, blob) in header.btf.iter().enumerate() {
        limit(
            HEADER_OFFSET,
            format!("btf[{i}].size"),
            blob.size,
            limits.max_btf_size,
        )?;
        let end = pos + blob.size;
        btf_spans.push((pos, end));
        pos = end;
    }
    let mut map_spans = Vec::with_capacity(header.maps.len());
    for (i, map) in header.maps.iter().enumerate() {
        limit(
            HEADER_OFFSET,
            format!("maps[{i}].values_per_entry"),
            map.values_per_entry.into(),
            limits.max_values_per_entry.into(),
        )?;
        limit(
            HEADER_OFFSET,
            format!("maps[{i}].entry_count"),
            map.entry_count,
            limits.max_entries_per_map,
        )?;
        let expected =
            u64::from(map.key_size) + u64::from(map.value_size) * u64::from(map.values_per_entry);
        if map.record_size != expected {
            return Err(header_err(format!(
                "maps[{i}] (map id {}): record_size {} but key_size {} + value_size {} × {} values = {expected}",
                map.id, map.record_size, map.key_size, map.value_size, map.values_per_entry
            )));
        }
        if map.values_per_entry == 0 {
            return Err(header_err(format!("maps[{i}]: values_per_entry is 0")));
        }
        // No iterable map type has empty records; refusing them bounds the work a
        // reader does per byte of file.
        if map.record_size == 0 && map.entry_count > 0 {
            return Err(header_err(format!(
                "maps[{i}]: {} entries of 0 bytes",
                map.entry_count
            )));
        }
        if !map.per_cpu && map.values_per_entry != 1 {
            return Err(header_err(format!(
                "maps[{i}]: values_per_entry {} on a map that is not per-CPU",
                map.values_per_entry
            )));
        }
        limit(
            HEADER_OFFSET,
            format!("maps[{i}].record_size"),
            map.record_size,
            limits.max_record_size,
        )?;
        if let Some(b) = map.btf_index {
            if b as usize >= header.btf.len() {
                return Err(header_err(format!(
                    "maps[{i}].btf_index {b} but the file has {} BTF blobs",
                    header.btf.len()
                )));
            }
        }
        let size = map
            .record_size
            .checked_mul(map.entry_count)
            .ok_or_else(|| {
                header_err(format!(
                    "maps[{i}]: {} entries of {} bytes overflow",
                    map.entry_count, map.record_size
                ))
            })?;
        let end = pos
            .checked_add(size)
            .ok_or_else(|| header_err(format!("maps[{i}]: entry block overflows")))?;
        map_spans.push((pos, end));
        pos = end;
    }
    let total = pos
        .checked_add(DIGEST_LEN as u64)
        .ok_or_else(|| header_err("file size overflows".into()))?;
    let len = data.len() as u64;
    if len < total {
        // Name the first section that does not fit.
        let what = if let Some(i) = btf_spans.iter().position(|s| s.1 > len) {
            format!("BTF blob {i}")
        } else if let Some(i) = map_spans.iter().position(|s| s.1 > len) {
            let m = &header.maps[i];
            format!("the entries of map id {} \"{}\"", m.id, m.name)
        } else {
            "the SHA-256 digest".to_string()
        };
        return Err(truncated(data.len(), total, what));
    }
    if len > total {
        return Err(FormatError::TrailingBytes {
            offset: total,
            extra: len - total,
        });
    }
    // Every span ends before `total <= len`, so they all fit in usize.
    let cast = |v: Vec<(u64, u64)>| {
        v.into_iter()
            .map(|(a, b)| (a as usize, b as usize))
            .collect()
    };
    Ok(Layout {
        header,
        btf_spans: cast(btf_spans),
        map_spans: cast(map_spans),
    })
}

// ---------------------------------------------------------------------------------------
// Writer

/// Collects maps and BTF blobs, then writes a capture file.
#[derive(Clone, Debug)]
pub struct CaptureWriter {
    header: CaptureHeader,
    blobs: Vec<Vec<u8>>,
    blob_by_digest: HashMap<[u8; 32], u32>,
    blocks: Vec<Vec<u8>>,
}

impl CaptureWriter {
    /// Starts a capture taken at `started` on `source`.
    pub fn new(started: SystemTime, source: Source) -> Self {
        let snapshot_id = rfc3339_utc(started);
        CaptureWriter {
            header: CaptureHeader {
                finished_at: snapshot_id.clone(),
                snapshot_id,
                source,
                btf: Vec::new(),
                maps: Vec::new(),
                skipped: Vec::new(),
            },
            blobs: Vec::new(),
            blob_by_digest: HashMap::new(),
            blocks: Vec::new(),
        }
    }

    pub fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// Stores a BTF blob once per distinct content and returns its index.
    pub fn add_btf(
        &mut self,
        blob: Vec<u8>,
        btf_id: Option<u32>,
        name: Option<String>,
        kernel: bool,
    ) -> u32 {
        let digest: [u8; 32] = Sha256::digest(&blob).into();
        if let Some(&i) = self.blob_by_digest.get(&digest) {
            return i;
        }
        let i = self.blobs.len() as u32;
        self.header.btf.push(BtfBlob {
            size: blob.len() as u64,
            sha256: hex(&digest),
            btf_id,
            name,
            kernel,
        });
        self.blobs.push(blob);
        self.blob_by_digest.insert(digest, i);
        i
    }

    /// Adds a map. `records` holds `map.entry_count` records of `map.record_size` bytes.
    pub fn add_map(&mut self, map: MapHeader, records: Vec<u8>) -> Result<(), FileError> {
        let expected =
            u64::from(map.key_size) + u64::from(map.value_size) * u64::from(map.values_per_entry);
        if map.record_size != expected
            || map.record_size.checked_mul(map.entry_count) != Some(records.len() as u64)
            || map.values_per_entry == 0
            || (map.record_size == 0 && map.entry_count > 0)
            || (!map.per_cpu && map.values_per_entry != 1)
        {
            return Err(FileError::Build(format!(
                "map id {}: {} bytes of records do not hold {} entries of {} bytes",
                map.id,
                records.len(),
                map.entry_count,
                map.record_size
            )));
        }
        if let Some(b) = map.btf_index {
            if b as usize >= self.blobs.len() {
                return Err(FileError::Build(format!(
                    "map id {}: BTF index {b} not added",
                    map.id
                )));
            }
        }
        self.header.maps.push(map);
        self.blocks.push(records);
        Ok(())
    }

    /// Records a selected map that was not captured.
    pub fn skip_map(&mut self, skipped: SkippedMap) {
        self.header.skipped.push(skipped);
    }

    /// Sets the time the capture finished.
    pub fn set_finished(&mut self, finished: SystemTime) {
        self.header.finished_at = rfc3339_utc(finished);
    }

    /// Writes the whole file to `w`; returns the digest.
    pub fn write_to<W: Write>(&self, w: W) -> io::Result<[u8; 32]> {
        let json = serde_json::to_vec(&self.header).map_err(io::Error::other)?;
        let header_len = u32::try_from(json.len())
            .map_err(|_| io::Error::other("capture header larger than 4 GiB"))?;
        let mut w = HashingWriter {
            inner: w,
            hasher: Sha256::new(),
        };
        w.write_all(&MAGIC)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        w.write_all(&header_len.to_le_bytes())?;
        w.write_all(&json)?;
        for blob in &self.blobs {
            w.write_all(blob)?;
        }
        for block in &self.blocks {
            w.write_all(block)?;
        }
        let digest: [u8; 32] = w.hasher.finalize().into();
        w.inner.write_all(&digest)?;
        w.inner.flush()?;
        Ok(digest)
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail except on a header over 4 GiB.
        let _ = self.write_to(&mut out);
        out
    }

    /// Writes to a temporary file next to `path`, fsyncs it, renames it over `path`, and
    /// fsyncs the directory: a crash leaves either no file or a complete one. The file
    /// is created with mode 0600 (map contents can be sensitive).
    pub fn write_atomic(&self, path: &Path) -> Result<[u8; 32], FileError> {
        let err = |source| FileError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| err(io::Error::other("the path has no file name")))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".tmp-{}-{nanos}", std::process::id()));
        let tmp = dir.join(tmp_name);

        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&tmp).map_err(err)?;
        let result = (|| {
            let mut buf = io::BufWriter::with_capacity(1 << 20, &file);
            let digest = self.write_to(&mut buf)?;
            buf.flush()?;
            drop(buf);
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(digest)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(err)
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    struct Hex<'a>(&'a [u8]);
    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
    Hex(bytes).to_string()
}

/// RFC 3339 UTC with microseconds, e.g. `2026-04-20T12:34:56.123456Z`. Times before
/// 1970 are written as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
    use super::*;
    use std::time::Duration;

    fn source() -> Source {
        Source {
            hostname: "host".into(),
            kernel_release: "6.18.0".into(),
            kernel_version: "#1 SMP".into(),
            machine: "x86_64".into(),
            byte_order: ByteOrder::Little,
            possible_cpus: 2,
            tool: "test".into(),
        }
    }

    fn map_header(id: u32, key_size: u32, value_size: u32, cpus: u32, n: u64) -> MapHeader {
        MapHeader {
            id,
            map_type: if cpus > 1 { 5 } else { 1 },
            type_name: if cpus > 1 { "percpu_hash" } else { "hash" }.into(),
            name: format!("m{id}"),
            key_size,
            value_size,
            max_entries: 100,
            map_flags: 0,
            map_extra: 0,
            ifindex: 0,
            btf_id: 0,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            btf_vmlinux_value_type_id: 0,
            btf_index: None,
            pinned_path: None,
            per_cpu: cpus > 1,
            values_per_entry: cpus,
            value_kind: ValueKind::Data,
            record_size: u64::from(key_size) + u64::from(value_size) * u64::from(cpus),
            entry_count: n,
            read: ReadStats {
                method: ReadMethod::Batch,
                started_at: "x".into(),
                finished_at: "y".into(),
                vanished_keys: 0,
                revisits: 0,
                complete: true,
            },
        }
    }

    pub(crate) fn sample() -> Vec<u8> {
        let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), source());
        let b0 = w.add_btf(vec![1, 2, 3, 4], Some(7), None, false);
        let b1 = w.add_btf(vec![1, 2, 3, 4], Some(8), None, false);
        assert_eq!(b0, b1, "identical BTF is stored once");
        let mut h = map_header(1, 4, 8, 1, 3);
        h.btf_index = Some(b0);
        let mut recs = Vec::new();
        for k in 0u32..3 {
            recs.extend_from_slice(&k.to_le_bytes());
            recs.extend_from_slice(&u64::from(k * 10).to_le_bytes());
        }
        w.add_map(h, recs).unwrap();
        let mut recs = Vec::new();
        for k in 0u32..2 {
            recs.extend_from_slice(&k.to_le_bytes());
            recs.extend_from_slice(&[k as u8; 3]);
            recs.extend_from_slice(&[k as u8 + 100; 3]);
        }
        w.add_map(map_header(2, 4, 3, 2, 2), recs).unwrap();
        w.add_map(map_header(3, 0, 0, 1, 0), Vec::new()).unwrap();
        w.to_bytes()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let cap = Capture::parse(&bytes[..]).unwrap();
        let h = cap.header();
        assert_eq!(h.snapshot_id, "2023-11-14T22:13:20.000000Z");
        assert_eq!(h.btf.len(), 1);
        assert_eq!(cap.btf_blob(0), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(cap.map_count(), 3);
        let m = cap.map(0).unwrap();
        assert_eq!(cap.map_btf(m.header), Some(&[1u8, 2, 3, 4][..]));
        let e: Vec<_> = m.entries().collect();
        assert_eq!(e.len(), 3);
        assert_eq!(e[2].key, 2u32.to_le_bytes());
        assert_eq!(e[2].value, 20u64.to_le_bytes());
        let m = cap.map(1).unwrap();
        let e = m.entry(1).unwrap();
        let vals: Vec<_> = e.values().collect();
        assert_eq!(vals, vec![&[1u8; 3][..], &[101u8; 3][..]]);
        assert!(cap.map(2).unwrap().is_empty());
        assert!(cap.map(3).is_none());
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let err = Capture::parse(&bytes[..len]).unwrap_err();
            match err {
                FormatError::Truncated { len: l, .. } => assert_eq!(l, len as u64),
                other => panic!("len {len}: {other}"),
            }
            assert!(err_text(&bytes[..len]).contains(&format!("truncated at byte {len}")));
        }
    }

    fn err_text(b: &[u8]) -> String {
        Capture::parse(b).unwrap_err().to_string()
    }

    #[test]
    fn every_bit_flip_is_rejected() {
        let bytes = sample();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(Capture::parse(&b[..]).is_err(), "flip at {i} accepted");
            }
        }
        // A flip in the data section is a digest mismatch, reported as such.
        let mut b = bytes.clone();
        let n = b.len();
        b[n - DIGEST_LEN - 1] ^= 1;
        let e = Capture::parse(&b[..]).unwrap_err();
        assert!(matches!(e, FormatError::DigestMismatch { .. }), "{e}");
        assert!(e.to_string().contains("SHA-256 mismatch"));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = sample();
        bytes.push(0);
        let e = Capture::parse(&bytes[..]).unwrap_err();
        assert!(matches!(e, FormatError::DigestMismatch { .. }), "{e}");
    }

    #[test]
    fn bad_magic_and_version() {
        let mut b = sample();
        b[0] = b'{';
        assert_eq!(Capture::parse(&b[..]).unwrap_err(), FormatError::BadMagic);
        let mut b = sample();
        b[8] = 2;
        assert_eq!(
            Capture::parse(&b[..]).unwrap_err(),
            FormatError::UnsupportedVersion { found: 2 }
        );
    }

    /// A file with a valid digest but a hostile header: every check still holds.
    fn with_header(json: &str, tail: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&(json.len() as u32).to_le_bytes());
        b.extend_from_slice(json.as_bytes());
        b.extend_from_slice(tail);
        let d = Sha256::digest(&b);
        b.extend_from_slice(&d);
        b
    }

    #[test]
    fn hostile_headers_with_valid_digest() {
        let good = sample();
        let cap = Capture::parse(&good[..]).unwrap();
        let base = serde_json::to_value(cap.header()).unwrap();

        let mut h = base.clone();
        h["maps"][0]["record_size"] = 99.into();
        let e = Capture::parse(with_header(&h.to_string(), &[0; 64])).unwrap_err();
        assert!(matches!(e, FormatError::Header { offset: 16, .. }), "{e}");

        let mut h = base.clone();
        h["maps"][0]["btf_index"] = 5.into();
        let e = Capture::parse(with_header(&h.to_string(), &[0; 64])).unwrap_err();
        assert!(e.to_string().contains("btf_index 5"), "{e}");

        let mut h = base.clone();
        h["maps"][0]["entry_count"] = u64::MAX.into();
        let e = Capture::parse(with_header(&h.to_string(), &[])).unwrap_err();
        assert!(matches!(e, FormatError::Limit { .. }), "{e}");

        let mut h = base.clone();
        h["maps"][0]["entry_count"] = (1u64 << 31).into();
        h["maps"][0]["record_size"] = 12.into();
        let e = Capture::parse(with_header(&h.to_string(), &[])).unwrap_err();
        assert!(matches!(e, FormatError::Truncated { .. }), "{e}");

        let mut h = base.clone();
        h["maps"][1]["per_cpu"] = false.into();
        let e = Capture::parse(with_header(&h.to_string(), &[0; 64])).unwrap_err();
        assert!(matches!(e, FormatError::Header { .. }), "{e}");

        let e = Capture::parse(with_header("{\"snapshot_id\": 3}", &[])).unwrap_err();
        match e {
            FormatError::HeaderJson { offset, .. } => assert!((16..40).contains(&offset)),
            other => panic!("{other}"),
        }
        let lim = Limits {
            max_maps: 1,
            ..Limits::default()
        };
        let e = Capture::parse_with_limits(&good[..], &lim).unwrap_err();
        assert!(matches!(e, FormatError::Limit { .. }), "{e}");
    }

    #[test]
    fn file_round_trip_and_atomic_write() {
        let dir = std::env::temp_dir().join(format!("ms-capfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.mscap");
        let bytes = sample();
        let cap = Capture::parse(bytes.clone()).unwrap();
        let mut w = CaptureWriter::new(UNIX_EPOCH, source());
        w.header = cap.header().clone();
        w.blobs = vec![cap.btf_blob(0).unwrap().to_vec()];
        w.blocks = cap.maps().map(|m| m.records().to_vec()).collect();
        w.write_atomic(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        Capture::read_file(&path).unwrap();
        let mut b = bytes.clone();
        b.truncate(b.len() - 5);
        fs::write(&path, &b).unwrap();
        let msg = Capture::read_file(&path).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!(
                "capture file {} is corrupt: truncated at byte",
                path.display()
            )),
            "{msg}"
        );
        let mut b = bytes.clone();
        let n = b.len() - 40;
        b[n] ^= 0xff;
        fs::write(&path, &b).unwrap();
        let msg = Capture::read_file(&path).unwrap_err().to_string();
        assert!(msg.contains("is corrupt: SHA-256 mismatch"), "{msg}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rfc3339() {
        let t = |s| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(t(1_709_251_199), "2024-02-29T23:59:59.000000Z");
        assert_eq!(t(4_102_444_800), "2100-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(UNIX_EPOCH + Duration::new(1_234_567_890, 123_456_789)),
            "2009-02-13T23:31:30.123456Z"
        );
        // Every day boundary over 400 years is a valid date.
        let mut prev = String::new();
        for day in (0..146_097 * 2).step_by(97) {
            let s = t(day * 86_400);
            assert!(s > prev, "{s} after {prev}");
            prev = s;
        }
    }

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
