//! Decoding against an independent decoder: for every recorded `bpftool -j`/`-p` dump
//! of a map with BTF, our decoding of every entry, put in bpftool's JSON conventions,
//! equals bpftool's own `formatted` form field by field. Plus big-endian bit numbering
//! on the `bpfeb` object, and hostile types and truncated values that must not panic.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::PathBuf;

use mapsleuth_btf::{discover_maps, Btf, BtfBytes, MapDef};
use mapsleuth_dump::{read_file, DumpReadOptions, EntryKind};
use mapsleuth_forensics::decode::{
    decode, decode_flat, to_bpftool_json, DecodeError, Decoder, FlatDecoder, LeafValue, Value,
};
use mapsleuth_layout::{
    ByteOrder, Composite, IntEncoding, Member, Target, Type, TypeKind, TypeTable,
};

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

struct Object {
    table: TypeTable,
    maps: Vec<MapDef>,
}

fn object(name: &str) -> Object {
    let path = corpus(name);
    let bytes = BtfBytes::read(path.to_str().unwrap()).unwrap();
    let btf = Btf::parse(&bytes.data).unwrap();
    let table = btf.to_table().unwrap();
    let maps = discover_maps(&btf, &table, &bytes.legacy_maps).unwrap();
    Object { table, maps }
}

/// The map a dump file records: the manifest names it (cut to 15 characters, as the
/// kernel keeps map names).
fn map_of<'o>(obj: &'o Object, dump_map: &str) -> Option<&'o MapDef> {
    obj.maps
        .iter()
        .find(|m| m.name == dump_map || (dump_map.len() == 15 && m.name.starts_with(dump_map)))
}

