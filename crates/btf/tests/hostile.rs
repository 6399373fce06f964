//! Hostile input: the corpus BTF (raw, in BPF objects, zlib/zstd-compressed, split on
//! vmlinux) truncated, bit-flipped, with crafted header fields, type records and ELF
//! section headers, and small hand-built graphs (loops, huge arrays, exponential DAGs).
//! Every case runs the whole reading path; it must end in a value or an error that says
//! where, never a panic or a hang. Deterministic (seeded xorshift), a few seconds in
//! debug.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mapsleuth_btf::{
    discover_maps, Btf, BtfBytes, BtfError, BtfType, Container, ErrorKind, Kind, LegacyMap,
};
use mapsleuth_btf::{parse_header, Header};
use mapsleuth_layout::TypeKind;

fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

fn read(p: &str) -> Vec<u8> {
    std::fs::read(corpus(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// vmlinux, parsed once and shared: the base of split_module.btf.
fn vmlinux() -> &'static Btf<'static> {
    static BASE: OnceLock<Btf<'static>> = OnceLock::new();
    BASE.get_or_init(|| {
        let data: &'static [u8] = Box::leak(read("btf/vmlinux.btf").into_boxed_slice());
        Btf::parse(data).expect("vmlinux parses")
    })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------
// The path every case runs, and what an error must say.

/// An error must say where: a byte offset inside the blob, or the file it came from.
/// `Layout` and `NotFound` are documented as unlocated (they name a type instead). Byte
/// 0 is the magic: only a bad magic, a truncation there or a limit on the whole section
/// is located at it (anything else at 0 is an offset nobody filled in).
fn check_error(case: &str, e: &BtfError, blob_len: usize) -> Result<(), String> {
    let shown = e.to_string();
    let ok = match &e.kind {
        ErrorKind::Elf(_) | ErrorKind::Io(_) => {
            e.path.as_deref().is_some_and(|p| shown.starts_with(p))
        }
        ErrorKind::Layout(_) | ErrorKind::NotFound(_) => !shown.is_empty(),
        ErrorKind::BadMagic { .. } | ErrorKind::Truncated { .. } | ErrorKind::Limit { .. } => {
            shown.contains("at byte") && e.offset <= blob_len
        }
        _ => shown.contains("at byte") && e.offset <= blob_len && e.offset > 0,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{case}: error without a location (offset {} of {blob_len}): {shown}",
            e.offset
        ))
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    errors: usize,
    failures: Vec<String>,
    slowest: (Duration, String),
    total: Duration,
}

impl Tally {
    fn run(&mut self, case: &str, f: impl FnOnce() -> Result<bool, String>) {
        self.cases += 1;
        let start = Instant::now();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(clean)) => self.errors += usize::from(!clean),
            Ok(Err(msg)) => self.failures.push(msg),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.failures.push(format!("{case}: PANIC: {msg}"));
            }
        }
        let took = start.elapsed();
        self.total += took;
        if took > self.slowest.0 {
            self.slowest = (took, case.to_string());
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} cases in {:?}, {} ended in an error, slowest {:?} ({})",
            self.cases, self.total, self.errors, self.slowest.0, self.slowest.1
        );
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures
                .iter()
                .take(25)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A file's bytes through the whole path. `Ok(true)` when nothing reported an error.
fn run_file(case: &str, bytes: &[u8], base: Option<&Btf>, full: bool) -> Result<bool, String> {
    match BtfBytes::from_file_bytes(case, bytes) {
        Ok(b) => run_blob(case, &b.data, &b.legacy_maps, base, full),
        Err(e) => check_error(case, &e, bytes.len()).map(|_| false),
    }
}

/// A BTF blob through the whole path: parse, validate, then (validated or not, since
/// `btf show` converts without validating) lookups, conversion, every aggregate's
/// layout, leaves and padding, and map discovery.
fn run_blob(
    case: &str,
    data: &[u8],
    legacy: &[LegacyMap],
    base: Option<&Btf>,
    full: bool,
) -> Result<bool, String> {
    let len = data.len();
    let parsed = match base {
        Some(b) => Btf::parse_split(data, b),
        None => Btf::parse(data),
    };
    let btf = match parsed {
        Ok(b) => b,
        Err(e) => return check_error(case, &e, len).map(|_| false),
    };
    let mut clean = true;
    let mut note = |r: Result<(), BtfError>| -> Result<(), String> {
        if let Err(e) = r {
            clean = false;
            check_error(case, &e, len)?;
        }
        Ok(())
    };
    note(btf.validate())?;
    let local: Vec<u32> = (btf.first_id()..=btf.count()).collect();
    // What `btf show` does: one lookup, the reachable part of the graph, one layout.
    // On split BTF every lookup also scans vmlinux (~0.2 s in a debug build), so the
    // mutated modules only convert their own ids (below); lookups and map discovery run
    // on base BTF (the same code) and on the unmodified module.
    let mut roots: Vec<u32> = Vec::new();
    if base.is_none() || full {
        let mut names: Vec<String> = local
            .iter()
            .filter_map(|&id| btf.name_of(id).ok())
            .filter(|n| !n.is_empty())
            .take(3)
            .map(String::from)
            .collect();
        if base.is_none() {
            names.extend(
                [
                    "event",
                    "struct nested",
                    "union u",
                    "enum e",
                    "no_such_type",
                ]
                .map(String::from),
            );
        }
        for name in &names {
            match btf.find_type(name) {
                Ok(id) => roots.push(id),
                Err(e) => check_error(case, &e, len)?,
            }
        }
    }
    for id in roots {
        note(btf.to_table_for(&[id]).map(|t| {
            let _ = t.layout(id);
            let _ = t.describe(id);
        }))?;
    }
    for &id in local.iter().take(64) {
        let _ = btf.size_of(id);
        let _ = btf.name_of(id);
    }
    // A split blob converts only its own types: its base is vmlinux.
    let table = if base.is_some() {
        btf.to_table_for(&local)
    } else {
        btf.to_table()
    };
    match table {
        Ok(table) => {
            for &id in &local {
                if matches!(
                    table.get(id).map(|t| &t.kind),
                    Ok(TypeKind::Struct(_) | TypeKind::Union(_))
                ) {
                    let _ = table.layout(id);
                    let _ = table.leaves(id);
                    let _ = table.padding(id);
                    let _ = table.type_name(id);
                }
            }
            if base.is_none() || full {
                note(discover_maps(&btf, &table, legacy).map(|_| ()))?;
            }
        }
        Err(e) => note(Err(e))?,
    }
    Ok(clean)
}

// ---------------------------------------------------------------------------------------
// Byte-level helpers.

#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn of_btf(blob: &[u8]) -> Order {
        Order {
            big: blob[0] == 0xeb,
        }
    }
    fn of_elf(file: &[u8]) -> Order {
        Order { big: file[5] == 2 }
    }
    fn get32(self, b: &[u8], at: usize) -> u32 {
        let a: [u8; 4] = b[at..at + 4].try_into().unwrap();
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    fn put32(self, b: &mut [u8], at: usize, v: u32) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 4].copy_from_slice(&a);
    }
    fn get16(self, b: &[u8], at: usize) -> u16 {
        let a: [u8; 2] = b[at..at + 2].try_into().unwrap();
        if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn put16(self, b: &mut [u8], at: usize, v: u16) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 2].copy_from_slice(&a);
    }
    fn get64(self, b: &[u8], at: usize) -> u64 {
        let a: [u8; 8] = b[at..at + 8].try_into().unwrap();
        if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
    fn put64(self, b: &mut [u8], at: usize, v: u64) {
        let a = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 8].copy_from_slice(&a);
    }
}

