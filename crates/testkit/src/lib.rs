//! Test inputs shared by mapsleuth's test suites: the corpus, and capture files built
//! from corpus dumps (one builder, not one per suite). Test code: it panics on a broken
//! corpus.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use mapsleuth_dump::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadStats, ValueKind,
};
use mapsleuth_dump::{read_file, DumpReadOptions};

/// The corpus directory.
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");

/// A path inside the corpus.
pub fn corpus(path: &str) -> PathBuf {
    PathBuf::from(CORPUS).join(path)
}

/// A capture file of map `flows` holding the entries of the corpus dump `dump` (as
/// `mapsleuth capture` would have read them), with the BTF of corpus/bpf/maps.bpf.o,
/// taken at `secs` after the epoch on `host`.
pub fn flows_capture_bytes(dump: &str, host: &str, secs: u64) -> Vec<u8> {
    flows_capture(dump, host, secs, true)
}

/// [`flows_capture_bytes`] of a map without BTF: the capture holds no types.
pub fn flows_capture_bytes_without_btf(dump: &str, host: &str, secs: u64) -> Vec<u8> {
    flows_capture(dump, host, secs, false)
}

fn flows_capture(dump: &str, host: &str, secs: u64, with_btf: bool) -> Vec<u8> {
    let bytes = mapsleuth_btf::BtfBytes::read(&format!("{CORPUS}/bpf/maps.bpf.o")).unwrap();
    let btf = mapsleuth_btf::Btf::parse(&bytes.data).unwrap();
    let key = btf.find_type("struct flow_key").unwrap();
    let value = btf.find_type("struct flow_stats").unwrap();
    let dump = &read_file(
        format!("{CORPUS}/dumps/{dump}"),
        &DumpReadOptions::default(),
    )
    .unwrap()[0];
    let mut records = Vec::new();
    for e in dump.entries() {
        records.extend_from_slice(e.key().unwrap());
        records.extend_from_slice(e.value().unwrap());
    }
    let source = CaptureHost {
        hostname: host.into(),
        kernel_release: "6.18.0".into(),
        kernel_version: String::new(),
        machine: "x86_64".into(),
        byte_order: ByteOrder::Little,
        possible_cpus: 2,
        tool: "test".into(),
    };
    let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(secs), source);
    let blob = with_btf.then(|| w.add_btf(bytes.data.clone(), Some(67), None, false));
    let typed = |id: u32| if with_btf { id } else { 0 };
    w.add_map(
        MapHeader {
            id: 116,
            map_type: 1,
            type_name: "hash".into(),
            name: "flows".into(),
            key_size: 16,
            value_size: 32,
            max_entries: 1024,
            map_flags: 0,
            map_extra: 0,
            ifindex: 0,
            btf_id: typed(67),
            btf_key_type_id: typed(key),
            btf_value_type_id: typed(value),
            btf_vmlinux_value_type_id: 0,
            btf_index: blob,
            pinned_path: None,
            per_cpu: false,
            values_per_entry: 1,
            value_kind: ValueKind::Data,
            record_size: 48,
            entry_count: dump.len() as u64,
            read: ReadStats::complete_batch("x", "y"),
            ring: None,
            outer_map_id: None,
        },
        records,
    )
    .unwrap();
    w.to_bytes()
}

/// One map of a [`fleet_capture_bytes`] capture: the corpus dump `dumps/DUMP` read as
/// map `map` of corpus/bpf/maps.bpf.o (its BTF types, per-CPU when the dump is).
pub struct FleetMap<'a> {
    pub dump: &'a str,
    pub map: &'a str,
    pub id: u32,
}

/// The two maps of a host of the corpus fleet: `flows` from the corpus dump `flows`
/// (`flows.json` or `flows.after.json`, a host whose flows changed) and the per-CPU
/// `pcpu_hash_stats`.
pub fn corpus_fleet_maps(flows: &str) -> [FleetMap<'_>; 2] {
    [
        FleetMap {
            dump: flows,
            map: "flows",
            id: 116,
        },
        FleetMap {
            dump: "pcpu_hash_stats.json",
            map: "pcpu_hash_stats",
            id: 117,
        },
    ]
}

/// The BTF of corpus/bpf/maps.bpf.o and its map definitions.
fn maps_object() -> (Vec<u8>, Vec<mapsleuth_btf::MapDef>) {
    let bytes = mapsleuth_btf::BtfBytes::read(&format!("{CORPUS}/bpf/maps.bpf.o")).unwrap();
    let btf = mapsleuth_btf::Btf::parse(&bytes.data).unwrap();
    let table = btf.to_table().unwrap();
    let defs = mapsleuth_btf::discover_maps(&btf, &table, &bytes.legacy_maps).unwrap();
    (bytes.data.clone(), defs)
}

