//! Live tests: real maps created with raw bpf(2), captured, written, read back and
//! compared byte for byte (and with `bpftool -j map dump` when bpftool is installed).
//! Where bpf(2) is refused (EPERM, no CAP_BPF) every test prints a SKIP line and returns,
//! unless MAPSLEUTH_REQUIRE_LIVE is set (scripts/test.sh sets it when run as root, as CI
//! is): then a test that cannot run fails.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::capture_file::{Capture, ReadMethod, ValueKind};
use crate::testing::{btf_load, map_create, MapFd, MapSpec};
use crate::{capture, CaptureError, CaptureOptions, ReadOptions, Selector};

const HASH: u32 = 1;
const ARRAY: u32 = 2;
const PROG_ARRAY: u32 = 3;
const PERCPU_HASH: u32 = 5;
const PERCPU_ARRAY: u32 = 6;
const LRU_HASH: u32 = 9;
const LRU_PERCPU_HASH: u32 = 10;
const LPM_TRIE: u32 = 11;
const ARRAY_OF_MAPS: u32 = 12;
const HASH_OF_MAPS: u32 = 13;
const QUEUE: u32 = 22;
const RINGBUF: u32 = 27;
const BPF_F_NO_PREALLOC: u32 = 1;

/// Prints a SKIP line straight to stderr (libtest captures `eprintln!` of passing
/// tests, and a skipped test must be visible), or fails the test where live tests are
/// required.
fn skip(message: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("mapsleuth-capture test")
        .to_string();
    if std::env::var_os("MAPSLEUTH_REQUIRE_LIVE").is_some() {
        panic!("{test}: MAPSLEUTH_REQUIRE_LIVE is set, but the test cannot run: {message}");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {message}");
}

/// True when this process may create maps; prints a SKIP line otherwise.
pub(crate) fn bpf_ok() -> bool {
    let spec = MapSpec {
        map_type: ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        name: "ms_probe".into(),
        ..MapSpec::default()
    };
    match map_create(&spec, None, None) {
        Ok(_) => true,
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOSYS)
            ) =>
        {
            skip(&format!(
                "bpf(2) refused ({e}); run as root to exercise live capture"
            ));
            false
        }
        Err(e) => panic!("BPF_MAP_CREATE failed unexpectedly: {e}"),
    }
}

macro_rules! require_bpf {
    () => {
        if !bpf_ok() {
            return;
        }
    };
}

fn create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    name: &str,
) -> MapFd {
    let spec = MapSpec {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: flags,
        name: name.into(),
        ..MapSpec::default()
    };
    let fd = map_create(&spec, None, None).unwrap_or_else(|e| panic!("create {name}: {e}"));
    MapFd::new(fd).unwrap()
}

fn id(fd: &MapFd) -> u32 {
    fd.info().id
}

fn ncpus() -> usize {
    crate::cpus::possible_cpus().unwrap()
}

