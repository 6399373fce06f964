//! Test support shared by the CLI tests: running the binary in corpus/, and capture
//! files built from corpus dumps. (Each test crate uses part of it.)

#![allow(dead_code)]

use std::process::{Command, Stdio};

pub use mapsleuth_testkit::CORPUS;

/// The corpus Go program most tests pair with: go1.25.5, linux/amd64.
pub const AMD64: &str = "go/bin/app-go1.25.5-linux-amd64";

/// `analyze layout` of [`AMD64`] against corpus/bpf/maps.bpf.o, then `extra`.
pub fn layout_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "analyze",
        "layout",
        "--go-bin",
        AMD64,
        "--btf",
        "bpf/maps.bpf.o",
    ];
    args.extend_from_slice(extra);
    args
}

/// `analyze layout` of [`AMD64`] against map `map` of corpus/bpf/maps.bpf.o.
pub fn layout_args(map: &str) -> Vec<&str> {
    layout_with(&["--map", map])
}

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

/// [`mapsleuth_testkit::flows_capture_bytes`] written as `file` in the test temporary
/// directory. Returns its path.
pub fn flows_capture(dump: &str, host: &str, secs: u64, file: &str) -> String {
    let path = format!("{}/{file}", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(
        &path,
        mapsleuth_testkit::flows_capture_bytes(dump, host, secs),
    )
    .unwrap();
    path
}
