//! Which Go type mirrors which BTF type. Names are compared after dropping the Go
//! package path, case and underscores; bpf2go's `<ident>Event` prefix and C's `_t`
//! suffix are understood, but a pair found only through them is a weak match the user
//! should confirm.

use mapsleuth_layout::fold_name;
use serde::Serialize;

/// How a pair was made, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// `--pair GO=C`.
    Explicit,
    /// `--map NAME`: the map's key or value type, and the Go type of that name.
    Map,
    /// Same name once package path, case and underscores are ignored.
    Name,
    /// Same name only after dropping a bpf2go prefix or a `_t` suffix.
    Weak,
}

/// `example.com/app/good.Event` → `Event`; generic arguments are kept.
pub fn go_identifier(name: &str) -> &str {
    let short = mapsleuth_layout::go_short_name(name);
    let head_end = short.find('[').unwrap_or(short.len());
    match short[..head_end].rfind('.') {
        Some(i) => &short[i + 1..],
        None => short,
    }
}

/// The strong key of a Go type name: identifier, lowercased, without underscores.
pub fn go_key(name: &str) -> String {
    fold_name(go_identifier(name))
}

/// bpf2go names a C `struct event` `<ident>Event` (`bpfEvent`, `counterEvent`): the
/// key without that lowercase prefix, when there is one.
pub fn go_weak_key(name: &str) -> Option<String> {
    let id = go_identifier(name);
    let first_upper = id.find(|c: char| c.is_ascii_uppercase())?;
    (first_upper > 0
        && id[..first_upper]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
    .then(|| fold_name(&id[first_upper..]))
}

/// The strong key of a C type name (`struct flow_stats` → `flowstats`).
pub fn c_key(name: &str) -> String {
    let bare = name
        .strip_prefix("struct ")
        .or_else(|| name.strip_prefix("union "))
        .unwrap_or(name);
    fold_name(bare)
}

/// The C key without a `_t` suffix.
pub fn c_weak_key(name: &str) -> Option<String> {
    let bare = name
        .strip_prefix("struct ")
        .or_else(|| name.strip_prefix("union "))
        .unwrap_or(name);
    bare.strip_suffix("_t").map(fold_name)
}

/// How well a Go name matches a C name, if at all.
pub fn match_names(go: &str, c: &str) -> Option<MatchRule> {
    let (gk, ck) = (go_key(go), c_key(c));
    if gk == ck {
        return Some(MatchRule::Name);
    }
    let gw = go_weak_key(go);
    let cw = c_weak_key(c);
    let weak = [
        gw.as_deref() == Some(ck.as_str()),
        cw.as_deref() == Some(gk.as_str()),
        gw.is_some() && gw == cw,
    ];
    weak.iter().any(|&b| b).then_some(MatchRule::Weak)
}

/// Go types that belong to the user's program, not to the runtime or the standard
/// library: `main.*` and packages whose path starts with a domain (`example.com/...`).
pub fn is_user_go_type(name: &str) -> bool {
    let name = name.trim_start_matches(['*', '[', ']']);
    if name.starts_with("main.") {
        return true;
    }
    let path_end = name.find('[').unwrap_or(name.len());
    let path = &name[..path_end];
    match path.split_once('/') {
        Some((first, _)) => first.contains('.') && !path.contains(".struct") && path.contains('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pair_across_conventions() {
        assert_eq!(
            match_names("example.com/app/good.FlowStats", "struct flow_stats"),
            Some(MatchRule::Name)
        );
        assert_eq!(match_names("main.Event", "event"), Some(MatchRule::Name));
        assert_eq!(
            match_names("main.bpfEvent", "struct event"),
            Some(MatchRule::Weak)
        );
        assert_eq!(
            match_names("main.counterFlowKey", "flow_key"),
            Some(MatchRule::Weak)
        );
        assert_eq!(match_names("main.Conn", "conn_t"), Some(MatchRule::Weak));
        assert_eq!(match_names("main.Event", "struct flow_key"), None);
        assert_eq!(
            go_identifier("example.com/app/generic.Pair[uint32,uint64]"),
            "Pair[uint32,uint64]"
        );
    }

    #[test]
    fn user_types_are_main_and_domain_packages() {
        assert!(is_user_go_type("main.Event"));
        assert!(is_user_go_type("example.com/app/good.Event"));
        assert!(!is_user_go_type("runtime.g"));
        assert!(!is_user_go_type("internal/runtime/syscall.EpollEvent"));
        assert!(!is_user_go_type("[]uint8"));
    }
}

/// A C type the user may want mirrored: a map's key or value type, or (for kernel
/// BTF) any struct.
#[derive(Clone, Debug)]
pub struct CCandidate {
    /// As BTF spells it: `struct event`.
    pub name: String,
    pub id: mapsleuth_layout::TypeId,
    /// The map and `key`/`value` it comes from.
    pub map: Option<(String, &'static str)>,
}

/// A pair to check.
#[derive(Clone, Debug)]
pub struct PairPlan {
    pub go: String,
    pub c: CCandidate,
    pub rule: MatchRule,
}

/// Pairs each C candidate with every user Go struct whose name matches it. C
/// candidates from maps that find no Go counterpart are returned apart, so the caller
/// can report them (L022).
pub fn plan_by_name(
    go_structs: &[String],
    candidates: &[CCandidate],
    map_rule: bool,
) -> (Vec<PairPlan>, Vec<CCandidate>) {
    let mut plans = Vec::new();
    let mut unpaired = Vec::new();
    for c in candidates {
        let mut found = false;
        for g in go_structs.iter().filter(|g| is_user_go_type(g)) {
            if let Some(rule) = match_names(g, &c.name) {
                found = true;
                let rule = if map_rule && rule == MatchRule::Name {
                    MatchRule::Map
                } else {
                    rule
                };
                plans.push(PairPlan {
                    go: g.clone(),
                    c: c.clone(),
                    rule,
                });
            }
        }
        if !found {
            unpaired.push(c.clone());
        }
    }
    (plans, unpaired)
}
