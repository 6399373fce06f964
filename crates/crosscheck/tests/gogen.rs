//! The Go generator against the corpus: the committed sources in corpus/go/gen are what
//! it produces now; the Go compiler's own layout of every generated struct (the gen
//! oracles, amd64 and 386) is the BTF layout; and the text says what it should about
//! padding, unions, bitfields and names, with every number taken from BTF.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::OnceLock;

use mapsleuth_btf::{Btf, BtfBytes};
use mapsleuth_crosscheck::gogen::{
    generate, generate_file, GoFieldKind, GoFile, GoGenError, GoGenOptions, HEADER,
};
use mapsleuth_layout::{
    ByteOrder, Composite, IntEncoding, Member, Target, Type, TypeId, TypeKind, TypeTable,
};
use serde_json::Value;

const REGEN: &str = "regenerate with `bash corpus/regen-go.sh` (its gen section, at the end, \
                     writes corpus/go/gen, bin/gen-* and oracle/gen-*.json)";

fn corpus(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus")
        .join(rel)
}

/// One line of corpus/go/gen/packages.tsv.
struct Package {
    name: String,
    btf: String,
    types: Vec<String>,
    host_layout: bool,
}

fn packages() -> Vec<Package> {
    let text = std::fs::read_to_string(corpus("go/gen/packages.tsv")).expect("packages.tsv");
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                cols.len(),
                4,
                "packages.tsv: 4 tab-separated columns in {l:?}"
            );
            Package {
                name: cols[0].to_string(),
                btf: cols[1].to_string(),
                types: cols[2].split(',').map(str::to_string).collect(),
                host_layout: cols[3] == "host-layout",
            }
        })
        .collect()
}

/// The BTF of a corpus file as the example binary reads it: the root types' ids and the
/// table of what they reach.
fn load(btf_rel: &str, types: &[String]) -> (TypeTable, Vec<TypeId>) {
    let bytes = BtfBytes::read(corpus(btf_rel).to_str().unwrap()).expect("read BTF");
    let btf = Btf::parse(&bytes.data).expect("parse BTF");
    let ids: Vec<TypeId> = types
        .iter()
        .map(|t| {
            btf.find_type(t)
                .unwrap_or_else(|e| panic!("{btf_rel}: {t}: {e}"))
        })
        .collect();
    (btf.to_table_for(&ids).expect("table"), ids)
}

/// Every package of packages.tsv generated once (parsing vmlinux BTF is the slow part),
/// shared by the tests that need them all.
fn generated() -> &'static [(Package, TypeTable, GoFile)] {
    static ALL: OnceLock<Vec<(Package, TypeTable, GoFile)>> = OnceLock::new();
    ALL.get_or_init(|| {
        packages()
            .into_iter()
            .map(|p| {
                let (table, file) = generate_package(&p);
                (p, table, file)
            })
            .collect()
    })
}

fn generate_package(p: &Package) -> (TypeTable, GoFile) {
    let (table, ids) = load(&p.btf, &p.types);
    let opts = GoGenOptions {
        package: p.name.clone(),
        type_name: None,
        host_layout: p.host_layout,
    };
    let file =
        generate_file(&table, &ids, &opts).unwrap_or_else(|e| panic!("package {}: {e}", p.name));
    (table, file)
}

// ------------------------------------------------------------------ (a) committed sources

#[test]
fn committed_sources_are_current() {
    for (p, _, file) in generated() {
        let rel = format!("go/gen/{0}/{0}.go", p.name);
        let committed = std::fs::read_to_string(corpus(&rel))
            .unwrap_or_else(|e| panic!("corpus/{rel}: {e}; {REGEN}"));
        if committed != file.source {
            let line = committed
                .lines()
                .zip(file.source.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(file.source.lines().count()));
            panic!(
                "corpus/{rel} differs from what the generator writes now (first at line {}: \
                 committed {:?}, now {:?}); {REGEN}",
                line + 1,
                committed.lines().nth(line),
                file.source.lines().nth(line)
            );
        }
    }
}