/// Captures `sel` and returns the file's bytes (written atomically and read back).
pub(crate) fn capture_bytes(sel: &[Selector], opts: &CaptureOptions) -> Vec<u8> {
    let writer = capture(sel, opts, &mut |_| {}).unwrap();
    let dir = std::env::temp_dir().join(format!("ms-cap-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("x.mscap");
    writer.write_atomic(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, writer.to_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
    bytes
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// (key, all value bytes) of the only map in a capture.
fn entries(bytes: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let cap = Capture::parse(bytes).unwrap();
    assert_eq!(cap.map_count(), 1);
    let map = cap.map(0).unwrap();
    let mut out = BTreeMap::new();
    for e in map.entries() {
        assert!(
            out.insert(e.key.to_vec(), e.value.to_vec()).is_none(),
            "duplicate key {:?}",
            e.key
        );
    }
    out
}

/// `bpftool -j map dump id N` as (key, value bytes), per-CPU values concatenated; None
/// when bpftool is not installed.
fn bpftool_dump(id: u32) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let out = match Command::new("bpftool")
        .args(["-j", "map", "dump", "id", &id.to_string()])
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            skip("bpftool not installed: cross-check with bpftool skipped");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hex = |v: &serde_json::Value| -> Vec<u8> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect()
    };
    let mut map = BTreeMap::new();
    for e in json.as_array().unwrap() {
        let key = hex(&e["key"]);
        let value = if let Some(v) = e.get("value") {
            hex(v)
        } else if let Some(vs) = e.get("values") {
            vs.as_array()
                .unwrap()
                .iter()
                .flat_map(|c| hex(&c["value"]))
                .collect()
        } else if let Some(id) = e.get("inner_map_id") {
            (id.as_u64().unwrap() as u32).to_le_bytes().to_vec()
        } else {
            panic!("unknown bpftool entry {e}");
        };
        map.insert(key, value);
    }
    Some(map)
}

fn check_bpftool(id: u32, captured: &BTreeMap<Vec<u8>, Vec<u8>>) {
    if let Some(b) = bpftool_dump(id) {
        assert_eq!(
            &b, captured,
            "capture differs from bpftool's dump of map {id}"
        );
    }
}

fn method_of(bytes: &[u8]) -> ReadMethod {
    Capture::parse(bytes).unwrap().header().maps[0].read.method
}

#[test]
fn hash_map_round_trip() {
    require_bpf!();
    let m = create(HASH, 4, 24, 2048, 0, "ms_t_hash");
    let mut want = BTreeMap::new();
    for k in 0u32..1500 {
        let mut v = [0u8; 24];
        v[..4].copy_from_slice(&k.wrapping_mul(2_654_435_761).to_le_bytes());
        v[23] = k as u8;
        m.update(&k.to_le_bytes(), &v, 0).unwrap();
        want.insert(k.to_le_bytes().to_vec(), v.to_vec());
    }
    // Small batches exercise batch continuation.
    for batch_entries in [0, 1, 7, 4096] {
        let opts = CaptureOptions {
            read: ReadOptions {
                batch_entries,
                ..ReadOptions::default()
            },
            ..CaptureOptions::default()
        };
        let bytes = capture_bytes(&[Selector::Id(id(&m))], &opts);
        assert_eq!(entries(&bytes), want, "batch_entries {batch_entries}");
        assert_eq!(method_of(&bytes), ReadMethod::Batch);
    }
    let opts = CaptureOptions {
        read: ReadOptions {
            force_next_key: true,
            ..ReadOptions::default()
        },
        ..CaptureOptions::default()
    };
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &opts);
    assert_eq!(method_of(&bytes), ReadMethod::NextKey);
    assert_eq!(entries(&bytes), want);
    check_bpftool(id(&m), &want);

    let h = Capture::parse(&bytes[..]).unwrap().header().clone();
    let mh = &h.maps[0];
    assert_eq!(
        (mh.id, mh.type_name.as_str(), mh.name.as_str()),
        (id(&m), "hash", "ms_t_hash")
    );
    assert_eq!(
        (mh.key_size, mh.value_size, mh.max_entries, mh.entry_count),
        (4, 24, 2048, 1500)
    );
    assert!(
        h.snapshot_id.ends_with('Z') && h.snapshot_id.len() == 27,
        "{}",
        h.snapshot_id
    );
    assert!(!h.source.kernel_release.is_empty());
}

/// Parallel reads of hash maps, dense and sparse, with batches small and large enough
/// to run past the next thread's range: exactly the inserted entries, once each.
#[test]
fn parallel_hash_reads_are_exact() {
    require_bpf!();
    for (max_entries, count, stride) in [(1u32 << 17, 70_000u32, 1u32), (1 << 17, 300, 437)] {
        let m = create(HASH, 4, 8, max_entries, 0, "ms_t_par");
        let mut want = BTreeMap::new();
        for i in 0..count {
            let k = i * stride;
            let v = (u64::from(k) << 20 | 7).to_le_bytes();
            m.update(&k.to_le_bytes(), &v, 0).unwrap();
            want.insert(k.to_le_bytes().to_vec(), v.to_vec());
        }
        for threads in [1, 2, 3] {
            for batch_entries in [0, 97, 100_000] {
                let opts = CaptureOptions {
                    read: ReadOptions {
                        threads,
                        batch_entries,
                        ..ReadOptions::default()
                    },
                    ..CaptureOptions::default()
                };
                let w = capture(&[Selector::Id(id(&m))], &opts, &mut |_| {}).unwrap();
                let got = entries(&w.to_bytes());
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{threads} threads, batch {batch_entries}"
                );
                assert!(
                    got == want,
                    "{threads} threads, batch {batch_entries}: contents differ"
                );
            }
        }
    }
}

#[test]
fn empty_maps() {
    require_bpf!();
    let m = create(HASH, 8, 8, 16, 0, "ms_t_empty");
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    assert!(entries(&bytes).is_empty());
    let m = create(LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC, "ms_t_lpm_empty");
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    assert!(entries(&bytes).is_empty());
}

#[test]
fn array_round_trip() {
    require_bpf!();
    let m = create(ARRAY, 4, 12, 64, 0, "ms_t_array");
    let mut want = BTreeMap::new();
    for k in 0u32..64 {
        let v = if k % 3 == 0 { [k as u8; 12] } else { [0u8; 12] };
        if k % 3 == 0 {
            m.update(&k.to_le_bytes(), &v, 0).unwrap();
        }
        want.insert(k.to_le_bytes().to_vec(), v.to_vec());
    }
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    assert_eq!(entries(&bytes), want);
    eprintln!("array read with {:?}", method_of(&bytes));
    check_bpftool(id(&m), &want);
}

/// Per-CPU value of CPU `cpu` for key `k`.
fn pcpu_value(k: u32, cpu: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (k as usize * 31 + cpu * 7 + i) as u8)
        .collect()
}

fn percpu_round_trip(map_type: u32, name: &str) {
    // 12-byte values: the kernel pads each CPU's value to 16 bytes; the file does not.
    let value_size = 12;
    let n = ncpus();
    let m = create(map_type, 4, value_size as u32, 32, 0, name);
    assert_eq!(m.kernel_value_len(), 16 * n);
    let mut want = BTreeMap::new();
    for k in 0u32..32 {
        let mut kernel = vec![0u8; 16 * n];
        let mut file = Vec::new();
        for cpu in 0..n {
            let v = pcpu_value(k, cpu, value_size);
            kernel[cpu * 16..cpu * 16 + value_size].copy_from_slice(&v);
            file.extend_from_slice(&v);
        }
        m.update(&k.to_le_bytes(), &kernel, 0).unwrap();
        want.insert(k.to_le_bytes().to_vec(), file);
    }
    for force_next_key in [false, true] {
        let opts = CaptureOptions {
            read: ReadOptions {
                force_next_key,
                ..ReadOptions::default()
            },
            ..CaptureOptions::default()
        };
        let bytes = capture_bytes(&[Selector::Id(id(&m))], &opts);
        let cap = Capture::parse(&bytes[..]).unwrap();
        let mh = &cap.header().maps[0];
        assert!(mh.per_cpu);
        assert_eq!(mh.values_per_entry as usize, n);
        assert_eq!(cap.header().source.possible_cpus as usize, n);
        let e = cap.map(0).unwrap().entry(0).unwrap();
        assert_eq!(e.values().count(), n);
        assert_eq!(entries(&bytes), want);
    }
    check_bpftool(id(&m), &want);
}

