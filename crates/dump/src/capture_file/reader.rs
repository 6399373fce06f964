//! Reading: a verified [`Capture`] over bytes, its maps and their entries.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::{FileError, FormatError};
use super::header::{CaptureHeader, MapHeader, DIGEST_LEN, HEADER_OFFSET};
use super::info::CaptureInfo;
use super::layout::{parse_layout, CaptureLimits, Layout, RingSpan};

/// A parsed, digest-verified capture over bytes it borrows or owns.
#[derive(Clone, Debug)]
pub struct Capture<B: AsRef<[u8]>> {
    bytes: B,
    header: CaptureHeader,
    btf_spans: Vec<(usize, usize)>,
    map_spans: Vec<(usize, usize)>,
    ring_records: Vec<Vec<RingSpan>>,
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
    /// Parses and verifies with the default [`CaptureLimits`].
    pub fn parse(bytes: B) -> Result<Self, FormatError> {
        Self::parse_with_limits(bytes, &CaptureLimits::default())
    }

    /// Parses and verifies: structure, limits, consistency, then the SHA-256 digest.
    pub fn parse_with_limits(bytes: B, limits: &CaptureLimits) -> Result<Self, FormatError> {
        let data = bytes.as_ref();
        let layout = verdict(data, parse_layout(data, limits))?;
        Ok(Capture {
            bytes,
            header: layout.header,
            btf_spans: layout.btf_spans,
            map_spans: layout.map_spans,
            ring_records: layout.ring_records,
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
            ring: self.ring_records.get(index).map_or(&[], Vec::as_slice),
            file: self.bytes.as_ref(),
        })
    }

    pub fn maps(&self) -> impl ExactSizeIterator<Item = MapView<'_>> + '_ {
        let bytes = self.bytes.as_ref();
        self.header
            .maps
            .iter()
            .zip(&self.map_spans)
            .zip(&self.ring_records)
            .map(move |((header, &(start, end)), ring)| MapView {
                header,
                records: bytes.get(start..end).unwrap_or(&[]),
                offset: start,
                ring,
                file: bytes,
            })
    }

    /// Everything but the entries (header, digest, BTF blobs), owned: what stays
    /// useful once the entries are copied out.
    pub fn info(&self) -> CaptureInfo {
        let blobs = (0..self.btf_spans.len())
            .map(|i| self.btf_blob(i).unwrap_or_default().into())
            .collect();
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(self.digest());
        CaptureInfo::new(self.header.clone(), digest, blobs)
    }
}

/// The structural parse's result judged with the digest. The digest decides whether
/// the bytes are intact; the structural parse only explains *how* a damaged file is
/// damaged (truncated beats a generic mismatch).
fn verdict(data: &[u8], layout: Result<Layout, FormatError>) -> Result<Layout, FormatError> {
    let digest_ok = data.len() >= HEADER_OFFSET + DIGEST_LEN && {
        let body = data.len() - DIGEST_LEN;
        Sha256::digest(&data[..body]).as_slice() == &data[body..]
    };
    let mismatch_at_end = || FormatError::DigestMismatch {
        offset: data.len().saturating_sub(DIGEST_LEN) as u64,
    };
    match layout {
        Ok(_) if !digest_ok => Err(mismatch_at_end()),
        Ok(layout) => Ok(layout),
        Err(e @ (FormatError::BadMagic | FormatError::UnsupportedVersion { .. })) => Err(e),
        Err(e @ FormatError::Truncated { .. }) => Err(e),
        Err(e) if digest_ok => Err(e),
        // Bytes after the end: the digest is where the structure says it is.
        Err(FormatError::TrailingBytes { offset, .. }) => {
            Err(FormatError::DigestMismatch { offset })
        }
        Err(_) => Err(mismatch_at_end()),
    }
}

/// One map of a capture: header plus its entry records.
#[derive(Clone, Copy, Debug)]
pub struct MapView<'a> {
    pub header: &'a MapHeader,
    records: &'a [u8],
    offset: usize,
    ring: &'a [RingSpan],
    file: &'a [u8],
}

/// One ring buffer record of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingRecord<'a> {
    /// Its position in the ring (consumer_pos ≤ position < producer_pos).
    pub position: u64,
    /// Byte offset of its data in the file.
    pub offset: usize,
    pub data: &'a [u8],
}

