//! The JSON Schema of every document `--format json` prints, generated from the Rust
//! types with schemars. `schemas/*.schema.json` are these, committed; a test keeps them
//! in sync (`UPDATE_SCHEMAS=1 cargo test -p mapsleuth schemas` rewrites them).

use schemars::{schema_for, Schema};

/// (file name under schemas/, schema)
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        (
            "show.schema.json",
            schema_for!(crate::cmd::btf::ShowDocument),
        ),
        (
            "btf-types.schema.json",
            schema_for!(Vec<crate::cmd::btf::TypeRow>),
        ),
        (
            "btf-maps.schema.json",
            schema_for!(Vec<mapsleuth_btf::MapDef>),
        ),
        (
            "btf-check.schema.json",
            schema_for!(mapsleuth_btf::BtfCheck),
        ),
        (
            "go-types.schema.json",
            schema_for!(Vec<crate::cmd::go::TypeRow<'static>>),
        ),
        (
            "analyze-layout.schema.json",
            schema_for!(mapsleuth_crosscheck::report::LayoutReport),
        ),
        (
            "analyze-dump.schema.json",
            schema_for!(mapsleuth_forensics::dump_report::DumpReport<'static>),
        ),
        (
            "findings.schema.json",
            schema_for!(Vec<mapsleuth_layout::Finding>),
        ),
        (
            "capture-list.schema.json",
            schema_for!(Vec<crate::cmd::capture::MapRow>),
        ),
        (
            "capture.schema.json",
            schema_for!(crate::cmd::capture::CaptureReport),
        ),
        (
            "check.schema.json",
            schema_for!(mapsleuth_engine::CheckReport),
        ),
        ("lock.schema.json", schema_for!(mapsleuth_engine::Lockfile)),
        (
            "lock-check.schema.json",
            schema_for!(mapsleuth_engine::LockCheckReport),
        ),
        (
            "diff.schema.json",
            schema_for!(mapsleuth_forensics::diff::DiffReport),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn committed_schemas_match_the_types() {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas"));
        let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
        for (name, schema) in super::all() {
            let value = serde_json::to_value(&schema).unwrap();
            let sorted = mapsleuth_dump::capture_file::sorted_keys(value);
            let text = serde_json::to_string_pretty(&sorted).unwrap() + "\n";
            let path = dir.join(name);
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "schemas/{name} is out of date with the Rust types: run UPDATE_SCHEMAS=1 cargo test -p mapsleuth schemas"
            );
        }
    }
}
