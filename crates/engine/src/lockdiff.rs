//! `mapsleuth lock check`: the current build against `mapsleuth.lock`, as a reviewer
//! reads it: per map, side and field, what changed, `old → new`, and whether a reader
//! built against the old layout still reads the new one.

use std::collections::{BTreeMap, HashSet};

use mapsleuth_layout::{Finding, LayoutCode, Location};
use serde::Serialize;

use crate::lock::{FieldLock, Lockfile, MapLock, RoleLock, TypeLock};

/// One change between the lockfile and the build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LockChange {
    pub object: String,
    /// `*` for the whole program (GOARCH, byte order).
    pub map: String,
    /// `key` or `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `c`, `go` or `map`.
    pub side: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `moved`, `resized`, `retyped`, `removed`, `renamed`, `appended`, `added`,
    /// `padding appeared`, `size changed`, `target changed`, `type renamed`.
    pub change: String,
    pub old: String,
    pub new: String,
    pub compatible: bool,
}

/// One JSON document: `schemas/lock-check.schema.json`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct LockCheckReport {
    pub lockfile: String,
    pub incompatible: Vec<LockChange>,
    pub compatible: Vec<LockChange>,
    /// The changes as findings (L024 incompatible, L025 compatible).
    pub findings: Vec<Finding>,
}

impl LockCheckReport {
    pub fn new(lockfile: &str, old: &Lockfile, new: &Lockfile) -> Self {
        let (compatible, incompatible): (Vec<_>, Vec<_>) =
            compare(old, new).into_iter().partition(|c| c.compatible);
        let findings = incompatible
            .iter()
            .chain(&compatible)
            .map(|c| finding(lockfile, c))
            .collect();
        LockCheckReport {
            lockfile: lockfile.to_string(),
            incompatible,
            compatible,
            findings,
        }
    }
}

fn finding(lockfile: &str, c: &LockChange) -> Finding {
    let code = if c.compatible {
        LayoutCode::LockCompatible
    } else {
        LayoutCode::LockIncompatible
    };
    let what = match (&c.role, &c.type_name) {
        (Some(r), Some(t)) => format!("map `{}` {r}, {} `{t}`", c.map, side_name(&c.side)),
        _ => format!("map `{}`", c.map),
    };
    let field = c
        .field
        .as_deref()
        .map(|f| format!(" field `{f}`"))
        .unwrap_or_default();
    Finding::new(
        code,
        format!("{what}:{field} {}: {} → {}", c.change, c.old, c.new),
    )
    .at(Location {
        file: Some(lockfile.to_string()),
        type_name: c.type_name.clone(),
        field: c.field.clone(),
        map: Some(c.map.clone()),
        ..Default::default()
    })
}

pub fn side_name(side: &str) -> &'static str {
    match side {
        "c" => "C",
        "go" => "Go",
        _ => "map",
    }
}

/// Every change from `old` to `new`, in lockfile order.
pub fn compare(old: &Lockfile, new: &Lockfile) -> Vec<LockChange> {
    let mut out = Vec::new();
    let whole = |change: &str, o: String, n: String| LockChange {
        object: String::new(),
        map: "*".into(),
        role: None,
        side: "go".into(),
        type_name: None,
        field: None,
        change: change.into(),
        old: o,
        new: n,
        compatible: false,
    };
    if (&old.go_arch, old.go_byte_order) != (&new.go_arch, new.go_byte_order) {
        out.push(whole(
            "target changed",
            format!("{} {:?}", old.go_arch, old.go_byte_order),
            format!("{} {:?}", new.go_arch, new.go_byte_order),
        ));
    }
    let key = |m: &MapLock| (m.object.clone(), m.name.clone());
    let olds: BTreeMap<_, _> = old.maps.iter().map(|m| (key(m), m)).collect();
    let news: BTreeMap<_, _> = new.maps.iter().map(|m| (key(m), m)).collect();
    for (k, o) in &olds {
        match news.get(k) {
            Some(n) => compare_map(o, n, &mut out),
            None => out.push(map_change(o, "removed", &o.name, "(none)", false)),
        }
    }
    for (k, n) in &news {
        if !olds.contains_key(k) {
            out.push(map_change(n, "added", "(none)", &n.name, true));
        }
    }
    out
}

