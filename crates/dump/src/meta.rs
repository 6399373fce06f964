//! Map metadata from `bpftool -j map show` (one object, or the array `map show` prints
//! for all maps), to attach to a dump that has none.

use std::sync::Arc;

use serde::Deserialize;

use crate::error::{DumpError, ErrorKind};
use crate::model::MapMeta;

#[derive(Deserialize)]
struct Show {
    id: Option<u32>,
    name: Option<String>,
    #[serde(rename = "type")]
    map_type: Option<serde_json::Value>,
    flags: Option<u64>,
    bytes_key: Option<u32>,
    bytes_value: Option<u32>,
    max_entries: Option<u32>,
    btf_id: Option<u32>,
    frozen: Option<u64>,
    #[serde(default)]
    pinned: Vec<String>,
}

impl From<Show> for MapMeta {
    fn from(s: Show) -> Self {
        MapMeta {
            id: s.id,
            name: s.name,
            map_type: s.map_type.map(|t| match t {
                serde_json::Value::String(s) => s,
                other => format!("type {other}"),
            }),
            key_size: s.bytes_key,
            value_size: s.bytes_value,
            max_entries: s.max_entries,
            flags: s.flags,
            btf_id: s.btf_id,
            frozen: s.frozen.map(|f| f != 0),
            pinned: s.pinned,
            ..MapMeta::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Show),
    Many(Vec<Show>),
}

/// Parses `bpftool -j map show` output (`-p` too): one map or an array of maps.
pub fn parse_bpftool_map_show(bytes: &[u8], name: &str) -> Result<Vec<MapMeta>, DumpError> {
    let file: Arc<str> = name.into();
    match serde_json::from_slice::<OneOrMany>(bytes) {
        Ok(OneOrMany::One(s)) => Ok(vec![s.into()]),
        Ok(OneOrMany::Many(v)) => Ok(v.into_iter().map(Into::into).collect()),
        Err(e) => Err(DumpError::new(&file, None, ErrorKind::Json(e.to_string()))),
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
    }
}
