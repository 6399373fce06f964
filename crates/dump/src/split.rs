//! One big `bpftool -j` dump of one map, read by two threads (issue 13): reading the
//! text was one core's work while the other waited. The input is cut at an entry
//! boundary near its middle; this thread reads the first half as the whole input would
//! be read (it then stops, cut short, at the boundary), another reads the entries of
//! the second half, and the two dumps are joined.
//!
//! The cut is a guess from a few bytes, so nothing is taken on trust: the halves are
//! joined only when the first stops exactly at the cut, with nothing wrong but that,
//! and the second reads from the cut to its array's `]` or to the end of the input
//! with the same key, value and CPU sizes (its issues, a cut-short end among them,
//! are then the ones one pass would have met there). Anything else (a cut inside an
//! entry, several maps, a problem in the first half, a fatal error) returns `None`,
//! and the input is read in one pass as before. So the dumps are the same either way;
//! only the time differs.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::error::{DumpError, ErrorKind};
use crate::json;
use crate::model::Dump;
use crate::prefetch::{Prefetch, MIN_PREFETCH};
use crate::window::Window;

/// Inputs shorter than this are read in one pass, unless the options say otherwise.
const MIN_SPLIT: usize = 32 << 20;
/// Entries of the second half read into one part (about 130 bytes each for a 32-byte
/// value with its `formatted`): joining needs room for one part on top of the dump.
const PART_LEN: usize = 1 << 16;
/// How far past the middle the cut is looked for.
const SEARCH: usize = 1 << 20;

/// An input that can be read from any offset.
#[derive(Clone, Copy)]
pub(crate) enum Whole<'a> {
    File(&'a File, usize),
    Slice(&'a [u8]),
}

impl Whole<'_> {
    fn len(&self) -> usize {
        match *self {
            Whole::File(_, len) => len,
            Whole::Slice(s) => s.len(),
        }
    }

    fn bytes_at(&self, at: usize, len: usize) -> Option<Vec<u8>> {
        match *self {
            Whole::Slice(s) => s
                .get(at..s.len().min(at.saturating_add(len)))
                .map(<[u8]>::to_vec),
            Whole::File(f, _) => {
                let mut buf = Vec::new();
                Range::new(f, at, at.saturating_add(len))
                    .ok()?
                    .read_to_end(&mut buf)
                    .ok()?;
                Some(buf)
            }
        }
    }

    /// A window over `start..end`, with absolute offsets.
    fn window(&self, start: usize, end: usize, name: &Arc<str>) -> Option<Window<'_>> {
        match *self {
            Whole::Slice(s) => {
                let win = Window::from_slice(s.get(..end)?, Arc::clone(name));
                Some(win.starting_at(start))
            }
            Whole::File(f, _) => {
                let range = Range::new(f, start, end).ok()?;
                let win = if end - start >= MIN_PREFETCH {
                    Window::from_reader(Prefetch::new(range), Arc::clone(name), Some(end))
                } else {
                    Window::from_reader(range, Arc::clone(name), Some(end))
                };
                Some(win.starting_at(start))
            }
        }
    }
}

/// Bytes `start..end` of a file, read with `pread` (its own offset, not the file's).
struct Range {
    file: File,
    at: u64,
    end: u64,
}

impl Range {
    fn new(file: &File, start: usize, end: usize) -> io::Result<Range> {
        Ok(Range {
            file: file.try_clone()?,
            at: start as u64,
            end: end as u64,
        })
    }
}

impl Read for Range {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let n = out.len().min(left);
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut out[..n], self.at)?;
        self.at += got as u64;
        Ok(got)
    }
}

/// Whether to read this `-j` input in halves: it is long enough, threads allow, and
/// `head` (its first bytes) opens an array of entries.
pub(crate) fn worth_it(ctx: &Ctx<'_>, whole: Whole<'_>, head: &[u8]) -> bool {
    let threads = match ctx.opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    threads >= 2
        && whole.len() >= ctx.opts.split_min_len.unwrap_or(MIN_SPLIT)
        && opens_entry_array(head)
}

/// The dumps of a `-j` input: read in halves, else in one pass from the start.
pub(crate) fn read_whole(ctx: &Ctx<'_>, whole: Whole<'_>) -> Result<Vec<Dump>, DumpError> {
    if let Some(dumps) = read(ctx, whole) {
        return Ok(dumps);
    }
    let Some(mut win) = whole.window(0, whole.len(), &ctx.file) else {
        let e = io::Error::other("cannot open the input again");
        return Err(DumpError::new(&ctx.file, None, ErrorKind::Io(e)));
    };
    json::read(ctx, &mut win, json::Mode::Json)
}

