//! Layouts must agree with pahole's recorded output for the same BTF: size, every
//! top-level member's offset and size (bitfields: storage unit, bit position), the holes
//! in order (in bits), trailing padding, forced alignment and packing.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_btf::{Btf, BtfBytes};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

#[derive(Debug, Default, PartialEq)]
struct PaholeStruct {
    keyword: String,
    name: String,
    size: u64,
    /// (name, byte offset, size) or for bitfields (name, unit offset, bit, unit size).
    members: Vec<(String, u64, Option<u64>, u64)>,
    holes_bits: Vec<u64>,
    padding: u64,
    aligned: Option<u32>,
    packed: bool,
}

/// `/*    21    16 */` or `/*    16:12  4 */`
fn offsets(comment: &str) -> Option<(u64, Option<u64>, u64)> {
    let inner = comment
        .trim()
        .strip_prefix("/*")?
        .strip_suffix("*/")?
        .trim();
    let mut parts = inner.split_whitespace();
    let first = parts.next()?;
    let (off, bit, rest) = if let Some((o, b)) = first.split_once(':') {
        if b.is_empty() {
            // `16: 4  4`: the bit position is the next token.
            (
                o.parse().ok()?,
                Some(parts.next()?.parse().ok()?),
                parts.next()?,
            )
        } else {
            (o.parse().ok()?, Some(b.parse().ok()?), parts.next()?)
        }
    } else {
        (first.parse().ok()?, None, parts.next()?)
    };
    Some((off, bit, rest.parse().ok()?))
}

fn hole_bits(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("/* XXX ")?;
    let text = rest.strip_suffix(" hole, try to pack */")?;
    let mut bits = 0;
    for part in text.split(" and ") {
        let (n, unit) = part.split_once(' ')?;
        let n: u64 = n.parse().ok()?;
        bits += if unit.starts_with("byte") { n * 8 } else { n };
    }
    Some(bits)
}

fn parse_pahole(text: &str) -> Vec<PaholeStruct> {
    let mut out = Vec::new();
    let mut cur: Option<PaholeStruct> = None;
    let mut depth = 0usize;
    for line in text.lines() {
        if cur.is_none() {
            for kw in ["struct ", "union "] {
                if let Some(rest) = line.strip_prefix(kw) {
                    if let Some(name) = rest.strip_suffix(" {") {
                        cur = Some(PaholeStruct {
                            keyword: kw.trim().into(),
                            name: name.into(),
                            ..Default::default()
                        });
                        depth = 1;
                    }
                }
            }
            continue;
        }
        let s = cur.as_mut().unwrap();
        let tabs = line.chars().take_while(|&c| c == '\t').count();
        let body = line.trim();
        if line.starts_with('}') {
            if let Some(a) = line.split("__aligned__(").nth(1) {
                s.aligned = a.split(')').next().and_then(|n| n.parse().ok());
            }
            s.packed = line.contains("__packed__");
            out.push(cur.take().unwrap());
            continue;
        }
        if body.ends_with('{') {
            depth += 1;
            continue;
        }
        if body.starts_with('}') {
            depth -= 1;
            if depth == 1 {
                // The end of an anonymous or inline member: `} name; /* off size */`.
                let (decl, comment) = body.split_once("/*").unwrap();
                let name = decl
                    .trim_start_matches('}')
                    .trim()
                    .trim_end_matches(';')
                    .trim();
                let (off, bit, size) = offsets(&format!("/*{comment}")).unwrap();
                s.members.push((name.to_string(), off, bit, size));
            }
            continue;
        }
        if tabs != 1 || depth != 1 {
            continue;
        }
        if let Some(b) = hole_bits(body) {
            s.holes_bits.push(b);
        } else if let Some(p) = body.strip_prefix("/* padding: ") {
            s.padding = p.trim_end_matches(" */").parse().unwrap();
        } else if let Some(p) = body.strip_prefix("/* size: ") {
            s.size = p.split(',').next().unwrap().parse().unwrap();
        } else if !body.starts_with("/*") && body.contains("/*") {
            let (decl, comment) = body.split_once("/*").unwrap();
            let Some((off, bit, size)) = offsets(&format!("/*{comment}")) else {
                continue;
            };
            // `__u32 lo:12;`, `char comm[16];`, `struct x *p;`, `int (*fn)(int);`
            let decl = decl
                .split("__attribute__")
                .next()
                .unwrap()
                .trim()
                .trim_end_matches(';');
            let last = decl.rsplit([' ', '*']).next().unwrap();
            let name = last.split([':', '[']).next().unwrap();
            let name = if decl.contains("(*") {
                decl.split("(*").nth(1).unwrap().split(')').next().unwrap()
            } else {
                name
            };
            s.members.push((name.to_string(), off, bit, size));
        }
    }
    out
}

