//! `bpftool -j` / `-p map dump`, and the JSON-like listing plain `bpftool map dump`
//! prints for maps with BTF.
//!
//! The document is walked by a hand-written scanner over a sliding window of the input:
//! no tree of the whole document is built, and a file is never held whole. Each entry
//! of the exact shape bpftool prints (`{"key":[..],"value":[..],"formatted":{..}}`,
//! per-CPU `"values":[{"cpu":0,"value":[..]}]`, lookup errors `"value":{"error":".."}`)
//! is decoded by a fast path straight into the dump's byte tables; any other entry goes
//! to a serde deserializer over that entry's bytes (borrowed strings), which accepts any
//! member order, extra members and escapes, and whose errors carry a position. A broken
//! entry is reported and skipped: the scanner resynchronises on the next `{"key":`.
//!
//! Offsets here are local to the window (`Window::bytes`); each step consumes what it
//! has read, so that the next one starts at local offset 0.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ctx::Ctx;
use crate::error::{excerpt, DumpError, ErrorKind, Position};
use crate::hex::{byte2, decode_hex_line, is_hex_like_line, parse_hex_str};
use crate::jsonish::{self, is_ws, skip_ws, Dialect, ScanError, Scanner};
use crate::model::{Dump, EntryRec};
use crate::options::DumpLimits;
use crate::window::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `-j`/`-p`: raw bytes as hex strings, `formatted` when BTF is there.
    Json,
    /// Plain dump with BTF: every entry is only bpftool's decoded form.
    BtfText,
}

pub(crate) fn read(
    ctx: &Ctx<'_>,
    win: &mut Window<'_>,
    mode: Mode,
) -> Result<Vec<Dump>, DumpError> {
    let mut r = Reader {
        ctx,
        win,
        mode,
        dumps: Vec::new(),
    };
    r.document()?;
    Ok(r.dumps)
}

/// The second half of a split `-j` dump ([`crate::split`]): entries from the window's
/// start (an entry's `{`) to the `]` of their array, which must end the input, in
/// parts of `part_len` entries (so that joining them needs room for one part, not
/// for the half). `None` when the input does not go on that way (the cut was not
/// between two entries of one top-level array).
pub(crate) fn read_tail_entries(
    ctx: &Ctx<'_>,
    win: &mut Window<'_>,
    part_len: usize,
) -> Result<Option<Vec<Dump>>, DumpError> {
    let mut r = Reader {
        ctx,
        win,
        mode: Mode::Json,
        dumps: Vec::new(),
    };
    let mut parts = Vec::new();
    let mut d = r.new_dump();
    while !r.entries_until(&mut d, part_len.max(1))? {
        let next = d.continuing();
        let mut done = std::mem::replace(&mut d, next);
        done.finish();
        parts.push(done);
    }
    if r.peek()?.is_some() {
        return Ok(None);
    }
    d.finish();
    parts.push(d);
    Ok(Some(parts))
}

struct Reader<'c, 'o, 'w, 'a> {
    ctx: &'c Ctx<'o>,
    win: &'w mut Window<'a>,
    mode: Mode,
    dumps: Vec<Dump>,
}

/// The fast path met something it does not handle; the serde path takes over.
struct Deviation;

/// What reading one entry (at local offset 0) gave.
enum Parsed {
    /// An entry (its position is set by the caller), maybe with a problem to report,
    /// and where reading goes on.
    Entry {
        rec: EntryRec,
        end: usize,
        issue: Option<(usize, ErrorKind)>,
    },
    /// A bad entry: what and where, and how to go on.
    Bad {
        at: usize,
        kind: ErrorKind,
        resume: Resume,
    },
    /// The entry runs past the window.
    NeedMore { at: usize },
}

enum Resume {
    /// Go on at this local offset.
    At(usize),
    /// Look for the next entry.
    Resync,
}

impl Reader<'_, '_, '_, '_> {
    fn limits(&self) -> &DumpLimits {
        &self.ctx.opts.limits
    }

    /// The largest window one entry may need: bigger entries are reported and skipped.
    fn max_window(&self) -> usize {
        let l = self.limits();
        l.max_formatted_len
            .saturating_add(l.max_value_size.saturating_mul(16))
            .max(self.win.lookahead())
    }

    fn err(&mut self, local: usize, kind: ErrorKind) -> DumpError {
        let pos = self.win.pos(local);
        DumpError::new(&self.ctx.file, Some(pos), kind)
    }

    fn new_dump(&mut self) -> Dump {
        let pos = self.win.pos(0);
        self.ctx.new_dump(self.dumps.len(), pos)
    }

    fn push_dump(&mut self, mut d: Dump) {
        d.finish();
        self.dumps.push(d);
    }

    /// Reports an issue on the current (last) dump, or on a fresh one.
    fn issue_last(&mut self, e: DumpError) {
        if self.dumps.is_empty() {
            let d = self.ctx.new_dump(0, Position::START);
            self.dumps.push(d);
        }
        if let Some(d) = self.dumps.last_mut() {
            d.issue(e);
        }
    }