fn manifest() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus("dumps/manifest.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[1] == "json").then(|| (f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

/// Every entry of every BTF JSON dump: ours, in bpftool's conventions, equals bpftool's.
#[test]
fn decoding_equals_bpftools_formatted_on_every_corpus_dump() {
    let obj = object("bpf/maps.bpf.o");
    let mut files = 0;
    let mut entries = 0;
    let mut fields = 0;
    for (file, map) in manifest() {
        let Some(def) = map_of(&obj, &map) else {
            continue;
        };
        let dumps = read_file(
            corpus(&format!("dumps/{file}")),
            &DumpReadOptions::default(),
        )
        .unwrap();
        let dump = &dumps[0];
        if !dump.has_formatted() {
            continue;
        }
        files += 1;
        let key = def
            .key_type_id
            .map(|id| Decoder::new(&obj.table, id).unwrap());
        let value = def
            .value_type_id
            .map(|id| Decoder::new(&obj.table, id).unwrap());
        for e in dump.entries() {
            let formatted = e.formatted().unwrap().unwrap();
            let what = format!("{file} entry {} (line {})", e.index(), e.position().line);
            if let (Some(d), Some(k)) = (&key, e.key()) {
                let ours = to_bpftool_json(&d.decode(k).unwrap());
                assert_eq!(ours, formatted["key"], "{what}: key");
                fields += count_leaves(&ours);
            }
            let Some(d) = &value else { continue };
            match e.kind() {
                EntryKind::Value => {
                    let ours = to_bpftool_json(&d.decode(e.value().unwrap()).unwrap());
                    assert_eq!(ours, formatted["value"], "{what}: value");
                    fields += count_leaves(&ours);
                }
                EntryKind::PerCpu => {
                    let theirs = formatted["values"].as_array().unwrap();
                    assert_eq!(theirs.len(), e.value_count(), "{what}: CPUs");
                    let per = d.decode_percpu(e.values()).unwrap();
                    assert_eq!(per.cpus.len(), theirs.len(), "{what}: decoded CPUs");
                    for (cpu, (v, t)) in per.cpus.iter().zip(theirs).enumerate() {
                        assert_eq!(t["cpu"], cpu, "{what}");
                        let ours = to_bpftool_json(v);
                        assert_eq!(ours, t["value"], "{what}: CPU {cpu}");
                        fields += count_leaves(&ours);
                    }
                }
                other => panic!("{what}: unexpected {other:?}"),
            }
            entries += 1;
        }
    }
    // flows, flows.after, events, 4 per-CPU maps, lru_flows, lpm_v4, inner_a, conns,
    // addrs: 12 maps in two JSON forms each.
    assert_eq!(files, 24, "BTF JSON dumps compared");
    assert!(entries >= 130, "{entries} entries");
    assert!(fields > 1000, "{fields} fields");
}

fn count_leaves(j: &serde_json::Value) -> usize {
    match j {
        serde_json::Value::Object(m) => m.values().map(count_leaves).sum(),
        serde_json::Value::Array(a) => a.iter().map(count_leaves).sum(),
        _ => 1,
    }
}

/// The planted cases decode to what the corpus README says they hold.
#[test]
fn planted_values_decode_as_documented() {
    let obj = object("bpf/maps.bpf.o");
    let events = map_of(&obj, "events").unwrap();
    let dump = &read_file(corpus("dumps/events.json"), &DumpReadOptions::default()).unwrap()[0];
    let d = Decoder::new(&obj.table, events.value_type_id.unwrap()).unwrap();
    let by_key = |k: u8| {
        let e = dump
            .entries()
            .find(|e| e.key() == Some(&[k, 0, 0, 0][..]))
            .unwrap();
        d.decode(e.value().unwrap()).unwrap()
    };
    let v1 = by_key(1);
    assert_eq!(v1.field("pid").and_then(Value::as_int), Some(1234));
    assert_eq!(v1.field("ret").and_then(Value::as_int), Some(-1));
    assert_eq!(
        v1.field("comm").and_then(Value::text).as_deref(),
        Some("bash")
    );
    let v2 = by_key(2);
    assert!(matches!(
        v2.field("comm"),
        Some(Value::Str { nul: None, .. })
    ));
    assert_eq!(
        v2.field("comm").and_then(Value::text).as_deref(),
        Some("abcdefghijklmnop")
    );
    let v3 = by_key(3);
    assert_eq!(
        v3.field("comm").and_then(Value::text).as_deref(),
        Some("b\"\\\\\\x0a\\xff\\x09\\x01")
    );
    let v4 = by_key(4);
    assert_eq!(
        v4.field("comm").and_then(Value::text).as_deref(),
        Some("ba")
    );
    // Natural JSON: strings, enums by name, anonymous union members merged.
    assert_eq!(
        serde_json::to_value(&v1).unwrap(),
        serde_json::json!({"pid": 1234, "ts_ns": 1, "ret": -1, "is_exit": 1, "comm": "bash"})
    );

    let flows = map_of(&obj, "flows").unwrap();
    let dump = &read_file(corpus("dumps/flows.json"), &DumpReadOptions::default()).unwrap()[0];
    let d = Decoder::new(&obj.table, flows.value_type_id.unwrap()).unwrap();
    let states: Vec<Value> = dump
        .entries()
        .map(|e| {
            d.decode(e.value().unwrap())
                .unwrap()
                .field("state")
                .unwrap()
                .clone()
        })
        .collect();
    assert!(states.iter().any(|s| matches!(
        s,
        Value::Enum {
            value: 7,
            name: None,
            ..
        }
    )));
    assert!(states
        .iter()
        .any(|s| matches!(s, Value::Enum { name: Some(n), .. } if &**n == "CS_TIME_WAIT")));

    let addrs = map_of(&obj, "addrs").unwrap();
    let dump = &read_file(corpus("dumps/addrs.json"), &DumpReadOptions::default()).unwrap()[0];
    let e = dump
        .entries()
        .find(|e| e.key() == Some(&[0, 0, 0, 0][..]))
        .unwrap();
    let v = decode(&obj.table, addrs.value_type_id.unwrap(), e.value().unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"family": 2, "v4": 16777343, "v6": "7f000001000000000000000000000000"})
    );
    assert_eq!(v.path("v4").and_then(Value::as_int), Some(0x0100007f));
}

