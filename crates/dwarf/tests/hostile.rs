//! Hostile input: truncated binaries and sections, bit-flipped debug sections (many
//! deterministic seeds), and compressed sections that lie about their size. Every case
//! must end in a value or an error, never a panic or a hang.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use mapsleuth_dwarf::{DwarfError, GoBinary, Options};
use object::{Object, ObjectSection};

const BIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/go/bin");

fn read(file: &str) -> Vec<u8> {
    std::fs::read(format!("{BIN}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Everything a caller does with a binary; errors are fine, panics are not.
fn exercise(data: &[u8]) -> Result<usize, DwarfError> {
    let bin = GoBinary::parse(data)?;
    let mut n = 0;
    let types = bin.types()?;
    let names: Vec<String> = types
        .iter()
        .filter(|e| e.kind == "struct")
        .map(|e| e.name.clone())
        .take(12)
        .chain(["main.Event".to_string(), "good.FlowStats".to_string()])
        .collect();
    for name in &names {
        let Ok((table, ids)) = bin.table_for(&[name]) else {
            continue;
        };
        let id = ids[0];
        let _ = table.layout(id);
        let _ = table.leaves(id);
        let _ = table.padding(id);
        let _ = table.describe(id);
        let _ = table.type_name(id);
        n += 1;
    }
    Ok(n)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn section_range(data: &[u8], name: &str) -> (usize, usize) {
    let file = object::File::parse(data).unwrap();
    let s = file
        .section_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"));
    let (off, size) = s.file_range().unwrap();
    (off as usize, size as usize)
}

/// Where the ELF64 section header of `name` keeps its `sh_size`.
fn sh_size_field(data: &[u8], name: &str) -> usize {
    let file = object::File::parse(data).unwrap();
    let index = file.section_by_name(name).unwrap().index().0;
    let shoff = u64::from_le_bytes(data[0x28..0x30].try_into().unwrap()) as usize;
    shoff + index * 64 + 32
}

#[test]
fn the_unmodified_binaries_work() {
    for f in [
        "app-go1.25.5-linux-amd64-nocompress",
        "app-go1.25.5-linux-amd64",
    ] {
        assert!(exercise(&read(f)).unwrap() >= 12, "{f}");
    }
}

#[test]
fn truncated_files_give_errors() {
    for f in [
        "app-go1.25.5-linux-amd64",
        "app-go1.25.5-linux-386",
        "app-go1.25.5-darwin-arm64",
        "app-go1.25.5-linux-s390x",
    ] {
        let data = read(f);
        for k in 0..24 {
            let cut = data.len() * k / 24;
            assert!(exercise(&data[..cut]).is_err(), "{f} cut at {cut}");
        }
        for cut in [0, 1, 4, 16, 52, 64, 100] {
            assert!(exercise(&data[..cut]).is_err(), "{f} cut at {cut}");
        }
    }
}

#[test]
fn truncated_debug_sections_give_errors_not_panics() {
    let data = read("app-go1.25.5-linux-amd64-nocompress");
    for section in [".debug_info", ".debug_abbrev"] {
        let field = sh_size_field(&data, section);
        let (_, size) = section_range(&data, section);
        let mut failed = 0;
        for k in 0..32 {
            let mut copy = data.clone();
            let new_size = (size * k / 32) as u64;
            copy[field..field + 8].copy_from_slice(&new_size.to_le_bytes());
            failed += usize::from(exercise(&copy).is_err());
        }
        assert!(
            failed > 16,
            "{section}: only {failed} of 32 truncations failed"
        );
    }
}

fn flip_bytes(data: &[u8], ranges: &[(usize, usize)], seeds: u64, max_flips: u64) -> (u32, u32) {
    let (mut ok, mut err) = (0, 0);
    for seed in 1..=seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut copy = data.to_vec();
        for _ in 0..1 + rng.below(max_flips) {
            let (start, len) = ranges[rng.below(ranges.len() as u64) as usize];
            let at = start + rng.below(len as u64) as usize;
            copy[at] ^= 1 << rng.below(8);
        }
        match exercise(&copy) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    (ok, err)
}

#[test]
fn bit_flipped_uncompressed_dwarf_never_panics() {
    let data = read("app-go1.25.5-linux-amd64-nocompress");
    let info = section_range(&data, ".debug_info");
    let abbrev = section_range(&data, ".debug_abbrev");
    // Single flips anywhere in .debug_info mostly land in names and constants.
    let (ok, err) = flip_bytes(&data, &[info], 120, 4);
    assert_eq!(ok + err, 120);
    // The abbreviations steer the whole parse: flips there are the nastiest.
    let (ok2, err2) = flip_bytes(&data, &[abbrev], 80, 2);
    assert_eq!(ok2 + err2, 80);
    assert!(err2 > 0);
    // And the first unit headers and the type unit's top.
    let head = (info.0, 4096.min(info.1));
    let (ok3, err3) = flip_bytes(&data, &[head], 80, 3);
    assert_eq!(ok3 + err3, 80);
}

#[test]
fn bit_flipped_compressed_sections_never_panic() {
    for f in [
        "app-go1.25.5-linux-amd64",
        "app-go1.25.5-linux-amd64-zstd",
        "app-go1.25.5-linux-amd64-zlibgnu",
    ] {
        let data = read(f);
        let file = object::File::parse(&*data).unwrap();
        let info = file
            .section_by_name(".debug_info")
            .unwrap()
            .file_range()
            .unwrap();
        drop(file);
        let (_, err) = flip_bytes(&data, &[(info.0 as usize, info.1 as usize)], 40, 3);
        assert!(err > 0, "{f}");
    }
}

#[test]
fn a_section_claiming_a_huge_uncompressed_size_is_refused_before_decompressing() {
    // ELF64 SHF_COMPRESSED: Elf64_Chdr { ch_type u32, ch_reserved u32, ch_size u64, .. }.
    let mut data = read("app-go1.25.5-linux-amd64");
    let (off, _) = section_range(&data, ".debug_info");
    data[off + 8..off + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    match GoBinary::parse(&data) {
        Err(DwarfError::DecompressionLimit {
            ref section,
            file_offset,
            claimed,
            limit,
        }) => {
            assert_eq!(section, ".debug_info");
            assert_eq!(file_offset, off as u64);
            assert_eq!(claimed, 1 << 40);
            assert_eq!(limit, 1 << 30);
        }
        other => panic!("{other:?}"),
    }
    let msg = GoBinary::parse(&data).unwrap_err().to_string();
    assert!(
        msg.contains(".debug_info") && msg.contains(&format!("{off:#x}")),
        "{msg}"
    );

    // ELF32 (386): Elf32_Chdr { ch_type u32, ch_size u32, ch_addralign u32 }.
    let mut data = read("app-go1.25.5-linux-386");
    let (off, _) = section_range(&data, ".debug_info");
    data[off + 4..off + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        GoBinary::parse(&data),
        Err(DwarfError::DecompressionLimit { .. })
    ));

    // GNU .zdebug: "ZLIB" and an 8-byte big-endian size (object reads at most 4 GiB).
    let mut data = read("app-go1.25.5-linux-amd64-zlibgnu");
    let (off, _) = section_range(&data, ".zdebug_info");
    assert_eq!(&data[off..off + 4], b"ZLIB");
    data[off + 8..off + 12].copy_from_slice(&u32::MAX.to_be_bytes());
    match GoBinary::parse(&data) {
        Err(DwarfError::DecompressionLimit { section, .. }) => assert_eq!(section, ".zdebug_info"),
        other => panic!("{other:?}"),
    }

    // A cap lowered by the caller applies to all sections together.
    let data = read("app-go1.25.5-linux-amd64-zstd");
    let small = Options {
        max_decompressed_bytes: 64 * 1024,
    };
    assert!(matches!(
        GoBinary::parse_with(&data, &small),
        Err(DwarfError::DecompressionLimit { .. })
    ));
}

#[test]
fn sections_lying_about_their_size_within_the_cap_are_errors() {
    let data = read("app-go1.25.5-linux-amd64");
    let (off, _) = section_range(&data, ".debug_info");
    let real = u64::from_le_bytes(data[off + 8..off + 16].try_into().unwrap());
    for claimed in [0, 1, real / 2, real - 1, real + 1, real * 2] {
        let mut copy = data.clone();
        copy[off + 8..off + 16].copy_from_slice(&claimed.to_le_bytes());
        match GoBinary::parse(&copy) {
            Err(DwarfError::Section {
                section, reason, ..
            }) => {
                assert_eq!(section, ".debug_info");
                assert!(reason.contains("decompress"), "{reason}");
            }
            other => panic!("claimed {claimed}: {other:?}"),
        }
    }
}
