//! Test inputs shared by mapsleuth's test suites: the corpus, and capture files built
//! from corpus dumps (one builder, not one per suite). Test code: it panics on a broken
//! corpus.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use mapsleuth_dump::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadMethod, ReadStats, ValueKind,
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
            read: ReadStats {
                method: ReadMethod::Batch,
                started_at: "x".into(),
                finished_at: "y".into(),
                vanished_keys: 0,
                revisits: 0,
                complete: true,
            },
            ring: None,
            outer_map_id: None,
        },
        records,
    )
    .unwrap();
    w.to_bytes()
}