// ------------------------------------------------------------------ (b) Go layout = C layout

/// Bit offset of a C member path (`named_anon.x`, `lo` inside an anonymous struct) from
/// the start of struct `id`, found by walking BTF members (anonymous ones looked through).
fn c_member(table: &TypeTable, id: TypeId, path: &str) -> Option<(u64, Option<u32>, TypeId)> {
    fn find(
        table: &TypeTable,
        id: TypeId,
        name: &str,
        depth: u32,
    ) -> Option<(u64, Option<u32>, TypeId)> {
        if depth > 32 {
            return None;
        }
        let r = table.resolve(id).ok()?;
        let (TypeKind::Struct(c) | TypeKind::Union(c)) = &table.get(r).ok()?.kind else {
            return None;
        };
        for m in &c.members {
            match m.name.as_deref() {
                Some(n) if n == name => return Some((m.offset_bits, m.bitfield_bits, m.ty)),
                None => {
                    if let Some((o, b, t)) = find(table, m.ty, name, depth + 1) {
                        return Some((m.offset_bits + o, b, t));
                    }
                }
                _ => {}
            }
        }
        None
    }
    let mut cur = id;
    let mut bits = 0;
    let mut last = None;
    for seg in path.split('.') {
        let (o, b, t) = find(table, cur, seg, 0)?;
        bits += o;
        cur = t;
        last = Some((bits, b, t));
    }
    last
}

/// Paths of every member C code names directly in struct `id` (through anonymous
/// members), with their sizes in bits.
fn visible_members(table: &TypeTable, id: TypeId, prefix: &str, out: &mut Vec<(String, u64)>) {
    let r = table.resolve(id).unwrap();
    let (TypeKind::Struct(c) | TypeKind::Union(c)) = &table.get(r).unwrap().kind else {
        return;
    };
    for m in &c.members {
        match &m.name {
            Some(n) => {
                let bits = match m.bitfield_bits {
                    Some(b) => u64::from(b),
                    None => table.size_of(m.ty).unwrap() * 8,
                };
                let path = if prefix.is_empty() {
                    n.clone()
                } else {
                    format!("{prefix}.{n}")
                };
                out.push((path, bits));
            }
            None => visible_members(table, m.ty, prefix, out),
        }
    }
}

