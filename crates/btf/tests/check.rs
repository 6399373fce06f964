//! `btf check`: each B finding fires on a system root laid out to cause it, and a
//! healthy root (real vmlinux BTF, a real module's split BTF, a config with BTF on)
//! gives none.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use mapsleuth_btf::{check_file, check_system, BtfCheck, CoreVerdict};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

const RELEASE: &str = "6.18.0-test";

/// A fresh fake root: `sys/kernel/btf`, `proc/sys/kernel/osrelease`, `boot`.
fn root(name: &str) -> PathBuf {
    let r = std::env::temp_dir().join(format!("mapsleuth-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&r);
    for d in ["sys/kernel/btf", "proc/sys/kernel", "boot"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::write(r.join("proc/sys/kernel/osrelease"), format!("{RELEASE}\n")).unwrap();
    r
}

fn vmlinux(r: &Path) {
    std::os::unix::fs::symlink(corpus("btf/vmlinux.btf"), r.join("sys/kernel/btf/vmlinux"))
        .unwrap();
}

fn module(r: &Path, name: &str) {
    std::os::unix::fs::symlink(
        corpus("btf/split_module.btf"),
        r.join("sys/kernel/btf").join(name),
    )
    .unwrap();
}

fn config(r: &Path, btf: bool, modules: bool) {
    let line = |opt: &str, on: bool| {
        if on {
            format!("{opt}=y\n")
        } else {
            format!("# {opt} is not set\n")
        }
    };
    let text = line("CONFIG_DEBUG_INFO_BTF", btf) + &line("CONFIG_DEBUG_INFO_BTF_MODULES", modules);
    std::fs::write(r.join(format!("boot/config-{RELEASE}")), text).unwrap();
}

fn codes(c: &BtfCheck) -> Vec<&str> {
    c.findings.iter().map(|f| f.code.as_str()).collect()
}

/// Raw little-endian BTF with `int` and the given structs (each `{ int x; }`).
fn tiny_btf(structs: &[&str]) -> Vec<u8> {
    let mut strings = b"\0int\0x\0".to_vec();
    let mut types: Vec<u32> = vec![1, 1 << 24, 4, (1 << 24) | 32];
    for s in structs {
        let off = strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        types.extend([off, (4 << 24) | 1, 4, 5, 1, 0]);
    }
    let types: Vec<u8> = types.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for v in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        out.extend(v.to_le_bytes());
    }
    out.extend(types);
    out.extend(strings);
    out
}

#[test]
fn healthy_system_has_no_findings() {
    let r = root("healthy");
    vmlinux(&r);
    module(&r, "ms_mod");
    config(&r, true, true);
    let c = check_system(&r);
    assert!(c.findings.is_empty(), "{:#?}", c.findings);
    assert_eq!(c.co_re, CoreVerdict::Works);
    assert_eq!(c.modules.len(), 1);
    assert_eq!(c.modules[0].types, Some(9));
    assert!(c.types.unwrap() > 100_000);
}

#[test]
fn b001_no_vmlinux() {
    let r = root("b001");
    config(&r, true, true);
    let c = check_system(&r);
    assert_eq!(codes(&c), ["B001"]);
    assert_eq!(c.co_re, CoreVerdict::No);
}

#[test]
fn b002_corrupt_vmlinux_names_the_offset() {
    let r = root("b002");
    let mut data = std::fs::read(corpus("btf/vmlinux.btf")).unwrap();
    data.truncate(data.len() / 2);
    std::fs::write(r.join("sys/kernel/btf/vmlinux"), &data).unwrap();
    config(&r, true, true);
    let c = check_system(&r);
    assert_eq!(codes(&c), ["B002"]);
    assert!(
        c.findings[0].message.contains("at byte"),
        "{}",
        c.findings[0].message
    );
}

#[test]
fn b003_b008_well_known_types() {
    let r = root("b003");
    std::fs::write(r.join("sys/kernel/btf/vmlinux"), tiny_btf(&["task_struct"])).unwrap();
    config(&r, true, true);
    module(&r, "ms_mod_needs_real_base");
    let c = check_system(&r);
    assert!(codes(&c).contains(&"B003"), "{:?}", codes(&c));
    assert!(!codes(&c).contains(&"B008"));
    let r = root("b008");
    std::fs::write(r.join("sys/kernel/btf/vmlinux"), tiny_btf(&["not_kernel"])).unwrap();
    config(&r, true, true);
    assert!(codes(&check_system(&r)).contains(&"B008"));
    // A BPF object's BTF checked as a file.
    assert!(codes(&check_file(
        corpus("bpf/maps.bpf.o").to_str().unwrap(),
        None
    ))
    .contains(&"B008"));
}

#[test]
fn b004_b005_kernel_config() {
    let r = root("b004");
    vmlinux(&r);
    module(&r, "ms_mod");
    config(&r, false, true);
    assert_eq!(codes(&check_system(&r)), ["B004"]);
    let r = root("b005");
    vmlinux(&r);
    config(&r, true, false);
    let c = check_system(&r);
    assert_eq!(
        codes(&c),
        ["B005"],
        "B010 stays quiet when the config explains it"
    );
    assert_eq!(c.co_re, CoreVerdict::Limited);
}

#[test]
fn b006_broken_module() {
    let r = root("b006");
    vmlinux(&r);
    module(&r, "good_mod");
    std::fs::write(
        r.join("sys/kernel/btf/broken_mod"),
        b"\x9f\xeb\x01\x00garbage",
    )
    .unwrap();
    config(&r, true, true);
    let c = check_system(&r);
    assert_eq!(codes(&c), ["B006"]);
    assert!(c.findings[0].message.contains("broken_mod"));
}

#[test]
fn b007_b010_no_config_no_modules() {
    let r = root("b007");
    vmlinux(&r);
    let c = check_system(&r);
    assert_eq!(codes(&c), ["B007", "B010"]);
    assert_eq!(
        c.co_re,
        CoreVerdict::Works,
        "notes do not change the verdict"
    );
}

#[test]
fn b009_other_byte_order() {
    let c = check_file(corpus("bpf/types.bpfeb.o").to_str().unwrap(), None);
    assert!(codes(&c).contains(&"B009"), "{:?}", codes(&c));
    let c = check_file(corpus("bpf/types.bpf.o").to_str().unwrap(), None);
    assert!(!codes(&c).contains(&"B009"));
}

#[test]
fn live_system() {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIP live_system: this machine has no /sys/kernel/btf/vmlinux");
        return;
    }
    let c = check_system(Path::new("/"));
    assert!(
        !codes(&c).iter().any(|c| *c == "B001" || *c == "B002"),
        "{:#?}",
        c.findings
    );
    assert!(c.types.unwrap() > 10_000);
    assert!(c.well_known.iter().all(|(_, present)| *present));
}