/// An ELF64 section header: where its fields are in the file.
#[derive(Clone, Debug)]
struct Shdr {
    name: String,
    /// File offset of the header itself.
    at: usize,
    offset: usize,
    size: usize,
    flags: u64,
}

const SHF_COMPRESSED: u64 = 0x800;

fn sections(file: &[u8]) -> Vec<Shdr> {
    let o = Order::of_elf(file);
    let shoff = o.get64(file, 0x28) as usize;
    let shnum = usize::from(o.get16(file, 0x3c));
    let shstrndx = usize::from(o.get16(file, 0x3e));
    let hdr = |i: usize| shoff + 64 * i;
    let strtab = o.get64(file, hdr(shstrndx) + 24) as usize;
    (0..shnum)
        .map(|i| {
            let at = hdr(i);
            let name_at = strtab + o.get32(file, at) as usize;
            let end = file[name_at..].iter().position(|&b| b == 0).unwrap();
            Shdr {
                name: String::from_utf8_lossy(&file[name_at..name_at + end]).into_owned(),
                at,
                offset: o.get64(file, at + 24) as usize,
                size: o.get64(file, at + 32) as usize,
                flags: o.get64(file, at + 8),
            }
        })
        .collect()
}

fn section<'s>(secs: &'s [Shdr], name: &str) -> Option<&'s Shdr> {
    secs.iter().find(|s| s.name == name)
}

/// One corpus input: the file, the BTF blob it holds, and how to put a modified blob
/// back into the file.
struct Input {
    name: String,
    file: Vec<u8>,
    blob: Vec<u8>,
    /// Where the blob sits in `file` (uncompressed ELF sections and raw files).
    blob_in_file: Option<usize>,
    split: bool,
}

impl Input {
    fn load(rel: &str) -> Input {
        let file = read(rel);
        let b = BtfBytes::from_file_bytes(rel, &file).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let blob_in_file = match b.container {
            Container::Raw => Some(0),
            Container::Elf {
                compressed: false, ..
            } => Some(b.file_offset),
            Container::Elf {
                compressed: true, ..
            } => None,
        };
        Input {
            name: rel.to_string(),
            split: rel.contains("split"),
            blob: b.data,
            file,
            blob_in_file,
        }
    }

    /// A modified blob, run in its container when it can go back into it (uncompressed
    /// ELF), else as raw BTF.
    fn run_blob(&self, t: &mut Tally, what: &str, blob: &[u8]) {
        let base = self.split.then(vmlinux);
        let case = format!("{} [{what}]", self.name);
        match self.blob_in_file {
            Some(at) if blob.len() == self.blob.len() && at > 0 => {
                let mut file = self.file.clone();
                file[at..at + blob.len()].copy_from_slice(blob);
                t.run(&case, || run_file(&case, &file, base, false));
            }
            _ => t.run(&case, || run_blob(&case, blob, &[], base, false)),
        }
    }

    fn run_file(&self, t: &mut Tally, what: &str, file: &[u8]) {
        let base = self.split.then(vmlinux);
        let case = format!("{} [{what}]", self.name);
        t.run(&case, || run_file(&case, file, base, false));
    }
}

fn inputs() -> Vec<Input> {
    let mut names: Vec<String> = Vec::new();
    for dir in ["bpf", "btf"] {
        let mut here: Vec<String> = std::fs::read_dir(corpus(dir))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| (n.ends_with(".o") || n.ends_with(".btf")) && n != "vmlinux.btf")
            .map(|n| format!("{dir}/{n}"))
            .collect();
        here.sort();
        names.extend(here);
    }
    assert!(names.len() >= 10, "corpus inputs missing: {names:?}");
    names.iter().map(|n| Input::load(n)).collect()
}

