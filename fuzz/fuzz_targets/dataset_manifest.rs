//! Fuzzes the fleet dataset's manifest reader (`DIR/_mapsleuth/dataset.json`, the file
//! that names the parts `export --replace` removes): any text must parse or fail with a
//! message, never panic, and every part path it accepts must stay inside a table folder.
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
    for (_, files) in &m.snapshots {
        for f in files {
            assert!(!f.starts_with('/') && !f.split('/').any(|s| s == ".."), "{f}");
        }
    }
});
