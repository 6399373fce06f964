//! Field paths and names as the dump engine joins and compares them.
//!
//! Joining and folding are the layout crate's rules (`join_path`, `fold_name`), shared
//! with the layout engine; the path normalisation for bpftool's member names is ours.

pub(crate) use mapsleuth_layout::{fold_name, join_path};

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