fn map_change(m: &MapLock, change: &str, old: &str, new: &str, compatible: bool) -> LockChange {
    LockChange {
        object: m.object.clone(),
        map: m.name.clone(),
        role: None,
        side: "map".into(),
        type_name: None,
        field: None,
        change: change.into(),
        old: old.into(),
        new: new.into(),
        compatible,
    }
}

fn compare_map(o: &MapLock, n: &MapLock, out: &mut Vec<LockChange>) {
    let sizes = [
        ("key", o.key_size, n.key_size),
        ("value", o.value_size, n.value_size),
    ];
    for (role, os, ns) in sizes {
        if os != ns {
            let show = |s: Option<u64>| s.map_or("-".into(), |s| format!("{s} bytes"));
            let mut c = map_change(o, "size changed", &show(os), &show(ns), false);
            c.role = Some(role.into());
            // A tail appended to a map that is not pinned: the type comparison says so.
            let appended = os.zip(ns).is_some_and(|(a, b)| b > a) && !o.pinned && !n.pinned;
            if !appended {
                out.push(c);
            }
        }
    }
    for (role, or, nr) in [("key", &o.key, &n.key), ("value", &o.value, &n.value)] {
        let mut cx = Ctx {
            map: n,
            role,
            side: "c",
            type_name: String::new(),
            pinned: o.pinned || n.pinned,
            out: &mut *out,
        };
        match (or, nr) {
            (Some(a), Some(b)) => compare_role(a, b, &mut cx),
            (Some(a), None) => cx.push(None, "removed", &a.c.type_name, "(no type)", false),
            (None, Some(b)) => cx.push(None, "added", "(no type)", &b.c.type_name, true),
            (None, None) => {}
        }
    }
}

/// Where changes are being found, and where they go.
struct Ctx<'a> {
    map: &'a MapLock,
    role: &'static str,
    side: &'static str,
    type_name: String,
    pinned: bool,
    out: &'a mut Vec<LockChange>,
}

impl Ctx<'_> {
    fn push(&mut self, field: Option<&str>, change: &str, old: &str, new: &str, ok: bool) {
        self.out.push(LockChange {
            object: self.map.object.clone(),
            map: self.map.name.clone(),
            role: Some(self.role.into()),
            side: self.side.into(),
            type_name: (!self.type_name.is_empty()).then(|| self.type_name.clone()),
            field: field.map(str::to_string),
            change: change.into(),
            old: old.into(),
            new: new.into(),
            compatible: ok,
        });
    }
}

fn compare_role(o: &RoleLock, n: &RoleLock, cx: &mut Ctx<'_>) {
    cx.side = "c";
    compare_type(&o.c, &n.c, cx);
    cx.side = "go";
    let new_names: HashSet<&str> = n.go.iter().map(|t| t.type_name.as_str()).collect();
    let old_names: HashSet<&str> = o.go.iter().map(|t| t.type_name.as_str()).collect();
    let gone: Vec<&TypeLock> =
        o.go.iter()
            .filter(|t| !new_names.contains(t.type_name.as_str()))
            .collect();
    let came: Vec<&TypeLock> =
        n.go.iter()
            .filter(|t| !old_names.contains(t.type_name.as_str()))
            .collect();
    for a in &o.go {
        if let Some(b) = n.go.iter().find(|b| b.type_name == a.type_name) {
            compare_type(a, b, cx);
        }
    }
    // A mirror renamed (or replaced): the old and new ones, in order, are compared.
    for (a, b) in gone.iter().zip(&came) {
        compare_type(a, b, cx);
    }
    for a in gone.iter().skip(came.len()) {
        cx.type_name = a.type_name.clone();
        cx.push(None, "removed", &a.type_name, "(no Go mirror)", false);
    }
    for b in came.iter().skip(gone.len()) {
        cx.type_name = b.type_name.clone();
        cx.push(None, "added", "(no Go mirror)", &b.type_name, true);
    }
}