#[test]
fn percpu_hash_round_trip() {
    require_bpf!();
    percpu_round_trip(PERCPU_HASH, "ms_t_pcpu_hash");
}

#[test]
fn percpu_array_round_trip() {
    require_bpf!();
    percpu_round_trip(PERCPU_ARRAY, "ms_t_pcpu_arr");
}

#[test]
fn lru_percpu_hash_round_trip() {
    require_bpf!();
    percpu_round_trip(LRU_PERCPU_HASH, "ms_t_lru_pcpu");
}

#[test]
fn lru_hash_round_trip() {
    require_bpf!();
    let m = create(LRU_HASH, 8, 16, 512, 0, "ms_t_lru");
    let mut want = BTreeMap::new();
    for k in 0u64..200 {
        let v = [k as u8 ^ 0x5a; 16];
        m.update(&k.to_le_bytes(), &v, 0).unwrap();
        want.insert(k.to_le_bytes().to_vec(), v.to_vec());
    }
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    assert_eq!(entries(&bytes), want);
    assert_eq!(method_of(&bytes), ReadMethod::Batch);
    check_bpftool(id(&m), &want);
}

#[test]
fn lpm_trie_round_trip() {
    require_bpf!();
    // struct { u32 prefixlen; u8 addr[4]; } -> u32
    let m = create(LPM_TRIE, 8, 4, 256, BPF_F_NO_PREALLOC, "ms_t_lpm");
    let mut want = BTreeMap::new();
    for (i, (prefix, addr)) in [
        (8u32, [10u8, 0, 0, 0]),
        (16, [10, 1, 0, 0]),
        (24, [192, 168, 1, 0]),
        (32, [192, 168, 1, 7]),
        (0, [0; 4]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut key = prefix.to_le_bytes().to_vec();
        key.extend_from_slice(&addr);
        let v = (i as u32 + 100).to_le_bytes();
        m.update(&key, &v, 0).unwrap();
        want.insert(key, v.to_vec());
    }
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    assert_eq!(entries(&bytes), want);
    eprintln!("lpm_trie read with {:?}", method_of(&bytes));
    check_bpftool(id(&m), &want);
}

#[test]
fn map_in_map_values_are_inner_map_ids() {
    require_bpf!();
    let inner_a = create(ARRAY, 4, 8, 4, 0, "ms_t_inner_a");
    let inner_b = create(ARRAY, 4, 8, 4, 0, "ms_t_inner_b");
    inner_a
        .update(&1u32.to_le_bytes(), &77u64.to_le_bytes(), 0)
        .unwrap();
    for (outer_type, name) in [(HASH_OF_MAPS, "ms_t_hom"), (ARRAY_OF_MAPS, "ms_t_aom")] {
        let spec = MapSpec {
            map_type: outer_type,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            name: name.into(),
            ..MapSpec::default()
        };
        let outer = MapFd::new(map_create(&spec, None, Some(inner_a.as_fd())).unwrap()).unwrap();
        let mut want = BTreeMap::new();
        for (k, inner) in [(1u32, &inner_a), (5, &inner_b)] {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&inner.as_fd()) as u32;
            outer
                .update(&k.to_le_bytes(), &fd.to_le_bytes(), 0)
                .unwrap();
            want.insert(k.to_le_bytes().to_vec(), id(inner).to_le_bytes().to_vec());
        }
        let bytes = capture_bytes(
            &[Selector::Id(id(&outer)), Selector::Id(id(&inner_a))],
            &CaptureOptions::default(),
        );
        let cap = Capture::parse(&bytes[..]).unwrap();
        let outer_view = cap.map(0).unwrap();
        assert_eq!(outer_view.header.value_kind, ValueKind::MapId);
        let got: BTreeMap<_, _> = outer_view
            .entries()
            .map(|e| (e.key.to_vec(), e.value.to_vec()))
            .collect();
        assert_eq!(got, want, "{name}");
        eprintln!("{name} read with {:?}", outer_view.header.read.method);
        let inner_view = cap.map(1).unwrap();
        assert_eq!(inner_view.entry(1).unwrap().value, 77u64.to_le_bytes());
        check_bpftool(id(&outer), &got);
    }
}

#[test]
fn prog_array_without_programs_is_empty() {
    require_bpf!();
    let m = create(PROG_ARRAY, 4, 4, 8, 0, "ms_t_progs");
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    let cap = Capture::parse(&bytes[..]).unwrap();
    assert_eq!(cap.header().maps[0].value_kind, ValueKind::ProgId);
    assert!(cap.map(0).unwrap().is_empty());
}

/// A small BTF: [1] int (4 bytes, signed), [2] struct val { int a; int b; }.
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
    b.push(1);
    b.push(0);
    b.extend_from_slice(&24u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(types.len() as u32).to_le_bytes());
    b.extend_from_slice(&(types.len() as u32).to_le_bytes());
    b.extend_from_slice(&(strings.len() as u32).to_le_bytes());
    b.extend_from_slice(&types);
    b.extend_from_slice(strings);
    b
}

