//! Model tests on hand-built graphs. The readers' tests check the same code against
//! bpftool, pahole and the Go compiler on real inputs.

use super::*;

fn int(t: &mut TypeTable, name: &str, size: u32, signed: bool) -> TypeId {
    t.push(Type::new(
        Some(name.into()),
        TypeKind::Int {
            size,
            signed,
            encoding: IntEncoding::Plain,
        },
    ))
}

fn member(name: &str, ty: TypeId, offset_bits: u64) -> Member {
    Member {
        name: Some(name.into()),
        ty,
        offset_bits,
        bitfield_bits: None,
        embedded: false,
    }
}

/// `struct event` of corpus/bpf/mirror.h.
fn event(t: &mut TypeTable) -> TypeId {
    let u32_ = int(t, "__u32", 4, false);
    let u64_ = int(t, "__u64", 8, false);
    let s32 = int(t, "__s32", 4, true);
    let u8_ = int(t, "__u8", 1, false);
    let ch = t.push(Type::new(
        Some("char".into()),
        TypeKind::Int {
            size: 1,
            signed: true,
            encoding: IntEncoding::Char,
        },
    ));
    let comm = t.push(Type::new(None, TypeKind::Array { elem: ch, len: 16 }));
    t.push(Type::new(
        Some("event".into()),
        TypeKind::Struct(Composite {
            size: 40,
            members: vec![
                member("pid", u32_, 0),
                member("ts_ns", u64_, 64),
                member("ret", s32, 128),
                member("is_exit", u8_, 160),
                member("comm", comm, 168),
            ],
        }),
    ))
}

#[test]
fn event_layout_has_hole_and_trailing_padding() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let id = event(&mut t);
    let l = t.layout(id).unwrap();
    assert_eq!(l.type_name, "struct event");
    assert_eq!((l.size, l.align), (40, 8));
    assert_eq!(l.holes.len(), 1);
    assert_eq!((l.holes[0].offset, l.holes[0].size), (4, 4));
    assert_eq!(l.holes[0].after.as_deref(), Some("pid"));
    assert_eq!(l.trailing_padding, 3);
    assert_eq!(l.members[4].type_name, "char[16]");
    assert!(!l.packed);

    let pad = t.padding(id).unwrap();
    let ranges: Vec<_> = pad
        .iter()
        .map(|r| (r.offset_bits / 8, r.size_bits / 8, r.kind))
        .collect();
    assert_eq!(
        ranges,
        vec![(4, 4, PaddingKind::Hole), (37, 3, PaddingKind::Trailing)]
    );

    let leaves = t.leaves(id).unwrap();
    let paths: Vec<_> = leaves.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(paths, ["pid", "ts_ns", "ret", "is_exit", "comm"]);
    assert_eq!(
        leaves[4].kind,
        LeafKind::Bytes {
            len: 16,
            text: true
        }
    );
}

#[test]
fn go_on_386_aligns_uint64_to_four() {
    let mut t = TypeTable::new(Target::go("386", ByteOrder::Little, 4));
    let u64_ = int(&mut t, "uint64", 8, false);
    assert_eq!(t.align_of(u64_).unwrap(), 4);
    let mut t = TypeTable::new(Target::go("amd64", ByteOrder::Little, 8));
    let u64_ = int(&mut t, "uint64", 8, false);
    assert_eq!(t.align_of(u64_).unwrap(), 8);
    let c128 = t.push(Type::new(
        Some("complex128".into()),
        TypeKind::Complex { size: 16 },
    ));
    assert_eq!(t.align_of(c128).unwrap(), 8);
}

#[test]
fn union_padding_is_what_no_alternative_covers() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let u16_ = int(&mut t, "__u16", 2, false);
    let u32_ = int(&mut t, "__u32", 4, false);
    let u8_ = int(&mut t, "__u8", 1, false);
    let v6 = t.push(Type::new(None, TypeKind::Array { elem: u8_, len: 16 }));
    let un = t.push(Type::new(
        None,
        TypeKind::Union(Composite {
            size: 16,
            members: vec![member("v4", u32_, 0), member("v6", v6, 0)],
        }),
    ));
    let addr = t.push(Type::new(
        Some("addr".into()),
        TypeKind::Struct(Composite {
            size: 20,
            members: vec![
                member("family", u16_, 0),
                Member {
                    name: None,
                    ty: un,
                    offset_bits: 32,
                    bitfield_bits: None,
                    embedded: false,
                },
            ],
        }),
    ));
    let pad = t.padding(addr).unwrap();
    assert_eq!(pad.len(), 1, "{pad:?}");
    assert_eq!((pad[0].offset_bits, pad[0].size_bits), (16, 16));
    let leaves = t.leaves(addr).unwrap();
    let paths: Vec<_> = leaves
        .iter()
        .map(|l| (l.path.as_str(), l.alternative.as_deref()))
        .collect();
    assert_eq!(
        paths,
        [("family", None), ("v4", Some("v4")), ("v6", Some("v6"))]
    );
}