fn check_oracle(arch: &str) {
    let rel = format!("go/oracle/gen-go1.25.5-linux-{arch}.json");
    let text =
        std::fs::read_to_string(corpus(&rel)).unwrap_or_else(|e| panic!("corpus/{rel}: {e}"));
    let oracle: Value = serde_json::from_str(&text).expect("oracle JSON");
    assert_eq!(oracle["goarch"], arch, "{rel}");
    let mut by_name: HashMap<&str, &Value> = HashMap::new();
    for t in oracle["types"].as_array().expect("types") {
        by_name.insert(t["type"].as_str().expect("type"), t);
    }
    let mut seen = 0;
    for (p, table, file) in generated() {
        for s in &file.structs {
            let key = format!("example.com/gen/{}.{}", p.name, s.name);
            let o = by_name
                .get(key.as_str())
                .unwrap_or_else(|| panic!("{rel}: no {key}; {REGEN}"));
            seen += 1;
            let c_size = table.size_of(s.type_id).unwrap();
            assert_eq!(o["size"].as_u64(), Some(c_size), "{rel}: size of {key}");
            let ofields = o["fields"].as_array().unwrap();
            let got: Vec<&str> = ofields
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = s.fields.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(got, want, "{rel}: named fields of {key}; {REGEN}");
            let mut covered = BTreeSet::new();
            for (f, of) in s.fields.iter().zip(ofields) {
                let go_off = of["offset"].as_u64().unwrap();
                let go_size = of["size"].as_u64().unwrap();
                let go_bits = go_off * 8..(go_off + go_size) * 8;
                assert!(!f.c_members.is_empty(), "{key}.{}: mirrors nothing", f.path);
                for c in &f.c_members {
                    covered.insert(c.clone());
                    let (c_bits, bitfield, c_ty) = c_member(table, s.type_id, c)
                        .unwrap_or_else(|| panic!("{key}.{}: no C member {c}", f.path));
                    match f.kind {
                        GoFieldKind::Bitfields => {
                            let width = u64::from(bitfield.expect("a bitfield"));
                            assert!(
                                go_bits.start <= c_bits && c_bits + width <= go_bits.end,
                                "{rel}: {key}.{} at bytes {go_off}+{go_size} does not hold \
                                 bitfield {c} at bit {c_bits}",
                                f.path
                            );
                        }
                        GoFieldKind::Union => {
                            let c_end = c_bits + table.size_of(c_ty).unwrap() * 8;
                            assert!(
                                go_bits.start <= c_bits && c_end <= go_bits.end,
                                "{rel}: {key}.{} does not hold union alternative {c}",
                                f.path
                            );
                        }
                        _ => {
                            assert_eq!(
                                go_off * 8,
                                c_bits,
                                "{rel}: offset of {key}.{} ({c})",
                                f.path
                            );
                            assert_eq!(
                                go_size,
                                table.size_of(c_ty).unwrap(),
                                "{rel}: size of {key}.{} ({c})",
                                f.path
                            );
                        }
                    }
                }
            }
            // Every C member with bytes is mirrored by some Go field.
            let mut members = Vec::new();
            visible_members(table, s.type_id, "", &mut members);
            let is_union = matches!(table.get(s.type_id).unwrap().kind, TypeKind::Union(_));
            for (path, bits) in members {
                if bits > 0 && !is_union {
                    assert!(
                        covered.contains(&path),
                        "{key}: C member {path} has no Go field"
                    );
                }
            }
        }
    }
    assert_eq!(
        seen,
        by_name.len(),
        "{rel} has types the generator does not write; {REGEN}"
    );
}

#[test]
fn go_layout_is_the_btf_layout_on_amd64() {
    check_oracle("amd64");
}

#[test]
fn go_layout_is_the_btf_layout_on_386() {
    check_oracle("386");
}

// ------------------------------------------------------------------ (c) the text

fn maps() -> TypeTable {
    let bytes = BtfBytes::read(corpus("bpf/maps.bpf.o").to_str().unwrap()).unwrap();
    Btf::parse(&bytes.data).unwrap().to_table().unwrap()
}

fn types() -> TypeTable {
    let bytes = BtfBytes::read(corpus("bpf/types.bpf.o").to_str().unwrap()).unwrap();
    Btf::parse(&bytes.data).unwrap().to_table().unwrap()
}

fn gen(table: &TypeTable, name: &str) -> String {
    let id = table.lookup(name).unwrap();
    generate(table, id, &GoGenOptions::default()).unwrap()
}

/// The lines of `type NAME struct { ... }`, trimmed, comments separate.
fn body<'a>(src: &'a str, name: &str) -> Vec<&'a str> {
    let head = format!("type {name} struct {{");
    let start = src
        .lines()
        .position(|l| l == head)
        .unwrap_or_else(|| panic!("no {head} in\n{src}"));
    src.lines()
        .skip(start + 1)
        .take_while(|l| *l != "}")
        .map(str::trim)
        .collect()
}

/// (name, type) of each field line (comment lines dropped, trailing comments cut).
fn fields<'a>(lines: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    lines
        .iter()
        .filter(|l| !l.starts_with("//"))
        .map(|l| {
            let l = l.split(" //").next().unwrap();
            let mut it = l.split_whitespace();
            (it.next().unwrap(), it.next().unwrap_or(""))
        })
        .collect()
}

