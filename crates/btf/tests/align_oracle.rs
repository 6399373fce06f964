//! Alignment, sizes and offsets against the compiler, and packing against libbpf, on
//! corpus/align (C cases covering the traps of the kernel's btf_dump selftests; see
//! corpus/regen-align.sh). The oracle is clang's own `sizeof`/`_Alignof`/`offsetof`
//! (and bitfield positions), the packed attribute is where `bpftool btf dump ... format
//! c` prints it.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use mapsleuth_btf::{Btf, BtfBytes};
use mapsleuth_layout::{Alignment, Layout, TypeId, TypeKind, TypeTable};

const CASES: [&str; 4] = ["padding", "packing", "bitfields", "syntax"];

/// Types whose alignment BTF cannot tell: a larger one leaves the same sizes and
/// offsets, and no use pins it. Ours is the lower bound, below the compiler's.
const BELOW: &[(&str, &str)] = &[
    (
        "struct pad_tail_aligned",
        "aligned(16) on a struct whose natural layout is 16 bytes",
    ),
    (
        "struct zero_marker",
        "size 0: only the holders' gaps hint at aligned(8)",
    ),
    (
        "struct holds_marker",
        "gap before the zero-size member says 4 or 8",
    ),
    (
        "struct holds_marker_unnamed",
        "the same BTF as holds_marker",
    ),
    (
        "struct twin_hole_aligned",
        "holes are not read as alignment: unnamed bitfields make them too",
    ),
    (
        "struct pk_packed_aligned",
        "packed members: the struct may be 1-aligned",
    ),
    ("struct pk_pragma2", "#pragma pack(2) looks packed: 1 or 2"),
    (
        "struct pk_member_packed",
        "one packed member makes the struct look packed",
    ),
];

/// Twins: same BTF, different alignment. Ours reads tail padding as alignment (right for
/// the twin, too much for the unnamed bitfield) and assumes no packing that no layout
/// shows.
const TWINS: &[(&str, &str)] = &[
    ("struct twin_tail_unnamed", "struct twin_tail_aligned"),
    ("struct pk_hidden", "struct pk_hidden_plain"),
];

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/align")).join(p)
}

/// One line of NAME.oracle.tsv.
#[derive(Debug)]
enum Record {
    Type {
        name: String,
        size: u64,
        align: u32,
    },
    Member {
        name: String,
        path: String,
        offset_bits: u64,
        size_bits: u64,
    },
    Bitfield {
        name: String,
        path: String,
        offset_bits: u64,
        width: u64,
    },
    MemberType {
        name: String,
        path: String,
        size: u64,
        align: u32,
    },
}

fn parse_oracle(case: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(corpus(&format!("{case}.oracle.tsv"))).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let n = |i: usize| -> u64 { f[i].parse().unwrap_or_else(|_| panic!("{case}: {line}")) };
        let (name, path) = (f[1].to_string(), f.get(2).map(|s| s.to_string()));
        out.push(match f[0] {
            "type" => Record::Type {
                name,
                size: n(2),
                align: n(3) as u32,
            },
            "member" => Record::Member {
                name,
                path: path.unwrap(),
                offset_bits: n(3),
                size_bits: n(4),
            },
            "bitfield" => Record::Bitfield {
                name,
                path: path.unwrap(),
                offset_bits: n(3),
                width: n(4),
            },
            "mtype" => Record::MemberType {
                name,
                path: path.unwrap(),
                size: n(3),
                align: n(4) as u32,
            },
            other => panic!("{case}: unknown record {other}"),
        });
    }
    out
}

fn table(case: &str) -> TypeTable {
    let bytes = BtfBytes::read(corpus(&format!("{case}.bpf.o")).to_str().unwrap()).unwrap();
    Btf::parse(&bytes.data).unwrap().to_table().unwrap()
}

/// Follows typedefs, qualifiers and `[0]`s (array elements) from `id`.
fn strip(t: &TypeTable, mut id: TypeId, arrays: usize) -> TypeId {
    let mut left = arrays;
    loop {
        match &t.get(id).unwrap().kind {
            TypeKind::Typedef { target }
            | TypeKind::Qualified { target, .. }
            | TypeKind::TypeTag { target, .. } => id = *target,
            TypeKind::Array { elem, .. } if left > 0 => {
                id = *elem;
                left -= 1;
            }
            _ => return id,
        }
    }
}

