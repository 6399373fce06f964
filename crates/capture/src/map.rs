//! Finding and opening maps, their info and their BTF.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::capture_file::ValueKind;
use crate::error::CaptureError;
use crate::sys;

/// A map type (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct MapType(pub u32);

/// Whether and how a map type's entries can be read without modifying the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readability {
    /// Iterable with GET_NEXT_KEY/LOOKUP (and maybe batch lookups).
    Iterable {
        per_cpu: bool,
        value_kind: ValueKind,
    },
    /// A ring buffer: its unread records are read through a read-only mmap, without
    /// consuming them.
    Ring,
    /// Not iterable, and why.
    NotIterable(&'static str),
}

impl MapType {
    pub const HASH: MapType = MapType(1);
    pub const ARRAY: MapType = MapType(2);
    pub const PROG_ARRAY: MapType = MapType(3);
    pub const PERCPU_HASH: MapType = MapType(5);
    pub const PERCPU_ARRAY: MapType = MapType(6);
    pub const LRU_HASH: MapType = MapType(9);
    pub const LRU_PERCPU_HASH: MapType = MapType(10);
    pub const LPM_TRIE: MapType = MapType(11);
    pub const ARRAY_OF_MAPS: MapType = MapType(12);
    pub const HASH_OF_MAPS: MapType = MapType(13);
    pub const QUEUE: MapType = MapType(22);
    pub const STACK: MapType = MapType(23);
    pub const RINGBUF: MapType = MapType(27);
    pub const USER_RINGBUF: MapType = MapType(31);
    pub const BLOOM_FILTER: MapType = MapType(30);

    /// bpftool's name for the type, or `type N` for types this build does not know.
    pub fn name(self) -> String {
        match Some(mapsleuth_layout::map_type_name(self.0)).filter(|n| *n != "unknown") {
            Some(n) => (*n).to_string(),
            None => format!("type {}", self.0),
        }
    }

    /// From the one map type table (`mapsleuth_layout::MAP_TYPES`).
    pub fn readability(self) -> Readability {
        use mapsleuth_layout::MapValues;
        if self == MapType::RINGBUF || self == MapType::USER_RINGBUF {
            return Readability::Ring;
        }
        let Some(t) = mapsleuth_layout::map_type(self.0) else {
            return Readability::NotIterable("this build of mapsleuth does not know this map type");
        };
        let value_kind = match t.values {
            MapValues::Data => ValueKind::Data,
            MapValues::ProgIds => ValueKind::ProgId,
            MapValues::MapIds => ValueKind::MapId,
            MapValues::SocketCookies => ValueKind::SocketCookie,
            MapValues::NotIterable(why) => return Readability::NotIterable(why),
        };
        Readability::Iterable {
            per_cpu: t.per_cpu,
            value_kind,
        }
    }
}

/// What the kernel reports about a map (`struct bpf_map_info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MapInfo {
    pub id: u32,
    pub map_type: MapType,
    /// bpftool's name of the type.
    pub type_name: String,
    pub name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub map_extra: u64,
    pub ifindex: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
}

impl MapInfo {
    fn from_raw(raw: &sys::RawMapInfo) -> Self {
        let end = raw
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw.name.len());
        MapInfo {
            id: raw.id,
            map_type: MapType(raw.map_type),
            type_name: MapType(raw.map_type).name(),
            name: String::from_utf8_lossy(&raw.name[..end]).into_owned(),
            key_size: raw.key_size,
            value_size: raw.value_size,
            max_entries: raw.max_entries,
            map_flags: raw.map_flags,
            map_extra: raw.map_extra,
            ifindex: raw.ifindex,
            netns_dev: raw.netns_dev,
            netns_ino: raw.netns_ino,
            btf_id: raw.btf_id,
            btf_key_type_id: raw.btf_key_type_id,
            btf_value_type_id: raw.btf_value_type_id,
            btf_vmlinux_value_type_id: raw.btf_vmlinux_value_type_id,
        }
    }

    pub fn readability(&self) -> Readability {
        match self.map_type.readability() {
            Readability::Iterable {
                value_kind: ValueKind::SocketCookie,
                ..
            } if self.value_size != 8 => Readability::NotIterable(
                "the kernel returns a socket map's entries (socket cookies) only when its values are 8 bytes",
            ),
            r => r,
        }
    }

    /// `NotIterable` error for this map, if it is not iterable by key (ring buffers
    /// are not: they are read by [`Map::read_ring`]).
    pub fn check_iterable(&self) -> Result<(), CaptureError> {
        match self.readability() {
            Readability::Iterable { .. } => Ok(()),
            Readability::Ring => Err(self.not_iterable(
                "it is a ring buffer: its records are read through mmap, not by key",
            )),
            Readability::NotIterable(reason) => Err(self.not_iterable(reason)),
        }
    }

    /// `NotIterable` error for this map, if `capture` cannot read it at all.
    pub fn check_capturable(&self) -> Result<(), CaptureError> {
        match self.readability() {
            Readability::NotIterable(reason) => Err(self.not_iterable(reason)),
            Readability::Iterable { .. } | Readability::Ring => Ok(()),
        }
    }

    /// The error for reading this map when it is not iterable.
    pub fn not_iterable(&self, reason: &str) -> CaptureError {
        CaptureError::NotIterable {
            id: self.id,
            name: self.name.clone(),
            type_name: self.type_name.clone(),
            reason: reason.to_string(),
        }
    }

    /// `map 12 "flows" (hash)` for messages.
    pub fn describe(&self) -> String {
        format!("map {} {:?} ({})", self.id, self.name, self.type_name)
    }
}