/// Padding (`_ [N]byte`) expected between and after the members of a C struct, and its
/// members' Go names, in offset order, all from the BTF layout.
fn expected_fields(table: &TypeTable, name: &str) -> Vec<(String, Option<String>)> {
    let layout = table.layout(table.lookup(name).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut members = layout.members.clone();
    members.sort_by_key(|m| m.offset_bits);
    let mut cursor = 0;
    for m in &members {
        if m.offset > cursor {
            out.push((
                "_".to_string(),
                Some(format!("[{}]byte", m.offset - cursor)),
            ));
        }
        out.push((camel(&m.name), None));
        cursor = m.offset + m.size;
    }
    if layout.trailing_padding > 0 {
        out.push((
            "_".to_string(),
            Some(format!("[{}]byte", layout.trailing_padding)),
        ));
    }
    out
}

fn camel(c: &str) -> String {
    mapsleuth_crosscheck::gogen::camel_case(c)
}

#[test]
fn file_header_package_and_imports() {
    let table = maps();
    let id = table.lookup("event").unwrap();
    let src = generate(&table, id, &GoGenOptions::default()).unwrap();
    let mut lines = src.lines();
    assert_eq!(lines.next(), Some(HEADER));
    assert_eq!(lines.next(), Some(""));
    assert_eq!(lines.next(), Some("package main"));
    assert!(!src.contains("import"), "nothing to import:\n{src}");

    let opts = GoGenOptions {
        package: "probe".into(),
        type_name: Some("EventV1".into()),
        host_layout: true,
    };
    let src = generate(&table, id, &opts).unwrap();
    assert!(
        src.contains("\npackage probe\n\nimport \"structs\"\n"),
        "{src}"
    );
    assert_eq!(
        fields(&body(&src, "EventV1"))[0],
        ("_", "structs.HostLayout")
    );
}

#[test]
fn padding_of_event_and_flow_key_comes_from_btf() {
    let table = maps();
    for name in ["event", "flow_key", "flow_stats", "lpm_v4_key"] {
        let src = gen(&table, name);
        let got = fields(&body(&src, &camel(name)));
        let want = expected_fields(&table, name);
        assert_eq!(got.len(), want.len(), "{name}:\n{src}");
        for ((gn, gt), (wn, wt)) in got.iter().zip(&want) {
            assert_eq!(gn, wn, "{name}:\n{src}");
            if let Some(wt) = wt {
                assert_eq!(gt, wt, "{name}:\n{src}");
            }
        }
    }
}

#[test]
fn scalars_typedefs_and_enums() {
    let table = maps();
    let src = gen(&table, "event");
    let lines = body(&src, "Event");
    // __u64 is a typedef: resolved to uint64, named in the comment; char[16] is text.
    assert!(lines.contains(&"TsNs   uint64   // C __u64"), "{src}");
    assert!(lines.contains(&"Ret    int32    // C __s32"), "{src}");
    assert!(
        lines.contains(&"Comm   [16]byte // C char[16] (string)"),
        "{src}"
    );

    let src = gen(&table, "flow_stats");
    let TypeKind::Enum { values, .. } = &table
        .get(table.lookup("enum conn_state").unwrap())
        .unwrap()
        .kind
    else {
        panic!("conn_state is an enum")
    };
    assert!(
        src.contains("State      ConnState // C enum conn_state"),
        "{src}"
    );
    assert!(src.contains("\ntype ConnState uint32\n"), "{src}");
    for v in values {
        let go = format!("ConnState{}", camel(v.name.trim_start_matches("CS_")));
        let line = src
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{go} ")))
            .unwrap_or_else(|| panic!("no constant {go}:\n{src}"));
        assert!(
            line.ends_with(&format!("ConnState = {}", v.value)),
            "{line}"
        );
    }
}

#[test]
fn bitfields_become_their_storage_unit() {
    let table = maps();
    let src = gen(&table, "conn_flags");
    let layout = table.layout(table.lookup("conn_flags").unwrap()).unwrap();
    let bits: Vec<_> = layout
        .members
        .iter()
        .filter(|m| m.bitfield.is_some())
        .collect();
    let name: String = bits.iter().map(|m| camel(&m.name)).collect();
    assert_eq!(name, "StateDirNatReserved");
    let unit = bits[0].bitfield.as_ref().unwrap().unit_size;
    let lines = body(&src, "ConnFlags");
    assert!(
        lines
            .iter()
            .any(|l| fields(&[l]) == [(name.as_str(), format!("uint{}", unit * 8).as_str())]),
        "{src}"
    );
    for m in &bits {
        let b = m.bitfield.as_ref().unwrap();
        let line = format!(
            "//   {} {}:{}: shift {}, mask {:#x}",
            m.name,
            m.type_name,
            b.bits,
            b.bit_in_unit,
            (1u64 << b.bits) - 1
        );
        assert!(lines.contains(&line.as_str()), "no {line:?} in\n{src}");
    }

    // Bitfields of several units, a gap and a zero-width break (struct bits).
    let table = types();
    let src = gen(&table, "bits");
    let got = fields(&body(&src, "Bits"));
    let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["AB", "_", "CD", "EF", "GH", "IJ", "K", "Tail", "_"],
        "{src}"
    );
}

