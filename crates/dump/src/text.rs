//! `bpftool map dump` plain text, for maps without BTF.
//!
//! bpftool 7.1 prints (map.c, `print_entry_plain` and friends):
//!
//! ```text
//! key: 01 00 00 00  value: 01 02 03 04 05 06 07 08        key+value <= 24 bytes, each <= 16
//! key: 00 01 .. 0f                                         both <= 16 bytes
//! value: 00 01 .. 0f
//! key:                                                     key or value > 16 bytes:
//! 01 00 00 00                                              labels on their own lines,
//! value:                                                   16 bytes per line, two groups
//! 01 02 03 04 05 06 07 08  09 0a 0b 0c 0d 0e 0f 10         of 8
//! 11 12 13 14
//! key:                                                     per-CPU maps
//! 01 00 00 00
//! value (CPU 00): 01 02 03 04 05 06 07 08  09 0a 0b 0c     (`value (CPU 00):` + lines
//! value (CPU 01): 01 02 03 04 05 06 07 08  09 0a 0b 0c      when the value > 16 bytes)
//! key: 00 00 00 00  value: <no entry>                      lookup errors, not counted
//! key:                                                     (labels on their own lines
//! 00 00 00 00                                               when key > 16 bytes or the
//! value:                                                    message > 16 characters)
//! No space left on device
//! Found 1 element
//! ```
//!
//! When a name matches several maps, each dump is preceded by a header line
//! `140: hash  name ms_dup  flags 0x0` and followed by a blank line.
//! Line structure is parsed with nom; hex runs with a table-driven decoder.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{digit1, space0, space1};
use nom::combinator::{map, map_res, opt, rest};
use nom::{IResult, Parser};

use crate::ctx::Ctx;
use crate::error::{excerpt, DumpError, ErrorKind, Position};
use crate::hex::{decode_hex_line, is_hex_like_line};
use crate::model::{Dump, EntryRec, MapMeta, Mark};
use crate::window::Window;

/// One classified line.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    Blank,
    /// `key:` with the hex on the line (maybe none) and maybe a value on the same line.
    Key {
        hex: &'a [u8],
        value: Option<ValueLabel<'a>>,
    },
    Value(ValueLabel<'a>),
    Found(u64),
    Header(MapMeta),
    Bpftool {
        error: bool,
        message: &'a [u8],
    },
    Other(&'a [u8]),
}

#[derive(Debug, PartialEq)]
struct ValueLabel<'a> {
    cpu: Option<u64>,
    /// Offset of `rest` in the line.
    rest_at: usize,
    rest: &'a [u8],
}

fn number(i: &[u8]) -> IResult<&[u8], u64> {
    map_res(digit1, |d: &[u8]| {
        std::str::from_utf8(d)
            .map_err(|_| ())
            .and_then(|s| s.parse::<u64>().map_err(|_| ()))
    })
    .parse(i)
}

/// `value:` or `value (CPU 03):`
fn value_label(i: &[u8]) -> IResult<&[u8], Option<u64>> {
    alt((
        map(tag("value:"), |_| None),
        map((tag("value (CPU "), number, tag("):")), |(_, n, _)| Some(n)),
    ))
    .parse(i)
}

/// `Found 3 elements` / `Found 1 element` (bpftool's plural is exact: a cut `s` is a
/// truncation, not another spelling).
fn found_line(i: &[u8]) -> IResult<&[u8], u64> {
    let (i, (_, n, _, _, plural, _)) = (
        tag("Found "),
        number,
        space1,
        tag("element"),
        opt(tag("s")),
        space0,
    )
        .parse(i)?;
    if (n != 1) != plural.is_some() || !i.is_empty() {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok((i, n))
}

fn word(i: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| !b.is_ascii_whitespace()).parse(i)
}

/// `140: hash  name ms_dup  flags 0x0` (the first line of `bpftool map show`).
fn header_line(i: &[u8]) -> IResult<&[u8], MapMeta> {
    let (i, (id, _, _, map_type)) = (number, tag(":"), space1, word).parse(i)?;
    let mut meta = MapMeta {
        id: u32::try_from(id).ok(),
        map_type: Some(String::from_utf8_lossy(map_type).into_owned()),
        ..MapMeta::default()
    };
    let mut i = i;
    // The rest is `label value` pairs; unknown labels are skipped.
    while let Ok((next, (_, label, _, val))) = (space1, word, space1, word).parse(i) {
        let val_s = String::from_utf8_lossy(val);
        match label {
            b"name" => meta.name = Some(val_s.into_owned()),
            b"flags" => {
                meta.flags = val_s
                    .strip_prefix("0x")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .or_else(|| val_s.parse().ok())
            }
            _ => {}
        }
        i = next;
    }
    let (i, _) = rest.parse(i)?;
    Ok((i, meta))
}

