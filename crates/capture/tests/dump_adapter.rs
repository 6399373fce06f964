//! `analyze dump`, `diff` and `export` read capture files through `mapsleuth-dump`'s
//! adapter: a capture written by `capture_to_file` must read back through
//! `mapsleuth_dump::read_file` as the same maps, entry for entry and byte for byte, with
//! the map's BTF still in the file. Real maps, so root is needed: where bpf(2) is refused
//! the test prints a SKIP line and returns.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsFd;

use mapsleuth_capture::capture_file::Capture;
use mapsleuth_capture::testing::{btf_load, map_create, MapFd, MapSpec};
use mapsleuth_capture::{capture_to_file, CaptureOptions, Progress, Selector};
use mapsleuth_dump::hex::encode as hex;
use mapsleuth_dump::{DumpFormat, EntryKind};

const HASH: u32 = 1;
const ARRAY: u32 = 2;
const PERCPU_HASH: u32 = 5;
const LPM_TRIE: u32 = 11;
const BPF_F_NO_PREALLOC: u32 = 1;

/// Straight to stderr: libtest captures `eprintln!` of passing tests.
fn skip(message: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP dump_adapter: {message}");
}

fn create(spec: &MapSpec, btf: Option<std::os::fd::BorrowedFd<'_>>) -> Option<MapFd> {
    match map_create(spec, btf, None) {
        Ok(fd) => Some(MapFd::new(fd).unwrap()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOSYS)
            ) =>
        {
            skip(&format!(
                "bpf(2) refused ({e}); run as root to exercise live capture"
            ));
            None
        }
        Err(e) => panic!("BPF_MAP_CREATE {}: {e}", spec.name),
    }
}

