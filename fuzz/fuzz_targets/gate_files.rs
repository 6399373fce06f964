//! Fuzzes the CI gate's two text inputs, the lockfile (`mapsleuth.lock`) and the config
//! (`mapsleuth.toml`): any text must parse or fail with a located error, never panic,
//! and a lockfile that parses must write back to text that parses to the same lockfile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapsleuth_engine::{GateConfig, Lockfile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = GateConfig::parse(text, "fuzz.toml");
    let Ok(lock) = Lockfile::parse(text, "fuzz.lock") else {
        return;
    };
    let Ok(again) = lock.to_text() else {
        return;
    };
    match Lockfile::parse(&again, "again.lock") {
        Ok(reparsed) => assert_eq!(reparsed, lock, "the written lockfile reads back different"),
        Err(e) => panic!("a written lockfile does not parse: {e}"),
    }
});