fn ours(btf: &Btf, p: &PaholeStruct) -> PaholeStruct {
    let id = btf.find_type(&format!("{} {}", p.keyword, p.name)).unwrap();
    let table = btf.to_table_for(&[id]).unwrap();
    let l = table.layout(id).unwrap();
    let mut members = Vec::new();
    for m in &l.members {
        match &m.bitfield {
            Some(b) => members.push((
                m.name.clone(),
                b.unit_offset,
                Some(b.bit_in_unit),
                b.unit_size,
            )),
            None => members.push((m.name.clone(), m.offset, None, m.size)),
        }
    }
    // BTF records no alignment. Where pahole prints a forced one, it guessed the largest
    // power of two dividing an offset; ours is a lower bound (members, tail padding, uses).
    // Ours must be a lower bound of pahole's, and a divisor of it.
    let natural_forced = match p.aligned {
        Some(theirs) => {
            assert!(
                l.align <= theirs && theirs % l.align == 0,
                "{} {}: our alignment {} is not a lower bound of pahole's guess {theirs}",
                p.keyword,
                p.name,
                l.align
            );
            Some(theirs)
        }
        None => None,
    };
    PaholeStruct {
        keyword: p.keyword.clone(),
        name: p.name.clone(),
        // pahole prints no summary for some unions.
        size: if p.size == 0 && l.kind == mapsleuth_layout::AggregateKind::Union {
            0
        } else {
            l.size
        },
        members,
        holes_bits: if l.kind == mapsleuth_layout::AggregateKind::Struct {
            l.holes.iter().map(|h| h.size_bits).collect()
        } else {
            Vec::new()
        },
        padding: l.trailing_padding,
        aligned: natural_forced,
        packed: l.packed,
    }
}

fn check(file: &str, oracle: &str, at_least: usize) {
    let bytes = BtfBytes::read(corpus(file).to_str().unwrap()).unwrap();
    let btf = Btf::parse(&bytes.data).unwrap();
    let text = std::fs::read_to_string(corpus(oracle)).unwrap();
    let structs = parse_pahole(&text);
    assert!(
        structs.len() >= at_least,
        "{oracle}: parsed only {} structs",
        structs.len()
    );
    for p in &structs {
        let mut expected = ours(&btf, p);
        // pahole keeps bit holes inside a bitfield run and byte holes apart; both are
        // the same bits. Compare their sum and sequence where pahole splits alike.
        let sum_ours: u64 = expected.holes_bits.iter().sum();
        let sum_pahole: u64 = p.holes_bits.iter().sum();
        assert_eq!(
            sum_ours, sum_pahole,
            "{oracle}: {} {}: hole bits",
            p.keyword, p.name
        );
        expected.holes_bits = p.holes_bits.clone();
        assert_eq!(&expected, p, "{oracle}: {} {}", p.keyword, p.name);
    }
}

#[test]
fn corpus_objects_match_pahole() {
    check("bpf/types.bpf.o", "oracles/btf/types.bpf.o.pahole.txt", 15);
    check(
        "bpf/types.bpfeb.o",
        "oracles/btf/types.bpfeb.o.pahole.txt",
        15,
    );
    check("bpf/maps.bpf.o", "oracles/btf/maps.bpf.o.pahole.txt", 6);
    check("bpf/legacy.bpf.o", "oracles/btf/legacy.bpf.o.pahole.txt", 3);
}

/// Where the C source says what the alignment is, ours must be it (pahole's guess is
/// not: it prints 64 for `wide`, whose attribute says 32).
#[test]
fn inferred_alignment_matches_the_c_source() {
    let bytes = BtfBytes::read(corpus("bpf/types.bpf.o").to_str().unwrap()).unwrap();
    let btf = Btf::parse(&bytes.data).unwrap();
    let align = |name: &str| {
        let id = btf.find_type(name).unwrap();
        btf.to_table_for(&[id]).unwrap().align_of(id).unwrap()
    };
    // struct holds_aligned { __u8 tag; struct over_aligned oa; __u8 tag2; __u32 wide __attribute__((aligned(32))); }
    assert_eq!(align("holds_aligned"), 32);
    assert_eq!(align("packed_hdr"), 1);
    assert_eq!(align("event"), 8);
    // `struct over_aligned` is aligned(16), but its size (16) and members are just as
    // consistent with 8: BTF cannot tell, and the lower bound is what we claim.
    assert_eq!(align("over_aligned"), 8);
}

#[test]
fn vmlinux_structs_match_pahole() {
    check("btf/vmlinux.btf", "oracles/btf/vmlinux.btf.pahole.txt", 17);
}