fn compare_type(o: &TypeLock, n: &TypeLock, cx: &mut Ctx<'_>) {
    cx.type_name = n.type_name.clone();
    if o.type_name != n.type_name {
        cx.push(None, "type renamed", &o.type_name, &n.type_name, true);
    }
    if (&o.arch, o.byte_order) != (&n.arch, n.byte_order) {
        let t = |t: &TypeLock| format!("{} {:?}", t.arch, t.byte_order);
        cx.push(None, "target changed", &t(o), &t(n), false);
    }
    let appended_only = compare_fields(o, n, cx);
    if o.size != n.size {
        let ok = appended_only && n.size > o.size && !cx.pinned;
        let why = if ok {
            "size changed (tail appended; the map is recreated)"
        } else {
            "size changed"
        };
        cx.push(
            None,
            why,
            &format!("{} bytes", o.size),
            &format!("{} bytes", n.size),
            ok,
        );
    }
    padding_appeared(o, n, cx);
}

/// Field by field; returns true when every new field is a tail appended after the old
/// size (and nothing else changed size or place).
fn compare_fields(o: &TypeLock, n: &TypeLock, cx: &mut Ctx<'_>) -> bool {
    let old_names: HashSet<&str> = o.fields.iter().map(|f| f.name.as_str()).collect();
    let mut used: HashSet<&str> = HashSet::new();
    let mut clean = true;
    for f in &o.fields {
        if let Some(g) = n.fields.iter().find(|g| g.name == f.name) {
            clean &= compare_field(f, g, cx);
            continue;
        }
        let renamed = n.fields.iter().find(|g| {
            !old_names.contains(g.name.as_str())
                && !used.contains(g.name.as_str())
                && (g.offset, g.size, &g.kind, g.bits) == (f.offset, f.size, &f.kind, f.bits)
        });
        match renamed {
            Some(g) => {
                used.insert(&g.name);
                cx.push(Some(&g.name), "renamed", &f.name, &g.name, true);
            }
            None => {
                clean = false;
                cx.push(Some(&f.name), "removed", &describe(f), "(none)", false);
            }
        }
    }
    for g in n
        .fields
        .iter()
        .filter(|g| !old_names.contains(g.name.as_str()) && !used.contains(g.name.as_str()))
    {
        let tail = g.offset >= o.size && !o.fields.is_empty();
        let ok = tail && !cx.pinned;
        clean &= tail;
        let change = if tail { "appended" } else { "added" };
        cx.push(Some(&g.name), change, "(none)", &describe(g), ok);
    }
    clean
}

/// Returns true when the field kept its place and size.
fn compare_field(f: &FieldLock, g: &FieldLock, cx: &mut Ctx<'_>) -> bool {
    let mut same_place = true;
    if (f.offset, f.bits.map(|b| b.0)) != (g.offset, g.bits.map(|b| b.0)) {
        same_place = false;
        cx.push(Some(&g.name), "moved", &place(f), &place(g), false);
    }
    if (f.size, f.bits.map(|b| b.1)) != (g.size, g.bits.map(|b| b.1)) {
        same_place = false;
        cx.push(Some(&g.name), "resized", &width(f), &width(g), false);
    }
    if f.kind != g.kind {
        let t = |f: &FieldLock| format!("{} ({})", f.type_name, f.kind);
        cx.push(Some(&g.name), "retyped", &t(f), &t(g), false);
    } else if f.type_name != g.type_name && same_place {
        // A new spelling of the same thing (`__u32` for `u32`); with a resize, the
        // resize says it.
        cx.push(
            Some(&g.name),
            "type renamed",
            &f.type_name,
            &g.type_name,
            true,
        );
    }
    same_place
}

fn place(f: &FieldLock) -> String {
    match f.bits {
        Some((bit, _)) => format!("bit {bit}"),
        None => format!("offset {}", f.offset),
    }
}

fn width(f: &FieldLock) -> String {
    match f.bits {
        Some((_, w)) => format!("{w} bits"),
        None => format!("{} bytes", f.size),
    }
}