fn fleet_writer(host: &str, kernel: &str, secs: u64) -> CaptureWriter {
    let source = CaptureHost {
        hostname: host.into(),
        kernel_release: kernel.into(),
        kernel_version: String::new(),
        machine: "x86_64".into(),
        byte_order: ByteOrder::Little,
        possible_cpus: 2,
        tool: "test".into(),
    };
    CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(secs), source)
}

/// The records of one map: key then value (one per CPU), `count` of them.
struct Records {
    key_size: usize,
    value_size: usize,
    cpus: usize,
    count: usize,
    bytes: Vec<u8>,
}

fn add_map(w: &mut CaptureWriter, def: &mapsleuth_btf::MapDef, id: u32, blob: u32, r: Records) {
    w.add_map(
        MapHeader {
            id,
            map_type: def.map_type,
            type_name: def.map_type_name.clone(),
            name: def.name.clone(),
            key_size: r.key_size as u32,
            value_size: r.value_size as u32,
            max_entries: def.max_entries.unwrap_or(1024).max(r.count as u32),
            map_flags: def.map_flags,
            map_extra: 0,
            ifindex: 0,
            btf_id: 67,
            btf_key_type_id: def.key_type_id.unwrap_or(0),
            btf_value_type_id: def.value_type_id.unwrap_or(0),
            btf_vmlinux_value_type_id: 0,
            btf_index: Some(blob),
            pinned_path: None,
            per_cpu: r.cpus > 1,
            values_per_entry: r.cpus as u32,
            value_kind: ValueKind::Data,
            record_size: (r.key_size + r.value_size * r.cpus) as u64,
            entry_count: r.count as u64,
            read: ReadStats::complete_batch("x", "y"),
            ring: None,
            outer_map_id: None,
        },
        r.bytes,
    )
    .unwrap();
}

/// A capture of several maps taken on `host` running `kernel`, at `secs` after the
/// epoch: what a fleet of hosts capturing the same program looks like.
pub fn fleet_capture_bytes(host: &str, kernel: &str, secs: u64, maps: &[FleetMap<'_>]) -> Vec<u8> {
    let (btf, defs) = maps_object();
    let mut w = fleet_writer(host, kernel, secs);
    let blob = w.add_btf(btf, Some(67), None, false);
    for m in maps {
        let def = defs.iter().find(|d| d.name == m.map).unwrap();
        let dump = &read_file(
            format!("{CORPUS}/dumps/{}", m.dump),
            &DumpReadOptions::default(),
        )
        .unwrap()[0];
        let cpus = if dump.is_percpu() {
            dump.cpu_count().unwrap()
        } else {
            1
        };
        let mut bytes = Vec::new();
        for e in dump.entries() {
            bytes.extend_from_slice(e.key().unwrap());
            for v in e.values() {
                bytes.extend_from_slice(v);
            }
        }
        let r = Records {
            key_size: dump.key_size().unwrap(),
            value_size: dump.value_size().unwrap(),
            cpus,
            count: dump.len(),
            bytes,
        };
        add_map(&mut w, def, m.id, blob, r);
    }
    w.to_bytes()
}

/// A capture of map `flows` (struct flow_key → struct flow_stats) with `n` made-up
/// entries, `seed` varying the values: benchmark input of any size.
pub fn synthetic_flows_capture_bytes(host: &str, secs: u64, n: usize, seed: u64) -> Vec<u8> {
    let (btf, defs) = maps_object();
    let def = defs.iter().find(|d| d.name == "flows").unwrap();
    let mut w = fleet_writer(host, "6.18.0", secs);
    let blob = w.add_btf(btf, Some(67), None, false);
    let mut bytes = Vec::with_capacity(n * 48);
    for i in 0..n as u64 {
        // flow_key: saddr, daddr, sport, dport, proto, 3 bytes of padding.
        bytes.extend_from_slice(&(0x0a00_0000 | i as u32).to_be_bytes());
        bytes.extend_from_slice(&0xc0a8_0001u32.to_be_bytes());
        bytes.extend_from_slice(&((i % 60_000) as u16 + 1024).to_be_bytes());
        bytes.extend_from_slice(&443u16.to_be_bytes());
        bytes.extend_from_slice(&[6, 0, 0, 0]);
        // flow_stats: packets, bytes, then the rest as made-up counters.
        bytes.extend_from_slice(&(i + seed).to_le_bytes());
        bytes.extend_from_slice(&(64 * (i + seed)).to_le_bytes());
        bytes.extend_from_slice(&[0u8; 8]);
        bytes.extend_from_slice(&(1000 * i).to_le_bytes());
    }
    let r = Records {
        key_size: 16,
        value_size: 32,
        cpus: 1,
        count: n,
        bytes,
    };
    add_map(&mut w, def, 116, blob, r);
    w.to_bytes()
}