    /// Drops everything left (after a problem nothing can follow).
    fn skip_rest(&mut self) -> Result<(), DumpError> {
        loop {
            let n = self.win.bytes().len();
            self.win.consume(n);
            if self.win.at_eof() {
                return Ok(());
            }
            self.win.fill(self.win.lookahead())?;
        }
    }

    /// Grows the window for an entry that runs past it; false when it cannot.
    fn grow(&mut self) -> Result<bool, DumpError> {
        let have = self.win.bytes().len();
        if self.win.at_eof() || have >= self.max_window() {
            return Ok(false);
        }
        let want = have
            .saturating_mul(2)
            .max(self.win.lookahead())
            .min(self.max_window());
        self.win.fill(want)?;
        Ok(true)
    }

    /// Skips blanks (across windows); returns the next byte, now at local offset 0.
    fn peek(&mut self) -> Result<Option<u8>, DumpError> {
        loop {
            self.win.fill(self.win.lookahead())?;
            let buf = self.win.bytes();
            let p = skip_ws(buf, 0);
            if p < buf.len() {
                let c = buf[p];
                self.win.consume(p);
                return Ok(Some(c));
            }
            let eof = self.win.at_eof();
            self.win.consume(p);
            if eof {
                return Ok(None);
            }
        }
    }

    fn document(&mut self) -> Result<(), DumpError> {
        self.win.fill(3)?;
        if self.win.bytes().starts_with(b"\xef\xbb\xbf") {
            self.win.consume(3);
        }
        loop {
            let Some(c) = self.peek()? else {
                return Ok(());
            };
            match c {
                b'[' => self.top_array()?,
                b'{' => self.top_object()?,
                _ if line_is_bpftool_message(self.win.bytes()) => self.bpftool_line(None)?,
                _ => {
                    let found = excerpt(self.win.bytes());
                    let e = self.err(0, ErrorKind::TrailingData(found));
                    if self.dumps.is_empty() {
                        return Err(e);
                    }
                    self.issue_last(e);
                    return self.skip_rest();
                }
            }
        }
    }

    /// An `Error: ...` / `Warning: ...` line (stderr mixed in), at local 0.
    fn bpftool_line(&mut self, dump: Option<&mut Dump>) -> Result<(), DumpError> {
        let max = self.limits().max_line_len;
        loop {
            let buf = self.win.bytes();
            let end = match memchr::memchr(b'\n', buf) {
                Some(e) => e,
                None if !self.win.at_eof() && buf.len() <= max => {
                    let want = buf.len() + self.win.lookahead();
                    self.win.fill(want)?;
                    continue;
                }
                None => buf.len(),
            };
            let line = &buf[..end.min(max)];
            let (error, msg) = match line.strip_prefix(b"Error:") {
                Some(m) => (true, m),
                None => (false, line.strip_prefix(b"Warning:").unwrap_or(line)),
            };
            let msg = String::from_utf8_lossy(msg.trim_ascii()).into_owned();
            let kind = if error {
                ErrorKind::BpftoolError(msg)
            } else {
                ErrorKind::BpftoolWarning(msg)
            };
            let e = self.err(0, kind);
            match dump {
                Some(d) => d.issue(e),
                None => self.issue_last(e),
            }
            self.win.consume(end);
            return Ok(());
        }
    }

    /// Scans one JSON(-ish) value at local 0 into `out`; grows the window as needed.
    /// Returns the end offset, or the scan error (not a truncation by the window).
    fn scan_value(
        &mut self,
        dialect: Dialect,
        out: &mut Vec<u8>,
    ) -> Result<Result<usize, ScanError>, DumpError> {
        loop {
            let start = out.len();
            let sc = Scanner {
                buf: self.win.bytes(),
                dialect,
                max_depth: self.limits().max_depth,
                max_len: self.limits().max_formatted_len,
            };
            match sc.value(0, out) {
                Ok(end) => return Ok(Ok(end)),
                Err(e) if e.is_truncation_at_end(sc.buf.len()) && self.grow()? => {
                    out.truncate(start);
                }
                Err(e) => {
                    out.truncate(start);
                    return Ok(Err(e));
                }
            }
        }
    }

    /// `{"error":"..."}` (bpftool -j failed) or a lone map object, at local 0.
    fn top_object(&mut self) -> Result<(), DumpError> {
        let buf = self.win.bytes();
        let q = skip_ws(buf, 1);
        if !buf[q..].starts_with(b"\"error\"") {
            return self.map_object();
        }
        let mut out = Vec::new();
        let end = match self.scan_value(Dialect::Json, &mut out)? {
            Ok(end) => end,
            Err(e) => {
                let e = self.err(e.offset, e.kind);
                if self.dumps.is_empty() {
                    return Err(e);
                }
                self.issue_last(e);
                return self.skip_rest();
            }
        };
        #[derive(Deserialize)]
        struct Err {
            error: String,
        }
        let msg = serde_json::from_slice::<Err>(&out)
            .map(|e| e.error)
            .unwrap_or_else(|_| excerpt(&out));
        let e = self.err(0, ErrorKind::BpftoolError(msg));
        if self.dumps.is_empty() {
            return Err(e);
        }
        self.issue_last(e);
        self.win.consume(end);
        Ok(())
    }