fn header(blob: &[u8]) -> Header {
    parse_header(blob).unwrap()
}

// ---------------------------------------------------------------------------------------
// The corpus as it is, then mutated.

#[test]
fn the_unmodified_corpus_reads_cleanly() {
    let mut t = Tally::default();
    for input in inputs() {
        let base = input.split.then(vmlinux);
        let name = input.name.clone();
        t.run(&name, || match run_file(&name, &input.file, base, true)? {
            true => Ok(true),
            false => Err(format!("{name}: the unmodified file reports an error")),
        });
    }
    t.finish("unmodified");
}

#[test]
fn truncations() {
    let mut t = Tally::default();
    let mut rng = Rng(0x7275_6e63);
    for input in inputs() {
        let h = header(&input.blob);
        let types_at = (h.hdr_len + h.type_off) as usize;
        let strings_at = (h.hdr_len + h.str_off) as usize;
        // Every header field boundary, the section boundaries, the first records.
        let mut points: Vec<usize> = vec![0, 1, 2, 3, 4, 8, 12, 16, 20, 23, 24];
        points.extend([
            types_at + 1,
            types_at + 12,
            types_at + 13,
            types_at + 24,
            types_at + 35,
        ]);
        points.extend([strings_at, strings_at + 1, input.blob.len() - 1]);
        points.extend((0..8).map(|_| rng.below(input.blob.len())));
        for p in points.into_iter().filter(|&p| p < input.blob.len()) {
            input.run_blob(&mut t, &format!("blob cut at {p}"), &input.blob[..p]);
        }
        if input.blob_in_file != Some(0) {
            // The container itself, cut inside and around the .BTF section.
            let secs = sections(&input.file);
            let btf = section(&secs, ".BTF").unwrap();
            let mut cuts = vec![
                0,
                4,
                16,
                63,
                64,
                btf.offset,
                btf.offset + 12,
                btf.offset + btf.size - 1,
            ];
            cuts.extend((0..6).map(|_| rng.below(input.file.len())));
            for p in cuts.into_iter().filter(|&p| p < input.file.len()) {
                input.run_file(&mut t, &format!("file cut at {p}"), &input.file[..p]);
            }
        }
    }
    // vmlinux: only a few cuts, it is 5.5 MB.
    let v = read("btf/vmlinux.btf");
    let h = header(&v);
    let types_at = (h.hdr_len + h.type_off) as usize;
    for p in [0, 7, 23, 24, types_at + 6, v.len() / 2, v.len() - 1] {
        let case = format!("btf/vmlinux.btf [cut at {p}]");
        t.run(&case, || match Btf::parse(&v[..p]) {
            Ok(_) => Err(format!("{case}: parses")),
            Err(e) => check_error(&case, &e, p).map(|_| false),
        });
    }
    t.finish("truncations");
}

#[test]
fn bit_flips() {
    let mut t = Tally::default();
    let mut rng = Rng(0xb17f_11b5);
    for input in inputs() {
        let n = if input.split { 4 } else { 12 };
        for i in 0..n {
            let mut blob = input.blob.clone();
            let flips = if i < n / 2 { 1 } else { 2 + rng.below(7) };
            let mut at = Vec::new();
            for _ in 0..flips {
                let p = rng.below(blob.len());
                blob[p] ^= 1 << rng.below(8);
                at.push(p);
            }
            input.run_blob(&mut t, &format!("bits flipped at {at:?}"), &blob);
        }
        if input.blob_in_file == Some(0) {
            continue;
        }
        // Flips anywhere in the container (ELF headers, compressed payloads, symbols).
        for _ in 0..4 {
            let mut file = input.file.clone();
            let mut at = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let p = rng.below(file.len());
                file[p] ^= 1 << rng.below(8);
                at.push(p);
            }
            input.run_file(&mut t, &format!("file bits flipped at {at:?}"), &file);
        }
    }
    t.finish("bit flips");
}

#[test]
fn header_fields_out_of_range() {
    let mut t = Tally::default();
    for input in inputs() {
        let o = Order::of_btf(&input.blob);
        let len = input.blob.len() as u32;
        let h = header(&input.blob);
        // (field offset, values): hdr_len, type_off, type_len, str_off, str_len.
        let fields: [(usize, Vec<u32>); 5] = [
            (4, vec![0, 23, 25, 28, len, u32::MAX, u32::MAX - 23]),
            (
                8,
                vec![1, 2, h.str_off, len, u32::MAX, u32::MAX - 24, u32::MAX - 3],
            ),
            (
                12,
                vec![
                    0,
                    1,
                    11,
                    h.type_len + 1,
                    h.type_len + h.str_len,
                    len,
                    u32::MAX,
                ],
            ),
            (
                16,
                vec![0, h.type_off, h.str_off + 1, len, u32::MAX, u32::MAX - 24],
            ),
            (20, vec![0, 1, h.str_len - 1, h.str_len + 1, len, u32::MAX]),
        ];
        for (at, values) in fields {
            for v in values {
                let mut blob = input.blob.clone();
                o.put32(&mut blob, at, v);
                input.run_blob(&mut t, &format!("u32 at {at} = {v:#x}"), &blob);
            }
        }
        for (at, v) in [(0, 0u8), (1, 0x9f), (2, 0), (2, 2), (2, 0xff), (3, 0xff)] {
            let mut blob = input.blob.clone();
            blob[at] = v;
            input.run_blob(&mut t, &format!("byte {at} = {v:#x}"), &blob);
        }
        // The other byte order's magic: every field reads byte-swapped.
        let mut blob = input.blob.clone();
        blob.swap(0, 1);
        input.run_blob(&mut t, "magic swapped", &blob);
    }
    t.finish("header fields");
}