impl<'a> MapView<'a> {
    /// True for a ring buffer's records (`header.ring` is set).
    pub fn is_ring(&self) -> bool {
        self.header.ring.is_some()
    }

    /// Ring record `i` (ring buffers only).
    pub fn ring_record(&self, i: usize) -> Option<RingRecord<'a>> {
        let span = self.ring.get(i)?;
        Some(RingRecord {
            position: span.position,
            offset: span.start,
            data: self.file.get(span.start..span.end)?,
        })
    }

    /// The ring records in ring order (none for other maps).
    pub fn ring_records(&self) -> impl ExactSizeIterator<Item = RingRecord<'a>> + 'a {
        let view = *self;
        (0..view.ring.len()).map(move |i| {
            view.ring_record(i).unwrap_or(RingRecord {
                position: 0,
                offset: 0,
                data: &[],
            })
        })
    }

    /// Byte offset in the file of entry `i`'s data.
    pub fn entry_offset(&self, i: usize) -> usize {
        match self.ring.get(i) {
            Some(span) => span.start,
            None => self.offset + i * self.header.record_size as usize,
        }
    }

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
    pub fn entry(&self, i: usize) -> Option<CaptureEntry<'a>> {
        let h = self.header;
        if i >= self.len() {
            return None;
        }
        if self.is_ring() {
            // A ring record is a keyless value of its own length.
            let r = self.ring_record(i)?;
            return Some(CaptureEntry {
                key: &[],
                value: r.data,
                value_size: r.data.len(),
                values: 1,
            });
        }
        let rs = h.record_size as usize;
        let ks = h.key_size as usize;
        let rec = self.records.get(i * rs..(i + 1) * rs)?;
        Some(CaptureEntry {
            key: &rec[..ks],
            value: &rec[ks..],
            value_size: h.value_size as usize,
            values: h.values_per_entry as usize,
        })
    }

    pub fn entries(&self) -> impl ExactSizeIterator<Item = CaptureEntry<'a>> + 'a {
        let view = *self;
        (0..view.len()).map(move |i| {
            view.entry(i).unwrap_or(CaptureEntry {
                key: &[],
                value: &[],
                value_size: 0,
                values: 0,
            })
        })
    }
}

/// One entry record of a capture: key bytes and value bytes (per-CPU values
/// concatenated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureEntry<'a> {
    pub key: &'a [u8],
    /// All value bytes: `value_size × values_per_entry`.
    pub value: &'a [u8],
    value_size: usize,
    values: usize,
}

