//! Capturing selected maps into a capture file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::capture_file::rfc3339_utc;
use crate::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadStats, SkippedMap,
};
use crate::error::CaptureError;
use crate::map::{map_ids, read_btf, read_vmlinux_btf, Map, MapInfo, Readability};
use crate::read::ReadOptions;

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
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            read: ReadOptions::default(),
            with_btf: true,
            with_vmlinux_btf: false,
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
            m.info().check_iterable()?;
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
    for (index, (map, explicit)) in maps.iter().enumerate() {
        let info = map.info();
        let (per_cpu, value_kind) = match info.readability() {
            Readability::Iterable {
                per_cpu,
                value_kind,
            } => (per_cpu, value_kind),
            Readability::NotIterable(reason) => return Err(info.not_iterable(reason)),
        };
        progress(Progress::MapStarted { index, total, info });
        let btf = if opts.with_btf && info.btf_id != 0 {
            match btf_index.get(&info.btf_id) {
                Some(&i) => Some(i),
                None => {
                    let b = read_btf(info.btf_id)?;
                    let i = writer.add_btf(
                        b.data,
                        Some(b.id),
                        Some(b.name).filter(|n| !n.is_empty()),
                        b.kernel,
                    );
                    btf_index.insert(info.btf_id, i);
                    Some(i)
                }
            }
        } else {
            None
        };
        let max_entries = info.max_entries;
        let entries = match map.read_entries(&opts.read, &mut |read| {
            progress(Progress::Entries {
                index,
                read,
                max_entries,
            })
        }) {
            Ok(entries) => entries,
            // With `All`, one unreadable map does not spoil the others.
            Err(e) if !explicit && !e.is_permission_denied() => {
                let reason = e.to_string();
                progress(Progress::MapSkipped {
                    id: info.id,
                    reason: &reason,
                });
                writer.skip_map(SkippedMap {
                    id: info.id,
                    name: info.name.clone(),
                    type_name: info.type_name.clone(),
                    reason,
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        progress(Progress::MapDone {
            index,
            entries: entries.count,
        });
        let header = MapHeader {
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
            btf_index: btf,
            pinned_path: map.pinned_path().map(|p| p.to_string_lossy().into_owned()),
            per_cpu,
            values_per_entry: entries.values_per_entry,
            value_kind,
            record_size: entries.record_size as u64,
            entry_count: entries.count,
            read: ReadStats {
                method: entries.method,
                started_at: rfc3339_utc(entries.started),
                finished_at: rfc3339_utc(entries.finished),
                vanished_keys: entries.vanished_keys,
                revisits: entries.revisits,
                complete: entries.complete,
            },
        };
        writer.add_map(header, entries.records)?;
    }
    writer.set_finished(SystemTime::now());
    Ok(writer)
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