/// The member a C designator names (`inner.name`, `r[0].p`, through anonymous members):
/// its layout entry, with the offset counted from the outermost type.
fn member_at(t: &TypeTable, root: TypeId, path: &str) -> (mapsleuth_layout::LayoutMember, TypeId) {
    let mut agg = t.resolve(root).unwrap();
    let mut base_bits = 0;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let name = part.split('[').next().unwrap();
        let dims = part.matches('[').count();
        let (m, off) =
            find_member(t, agg, name, 0).unwrap_or_else(|| panic!("{path}: no `{name}`"));
        base_bits += off;
        let ty = strip(t, m.type_id, dims);
        if i + 1 == parts.len() {
            let mut m = m;
            m.offset_bits += base_bits;
            return (m, ty);
        }
        base_bits += m.offset_bits;
        agg = ty;
    }
    unreachable!()
}

/// A direct member, or one inside anonymous members, and the anonymous members' offset.
fn find_member(
    t: &TypeTable,
    agg: TypeId,
    name: &str,
    base: u64,
) -> Option<(mapsleuth_layout::LayoutMember, u64)> {
    let l = t.layout(agg).unwrap();
    for m in &l.members {
        if m.name == name {
            return Some((m.clone(), base));
        }
        if m.name.is_empty() {
            if let Some(found) =
                find_member(t, t.resolve(m.type_id).unwrap(), name, base + m.offset_bits)
            {
                return Some(found);
            }
        }
    }
    None
}

/// Ours against the compiler's, for every aggregate the oracle names (types, and the
/// types of members).
struct Alignments {
    rows: Vec<(String, Alignment, u32)>,
}

fn check_case(case: &str, aligns: &mut Alignments, layouts: &mut BTreeMap<String, Layout>) {
    let t = table(case);
    let lookup = |name: &str| {
        t.lookup(name)
            .unwrap_or_else(|e| panic!("{case}: {name}: {e}"))
    };
    for r in parse_oracle(case) {
        match r {
            Record::Type { name, size, align } => {
                let id = lookup(&name);
                let l = t.layout(id).unwrap();
                assert_eq!(l.size, size, "{case}: {name}: size");
                let ours = t.alignment(id).unwrap();
                assert_eq!((l.align, l.align_exact), (ours.bytes, ours.exact), "{name}");
                aligns.rows.push((name.clone(), ours, align));
                layouts.insert(name, l);
            }
            Record::Member {
                name,
                path,
                offset_bits,
                size_bits,
            } => {
                let (m, _) = member_at(&t, lookup(&name), &path);
                assert!(
                    m.bitfield.is_none(),
                    "{case}: {name}.{path} is a bitfield here"
                );
                assert_eq!(
                    (m.offset_bits, m.size_bits),
                    (offset_bits, size_bits),
                    "{case}: {name}.{path}"
                );
            }
            Record::Bitfield {
                name,
                path,
                offset_bits,
                width,
            } => {
                let (m, _) = member_at(&t, lookup(&name), &path);
                let b = m
                    .bitfield
                    .as_ref()
                    .unwrap_or_else(|| panic!("{case}: {name}.{path} is no bitfield"));
                assert_eq!(
                    (m.offset_bits, u64::from(b.bits)),
                    (offset_bits, width),
                    "{case}: {name}.{path}"
                );
                assert_eq!(
                    b.unit_offset * 8 + b.bit_in_unit,
                    offset_bits,
                    "{case}: {name}.{path} unit"
                );
            }
            Record::MemberType {
                name,
                path,
                size,
                align,
            } => {
                let (_, ty) = member_at(&t, lookup(&name), &path);
                assert_eq!(t.size_of(ty).unwrap(), size, "{case}: {name}.{path}: size");
                // A named type is judged as itself; an anonymous one by where it is.
                let label = match t.get(ty).unwrap().name {
                    Some(_) => t.type_name(ty),
                    None => format!("{name}.{path}"),
                };
                aligns.rows.push((label, t.alignment(ty).unwrap(), align));
            }
        }
    }
}

