//! Errors that say what went wrong and what to do about it.

use std::io;
use std::path::PathBuf;

use crate::capture_file::FileError;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// bpf(2) refused with EPERM or EACCES.
    #[error("{what}: permission denied ({source}); reading BPF maps needs CAP_BPF and CAP_SYS_ADMIN (or root): run mapsleuth as root, e.g. with sudo")]
    PermissionDenied { what: String, source: io::Error },
    #[error("no map with id {id} (it may have been unloaded; `mapsleuth capture list` shows the maps there are)")]
    NoSuchMap { id: u32 },
    #[error("no map named {name:?} (`mapsleuth capture list` shows the maps there are)")]
    NoMapNamed { name: String },
    #[error("{} maps are named {name:?} (ids {}); choose one with --id", ids.len(), join(ids))]
    AmbiguousName { name: String, ids: Vec<u32> },
    #[error("nothing is pinned at {} (pinned maps live on a bpffs, usually under /sys/fs/bpf)", path.display())]
    NotPinned { path: PathBuf },
    #[error("{} is a pinned BPF {kind}, not a map", path.display())]
    NotAMap { path: PathBuf, kind: String },
    #[error("map {id} {name:?} is a {type_name} map, which is not iterable: {reason}")]
    NotIterable {
        id: u32,
        name: String,
        type_name: String,
        reason: String,
    },
    #[error("{what}: {source}")]
    Syscall { what: String, source: io::Error },
    #[error("live capture needs Linux and bpf(2); this system is {0}")]
    Unsupported(&'static str),
    #[error(transparent)]
    File(#[from] FileError),
}

impl CaptureError {
    /// Wraps a failed syscall, turning EPERM/EACCES into [`CaptureError::PermissionDenied`].
    pub(crate) fn sys(what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                CaptureError::PermissionDenied { what, source }
            }
            _ => CaptureError::Syscall { what, source },
        }
    }

    /// True when the kernel refused for lack of privileges.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, CaptureError::PermissionDenied { .. })
    }
}

fn join(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
