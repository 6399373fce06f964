mod synth;

use mapsleuth_layout::{GoKind, IntEncoding, LayoutError, TypeKind, TypeTable};

use crate::{Compression, DwarfError, GoBinary, Options};
use synth::{go_elf, Unit, V};

const GO: &str = "Go cmd/compile go1.25.5; regabi";

fn corpus(rel: &str) -> Vec<u8> {
    let path = format!("{}/../../corpus/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn member_kind<'t>(t: &'t TypeTable, id: u32, name: &str) -> &'t TypeKind {
    let r = t.resolve(id).unwrap();
    let TypeKind::Struct(c) = &t.get(r).unwrap().kind else {
        panic!("not a struct")
    };
    let m = c
        .members
        .iter()
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap();
    &t.get(t.resolve(m.ty).unwrap()).unwrap().kind
}

/// `main.Event {Pid uint32; TsNs uint64}` and a linked list, with Go's typedef hooks.
fn small_unit() -> Unit {
    let mut u = Unit::new(GO);
    u.base("u32", "uint32", 4, 10)
        .base("u64", "uint64", 8, 11)
        .strukt(
            "ev",
            "main.Event",
            16,
            &[("Pid", 0, "u32"), ("TsNs", 8, "u64")],
        )
        .typedef("ev_t", "main.Event", "ev")
        .strukt(
            "node",
            "main.Node",
            16,
            &[("Next", 0, "pnode"), ("V", 8, "u64")],
        )
        .typedef("node_t", "main.Node", "node")
        .pointer("pnode", "*main.Node", "node_t");
    u
}

#[test]
fn synthetic_struct_and_index() {
    let elf = go_elf(&mut small_unit());
    let bin = GoBinary::parse(&elf).unwrap();
    assert_eq!(bin.target().arch, "amd64");
    assert_eq!(bin.go_version(), Some("go1.25.5"));
    let events: Vec<_> = bin
        .types()
        .unwrap()
        .iter()
        .filter(|e| e.name == "main.Event")
        .collect();
    assert_eq!(events.len(), 1, "the typedef hook is not a type of its own");
    assert_eq!(
        (events[0].kind.as_str(), events[0].size),
        ("struct", Some(16))
    );
    let (t, ids) = bin.table_for(&["main.Event"]).unwrap();
    let l = t.layout(ids[0]).unwrap();
    assert_eq!(l.type_name, "main.Event");
    assert_eq!((l.size, l.align), (16, 8));
    assert_eq!(l.members[1].offset, 8);
    assert_eq!(l.members[1].type_name, "uint64");
}

#[test]
fn linked_lists_terminate() {
    let elf = go_elf(&mut small_unit());
    let bin = GoBinary::parse(&elf).unwrap();
    let (t, ids) = bin.table_for(&["main.Node"]).unwrap();
    match member_kind(&t, ids[0], "Next") {
        TypeKind::Pointer { target } => assert_eq!(t.resolve(*target).unwrap(), ids[0]),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.layout(ids[0]).unwrap().members[0].type_name, "*main.Node");
}

#[test]
fn nesting_past_the_depth_bound_is_an_error() {
    let nest = |levels: usize| {
        let mut u = Unit::new(GO);
        u.base("u8", "uint8", 1, 8);
        for i in 0..levels {
            let inner = if i == 0 {
                "u8".to_string()
            } else {
                format!("s{}", i - 1)
            };
            let (label, name) = (format!("s{i}"), format!("main.S{i}"));
            u.strukt(&label, &name, 1, &[("X", 0, &inner)]);
        }
        go_elf(&mut u)
    };
    let ok = nest(20);
    let bin = GoBinary::parse(&ok).unwrap();
    assert!(bin.table_for(&["main.S19"]).is_ok());
    let deep = nest(40);
    let bin = GoBinary::parse(&deep).unwrap();
    match bin.table_for(&["main.S39"]) {
        Err(DwarfError::TooDeep { offset }) => assert!(offset > 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn overflowing_and_inconsistent_arrays_are_errors() {
    let mut u = Unit::new(GO);
    u.base("u64", "uint64", 8, 11)
        .array("big", "[4611686018427387904]uint64", "u64", 1 << 62, 0)
        .array("liar", "[4]uint64", "u64", 4, 16)
        .array("nested", "[3][4611686018427387904]uint64", "big", 3, 0);
    let elf = go_elf(&mut u);
    let bin = GoBinary::parse(&elf).unwrap();
    assert!(matches!(
        bin.table_for(&["[4611686018427387904]uint64"]),
        Err(DwarfError::ArrayOverflow { count, elem_size: 8, .. }) if count == 1 << 62
    ));
    let err = bin.table_for(&["[4]uint64"]).unwrap_err();
    assert!(err.to_string().contains("claims 16 bytes"), "{err}");
    assert!(bin.table_for(&["[3][4611686018427387904]uint64"]).is_err());
}

#[test]
fn cycles_through_values_do_not_hang_or_panic() {
    let mut u = Unit::new(GO);
    u.strukt("a", "main.A", 8, &[("Self", 0, "a")])
        .typedef("t1", "main.T1", "t2")
        .typedef("t2", "main.T2", "t1")
        .typedef("selfie", "main.Self", "selfie");
    let elf = go_elf(&mut u);
    let bin = GoBinary::parse(&elf).unwrap();
    let (t, ids) = bin.table_for(&["main.A"]).unwrap();
    assert!(matches!(t.leaves(ids[0]), Err(LayoutError::TooDeep { .. })));
    // Typedef cycles either fail in conversion or give a table whose walks fail.
    for name in ["main.T1", "main.Self"] {
        if let Ok((t, ids)) = bin.table_for(&[name]) {
            assert!(t.size_of(ids[0]).is_err(), "{name}");
        }
    }
}

#[test]
fn member_past_the_struct_end_and_dangling_references_are_errors() {
    let mut u = Unit::new(GO);
    u.base("u32", "uint32", 4, 10)
        .strukt("bad", "main.Bad", 4, &[("X", 8, "u32")])
        .strukt("dangling", "main.Dangling", 4, &[("X", 0, "nowhere")]);
    let elf = go_elf(&mut u);
    let bin = GoBinary::parse(&elf).unwrap();
    let err = bin.table_for(&["main.Bad"]).unwrap_err();
    assert!(err.to_string().contains("past the end"), "{err}");
    let err = bin.table_for(&["main.Dangling"]).unwrap_err();
    assert!(
        matches!(
            err,
            DwarfError::Corrupt {
                section: ".debug_info",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn short_names_and_ambiguity() {
    let mut u = Unit::new(GO);
    u.base("u32", "uint32", 4, 10)
        .strukt("a", "example.com/a/x.Event", 4, &[("X", 0, "u32")])
        .strukt("b", "example.com/b/x.Event", 4, &[("X", 0, "u32")])
        .strukt(
            "g",
            "example.com/app/generic.Pair[uint32,example.com/b/x.Event]",
            4,
            &[],
        );
    let elf = go_elf(&mut u);
    let bin = GoBinary::parse(&elf).unwrap();
    match bin.lookup_name("x.Event") {
        Err(DwarfError::Layout(LayoutError::Ambiguous { candidates, .. })) => {
            assert_eq!(
                candidates,
                ["example.com/a/x.Event", "example.com/b/x.Event"]
            )
        }
        other => panic!("{other:?}"),
    }
    let msg = bin.lookup_name("x.Event").unwrap_err().to_string();
    assert!(
        msg.contains("example.com/a/x.Event, example.com/b/x.Event"),
        "{msg}"
    );
    assert_eq!(
        bin.lookup_name("a/x.Event").unwrap().name,
        "example.com/a/x.Event"
    );
    assert_eq!(
        bin.lookup_name("generic.Pair[uint32,example.com/b/x.Event]")
            .unwrap()
            .name,
        "example.com/app/generic.Pair[uint32,example.com/b/x.Event]"
    );
    assert!(matches!(
        bin.lookup_name("Nope"),
        Err(DwarfError::NotInBinary { .. })
    ));
}

#[test]
fn a_type_absent_from_the_binary_says_why_and_how_to_keep_it() {
    let data = corpus("go/bin/app-go1.25.5-linux-amd64");
    let bin = GoBinary::parse(&data).unwrap();

    // No close name: the message says why a declared type can be missing.
    let err = bin.lookup_name("main.Nope").unwrap_err();
    assert!(
        matches!(&err, DwarfError::NotInBinary { similar, more: 0, .. } if similar.is_empty()),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("no type named `main.Nope` in the binary's DWARF. "),
        "{msg}"
    );
    assert!(
        msg.contains("Go's linker leaves out types that nothing in the program uses"),
        "{msg}"
    );
    assert!(
        msg.contains("as bpf2go users do") && msg.contains("`var v Nope; m.Lookup(&key, &v)`"),
        "{msg}"
    );

    // The same type name in other packages.
    let msg = bin.lookup_name("main.FlowKey").unwrap_err().to_string();
    assert!(
        msg.starts_with(
            "no type named `main.FlowKey` in the binary's DWARF (similar: \
             example.com/app/extrafield.FlowKey, example.com/app/good.FlowKey, \
             example.com/app/missingfield.FlowKey). "
        ),
        "{msg}"
    );

    // The name but for case first; a long list is cut.
    match bin.lookup_name("main.event") {
        Err(DwarfError::NotInBinary { similar, more, .. }) => {
            assert_eq!(similar.len(), 8, "{similar:?}");
            assert_eq!(similar[0], "main.Event");
            assert_eq!(similar[1], "example.com/app/badpad.Event");
            assert_eq!(8 + more, 12, "main.Event and the Event of 11 case packages");
        }
        other => panic!("{other:?}"),
    }
    let msg = bin.lookup_name("MAIN.EVENT").unwrap_err().to_string();
    assert!(msg.contains("(similar: main.Event, "), "{msg}");
    assert!(msg.contains(" and 4 more). "), "{msg}");
}

#[test]
fn c_only_dwarf_is_not_go() {
    let mut u = Unit::new("GNU C17 12.2.0");
    // Unit::new writes DW_LANG_Go; patch it to C11 (0x1d).
    u.base("i", "int", 4, 2);
    let mut elf = go_elf(&mut u);
    let at = elf.windows(6).position(|w| w == b"main\0\x16").unwrap() + 5;
    elf[at] = 0x1d;
    assert!(matches!(
        GoBinary::parse(&elf),
        Err(DwarfError::NotGo { units: 1 })
    ));
    let obj = corpus("bpf/maps.bpf.o");
    assert!(matches!(
        GoBinary::parse(&obj),
        Err(DwarfError::NotGo { .. })
    ));
}

#[test]
fn not_an_object_file() {
    for bytes in [&b""[..], b"hello", b"\x7fELF\x02\x01\x01", &[0u8; 64]] {
        match GoBinary::parse(bytes) {
            Err(DwarfError::NotObject { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn go_kinds_map_to_the_model() {
    let data = corpus("go/bin/app-go1.25.5-linux-amd64");
    let bin = GoBinary::parse(&data).unwrap();
    assert_eq!(bin.dwarf_version(), 5);
    let names = [
        "nonpod.Event",
        "nonpod.FlowStats",
        "main.Event",
        "embed.Event",
        "generic.Pair[uint32,uint64]",
    ];
    let (t, ids) = bin.table_for(&names).unwrap();
    let opaque = |k: &TypeKind| match k {
        TypeKind::GoOpaque { go_kind, size } => (*go_kind, *size),
        other => panic!("{other:?}"),
    };
    assert_eq!(opaque(member_kind(&t, ids[0], "Comm")), (GoKind::Slice, 24));
    assert_eq!(opaque(member_kind(&t, ids[0], "Labels")), (GoKind::Map, 8));
    assert!(matches!(
        member_kind(&t, ids[1], "Bytes"),
        TypeKind::Pointer { .. }
    ));
    assert_eq!(
        opaque(member_kind(&t, ids[1], "Extra")),
        (GoKind::Interface, 16)
    );
    assert_eq!(
        opaque(member_kind(&t, ids[2], "Comm")),
        (GoKind::String, 16)
    );
    assert!(matches!(
        member_kind(&t, ids[2], "IsExit"),
        TypeKind::Int {
            size: 1,
            encoding: IntEncoding::Bool,
            ..
        }
    ));
    assert!(matches!(
        member_kind(&t, ids[2], "Ret"),
        TypeKind::Int {
            size: 4,
            signed: true,
            ..
        }
    ));
    let embed = t.layout(ids[3]).unwrap();
    assert!(embed
        .members
        .iter()
        .any(|m| m.name == "Header" && m.embedded));
    assert_eq!(
        t.type_name(ids[4]),
        "example.com/app/generic.Pair[uint32,uint64]"
    );
    // The leaves of an embedded struct are promoted: `Pid`, not `Header.Pid`.
    let leaves = t.leaves(ids[3]).unwrap();
    assert!(leaves.iter().any(|l| l.path == "Pid"));
}

#[test]
fn runtime_types_with_pointer_cycles_convert() {
    let data = corpus("go/bin/app-go1.19.8-linux-amd64");
    let bin = GoBinary::parse(&data).unwrap();
    assert_eq!(bin.dwarf_version(), 4);
    let (t, ids) = bin.table_for(&["runtime.sudog", "runtime.g"]).unwrap();
    match member_kind(&t, ids[0], "next") {
        TypeKind::Pointer { target } => assert_eq!(t.resolve(*target).unwrap(), ids[0]),
        other => panic!("{other:?}"),
    }
    assert!(t.layout(ids[1]).unwrap().size > 100);
    assert!(t.len() > 20);
}

#[test]
fn compression_variants_are_reported() {
    for (file, want) in [
        ("app-go1.25.5-linux-amd64", Compression::Zlib),
        ("app-go1.25.5-linux-amd64-zstd", Compression::Zstd),
        ("app-go1.25.5-linux-amd64-zlibgnu", Compression::ZlibGnu),
        ("app-go1.25.5-linux-amd64-nocompress", Compression::None),
        ("app-go1.25.5-darwin-arm64", Compression::ZlibGnu),
    ] {
        let data = corpus(&format!("go/bin/{file}"));
        let bin = GoBinary::parse(&data).unwrap();
        let info = bin
            .sections()
            .iter()
            .find(|s| s.name.ends_with("debug_info"))
            .unwrap();
        assert_eq!(info.compression, want, "{file}");
        assert!(bin.lookup_name("main.Event").is_ok(), "{file}");
    }
}

#[test]
fn binaries_without_dwarf_say_how_to_rebuild() {
    for file in [
        "app-go1.25.5-linux-amd64-nodwarf",
        "app-go1.25.5-linux-amd64-stripped",
    ] {
        let data = corpus(&format!("go/bin/{file}"));
        let err = GoBinary::parse(&data).unwrap_err();
        assert_eq!(err, DwarfError::NoDwarf, "{file}");
        assert!(err.to_string().contains("rebuild without -ldflags=-w/-s"));
    }
}

#[test]
fn decompression_cap_is_checked_before_decompressing() {
    let data = corpus("go/bin/app-go1.25.5-linux-amd64");
    let tiny = Options {
        max_decompressed_bytes: 1000,
    };
    match GoBinary::parse_with(&data, &tiny) {
        Err(DwarfError::DecompressionLimit {
            section,
            file_offset,
            claimed,
            limit: 1000,
        }) => {
            assert!(section.starts_with(".debug_"), "{section}");
            assert!(file_offset > 0 && claimed > 1000);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn owned_binaries_outlive_their_bytes() {
    let bin = {
        let elf = go_elf(&mut small_unit());
        GoBinary::parse(&elf).unwrap().into_owned()
    };
    assert!(bin.table_for(&["main.Event"]).is_ok());
    let _ = V::U(0);
}
