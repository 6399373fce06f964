//! Fuzzes the capture file reader: any bytes must parse or fail with an error, never
//! panic, and a parsed file's entries (ring records too) must all be readable, and its
//! inner maps' links (`outer_map_id`) name a map of maps of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapsleuth_capture::capture_file::{Capture, CaptureLimits};
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    // Small limits keep hostile entry counts from dominating the run time.
    let limits = CaptureLimits {
        max_entries_per_map: 1 << 20,
        ..CaptureLimits::default()
    };
    let _ = Capture::parse_with_limits(data, &limits);
    // Random bytes almost never carry a valid digest: fix it up so that the code behind
    // the digest check (header consistency, entry access) is fuzzed too.
    if data.len() < 48 {
        return;
    }
    let mut fixed = data.to_vec();
    let body = fixed.len() - 32;
    let digest = Sha256::digest(&fixed[..body]);
    fixed[body..].copy_from_slice(&digest);
    let Ok(cap) = Capture::parse_with_limits(&fixed[..], &limits) else {
        return;
    };
    for i in 0..cap.header().btf.len() {
        let _ = cap.btf_blob(i);
    }
    let maps = &cap.header().maps;
    for map in cap.maps() {
        if let Some(outer) = map.header.outer_map_id {
            assert!(maps.iter().any(|m| m.id == outer), "dangling outer_map_id {outer}");
        }
        for r in map.ring_records() {
            assert!(r.data.len() as u64 <= map.header.ring.as_ref().map_or(0, |s| s.data_size));
            std::hint::black_box(r.position);
        }
        let _ = cap.map_btf(map.header);
        for e in map.entries() {
            for v in e.values() {
                std::hint::black_box(v);
            }
            std::hint::black_box(e.key);
        }
    }
});
