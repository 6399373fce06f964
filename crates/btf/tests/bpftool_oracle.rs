//! Every type of every corpus BTF file, rendered the way `bpftool -j btf dump file`
//! prints it, must equal bpftool's recorded output: kind, name, size, members with
//! offsets and bitfield sizes, enum values, params, vars. vmlinux has ~126,000 types.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_btf::{Btf, BtfBytes, BtfType};
use serde_json::{json, Value};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

fn oracle(name: &str) -> Value {
    let plain = corpus(&format!("oracles/btf/{name}.bpftool.json"));
    let bytes = if plain.exists() {
        std::fs::read(&plain).unwrap()
    } else {
        let zst = std::fs::read(corpus(&format!("oracles/btf/{name}.bpftool.json.zst"))).unwrap();
        zstd::decode_all(&zst[..]).unwrap()
    };
    serde_json::from_slice(&bytes).unwrap()
}

fn name(btf: &Btf, off: u32) -> String {
    let n = btf.string(off).unwrap();
    if n.is_empty() {
        "(anon)".into()
    } else {
        n.to_string()
    }
}

fn linkage(l: u32) -> &'static str {
    match l {
        0 => "static",
        1 => "global",
        2 => "extern",
        _ => "(unknown)",
    }
}

/// One type as bpftool's `btf_dump_json` prints it.
fn bpftool_json(btf: &Btf, id: u32) -> Value {
    let (c, t) = btf.get(id).unwrap();
    let mut v = json!({"id": id, "kind": c.kind.name(), "name": name(btf, c.name_off)});
    let o = v.as_object_mut().unwrap();
    match t {
        BtfType::Int {
            size,
            encoding,
            offset,
            bits,
        } => {
            o.insert("size".into(), json!(size));
            o.insert("bits_offset".into(), json!(offset));
            o.insert("nr_bits".into(), json!(bits));
            let enc = match encoding {
                1 => "SIGNED",
                2 => "CHAR",
                4 => "BOOL",
                _ => "(none)",
            };
            o.insert("encoding".into(), json!(enc));
        }
        BtfType::Ptr { type_id }
        | BtfType::Typedef { type_id }
        | BtfType::Volatile { type_id }
        | BtfType::Const { type_id }
        | BtfType::Restrict { type_id }
        | BtfType::TypeTag { type_id } => {
            o.insert("type_id".into(), json!(type_id));
        }
        BtfType::Array {
            elem,
            index,
            nelems,
        } => {
            o.insert("type_id".into(), json!(elem));
            o.insert("index_type_id".into(), json!(index));
            o.insert("nr_elems".into(), json!(nelems));
        }
        BtfType::Struct { size, members } | BtfType::Union { size, members } => {
            o.insert("size".into(), json!(size));
            o.insert("vlen".into(), json!(members.len()));
            let ms: Vec<Value> = members
                .iter()
                .map(|m| {
                    let mut mv = json!({"name": name(btf, m.name_off), "type_id": m.type_id, "bits_offset": m.bit_offset});
                    if m.bitfield_size > 0 {
                        mv["bitfield_size"] = json!(m.bitfield_size);
                    }
                    mv
                })
                .collect();
            o.insert("members".into(), json!(ms));
        }
        BtfType::Enum {
            size,
            signed,
            values,
        }
        | BtfType::Enum64 {
            size,
            signed,
            values,
        } => {
            let is64 = c.kind == mapsleuth_btf::Kind::Enum64;
            o.insert(
                "encoding".into(),
                json!(if signed { "SIGNED" } else { "UNSIGNED" }),
            );
            o.insert("size".into(), json!(size));
            o.insert("vlen".into(), json!(values.len()));
            let vs: Vec<Value> = values
                .iter()
                .map(|e| {
                    // bpftool prints 32-bit values sign-extended, 64-bit ones by the
                    // enum's signedness.
                    let val = if !is64 && signed {
                        json!(e.value as u32 as i32 as i64)
                    } else if !is64 {
                        json!(e.value as u32 as i32 as i64 as u64)
                    } else if signed {
                        json!(e.value as i64)
                    } else {
                        json!(e.value)
                    };
                    json!({"name": name(btf, e.name_off), "val": val})
                })
                .collect();
            o.insert("values".into(), json!(vs));
        }
        BtfType::Fwd { union } => {
            o.insert(
                "fwd_kind".into(),
                json!(if union { "union" } else { "struct" }),
            );
        }
        BtfType::Func { proto, linkage: l } => {
            o.insert("type_id".into(), json!(proto));
            o.insert("linkage".into(), json!(linkage(u32::from(l))));
        }
        BtfType::FuncProto { ret, params } => {
            o.insert("ret_type_id".into(), json!(ret));
            o.insert("vlen".into(), json!(params.len()));
            let ps: Vec<Value> = params
                .iter()
                .map(|p| json!({"name": name(btf, p.name_off), "type_id": p.type_id}))
                .collect();
            o.insert("params".into(), json!(ps));
        }
        BtfType::Var {
            type_id,
            linkage: l,
        } => {
            o.insert("type_id".into(), json!(type_id));
            o.insert("linkage".into(), json!(linkage(l)));
        }
        BtfType::Datasec { size, vars } => {
            o.insert("size".into(), json!(size));
            o.insert("vlen".into(), json!(vars.len()));
            let vs: Vec<Value> = vars
                .iter()
                .map(|v| json!({"type_id": v.type_id, "offset": v.offset, "size": v.size}))
                .collect();
            o.insert("vars".into(), json!(vs));
        }
        BtfType::Float { size } => {
            o.insert("size".into(), json!(size));
        }
        BtfType::DeclTag {
            type_id,
            component_idx,
        } => {
            o.insert("type_id".into(), json!(type_id));
            o.insert("component_idx".into(), json!(component_idx));
        }
    }
    v
}