impl<'a> CaptureEntry<'a> {
    /// The value of each CPU (one item for non-per-CPU maps).
    pub fn values(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let (value, size) = (self.value, self.value_size);
        (0..self.values).map(move |i| value.get(i * size..(i + 1) * size).unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::super::header::{ValueKind, FORMAT_VERSION, MAGIC};
    use super::super::test_support::{ring_block, ring_sample, sample};
    use super::*;

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
        b[8] = 3;
        assert_eq!(
            Capture::parse(&b[..]).unwrap_err(),
            FormatError::UnsupportedVersion { found: 3 }
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

    /// An inner map's link to its map of maps (`capture --recursive`) must name a map of
    /// maps of the same file; the corpus capture's links hold.
    #[test]
    fn outer_links_name_a_map_of_maps_in_the_file() {
        let good = sample();
        let base = serde_json::to_value(Capture::parse(&good[..]).unwrap().header()).unwrap();
        let mut h = base.clone();
        h["maps"][1]["outer_map_id"] = 4242.into();
        let e = Capture::parse(with_header(&h.to_string(), &[0; 64])).unwrap_err();
        assert!(matches!(e, FormatError::Header { offset: 16, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("outer_map_id 4242 is not a map in this file"),
            "{e}"
        );
        let mut h = base;
        let first = h["maps"][0]["id"].clone();
        h["maps"][1]["outer_map_id"] = first;
        let e = Capture::parse(with_header(&h.to_string(), &[0; 64])).unwrap_err();
        assert!(e.to_string().contains("is not a map of maps"), "{e}");

        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../corpus/captures/outer.mscap"
        );
        let bytes = std::fs::read(path).unwrap();
        let cap = Capture::parse(&bytes[..]).unwrap();
        let maps = &cap.header().maps;
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].value_kind, ValueKind::MapId);
        let ids: Vec<u32> = cap
            .map(0)
            .unwrap()
            .entries()
            .map(|e| u32::from_le_bytes(e.value.try_into().unwrap()))
            .collect();
        assert_eq!(ids, [maps[1].id, maps[2].id]);
        assert!(maps[1..].iter().all(|m| m.outer_map_id == Some(maps[0].id)));
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
        let lim = CaptureLimits {
            max_maps: 1,
            ..CaptureLimits::default()
        };
        let e = Capture::parse_with_limits(&good[..], &lim).unwrap_err();
        assert!(matches!(e, FormatError::Limit { .. }), "{e}");
    }

    #[test]
    fn ring_records_round_trip_as_version_2() {
        let recs: [&[u8]; 3] = [b"abc", b"", &[7; 64]];
        let bytes = ring_sample(&recs);
        assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
        let cap = Capture::parse(&bytes[..]).unwrap();
        let m = cap.map(1).unwrap();
        assert!(m.is_ring() && !cap.map(0).unwrap().is_ring());
        let got: Vec<_> = m.ring_records().map(|r| (r.position, r.data)).collect();
        assert_eq!(
            got,
            vec![(64, &b"abc"[..]), (80, &b""[..]), (88, &[7u8; 64][..])]
        );
        let values: Vec<_> = m.entries().map(|e| (e.key, e.value)).collect();
        assert_eq!(values[0], (&[][..], &b"abc"[..]));
        assert_eq!(m.entry_offset(0), m.ring_record(0).unwrap().offset);
        assert_eq!(
            &bytes[m.entry_offset(2)..m.entry_offset(2) + 64],
            &[7u8; 64][..]
        );
        // Files without rings stay version 1.
        assert_eq!(&sample()[8..12], &FORMAT_VERSION.to_le_bytes());
    }

    #[test]
    fn hostile_ring_headers_with_valid_digest() {
        let recs: [&[u8]; 2] = [b"abcd", b"xyz"];
        let good = ring_sample(&recs);
        let cap = Capture::parse(&good[..]).unwrap();
        let base = serde_json::to_value(cap.header()).unwrap();
        let block = ring_block(&recs);
        let tail = |b: &[u8]| {
            let mut t = vec![1, 0, 0, 0, 2, 0, 0, 0];
            t.extend_from_slice(b);
            t
        };
        let with_version = |json: &str, b: &[u8], v: u32| {
            let mut f = with_header(json, &tail(b));
            f[8..12].copy_from_slice(&v.to_le_bytes());
            let n = f.len() - DIGEST_LEN;
            let d = Sha256::digest(&f[..n]);
            f[n..].copy_from_slice(&d);
            f
        };
        // A ring in a version 1 file.
        let e = Capture::parse(with_version(&base.to_string(), &block, 1)).unwrap_err();
        assert!(e.to_string().contains("need format version 2"), "{e}");
        // A count that disagrees with the block.
        let mut h = base.clone();
        h["maps"][1]["entry_count"] = 3.into();
        let e = Capture::parse(with_version(&h.to_string(), &block, 2)).unwrap_err();
        assert!(e.to_string().contains("block holds 2 records"), "{e}");
        // A length that runs past the block: named with its offset.
        let mut b = block.clone();
        b[8..12].copy_from_slice(&40u32.to_le_bytes());
        let e = Capture::parse(with_version(&base.to_string(), &b, 2)).unwrap_err();
        assert!(
            e.to_string().contains("runs past the end of the block"),
            "{e}"
        );
        let start = (good.len() - DIGEST_LEN - block.len()) as u64;
        assert_eq!(e.offset(), start, "{e}");
        // A length beyond the ring's data size.
        let mut h = base.clone();
        h["maps"][1]["ring"]["data_size"] = 2.into();
        let e = Capture::parse(with_version(&h.to_string(), &block, 2)).unwrap_err();
        assert!(e.to_string().contains("of 4 bytes in a ring of 2"), "{e}");
    }
}