#[test]
fn btf_map_stores_its_btf_once() {
    require_bpf!();
    let blob = small_btf();
    let btf = btf_load(&blob).unwrap_or_else(|(e, log)| panic!("BTF_LOAD: {e}\n{log}"));
    let spec = MapSpec {
        map_type: HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        name: "ms_t_btf".into(),
        btf_key_type_id: 1,
        btf_value_type_id: 2,
        ..MapSpec::default()
    };
    let a = MapFd::new(map_create(&spec, Some(btf.as_fd()), None).unwrap()).unwrap();
    let b = MapFd::new(
        map_create(
            &MapSpec {
                name: "ms_t_btf2".into(),
                ..spec.clone()
            },
            Some(btf.as_fd()),
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let mut want = BTreeMap::new();
    for k in [-5i32, 0, 9] {
        let mut v = (k * 2).to_le_bytes().to_vec();
        v.extend_from_slice(&(k * 3).to_le_bytes());
        a.update(&k.to_le_bytes(), &v, 0).unwrap();
        want.insert(k.to_le_bytes().to_vec(), v);
    }
    let bytes = capture_bytes(
        &[Selector::Id(id(&a)), Selector::Id(id(&b))],
        &CaptureOptions::default(),
    );
    let cap = Capture::parse(&bytes[..]).unwrap();
    let h = cap.header();
    assert_eq!(h.btf.len(), 1, "both maps share one BTF blob");
    for m in &h.maps {
        assert_eq!(
            (m.btf_key_type_id, m.btf_value_type_id, m.btf_index),
            (1, 2, Some(0))
        );
        assert_ne!(m.btf_id, 0);
    }
    assert_eq!(
        cap.btf_blob(0).unwrap(),
        &blob[..],
        "the kernel returns the BTF as loaded"
    );
    let got: BTreeMap<_, _> = cap
        .map(0)
        .unwrap()
        .entries()
        .map(|e| (e.key.to_vec(), e.value.to_vec()))
        .collect();
    assert_eq!(got, want);
    check_bpftool(id(&a), &want);
}

#[test]
fn not_iterable_maps_are_refused_or_skipped() {
    require_bpf!();
    let q = create(QUEUE, 0, 4, 8, 0, "ms_t_queue");
    let err = capture(
        &[Selector::Id(id(&q))],
        &CaptureOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CaptureError::NotIterable { .. }), "{msg}");
    assert!(msg.contains("queue map, which is not iterable"), "{msg}");
    // Ring buffers are not iterable by key, but captured through mmap (ring_tests).
    let rb = create(RINGBUF, 0, 0, 4096, 0, "ms_t_ringbuf");
    let msg = rb_info_not_iterable(&rb);
    assert!(
        msg.contains("ringbuf map") && msg.contains("ring buffer"),
        "{msg}"
    );

    // --all captures our hash and names the queue and ring buffer as skipped.
    let h = create(HASH, 4, 4, 4, 0, "ms_t_all");
    h.update(&1u32.to_le_bytes(), &2u32.to_le_bytes(), 0)
        .unwrap();
    let mut skipped_seen = HashSet::new();
    let writer = capture(&[Selector::All], &CaptureOptions::default(), &mut |p| {
        if let crate::Progress::MapSkipped { id, .. } = p {
            skipped_seen.insert(id);
        }
    })
    .unwrap();
    let hdr = writer.header();
    assert!(hdr
        .maps
        .iter()
        .any(|m| m.id == id(&h) && m.entry_count == 1));
    let s = hdr
        .skipped
        .iter()
        .find(|s| s.id == id(&q))
        .expect("skipped map listed");
    assert!(s.reason.starts_with("not iterable"), "{}", s.reason);
    assert!(skipped_seen.contains(&id(&q)));
    // --all captures the (empty) ring buffer instead of skipping it.
    let ring = hdr
        .maps
        .iter()
        .find(|m| m.id == id(&rb))
        .expect("ring captured");
    assert_eq!(
        (ring.entry_count, ring.ring.as_ref().map(|r| r.data_size)),
        (0, Some(4096))
    );
    assert!(!skipped_seen.contains(&id(&rb)));
    Capture::parse(writer.to_bytes()).unwrap();
}

/// The error `check_iterable` gives for a map (ring buffers: not iterable by key).
fn rb_info_not_iterable(m: &MapFd) -> String {
    crate::Map::open_id(id(m))
        .unwrap()
        .info()
        .check_iterable()
        .unwrap_err()
        .to_string()
}

#[test]
fn selection_errors_say_what_to_do() {
    require_bpf!();
    let err = capture(
        &[Selector::Id(0x7fff_fff0)],
        &CaptureOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, CaptureError::NoSuchMap { id: 0x7fff_fff0 }),
        "{err}"
    );
    assert!(err.to_string().contains("no map with id 2147483632"));
    let err = capture(
        &[Selector::Name("ms_no_such_map".into())],
        &CaptureOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, CaptureError::NoMapNamed { .. }), "{err}");
    let _a = create(HASH, 4, 4, 4, 0, "ms_t_twin");
    let _b = create(HASH, 4, 4, 4, 0, "ms_t_twin");
    let err = capture(
        &[Selector::Name("ms_t_twin".into())],
        &CaptureOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("maps are named \"ms_t_twin\""),
        "{err}"
    );
    let err = capture(
        &[Selector::Pinned("/sys/fs/bpf/ms_t_nothing_here".into())],
        &CaptureOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, CaptureError::NotPinned { .. }), "{err}");
    let e = CaptureError::sys(
        "listing maps",
        std::io::Error::from_raw_os_error(libc::EPERM),
    );
    assert!(e.is_permission_denied());
    assert!(
        e.to_string()
            .contains("needs CAP_BPF and CAP_SYS_ADMIN (or root)"),
        "{e}"
    );
}