#[test]
fn sizes_offsets_and_alignments_match_clang() {
    let mut aligns = Alignments { rows: Vec::new() };
    let mut layouts = BTreeMap::new();
    for case in CASES {
        check_case(case, &mut aligns, &mut layouts);
    }
    assert!(
        aligns.rows.len() >= 90,
        "only {} alignments",
        aligns.rows.len()
    );
    let twin_of = |name: &str| TWINS.iter().find(|(a, _)| *a == name).map(|(_, b)| *b);
    let mut exact = 0;
    for (name, ours, theirs) in &aligns.rows {
        if ours.exact {
            assert_eq!(
                ours.bytes, *theirs,
                "{name}: exact {ours} but _Alignof is {theirs}"
            );
            exact += 1;
        }
        if let Some(twin) = twin_of(name) {
            // Same BTF as the twin, and read as the twin is.
            let (a, b) = (&layouts[name], &layouts[twin]);
            assert_eq!(a.size, b.size, "{name} and {twin}");
            let shape = |l: &Layout| {
                l.members
                    .iter()
                    .map(|m| (m.offset_bits, m.size_bits))
                    .collect::<Vec<_>>()
            };
            assert_eq!(shape(a), shape(b), "{name} and {twin}");
            let twin_row = aligns.rows.iter().find(|(n, _, _)| n == twin).unwrap();
            assert_eq!(ours.bytes, twin_row.2, "{name}: the twin's alignment");
            assert!(
                ours.bytes > *theirs && !ours.exact,
                "{name}: {ours} vs {theirs}"
            );
            continue;
        }
        assert!(
            ours.bytes <= *theirs,
            "{name}: ours {ours} is above _Alignof {theirs}"
        );
        let below = BELOW.iter().any(|(n, _)| n == name);
        assert_eq!(
            ours.bytes < *theirs,
            below,
            "{name}: ours {ours}, _Alignof {theirs}"
        );
    }
    // Much of the corpus is determined by its BTF (the rest is "at least": a size that a
    // larger alignment divides too, and no use that pins it).
    assert!(
        exact * 5 >= aligns.rows.len() * 2,
        "only {exact} exact of {}",
        aligns.rows.len()
    );
}

/// Top-level definitions of a `format c` dump, each with the packed flag of every
/// struct or union it defines, outermost first (anonymous ones inline, in order).
fn parse_format_c(case: &str) -> BTreeMap<String, Vec<bool>> {
    let text = std::fs::read_to_string(corpus(&format!("{case}.format-c.txt"))).unwrap();
    let mut out = BTreeMap::new();
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut flags: Vec<bool> = Vec::new();
    let mut top = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.contains("{}") && (l.starts_with("struct") || l.starts_with("union")) {
            // An empty body on one line: `union empty {};` or, inside, `union {} ex;`.
            let packed = l.contains("__attribute__((packed))");
            if stack.is_empty() {
                out.insert(l.split(" {}").next().unwrap_or(l).to_string(), vec![packed]);
            } else {
                flags.push(packed);
            }
        } else if l.ends_with('{') {
            if stack.is_empty() {
                flags.clear();
                top = l.trim_end_matches('{').trim().to_string();
            }
            let aggregate = l.contains("struct") || l.contains("union");
            stack.push(aggregate.then(|| {
                flags.push(false);
                flags.len() - 1
            }));
        } else if l.starts_with('}') {
            let Some(entry) = stack.pop() else { continue };
            if let Some(i) = entry {
                flags[i] = l.contains("__attribute__((packed))");
            }
            if stack.is_empty() {
                let name = match top.strip_prefix("typedef ") {
                    // `typedef struct {` ... `} name;`
                    Some(_) => l
                        .trim_start_matches('}')
                        .trim()
                        .trim_end_matches(';')
                        .to_string(),
                    None => top.clone(),
                };
                if !name.starts_with("enum") {
                    out.insert(name, flags.clone());
                }
            }
        }
    }
    out
}

/// Our packed flags in the order `format c` writes the definitions.
fn our_packed(t: &TypeTable, id: TypeId, out: &mut Vec<bool>) {
    let l = t.layout(id).unwrap();
    out.push(l.packed);
    for m in &l.members {
        let mut ty = m.type_id;
        // Anonymous aggregates are written inline, also behind pointers and arrays.
        loop {
            match &t.get(ty).unwrap().kind {
                TypeKind::Qualified { target, .. }
                | TypeKind::TypeTag { target, .. }
                | TypeKind::Pointer { target } => ty = *target,
                TypeKind::Array { elem, .. } => ty = *elem,
                _ => break,
            }
        }
        let inner = t.get(ty).unwrap();
        if inner.name.is_none() && matches!(inner.kind, TypeKind::Struct(_) | TypeKind::Union(_)) {
            our_packed(t, ty, out);
        }
    }
}

#[test]
fn packed_where_libbpf_prints_it() {
    let mut compared = 0;
    let mut packed = 0;
    for case in CASES {
        let t = table(case);
        for (name, theirs) in parse_format_c(case) {
            let id = t
                .lookup(&name)
                .unwrap_or_else(|e| panic!("{case}: {name}: {e}"));
            let mut ours = Vec::new();
            our_packed(&t, t.resolve(id).unwrap(), &mut ours);
            assert_eq!(
                ours, theirs,
                "{case}: {name}: packed flags, outermost first"
            );
            compared += theirs.len();
            packed += theirs.iter().filter(|p| **p).count();
        }
    }
    assert!(
        compared >= 80 && packed >= 12,
        "{compared} compared, {packed} packed"
    );
}