/// Offsets (in the blob) and decoded records of a blob's own types.
fn records(btf: &Btf) -> Vec<(u32, usize, Kind, BtfType)> {
    (btf.first_id()..=btf.count())
        .map(|id| {
            let (c, t) = btf.get(id).unwrap();
            (id, btf.offset_of(id).unwrap(), c.kind, t)
        })
        .collect()
}

/// Crafted values in the type records: the fields that hold sizes, ids, string offsets,
/// counts and bit offsets. Each kind-specific value goes into one record of that kind,
/// a sample of the generic ones into random records; then reference loops and random
/// words. Split BTF (each case reaches into vmlinux) gets a smaller sample.
#[test]
fn crafted_type_records() {
    let mut t = Tally::default();
    let mut rng = Rng(0x7970_6573);
    for input in inputs() {
        let base = input.split.then(vmlinux);
        let o = Order::of_btf(&input.blob);
        let h = header(&input.blob);
        let btf = match base {
            Some(b) => Btf::parse_split(&input.blob, b),
            None => Btf::parse(&input.blob),
        }
        .unwrap();
        let count = btf.count();
        let recs = records(&btf);
        let first = btf.first_id();
        let str_end = input.blob.len() as u32; // past any string offset
        let kind_bits = |info: u32, k: u32| (info & !(0x1f << 24)) | (k << 24);
        // (blob offset, value, what)
        let mut generic: Vec<(usize, u32, String)> = Vec::new();
        let mut specific: Vec<(usize, u32, String)> = Vec::new();
        let mut seen: Vec<Kind> = Vec::new();
        for &(id, at, kind, ref ty) in &recs {
            let info = o.get32(&input.blob, at + 4);
            let label = |what: &str| format!("type {id} ({}) {what}", kind.name());
            for (field, value, what) in [
                (at, h.str_len, "name_off = str_len"),
                (at, str_end, "name_off past the blob"),
                (at, u32::MAX, "name_off = u32::MAX"),
                (at + 4, kind_bits(info, 0), "kind 0"),
                (at + 4, kind_bits(info, 31), "kind 31"),
                (at + 4, kind_bits(info, 20), "kind 20"),
                (at + 4, info | 0xffff, "vlen 0xffff"),
                (at + 4, info ^ (1 << 31), "kind_flag toggled"),
                (at + 8, u32::MAX, "size/type 0xffffffff"),
                (at + 8, count + 1, "size/type = count + 1"),
                (at + 8, id, "size/type = own id"),
                (at + 8, 0, "size/type 0"),
            ] {
                generic.push((field, value, label(what)));
            }
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            let extra = at + 12;
            let mut add =
                |field: usize, value: u32, what: &str| specific.push((field, value, label(what)));
            match ty {
                BtfType::Int { .. } => {
                    add(extra, u32::MAX, "int encoding/offset/bits all ones");
                    add(extra, 0x00ff_0001, "int 1 bit at offset 255");
                    add(at + 8, u32::MAX, "int of 0xffffffff bytes");
                }
                BtfType::Array { .. } => {
                    add(extra, id, "array of itself");
                    add(extra, count + 1, "array elem past the end");
                    add(extra, 0, "array of void");
                    add(extra + 4, u32::MAX, "array index type u32::MAX");
                    add(extra + 8, u32::MAX, "array nelems 0xffffffff");
                    add(extra + 8, 0, "array nelems 0");
                }
                BtfType::Struct { members, .. } | BtfType::Union { members, .. }
                    if !members.is_empty() =>
                {
                    let last = extra + 12 * (members.len() - 1);
                    add(extra, str_end, "member name past the blob");
                    add(extra + 4, count + 1, "member type past the end");
                    add(extra + 4, id, "member of its own type");
                    add(extra + 4, u32::MAX, "member type u32::MAX");
                    add(extra + 8, u32::MAX, "member offset 0xffffffff");
                    add(last + 8, u32::MAX - 7, "last member offset near u32::MAX");
                    add(extra + 8, 0xff00_0000, "bitfield 255 bits at 0");
                    add(at + 8, 0, "size 0 with members");
                    add(at + 8, u32::MAX, "size 0xffffffff");
                }
                BtfType::Enum { values, .. } | BtfType::Enum64 { values, .. }
                    if !values.is_empty() =>
                {
                    add(extra, str_end, "enumerator name past the blob");
                    add(extra + 4, u32::MAX, "enumerator value all ones");
                    add(at + 8, u32::MAX, "enum of 0xffffffff bytes");
                }
                BtfType::FuncProto { params, .. } if !params.is_empty() => {
                    add(extra + 4, count + 1, "param type past the end");
                    add(extra + 4, id, "param of its own proto");
                }
                BtfType::Func { .. } => add(at + 8, first, "FUNC of a non-proto"),
                BtfType::Datasec { vars, .. } if !vars.is_empty() => {
                    add(extra, first, "datasec entry not a VAR");
                    add(extra, count + 1, "datasec entry past the end");
                    add(extra + 4, u32::MAX, "datasec var offset u32::MAX");
                    add(extra + 8, u32::MAX, "datasec var size u32::MAX");
                }
                BtfType::Var { .. } => add(extra, u32::MAX, "var linkage u32::MAX"),
                BtfType::DeclTag { .. } => {
                    add(extra, i32::MAX as u32, "decl_tag component i32::MAX")
                }
                _ => {}
            }
        }
        let (n_generic, n_specific, n_words): (usize, usize, usize) =
            if input.split { (4, 6, 2) } else { (6, 20, 4) };
        let mut muts: Vec<(usize, u32, String)> = Vec::new();
        for _ in 0..n_generic {
            muts.push(generic.swap_remove(rng.below(generic.len())));
        }
        while muts.len() < n_generic.saturating_add(n_specific) && !specific.is_empty() {
            muts.push(specific.swap_remove(rng.below(specific.len())));
        }
        // Random u32 words of the type section set to crafted values.
        let types_at = (h.hdr_len + h.type_off) as usize;
        for _ in 0..n_words {
            let at = types_at + 4 * rng.below(h.type_len as usize / 4);
            let v = [
                0,
                1,
                count,
                count + 1,
                u32::MAX,
                0x8000_0000,
                0x1f00_ffff,
                h.str_len,
            ][rng.below(8)];
            muts.push((at, v, format!("word at {at} = {v:#x}")));
        }
        for (field, value, what) in muts {
            let mut blob = input.blob.clone();
            o.put32(&mut blob, field, value);
            input.run_blob(&mut t, &what, &blob);
        }

        // Loops: a typedef naming itself, two typedefs naming each other, CONST → CONST
        // cycles made of two single-word reference records, every member of a struct
        // being the struct itself.
        let refs: Vec<_> = recs
            .iter()
            .filter(|r| {
                matches!(
                    r.2,
                    Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Ptr | Kind::TypeTag
                )
            })
            .collect();
        let typedefs: Vec<_> = refs.iter().filter(|r| r.2 == Kind::Typedef).collect();
        let mut loops: Vec<(String, Vec<(usize, u32)>)> = Vec::new();
        if let Some(td) = typedefs.first() {
            loops.push((
                format!("typedef {} of itself", td.0),
                vec![(td.1 + 8, td.0)],
            ));
        }
        if let [a, b, ..] = typedefs.as_slice() {
            loops.push((
                format!("typedefs {} <-> {}", a.0, b.0),
                vec![(a.1 + 8, b.0), (b.1 + 8, a.0)],
            ));
        }
        if let [a, b, ..] = refs.as_slice() {
            let konst = |r: &(u32, usize, Kind, BtfType)| {
                kind_bits(o.get32(&input.blob, r.1 + 4), Kind::Const as u32)
            };
            loops.push((
                format!("CONST {} <-> CONST {}", a.0, b.0),
                vec![
                    (a.1 + 4, konst(a)),
                    (b.1 + 4, konst(b)),
                    (a.1 + 8, b.0),
                    (b.1 + 8, a.0),
                ],
            ));
            loops.push((
                format!("CONST {} of itself", a.0),
                vec![(a.1 + 4, konst(a)), (a.1 + 8, a.0)],
            ));
        }
        if let Some((id, at, _, BtfType::Struct { members, .. })) = recs
            .iter()
            .find(|r| matches!(&r.3, BtfType::Struct { members, .. } if members.len() > 1))
        {
            let words = (0..members.len())
                .map(|m| (at + 12 + 12 * m + 4, *id))
                .collect();
            loops.push((format!("struct {id}: every member is itself"), words));
        }
        if input.split {
            loops.truncate(2);
        }
        for (what, words) in loops {
            let mut blob = input.blob.clone();
            for (at, v) in words {
                o.put32(&mut blob, at, v);
            }
            input.run_blob(&mut t, &what, &blob);
        }
    }
    t.finish("crafted records");
}

