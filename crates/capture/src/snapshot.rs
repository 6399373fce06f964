//! Capturing selected maps into a capture file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::capture_file::rfc3339_utc;
use crate::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadMethod, ReadStats, SkippedMap, ValueKind,
};
use crate::error::CaptureError;
use crate::map::{map_ids, read_btf, read_vmlinux_btf, Map, MapInfo, Readability};
use crate::read::{MapEntries, ReadOptions};
use crate::ring::RingRecords;

/// Which maps to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Id(u32),
    /// The one map with this name (an error when several have it).
    Name(String),
    /// The map pinned at this path.
    Pinned(PathBuf),
    /// Every iterable map; the others are listed in the header's `skipped`.
    All,
}

/// Capture settings.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    pub read: ReadOptions,
    /// Store each map's BTF blob (deduplicated).
    pub with_btf: bool,
    /// Also store /sys/kernel/btf/vmlinux (as a blob named `vmlinux`).
    pub with_vmlinux_btf: bool,
    /// Follow the values of arrays/hashes of maps to their inner maps (by id) and
    /// capture each as its own map (`outer_map_id` links it back).
    pub recursive: bool,
    /// Inner maps captured at most by `recursive`; the others are listed as skipped.
    pub max_inner_maps: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            read: ReadOptions::default(),
            with_btf: true,
            with_vmlinux_btf: false,
            recursive: false,
            max_inner_maps: 1024,
        }
    }
}

/// Progress of a capture, for the CLI's progress bars.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Map `index` of `total` is about to be read.
    MapStarted {
        index: usize,
        total: usize,
        info: &'a MapInfo,
    },
    /// Entries read so far from map `index`.
    Entries {
        index: usize,
        read: u64,
        max_entries: u32,
    },
    /// Map `index` is done.
    MapDone { index: usize, entries: u64 },
    /// A map selected by `--all` is not captured.
    MapSkipped { id: u32, reason: &'a str },
}

/// The host description stored in every capture.
pub fn source() -> CaptureHost {
    let (hostname, kernel_release, kernel_version, machine) =
        crate::sys::uname().unwrap_or_default();
    CaptureHost {
        hostname,
        kernel_release,
        kernel_version,
        machine,
        byte_order: ByteOrder::native(),
        possible_cpus: crate::cpus::possible_cpus().unwrap_or(0) as u32,
        tool: concat!("mapsleuth-capture ", env!("CARGO_PKG_VERSION")).to_string(),
    }
}

