//! A sample capture for the tests of the format's modules.

use std::time::{Duration, UNIX_EPOCH};

use super::header::{ByteOrder, CaptureHost, MapHeader, ReadMethod, ReadStats, ValueKind};
use super::writer::CaptureWriter;

pub(super) fn host() -> CaptureHost {
    CaptureHost {
        hostname: "host".into(),
        kernel_release: "6.18.0".into(),
        kernel_version: "#1 SMP".into(),
        machine: "x86_64".into(),
        byte_order: ByteOrder::Little,
        possible_cpus: 2,
        tool: "test".into(),
    }
}

fn map_header(id: u32, key_size: u32, value_size: u32, cpus: u32, n: u64) -> MapHeader {
    MapHeader {
        id,
        map_type: if cpus > 1 { 5 } else { 1 },
        type_name: if cpus > 1 { "percpu_hash" } else { "hash" }.into(),
        name: format!("m{id}"),
        key_size,
        value_size,
        max_entries: 100,
        map_flags: 0,
        map_extra: 0,
        ifindex: 0,
        btf_id: 0,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        btf_vmlinux_value_type_id: 0,
        btf_index: None,
        pinned_path: None,
        per_cpu: cpus > 1,
        values_per_entry: cpus,
        value_kind: ValueKind::Data,
        record_size: u64::from(key_size) + u64::from(value_size) * u64::from(cpus),
        entry_count: n,
        read: ReadStats::complete_batch("x", "y"),
        ring: None,
        outer_map_id: None,
    }
}

pub(super) fn sample() -> Vec<u8> {
    let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), host());
    let b0 = w.add_btf(vec![1, 2, 3, 4], Some(7), None, false);
    let b1 = w.add_btf(vec![1, 2, 3, 4], Some(8), None, false);
    assert_eq!(b0, b1, "identical BTF is stored once");
    let mut h = map_header(1, 4, 8, 1, 3);
    h.btf_index = Some(b0);
    let mut recs = Vec::new();
    for k in 0u32..3 {
        recs.extend_from_slice(&k.to_le_bytes());
        recs.extend_from_slice(&u64::from(k * 10).to_le_bytes());
    }
    w.add_map(h, recs).unwrap();
    let mut recs = Vec::new();
    for k in 0u32..2 {
        recs.extend_from_slice(&k.to_le_bytes());
        recs.extend_from_slice(&[k as u8; 3]);
        recs.extend_from_slice(&[k as u8 + 100; 3]);
    }
    w.add_map(map_header(2, 4, 3, 2, 2), recs).unwrap();
    w.add_map(map_header(3, 0, 0, 1, 0), Vec::new()).unwrap();
    w.to_bytes()
}

/// A ring block of `records` at ascending positions.
pub(super) fn ring_block(records: &[&[u8]]) -> Vec<u8> {
    let mut block = Vec::new();
    let mut pos = 64u64;
    for r in records {
        block.extend_from_slice(&pos.to_le_bytes());
        block.extend_from_slice(&(r.len() as u32).to_le_bytes());
        block.extend_from_slice(r);
        pos += (r.len() as u64 + 8).div_ceil(8) * 8;
    }
    block
}

/// A hash map followed by a ring buffer map holding `records`.
pub(super) fn ring_sample(records: &[&[u8]]) -> Vec<u8> {
    let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), host());
    w.add_map(map_header(1, 4, 4, 1, 1), vec![1, 0, 0, 0, 2, 0, 0, 0])
        .unwrap();
    let block = ring_block(records);
    let mut h = map_header(2, 0, 0, 1, records.len() as u64);
    h.map_type = 27;
    h.type_name = "ringbuf".into();
    h.max_entries = 4096;
    h.read.method = ReadMethod::Mmap;
    h.ring = Some(super::header::RingState {
        data_size: 4096,
        consumer_pos: 64,
        producer_pos: 64 + block.len() as u64,
        consumer_pos_after: 64,
        block_size: block.len() as u64,
        discarded: 1,
        busy_at: None,
        overwritten: 0,
        problem: None,
    });
    w.add_map(h, block).unwrap();
    w.to_bytes()
}
