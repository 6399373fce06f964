//! The structural parse: prelude, JSON header, and where each section lies. Every
//! bound is checked before it is used; the digest is checked by the caller.

use super::error::FormatError;
use super::header::{
    CaptureHeader, MapHeader, DIGEST_LEN, FORMAT_VERSION, FORMAT_VERSION_RING, HEADER_OFFSET,
    MAGIC, RING_RECORD_PREFIX,
};
use super::ValueKind;

/// Bounds the reader enforces on untrusted files.
#[derive(Clone, Debug)]
pub struct CaptureLimits {
    pub max_header_len: u32,
    pub max_maps: usize,
    pub max_btf_blobs: usize,
    pub max_btf_size: u64,
    pub max_entries_per_map: u64,
    pub max_record_size: u64,
    pub max_values_per_entry: u32,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        CaptureLimits {
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

/// The header and the byte range of each BTF blob and each map's entry block.
pub(super) struct Layout {
    pub header: CaptureHeader,
    pub btf_spans: Vec<(usize, usize)>,
    pub map_spans: Vec<(usize, usize)>,
    /// Per map: its ring records (empty for maps that are not ring buffers).
    pub ring_records: Vec<Vec<RingSpan>>,
}

/// One ring record in the file: its ring position and its bytes' range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RingSpan {
    pub position: u64,
    pub start: usize,
    pub end: usize,
}

type Span = (u64, u64);

pub(super) fn parse_layout(data: &[u8], limits: &CaptureLimits) -> Result<Layout, FormatError> {
    let (header, header_end, version) = parse_header(data, limits)?;
    check_counts(&header, limits)?;
    check_version(&header, version)?;
    check_outer_links(&header)?;
    let mut pos = header_end as u64;
    let btf_spans = btf_spans(&header, limits, &mut pos)?;
    let mut map_spans = Vec::with_capacity(header.maps.len());
    for (i, map) in header.maps.iter().enumerate() {
        check_map(i, map, header.btf.len(), limits)?;
        let end = map_block_end(i, map, pos)?;
        map_spans.push((pos, end));
        pos = end;
    }
    let total = pos
        .checked_add(DIGEST_LEN as u64)
        .ok_or_else(|| header_err("file size overflows".into()))?;
    check_length(data, &header, &btf_spans, &map_spans, total)?;
    let ring_records = header
        .maps
        .iter()
        .zip(&map_spans)
        .enumerate()
        .map(|(i, (map, &span))| ring_spans(data, i, map, span))
        .collect::<Result<_, _>>()?;
    // Every span ends before `total <= len`, so they all fit in usize.
    let cast = |v: Vec<Span>| {
        v.into_iter()
            .map(|(a, b)| (a as usize, b as usize))
            .collect()
    };
    Ok(Layout {
        header,
        btf_spans: cast(btf_spans),
        map_spans: cast(map_spans),
        ring_records,
    })
}

/// Ring records need version 2; version 2 is written only for files that have them.
fn check_version(header: &CaptureHeader, version: u32) -> Result<(), FormatError> {
    match header.maps.iter().position(|m| m.ring.is_some()) {
        Some(i) if version == FORMAT_VERSION => Err(header_err(format!(
            "maps[{i}] holds ring buffer records, which need format version {FORMAT_VERSION_RING}, but the file says version {version}"
        ))),
        _ => Ok(()),
    }
}

/// The records of a ring map's block: each prefix read within the block, the lengths
/// adding up to exactly the block and the count to exactly `entry_count`.
fn ring_spans(
    data: &[u8],
    i: usize,
    map: &MapHeader,
    (start, end): Span,
) -> Result<Vec<RingSpan>, FormatError> {
    let Some(ring) = &map.ring else {
        return Ok(Vec::new());
    };
    // `end` is within the file (checked by `check_length`).
    let block = data.get(start as usize..end as usize).unwrap_or(&[]);
    let bad = |at: usize, what: String| FormatError::Header {
        offset: start + at as u64,
        message: format!("maps[{i}] (map id {}): ring record {what}", map.id),
    };
    let mut spans = Vec::with_capacity(map.entry_count.min(1 << 20) as usize);
    let mut at = 0usize;
    while at < block.len() {
        let prefix = block
            .get(at..at + RING_RECORD_PREFIX)
            .ok_or_else(|| bad(at, "prefix runs past the end of the block".into()))?;
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&prefix[..8]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&prefix[8..]);
        let len = u32::from_le_bytes(len) as usize;
        if len as u64 > ring.data_size {
            return Err(bad(
                at,
                format!("of {len} bytes in a ring of {}", ring.data_size),
            ));
        }
        let data_start = at + RING_RECORD_PREFIX;
        if data_start + len > block.len() {
            return Err(bad(
                at,
                format!("of {len} bytes runs past the end of the block"),
            ));
        }
        spans.push(RingSpan {
            position: u64::from_le_bytes(pos),
            start: start as usize + data_start,
            end: start as usize + data_start + len,
        });
        at = data_start + len;
    }
    if spans.len() as u64 != map.entry_count {
        return Err(bad(
            0,
            format!(
                "count: the block holds {} records, entry_count says {}",
                spans.len(),
                map.entry_count
            ),
        ));
    }
    Ok(spans)
}