fn compare(btf: &Btf, oracle: &Value, what: &str) -> usize {
    let types = oracle["types"].as_array().unwrap();
    let ours = (btf.first_id()..=btf.count()).count();
    assert_eq!(ours, types.len(), "{what}: type count");
    for expected in types {
        let id = expected["id"].as_u64().unwrap() as u32;
        let got = bpftool_json(btf, id);
        assert_eq!(&got, expected, "{what}: type id {id} differs from bpftool");
    }
    btf.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
    // The whole graph converts to the layout model, and every struct lays out.
    let table = btf.to_table().unwrap();
    for (id, t) in table.iter() {
        if matches!(
            t.kind,
            mapsleuth_layout::TypeKind::Struct(_) | mapsleuth_layout::TypeKind::Union(_)
        ) {
            table
                .layout(id)
                .unwrap_or_else(|e| panic!("{what}: layout of {id}: {e}"));
        }
    }
    types.len()
}

#[test]
fn corpus_objects_and_blobs_match_bpftool() {
    let cases = [
        ("bpf/maps.bpf.o", "maps.bpf.o"),
        ("bpf/maps.bpfeb.o", "maps.bpfeb.o"),
        ("bpf/types.bpf.o", "types.bpf.o"),
        ("bpf/types.bpfeb.o", "types.bpfeb.o"),
        ("bpf/legacy.bpf.o", "legacy.bpf.o"),
        ("bpf/legacy.bpfeb.o", "legacy.bpfeb.o"),
        ("btf/types.bpf.btf", "types.bpf.btf"),
        ("btf/types.bpfeb.btf", "types.bpfeb.btf"),
        // Compressed .BTF sections hold the same blob as the raw one.
        ("btf/types.bpf.btf-zlib.o", "types.bpf.btf"),
        ("btf/types.bpf.btf-zstd.o", "types.bpf.btf"),
        ("btf/types.bpfeb.btf-zlib.o", "types.bpfeb.btf"),
    ];
    for (file, oracle_name) in cases {
        let bytes = BtfBytes::read(corpus(file).to_str().unwrap()).unwrap();
        let btf = Btf::parse(&bytes.data).unwrap();
        let n = compare(&btf, &oracle(oracle_name), file);
        assert!(n > 10, "{file}: only {n} types");
    }
}

#[test]
fn big_endian_objects_are_read_as_big_endian() {
    let be = BtfBytes::read(corpus("bpf/types.bpfeb.o").to_str().unwrap()).unwrap();
    let btf = Btf::parse(&be.data).unwrap();
    assert_eq!(btf.byte_order(), mapsleuth_layout::ByteOrder::Big);
    assert!(matches!(
        be.container,
        mapsleuth_btf::Container::Elf {
            compressed: false,
            ..
        }
    ));
    let z = BtfBytes::read(corpus("btf/types.bpfeb.btf-zlib.o").to_str().unwrap()).unwrap();
    assert!(matches!(
        z.container,
        mapsleuth_btf::Container::Elf {
            compressed: true,
            ..
        }
    ));
}

#[test]
fn vmlinux_and_split_module_match_bpftool() {
    let vmlinux = std::fs::read(corpus("btf/vmlinux.btf")).unwrap();
    let base = Btf::parse(&vmlinux).unwrap();
    let n = compare(&base, &oracle("vmlinux.btf"), "vmlinux.btf");
    assert!(n > 100_000, "vmlinux has only {n} types");

    let split_bytes = std::fs::read(corpus("btf/split_module.btf")).unwrap();
    let split = Btf::parse_split(&split_bytes, &base).unwrap();
    assert_eq!(split.first_id(), base.count() + 1);
    // bpftool's split dump lists only the module's own types.
    let o = oracle("split_module.btf");
    compare(&split, &o, "split_module.btf");
    // Split types reach base types by id.
    let id = split.find_type("ms_mod_table").unwrap();
    let table = split.to_table_for(&[id]).unwrap();
    let l = table.layout(id).unwrap();
    let buckets = &l.members[0];
    assert_eq!(buckets.type_name, "struct hlist_head[4]");
    assert!(
        buckets.type_id < split.first_id(),
        "array type lives in the base"
    );
    assert_eq!(buckets.size, 32);
    // Without its base, split BTF is an error, not garbage.
    assert!(Btf::parse(&split_bytes).and_then(|b| b.validate()).is_err());
}