#[test]
fn unions_are_bytes_with_their_alternatives_listed() {
    let table = maps();
    let src = gen(&table, "addr");
    let layout = table.layout(table.lookup("addr").unwrap()).unwrap();
    let union = layout.members.iter().find(|m| m.name.is_empty()).unwrap();
    let lines = body(&src, "Addr");
    assert!(
        lines.contains(&format!("V4V6 [{}]byte", union.size).as_str()),
        "{src}"
    );
    assert!(lines.contains(&format!("// C union {{...}} ({} bytes), one of:", union.size).as_str()));
    assert!(lines.contains(&"//   v4 __u32"), "{src}");
    assert!(lines.contains(&"//   v6 __u8[16]"), "{src}");
    // The hole before the union is explicit.
    let got = fields(&lines);
    assert_eq!(
        got[1],
        ("_", format!("[{}]byte", layout.holes[0].size).as_str())
    );

    // A union as the root: a struct of one byte array.
    let table = types();
    let src = gen(&table, "value_u");
    let size = table.size_of(table.lookup("value_u").unwrap()).unwrap();
    assert!(body(&src, "ValueU").contains(&format!("IFBytesParts [{size}]byte").as_str()));
}

#[test]
fn nested_structs_named_inline_and_flattened() {
    let table = types();
    let src = gen(&table, "nested");
    // The named nested struct is its own type, emitted once, after the root.
    assert_eq!(src.matches("\ntype InnerNamed struct {\n").count(), 1);
    assert!(src.find("type Nested struct").unwrap() < src.find("type InnerNamed struct").unwrap());
    let lines = body(&src, "Nested");
    assert!(
        lines.contains(&"In InnerNamed // C struct inner_named"),
        "{src}"
    );
    // A named member of anonymous struct type is an inline struct.
    assert!(lines.contains(&"NamedAnon       struct {"), "{src}");
    // Members of an anonymous struct belong to the parent, as in C.
    let names: Vec<&str> = fields(&lines).iter().map(|(n, _)| *n).collect();
    assert!(names.contains(&"Lo") && names.contains(&"Hi"), "{src}");

    // Arrays: multi-dimensional, of structs, of unions.
    let src = gen(&table, "arrays");
    let lines = body(&src, "Arrays");
    assert!(
        lines.contains(&"M     [3][4]uint32  // C __u32[3][4]"),
        "{src}"
    );
    assert!(
        lines.contains(&"Keys  [2]FlowKey    // C struct flow_key[2]"),
        "{src}"
    );
    assert!(lines.contains(&"Vals [3][4]byte"), "{src}");
}