fn classify(line: &[u8]) -> Line<'_> {
    if line.is_empty() {
        return Line::Blank;
    }
    // Most lines are hex continuation lines: `01 02 ..`.
    if line.len() >= 2
        && line[0].is_ascii_hexdigit()
        && line[1].is_ascii_hexdigit()
        && line.get(2).is_none_or(|&c| c == b' ')
    {
        return Line::Other(line);
    }
    if let Some(after) = line.strip_prefix(b"key:") {
        // The value label, if on this line, follows the hex (which has no `v`).
        let (hex, value) = match memchr::memmem::find(after, b"value") {
            Some(at) => {
                let label_at = 4 + at;
                (&after[..at], value_at(line, label_at))
            }
            None => (after, None),
        };
        return match value {
            // `key: .. valueXYZ` that is no value label: leave it to the hex decoder.
            None if hex.len() != after.len() => Line::Key { hex: after, value },
            _ => Line::Key { hex, value },
        };
    }
    if line.starts_with(b"value") {
        if let Some(v) = value_at(line, 0) {
            return Line::Value(v);
        }
    }
    if let Ok((_, n)) = found_line(line) {
        return Line::Found(n);
    }
    if let Some(m) = line.strip_prefix(b"Error:") {
        return Line::Bpftool {
            error: true,
            message: m.trim_ascii(),
        };
    }
    if let Some(m) = line.strip_prefix(b"Warning:") {
        return Line::Bpftool {
            error: false,
            message: m.trim_ascii(),
        };
    }
    if line[0].is_ascii_digit() {
        if let Ok((_, meta)) = header_line(line) {
            return Line::Header(meta);
        }
    }
    Line::Other(line)
}

