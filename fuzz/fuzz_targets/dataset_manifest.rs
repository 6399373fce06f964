//! Fuzzes the fleet dataset's manifest reader (`DIR/_mapsleuth/dataset.json`, the file
//! that names the parts `export --replace` removes): any text must parse or fail with a
//! message, never panic, every part path it accepts (committed, pending or retired: an
//! export removes the last two) must stay inside a table folder, and what it reads it
//! writes back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapsleuth_frames::parse_manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = parse_manifest(text) else {
        return;
    };
    // Recovery removes pending and retired parts: those too must stay inside.
    let named = m.snapshots.iter().chain(&m.pending).flat_map(|(_, f)| f);
    for f in named.chain(&m.retired) {
        assert!(!f.starts_with('/') && !f.split('/').any(|s| s == ".."), "{f}");
    }
    // What it reads, it writes back the same.
    assert_eq!(parse_manifest(&m.to_json()).as_ref(), Ok(&m));
});