#[test]
fn packed_members_become_bytes() {
    let table = types();
    let src = gen(&table, "packed_hdr");
    let layout = table.layout(table.lookup("packed_hdr").unwrap()).unwrap();
    assert!(layout.packed);
    let lines = body(&src, "PackedHdr");
    for m in layout.members.iter().filter(|m| m.bitfield.is_none()) {
        if m.offset % m.size != 0 {
            let line = format!(
                "{} [{}]byte // C {} (unaligned for Go here: raw bytes)",
                camel(&m.name),
                m.size,
                m.type_name
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>()
                        == line.split_whitespace().collect::<Vec<_>>()),
                "no {line:?} in\n{src}"
            );
        }
    }
    // Nothing in it aligns: every Go field is bytes, so Go adds no padding.
    for (_, ty) in fields(&lines) {
        assert!(ty.ends_with("byte") || ty == "uint8", "{ty} in\n{src}");
    }
}

#[test]
fn flexible_array_members_are_comments() {
    let table = types();
    let src = gen(&table, "zero_len");
    let lines = body(&src, "ZeroLen");
    // The comment is the last thing in the struct: no zero-size field after Hdr.
    let at = lines
        .iter()
        .position(|l| l.starts_with("// C flexible array member items"))
        .unwrap_or_else(|| panic!("{src}"));
    assert!(lines[at..].iter().all(|l| l.starts_with("//")), "{src}");
    assert_eq!(fields(&lines), [("Hdr", "uint64")]);
    let src = gen(&table, "flex");
    let lines = body(&src, "Flex");
    let size = table.size_of(table.lookup("flex").unwrap()).unwrap();
    let layout = table.layout(table.lookup("flex").unwrap()).unwrap();
    let data = layout.members.iter().find(|m| m.name == "data").unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("// C flexible array member data")),
        "{src}"
    );
    assert_eq!(
        fields(&lines).last().unwrap(),
        &("_", format!("[{}]byte", size - data.offset).as_str())
    );
}

#[test]
fn pointers_and_bools_are_integers() {
    let table = types();
    let src = gen(&table, "qualified");
    let lines = body(&src, "Qualified");
    let ptr = format!("uint{}", table.target.pointer_size * 8);
    let self_line = lines.iter().find(|l| l.starts_with("Self ")).unwrap();
    assert_eq!(fields(&[self_line])[0].1, ptr);
    assert!(self_line.ends_with("// C struct qualified * (an address, not a Go pointer)"));
    let flag = lines.iter().find(|l| l.starts_with("Flag ")).unwrap();
    assert!(
        flag.contains("uint8") && flag.ends_with("// C _Bool (0 or 1)"),
        "{flag}"
    );
    let i128 = lines.iter().find(|l| l.starts_with("I128 ")).unwrap();
    assert!(i128.contains("[16]byte"), "{i128}");
}

#[test]
fn every_struct_of_the_bpf_objects_generates_deterministically() {
    for table in [maps(), types()] {
        for (id, t) in table.iter() {
            if t.name.is_some() && matches!(t.kind, TypeKind::Struct(_) | TypeKind::Union(_)) {
                let a = generate(&table, id, &GoGenOptions::default());
                let b = generate(&table, id, &GoGenOptions::default());
                assert!(a.is_ok(), "{}: {a:?}", table.type_name(id));
                assert_eq!(a, b);
            }
        }
    }
}

// ------------------------------------------------------------------ errors

#[test]
fn errors_instead_of_panics() {
    let table = types();
    let opts = GoGenOptions::default();
    let e = generate(&table, table.lookup("enum conn_state").unwrap(), &opts).unwrap_err();
    assert!(matches!(e, GoGenError::NotAggregate { .. }), "{e}");
    let e = generate(&table, table.lookup("__u32").unwrap(), &opts).unwrap_err();
    assert!(matches!(e, GoGenError::NotAggregate { .. }), "{e}");

    let id = table.lookup("event").unwrap();
    for bad in ["type", "1x", "", "a-b", "_"] {
        let o = GoGenOptions {
            package: bad.into(),
            ..GoGenOptions::default()
        };
        assert!(matches!(
            generate(&table, id, &o),
            Err(GoGenError::BadName { .. })
        ));
    }
    let o = GoGenOptions {
        type_name: Some("X".into()),
        ..GoGenOptions::default()
    };
    assert!(matches!(
        generate_file(&table, &[id, id], &o),
        Err(GoGenError::NameForMany(2))
    ));
    assert!(matches!(
        generate(&table, 1 << 30, &opts),
        Err(GoGenError::Layout(_))
    ));
}

