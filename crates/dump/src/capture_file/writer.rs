//! Writing: [`CaptureWriter`] collects maps and BTF blobs, then writes the file in one
//! pass, hashing as it goes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::error::FileError;
use super::header::{
    BtfBlob, CaptureHeader, CaptureHost, MapHeader, SkippedMap, DIGEST_LEN, FORMAT_VERSION,
    FORMAT_VERSION_RING, MAGIC, RING_RECORD_PREFIX,
};
use super::time::rfc3339_utc;

/// Collects maps and BTF blobs, then writes a capture file.
#[derive(Clone, Debug)]
pub struct CaptureWriter {
    header: CaptureHeader,
    blobs: Vec<Vec<u8>>,
    blob_by_digest: HashMap<[u8; DIGEST_LEN], u32>,
    blocks: Vec<Vec<u8>>,
}

impl CaptureWriter {
    /// Starts a capture taken at `started` on `host`.
    pub fn new(started: SystemTime, host: CaptureHost) -> Self {
        let snapshot_id = rfc3339_utc(started);
        CaptureWriter {
            header: CaptureHeader {
                finished_at: snapshot_id.clone(),
                snapshot_id,
                source: host,
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
        let digest: [u8; DIGEST_LEN] = Sha256::digest(&blob).into();
        if let Some(&i) = self.blob_by_digest.get(&digest) {
            return i;
        }
        let i = self.blobs.len() as u32;
        self.header.btf.push(BtfBlob {
            size: blob.len() as u64,
            sha256: crate::hex::encode(&digest),
            btf_id,
            name,
            kernel,
        });
        self.blobs.push(blob);
        self.blob_by_digest.insert(digest, i);
        i
    }

    /// Adds a map. `records` holds `map.entry_count` records of `map.record_size` bytes,
    /// or for a ring buffer (`map.ring`) `entry_count` prefixed records of
    /// `ring.block_size` bytes in all.
    pub fn add_map(&mut self, map: MapHeader, records: Vec<u8>) -> Result<(), FileError> {
        if let Some(ring) = &map.ring {
            check_ring_block(&map, ring.block_size, ring.data_size, &records)?;
        } else if map.record_size != map.expected_record_size()
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
    pub fn write_to<W: Write>(&self, w: W) -> io::Result<[u8; DIGEST_LEN]> {
        let json = serde_json::to_vec(&self.header).map_err(io::Error::other)?;
        let header_len = u32::try_from(json.len())
            .map_err(|_| io::Error::other("capture header larger than 4 GiB"))?;
        let mut w = HashingWriter {
            inner: w,
            hasher: Sha256::new(),
        };
        w.write_all(&MAGIC)?;
        let ring = self.header.maps.iter().any(|m| m.ring.is_some());
        let version = if ring {
            FORMAT_VERSION_RING
        } else {
            FORMAT_VERSION
        };
        w.write_all(&version.to_le_bytes())?;
        w.write_all(&header_len.to_le_bytes())?;
        w.write_all(&json)?;
        for blob in &self.blobs {
            w.write_all(blob)?;
        }
        for block in &self.blocks {
            w.write_all(block)?;
        }
        let digest: [u8; DIGEST_LEN] = w.hasher.finalize().into();
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
    pub fn write_atomic(&self, path: &Path) -> Result<[u8; DIGEST_LEN], FileError> {
        let err = |source| FileError::Write {
            path: path.to_owned(),
            source,
        };
        let (dir, tmp) = temp_path(path).map_err(err)?;
        let file = create_private(&tmp).map_err(err)?;
        let result = self.write_synced(&file).and_then(|digest| {
            fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(digest)
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(err)
    }

    /// Writes the file through a buffer and fsyncs it.
    fn write_synced(&self, file: &fs::File) -> io::Result<[u8; DIGEST_LEN]> {
        let mut buf = io::BufWriter::with_capacity(1 << 20, file);
        let digest = self.write_to(&mut buf)?;
        buf.flush()?;
        drop(buf);
        file.sync_all()?;
        Ok(digest)
    }
}

/// A ring block must hold exactly `entry_count` prefixed records and `block_size` bytes.
fn check_ring_block(
    map: &MapHeader,
    block_size: u64,
    data_size: u64,
    records: &[u8],
) -> Result<(), FileError> {
    let mut at = 0usize;
    let mut count = 0u64;
    while at + RING_RECORD_PREFIX <= records.len() {
        let mut len = [0u8; 4];
        len.copy_from_slice(&records[at + 8..at + RING_RECORD_PREFIX]);
        let len = u32::from_le_bytes(len);
        if u64::from(len) > data_size {
            break;
        }
        at += RING_RECORD_PREFIX + len as usize;
        count += 1;
    }
    if at != records.len()
        || count != map.entry_count
        || block_size != records.len() as u64
        || map.record_size != map.expected_record_size()
    {
        return Err(FileError::Build(format!(
            "map id {}: a ring block of {} bytes does not hold {} records in {block_size} bytes",
            map.id,
            records.len(),
            map.entry_count
        )));
    }
    Ok(())
}

/// The directory of `path` and a hidden temporary name in it, unique to this process
/// and moment.
fn temp_path(path: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the path has no file name"))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}-{nanos}", std::process::id()));
    let tmp = dir.join(tmp_name);
    Ok((dir, tmp))
}

/// Creates a new file readable by its owner only.
fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
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

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::super::test_support::{host, sample};
    use super::super::Capture;
    use super::*;

    #[test]
    fn file_round_trip_and_atomic_write() {
        let dir = std::env::temp_dir().join(format!("ms-capfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.mscap");
        let bytes = sample();
        let cap = Capture::parse(bytes.clone()).unwrap();
        let mut w = CaptureWriter::new(UNIX_EPOCH, host());
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
}