fn describe(f: &FieldLock) -> String {
    format!("{} {} @{} ({})", f.name, f.type_name, f.offset, width(f))
}

/// Bytes that hold padding now and held data before (within the old size).
fn padding_appeared(o: &TypeLock, n: &TypeLock, cx: &mut Ctx<'_>) {
    let was_pad = |b: u64| {
        o.padding
            .iter()
            .any(|p| b >= p.offset && b < p.offset + p.size)
    };
    for p in &n.padding {
        let end = (p.offset + p.size).min(o.size);
        let fresh: Vec<u64> = (p.offset..end).filter(|&b| !was_pad(b)).collect();
        if let (Some(first), Some(last)) = (fresh.first(), fresh.last()) {
            let what = format!(
                "{} bytes of {} padding at {first}",
                last - first + 1,
                p.kind
            );
            cx.push(None, "padding appeared", "(data)", &what, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{PaddingLock, LOCK_FORMAT};
    use mapsleuth_layout::ByteOrder;

    fn field(name: &str, offset: u64, size: u64) -> FieldLock {
        FieldLock {
            name: name.into(),
            offset,
            size,
            kind: "uint".into(),
            type_name: format!("__u{}", size * 8),
            bits: None,
        }
    }

    fn lock(fields: Vec<FieldLock>, size: u64, pinned: bool) -> Lockfile {
        let c = TypeLock {
            type_name: "struct v".into(),
            size,
            align: 4,
            arch: "bpf".into(),
            byte_order: ByteOrder::Little,
            fields,
            padding: Vec::<PaddingLock>::new(),
        };
        Lockfile {
            format: LOCK_FORMAT,
            generator: "t".into(),
            go_arch: "amd64".into(),
            go_byte_order: ByteOrder::Little,
            maps: vec![MapLock {
                object: "o.bpf.o".into(),
                name: "m".into(),
                map_type: "hash".into(),
                pinned,
                key_size: Some(4),
                value_size: Some(size),
                key: None,
                value: Some(RoleLock { c, go: vec![] }),
            }],
        }
    }

    fn changes(old: &Lockfile, new: &Lockfile) -> Vec<(String, bool)> {
        compare(old, new)
            .into_iter()
            .map(|c| (c.change, c.compatible))
            .collect()
    }

    #[test]
    fn renames_and_tail_appends_are_compatible_unless_pinned() {
        let old = lock(vec![field("a", 0, 4), field("b", 4, 4)], 8, false);
        let renamed = lock(vec![field("a", 0, 4), field("c", 4, 4)], 8, false);
        assert_eq!(changes(&old, &renamed), [("renamed".to_string(), true)]);
        let appended = lock(
            vec![field("a", 0, 4), field("b", 4, 4), field("t", 8, 4)],
            12,
            false,
        );
        let c = changes(&old, &appended);
        assert!(c.iter().all(|(_, ok)| *ok), "{c:?}");
        assert!(c.iter().any(|(what, _)| what == "appended"));
        let pinned_old = lock(vec![field("a", 0, 4), field("b", 4, 4)], 8, true);
        let mut pinned_new = appended.clone();
        pinned_new.maps[0].pinned = true;
        let c = changes(&pinned_old, &pinned_new);
        assert!(
            c.iter().any(|(what, ok)| what == "size changed" && !ok),
            "{c:?}"
        );
    }

    #[test]
    fn moved_resized_and_removed_fields_are_incompatible() {
        let old = lock(vec![field("a", 0, 4), field("b", 4, 4)], 8, false);
        let new = lock(vec![field("a", 0, 2), field("b", 2, 2)], 8, false);
        let c = changes(&old, &new);
        assert!(c.contains(&("resized".into(), false)), "{c:?}");
        assert!(c.contains(&("moved".into(), false)), "{c:?}");
        let gone = lock(vec![field("a", 0, 4)], 8, false);
        assert_eq!(changes(&old, &gone), [("removed".to_string(), false)]);
        let report = LockCheckReport::new("mapsleuth.lock", &old, &new);
        assert!(report.findings.iter().all(|f| f.code == "L024"));
        assert!(report.findings[0].message.contains("→"));
    }
}
