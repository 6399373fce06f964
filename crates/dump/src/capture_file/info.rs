//! What a capture says besides its entries, kept after reading: the snapshot's
//! identity and the BTF that decodes its maps.

use std::fmt;

use super::header::{CaptureHeader, MapHeader, DIGEST_LEN};

/// A capture's header, digest and BTF blobs, without the entry blocks. Readers of
/// dumps attach one (shared) to every [`Dump`](crate::Dump) read from a capture, so
/// that one read of the bytes (a file or stdin) gives the entries, the snapshot
/// identity and the embedded BTF.
#[derive(Clone, PartialEq, Eq)]
pub struct CaptureInfo {
    header: CaptureHeader,
    digest: [u8; DIGEST_LEN],
    btf: Vec<Box<[u8]>>,
}

impl CaptureInfo {
    /// `btf` holds the blobs in header order.
    pub(super) fn new(
        header: CaptureHeader,
        digest: [u8; DIGEST_LEN],
        btf: Vec<Box<[u8]>>,
    ) -> Self {
        CaptureInfo {
            header,
            digest,
            btf,
        }
    }

    pub fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// The SHA-256 digest the file ends with (verified when it was read): with the
    /// snapshot id, what identifies the snapshot.
    pub fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.digest
    }

    /// [`digest`](Self::digest) in lowercase hex, as `capture` prints it.
    pub fn digest_hex(&self) -> String {
        crate::hex::encode(&self.digest)
    }

    /// BTF blob `index` (see `CaptureHeader::btf`).
    pub fn btf_blob(&self, index: usize) -> Option<&[u8]> {
        self.btf.get(index).map(|b| &**b)
    }

    /// The header of map `index` (the dump's `source.map_index`).
    pub fn map(&self, index: usize) -> Option<&MapHeader> {
        self.header.maps.get(index)
    }

    /// The BTF blob of a map, if one was captured.
    pub fn map_btf(&self, map: &MapHeader) -> Option<&[u8]> {
        self.btf_blob(map.btf_index? as usize)
    }

    /// The kernel's `vmlinux` BTF, when captured: the base of split BTF.
    pub fn vmlinux_btf(&self) -> Option<&[u8]> {
        self.btf_blob(self.header.vmlinux_btf_index()?)
    }
}

/// Blob sizes, not their bytes (vmlinux BTF is megabytes).
impl fmt::Debug for CaptureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<usize> = self.btf.iter().map(|b| b.len()).collect();
        f.debug_struct("CaptureInfo")
            .field("header", &self.header)
            .field("digest", &self.digest_hex())
            .field("btf_sizes", &sizes)
            .finish()
    }
}