/// The dumps of a `-j` input read in two halves, or `None`: read it in one pass.
pub(crate) fn read(ctx: &Ctx<'_>, whole: Whole<'_>) -> Option<Vec<Dump>> {
    let len = whole.len();
    let cut = find_cut(&whole.bytes_at(len / 2, SEARCH)?)? + len / 2;
    let (head, tail) = std::thread::scope(|s| {
        let tail = s.spawn(|| read_tail(ctx, whole, cut));
        let head = read_head(ctx, whole, cut);
        (head, tail.join().ok().flatten())
    });
    join(ctx, head?, tail?, cut)
}

/// The first half, read as the whole input is: it ends cut short at `cut`. The dumps,
/// and the line the cut is on.
fn read_head(ctx: &Ctx<'_>, whole: Whole<'_>, cut: usize) -> Option<(Vec<Dump>, u64)> {
    let mut win = whole.window(0, cut, &ctx.file)?;
    let dumps = json::read(ctx, &mut win, json::Mode::Json).ok()?;
    let at = win.pos(0);
    (at.offset == cut as u64).then_some((dumps, at.line))
}

fn read_tail(ctx: &Ctx<'_>, whole: Whole<'_>, cut: usize) -> Option<Vec<Dump>> {
    let mut win = whole.window(cut, whole.len(), &ctx.file)?;
    let part_len = ctx.opts.split_part_len.unwrap_or(PART_LEN);
    json::read_tail_entries(ctx, &mut win, part_len)
        .ok()
        .flatten()
}

/// The halves as one dump, when the head is one map's entries cut short exactly at
/// `cut` and nothing else is wrong with it.
fn join(ctx: &Ctx<'_>, head: (Vec<Dump>, u64), tail: Vec<Dump>, cut: usize) -> Option<Vec<Dump>> {
    let (mut dumps, line) = head;
    let [d] = dumps.as_mut_slice() else {
        return None;
    };
    let cut_short = |e: &crate::DumpError| {
        matches!(e.kind, ErrorKind::Truncated { context } if context == "the list of entries")
            && e.pos.is_some_and(|p| p.offset == cut as u64)
    };
    if d.issues.len() != 1 || d.issues_dropped > 0 || !cut_short(&d.issues[0]) {
        return None;
    }
    d.issues.clear();
    // Each part is freed once copied: joining takes room for one part at a time.
    for part in tail {
        if !d.append(part, line.saturating_sub(1), &ctx.opts.limits) {
            return None;
        }
    }
    d.finish();
    Some(dumps)
}

/// True when the input (its first bytes) opens a top-level array of entries, the one
/// shape a cut can work for (not several maps, not bpftool's error object).
pub(crate) fn opens_entry_array(head: &[u8]) -> bool {
    let mut rest = head.trim_ascii_start();
    rest = rest
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(rest)
        .trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"[") else {
        return false;
    };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"{") else {
        return false;
    };
    rest.trim_ascii_start().starts_with(b"\"key\"")
}

/// Where an entry of a top-level array starts in `buf`: the `{` of `}, {"key": [`
/// (blanks allowed, as `-p` prints them). A guess that the readers then prove.
pub(crate) fn find_cut(buf: &[u8]) -> Option<usize> {
    let ws = |b: &u8| b.is_ascii_whitespace();
    let mut from = 0;
    while let Some(rel) = memchr::memmem::find(&buf[from..], b"\"key\"") {
        let k = from + rel;
        from = k + 5;
        let before = &buf[..k];
        let Some(open) = before.iter().rposition(|b| !ws(b)) else {
            continue;
        };
        let Some(comma) = before[..open].iter().rposition(|b| !ws(b)) else {
            continue;
        };
        let Some(close) = before[..comma].iter().rposition(|b| !ws(b)) else {
            continue;
        };
        let after = &buf[from..];
        let colon = after.iter().position(|b| !ws(b));
        let bracket = colon.and_then(|c| {
            after[c + 1..]
                .iter()
                .position(|b| !ws(b))
                .map(|b| c + 1 + b)
        });
        let shape = (buf[open], buf[comma], buf[close]) == (b'{', b',', b'}')
            && colon.map(|c| after[c]) == Some(b':')
            && bracket.map(|b| after[b]) == Some(b'[');
        if shape {
            return Some(open);
        }
    }
    None
}