#[test]
fn bitfields_report_their_storage_unit_and_bit_hole() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let u32_ = int(&mut t, "__u32", 4, false);
    let u16_ = int(&mut t, "__u16", 2, false);
    let bf = |name: &str, off, bits| Member {
        name: Some(name.into()),
        ty: u32_,
        offset_bits: off,
        bitfield_bits: Some(bits),
        embedded: false,
    };
    let id = t.push(Type::new(
        Some("flags".into()),
        TypeKind::Struct(Composite {
            size: 8,
            members: vec![bf("state", 0, 4), bf("dir", 4, 1), member("port", u16_, 32)],
        }),
    ));
    let l = t.layout(id).unwrap();
    let dir = l.members[1].bitfield.clone().unwrap();
    assert_eq!(
        (dir.unit_offset, dir.unit_size, dir.bit_in_unit, dir.bits),
        (0, 4, 4, 1)
    );
    // Bits 5..8 of the first byte, then bytes 1..4, are a hole before `port`.
    assert_eq!(l.holes.len(), 1);
    assert_eq!((l.holes[0].offset_bits, l.holes[0].size_bits), (5, 27));
    assert_eq!(l.trailing_padding, 2);
    let leaves = t.leaves(id).unwrap();
    assert!(leaves[0].bitfield && leaves[0].size_bits == 4);
}

#[test]
fn loops_and_bad_ids_are_errors_not_panics() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let a = t.push(Type::new(Some("a".into()), TypeKind::Typedef { target: 2 }));
    t.push(Type::new(Some("b".into()), TypeKind::Typedef { target: a }));
    assert!(matches!(t.size_of(a), Err(LayoutError::TooDeep { .. })));
    assert!(matches!(t.layout(a), Err(LayoutError::TooDeep { .. })));
    let bad = t.push(Type::new(None, TypeKind::Pointer { target: 999 }));
    assert_eq!(t.type_name(bad), "<bad type 999> *");
    let huge = t.push(Type::new(
        None,
        TypeKind::Array {
            elem: bad,
            len: u64::MAX,
        },
    ));
    assert!(matches!(t.size_of(huge), Err(LayoutError::Overflow { .. })));
}

#[test]
fn arrays_of_structs_repeat_their_padding_and_stop_at_the_limit() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let ev = event(&mut t);
    let arr = t.push(Type::new(None, TypeKind::Array { elem: ev, len: 3 }));
    let pad = t.padding(arr).unwrap();
    assert_eq!(pad.len(), 6);
    assert_eq!(pad[2].offset_bits / 8, 44);
    assert_eq!(pad[2].container, "[1]");
    let leaves = t.leaves(arr).unwrap();
    assert_eq!(leaves[5].path, "[1].pid");
    let big = t.push(Type::new(
        None,
        TypeKind::Array {
            elem: ev,
            len: 1 << 20,
        },
    ));
    assert!(matches!(t.leaves(big), Err(LayoutError::TooMany { .. })));
    assert!(matches!(t.padding(big), Err(LayoutError::TooMany { .. })));
}