fn u32_table() -> (TypeTable, TypeId) {
    let mut t = TypeTable::new(Target::bpf(ByteOrder::Little));
    let u32_id = t.push(Type::new(
        Some("u32".into()),
        TypeKind::Int {
            size: 4,
            signed: false,
            encoding: IntEncoding::Plain,
        },
    ));
    (t, u32_id)
}

fn member(name: Option<&str>, ty: TypeId, offset_bits: u64) -> Member {
    Member {
        name: name.map(str::to_string),
        ty,
        offset_bits,
        bitfield_bits: None,
        embedded: false,
    }
}

#[test]
fn hostile_graphs_give_errors() {
    // A struct that contains itself by value.
    let (mut t, u32_id) = u32_table();
    let id = t.push(Type::new(Some("loop".into()), TypeKind::Void));
    t.set(
        id,
        Type::new(
            Some("loop".into()),
            TypeKind::Struct(Composite {
                size: 8,
                members: vec![member(Some("a"), u32_id, 0), member(Some("me"), id, 32)],
            }),
        ),
    )
    .unwrap();
    let e = generate(&t, id, &GoGenOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            GoGenError::Unsupported { .. } | GoGenError::TooDeep { .. }
        ),
        "{e}"
    );

    // Anonymous structs nested deeper than the bound.
    let (mut t, u32_id) = u32_table();
    let mut inner = u32_id;
    for _ in 0..40 {
        inner = t.push(Type::new(
            None,
            TypeKind::Struct(Composite {
                size: 4,
                members: vec![member(Some("x"), inner, 0)],
            }),
        ));
    }
    let root = t.push(Type::new(
        Some("deep".into()),
        TypeKind::Struct(Composite {
            size: 4,
            members: vec![member(Some("x"), inner, 0)],
        }),
    ));
    let e = generate(&t, root, &GoGenOptions::default()).unwrap_err();
    assert!(matches!(e, GoGenError::TooDeep { .. }), "{e}");

    // A control character in a name that ends up in a comment.
    let (mut t, u32_id) = u32_table();
    let evil = t.push(Type::new(
        Some("evil\n}\npackage x".into()),
        TypeKind::Typedef { target: u32_id },
    ));
    let id = t.push(Type::new(
        Some("s\nt".into()),
        TypeKind::Struct(Composite {
            size: 4,
            members: vec![member(Some("a\nb"), evil, 0)],
        }),
    ));
    let src = generate(&t, id, &GoGenOptions::default()).unwrap();
    assert!(!src.contains("\n}\npackage x"), "{src}");
    assert!(
        src.contains("\ntype ST struct {\n\tAB uint32 // C evil?}?package x\n}\n"),
        "{src}"
    );

    // Overlapping members and a member past the end.
    let (mut t, u32_id) = u32_table();
    let id = t.push(Type::new(
        Some("overlap".into()),
        TypeKind::Struct(Composite {
            size: 8,
            members: vec![member(Some("a"), u32_id, 0), member(Some("b"), u32_id, 16)],
        }),
    ));
    let e = generate(&t, id, &GoGenOptions::default()).unwrap_err();
    assert!(matches!(e, GoGenError::Unsupported { .. }), "{e}");
    let id = t.push(Type::new(
        Some("past".into()),
        TypeKind::Struct(Composite {
            size: 4,
            members: vec![member(Some("a"), u32_id, 32)],
        }),
    ));
    let e = generate(&t, id, &GoGenOptions::default()).unwrap_err();
    assert!(matches!(e, GoGenError::Unsupported { .. }), "{e}");
}
