//! Test support shared by the CLI tests: running the binary in corpus/, and capture
//! files built from corpus dumps. (Each test crate uses part of it.)

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use mapsleuth_dump::capture_file::{
    ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadMethod, ReadStats, ValueKind,
};
use mapsleuth_dump::{read_file, DumpReadOptions};

pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `mapsleuth ARGS` in corpus/, without colour or standard input.
pub fn run(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mapsleuth"))
        .args(args)
        .current_dir(CORPUS)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Writes a capture file of map `flows` holding the entries of the corpus dump `dump`
/// (as `mapsleuth capture` would have read them), with the BTF of corpus/bpf/maps.bpf.o,
/// taken at `secs` after the epoch on `host`, as `file` in the test temporary directory.
/// Returns its path.
pub fn flows_capture(dump: &str, host: &str, secs: u64, file: &str) -> String {
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
    let blob = w.add_btf(bytes.data.clone(), Some(67), None, false);
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
            btf_id: 67,
            btf_key_type_id: key,
            btf_value_type_id: value,
            btf_vmlinux_value_type_id: 0,
            btf_index: Some(blob),
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
        },
        records,
    )
    .unwrap();
    let path = format!("{}/{file}", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(&path, w.to_bytes()).unwrap();
    path
}