/// [1] int (4 bytes, signed), [2] struct val { int a; int b; }.
fn small_btf() -> Vec<u8> {
    let strings = b"\0int\0val\0a\0b\0";
    let mut types = Vec::new();
    let mut u = |v: u32| types.extend_from_slice(&v.to_le_bytes());
    u(1); // name "int"
    u(1 << 24); // INT
    u(4);
    u((1 << 24) | 32); // signed, 32 bits
    u(5); // name "val"
    u((4 << 24) | 2); // STRUCT, 2 members
    u(8);
    for (name, off) in [(9u32, 0u32), (11, 32)] {
        u(name);
        u(1);
        u(off);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&0xEB9F_u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    for v in [24u32, 0, types.len() as u32, types.len() as u32] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    b.extend_from_slice(&types);
    b.extend_from_slice(strings);
    b
}

/// What one map should read back as: key -> the value of each CPU (one for other maps).
type Want = BTreeMap<Vec<u8>, Vec<Vec<u8>>>;

fn byte(k: u32, i: usize) -> u8 {
    (k.wrapping_mul(2_654_435_761) >> (i % 24)) as u8 ^ i as u8
}

#[test]
fn captures_read_back_through_mapsleuth_dump() {
    let Some(probe) = create(
        &MapSpec {
            map_type: ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            name: "ms_probe".into(),
            ..MapSpec::default()
        },
        None,
    ) else {
        return;
    };
    drop(probe);
    let ncpus = mapsleuth_capture::cpus::possible_cpus().unwrap();

    // 1. A hash map with BTF, enough entries for several batches.
    let blob = small_btf();
    let btf = btf_load(&blob).unwrap_or_else(|(e, log)| panic!("BTF_LOAD: {e}\n{log}"));
    let hash = create(
        &MapSpec {
            map_type: HASH,
            key_size: 4,
            value_size: 8,
            max_entries: 6000,
            name: "ms_da_hash".into(),
            btf_key_type_id: 1,
            btf_value_type_id: 2,
            ..MapSpec::default()
        },
        Some(btf.as_fd()),
    )
    .unwrap();
    let mut want_hash = Want::new();
    for k in 0u32..5000 {
        let key = (k as i32 - 2500).to_le_bytes();
        let v: Vec<u8> = (0..8).map(|i| byte(k, i)).collect();
        hash.update(&key, &v, 0).unwrap();
        want_hash.insert(key.to_vec(), vec![v]);
    }

    // 2. Per-CPU hash, 12-byte values (the kernel pads each CPU's copy to 16 bytes).
    let pcpu = create(
        &MapSpec {
            map_type: PERCPU_HASH,
            key_size: 4,
            value_size: 12,
            max_entries: 64,
            name: "ms_da_pcpu".into(),
            ..MapSpec::default()
        },
        None,
    )
    .unwrap();
    let mut want_pcpu = Want::new();
    for k in 0u32..40 {
        let mut kernel = vec![0u8; 16 * ncpus];
        let mut values = Vec::new();
        for cpu in 0..ncpus {
            let v: Vec<u8> = (0..12).map(|i| byte(k * 64 + cpu as u32, i)).collect();
            kernel[cpu * 16..cpu * 16 + 12].copy_from_slice(&v);
            values.push(v);
        }
        pcpu.update(&k.to_le_bytes(), &kernel, 0).unwrap();
        want_pcpu.insert(k.to_le_bytes().to_vec(), values);
    }

    // 3. An array: every slot is an entry, written or not.
    let array = create(
        &MapSpec {
            map_type: ARRAY,
            key_size: 4,
            value_size: 20,
            max_entries: 50,
            name: "ms_da_array".into(),
            ..MapSpec::default()
        },
        None,
    )
    .unwrap();
    let mut want_array = Want::new();
    for k in 0u32..50 {
        let v: Vec<u8> = if k % 3 == 0 {
            (0..20).map(|i| byte(k, i)).collect()
        } else {
            vec![0; 20]
        };
        if k % 3 == 0 {
            array.update(&k.to_le_bytes(), &v, 0).unwrap();
        }
        want_array.insert(k.to_le_bytes().to_vec(), vec![v]);
    }

    // 4. An LPM trie (the kernel's generic batch lookup).
    let lpm = create(
        &MapSpec {
            map_type: LPM_TRIE,
            key_size: 8,
            value_size: 4,
            max_entries: 16,
            map_flags: BPF_F_NO_PREALLOC,
            name: "ms_da_lpm".into(),
            ..MapSpec::default()
        },
        None,
    )
    .unwrap();
    let mut want_lpm = Want::new();
    for (i, (prefix, addr)) in [
        (8u32, [10u8, 0, 0, 0]),
        (24, [192, 168, 1, 0]),
        (32, [1, 2, 3, 4]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut key = prefix.to_le_bytes().to_vec();
        key.extend_from_slice(&addr);
        let v = (i as u32 + 7).to_le_bytes();
        lpm.update(&key, &v, 0).unwrap();
        want_lpm.insert(key, vec![v.to_vec()]);
    }

    let maps = [
        (&hash, want_hash),
        (&pcpu, want_pcpu),
        (&array, want_array),
        (&lpm, want_lpm),
    ];
    let selectors: Vec<Selector> = maps
        .iter()
        .map(|(m, _)| Selector::Id(m.info().id))
        .collect();
    let dir = std::env::temp_dir().join(format!("ms-da-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("read-back.mscap");
    let mut progress_done = 0;
    let summary = capture_to_file(&selectors, &CaptureOptions::default(), &path, &mut |p| {
        if let Progress::MapDone { .. } = p {
            progress_done += 1;
        }
    })
    .unwrap();
    assert_eq!(progress_done, maps.len());
    assert_eq!(summary.maps, maps.len());
    assert_eq!(summary.skipped, 0);
    let total: usize = maps.iter().map(|(_, w)| w.len()).sum();
    assert_eq!(summary.entries, total as u64);

    // The capture file itself, for the raw records and the BTF.
    let cap = Capture::read_file(&path).unwrap();
    assert_eq!(summary.sha256, hex(cap.digest()));
    assert_eq!(cap.header().snapshot_id, summary.snapshot_id);

    let dumps = mapsleuth_dump::read_file(&path, &mapsleuth_dump::DumpReadOptions::default())
        .unwrap_or_else(|e| panic!("mapsleuth_dump cannot read the capture: {e}"));
    assert_eq!(dumps.len(), maps.len());
    for (index, ((fd, want), dump)) in maps.iter().zip(&dumps).enumerate() {
        let info = fd.info();
        let what = format!("map {} ({index})", info.id);
        assert_eq!(dump.source.format, DumpFormat::Capture, "{what}");
        assert_eq!(dump.source.map_index, index, "{what}");
        assert!(dump.issues.is_empty(), "{what}: {:?}", dump.issues);
        let name = String::from_utf8_lossy(&info.name)
            .trim_end_matches('\0')
            .to_string();
        assert_eq!(dump.meta.id, Some(info.id), "{what}");
        assert_eq!(dump.meta.name.as_deref(), Some(name.as_str()), "{what}");
        assert_eq!(dump.meta.key_size, Some(info.key_size), "{what}");
        assert_eq!(dump.meta.value_size, Some(info.value_size), "{what}");
        assert_eq!(dump.meta.max_entries, Some(info.max_entries), "{what}");
        assert_eq!(dump.meta.flags, Some(u64::from(info.map_flags)), "{what}");
        assert_eq!(dump.key_size(), Some(info.key_size as usize), "{what}");
        assert_eq!(dump.value_size(), Some(info.value_size as usize), "{what}");

        // Every entry, byte for byte, against what was written ...
        assert_eq!(dump.len(), want.len(), "{what}");
        let mut got = Want::new();
        for e in dump.entries() {
            let key = e.key().unwrap().to_vec();
            let values: Vec<Vec<u8>> = e.values().map(<[u8]>::to_vec).collect();
            assert_eq!(
                e.kind(),
                if info.map_type == PERCPU_HASH {
                    EntryKind::PerCpu
                } else {
                    EntryKind::Value
                },
                "{what}"
            );
            assert!(got.insert(key, values).is_none(), "{what}: duplicate key");
        }
        assert_eq!(&got, want, "{what}: entries differ");
        if info.map_type == PERCPU_HASH {
            assert_eq!(dump.cpu_count(), Some(ncpus), "{what}");
        }

        // ... and against the file's records, in the file's order.
        let view = cap.map(index).unwrap();
        assert_eq!(view.len(), dump.len(), "{what}");
        for (raw, e) in view.entries().zip(dump.entries()) {
            assert_eq!(Some(raw.key), e.key(), "{what}");
            assert!(raw.values().eq(e.values()), "{what}");
        }
    }

    // The BTF travels with the capture: the blob as loaded, and the type ids into it.
    let btf_id = hash.info().btf_id;
    assert_ne!(btf_id, 0);
    let d = &dumps[0];
    assert_eq!(d.meta.btf_id, Some(btf_id));
    assert_eq!(d.meta.btf_key_type_id, Some(1));
    assert_eq!(d.meta.btf_value_type_id, Some(2));
    let header = &cap.header().maps[0];
    assert_eq!(header.btf_id, btf_id);
    assert_eq!(cap.map_btf(header), Some(&blob[..]));
    assert_eq!(cap.header().btf.len(), 1, "maps without BTF add no blob");
    for (i, d) in dumps.iter().enumerate().skip(1) {
        assert_eq!(d.meta.btf_id, None, "map {i} has no BTF");
        assert_eq!(cap.map_btf(&cap.header().maps[i]), None);
    }

    std::fs::remove_dir_all(&dir).unwrap();
}
