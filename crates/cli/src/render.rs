//! pahole-style layout text, shared by `btf show` and `go show`.

use std::fmt::Write;

use mapsleuth_layout::{
    AggregateKind, Alignment, Dialect, Layout, TypeKind, TypeSummary, TypeTable,
};

/// Renders a layout the way `pahole` does: one line per member with its offset and size
/// (bitfields as `offset:bit width`), `XXX` lines for holes, the summary at the end.
pub fn layout_text(table: &TypeTable, l: &Layout) -> String {
    let mut s = String::new();
    let go = l.target.dialect == Dialect::Go;
    let keyword = match l.kind {
        AggregateKind::Struct => "struct",
        AggregateKind::Union => "union",
    };
    let head = if go {
        format!("{keyword} {}", l.type_name)
    } else {
        l.type_name.clone()
    };
    if l.name != l.type_name && l.name != head {
        let _ = writeln!(s, "/* {} is {} */", l.name, head);
    }
    let _ = writeln!(s, "{head} {{");
    let mut holes = l.holes.iter().peekable();
    let mut order: Vec<usize> = (0..l.members.len()).collect();
    order.sort_by_key(|&i| l.members[i].offset_bits);
    if l.kind == AggregateKind::Union {
        order = (0..l.members.len()).collect();
    }
    let mut last_cacheline = 0u64;
    for i in order {
        let m = &l.members[i];
        while let Some(h) = holes.peek() {
            if h.offset_bits + h.size_bits <= m.offset_bits {
                hole_line(&mut s, h.size, h.size_bits);
                holes.next();
            } else {
                break;
            }
        }
        let cacheline = m.offset / 64;
        if cacheline > last_cacheline && l.kind == AggregateKind::Struct {
            last_cacheline = cacheline;
            let boundary = cacheline * 64;
            if m.offset == boundary {
                let _ = writeln!(
                    s,
                    "\t/* --- cacheline {cacheline} boundary ({boundary} bytes) --- */"
                );
            } else {
                let _ = writeln!(
                    s,
                    "\t/* --- cacheline {cacheline} boundary ({boundary} bytes) was {} bytes ago --- */",
                    m.offset - boundary
                );
            }
        }
        if let Some(inline) = anonymous_aggregate(table, m.type_id) {
            write_inline(&mut s, table, inline, m.offset_bits, &m.name, m.size, 1, go);
        } else {
            let (ty, mut name) = split_declarator(&m.type_name, &m.name, go);
            let pos = match &m.bitfield {
                Some(b) => {
                    name = format!("{name}:{}", b.bits);
                    format!(
                        "/* {:>5}:{:>2} {:>2} */",
                        b.unit_offset, b.bit_in_unit, b.unit_size
                    )
                }
                None => format!("/* {:>5} {:>5} */", m.offset, m.size),
            };
            let embedded = if m.embedded { " /* embedded */" } else { "" };
            let _ = writeln!(s, "\t{ty:<26} {:<21} {pos}{embedded}", format!("{name};"));
        }
        if let Ok(inner) = table.layout(m.type_id) {
            if inner.trailing_padding > 0 && m.bitfield.is_none() {
                let _ = writeln!(
                    s,
                    "\n\t/* XXX last struct has {} byte{} of padding */\n",
                    inner.trailing_padding,
                    plural(inner.trailing_padding)
                );
            }
        }
    }
    for h in holes {
        hole_line(&mut s, h.size, h.size_bits);
    }
    let members = l.members.len();
    let _ = writeln!(
        s,
        "\n\t/* size: {}, cachelines: {}, members: {} */",
        l.size,
        l.size.div_ceil(64),
        members
    );
    let byte_holes: Vec<_> = l.holes.iter().filter(|h| h.size > 0).collect();
    let bit_holes: Vec<_> = l.holes.iter().filter(|h| h.size_bits % 8 != 0).collect();
    let sum_holes: u64 = byte_holes.iter().map(|h| h.size).sum();
    if l.kind == AggregateKind::Struct {
        let sum_members = l.size - sum_holes - l.trailing_padding;
        if byte_holes.is_empty() {
            let _ = writeln!(s, "\t/* sum members: {sum_members} */");
        } else {
            let _ = writeln!(
                s,
                "\t/* sum members: {sum_members}, holes: {}, sum holes: {sum_holes} */",
                byte_holes.len()
            );
        }
    }
    if !bit_holes.is_empty() {
        let bits: u64 = bit_holes.iter().map(|h| h.size_bits % 8).sum();
        let _ = writeln!(
            s,
            "\t/* bit holes: {}, sum bit holes: {bits} bits */",
            bit_holes.len()
        );
    }
    if l.trailing_padding > 0 {
        let _ = writeln!(s, "\t/* padding: {} */", l.trailing_padding);
    }
    let align = Alignment {
        bytes: l.align,
        exact: l.align_exact,
    };
    let _ = writeln!(
        s,
        "\t/* align: {align}{}, target: {} ({}, {}-byte pointers) */",
        if l.packed { " (packed)" } else { "" },
        l.target.arch,
        l.target.byte_order.as_str(),
        l.target.pointer_size
    );
    if !l.size.is_multiple_of(64) {
        let _ = writeln!(s, "\t/* last cacheline: {} bytes */", l.size % 64);
    }
    s.push_str("};\n");
    s
}