#[test]
fn corrupted_elf_section_headers() {
    let mut t = Tally::default();
    for input in inputs().into_iter().filter(|i| i.blob_in_file != Some(0)) {
        let o = Order::of_elf(&input.file);
        let secs = sections(&input.file);
        let flen = input.file.len() as u64;
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        let mut set = |what: String, f: &dyn Fn(&mut Vec<u8>)| {
            let mut file = input.file.clone();
            f(&mut file);
            cases.push((what, file));
        };
        for v in [0, flen - 8, u64::MAX - 63] {
            set(format!("e_shoff = {v:#x}"), &|f| o.put64(f, 0x28, v));
        }
        for v in [0, 0xffff] {
            set(format!("e_shnum = {v:#x}"), &|f| o.put16(f, 0x3c, v));
            set(format!("e_shstrndx = {v:#x}"), &|f| o.put16(f, 0x3e, v));
        }
        set("e_shentsize = 1".into(), &|f| o.put16(f, 0x3a, 1));
        set("ELFCLASS32".into(), &|f| f[4] = 1);
        set("e_ident data = 3".into(), &|f| f[5] = 3);
        for name in [".BTF", "maps", ".maps", ".symtab", ".strtab"] {
            let Some(s) = section(&secs, name) else {
                continue;
            };
            let at = s.at;
            for v in [flen - 4, u64::MAX - 7] {
                set(format!("{name} sh_offset = {v:#x}"), &|f| {
                    o.put64(f, at + 24, v)
                });
            }
            for v in [0, 13, u64::MAX] {
                set(format!("{name} sh_size = {v:#x}"), &|f| {
                    o.put64(f, at + 32, v)
                });
            }
            set(format!("{name} sh_type = NOBITS"), &|f| {
                o.put32(f, at + 4, 8)
            });
            set(format!("{name} sh_name = u32::MAX"), &|f| {
                o.put32(f, at, u32::MAX)
            });
            set(format!("{name} sh_link = 0xffff"), &|f| {
                o.put32(f, at + 40, 0xffff)
            });
            set(format!("{name} sh_entsize = 1"), &|f| {
                o.put64(f, at + 56, 1)
            });
            let flags = s.flags;
            set(format!("{name} sh_flags ^= SHF_COMPRESSED"), &|f| {
                o.put64(f, at + 8, flags ^ SHF_COMPRESSED)
            });
        }
        // A compressed .BTF lying in its compression header: unknown format, a bomb-sized
        // or too-small uncompressed size, a corrupt stream.
        if let Some(s) = section(&secs, ".BTF").filter(|s| s.flags & SHF_COMPRESSED != 0) {
            let ch = s.offset;
            for v in [0u32, 3, 0xffff] {
                set(format!("ch_type = {v}"), &|f| o.put32(f, ch, v));
            }
            for v in [0u64, 1, 24, 600 << 20, 1 << 40, u64::MAX] {
                set(format!("ch_size = {v:#x}"), &|f| o.put64(f, ch + 8, v));
            }
            for p in [24, 25, 32, s.size / 2, s.size - 1] {
                set(format!("compressed byte {p} inverted"), &|f| {
                    f[ch + p] ^= 0xff
                });
            }
        }
        // Legacy map definitions: symbols in `maps` pointing past the section.
        if let (Some(m), Some(sym)) = (section(&secs, "maps"), section(&secs, ".symtab")) {
            let shndx = secs.iter().position(|s| s.name == "maps").unwrap() as u16;
            for i in 0..sym.size / 24 {
                let e = sym.offset + 24 * i;
                if o.get16(&input.file, e + 6) == shndx && input.file[e + 4] & 0xf != 3 {
                    for v in [m.size as u64 - 4, u64::MAX - 3] {
                        set(format!("symbol {i} st_value = {v:#x}"), &|f| {
                            o.put64(f, e + 8, v)
                        });
                    }
                }
            }
        }
        for (what, file) in cases {
            input.run_file(&mut t, &what, &file);
        }
    }
    t.finish("ELF headers");
}