/// A BTF object read from the kernel.
#[derive(Clone, Debug)]
pub struct KernelBtf {
    pub data: Vec<u8>,
    pub id: u32,
    pub name: String,
    pub kernel: bool,
}

/// An open map (read-only fd, closed on drop) with its info. Holding the fd keeps the
/// map alive: it cannot vanish during a capture even if its program unloads.
#[derive(Debug)]
pub struct Map {
    pub(crate) fd: sys::MapFd,
    info: MapInfo,
    pinned_path: Option<PathBuf>,
}

impl Map {
    fn from_fd(fd: std::os::fd::OwnedFd, what: &dyn Fn() -> String) -> Result<Map, CaptureError> {
        let fd = sys::MapFd::new(fd)
            .map_err(|e| CaptureError::sys(format!("reading the info of {}", what()), e))?;
        let info = MapInfo::from_raw(fd.info());
        Ok(Map {
            fd,
            info,
            pinned_path: None,
        })
    }

    /// Opens map `id` read-only.
    pub fn open_id(id: u32) -> Result<Map, CaptureError> {
        let fd = sys::map_fd_by_id(id).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => CaptureError::NoSuchMap { id },
            _ => CaptureError::sys(format!("opening map {id} (BPF_MAP_GET_FD_BY_ID)"), e),
        })?;
        Map::from_fd(fd, &|| format!("map {id}"))
    }

    /// Opens the map pinned at `path` read-only.
    pub fn open_pinned(path: &Path) -> Result<Map, CaptureError> {
        let fd = sys::obj_get(path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => CaptureError::NotPinned {
                path: path.to_owned(),
            },
            _ => CaptureError::sys(
                format!("opening pinned {} (BPF_OBJ_GET)", path.display()),
                e,
            ),
        })?;
        let kind = fd_kind(&fd);
        if kind != "map" {
            return Err(CaptureError::NotAMap {
                path: path.to_owned(),
                kind,
            });
        }
        let mut map = Map::from_fd(fd, &|| path.display().to_string())?;
        map.pinned_path = Some(path.to_owned());
        Ok(map)
    }

    /// Opens the one map named `name` (the kernel keeps 15 bytes of a name).
    pub fn open_name(name: &str) -> Result<Map, CaptureError> {
        let mut found = Vec::new();
        for id in map_ids()? {
            match Map::open_id(id) {
                Ok(m) if m.info.name == name => found.push(m),
                Ok(_) | Err(CaptureError::NoSuchMap { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        match found.len() {
            0 => Err(CaptureError::NoMapNamed {
                name: name.to_string(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(CaptureError::AmbiguousName {
                name: name.to_string(),
                ids: found.iter().map(|m| m.info.id).collect(),
            }),
        }
    }

    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    pub fn pinned_path(&self) -> Option<&Path> {
        self.pinned_path.as_deref()
    }

    /// The map's BTF, if it has any.
    pub fn btf(&self) -> Result<Option<KernelBtf>, CaptureError> {
        if self.info.btf_id == 0 {
            return Ok(None);
        }
        read_btf(self.info.btf_id).map(Some)
    }
}

/// Reads BTF object `id` from the kernel.
pub fn read_btf(id: u32) -> Result<KernelBtf, CaptureError> {
    let what = || format!("reading BTF object {id}");
    let fd = sys::btf_fd_by_id(id).map_err(|e| CaptureError::sys(what(), e))?;
    let obj = sys::btf_info(fd.as_fd()).map_err(|e| CaptureError::sys(what(), e))?;
    Ok(KernelBtf {
        data: obj.data,
        id: obj.id,
        name: obj.name,
        kernel: obj.kernel,
    })
}

/// The kernel's own BTF, /sys/kernel/btf/vmlinux.
pub fn read_vmlinux_btf() -> Result<KernelBtf, CaptureError> {
    const PATH: &str = "/sys/kernel/btf/vmlinux";
    let data = std::fs::read(PATH).map_err(|e| CaptureError::sys(format!("reading {PATH}"), e))?;
    Ok(KernelBtf {
        data,
        id: 0,
        name: "vmlinux".into(),
        kernel: true,
    })
}

/// What a bpf fd refers to: `map`, `prog`, `link`, `btf`, ... from its anon inode name.
fn fd_kind(fd: &impl AsRawFd) -> String {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    match link.strip_prefix("anon_inode:") {
        Some("bpf-map") => "map".into(),
        Some("bpf-prog") => "program".into(),
        Some("bpf_link") | Some("bpf-link") => "link".into(),
        Some(other) => other.trim_start_matches("bpf-").to_string(),
        None => "object".into(),
    }
}

/// Ids of every map on the system, ascending.
pub fn map_ids() -> Result<Vec<u32>, CaptureError> {
    let mut ids = Vec::new();
    let mut id = 0;
    while let Some(next) = sys::map_get_next_id(id)
        .map_err(|e| CaptureError::sys("listing maps (BPF_MAP_GET_NEXT_ID)", e))?
    {
        ids.push(next);
        id = next;
    }
    Ok(ids)
}

/// Info of every map on the system; maps that vanish while listing are left out.
pub fn list_maps() -> Result<Vec<MapInfo>, CaptureError> {
    let mut maps = Vec::new();
    for id in map_ids()? {
        match Map::open_id(id) {
            Ok(m) => maps.push(m.info),
            Err(CaptureError::NoSuchMap { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(maps)
}