    /// The top-level array at local 0: entries of one map, or map objects.
    fn top_array(&mut self) -> Result<(), DumpError> {
        let mut d = self.new_dump();
        self.win.consume(1);
        let first = self.peek()?;
        if first == Some(b'{') && is_map_object(self.win.bytes(), 0) {
            // Several maps: `[{"id":..,"type":..,"name":..,"flags":..,"elements":[..]},..]`
            loop {
                self.map_object()?;
                let next = self.peek()?;
                match next {
                    Some(b',') => {
                        self.win.consume(1);
                        if self.peek()? != Some(b'{') {
                            let e = jsonish::syntax(self.win.bytes(), 0, "a map object");
                            let e = self.err(e.offset, e.kind);
                            self.issue_last(e);
                            return self.skip_rest();
                        }
                    }
                    Some(b']') => {
                        self.win.consume(1);
                        return Ok(());
                    }
                    None => {
                        let e = self.err(
                            0,
                            ErrorKind::Truncated {
                                context: "the list of maps",
                            },
                        );
                        self.issue_last(e);
                        return Ok(());
                    }
                    Some(_) => {
                        let e = jsonish::syntax(self.win.bytes(), 0, "`,` or `]` after a map");
                        let e = self.err(e.offset, e.kind);
                        self.issue_last(e);
                        return self.skip_rest();
                    }
                }
            }
        }
        self.entries(&mut d)?;
        self.push_dump(d);
        Ok(())
    }

    /// One map object of a multi-map dump, at local 0; its entries become one [`Dump`].
    fn map_object(&mut self) -> Result<(), DumpError> {
        let mut d = self.new_dump();
        let mut meta = serde_json::Map::new();
        self.win.consume(1);
        let problem = self.map_members(&mut d, &mut meta)?;
        d.meta.fill_from(&crate::meta::meta_from_object(&meta));
        let stop = problem.is_some();
        if let Some(e) = problem {
            d.issue(e);
        }
        self.push_dump(d);
        if stop {
            self.skip_rest()?;
        }
        Ok(())
    }

    /// The members of a map object; `Some` problem ends the object (and the input).
    fn map_members(
        &mut self,
        d: &mut Dump,
        meta: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<DumpError>, DumpError> {
        if self.peek()? == Some(b'}') {
            self.win.consume(1);
            return Ok(None);
        }
        loop {
            let Some(c) = self.peek()? else {
                let e = self.err(
                    0,
                    ErrorKind::Truncated {
                        context: "a map object",
                    },
                );
                return Ok(Some(e));
            };
            if c != b'"' {
                let e = jsonish::syntax(self.win.bytes(), 0, "a quoted member name");
                return Ok(Some(self.err(e.offset, e.kind)));
            }
            let mut name = Vec::new();
            let end = match self.scan_value(Dialect::Json, &mut name)? {
                Ok(end) => end,
                Err(e) => return Ok(Some(self.err(e.offset, e.kind))),
            };
            self.win.consume(end);
            if self.peek()? != Some(b':') {
                let e = jsonish::syntax(self.win.bytes(), 0, "`:`");
                return Ok(Some(self.err(e.offset, e.kind)));
            }
            self.win.consume(1);
            let c = self.peek()?;
            if name == b"\"elements\"" {
                if c != Some(b'[') {
                    let e = jsonish::syntax(self.win.bytes(), 0, "`[`");
                    return Ok(Some(self.err(e.offset, e.kind)));
                }
                self.win.consume(1);
                self.entries(d)?;
            } else {
                let mut out = Vec::new();
                match self.scan_value(Dialect::Lenient, &mut out)? {
                    Ok(end) => self.win.consume(end),
                    Err(e) => return Ok(Some(self.err(e.offset, e.kind))),
                }
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out) {
                    let key = String::from_utf8_lossy(&name[1..name.len() - 1]).into_owned();
                    meta.insert(key, v);
                }
            }
            match self.peek()? {
                Some(b',') => self.win.consume(1),
                Some(b'}') => {
                    self.win.consume(1);
                    return Ok(None);
                }
                None => {
                    let e = self.err(
                        0,
                        ErrorKind::Truncated {
                            context: "a map object",
                        },
                    );
                    return Ok(Some(e));
                }
                Some(_) => {
                    let e = jsonish::syntax(self.win.bytes(), 0, "`,` or `}`");
                    return Ok(Some(self.err(e.offset, e.kind)));
                }
            }
        }
    }

    /// The entries of one map, from just after its `[` to just after its `]`.
    fn entries(&mut self, d: &mut Dump) -> Result<(), DumpError> {
        self.entries_until(d, usize::MAX).map(|_| ())
    }