// ---------------------------------------------------------------------------------------
// Specific errors: exact kind, offset and type id.

#[test]
fn unknown_kind_20_names_the_record_and_type() {
    let blob = read("btf/types.bpf.btf");
    let btf = Btf::parse(&blob).unwrap();
    let id = 5;
    let at = btf.offset_of(id).unwrap();
    let o = Order::of_btf(&blob);
    let mut bad = blob.clone();
    let info = o.get32(&bad, at + 4);
    o.put32(&mut bad, at + 4, (info & !(0x1f << 24)) | (20 << 24));
    let e = Btf::parse(&bad).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownKind(20));
    assert_eq!(e.offset, at + 4, "the offset of the record's info word");
    assert_eq!(e.type_id, Some(id));
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("at byte {}", at + 4)) && shown.contains("type id 5"),
        "{shown}"
    );

    // The same record inside the BPF object: the error names the file offset too.
    let file = read("btf/types.bpf.btf-zlib.o");
    assert!(BtfBytes::from_file_bytes("x", &file).is_ok());
    let obj = read("bpf/types.bpf.o");
    let b = BtfBytes::from_file_bytes("types.bpf.o", &obj).unwrap();
    let mut obj_bad = obj.clone();
    let in_file = b.file_offset + at + 4;
    let info = o.get32(&obj_bad, in_file);
    o.put32(&mut obj_bad, in_file, (info & !(0x1f << 24)) | (20 << 24));
    let b = BtfBytes::from_file_bytes("types.bpf.o", &obj_bad).unwrap();
    let e = Btf::parse(&b.data)
        .unwrap_err()
        .in_file(&b.path, b.file_offset);
    assert_eq!(
        (e.kind.clone(), e.offset, e.type_id),
        (ErrorKind::UnknownKind(20), at + 4, Some(id))
    );
    assert!(
        e.to_string().contains(&format!("file offset {in_file:#x}")),
        "{e}"
    );
}

#[test]
fn bad_magic() {
    let e = BtfBytes::from_file_bytes("junk", b"\x00\x01\x02\x03rest").unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadMagic {
            found: vec![0, 1, 2, 3]
        }
    );
    assert_eq!((e.offset, e.path.as_deref()), (0, Some("junk")));
    let e = Btf::parse(b"\x9f\xec\x01\x00").unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::BadMagic {
            found: vec![0x9f, 0xec]
        }
    );
    assert!(e.to_string().starts_with("at byte 0 "), "{e}");
    let e = Btf::parse(b"").unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadMagic { found: vec![] });
}

#[test]
fn truncated_header() {
    let blob = read("btf/types.bpf.btf");
    for cut in [2, 10, 23] {
        let e = Btf::parse(&blob[..cut]).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Truncated {
                what: "BTF header",
                need: 24
            }
        );
        assert_eq!(e.offset, cut);
    }
    // A header that is whole but whose type section runs past the end.
    let e = Btf::parse(&blob[..blob.len() / 2]).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::BadHeader(_)), "{e}");
    assert_eq!(e.offset, 12, "the type_len field");
}