#[test]
fn per_cpu_values_sum_their_integers() {
    let obj = object("bpf/maps.bpf.o");
    let def = map_of(&obj, "pcpu_hash_stats").unwrap();
    let dump = &read_file(
        corpus("dumps/pcpu_hash_stats.json"),
        &DumpReadOptions::default(),
    )
    .unwrap()[0];
    let d = Decoder::new(&obj.table, def.value_type_id.unwrap()).unwrap();
    let e = dump
        .entries()
        .find(|e| e.key() == Some(&[0, 0, 0, 0][..]))
        .unwrap();
    let per = d.decode_percpu(e.values()).unwrap();
    assert_eq!(per.cpus.len(), 2);
    let sum = per.sum.unwrap();
    assert_eq!(sum.field("packets").and_then(Value::as_int), Some(7));
    // The enum has no sum.
    assert!(sum.field("state").is_none());
    let u64_def = map_of(&obj, "pcpu_hash_u64").unwrap();
    let dump = &read_file(
        corpus("dumps/pcpu_hash_u64.json"),
        &DumpReadOptions::default(),
    )
    .unwrap()[0];
    let d = Decoder::new(&obj.table, u64_def.value_type_id.unwrap()).unwrap();
    let e = dump
        .entries()
        .find(|e| e.key() == Some(&[1, 0, 0, 0][..]))
        .unwrap();
    assert_eq!(
        d.decode_percpu(e.values())
            .unwrap()
            .sum
            .and_then(|s| s.as_int()),
        Some(14)
    );
}

/// The flat form: one value per leaf, paths as `TypeTable::leaves` has them.
#[test]
fn flat_form_follows_the_leaves() {
    let obj = object("bpf/maps.bpf.o");
    let def = map_of(&obj, "addrs").unwrap();
    let dump = &read_file(corpus("dumps/addrs.json"), &DumpReadOptions::default()).unwrap()[0];
    let e = dump
        .entries()
        .find(|e| e.key() == Some(&[1, 0, 0, 0][..]))
        .unwrap();
    let flat = decode_flat(&obj.table, def.value_type_id.unwrap(), e.value().unwrap()).unwrap();
    let paths: Vec<&str> = flat.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["family", "v4", "v6"]);
    assert_eq!(flat[0].1.as_int(), Some(10));
    assert!(
        matches!(&flat[2].1, Value::Bytes { bytes, .. } if bytes[..4] == [0x20, 1, 0x0d, 0xb8])
    );

    let conns = map_of(&obj, "conns").unwrap();
    let fd = FlatDecoder::new(&obj.table, conns.value_type_id.unwrap()).unwrap();
    let v = fd.decode(&[0x25, 0, 0, 0, 0x90, 0x1f, 2, 0xff]).unwrap();
    let ints: Vec<Option<i128>> = v.iter().map(Value::as_int).collect();
    assert_eq!(
        ints,
        [Some(5), Some(0), Some(1), Some(0), Some(8080), Some(2)]
    );
}