#[test]
fn go_lookup_by_short_name_and_ambiguity() {
    let mut t = TypeTable::new(Target::go("amd64", ByteOrder::Little, 8));
    for n in [
        "example.com/app/good.Event",
        "example.com/app/intbug.Event",
        "main.Flow",
    ] {
        t.push(Type::new(
            Some(n.into()),
            TypeKind::Struct(Composite {
                size: 0,
                members: vec![],
            }),
        ));
    }
    assert_eq!(
        t.type_name(t.lookup("good.Event").unwrap()),
        "example.com/app/good.Event"
    );
    assert_eq!(t.type_name(t.lookup("main.Flow").unwrap()), "main.Flow");
    match t.lookup("Event") {
        Err(LayoutError::NotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        go_short_name("example.com/app/generic.Pair[uint32,example.com/x.Y]"),
        "generic.Pair[uint32,example.com/x.Y]"
    );
}

fn plain_struct(t: &mut TypeTable, name: &str, size: u64, members: Vec<Member>) -> TypeId {
    t.push(Type::new(
        Some(name.into()),
        TypeKind::Struct(Composite { size, members }),
    ))
}

#[test]
fn alignment_is_exact_only_where_nothing_else_fits() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let i32_ = int(&mut t, "int", 4, true);
    let ch = int(&mut t, "char", 1, true);
    // { int a; int b; }: aligned(8) would leave the same 8 bytes.
    let pair = plain_struct(
        &mut t,
        "pair",
        8,
        vec![member("a", i32_, 0), member("b", i32_, 32)],
    );
    assert_eq!(
        t.alignment(pair).unwrap(),
        Alignment {
            bytes: 4,
            exact: false
        }
    );
    // { int a; char c; }: 8 bytes, and 4 explains the tail.
    let tail = plain_struct(
        &mut t,
        "tail",
        8,
        vec![member("a", i32_, 0), member("c", ch, 32)],
    );
    assert_eq!(
        t.alignment(tail).unwrap(),
        Alignment {
            bytes: 4,
            exact: false
        }
    );
    // { int a; char c; } in 16 bytes: only aligned(16) explains the tail.
    let wide = plain_struct(
        &mut t,
        "wide",
        16,
        vec![member("a", i32_, 0), member("c", ch, 32)],
    );
    assert_eq!(
        t.alignment(wide).unwrap(),
        Alignment {
            bytes: 16,
            exact: true
        }
    );
    // A holder that puts `pair` at 4 pins it to 4 (it is not packed: `pair` sits at a
    // multiple of 4 and 12 is a multiple of 4).
    let holder = plain_struct(
        &mut t,
        "holder",
        12,
        vec![member("x", i32_, 0), member("p", pair, 32)],
    );
    assert_eq!(
        t.alignment(pair).unwrap(),
        Alignment {
            bytes: 4,
            exact: true
        }
    );
    assert_eq!(
        t.alignment(holder).unwrap(),
        Alignment {
            bytes: 4,
            exact: true
        }
    );
    assert!(!t.layout(holder).unwrap().packed);
}

#[test]
fn a_type_held_off_its_alignment_may_be_the_packed_one() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let i32_ = int(&mut t, "int", 4, true);
    let ch = int(&mut t, "char", 1, true);
    let looks = plain_struct(
        &mut t,
        "looks",
        8,
        vec![member("x1", i32_, 0), member("x2", i32_, 32)],
    );
    assert_eq!(t.align_of(looks).unwrap(), 4);
    // `struct outer { char y1; struct looks y2; }`, y2 at 1: `looks` or `outer` is packed.
    let outer = plain_struct(
        &mut t,
        "outer",
        9,
        vec![member("y1", ch, 0), member("y2", looks, 8)],
    );
    assert_eq!(
        t.alignment(looks).unwrap(),
        Alignment {
            bytes: 1,
            exact: false
        }
    );
    assert_eq!(
        t.alignment(outer).unwrap(),
        Alignment {
            bytes: 1,
            exact: true
        }
    );
    // libbpf prints the attribute on the holder only.
    assert!(t.layout(outer).unwrap().packed);
    assert!(!t.layout(looks).unwrap().packed);
}

#[test]
fn unions_bitfields_and_use_cycles() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let i32_ = int(&mut t, "int", 4, true);
    let ch = int(&mut t, "char", 1, true);
    // { char a, b, c; int d : 8; }: only the bitfield's type says 4.
    let bf = plain_struct(
        &mut t,
        "bf",
        4,
        vec![
            member("a", ch, 0),
            member("b", ch, 8),
            member("c", ch, 16),
            Member {
                bitfield_bits: Some(8),
                ..member("d", i32_, 24)
            },
        ],
    );
    assert_eq!(
        t.alignment(bf).unwrap(),
        Alignment {
            bytes: 4,
            exact: true
        }
    );
    // A union of a char[5] and an int is 8 bytes and 4-aligned.
    let c5 = t.push(Type::new(None, TypeKind::Array { elem: ch, len: 5 }));
    let un = t.push(Type::new(
        Some("u".into()),
        TypeKind::Union(Composite {
            size: 8,
            members: vec![member("b", c5, 0), member("i", i32_, 0)],
        }),
    ));
    assert_eq!(
        t.alignment(un).unwrap(),
        Alignment {
            bytes: 4,
            exact: false
        }
    );
    // Hostile: a struct that holds itself is an error, not a hang.
    let selfish = t.len() as TypeId;
    plain_struct(&mut t, "selfish", 8, vec![member("me", selfish, 0)]);
    assert!(matches!(
        t.alignment(selfish),
        Err(LayoutError::TooDeep { .. })
    ));
}