/// A `.maps` variable whose type does not exist: map discovery (which runs on BTF that
/// was not validated) names the VAR record, not byte 0.
#[test]
fn map_discovery_errors_name_the_map_record() {
    let file = read("bpf/maps.bpf.o");
    let b = BtfBytes::from_file_bytes("maps.bpf.o", &file).unwrap();
    let btf = Btf::parse(&b.data).unwrap();
    let maps = btf.ids_named(".maps")[0];
    let Ok((_, BtfType::Datasec { vars, .. })) = btf.get(maps) else {
        panic!("no .maps DATASEC")
    };
    let var = vars[0].type_id;
    let at = btf.offset_of(var).unwrap();
    let missing = btf.count() + 7;
    let mut blob = b.data.clone();
    Order::of_btf(&blob).put32(&mut blob, at + 8, missing);
    let btf = Btf::parse(&blob).unwrap();
    let table = btf.to_table().unwrap();
    let e = discover_maps(&btf, &table, &b.legacy_maps).unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.offset, e.type_id),
        (ErrorKind::BadTypeId(missing), at, Some(var)),
        "{e}"
    );
    assert!(e.to_string().contains(&format!("at byte {at}")), "{e}");
}

/// A legacy map symbol whose value points far past the `maps` section: the error names
/// the offset in the section (adding it to the section's file offset overflowed).
#[test]
fn legacy_map_symbol_past_the_section() {
    let mut file = read("bpf/legacy.bpf.o");
    let o = Order::of_elf(&file);
    let secs = sections(&file);
    let shndx = secs.iter().position(|s| s.name == "maps").unwrap() as u16;
    let sym = section(&secs, ".symtab").unwrap().clone();
    let entry = (0..sym.size / 24)
        .map(|i| sym.offset + 24 * i)
        .find(|&e| o.get16(&file, e + 6) == shndx && file[e + 4] & 0xf == 1)
        .expect("a map symbol");
    o.put64(&mut file, entry + 8, u64::MAX - 3);
    let e = BtfBytes::from_file_bytes("legacy.bpf.o", &file).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Elf(_)), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with("legacy.bpf.o: ")
            && shown.contains("at offset 0xfffffffffffffffc of the maps section"),
        "{shown}"
    );
}

#[test]
fn string_section_without_terminating_nul() {
    let mut blob = read("btf/types.bpf.btf");
    let h = header(&blob);
    let end = (h.hdr_len + h.str_off + h.str_len) as usize;
    assert_eq!(end, blob.len());
    blob[end - 1] = b'x';
    let e = Btf::parse(&blob).unwrap_err();
    assert!(
        matches!(&e.kind, ErrorKind::Invalid(m) if m.contains("does not end with a NUL")),
        "{e}"
    );
    assert_eq!(e.offset, end - 1);
}

// ---------------------------------------------------------------------------------------
// Hand-built graphs.

/// Little-endian BTF, record by record.
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn new() -> Self {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }
    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend(s.as_bytes());
        self.strings.push(0);
        off
    }
    fn words(&mut self, w: &[u32]) {
        for x in w {
            self.types.extend(x.to_le_bytes());
        }
    }
    fn record(&mut self, name: &str, kind: Kind, vlen: u32, so: u32, extra: &[u32]) -> u32 {
        let n = self.name(name);
        self.words(&[n, ((kind as u32) << 24) | vlen, so]);
        self.words(extra);
        self.next_id += 1;
        self.next_id - 1
    }
    fn int(&mut self, name: &str, size: u32, bits: u32) -> u32 {
        self.record(name, Kind::Int, 0, size, &[bits])
    }
    fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.record("", Kind::Array, 0, 0, &[elem, index, n])
    }
    fn aggregate(
        &mut self,
        kind: Kind,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(m, ty, off) in members {
            let n = self.name(m);
            extra.extend([n, ty, off]);
        }
        self.record(name, kind, members.len() as u32, size, &extra)
    }
    fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend([0x9f, 0xeb, 1, 0]);
        for w in [
            24,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            out.extend(w.to_le_bytes());
        }
        out.extend(&self.types);
        out.extend(&self.strings);
        out
    }
}

/// Runs a hand-built blob through the whole path, with a time bound that catches hangs
/// (a debug build does the legitimate work of these in milliseconds).
fn run_built(case: &str, blob: &[u8]) -> bool {
    let mut t = Tally::default();
    let start = Instant::now();
    let mut clean = false;
    t.run(case, || {
        clean = run_blob(case, blob, &[], None, true)?;
        Ok(clean)
    });
    let took = start.elapsed();
    t.finish(case);
    assert!(took < Duration::from_secs(2), "{case}: took {took:?}");
    clean
}

#[test]
fn built_blobs_are_sound() {
    let mut b = Builder::new();
    let int = b.int("int", 4, 32 | (1 << 24));
    let arr = b.array(int, int, 4);
    b.aggregate(Kind::Struct, "event", 24, &[("a", int, 0), ("b", arr, 32)]);
    assert!(run_built("plain struct", &b.build()));
}

/// A bitfield member whose INT claims 0xffffffff bytes: the old-style bitfield test
/// multiplied the size by 8 in u32 (overflow panic in debug builds).
#[test]
fn int_of_0xffffffff_bytes_as_a_bitfield() {
    let mut b = Builder::new();
    let huge = b.int("huge", u32::MAX, 3);
    b.aggregate(Kind::Struct, "event", 8, &[("x", huge, 0)]);
    run_built("INT size 0xffffffff member", &b.build());
}

/// `int a[0xffffffff][0]`: four billion elements, none of which has a field. Flattening
/// must not walk them one by one.
#[test]
fn huge_array_of_empty_arrays() {
    let mut b = Builder::new();
    let int = b.int("int", 4, 32);
    let empty = b.array(int, int, 0);
    let huge = b.array(empty, int, u32::MAX);
    let empty_struct = b.aggregate(Kind::Struct, "nothing", 0, &[]);
    let huge2 = b.array(empty_struct, int, u32::MAX);
    b.aggregate(Kind::Struct, "event", 8, &[("a", huge, 0), ("b", huge2, 0)]);
    run_built("array[0xffffffff] of array[0]", &b.build());
}