/// Big-endian: the same struct in `maps.bpfeb.o` has the same bit offsets, counted from
/// the most significant bit; the bytes a big-endian host stores decode to the same
/// fields (what bpftool's `__BIG_ENDIAN_BITFIELD` path reads).
#[test]
fn big_endian_object_decodes_big_endian_bytes() {
    let le = object("bpf/maps.bpf.o");
    let be = object("bpf/maps.bpfeb.o");
    assert_eq!(be.table.target.byte_order, ByteOrder::Big);
    let ty = |o: &Object, m: &str| map_of(o, m).unwrap().value_type_id.unwrap();
    // conn_flags {state=5, dir=0, nat=1, reserved=0, port=8080, af=2} + padding 0xff.
    let le_bytes = [0x25, 0, 0, 0, 0x90, 0x1f, 2, 0xff];
    // Big-endian: state in the top nibble, then dir, then nat: 0101 0 1 00.
    let be_bytes = [0x54, 0, 0, 0, 0x1f, 0x90, 2, 0xff];
    let a = decode(&le.table, ty(&le, "conns"), &le_bytes).unwrap();
    let b = decode(&be.table, ty(&be, "conns"), &be_bytes).unwrap();
    assert_eq!(to_bpftool_json(&a), to_bpftool_json(&b));
    assert_eq!(
        to_bpftool_json(&b),
        serde_json::json!({"state": "0x5", "dir": "0x0", "nat": "0x1", "reserved": "0x0", "port": 8080, "af": 2})
    );
    // Every flows value, byte-swapped field by field, decodes the same on bpfeb.
    let dump = &read_file(corpus("dumps/flows.json"), &DumpReadOptions::default()).unwrap()[0];
    let fl = FlatDecoder::new(&le.table, ty(&le, "flows")).unwrap();
    let dle = Decoder::new(&le.table, ty(&le, "flows")).unwrap();
    let dbe = Decoder::new(&be.table, ty(&be, "flows")).unwrap();
    for e in dump.entries() {
        let v = e.value().unwrap();
        let mut swapped = v.to_vec();
        for l in fl.leaves() {
            let (o, n) = ((l.offset_bits / 8) as usize, (l.size_bits / 8) as usize);
            swapped[o..o + n].reverse();
        }
        assert_eq!(
            to_bpftool_json(&dle.decode(v).unwrap()),
            to_bpftool_json(&dbe.decode(&swapped).unwrap())
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile input

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn mutate(table: &TypeTable, rng: &mut Rng) -> TypeTable {
    let mut t = table.clone();
    let n = t.len() as u32;
    for _ in 0..1 + rng.below(4) {
        let id = 1 + rng.below(u64::from(n - 1)) as u32;
        let Ok(ty) = t.get(id) else { continue };
        let mut ty = ty.clone();
        let wild = |rng: &mut Rng| -> u64 {
            match rng.below(5) {
                0 => 0,
                1 => rng.below(64),
                2 => rng.below(1 << 20),
                3 => u64::from(u32::MAX),
                _ => rng.next(),
            }
        };
        match &mut ty.kind {
            TypeKind::Struct(c) | TypeKind::Union(c) => match rng.below(5) {
                0 => c.size = wild(rng),
                1 if !c.members.is_empty() => {
                    let i = rng.below(c.members.len() as u64) as usize;
                    c.members[i].offset_bits = wild(rng);
                }
                2 if !c.members.is_empty() => {
                    let i = rng.below(c.members.len() as u64) as usize;
                    c.members[i].bitfield_bits = Some(rng.below(300) as u32);
                }
                3 if !c.members.is_empty() => {
                    let i = rng.below(c.members.len() as u64) as usize;
                    c.members[i].ty = rng.below(u64::from(n) + 3) as u32;
                }
                _ => c.members.push(Member {
                    name: None,
                    ty: rng.below(u64::from(n)) as u32,
                    offset_bits: wild(rng),
                    bitfield_bits: None,
                    embedded: false,
                }),
            },
            TypeKind::Array { elem, len } => {
                if rng.below(2) == 0 {
                    *len = wild(rng);
                } else {
                    *elem = rng.below(u64::from(n) + 3) as u32;
                }
            }
            TypeKind::Int { size, .. } | TypeKind::Enum { size, .. } | TypeKind::Float { size } => {
                *size = wild(rng) as u32;
            }
            TypeKind::Typedef { target } | TypeKind::Qualified { target, .. } => {
                // Loops included.
                *target = rng.below(u64::from(n)) as u32;
            }
            _ => {}
        }
        t.set(id, ty).unwrap();
    }
    t
}

/// The leaves of a decoded tree in order, as `Decoder::leaves` gives them without it.
fn tree_leaves(v: &Value) -> Vec<LeafValue<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Struct(fields) | Value::Union(fields) => {
                stack.extend(fields.iter().rev().map(|f| &f.value));
            }
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Int { value, bits, .. } => out.push(LeafValue::Int {
                value: *value,
                bits: *bits,
            }),
            Value::Bool(b) => out.push(LeafValue::Bool(*b)),
            Value::Float { value, .. } => out.push(LeafValue::Float(*value)),
            Value::Enum { value, name, .. } => out.push(LeafValue::Enum {
                value: *value,
                name: name.as_deref(),
            }),
            Value::Str { bytes, .. } | Value::Bytes { bytes, .. } => {
                out.push(LeafValue::Bytes(bytes))
            }
            Value::Pointer(p) => out.push(LeafValue::Pointer(*p)),
            _ => {}
        }
    }
    out
}

