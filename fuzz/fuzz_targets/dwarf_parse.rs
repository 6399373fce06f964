//! Fuzzes the Go DWARF reader: any bytes must open or fail with an error, never panic,
//! and every type of a binary that opens must convert (or fail) and lay out (or fail).
//!
//! Two inputs per run: the bytes as a whole file, and (to reach the DWARF parser without
//! first finding a valid ELF) the bytes split into `.debug_abbrev` and `.debug_info` and
//! wrapped in a minimal ELF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapsleuth_dwarf::{GoBinary, Options};

fuzz_target!(|data: &[u8]| {
    exercise(data);
    if data.len() >= 2 {
        let split = (usize::from(data[0]) | usize::from(data[1]) << 8) % data.len().max(1);
        let (abbrev, info) = data[2..].split_at(split.min(data.len() - 2));
        exercise(&elf(&[(".debug_abbrev", abbrev), (".debug_info", info)]));
    }
});

fn exercise(data: &[u8]) {
    // A small cap keeps claimed section sizes from dominating the run.
    let options = Options {
        max_decompressed_bytes: 16 << 20,
    };
    let Ok(bin) = GoBinary::parse_with(data, &options) else {
        return;
    };
    let _ = bin.lookup_name("main.Event");
    let Ok(types) = bin.types() else {
        return;
    };
    for entry in types.iter().take(64) {
        let _ = bin.lookup_name(&entry.name);
        let Ok((table, ids)) = bin.table_for_offsets(&[entry.die_offset]) else {
            continue;
        };
        let id = ids[0];
        let _ = table.layout(id);
        let _ = table.leaves(id);
        let _ = table.padding(id);
        let _ = table.describe(id);
        let _ = table.type_name(id);
    }
}

/// A minimal little-endian x86-64 ELF holding the given sections.
fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for (name, _) in sections {
        names.push(shstrtab.len() as u32);
        shstrtab.extend(name.as_bytes());
        shstrtab.push(0);
    }
    let shstr_name = shstrtab.len() as u32;
    shstrtab.extend(b".shstrtab\0");
    let mut out = vec![0u8; 64];
    let mut ranges = Vec::new();
    for (_, bytes) in sections {
        ranges.push((out.len() as u64, bytes.len() as u64));
        out.extend(*bytes);
    }
    let shstr = (out.len() as u64, shstrtab.len() as u64);
    out.extend(&shstrtab);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let shoff = out.len() as u64;
    let shnum = sections.len() as u16 + 2;
    let mut header = |name: u32, ty: u32, (off, size): (u64, u64)| {
        out.extend(name.to_le_bytes());
        out.extend(ty.to_le_bytes());
        out.extend([0u8; 16]); // flags, addr
        out.extend(off.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend([0u8; 8]); // link, info
        out.extend(1u64.to_le_bytes());
        out.extend(0u64.to_le_bytes());
    };
    header(0, 0, (0, 0));
    for (i, range) in ranges.iter().enumerate() {
        header(names[i], 1, *range);
    }
    header(shstr_name, 3, shstr);
    let mut h = Vec::with_capacity(64);
    h.extend(b"\x7fELF\x02\x01\x01\x00");
    h.extend([0u8; 8]);
    h.extend(2u16.to_le_bytes());
    h.extend(62u16.to_le_bytes());
    h.extend(1u32.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(0u64.to_le_bytes());
    h.extend(shoff.to_le_bytes());
    h.extend(0u32.to_le_bytes());
    h.extend(64u16.to_le_bytes());
    h.extend(56u16.to_le_bytes());
    h.extend(0u16.to_le_bytes());
    h.extend(64u16.to_le_bytes());
    h.extend(shnum.to_le_bytes());
    h.extend((shnum - 1).to_le_bytes());
    out[..64].copy_from_slice(&h);
    out
}
