//! Map metadata from `bpftool -j map show` (one object, or the array `map show` prints
//! for all maps), to attach to a dump that has none.

use std::sync::Arc;

use crate::error::{DumpError, ErrorKind};
use crate::model::MapMeta;

/// One map's `bpftool -j map show` object as [`MapMeta`]: the one reading of bpftool's
/// map fields, also used for the map headers of a multi-map `map dump` (json.rs).
/// Fields of an unexpected type are left unknown rather than failing the dump.
pub(crate) fn meta_from_object(m: &serde_json::Map<String, serde_json::Value>) -> MapMeta {
    let u32_of = |k: &str| {
        m.get(k)
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok())
    };
    let str_of = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_string);
    MapMeta {
        id: u32_of("id"),
        name: str_of("name"),
        map_type: str_of("type").or_else(|| u32_of("type").map(|t| format!("type {t}"))),
        key_size: u32_of("bytes_key"),
        value_size: u32_of("bytes_value"),
        max_entries: u32_of("max_entries"),
        flags: m.get("flags").and_then(|v| v.as_u64()),
        btf_id: u32_of("btf_id"),
        frozen: m.get("frozen").and_then(|v| v.as_u64()).map(|n| n != 0),
        pinned: m
            .get("pinned")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        ..MapMeta::default()
    }
}

/// Parses `bpftool -j map show` output (`-p` too): one map or an array of maps.
pub fn parse_bpftool_map_show(bytes: &[u8], name: &str) -> Result<Vec<MapMeta>, DumpError> {
    let file: Arc<str> = name.into();
    let bad = |what: String| DumpError::new(&file, None, ErrorKind::Json(what));
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let object = |v: &serde_json::Value| {
        v.as_object()
            .map(meta_from_object)
            .ok_or_else(|| bad("expected `bpftool -j map show` output: a map object".into()))
    };
    match &doc {
        serde_json::Value::Array(maps) => maps.iter().map(object).collect(),
        one => Ok(vec![object(one)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_json() {
        let s = br#"{"id":116,"type":"hash","name":"flows","flags":0,"bytes_key":16,"bytes_value":32,"max_entries":1024,"bytes_memlock":115792,"frozen":0,"btf_id":67,"pinned":["/sys/fs/bpf/x/flows"]}"#;
        let m = parse_bpftool_map_show(s, "show.json").unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].id, Some(116));
        assert_eq!(m[0].map_type.as_deref(), Some("hash"));
        assert_eq!(m[0].key_size, Some(16));
        assert_eq!(m[0].value_size, Some(32));
        assert_eq!(m[0].btf_id, Some(67));
        assert_eq!(m[0].frozen, Some(false));
        assert_eq!(m[0].pinned, ["/sys/fs/bpf/x/flows"]);
        let many = parse_bpftool_map_show(br#"[{"id":1},{"id":2,"type":"array"}]"#, "x").unwrap();
        assert_eq!(many.len(), 2);
        assert!(parse_bpftool_map_show(b"nope", "x").is_err());
        assert!(parse_bpftool_map_show(b"[1]", "x").is_err());
    }
}