fn value_at(line: &[u8], at: usize) -> Option<ValueLabel<'_>> {
    let (after, cpu) = value_label(&line[at..]).ok()?;
    let lead = after.len() - after.trim_ascii_start().len();
    let rest_at = line.len() - after.len() + lead;
    Some(ValueLabel {
        cpu,
        rest_at,
        rest: &line[rest_at..],
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// The key record is open: hex lines append to it.
    Key,
    /// A value record is open and has bytes.
    Value,
    /// `value:` ended its line: hex lines or an error message follow.
    AwaitValue,
    /// Nothing more belongs to this entry.
    Closed,
}

struct Pending {
    rec: EntryRec,
    mark: Mark,
    stage: Stage,
    next_cpu: u64,
    broken: bool,
}

struct Reader<'c, 'a> {
    ctx: &'c Ctx<'a>,
    dumps: Vec<Dump>,
    dump: Dump,
    pending: Option<Pending>,
    /// The current dump printed its `Found` line: more entries start another dump.
    closed: bool,
    /// The current dump has anything at all (entries, header, `Found`).
    started: bool,
}

pub(crate) fn read(ctx: &Ctx<'_>, win: &mut Window<'_>) -> Result<Vec<Dump>, DumpError> {
    let dump = ctx.new_dump(0, Position::START);
    let mut r = Reader {
        ctx,
        dumps: Vec::new(),
        dump,
        pending: None,
        closed: false,
        started: false,
    };
    r.run(win)?;
    Ok(r.dumps)
}

impl Reader<'_, '_> {
    fn run(&mut self, win: &mut Window<'_>) -> Result<(), DumpError> {
        let max_line = self.ctx.opts.limits.max_line_len;
        let mut line_no = 0u64;
        let mut p = 0usize;
        // Skip a UTF-8 byte order mark.
        win.fill(3)?;
        if win.bytes().starts_with(b"\xef\xbb\xbf") {
            p = 3;
        }
        // The line being skipped for being too long.
        let mut skipping = false;
        loop {
            let bytes = win.bytes();
            let (line_end, next) = match memchr::memchr(b'\n', &bytes[p..]) {
                Some(e) => (p + e, p + e + 1),
                None if !win.at_eof() => {
                    // The line goes on past the window: see further.
                    let have = bytes.len() - p;
                    if have > max_line && !skipping {
                        line_no += 1;
                        let pos = Position::new(line_no, (win.base() + p) as u64);
                        self.too_long(pos, max_line);
                        skipping = true;
                    }
                    if skipping {
                        p = bytes.len();
                    }
                    win.consume(p);
                    p = 0;
                    let want = win.bytes().len() + win.chunk();
                    win.fill(want)?;
                    continue;
                }
                None if p >= bytes.len() => break,
                None => (bytes.len(), bytes.len()),
            };
            if skipping {
                skipping = false;
                p = next;
                continue;
            }
            line_no += 1;
            let pos = Position::new(line_no, (win.base() + p) as u64);
            let mut line = &bytes[p..line_end];
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            if line.len() > max_line {
                self.too_long(pos, max_line);
            } else {
                self.line(line.trim_ascii_end(), pos)?;
            }
            p = next;
        }
        let bytes = win.bytes();
        let end_line = if bytes.last() == Some(&b'\n') || (bytes.is_empty() && line_no > 0) {
            line_no + 1
        } else {
            line_no.max(1)
        };
        let end = Position::new(end_line, (win.base() + bytes.len()) as u64);
        self.finish_entry(true)?;
        if !self.closed && (self.started || self.dumps.is_empty()) {
            self.issue(end, ErrorKind::MissingTrailer);
        }
        self.end_dump();
        Ok(())
    }

    fn too_long(&mut self, pos: Position, limit: usize) {
        self.issue(pos, ErrorKind::LineTooLong { limit });
        if let Some(p) = &mut self.pending {
            p.broken = true;
        }
    }

    fn issue(&mut self, pos: Position, kind: ErrorKind) {
        let e = DumpError::new(&self.ctx.file, Some(pos), kind);
        self.dump.issue(e);
    }

    /// Starts a new dump if the current one is complete.
    fn ensure_open_dump(&mut self, pos: Position) {
        if self.closed {
            self.end_dump();
            let index = self.dumps.len();
            self.dump = self.ctx.new_dump(index, pos);
            self.closed = false;
        }
        if !self.started {
            self.dump.start = pos;
            self.started = true;
        }
    }

    fn end_dump(&mut self) {
        let index = self.dumps.len();
        let fresh = self.ctx.new_dump(index + 1, Position::START);
        let mut done = std::mem::replace(&mut self.dump, fresh);
        done.finish();
        self.dumps.push(done);
        self.started = false;
    }

    fn line(&mut self, line: &[u8], pos: Position) -> Result<(), DumpError> {
        // Leading blanks are not bpftool's, but harmless.
        let trimmed = line.trim_ascii_start();
        let lead = line.len() - trimmed.len();
        let pos = Position::new(pos.line, pos.offset + lead as u64);
        match classify(trimmed) {
            Line::Blank => self.finish_entry(false)?,
            Line::Key { hex, value } => {
                self.finish_entry(false)?;
                self.ensure_open_dump(pos);
                self.start_entry(pos);
                self.open_key();
                self.hex_into_record(hex, pos.offset + 4, pos);
                if let Some(v) = value {
                    self.value_label(v, pos)?;
                }
            }
            Line::Value(v) => {
                let need_new = match &self.pending {
                    None => true,
                    Some(p) => {
                        p.stage == Stage::Closed
                            || (v.cpu.is_none() && p.rec.value_count > 0)
                            || (v.cpu.is_none() && p.stage == Stage::Value)
                    }
                };
                if need_new {
                    // A value without a key: maps with 0-byte keys print no `key:`.
                    self.finish_entry(false)?;
                    self.ensure_open_dump(pos);
                    self.start_entry(pos);
                }
                self.value_label(v, pos)?;
            }
            Line::Found(n) => {
                self.finish_entry(false)?;
                self.ensure_open_dump(pos);
                self.dump.found_elements = Some(n);
                self.closed = true;
            }
            Line::Header(meta) => {
                self.finish_entry(false)?;
                if self.started || self.closed {
                    self.closed = true;
                    self.ensure_open_dump(pos);
                } else {
                    self.ensure_open_dump(pos);
                }
                self.dump.start = pos;
                self.dump.meta.fill_from(&meta);
            }
            Line::Bpftool { error, message } => {
                self.finish_entry(false)?;
                let msg = String::from_utf8_lossy(message).into_owned();
                let kind = if error {
                    ErrorKind::BpftoolError(msg)
                } else {
                    ErrorKind::BpftoolWarning(msg)
                };
                self.issue(pos, kind);
            }
            Line::Other(text) => self.other_line(text, pos),
        }
        Ok(())
    }

    fn start_entry(&mut self, pos: Position) {
        self.pending = Some(Pending {
            rec: EntryRec::new(pos),
            mark: self.dump.mark(),
            stage: Stage::Closed,
            next_cpu: 0,
            broken: false,
        });
    }

    fn open_key(&mut self) {
        if let Some(p) = &mut self.pending {
            self.dump.keys_mut().open();
            p.stage = Stage::Key;
        }
    }

    /// Closes the key record, if open.
    fn close_key(&mut self) {
        if let Some(p) = &mut self.pending {
            if self.dump.keys_mut().is_open() {
                let i = self.dump.keys_mut().close();
                p.rec.key = i as u32;
            }
        }
    }

    /// Closes the value record, if open.
    fn close_value(&mut self) {
        if let Some(p) = &mut self.pending {
            if self.dump.values_mut().is_open() {
                self.dump.values_mut().close();
                p.rec.value_count += 1;
            }
        }
    }

    fn value_label(&mut self, v: ValueLabel<'_>, line_pos: Position) -> Result<(), DumpError> {
        self.close_key();
        self.close_value();
        let max_cpus = self.ctx.opts.limits.max_cpus;
        let records = self.dump.value_records();
        let Some(p) = &mut self.pending else {
            return Ok(());
        };
        if p.broken {
            return Ok(());
        }
        let pos = line_pos;
        let mut problem = None;
        if let Some(cpu) = v.cpu {
            if cpu != p.next_cpu {
                problem = Some(ErrorKind::CpuOrder {
                    expected: p.next_cpu,
                    found: cpu,
                });
            }
            p.next_cpu = p.next_cpu.saturating_add(1);
            p.rec.set_percpu();
            if p.rec.value_count as usize >= max_cpus {
                problem = Some(ErrorKind::TooManyCpus { limit: max_cpus });
                p.broken = true;
            }
        } else if p.rec.value_count > 0 {
            problem = Some(ErrorKind::UnexpectedLine("a second value".into()));
            p.broken = true;
        }
        if p.rec.message != u32::MAX {
            p.broken = true;
        }
        if p.broken {
            if let Some(k) = problem {
                self.issue(pos, k);
            }
            return Ok(());
        }
        if p.rec.value_count == 0 {
            let Ok(first) = u32::try_from(records) else {
                return Err(DumpError::new(
                    &self.ctx.file,
                    Some(pos),
                    ErrorKind::TooManyEntries {
                        limit: u32::MAX as u64,
                    },
                ));
            };
            p.rec.value_first = first;
        }
        self.dump.values_mut().open();
        p.stage = Stage::AwaitValue;
        if let Some(k) = problem {
            self.issue(pos, k);
        }
        if v.rest.is_empty() {
            return Ok(());
        }
        if !self.try_hex(v.rest, line_pos.offset + v.rest_at as u64, line_pos) {
            self.message(v.rest);
        }
        Ok(())
    }

    /// The value is an error message: `<no entry>`, `No space left on device`, ...
    fn message(&mut self, text: &[u8]) {
        let msg = String::from_utf8_lossy(text);
        let id = self.dump.intern_message(&msg);
        self.dump.values_mut().abort();
        if let Some(p) = &mut self.pending {
            p.rec.message = id;
            p.stage = Stage::Closed;
        }
    }

    /// Decodes hex into the open key or value record.
    fn hex_into_record(&mut self, hex: &[u8], hex_offset: u64, line_pos: Position) {
        let limit = self.ctx.opts.limits.max_value_size;
        let Some(p) = &mut self.pending else {
            return;
        };
        if p.broken {
            return;
        }
        let table = match p.stage {
            Stage::Key => self.dump.keys_mut(),
            Stage::Value | Stage::AwaitValue => self.dump.values_mut(),
            Stage::Closed => return,
        };
        let result = decode_hex_line(hex, table.buf());
        let size = table.open_len();
        if p.stage == Stage::AwaitValue {
            p.stage = Stage::Value;
        }
        let what = if p.stage == Stage::Key {
            "key"
        } else {
            "value"
        };
        if let Err(bad) = result {
            p.broken = true;
            let token = excerpt(&hex[bad.start..bad.end]);
            let pos = Position::new(line_pos.line, hex_offset + bad.start as u64);
            self.issue(pos, ErrorKind::BadHex { token });
        } else if size > limit {
            p.broken = true;
            self.issue(line_pos, ErrorKind::TooLarge { what, limit });
        }
    }

    /// Decodes a line of hex into the open record. False when the line is no hex at all
    /// (it is then left alone); a corrupted hex line is reported, and true.
    fn try_hex(&mut self, hex: &[u8], hex_offset: u64, line_pos: Position) -> bool {
        let limit = self.ctx.opts.limits.max_value_size;
        let Some(p) = &mut self.pending else {
            return false;
        };
        let table = match p.stage {
            Stage::Key => self.dump.keys_mut(),
            Stage::Value | Stage::AwaitValue => self.dump.values_mut(),
            Stage::Closed => return false,
        };
        let before = table.buf().len();
        if decode_hex_line(hex, table.buf()).is_ok() {
            let size = table.open_len();
            let what = if p.stage == Stage::Key {
                "key"
            } else {
                "value"
            };
            if p.stage == Stage::AwaitValue {
                p.stage = Stage::Value;
            }
            if size > limit {
                p.broken = true;
                self.issue(line_pos, ErrorKind::TooLarge { what, limit });
            }
            return true;
        }
        table.buf().truncate(before);
        if is_hex_like_line(hex) {
            self.hex_into_record(hex, hex_offset, line_pos);
            return true;
        }
        false
    }

    fn other_line(&mut self, text: &[u8], pos: Position) {
        if let Some(p) = &mut self.pending {
            if p.broken {
                return;
            }
            let await_message = p.stage == Stage::AwaitValue && !p.rec.is_percpu();
            if p.stage != Stage::Closed && self.try_hex(text, pos.offset, pos) {
                return;
            }
            if await_message {
                self.message(text);
                return;
            }
        }
        self.issue(pos, ErrorKind::UnexpectedLine(excerpt(text)));
        if let Some(p) = &mut self.pending {
            p.broken = true;
        }
    }

    fn finish_entry(&mut self, at_eof: bool) -> Result<(), DumpError> {
        self.close_key();
        self.close_value();
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        if p.broken {
            self.dump.rollback(p.mark);
            return Ok(());
        }
        let has_key = p.rec.key != u32::MAX;
        if p.rec.value_count == 0 && p.rec.message == u32::MAX {
            self.dump.rollback(p.mark);
            if has_key || p.stage == Stage::AwaitValue {
                let kind = if at_eof {
                    ErrorKind::Truncated {
                        context: "an entry",
                    }
                } else {
                    ErrorKind::NoValue
                };
                self.issue(p.rec.pos(), kind);
            }
            return Ok(());
        }
        if p.stage == Stage::AwaitValue && p.rec.value_count > 0 && !p.rec.is_percpu() {
            // `value:` then nothing: an empty value that is no 0-byte value.
            self.issue(p.rec.pos(), ErrorKind::NoValue);
        }
        let limits = &self.ctx.opts.limits;
        self.dump.commit(p.rec, limits)
    }
}

impl EntryRec {
    fn is_percpu(&self) -> bool {
        self.flags & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_lines() {
        assert_eq!(
            classify(b"key: 01 00 00 00  value: 02 00"),
            Line::Key {
                hex: b" 01 00 00 00  ",
                value: Some(ValueLabel {
                    cpu: None,
                    rest_at: 25,
                    rest: b"02 00"
                })
            }
        );
        assert_eq!(
            classify(b"key:"),
            Line::Key {
                hex: b"",
                value: None
            }
        );
        assert_eq!(
            classify(b"value (CPU 07): 01"),
            Line::Value(ValueLabel {
                cpu: Some(7),
                rest_at: 16,
                rest: b"01"
            })
        );
        assert_eq!(classify(b"Found 1 element"), Line::Found(1));
        assert_eq!(classify(b"Found 12 elements"), Line::Found(12));
        assert_eq!(classify(b"Found 0 elements"), Line::Found(0));
        assert_eq!(
            classify(b"Found 12 element"),
            Line::Other(b"Found 12 element")
        );
        assert_eq!(
            classify(b"Found 1 elements"),
            Line::Other(b"Found 1 elements")
        );
        assert_eq!(
            classify(b"Found 99999999999999999999999 elements"),
            Line::Other(b"Found 99999999999999999999999 elements")
        );
        match classify(b"140: hash  name ms_dup  flags 0x10") {
            Line::Header(m) => {
                assert_eq!(m.id, Some(140));
                assert_eq!(m.map_type.as_deref(), Some("hash"));
                assert_eq!(m.name.as_deref(), Some("ms_dup"));
                assert_eq!(m.flags, Some(16));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(classify(b"01 02"), Line::Other(b"01 02"));
        assert!(matches!(
            classify(b"Error: can't get next key"),
            Line::Bpftool { error: true, .. }
        ));
    }
}