/// Magic, version, header length and the JSON header; returns the header and where
/// it ends.
fn parse_header(
    data: &[u8],
    limits: &CaptureLimits,
) -> Result<(CaptureHeader, usize, u32), FormatError> {
    let magic = data
        .get(..MAGIC.len())
        .ok_or_else(|| truncated(data.len(), MAGIC.len() as u64, "the magic"))?;
    if magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = read_u32(data, 8, "the format version")?;
    if version != FORMAT_VERSION && version != FORMAT_VERSION_RING {
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
    let header = serde_json::from_slice(json).map_err(|e| {
        let offset = HEADER_OFFSET + json_offset(json, e.line(), e.column());
        FormatError::HeaderJson {
            offset: offset as u64,
            message: e.to_string(),
        }
    })?;
    Ok((header, header_end, version))
}

fn check_counts(header: &CaptureHeader, limits: &CaptureLimits) -> Result<(), FormatError> {
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
    )
}

/// The BTF blobs' spans, from `pos` on; advances `pos` past them.
fn btf_spans(
    header: &CaptureHeader,
    limits: &CaptureLimits,
    pos: &mut u64,
) -> Result<Vec<Span>, FormatError> {
    let mut spans = Vec::with_capacity(header.btf.len());
    for (i, blob) in header.btf.iter().enumerate() {
        limit(
            HEADER_OFFSET,
            format!("btf[{i}].size"),
            blob.size,
            limits.max_btf_size,
        )?;
        // Bounded by the limit: no overflow for any sane limit, and the total is
        // checked against the file length below.
        let end = pos.saturating_add(blob.size);
        spans.push((*pos, end));
        *pos = end;
    }
    Ok(spans)
}

/// A map header's limits and consistency (record size, CPUs, BTF index).
fn check_map(
    i: usize,
    map: &MapHeader,
    btf_count: usize,
    limits: &CaptureLimits,
) -> Result<(), FormatError> {
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
    let expected = map.expected_record_size();
    if map.record_size != expected {
        return Err(header_err(format!(
            "maps[{i}] (map id {}): record_size {} but key_size {} + value_size {} × {} values = {expected}",
            map.id, map.record_size, map.key_size, map.value_size, map.values_per_entry
        )));
    }
    if map.values_per_entry == 0 {
        return Err(header_err(format!("maps[{i}]: values_per_entry is 0")));
    }
    // No iterable map type has empty records; refusing them bounds the work a reader
    // does per byte of file. (Ring records have their own prefixed lengths.)
    if map.record_size == 0 && map.entry_count > 0 && map.ring.is_none() {
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
    match map.btf_index {
        Some(b) if b as usize >= btf_count => Err(header_err(format!(
            "maps[{i}].btf_index {b} but the file has {btf_count} BTF blobs"
        ))),
        _ => Ok(()),
    }
}

/// An inner map's `outer_map_id` names an array/hash of maps of the same file.
fn check_outer_links(header: &CaptureHeader) -> Result<(), FormatError> {
    // Ids to maps once, so that 65 536 inner maps cost no quadratic search.
    let by_id: std::collections::HashMap<u32, &MapHeader> =
        header.maps.iter().map(|m| (m.id, m)).collect();
    for (i, map) in header.maps.iter().enumerate() {
        let Some(outer) = map.outer_map_id else {
            continue;
        };
        let found = by_id.get(&outer);
        match found {
            Some(m) if m.value_kind == ValueKind::MapId && m.id != map.id => {}
            Some(_) => {
                return Err(header_err(format!(
                    "maps[{i}] (map id {}): outer_map_id {outer} is not a map of maps",
                    map.id
                )))
            }
            None => {
                return Err(header_err(format!(
                    "maps[{i}] (map id {}): outer_map_id {outer} is not a map in this file",
                    map.id
                )))
            }
        }
    }
    Ok(())
}

/// Where map `i`'s entry block ends when it starts at `pos`.
fn map_block_end(i: usize, map: &MapHeader, pos: u64) -> Result<u64, FormatError> {
    if let Some(ring) = &map.ring {
        return pos
            .checked_add(ring.block_size)
            .ok_or_else(|| header_err(format!("maps[{i}]: ring block overflows")));
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
    pos.checked_add(size)
        .ok_or_else(|| header_err(format!("maps[{i}]: entry block overflows")))
}

/// The file must be exactly `total` bytes long; a short one names the first section
/// that does not fit.
fn check_length(
    data: &[u8],
    header: &CaptureHeader,
    btf_spans: &[Span],
    map_spans: &[Span],
    total: u64,
) -> Result<(), FormatError> {
    let len = data.len() as u64;
    if len < total {
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
    Ok(())
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