/// The struct or union a member's type is, when it has no name of its own: pahole
/// prints those inline.
fn anonymous_aggregate(table: &TypeTable, id: u32) -> Option<u32> {
    let ty = table.get(id).ok()?;
    match &ty.kind {
        TypeKind::Struct(_) | TypeKind::Union(_) if ty.name.is_none() => Some(id),
        _ => None,
    }
}

/// An anonymous struct or union member, expanded in place with absolute offsets.
#[allow(clippy::too_many_arguments)]
fn write_inline(
    s: &mut String,
    table: &TypeTable,
    id: u32,
    base_bits: u64,
    name: &str,
    size: u64,
    level: usize,
    go: bool,
) {
    let tabs = "\t".repeat(level);
    let Ok(ty) = table.get(id) else { return };
    let (keyword, comp) = match &ty.kind {
        TypeKind::Struct(c) => ("struct", c),
        TypeKind::Union(c) => ("union", c),
        _ => return,
    };
    let _ = writeln!(s, "{tabs}{keyword} {{");
    let inner_tabs = "\t".repeat(level + 1);
    let width = 26usize.saturating_sub(8 * level).max(1);
    for m in &comp.members {
        let off = base_bits + m.offset_bits;
        let msize = table.size_of(m.ty).unwrap_or(0);
        let mname = m.name.clone().unwrap_or_default();
        if level < mapsleuth_layout::MAX_DEPTH as usize {
            if let Some(inner) = anonymous_aggregate(table, m.ty) {
                write_inline(s, table, inner, off, &mname, msize, level + 1, go);
                continue;
            }
        }
        let (tyname, mut decl) = split_declarator(&table.type_name(m.ty), &mname, go);
        let pos = match m.bitfield_bits {
            Some(bits) => {
                decl = format!("{decl}:{bits}");
                let unit = msize.max(1) * 8;
                let start = off - off % unit;
                format!("/* {:>5}:{:>2} {:>2} */", start / 8, off - start, msize)
            }
            None => format!("/* {:>5} {:>5} */", off / 8, msize),
        };
        let _ = writeln!(
            s,
            "{inner_tabs}{tyname:<width$} {:<21} {pos}",
            format!("{decl};")
        );
    }
    let close = if name.is_empty() {
        "};".to_string()
    } else {
        format!("}} {name};")
    };
    let _ = writeln!(
        s,
        "{tabs}{close:<w$} /* {:>5} {:>5} */",
        base_bits / 8,
        size,
        w = width + 8 + 22
    );
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn hole_line(s: &mut String, bytes: u64, bits: u64) {
    let rem = bits % 8;
    let text = match (bytes, rem) {
        (0, r) => format!("{r} bit{}", plural(r)),
        (b, 0) => format!("{b} byte{}", plural(b)),
        (b, r) => format!("{b} byte{} and {r} bit{}", plural(b), plural(r)),
    };
    let _ = writeln!(s, "\n\t/* XXX {text} hole, try to pack */\n");
}

/// C puts array dimensions after the name (`char comm[16]`); Go keeps them in the type.
fn split_declarator(type_name: &str, name: &str, go: bool) -> (String, String) {
    if go {
        return (type_name.to_string(), name.to_string());
    }
    match type_name.find('[') {
        Some(i) if !type_name.contains('(') => (
            type_name[..i].trim_end().to_string(),
            format!("{name}{}", &type_name[i..]),
        ),
        _ => (type_name.to_string(), name.to_string()),
    }
}

/// A scalar or typedef: its chain down to the underlying type, size and alignment.
pub fn summary_text(table: &TypeTable, id: u32, s: &TypeSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", s.chain.join(" -> "));
    let align = Alignment {
        bytes: s.align,
        exact: s.align_exact,
    };
    let _ = writeln!(
        out,
        "\t/* kind: {}, size: {}, align: {align} */",
        s.kind, s.size
    );
    if let Ok(r) = table.resolve(id) {
        if let Ok(TypeKind::Enum { signed, .. }) = table.get(r).map(|t| &t.kind) {
            let _ = writeln!(
                out,
                "\t/* {} */",
                if *signed { "signed" } else { "unsigned" }
            );
        }
    }
    for v in &s.values {
        let _ = writeln!(out, "\t{} = {},", v.name, v.value);
    }
    out
}
