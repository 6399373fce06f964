//! An independent reader, the `btf` crate from crates.io, agrees with ours on every
//! struct, union, int and enum of vmlinux: names, sizes, members with their types,
//! offsets and bitfield sizes, enum values.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use mapsleuth_btf::{Btf, BtfType, Kind};

const VMLINUX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/btf/vmlinux.btf");

#[test]
fn btf_crate_agrees_on_vmlinux() {
    let theirs = btf::Btf::from_file(VMLINUX).unwrap();
    let data = std::fs::read(VMLINUX).unwrap();
    let ours = Btf::parse(&data).unwrap();
    assert_eq!(
        theirs.get_types().len() as u32,
        ours.count() + 1,
        "type count (theirs includes void)"
    );
    let mut compared = 0;
    for id in 1..=ours.count() {
        let (c, t) = ours.get(id).unwrap();
        let name = ours.string(c.name_off).unwrap();
        let flat = theirs.get_type_by_id(id).unwrap();
        match (&t, &flat.base_type) {
            (
                BtfType::Struct { size, members } | BtfType::Union { size, members },
                btf::Type::Struct(s),
            ) => {
                assert!(matches!(c.kind, Kind::Struct | Kind::Union));
                // The crate's `bits` of a struct is its own derived figure (the sum of
                // member type sizes), not the struct size, which bpftool's oracle checks.
                let _ = size;
                assert_eq!(
                    s.members.len(),
                    members.len(),
                    "id {id} `{name}`: member count"
                );
                for (m, tm) in members.iter().zip(&s.members) {
                    let mname = ours.string(m.name_off).unwrap();
                    assert_eq!(tm.name.as_deref().unwrap_or(""), mname, "id {id} `{name}`");
                    assert_eq!(tm.type_id, m.type_id, "id {id} `{name}`.{mname}: type");
                    assert_eq!(
                        tm.offset, m.bit_offset,
                        "id {id} `{name}`.{mname}: bit offset"
                    );
                    let theirs_bits = tm.bits.unwrap_or(0);
                    assert_eq!(
                        theirs_bits,
                        u32::from(m.bitfield_size),
                        "id {id} `{name}`.{mname}: bitfield size"
                    );
                }
                compared += 1;
            }
            (
                BtfType::Int {
                    size,
                    encoding,
                    bits,
                    ..
                },
                btf::Type::Integer(i),
            ) => {
                assert_eq!(i.bits, size * 8, "id {id} `{name}`");
                assert_eq!(i.used_bits, u32::from(*bits), "id {id} `{name}`");
                assert_eq!(i.is_signed, encoding & 1 != 0, "id {id} `{name}`");
                assert_eq!(i.is_bool, encoding & 4 != 0, "id {id} `{name}`");
                compared += 1;
            }
            (
                BtfType::Enum { values, .. } | BtfType::Enum64 { values, .. },
                btf::Type::Enum32(e) | btf::Type::Enum64(e),
            ) => {
                assert_eq!(e.entries.len(), values.len(), "id {id} `{name}`");
                for (v, te) in values.iter().zip(&e.entries) {
                    assert_eq!(
                        te.name.as_deref().unwrap_or(""),
                        ours.string(v.name_off).unwrap(),
                        "id {id} `{name}`"
                    );
                    if c.kind == Kind::Enum64 {
                        // btf 0.5 reads the low 32 bits as i32 and sign-extends them into
                        // the high half (`BPF_F_INDEX_MASK` = 0xffffffff becomes -1);
                        // bpftool's oracle agrees with ours. Compare with its formula.
                        let (lo, hi) = (v.value as u32, (v.value >> 32) as u32);
                        let crate_value = i64::from(lo as i32) | (i64::from(hi as i32) << 32);
                        assert_eq!(te.value, crate_value, "id {id} `{name}`: value");
                    } else {
                        assert_eq!(te.value as u32, v.value as u32, "id {id} `{name}`: value");
                    }
                }
                compared += 1;
            }
            _ => {}
        }
    }
    // Every struct, union, int and enum was compared: none came out of the other
    // reader as a different kind.
    let expected = (1..=ours.count())
        .filter(|&id| {
            matches!(
                ours.get(id).unwrap().0.kind,
                Kind::Struct | Kind::Union | Kind::Int | Kind::Enum | Kind::Enum64
            )
        })
        .count();
    assert_eq!(compared, expected);
    assert!(compared > 10_000, "{compared}");
}