#[test]
fn capture_by_name_and_pinned_path() {
    require_bpf!();
    let m = create(HASH, 4, 4, 8, 0, "ms_t_pinme");
    m.update(&3u32.to_le_bytes(), &4u32.to_le_bytes(), 0)
        .unwrap();
    let bytes = capture_bytes(
        &[Selector::Name("ms_t_pinme".into())],
        &CaptureOptions::default(),
    );
    assert_eq!(entries(&bytes).len(), 1);
    let pin = PathBuf::from(format!("/sys/fs/bpf/ms_t_pin_{}", std::process::id()));
    if let Err(e) = m.pin(&pin) {
        skip(&format!(
            "cannot pin at {} ({e}); is bpffs mounted?",
            pin.display()
        ));
        return;
    }
    let result = std::panic::catch_unwind(|| {
        let bytes = capture_bytes(&[Selector::Pinned(pin.clone())], &CaptureOptions::default());
        let cap = Capture::parse(&bytes[..]).unwrap();
        assert_eq!(
            cap.header().maps[0].pinned_path.as_deref(),
            Some(pin.to_str().unwrap())
        );
        assert_eq!(cap.header().maps[0].id, id(&m));
    });
    std::fs::remove_file(&pin).unwrap();
    result.unwrap();
}

#[test]
fn list_maps_sees_new_maps() {
    require_bpf!();
    let m = create(HASH, 4, 4, 8, 0, "ms_t_listed");
    let maps = crate::list_maps().unwrap();
    let info = maps.iter().find(|i| i.id == id(&m)).expect("listed");
    assert_eq!(
        (info.name.as_str(), info.type_name.as_str(), info.key_size),
        ("ms_t_listed", "hash", 4)
    );
}

#[test]
fn truncated_and_altered_capture_files_are_rejected() {
    require_bpf!();
    let m = create(HASH, 4, 8, 64, 0, "ms_t_corrupt");
    for k in 0u32..50 {
        m.update(&k.to_le_bytes(), &u64::from(k).to_le_bytes(), 0)
            .unwrap();
    }
    let bytes = capture_bytes(&[Selector::Id(id(&m))], &CaptureOptions::default());
    let dir = std::env::temp_dir().join(format!("ms-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.mscap");
    for cut in [1, 32, 33, 100, bytes.len() - 20] {
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        let msg = Capture::read_file(&path).unwrap_err().to_string();
        assert!(msg.contains("is corrupt: truncated at byte"), "{msg}");
    }
    let mut altered = bytes.clone();
    let at = altered.len() - 100;
    altered[at] ^= 0x10;
    std::fs::write(&path, &altered).unwrap();
    let msg = Capture::read_file(&path).unwrap_err().to_string();
    assert_eq!(msg, format!("capture file {} is corrupt: SHA-256 mismatch (digest at byte {}): the file was altered or damaged", path.display(), bytes.len() - 32));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Value layout for the concurrency test: key, generation, key again.
fn gen_value(k: u32, gen: u32) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..4].copy_from_slice(&k.to_le_bytes());
    v[4..8].copy_from_slice(&gen.to_le_bytes());
    v[8..12].copy_from_slice(&(!k).to_le_bytes());
    v
}

