//! Field paths and names as the dump engine joins and compares them.
//!
//! The same rules are written again in crates/layout (`flatten.rs` `join`) and
//! crates/crosscheck (`pairing.rs` `fold`, `crosscheck.rs` `norm`, `gogen.rs`
//! `join_path`); issue 12 moves them to one home.

/// `prefix.name`; an empty side is left out (anonymous members belong to their parent).
pub(crate) fn join_path(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{name}"),
    }
}

/// Lowercase, without underscores: `ts_ns` and Go's `TsNs` meet as `tsns`.
pub(crate) fn fold_name(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A leaf path with every component folded; `None` for Go blank fields.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    let mut out = String::new();
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if mapsleuth_layout::is_go_blank(name) {
            return None;
        }
        let f = fold_name(name);
        if f.is_empty() && idx.is_empty() {
            continue;
        }
        if !out.is_empty() && !f.is_empty() {
            out.push('.');
        }
        out.push_str(&f);
        out.push_str(idx);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_across_languages() {
        assert_eq!(normalize_path("ts_ns"), normalize_path("TsNs"));
        assert_eq!(
            normalize_path("hdr.addrs[2].src_port").unwrap(),
            "hdr.addrs[2].srcport"
        );
        assert_eq!(normalize_path("_"), None);
        assert_eq!(normalize_path("").unwrap(), "");
        assert_eq!(normalize_path("Header.Pid").unwrap(), "header.pid");
    }

    #[test]
    fn paths_join_without_empty_components() {
        assert_eq!(join_path("", "a"), "a");
        assert_eq!(join_path("a", ""), "a");
        assert_eq!(join_path("a", "b"), "a.b");
        assert_eq!(join_path("", ""), "");
    }
}