    /// [`Self::entries`], stopping early between two entries once `d` holds `stop_at`:
    /// false then, true when the list ended (or the input did).
    fn entries_until(&mut self, d: &mut Dump, stop_at: usize) -> Result<bool, DumpError> {
        loop {
            if d.len() >= stop_at {
                return Ok(false);
            }
            let Some(c) = self.peek()? else {
                // A cut entry already said where the input stops.
                if !d.issues.last().is_some_and(DumpError::is_truncation) {
                    let e = self.err(
                        0,
                        ErrorKind::Truncated {
                            context: "the list of entries",
                        },
                    );
                    d.issue(e);
                }
                return Ok(true);
            };
            match c {
                b']' => {
                    self.win.consume(1);
                    return Ok(true);
                }
                b',' => self.win.consume(1),
                b'{' => self.entry(d)?,
                b'k' if self.mode == Mode::BtfText && self.win.bytes().starts_with(b"key:") => {
                    self.entry(d)?
                }
                _ if line_is_bpftool_message(self.win.bytes()) => self.bpftool_line(Some(d))?,
                _ => {
                    let e = jsonish::syntax(self.win.bytes(), 0, "an entry `{`");
                    let e = self.err(e.offset, e.kind);
                    d.issue(e);
                    if !self.resync(1)? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// One entry at local 0.
    fn entry(&mut self, d: &mut Dump) -> Result<(), DumpError> {
        loop {
            self.win.fill(self.win.lookahead())?;
            let mark = d.mark();
            let buf = self.win.bytes();
            let limits = &self.ctx.opts.limits;
            let parsed = match (self.mode, buf[0]) {
                (Mode::Json, _) => json_entry(buf, d, limits),
                (Mode::BtfText, b'k') => text_error_entry(buf, d),
                (Mode::BtfText, _) => btf_entry(buf, d, limits),
            };
            match parsed {
                Parsed::Entry {
                    mut rec,
                    end,
                    issue,
                } => {
                    let pos = self.win.pos(0);
                    rec.offset = pos.offset;
                    rec.line = pos.line;
                    if let Some((at, kind)) = issue {
                        let e = self.err(at, kind);
                        d.issue(e);
                    }
                    d.commit(rec, &self.ctx.opts.limits)?;
                    if d.len() == 1 && self.mode == Mode::Json {
                        self.reserve_like_first(d, end);
                    }
                    self.win.consume(end);
                    return Ok(());
                }
                Parsed::NeedMore { at } => {
                    d.rollback(mark);
                    if self.grow()? {
                        continue;
                    }
                    // A cut entry is located where the input ends: where reading stops.
                    let (at, kind) = if self.win.at_eof() {
                        let end = self.win.bytes().len();
                        (
                            end,
                            ErrorKind::Truncated {
                                context: "an entry",
                            },
                        )
                    } else {
                        let limit = self.max_window();
                        (
                            at,
                            ErrorKind::TooLarge {
                                what: "entry",
                                limit,
                            },
                        )
                    };
                    let e = self.err(at, kind);
                    d.issue(e);
                    if self.win.at_eof() {
                        return self.skip_rest();
                    }
                    self.resync(1)?;
                    return Ok(());
                }
                Parsed::Bad { at, kind, resume } => {
                    d.rollback(mark);
                    let e = self.err(at, kind);
                    d.issue(e);
                    match resume {
                        Resume::At(end) => self.win.consume(end),
                        Resume::Resync => {
                            self.resync(1)?;
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Moves to the next place where an entry seems to start, at or after local `from`,
    /// after a broken one. False (and nothing left) when there is none.
    fn resync(&mut self, from: usize) -> Result<bool, DumpError> {
        let mut from = from;
        loop {
            let buf = self.win.bytes();
            let eof = self.win.at_eof();
            let mut at = from.min(buf.len());
            while let Some(rel) = memchr::memmem::find(&buf[at..], b"\"key\"") {
                let k = at + rel;
                if !eof && buf.len() - k < 64 {
                    break; // decide once more is visible
                }
                // Walk back over blanks to the `{` that opens the entry.
                let mut b = k;
                while b > from && is_ws(buf[b - 1]) {
                    b -= 1;
                }
                let opens = b > from && buf[b - 1] == b'{';
                let value_ok = match self.mode {
                    // In `-j` output the entry's key is a hex array; a `formatted` key
                    // is not.
                    Mode::Json => {
                        let c = skip_ws(buf, k + 5);
                        buf.get(c) == Some(&b':') && buf.get(skip_ws(buf, c + 1)) == Some(&b'[')
                    }
                    Mode::BtfText => true,
                };
                if opens && value_ok {
                    self.win.consume(b - 1);
                    return Ok(true);
                }
                at = k + 5;
            }
            if eof {
                let n = buf.len();
                self.win.consume(n);
                return Ok(false);
            }
            // Keep a tail that may hold the start of an entry, read on.
            let keep = 256.min(buf.len());
            let drop = buf.len() - keep;
            self.win.consume(drop);
            from = from.saturating_sub(drop);
            let want = self.win.bytes().len() + self.win.lookahead();
            self.win.fill(want)?;
        }
    }

    /// Grows the tables once for the entries the rest of the input can hold, guessed
    /// from the first entry (instead of doubling them a dozen times).
    fn reserve_like_first(&self, d: &mut Dump, entry_len: usize) {
        let Some(total) = self.win.size_hint() else {
            return;
        };
        let rest = total.saturating_sub(self.win.base() + entry_len);
        let guess = (rest / entry_len.max(8)).min(self.limits().max_entries as usize);
        d.reserve_like_first(guess);
    }
}

// ---- entries, at local offset 0 of `buf` ----

/// A `-j`/`-p` entry: the fast path, else serde.
fn json_entry(buf: &[u8], d: &mut Dump, limits: &DumpLimits) -> Parsed {
    let mark = d.mark();
    match fast_entry(buf, d, limits) {
        Ok((rec, end)) => Parsed::Entry {
            rec,
            end,
            issue: None,
        },
        Err(Deviation) => {
            d.rollback(mark);
            serde_entry(buf, d, limits)
        }
    }
}

/// The exact shape bpftool prints, decoded in place.
fn fast_entry(
    buf: &[u8],
    d: &mut Dump,
    limits: &DumpLimits,
) -> Result<(EntryRec, usize), Deviation> {
    let limit = limits.max_value_size;
    let mut rec = EntryRec::new(Position::START);
    let mut q = skip_ws(buf, 1);
    q = expect_member(buf, q, b"\"key\"")?;
    let keys = d.keys_mut();
    keys.open();
    q = hex_array(buf, q, keys.buf(), limit)?;
    rec.key = keys.close() as u32;
    q = skip_ws(buf, q);
    if buf.get(q) != Some(&b',') {
        return Err(Deviation);
    }
    q = skip_ws(buf, q + 1);
    if let Ok(r) = expect_member(buf, q, b"\"value\"") {
        q = r;
        match buf.get(q) {
            Some(b'[') => {
                rec.value_first = u32::try_from(d.value_records()).map_err(|_| Deviation)?;
                let values = d.values_mut();
                values.open();
                q = hex_array(buf, q, values.buf(), limit)?;
                values.close();
                rec.value_count = 1;
            }
            Some(b'{') => {
                // `{"error":"No such file or directory"}`
                let r = skip_ws(buf, q + 1);
                let r = expect_member(buf, r, b"\"error\"")?;
                let (msg, r) = plain_string(buf, r)?;
                let r = skip_ws(buf, r);
                if buf.get(r) != Some(&b'}') {
                    return Err(Deviation);
                }
                let msg = std::str::from_utf8(msg).map_err(|_| Deviation)?;
                rec.message = d.intern_message(msg);
                q = r + 1;
            }
            _ => return Err(Deviation),
        }
    } else {
        q = expect_member(buf, q, b"\"values\"")?;
        if buf.get(q) != Some(&b'[') {
            return Err(Deviation);
        }
        rec.set_percpu();
        rec.value_first = u32::try_from(d.value_records()).map_err(|_| Deviation)?;
        q = skip_ws(buf, q + 1);
        if buf.get(q) == Some(&b']') {
            q += 1;
        } else {
            loop {
                if buf.get(q) != Some(&b'{') {
                    return Err(Deviation);
                }
                q = skip_ws(buf, q + 1);
                q = expect_member(buf, q, b"\"cpu\"")?;
                let digits = buf[q..].iter().take_while(|b| b.is_ascii_digit()).count();
                let cpu: u64 = std::str::from_utf8(&buf[q..q + digits])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or(Deviation)?;
                if cpu != u64::from(rec.value_count) || rec.value_count as usize >= limits.max_cpus
                {
                    return Err(Deviation);
                }
                q = skip_ws(buf, q + digits);
                if buf.get(q) != Some(&b',') {
                    return Err(Deviation);
                }
                q = skip_ws(buf, q + 1);
                q = expect_member(buf, q, b"\"value\"")?;
                let values = d.values_mut();
                values.open();
                q = hex_array(buf, q, values.buf(), limit)?;
                values.close();
                rec.value_count += 1;
                q = skip_ws(buf, q);
                if buf.get(q) != Some(&b'}') {
                    return Err(Deviation);
                }
                q = skip_ws(buf, q + 1);
                match buf.get(q) {
                    Some(b',') => q = skip_ws(buf, q + 1),
                    Some(b']') => {
                        q += 1;
                        break;
                    }
                    _ => return Err(Deviation),
                }
            }
        }
    }
    q = skip_ws(buf, q);
    if buf.get(q) == Some(&b',') {
        q = skip_ws(buf, q + 1);
        q = expect_member(buf, q, b"\"formatted\"")?;
        let sc = Scanner {
            buf,
            dialect: Dialect::Json,
            max_depth: limits.max_depth,
            max_len: limits.max_formatted_len,
        };
        let table = d.formatted_mut();
        table.open();
        q = sc.value(q, table.buf()).map_err(|_| Deviation)?;
        rec.formatted = table.close() as u32;
        q = skip_ws(buf, q);
    }
    if buf.get(q) != Some(&b'}') {
        return Err(Deviation);
    }
    Ok((rec, q + 1))
}

/// Any entry object, through serde.
fn serde_entry(buf: &[u8], d: &mut Dump, limits: &DumpLimits) -> Parsed {
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<SEntry<'_>>();
    let parsed = stream.next();
    let end = stream.byte_offset();
    let entry = match parsed {
        Some(Ok(entry)) => entry,
        Some(Err(e)) => {
            let at = serde_error_offset(buf, &e).unwrap_or(0);
            if e.is_eof() {
                return Parsed::NeedMore { at };
            }
            return Parsed::Bad {
                at,
                kind: ErrorKind::Json(serde_message(&e)),
                resume: Resume::Resync,
            };
        }
        None => return Parsed::NeedMore { at: buf.len() },
    };
    let bad = |kind| Parsed::Bad {
        at: 0,
        kind,
        resume: Resume::At(end),
    };
    let too_big = |v: &[u8]| v.len() > limits.max_value_size;
    match &entry.key {
        Some(k) if too_big(&k.0) => {
            return bad(ErrorKind::TooLarge {
                what: "key",
                limit: limits.max_value_size,
            })
        }
        Some(_) => {}
        None => {
            return bad(ErrorKind::Syntax {
                expected: "an entry with a `key`",
                found: excerpt(&buf[..end]),
            })
        }
    }
    match (&entry.value, &entry.values) {
        (Some(SValue::Bytes(v)), None) if too_big(v) => {
            return bad(ErrorKind::TooLarge {
                what: "value",
                limit: limits.max_value_size,
            })
        }
        (Some(_), None) => {}
        (None, Some(cpus)) => {
            if cpus.len() > limits.max_cpus {
                return bad(ErrorKind::TooManyCpus {
                    limit: limits.max_cpus,
                });
            }
            if cpus.iter().any(|c| too_big(&c.value.0)) {
                return bad(ErrorKind::TooLarge {
                    what: "value",
                    limit: limits.max_value_size,
                });
            }
            if let Some((i, c)) = cpus.iter().enumerate().find(|(i, c)| c.cpu != *i as u64) {
                return bad(ErrorKind::CpuOrder {
                    expected: i as u64,
                    found: c.cpu,
                });
            }
        }
        (None, None) if entry.formatted.is_some() => {}
        _ => {
            return bad(ErrorKind::Syntax {
                expected: "an entry with one of `value` or `values`",
                found: excerpt(&buf[..end]),
            })
        }
    }
    let Ok(first) = u32::try_from(d.value_records()) else {
        return bad(ErrorKind::TooManyEntries {
            limit: u32::MAX as u64,
        });
    };
    let mut rec = EntryRec::new(Position::START);
    let mut issue = None;
    if let Some(raw) = entry.formatted {
        let sc = Scanner {
            buf: raw.get().as_bytes(),
            dialect: Dialect::Json,
            max_depth: limits.max_depth,
            max_len: limits.max_formatted_len,
        };
        let table = d.formatted_mut();
        table.open();
        match sc.value(0, table.buf()) {
            Ok(_) => rec.formatted = table.close() as u32,
            Err(e) => {
                table.abort();
                let at = raw.get().as_ptr() as usize - buf.as_ptr() as usize + e.offset;
                issue = Some((at.min(end), e.kind));
            }
        }
    }
    if let Some(k) = &entry.key {
        rec.key = d.keys_mut().push(&k.0) as u32;
    }
    match (&entry.value, &entry.values) {
        (Some(SValue::Bytes(v)), _) => {
            rec.value_first = first;
            d.values_mut().push(v);
            rec.value_count = 1;
        }
        (Some(SValue::Error(msg)), _) => rec.message = d.intern_message(msg),
        (None, Some(cpus)) => {
            rec.set_percpu();
            rec.value_first = first;
            for c in cpus {
                d.values_mut().push(&c.value.0);
            }
            rec.value_count = cpus.len() as u32;
        }
        (None, None) => {}
    }
    Parsed::Entry { rec, end, issue }
}

/// An entry of the plain listing with BTF: kept as bpftool's decoded form only.
fn btf_entry(buf: &[u8], d: &mut Dump, limits: &DumpLimits) -> Parsed {
    let sc = Scanner {
        buf,
        dialect: Dialect::Lenient,
        max_depth: limits.max_depth,
        max_len: limits.max_formatted_len,
    };
    let table = d.formatted_mut();
    table.open();
    match sc.value(0, table.buf()) {
        Ok(end) => {
            let mut rec = EntryRec::new(Position::START);
            rec.formatted = table.close() as u32;
            Parsed::Entry {
                rec,
                end,
                issue: None,
            }
        }
        Err(e) => {
            table.abort();
            if e.is_truncation_at_end(buf.len()) {
                Parsed::NeedMore { at: e.offset }
            } else {
                Parsed::Bad {
                    at: e.offset,
                    kind: e.kind,
                    resume: Resume::Resync,
                }
            }
        }
    }
}

/// A lookup error bpftool printed as plain text in the middle of a BTF listing:
/// `key: 00 00 00 00  value: <no entry>` or the four-line form.
fn text_error_entry(buf: &[u8], d: &mut Dump) -> Parsed {
    let line_end = |from: usize| memchr::memchr(b'\n', &buf[from..]).map(|e| from + e);
    let Some(first_end) = line_end(0) else {
        return Parsed::NeedMore { at: buf.len() };
    };
    let first = buf[4..first_end].trim_ascii();
    let keys = d.keys_mut();
    keys.open();
    let bad = |at: usize, expected: &'static str, resume: usize| Parsed::Bad {
        at,
        kind: ErrorKind::Syntax {
            expected,
            found: excerpt(&buf[at..]),
        },
        resume: Resume::At(resume),
    };
    let (msg, end) = if first.is_empty() {
        // key:\n<hex lines>\nvalue:\n<message>
        let mut q = first_end + 1;
        loop {
            let Some(e) = line_end(q) else {
                return Parsed::NeedMore { at: buf.len() };
            };
            let line = buf[q..e].trim_ascii();
            if line.starts_with(b"value:") {
                let Some(m) = line_end(e + 1) else {
                    return Parsed::NeedMore { at: buf.len() };
                };
                break (buf[e + 1..m].trim_ascii(), m + 1);
            }
            if !is_hex_like_line(line) || decode_hex_line(line, keys.buf()).is_err() {
                keys.abort();
                return bad(q, "a `value:` line", e + 1);
            }
            q = e + 1;
        }
    } else {
        let Some(at) = memchr::memmem::find(first, b"value:") else {
            keys.abort();
            return bad(0, "`value:`", first_end + 1);
        };
        if decode_hex_line(&first[..at], keys.buf()).is_err() {
            keys.abort();
            return bad(0, "hex key bytes", first_end + 1);
        }
        (first[at + 6..].trim_ascii(), first_end + 1)
    };
    let mut rec = EntryRec::new(Position::START);
    rec.key = keys.close() as u32;
    let msg = String::from_utf8_lossy(msg);
    rec.message = d.intern_message(&msg);
    Parsed::Entry {
        rec,
        end,
        issue: None,
    }
}

impl ScanError {
    fn is_truncation_at_end(&self, len: usize) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. }) && self.offset >= len
    }
}

fn line_is_bpftool_message(rest: &[u8]) -> bool {
    rest.starts_with(b"Error:") || rest.starts_with(b"Warning:")
}

/// Whether the object at `p` is a map of a multi-map dump (its first member is one of
/// the map header's) rather than an entry.
fn is_map_object(buf: &[u8], p: usize) -> bool {
    let q = skip_ws(buf, p + 1);
    let rest = &buf[q..];
    [
        &b"\"id\""[..],
        b"\"type\"",
        b"\"name\"",
        b"\"flags\"",
        b"\"elements\"",
    ]
    .iter()
    .any(|m| rest.starts_with(m))
}

/// `"name"` then `:`; returns the offset of the value.
#[inline]
fn expect_member(buf: &[u8], q: usize, name: &[u8]) -> Result<usize, Deviation> {
    if !buf[q.min(buf.len())..].starts_with(name) {
        return Err(Deviation);
    }
    let r = skip_ws(buf, q + name.len());
    if buf.get(r) != Some(&b':') {
        return Err(Deviation);
    }
    Ok(skip_ws(buf, r + 1))
}

/// A string without escapes; returns its content and the offset after it.
fn plain_string(buf: &[u8], q: usize) -> Result<(&[u8], usize), Deviation> {
    if buf.get(q) != Some(&b'"') {
        return Err(Deviation);
    }
    let rel = memchr::memchr2(b'"', b'\\', &buf[q + 1..]).ok_or(Deviation)?;
    let end = q + 1 + rel;
    if buf[end] != b'"' || buf[q + 1..end].iter().any(|&c| c < 0x20) {
        return Err(Deviation);
    }
    Ok((&buf[q + 1..end], end + 1))
}

/// `["0x01","0x00",...]` (with `-p` blanks before `]`) decoded into `out`.
#[inline]
fn hex_array(buf: &[u8], q: usize, out: &mut Vec<u8>, limit: usize) -> Result<usize, Deviation> {
    if buf.get(q) != Some(&b'[') {
        return Err(Deviation);
    }
    let start_len = out.len();
    let mut p = skip_ws(buf, q + 1);
    if buf.get(p) == Some(&b']') {
        return Ok(p + 1);
    }
    loop {
        // The common case, `"0xHH",`, checked as one little-endian word.
        while let Some(Ok(word)) = buf.get(p..p + 8).map(<[u8; 8]>::try_from) {
            let w = u64::from_le_bytes(word);
            if w & 0x00ff_ff00_00ff_ffff != 0x002c_2200_0078_3022 {
                break;
            }
            out.push(byte2(word[3], word[4]).ok_or(Deviation)?);
            p += 7;
            if out.len() - start_len > limit {
                return Err(Deviation);
            }
        }
        let Some(&[b'"', b'0', b'x', h, l, b'"', sep]) = buf.get(p..p + 7) else {
            return Err(Deviation);
        };
        out.push(byte2(h, l).ok_or(Deviation)?);
        p += 7;
        match sep {
            b',' => {
                if out.len() - start_len > limit {
                    return Err(Deviation);
                }
                if buf.get(p) != Some(&b'"') {
                    p = skip_ws(buf, p);
                }
            }
            b']' => return Ok(p),
            _ if is_ws(sep) => {
                p = skip_ws(buf, p);
                match buf.get(p) {
                    Some(b']') => return Ok(p + 1),
                    Some(b',') => p = skip_ws(buf, p + 1),
                    _ => return Err(Deviation),
                }
            }
            _ => return Err(Deviation),
        }
    }
}

/// Byte offset, in `slice`, of a serde_json error's line and column.
fn serde_error_offset(slice: &[u8], e: &serde_json::Error) -> Option<usize> {
    let line = e.line();
    if line == 0 {
        return None;
    }
    let mut start = 0usize;
    for _ in 1..line {
        start += memchr::memchr(b'\n', &slice[start..])? + 1;
    }
    Some((start + e.column().saturating_sub(1)).min(slice.len()))
}

/// serde_json's message without its ` at line L column C` (positions are ours).
fn serde_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

// ---- serde types of the fallback path ----

#[derive(Deserialize)]
struct SEntry<'a> {
    #[serde(default)]
    key: Option<HexBytes>,
    #[serde(default, borrow)]
    value: Option<SValue<'a>>,
    #[serde(default)]
    values: Option<Vec<SCpu>>,
    #[serde(default, borrow)]
    formatted: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SCpu {
    cpu: u64,
    value: HexBytes,
}

/// An array of hex-string bytes, decoded as it is read (borrowed strings, no tree).
struct HexBytes(Vec<u8>);

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(HexBytesVisitor)
    }
}

struct HexBytesVisitor;

impl<'de> Visitor<'de> for HexBytesVisitor {
    type Value = HexBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of hex byte strings like \"0x0a\"")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HexBytes, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(HexByte(b)) = seq.next_element()? {
            out.push(b);
        }
        Ok(HexBytes(out))
    }
}

struct HexByte(u8);

impl<'de> Deserialize<'de> for HexByte {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HexByte;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex byte string like \"0x0a\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HexByte, E> {
                parse_hex_str(s.as_bytes())
                    .map(HexByte)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<HexByte, E> {
                u8::try_from(n)
                    .map(HexByte)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// `"value"`: hex bytes, or `{"error": "..."}`.
enum SValue<'a> {
    Bytes(Vec<u8>),
    Error(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for SValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = SValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("hex byte strings or an {\"error\": ...} object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SValue<'a>, A::Error> {
                HexBytesVisitor.visit_seq(seq).map(|b| SValue::Bytes(b.0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SValue<'a>, A::Error> {
                let mut error: Option<Cow<'a, str>> = None;
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    if k == "error" {
                        error = Some(map.next_value::<CowStr<'a>>()?.0);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                error
                    .map(SValue::Error)
                    .ok_or_else(|| de::Error::missing_field("error"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A string, borrowed when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<CowStr<'a>, E> {
                Ok(CowStr(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_arrays() {
        let mut out = Vec::new();
        let s = br#"["0x01","0x0a","0xff"],"#;
        assert_eq!(hex_array(s, 0, &mut out, 100).ok(), Some(22));
        assert_eq!(out, [1, 10, 255]);
        out.clear();
        let s = b"[\"0x01\",\"0x02\"\n        ],";
        assert_eq!(hex_array(s, 0, &mut out, 100).ok(), Some(24));
        assert_eq!(out, [1, 2]);
        out.clear();
        assert!(hex_array(b"[]", 0, &mut out, 100).is_ok());
        assert!(hex_array(br#"["0x1"]"#, 0, &mut out, 100).is_err());
        assert!(hex_array(br#"["0x01""#, 0, &mut out, 100).is_err());
        assert!(hex_array(br#"["0x01","#, 0, &mut out, 100).is_err());
    }

    #[test]
    fn serde_offsets() {
        let s = b"{\n  \"key\": [1,\n  x]}";
        let e = serde_json::from_slice::<serde_json::Value>(s).unwrap_err();
        assert_eq!(serde_error_offset(s, &e), Some(17));
    }
}