/// A writer thread updates, deletes and re-inserts keys of a 100k-entry hash while it is
/// captured. Keys 0..50k are never touched, 50k..75k are updated, 75k..100k and
/// 100k..110k are deleted and re-inserted. Checked: no duplicate keys; every key of
/// 0..75k appears exactly once; untouched keys have their original value; updated keys
/// have a value written during the capture; every value belongs to its key.
#[test]
fn capture_under_concurrent_writer() {
    require_bpf!();
    const N: u32 = 100_000;
    let m = Arc::new(create(HASH, 4, 16, 130_000, 0, "ms_t_churn"));
    for k in 0..N {
        m.update(&k.to_le_bytes(), &gen_value(k, 0), 0).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let round = Arc::new(AtomicU32::new(1));
    let writer = {
        let (m, stop, round) = (m.clone(), stop.clone(), round.clone());
        std::thread::spawn(move || {
            let mut ops = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = round.load(Ordering::Relaxed);
                for i in 0..2_000u32 {
                    let k = 50_000 + (r * 2_000 + i) % 25_000;
                    m.update(&k.to_le_bytes(), &gen_value(k, r), 0).unwrap();
                    let d = 75_000 + (r * 997 + i * 13) % 35_000;
                    let _ = m.delete(&d.to_le_bytes());
                    let d2 = 75_000 + (r * 991 + i * 7) % 35_000;
                    let _ = m.update(&d2.to_le_bytes(), &gen_value(d2, r), 0);
                    ops += 3;
                }
                round.fetch_add(1, Ordering::Relaxed);
            }
            ops
        })
    };
    let result = std::panic::catch_unwind(|| {
        for (force_next_key, threads) in [(false, 2), (true, 1), (false, 1), (false, 3)] {
            let opts = CaptureOptions {
                read: ReadOptions {
                    force_next_key,
                    threads,
                    batch_entries: 512,
                    ..ReadOptions::default()
                },
                ..CaptureOptions::default()
            };
            let round_before = round.load(Ordering::Relaxed);
            let w = capture(&[Selector::Id(id(&m))], &opts, &mut |_| {}).unwrap();
            let round_after = round.load(Ordering::Relaxed);
            let bytes = w.to_bytes();
            let cap = Capture::parse(&bytes[..]).unwrap();
            let mh = &cap.header().maps[0];
            eprintln!(
                "churn capture ({:?}, {threads} threads): {} entries, rounds {round_before}..{round_after}, vanished {}, revisits {}, complete {}",
                mh.read.method, mh.entry_count, mh.read.vanished_keys, mh.read.revisits, mh.read.complete
            );
            let mut seen: HashMap<u32, u32> = HashMap::new();
            for e in cap.map(0).unwrap().entries() {
                let k = u32::from_le_bytes(e.key.try_into().unwrap());
                let vk = u32::from_le_bytes(e.value[..4].try_into().unwrap());
                let gen = u32::from_le_bytes(e.value[4..8].try_into().unwrap());
                let nk = u32::from_le_bytes(e.value[8..12].try_into().unwrap());
                assert!(k < 110_000, "unexpected key {k}");
                assert_eq!((vk, nk), (k, !k), "value of key {k} belongs to another key");
                assert!(seen.insert(k, gen).is_none(), "key {k} captured twice");
            }
            if mh.read.method == ReadMethod::NextKey {
                // GET_NEXT_KEY is not a snapshot: under churn it may miss keys (see
                // read.rs). Only "at most once" and "values belong to keys" hold.
                let missing = (0..75_000).filter(|k| !seen.contains_key(k)).count();
                eprintln!("  next_key fallback missed {missing} of 75000 stable keys under churn");
                continue;
            }
            assert!(mh.read.complete);
            for k in 0..75_000 {
                let gen = *seen
                    .get(&k)
                    .unwrap_or_else(|| panic!("stable key {k} missing"));
                if k < 50_000 {
                    assert_eq!(gen, 0, "untouched key {k}");
                } else {
                    // Written in a round that was running at some point during the capture
                    // (or the initial value, if the writer has not reached it yet).
                    assert!(gen <= round_after, "key {k} gen {gen} > {round_after}");
                    assert!(
                        gen == 0 || gen + 13 >= round_before,
                        "key {k} gen {gen} older than the capture ({round_before})"
                    );
                }
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    let ops = writer.join().unwrap();
    eprintln!("writer did {ops} operations");
    result.unwrap();
}

/// The BTF-defined maps of corpus/bpf/maps.bpf.o, loaded by bpftool, filled through
/// bpftool, captured, and compared entry by entry with `bpftool -j map dump`.
#[test]
fn bpf_object_maps_match_bpftool() {
    require_bpf!();
    let obj = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/bpf/maps.bpf.o");
    if !obj.exists() {
        skip(&format!("{} missing", obj.display()));
        return;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        skip("bpftool not installed");
        return;
    }
    let dir = PathBuf::from(format!("/sys/fs/bpf/ms_t_obj_{}", std::process::id()));
    // The object pins `ms_pinned` by name at /sys/fs/bpf/ms_pinned; remove it after
    // only if this test created it.
    let shared_pin = Path::new("/sys/fs/bpf/ms_pinned");
    let shared_pin_existed = shared_pin.exists();
    let _ = std::fs::create_dir(&dir);
    let load = Command::new("bpftool")
        .arg("prog")
        .arg("loadall")
        .arg(&obj)
        .arg(&dir)
        .output()
        .unwrap();
    if !load.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        skip(&format!(
            "bpftool prog loadall failed: {}",
            String::from_utf8_lossy(&load.stderr).trim()
        ));
        return;
    }
    let result = std::panic::catch_unwind(|| object_maps_check(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
    if !shared_pin_existed {
        let _ = std::fs::remove_file(shared_pin);
    }
    result.unwrap();
}

fn object_maps_check(dir: &Path) {
    let bpftool = |args: &[&str]| {
        let out = Command::new("bpftool").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "bpftool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let prog: serde_json::Value = serde_json::from_slice(&bpftool(&[
        "-j",
        "prog",
        "show",
        "pinned",
        dir.join("ms_xdp").to_str().unwrap(),
    ]))
    .unwrap();
    let mut selectors = Vec::new();
    let mut expect_not_iterable = Vec::new();
    // Ring buffers are captured through mmap (the object's programs never ran: empty).
    let mut rings = Vec::new();
    // Prog array entries are cleared when the last user reference goes: hold one.
    let mut holds = Vec::new();
    let mut tail_prog_id = None;
    for id in prog["map_ids"].as_array().unwrap() {
        let id = id.as_u64().unwrap() as u32;
        let map = crate::Map::open_id(id).unwrap();
        let info = map.info().clone();
        if info.name == "ms_pinned" {
            continue; // may belong to someone else's pin
        }
        if info.check_capturable().is_err() {
            expect_not_iterable.push(id);
            continue;
        }
        if info.readability() == crate::Readability::Ring {
            rings.push(id);
            continue;
        }
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>();
        let fillable = [
            "hash",
            "array",
            "percpu_hash",
            "percpu_array",
            "lru_hash",
            "lpm_trie",
        ];
        if fillable.contains(&info.type_name.as_str()) {
            for i in 0..3u32 {
                let mut key = vec![0u8; info.key_size as usize];
                if info.type_name == "lpm_trie" {
                    key[..4].copy_from_slice(&(8 * (i + 1)).to_le_bytes());
                    key[4] = 10;
                    key[5] = i as u8;
                } else {
                    key[..4].copy_from_slice(&i.to_le_bytes());
                    if key.len() > 4 {
                        key[4] = 0xab;
                    }
                }
                let value: Vec<u8> = (0..info.value_size).map(|j| (i * 17 + j) as u8).collect();
                let (id_s, mut args) = (id.to_string(), vec!["map", "update", "id"]);
                let (k, v) = (hex(&key), hex(&value));
                args.push(&id_s);
                args.push("key");
                args.push("hex");
                args.extend(k.iter().map(String::as_str));
                args.push("value");
                args.push("hex");
                args.extend(v.iter().map(String::as_str));
                bpftool(&args);
            }
        }
        if info.type_name == "prog_array" {
            // Loading set slot 0 and bpftool's exit dropped the last user reference,
            // which clears a prog array in deferred work: wait for that before filling
            // it, or the clear can wipe our entry (seen on a loaded machine).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while map
                .read_entries(&ReadOptions::default(), &mut |_| {})
                .unwrap()
                .count
                > 0
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "prog array never cleared"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let tail = dir.join("ms_tail");
            let id_s = id.to_string();
            bpftool(&[
                "map",
                "update",
                "id",
                &id_s,
                "key",
                "hex",
                "00",
                "00",
                "00",
                "00",
                "value",
                "pinned",
                tail.to_str().unwrap(),
            ]);
            let p: serde_json::Value = serde_json::from_slice(&bpftool(&[
                "-j",
                "prog",
                "show",
                "pinned",
                tail.to_str().unwrap(),
            ]))
            .unwrap();
            tail_prog_id = Some(p["id"].as_u64().unwrap() as u32);
        }
        holds.push(map);
        selectors.push(Selector::Id(id));
    }
    assert!(
        selectors.len() >= 10,
        "expected the object's maps, got {}",
        selectors.len()
    );
    for id in &expect_not_iterable {
        let e = capture(
            &[Selector::Id(*id)],
            &CaptureOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(e, CaptureError::NotIterable { .. }), "{e}");
    }
    for id in &rings {
        let bytes = capture_bytes(&[Selector::Id(*id)], &CaptureOptions::default());
        let cap = Capture::parse(&bytes[..]).unwrap();
        let h = cap.map(0).unwrap().header;
        assert_eq!(h.entry_count, 0, "{h:?}");
        let ring = h.ring.as_ref().unwrap();
        assert_eq!(ring.data_size, u64::from(h.max_entries));
        assert_eq!(ring.consumer_pos, ring.producer_pos);
        assert_eq!(h.btf_index.is_some(), h.btf_id != 0);
    }
    let bytes = capture_bytes(&selectors, &CaptureOptions::default());
    let cap = Capture::parse(&bytes[..]).unwrap();
    assert_eq!(
        cap.header().btf.len(),
        1,
        "all maps of one object share one BTF blob"
    );
    assert!(cap.maps().filter(|m| m.header.btf_index.is_some()).count() >= 8);
    assert_eq!(&cap.btf_blob(0).unwrap()[..2], &0xEB9F_u16.to_le_bytes());
    let mut checked = 0;
    for map in cap.maps() {
        let h = map.header;
        // libbpf creates some maps (e.g. map-in-map outers) without BTF.
        assert_eq!(h.btf_index.is_some(), h.btf_id != 0, "map {}", h.name);
        if h.btf_id != 0 && h.name != "sized_only" {
            assert!(h.btf_key_type_id != 0, "{}: key type", h.name);
        }
        let got: BTreeMap<_, _> = map
            .entries()
            .map(|e| (e.key.to_vec(), e.value.to_vec()))
            .collect();
        assert_eq!(got.len(), map.len(), "{}: duplicate keys", h.name);
        if let Some(want) = bpftool_dump(h.id) {
            assert_eq!(
                got, want,
                "map {} ({}) differs from bpftool",
                h.name, h.type_name
            );
            checked += 1;
        }
        if h.type_name == "prog_array" {
            assert_eq!(h.value_kind, ValueKind::ProgId);
            let slot0 = map
                .entries()
                .find(|e| e.key == [0, 0, 0, 0])
                .expect("slot 0 filled");
            assert_eq!(
                Some(u32::from_le_bytes(slot0.value.try_into().unwrap())),
                tail_prog_id
            );
        }
        eprintln!(
            "  {} {}: {} entries via {:?}",
            h.type_name, h.name, h.entry_count, h.read.method
        );
    }
    eprintln!("{checked} maps of maps.bpf.o match bpftool");
}

/// A hash map's batch lookup from a position past its last bucket returns ENOENT without
/// writing `count`; the wrapper must report 0 entries, not the count it passed in.
#[test]
fn batch_past_the_last_bucket_reports_nothing() {
    require_bpf!();
    let m = create(HASH, 4, 4, 16, 0, "ms_t_pastend");
    for k in 0u32..3 {
        m.update(&k.to_le_bytes(), &k.to_le_bytes(), 0).unwrap();
    }
    let mut tok = [0u8; 8];
    tok[..4].copy_from_slice(&1000u32.to_ne_bytes());
    let (mut out, mut keys, mut vals) = ([0u8; 8], [0u8; 32], [0u8; 32]);
    let (n, r) = m.lookup_batch(Some(&tok), &mut out, &mut keys, &mut vals, 8);
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::ENOENT));
    assert_eq!(n, 0);
    let (n, r) = m.lookup_batch(None, &mut out, &mut keys, &mut vals, 8);
    assert_eq!((n, r.unwrap_err().raw_os_error()), (3, Some(libc::ENOENT)));
}

/// The entries of `map` (key → value), from a parsed capture.
fn view_entries(map: &crate::capture_file::MapView<'_>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    map.entries()
        .map(|e| (e.key.to_vec(), e.value.to_vec()))
        .collect()
}

#[test]
fn recursive_capture_follows_maps_of_maps_to_their_inner_maps() {
    require_bpf!();
    // Three inner hashes of u32 → u64 with known contents; the outer maps point two
    // keys at the same inner map (captured once).
    let contents: [&[(u32, u64)]; 3] = [&[(1, 10), (2, 20)], &[(7, 700)], &[]];
    let inner: Vec<MapFd> = contents
        .iter()
        .enumerate()
        .map(|(i, kv)| {
            let m = create(HASH, 4, 8, 8, 0, &format!("ms_t_rin{i}"));
            for (k, v) in kv.iter() {
                m.update(&k.to_le_bytes(), &v.to_le_bytes(), 0).unwrap();
            }
            m
        })
        .collect();
    for (outer_type, name) in [(HASH_OF_MAPS, "ms_t_rhom"), (ARRAY_OF_MAPS, "ms_t_raom")] {
        let spec = MapSpec {
            map_type: outer_type,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            name: name.into(),
            ..MapSpec::default()
        };
        let outer = MapFd::new(map_create(&spec, None, Some(inner[0].as_fd())).unwrap()).unwrap();
        let links = [(0u32, 0usize), (3, 1), (4, 0), (6, 2)];
        for &(k, i) in &links {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&inner[i].as_fd()) as u32;
            outer
                .update(&k.to_le_bytes(), &fd.to_le_bytes(), 0)
                .unwrap();
        }
        let opts = CaptureOptions {
            recursive: true,
            ..CaptureOptions::default()
        };
        let bytes = capture_bytes(&[Selector::Id(id(&outer))], &opts);
        let cap = Capture::parse(&bytes[..]).unwrap();
        assert_eq!(cap.map_count(), 4, "{name}: the outer map and 3 inner maps");
        let want_links: BTreeMap<Vec<u8>, Vec<u8>> = links
            .iter()
            .map(|&(k, i)| {
                (
                    k.to_le_bytes().to_vec(),
                    id(&inner[i]).to_le_bytes().to_vec(),
                )
            })
            .collect();
        assert_eq!(view_entries(&cap.map(0).unwrap()), want_links, "{name}");
        assert_eq!(cap.header().maps[0].outer_map_id, None);
        // Each inner map once (in the order the outer map's walk met them), with its
        // contents.
        let mut seen = Vec::new();
        for n in 1..4 {
            let view = cap.map(n).unwrap();
            let i = inner.iter().position(|m| id(m) == view.header.id).unwrap();
            seen.push(i);
            assert_eq!(view.header.outer_map_id, Some(id(&outer)), "{name}");
            let want: BTreeMap<Vec<u8>, Vec<u8>> = contents[i]
                .iter()
                .map(|(k, v)| (k.to_le_bytes().to_vec(), v.to_le_bytes().to_vec()))
                .collect();
            assert_eq!(view_entries(&view), want, "{name} inner {i}");
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2], "{name}");
        assert!(cap.header().skipped.is_empty());

        // Bounded: one inner map, the other two listed as skipped with why.
        let opts = CaptureOptions {
            recursive: true,
            max_inner_maps: 1,
            ..CaptureOptions::default()
        };
        let bytes = capture_bytes(&[Selector::Id(id(&outer))], &opts);
        let cap = Capture::parse(&bytes[..]).unwrap();
        assert_eq!(cap.map_count(), 2, "{name}");
        let mut skipped: Vec<u32> = cap.header().skipped.iter().map(|s| s.id).collect();
        skipped.push(cap.header().maps[1].id);
        skipped.sort_unstable();
        let mut all: Vec<u32> = inner.iter().map(id).collect();
        all.sort_unstable();
        assert_eq!(skipped, all, "{name}: one captured, two skipped");
        assert!(cap.header().skipped[0].reason.contains("--max-inner-maps"));

        // Not recursive: the outer map alone, as before.
        let bytes = capture_bytes(&[Selector::Id(id(&outer))], &CaptureOptions::default());
        assert_eq!(Capture::parse(&bytes[..]).unwrap().map_count(), 1);
    }
}