/// Flattens one type of a hand-built blob, which must fail with `TooMany` quickly.
fn flatten_is_bounded(case: &str, blob: &[u8], name: &str) {
    let btf = Btf::parse(blob).unwrap();
    btf.validate().unwrap();
    let table = btf.to_table().unwrap();
    let id = btf.find_type(name).unwrap();
    assert!(table.layout(id).is_ok(), "{case}: one level is cheap");
    type Walk<'t> = Box<dyn Fn() -> Result<usize, mapsleuth_layout::LayoutError> + 't>;
    let walks: [(&str, Walk); 2] = [
        ("leaves", Box::new(|| table.leaves(id).map(|v| v.len()))),
        ("padding", Box::new(|| table.padding(id).map(|v| v.len()))),
    ];
    for (what, walk) in walks {
        let start = Instant::now();
        let r = walk();
        let took = start.elapsed();
        eprintln!("{case}: {what} took {took:?}");
        assert!(
            matches!(r, Err(mapsleuth_layout::LayoutError::TooMany { .. })),
            "{case}: {what}: {r:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "{case}: {what} took {took:?}"
        );
    }
}

/// 30 levels of structs, each holding its child 16 times, the last one empty: the graph
/// is tiny, a naive walk of it is 16^29 steps, and not one of them finds a field.
#[test]
fn exponential_dag_of_empty_structs() {
    let mut b = Builder::new();
    let levels = 30u32;
    // Ids: 1 is the empty leaf struct, then each level's struct holds the previous.
    b.aggregate(Kind::Struct, "leaf", 0, &[]);
    for l in 1..levels {
        let members: Vec<(&str, u32, u32)> = (0..16).map(|_| ("", l, 0)).collect();
        b.aggregate(Kind::Struct, &format!("s{l}"), 0, &members);
    }
    let members: Vec<(&str, u32, u32)> = (0..16).map(|_| ("", levels, 0)).collect();
    b.aggregate(Kind::Union, "u", 0, &members);
    let blob = b.build();
    flatten_is_bounded("struct DAG", &blob, &format!("s{}", levels - 1));
    flatten_is_bounded("union DAG", &blob, "union u");
}

/// A union of 65535 alternatives, each an array of 60,000 structs with a hole: each
/// alternative alone stays under the limit on padding regions, all of them together are
/// four billion regions to compute and intersect.
#[test]
fn union_of_many_holey_arrays() {
    let mut b = Builder::new();
    let ch = b.int("char", 1, 8);
    let int = b.int("int", 4, 32);
    let holey = b.aggregate(Kind::Struct, "holey", 8, &[("a", ch, 0), ("b", int, 32)]);
    let arr = b.array(holey, int, 60_000);
    let members: Vec<(&str, u32, u32)> = (0..0xffff).map(|_| ("", arr, 0)).collect();
    b.aggregate(Kind::Union, "u", 480_000, &members);
    flatten_is_bounded("union of holey arrays", &b.build(), "union u");
}

/// Typedef and CONST loops, an array of itself, a struct that contains itself: validation
/// names the first loop, and every walk ends.
#[test]
fn loops() {
    let mut b = Builder::new();
    let int = b.int("int", 4, 32);
    // 2: typedef of itself; 3 -> 4 -> 3 CONST cycle; 5: struct holding itself; 6: a
    // pointer to it; 7: array of itself.
    b.record("t", Kind::Typedef, 0, 2, &[]);
    b.record("", Kind::Const, 0, 4, &[]);
    b.record("", Kind::Const, 0, 3, &[]);
    b.aggregate(
        Kind::Struct,
        "event",
        16,
        &[
            ("self", 5, 0),
            ("t", 2, 0),
            ("c", 3, 32),
            ("i", int, 64),
            ("a", 7, 0),
        ],
    );
    b.record("", Kind::Ptr, 0, 5, &[]);
    b.array(7, int, 2);
    b.aggregate(Kind::Union, "u", 8, &[("p", 6, 0), ("c", 4, 0)]);
    let blob = b.build();
    let btf = Btf::parse(&blob).unwrap();
    let e = btf.validate().unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.type_id, e.offset),
        (ErrorKind::TooDeep, Some(2), btf.offset_of(2).unwrap()),
        "{e}"
    );
    assert!(e.to_string().contains("at byte 40"), "{e}");
    assert!(!run_built("loops", &blob), "the loops are reported");
    let table = btf.to_table().unwrap();
    for id in [2, 3, 5, 7, 8] {
        assert!(table.size_of(id).is_err() || id == 5 || id == 8, "{id}");
        let _ = (
            table.layout(id),
            table.leaves(id),
            table.padding(id),
            table.type_name(id),
        );
    }
}

/// The bounds on flattening leave real types alone: every struct and union of vmlinux
/// flattens without hitting them. Slow in a debug build, hence ignored; run with
/// `cargo test --release -p mapsleuth-btf --test hostile -- --ignored`.
#[test]
#[ignore]
fn vmlinux_types_flatten_within_the_limits() {
    let data = read("btf/vmlinux.btf");
    let btf = Btf::parse(&data).unwrap();
    let table = btf.to_table().unwrap();
    let mut failed = Vec::new();
    for (id, t) in table.iter() {
        if matches!(t.kind, TypeKind::Struct(_) | TypeKind::Union(_)) {
            for r in [table.leaves(id).map(|_| ()), table.padding(id).map(|_| ())] {
                if let Err(e) = r {
                    failed.push(format!("{}: {e}", table.type_name(id)));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
