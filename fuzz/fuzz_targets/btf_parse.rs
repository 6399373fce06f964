//! Fuzzes the BTF reader: any bytes, as a file (raw BTF or an ELF with `.BTF`) and as
//! split BTF on a small fixed base (the corpus `types.bpf.btf`), go through the whole
//! path `btf show`/`maps`/`check` take: parse, validate, lookups, conversion to the
//! layout model, every aggregate's layout, leaves and padding, map discovery. Nothing
//! may panic, and every error must say where (a byte offset inside the blob, or the
//! file), as `crates/btf/tests/hostile.rs` requires.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapsleuth_btf::{discover_maps, Btf, BtfBytes, BtfError, ErrorKind, LegacyMap};

static BASE_BYTES: &[u8] = include_bytes!("../../corpus/btf/types.bpf.btf");

fn base() -> &'static Btf<'static> {
    static BASE: OnceLock<Btf<'static>> = OnceLock::new();
    BASE.get_or_init(|| Btf::parse(BASE_BYTES).expect("the base parses"))
}

fn located(e: &BtfError, blob_len: usize) {
    let shown = e.to_string();
    match &e.kind {
        ErrorKind::Elf(_) | ErrorKind::Io(_) => assert!(
            e.path.as_deref().is_some_and(|p| shown.starts_with(p)),
            "{shown}"
        ),
        ErrorKind::Layout(_) | ErrorKind::NotFound(_) => {}
        // Byte 0 is the magic: only these are located there.
        ErrorKind::BadMagic { .. } | ErrorKind::Truncated { .. } | ErrorKind::Limit { .. } => {
            assert!(shown.contains("at byte") && e.offset <= blob_len, "{shown}")
        }
        _ => assert!(
            shown.contains("at byte") && e.offset > 0 && e.offset <= blob_len,
            "unlocated or out-of-range error (offset {} of {blob_len}): {shown}",
            e.offset
        ),
    }
}

fn check<T>(r: Result<T, BtfError>, blob_len: usize) -> Option<T> {
    r.map_err(|e| located(&e, blob_len)).ok()
}

fn exercise(data: &[u8], legacy: &[LegacyMap], base: Option<&Btf>) {
    let len = data.len();
    let parsed = match base {
        Some(b) => Btf::parse_split(data, b),
        None => Btf::parse(data),
    };
    let Some(btf) = check(parsed, len) else {
        return;
    };
    check(btf.validate(), len);
    let local: Vec<u32> = (btf.first_id()..=btf.count()).collect();
    for name in [
        "event",
        "struct nested",
        "union u",
        "enum e",
        "no_such_type",
    ] {
        if let Some(id) = check(btf.find_type(name), len) {
            if let Some(table) = check(btf.to_table_for(&[id]), len) {
                let _ = table.layout(id);
                let _ = table.describe(id);
            }
        }
    }
    for &id in local.iter().take(64) {
        let _ = btf.size_of(id);
        let _ = btf.name_of(id);
    }
    let Some(table) = check(btf.to_table(), len) else {
        return;
    };
    // Structs and unions (and typedefs of them) are the types with a layout.
    let aggregates = local.iter().copied().filter(|&id| table.layout(id).is_ok());
    for id in aggregates.take(64) {
        let _ = table.leaves(id);
        let _ = table.padding(id);
        let _ = table.type_name(id);
    }
    check(discover_maps(&btf, &table, legacy), len);
}

fuzz_target!(|data: &[u8]| {
    match BtfBytes::from_file_bytes("fuzz.o", data) {
        Ok(b) => exercise(&b.data, &b.legacy_maps, None),
        Err(e) => located(&e, data.len()),
    }
    exercise(data, &[], Some(base()));
});
