//! A tiny writer of Go-shaped DWARF 4 in a minimal ELF, for shapes the compiler never
//! emits: nesting past the depth bound, overflowing arrays, cycles through values.

use std::collections::HashMap;

// Abbreviation codes.
pub const CU: u8 = 1;
pub const BASE: u8 = 2;
pub const STRUCT: u8 = 3;
pub const MEMBER: u8 = 4;
pub const TYPEDEF: u8 = 5;
pub const PTR: u8 = 6;
pub const ARRAY: u8 = 7;
pub const SUBRANGE: u8 = 8;

const DW_FORM_STRING: u8 = 0x08;
const DW_FORM_UDATA: u8 = 0x0f;
const DW_FORM_DATA1: u8 = 0x0b;
const DW_FORM_REF_ADDR: u8 = 0x10;
const DW_FORM_FLAG: u8 = 0x0c;

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// (code, tag, has children, [(attribute, form)])
type AbbrevSpec = (u8, u16, bool, &'static [(u16, u8)]);

pub fn abbrevs() -> Vec<u8> {
    let table: &[AbbrevSpec] = &[
        (
            CU,
            0x11,
            true,
            &[
                (0x03, DW_FORM_STRING),
                (0x13, DW_FORM_DATA1),
                (0x25, DW_FORM_STRING),
            ],
        ),
        (
            BASE,
            0x24,
            false,
            &[
                (0x03, DW_FORM_STRING),
                (0x3e, DW_FORM_DATA1),
                (0x0b, DW_FORM_UDATA),
                (0x2900, DW_FORM_DATA1),
            ],
        ),
        (
            STRUCT,
            0x13,
            true,
            &[
                (0x03, DW_FORM_STRING),
                (0x0b, DW_FORM_UDATA),
                (0x2900, DW_FORM_DATA1),
            ],
        ),
        (
            MEMBER,
            0x0d,
            false,
            &[
                (0x03, DW_FORM_STRING),
                (0x38, DW_FORM_UDATA),
                (0x49, DW_FORM_REF_ADDR),
                (0x2903, DW_FORM_FLAG),
            ],
        ),
        (
            TYPEDEF,
            0x16,
            false,
            &[(0x03, DW_FORM_STRING), (0x49, DW_FORM_REF_ADDR)],
        ),
        (
            PTR,
            0x0f,
            false,
            &[
                (0x03, DW_FORM_STRING),
                (0x49, DW_FORM_REF_ADDR),
                (0x2900, DW_FORM_DATA1),
            ],
        ),
        (
            ARRAY,
            0x01,
            true,
            &[
                (0x03, DW_FORM_STRING),
                (0x49, DW_FORM_REF_ADDR),
                (0x0b, DW_FORM_UDATA),
                (0x2900, DW_FORM_DATA1),
            ],
        ),
        (
            SUBRANGE,
            0x21,
            false,
            &[(0x49, DW_FORM_REF_ADDR), (0x37, DW_FORM_UDATA)],
        ),
    ];
    let mut out = Vec::new();
    for (code, tag, children, attrs) in table {
        uleb(&mut out, u64::from(*code));
        uleb(&mut out, u64::from(*tag));
        out.push(u8::from(*children));
        for (at, form) in attrs.iter() {
            uleb(&mut out, u64::from(*at));
            uleb(&mut out, u64::from(*form));
        }
        out.extend([0, 0]);
    }
    out.push(0);
    out
}

/// Attribute values in abbreviation order.
pub enum V<'a> {
    Str(&'a str),
    U(u64),
    B(u8),
    Ref(&'a str),
    Flag(bool),
}

/// Builds one compilation unit of DIEs with labelled references.
pub struct Unit {
    body: Vec<u8>,
    labels: HashMap<String, u32>,
    fixups: Vec<(usize, String)>,
}

/// Bytes of a DWARF 4 32-bit unit header.
const HEADER: usize = 11;

impl Unit {
    pub fn new(producer: &str) -> Self {
        let mut u = Unit {
            body: Vec::new(),
            labels: HashMap::new(),
            fixups: Vec::new(),
        };
        u.die(None, CU, &[V::Str("main"), V::B(0x16), V::Str(producer)]);
        u
    }

    pub fn die(&mut self, label: Option<&str>, code: u8, values: &[V<'_>]) -> &mut Self {
        if let Some(l) = label {
            self.labels
                .insert(l.to_string(), (HEADER + self.body.len()) as u32);
        }
        uleb(&mut self.body, u64::from(code));
        for v in values {
            match v {
                V::Str(s) => {
                    self.body.extend(s.as_bytes());
                    self.body.push(0);
                }
                V::U(x) => uleb(&mut self.body, *x),
                V::B(b) => self.body.push(*b),
                V::Ref(l) => {
                    self.fixups.push((self.body.len(), l.to_string()));
                    self.body.extend([0; 4]);
                }
                V::Flag(f) => self.body.push(u8::from(*f)),
            }
        }
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.body.push(0);
        self
    }

    /// A Go base type.
    pub fn base(&mut self, label: &str, name: &str, size: u64, go_kind: u8) -> &mut Self {
        let enc = match go_kind {
            1 => 0x02,
            2..=6 => 0x05,
            13 | 14 => 0x04,
            _ => 0x07,
        };
        self.die(
            Some(label),
            BASE,
            &[V::Str(name), V::B(enc), V::U(size), V::B(go_kind)],
        )
    }

    /// A Go struct with members (name, offset, type label).
    pub fn strukt(
        &mut self,
        label: &str,
        name: &str,
        size: u64,
        members: &[(&str, u64, &str)],
    ) -> &mut Self {
        self.die(Some(label), STRUCT, &[V::Str(name), V::U(size), V::B(25)]);
        for (n, off, ty) in members {
            self.die(
                None,
                MEMBER,
                &[V::Str(n), V::U(*off), V::Ref(ty), V::Flag(false)],
            );
        }
        self.end()
    }

    pub fn pointer(&mut self, label: &str, name: &str, target: &str) -> &mut Self {
        self.die(Some(label), PTR, &[V::Str(name), V::Ref(target), V::B(22)])
    }

    pub fn array(
        &mut self,
        label: &str,
        name: &str,
        elem: &str,
        count: u64,
        size: u64,
    ) -> &mut Self {
        self.die(
            Some(label),
            ARRAY,
            &[V::Str(name), V::Ref(elem), V::U(size), V::B(17)],
        )
        .die(None, SUBRANGE, &[V::Ref(elem), V::U(count)])
        .end()
    }

    pub fn typedef(&mut self, label: &str, name: &str, target: &str) -> &mut Self {
        self.die(Some(label), TYPEDEF, &[V::Str(name), V::Ref(target)])
    }

    /// The `.debug_info` bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        self.end(); // close the CU's children
        let mut body = self.body.clone();
        for (pos, label) in &self.fixups {
            let off = self.labels.get(label).copied().unwrap_or(0xffff_fff0);
            body[*pos..*pos + 4].copy_from_slice(&off.to_le_bytes());
        }
        let mut out = Vec::new();
        out.extend(((body.len() + HEADER - 4) as u32).to_le_bytes());
        out.extend(4u16.to_le_bytes()); // version
        out.extend(0u32.to_le_bytes()); // abbrev offset
        out.push(8); // address size
        out.extend(body);
        out
    }
}

/// A minimal little-endian x86-64 ELF executable holding the given sections.
pub fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut shstrtab = vec![0u8];
    let mut name_offs = Vec::new();
    for (name, _) in sections {
        name_offs.push(shstrtab.len() as u32);
        shstrtab.extend(name.as_bytes());
        shstrtab.push(0);
    }
    let shstr_name = shstrtab.len() as u32;
    shstrtab.extend(b".shstrtab\0");

    let mut data = vec![0u8; 64];
    let mut ranges = Vec::new();
    for (_, bytes) in sections {
        ranges.push((data.len() as u64, bytes.len() as u64));
        data.extend(*bytes);
    }
    let shstr_range = (data.len() as u64, shstrtab.len() as u64);
    data.extend(&shstrtab);
    while !data.len().is_multiple_of(8) {
        data.push(0);
    }
    let shoff = data.len() as u64;
    let shnum = sections.len() as u16 + 2;

    let mut sh = |name: u32, ty: u32, off: u64, size: u64| {
        let mut h = Vec::with_capacity(64);
        h.extend(name.to_le_bytes());
        h.extend(ty.to_le_bytes());
        h.extend(0u64.to_le_bytes()); // flags
        h.extend(0u64.to_le_bytes()); // addr
        h.extend(off.to_le_bytes());
        h.extend(size.to_le_bytes());
        h.extend(0u32.to_le_bytes()); // link
        h.extend(0u32.to_le_bytes()); // info
        h.extend(1u64.to_le_bytes()); // addralign
        h.extend(0u64.to_le_bytes()); // entsize
        data.extend(h);
    };
    sh(0, 0, 0, 0);
    for (i, (off, size)) in ranges.iter().enumerate() {
        sh(name_offs[i], 1, *off, *size);
    }
    sh(shstr_name, 3, shstr_range.0, shstr_range.1);

    let mut hdr = Vec::with_capacity(64);
    hdr.extend(b"\x7fELF");
    hdr.extend([2, 1, 1, 0]); // 64-bit, little-endian, version 1, SysV
    hdr.extend([0u8; 8]);
    hdr.extend(2u16.to_le_bytes()); // ET_EXEC
    hdr.extend(62u16.to_le_bytes()); // EM_X86_64
    hdr.extend(1u32.to_le_bytes());
    hdr.extend(0u64.to_le_bytes()); // entry
    hdr.extend(0u64.to_le_bytes()); // phoff
    hdr.extend(shoff.to_le_bytes());
    hdr.extend(0u32.to_le_bytes()); // flags
    hdr.extend(64u16.to_le_bytes()); // ehsize
    hdr.extend(56u16.to_le_bytes()); // phentsize
    hdr.extend(0u16.to_le_bytes()); // phnum
    hdr.extend(64u16.to_le_bytes()); // shentsize
    hdr.extend(shnum.to_le_bytes());
    hdr.extend((shnum - 1).to_le_bytes()); // shstrndx
    data[..64].copy_from_slice(&hdr);
    data
}

/// A Go binary with this unit as its only DWARF.
pub fn go_elf(unit: &mut Unit) -> Vec<u8> {
    let info = unit.finish();
    let abbrev = abbrevs();
    elf(&[(".debug_abbrev", &abbrev), (".debug_info", &info)])
}