#[test]
fn recursive_capture_reports_an_inner_map_that_vanished() {
    require_bpf!();
    let template = create(ARRAY, 4, 8, 2, 0, "ms_t_vtmpl");
    let spec = MapSpec {
        map_type: HASH_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries: 4,
        name: "ms_t_vouter".into(),
        ..MapSpec::default()
    };
    let outer = MapFd::new(map_create(&spec, None, Some(template.as_fd())).unwrap()).unwrap();
    let gone_id;
    {
        let gone = create(ARRAY, 4, 8, 2, 0, "ms_t_vgone");
        gone_id = id(&gone);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&gone.as_fd()) as u32;
        outer
            .update(&1u32.to_le_bytes(), &fd.to_le_bytes(), 0)
            .unwrap();
    }
    // The outer map holds the last reference to the inner one: deleted from it, the
    // kernel frees it (after an RCU grace period). A capture that read the id before
    // that meets the race this test plays out: the id names no map any more.
    let opts = CaptureOptions {
        recursive: true,
        ..CaptureOptions::default()
    };
    outer.delete(&1u32.to_le_bytes()).unwrap();
    let mut waited = 0;
    while crate::map::Map::open_id(gone_id).is_ok() && waited < 200 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let mut one = crate::snapshot::test_one_inner(gone_id, id(&outer), &opts);
    let skipped = one.remove(0);
    assert_eq!(skipped.id, gone_id);
    assert!(skipped.reason.contains("vanished"), "{}", skipped.reason);
}