/// Random types and bytes (and, for the ones that decode, their leaves equal the
/// tree's).
#[test]
fn hostile_types_and_truncated_values_never_panic() {
    let obj = object("bpf/maps.bpf.o");
    let types = object("bpf/types.bpf.o");
    let roots: Vec<(&TypeTable, u32)> = obj
        .maps
        .iter()
        .flat_map(|m| [m.key_type_id, m.value_type_id])
        .flatten()
        .map(|id| (&obj.table, id))
        .chain(
            [
                "bits",
                "nested",
                "packed_hdr",
                "holds_aligned",
                "arrays",
                "qualified",
            ]
            .iter()
            .filter_map(|n| types.table.lookup(n).ok())
            .map(|id| (&types.table, id)),
        )
        .collect();
    assert!(roots.len() > 10);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    let mut errors = 0;
    for round in 0..600 {
        let (table, id) = roots[round % roots.len()];
        let t = mutate(table, &mut rng);
        let len = rng.below(96) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        match Decoder::new(&t, id) {
            Ok(d) => match d.decode(&bytes) {
                Ok(v) => {
                    let mut leaves = Vec::new();
                    d.leaves(&bytes, &mut leaves).unwrap();
                    // As text: a NaN float equals itself there.
                    let (fast, tree) = (format!("{leaves:?}"), format!("{:?}", tree_leaves(&v)));
                    assert_eq!(fast, tree, "round {round}");
                    decoded += 1;
                    let _ = serde_json::to_string(&v).unwrap();
                    let _ = to_bpftool_json(&v);
                    let _ = v.to_string();
                }
                Err(e) => {
                    let mut leaves = Vec::new();
                    assert_eq!(d.leaves(&bytes, &mut leaves), Err(e), "round {round}");
                    errors += 1
                }
            },
            Err(_) => errors += 1,
        }
        if let Ok(f) = FlatDecoder::new(&t, id) {
            let _ = f.decode(&bytes);
        }
    }
    assert!(
        decoded > 0 && errors > 0,
        "{decoded} decoded, {errors} errors"
    );
    // Every prefix of every real value is an error naming an offset, never a panic.
    let events = map_of(&obj, "events").unwrap().value_type_id.unwrap();
    let d = Decoder::new(&obj.table, events).unwrap();
    for n in 0..40 {
        match d.decode(&vec![0xaa; n]) {
            Err(DecodeError::Short {
                offset,
                len,
                needed,
                ..
            }) => {
                assert_eq!((len, needed), (n, 40));
                assert!(offset <= 40);
            }
            other => panic!("{n} bytes: {other:?}"),
        }
    }
}

#[test]
fn huge_arrays_are_bounded() {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let u32_ = t.push(Type::new(
        Some("u32".into()),
        TypeKind::Int {
            size: 4,
            signed: false,
            encoding: IntEncoding::Plain,
        },
    ));
    let big = t.push(Type::new(
        None,
        TypeKind::Array {
            elem: u32_,
            len: 1 << 40,
        },
    ));
    assert!(matches!(
        Decoder::new(&t, big),
        Err(DecodeError::TooMany { .. }) | Err(DecodeError::Layout(_))
    ));
    // Arrays of arrays multiply.
    let inner = t.push(Type::new(
        None,
        TypeKind::Array {
            elem: u32_,
            len: 1024,
        },
    ));
    let outer = t.push(Type::new(
        None,
        TypeKind::Array {
            elem: inner,
            len: 1024,
        },
    ));
    assert!(matches!(
        Decoder::new(&t, outer),
        Err(DecodeError::TooMany { .. })
    ));
    // A struct nested in itself.
    let s = t.push(Type::new(Some("loop".into()), TypeKind::Void));
    t.set(
        s,
        Type::new(
            Some("loop".into()),
            TypeKind::Struct(Composite {
                size: 4,
                members: vec![Member {
                    name: Some("me".into()),
                    ty: s,
                    offset_bits: 0,
                    bitfield_bits: None,
                    embedded: false,
                }],
            }),
        ),
    )
    .unwrap();
    assert!(Decoder::new(&t, s).is_err());
}