/// Opens the selected maps. Explicit selections fail on a missing or non-iterable map;
/// `All` skips them and says why.
fn open_selected(
    selectors: &[Selector],
    skipped: &mut Vec<SkippedMap>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<(Map, bool)>, CaptureError> {
    let mut maps: Vec<(Map, bool)> = Vec::new();
    let mut have = HashSet::new();
    // `explicit`: selected by id, name or pin (errors fail the capture), not by `All`.
    let mut push = |m: Map, explicit: bool, maps: &mut Vec<(Map, bool)>| {
        if have.insert(m.info().id) {
            maps.push((m, explicit));
        } else if explicit {
            if let Some(e) = maps.iter_mut().find(|(e, _)| e.info().id == m.info().id) {
                e.1 = true;
            }
        }
    };
    for sel in selectors {
        match sel {
            Selector::Id(id) => push(Map::open_id(*id)?, true, &mut maps),
            Selector::Name(name) => push(Map::open_name(name)?, true, &mut maps),
            Selector::Pinned(path) => push(Map::open_pinned(path)?, true, &mut maps),
            Selector::All => {
                for id in map_ids()? {
                    let map = match Map::open_id(id) {
                        Ok(m) => m,
                        Err(CaptureError::NoSuchMap { .. }) => {
                            let reason = "it vanished before it could be opened";
                            progress(Progress::MapSkipped { id, reason });
                            skipped.push(SkippedMap {
                                id,
                                name: String::new(),
                                type_name: String::new(),
                                reason: reason.into(),
                            });
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if let Readability::NotIterable(reason) = map.info().readability() {
                        progress(Progress::MapSkipped { id, reason });
                        skipped.push(SkippedMap {
                            id,
                            name: map.info().name.clone(),
                            type_name: map.info().type_name.clone(),
                            reason: format!("not iterable: {reason}"),
                        });
                        continue;
                    }
                    push(map, false, &mut maps);
                }
            }
        }
    }
    for (m, explicit) in &maps {
        if *explicit {
            m.info().check_capturable()?;
        }
    }
    Ok(maps)
}

/// Captures the selected maps; write the result with
/// [`CaptureWriter::write_atomic`].
pub fn capture(
    selectors: &[Selector],
    opts: &CaptureOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<CaptureWriter, CaptureError> {
    let started = SystemTime::now();
    let mut skipped = Vec::new();
    let maps = open_selected(selectors, &mut skipped, progress)?;
    let mut writer = CaptureWriter::new(started, source());
    for s in skipped {
        writer.skip_map(s);
    }
    if opts.with_vmlinux_btf {
        let btf = read_vmlinux_btf()?;
        writer.add_btf(btf.data, None, Some(btf.name), true);
    }
    let mut btf_index: HashMap<u32, u32> = HashMap::new();
    let total = maps.len();
    let mut inner: Vec<(u32, u32)> = Vec::new();
    for (index, (map, explicit)) in maps.iter().enumerate() {
        let mut one = One {
            writer: &mut writer,
            btf_index: &mut btf_index,
            opts,
            progress: &mut *progress,
        };
        if let Some(ids) = one.capture_map(map, *explicit, index, total, None)? {
            inner.extend(ids.into_iter().map(|id| (id, map.info().id)));
        }
    }
    if opts.recursive {
        let have: HashSet<u32> = maps.iter().map(|(m, _)| m.info().id).collect();
        let mut one = One {
            writer: &mut writer,
            btf_index: &mut btf_index,
            opts,
            progress: &mut *progress,
        };
        one.capture_inner(inner, have, total)?;
    }
    writer.set_finished(SystemTime::now());
    Ok(writer)
}

/// What capturing one map needs of the whole capture.
struct One<'w> {
    writer: &'w mut CaptureWriter,
    btf_index: &'w mut HashMap<u32, u32>,
    opts: &'w CaptureOptions,
    progress: &'w mut dyn FnMut(Progress<'_>),
}

impl One<'_> {
    /// Reads `map` and adds it to the capture; for a map of maps, hands back the inner
    /// map ids of its values (in entry order, each once). A map that cannot be read is
    /// skipped unless `explicit`.
    fn capture_map(
        &mut self,
        map: &Map,
        explicit: bool,
        index: usize,
        total: usize,
        outer: Option<u32>,
    ) -> Result<Option<Vec<u32>>, CaptureError> {
        let info = map.info();
        info.check_capturable()?;
        (self.progress)(Progress::MapStarted { index, total, info });
        let btf = if self.opts.with_btf && info.btf_id != 0 {
            Some(btf_blob_index(self.writer, self.btf_index, info.btf_id)?)
        } else {
            None
        };
        let content = match read_map(map, self.opts, index, self.progress) {
            Ok(content) => content,
            // With `All` (and for inner maps), one unreadable map does not spoil the others.
            Err(e) if !explicit && !e.is_permission_denied() => {
                let reason = e.to_string();
                self.skip(info.id, &info.name, &info.type_name, reason);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let ids = match &content {
            MapContent::Entries {
                entries,
                value_kind: ValueKind::MapId,
                ..
            } => Some(inner_ids(entries, info.key_size as usize)),
            _ => None,
        };
        let (mut header, block) = map_header(map, btf, content);
        header.outer_map_id = outer;
        (self.progress)(Progress::MapDone {
            index,
            entries: header.entry_count,
        });
        self.writer.add_map(header, block)?;
        Ok(ids)
    }

    fn skip(&mut self, id: u32, name: &str, type_name: &str, reason: String) {
        (self.progress)(Progress::MapSkipped {
            id,
            reason: &reason,
        });
        self.writer.skip_map(SkippedMap {
            id,
            name: name.to_string(),
            type_name: type_name.to_string(),
            reason,
        });
    }

    /// Captures the inner maps `(inner id, outer id)` not captured yet, at most
    /// `max_inner_maps`; a vanished one is listed as skipped.
    fn capture_inner(
        &mut self,
        inner: Vec<(u32, u32)>,
        mut have: HashSet<u32>,
        first_index: usize,
    ) -> Result<(), CaptureError> {
        let todo: Vec<(u32, u32)> = inner
            .into_iter()
            .filter(|(id, _)| have.insert(*id))
            .collect();
        let total = first_index + todo.len().min(self.opts.max_inner_maps);
        for (n, &(id, outer)) in todo.iter().enumerate() {
            if n >= self.opts.max_inner_maps {
                let reason = format!(
                    "inner map of map id {outer}: over the limit of {} inner maps \
                     (--max-inner-maps)",
                    self.opts.max_inner_maps
                );
                self.skip(id, "", "", reason);
                continue;
            }
            let map = match Map::open_id(id) {
                Ok(m) => m,
                Err(CaptureError::NoSuchMap { .. }) => {
                    let reason = format!(
                        "inner map of map id {outer}: it vanished before it could be opened"
                    );
                    self.skip(id, "", "", reason);
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.capture_map(&map, false, first_index + n, total, Some(outer))?;
        }
        Ok(())
    }
}

/// The inner map ids a map of maps' entries hold (each record: key ‖ u32 id), each
/// once, in entry order.
fn inner_ids(entries: &MapEntries, key_size: usize) -> Vec<u32> {
    let mut seen = HashSet::new();
    let size = entries.record_size.max(1);
    entries
        .records
        .chunks_exact(size)
        .filter_map(|rec| {
            let b = rec.get(key_size..key_size + 4)?;
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        })
        .filter(|&id| id != 0 && seen.insert(id))
        .collect()
}

/// The index of BTF object `btf_id`'s blob in the capture, read and added once.
fn btf_blob_index(
    writer: &mut CaptureWriter,
    btf_index: &mut HashMap<u32, u32>,
    btf_id: u32,
) -> Result<u32, CaptureError> {
    if let Some(&i) = btf_index.get(&btf_id) {
        return Ok(i);
    }
    let b = read_btf(btf_id)?;
    let i = writer.add_btf(
        b.data,
        Some(b.id),
        Some(b.name).filter(|n| !n.is_empty()),
        b.kernel,
    );
    btf_index.insert(btf_id, i);
    Ok(i)
}

/// What was read of one map.
enum MapContent {
    Entries {
        entries: MapEntries,
        per_cpu: bool,
        value_kind: ValueKind,
    },
    Ring(RingRecords),
}

fn read_map(
    map: &Map,
    opts: &CaptureOptions,
    index: usize,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<MapContent, CaptureError> {
    let info = map.info();
    let max_entries = info.max_entries;
    match info.readability() {
        Readability::Iterable {
            per_cpu,
            value_kind,
        } => {
            let entries = map.read_entries(&opts.read, &mut |read| {
                progress(Progress::Entries {
                    index,
                    read,
                    max_entries,
                })
            })?;
            Ok(MapContent::Entries {
                entries,
                per_cpu,
                value_kind,
            })
        }
        Readability::Ring => map.read_ring().map(MapContent::Ring),
        Readability::NotIterable(reason) => Err(info.not_iterable(reason)),
    }
}

/// The capture file's header for a map that was read, and its block.
fn map_header(map: &Map, btf_index: Option<u32>, content: MapContent) -> (MapHeader, Vec<u8>) {
    let info = map.info();
    let mut header = MapHeader {
        id: info.id,
        map_type: info.map_type.0,
        type_name: info.type_name.clone(),
        name: info.name.clone(),
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        map_flags: info.map_flags,
        map_extra: info.map_extra,
        ifindex: info.ifindex,
        btf_id: info.btf_id,
        btf_key_type_id: info.btf_key_type_id,
        btf_value_type_id: info.btf_value_type_id,
        btf_vmlinux_value_type_id: info.btf_vmlinux_value_type_id,
        btf_index,
        pinned_path: map.pinned_path().map(|p| p.to_string_lossy().into_owned()),
        per_cpu: false,
        values_per_entry: 1,
        value_kind: ValueKind::Data,
        record_size: u64::from(info.key_size) + u64::from(info.value_size),
        entry_count: 0,
        read: ReadStats {
            method: ReadMethod::Mmap,
            started_at: String::new(),
            finished_at: String::new(),
            vanished_keys: 0,
            revisits: 0,
            complete: true,
        },
        ring: None,
        outer_map_id: None,
    };
    match content {
        MapContent::Entries {
            entries,
            per_cpu,
            value_kind,
        } => {
            header.per_cpu = per_cpu;
            header.values_per_entry = entries.values_per_entry;
            header.value_kind = value_kind;
            header.record_size = entries.record_size as u64;
            header.entry_count = entries.count;
            header.read = ReadStats {
                method: entries.method,
                started_at: rfc3339_utc(entries.started),
                finished_at: rfc3339_utc(entries.finished),
                vanished_keys: entries.vanished_keys,
                revisits: entries.revisits,
                complete: entries.complete,
            };
            (header, entries.records)
        }
        MapContent::Ring(ring) => {
            header.entry_count = ring.count;
            header.read.started_at = rfc3339_utc(ring.started);
            header.read.finished_at = rfc3339_utc(ring.finished);
            // Complete: every record up to the producer position was stored.
            header.read.complete = ring.state.problem.is_none()
                && ring.state.busy_at.is_none()
                && ring.state.overwritten == 0;
            header.ring = Some(ring.state);
            (header, ring.block)
        }
    }
}

/// What [`capture_to_file`] wrote.
#[derive(Clone, Debug)]
pub struct CaptureSummary {
    pub snapshot_id: String,
    pub maps: usize,
    pub entries: u64,
    pub skipped: usize,
    pub sha256: String,
}

/// Captures the selected maps and writes them atomically to `path`.
pub fn capture_to_file(
    selectors: &[Selector],
    opts: &CaptureOptions,
    path: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<CaptureSummary, CaptureError> {
    let writer = capture(selectors, opts, progress)?;
    let digest = writer.write_atomic(path)?;
    let h = writer.header();
    Ok(CaptureSummary {
        snapshot_id: h.snapshot_id.clone(),
        maps: h.maps.len(),
        entries: h.maps.iter().map(|m| m.entry_count).sum(),
        skipped: h.skipped.len(),
        sha256: mapsleuth_dump::hex::encode(&digest),
    })
}

/// What [`One::capture_inner`] skips when asked for the inner map `inner` of `outer`
/// alone (tests: an inner map that vanished between the outer map's read and its own).
#[cfg(test)]
pub(crate) fn test_one_inner(inner: u32, outer: u32, opts: &CaptureOptions) -> Vec<SkippedMap> {
    let mut writer = CaptureWriter::new(SystemTime::now(), source());
    let mut btf_index = HashMap::new();
    let mut progress = |_: Progress<'_>| {};
    let mut one = One {
        writer: &mut writer,
        btf_index: &mut btf_index,
        opts,
        progress: &mut progress,
    };
    let captured = one.capture_inner(vec![(inner, outer)], HashSet::new(), 0);
    assert!(captured.is_ok(), "{captured:?}");
    writer.header().skipped.clone()
}
