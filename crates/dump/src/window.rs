//! A sliding window over the input, so that a file is read in chunks (bounded memory,
//! no page-faulting the whole file in) and a slice is read in place (no copy), through
//! one interface. It also numbers lines. A capture file is the exception: its digest
//! covers every byte, so it is read to the end and taken whole ([`Window::into_bytes`]).
//!
//! Readers work on `bytes()` with offsets local to it, `consume` what they are done
//! with at entry boundaries, and `fill` to see further. Positions are asked for only
//! at or after the start of the window.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use crate::error::{DumpError, ErrorKind, Position};

/// What a read asks for at least, and reads at a time.
const CHUNK: usize = 4 << 20;
/// Bytes kept visible ahead of the current entry: more than any ordinary entry.
const LOOKAHEAD: usize = 256 << 10;

pub(crate) struct Window<'a> {
    reader: Option<Box<dyn Read + 'a>>,
    /// Slice mode: the whole input.
    slice: &'a [u8],
    /// Reader mode: `buf[start..filled]` is the window.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
    /// Absolute offset of the window's first byte.
    base: usize,
    /// Line number at `base`.
    base_line: u64,
    /// Line-numbering cache: `at_line` is the line of absolute offset `at`, and there is
    /// no newline in `at..no_newline_until`.
    at: usize,
    at_line: u64,
    no_newline_until: usize,
    file: Arc<str>,
    size_hint: Option<usize>,
    chunk: usize,
    lookahead: usize,
}

impl<'a> Window<'a> {
    pub fn from_slice(slice: &'a [u8], file: Arc<str>) -> Self {
        Window {
            reader: None,
            slice,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            eof: true,
            base: 0,
            base_line: 1,
            at: 0,
            at_line: 1,
            no_newline_until: 0,
            file,
            size_hint: Some(slice.len()),
            chunk: CHUNK,
            lookahead: LOOKAHEAD,
        }
    }

    /// `size_hint`: the input's length when known (a file's), to size tables once.
    pub fn from_reader(reader: impl Read + 'a, file: Arc<str>, size_hint: Option<usize>) -> Self {
        Window {
            reader: Some(Box::new(reader)),
            eof: false,
            size_hint,
            ..Window::from_slice(&[], file)
        }
    }

    /// A window whose first byte is at absolute offset `base` of the input: the reader
    /// starts there, or the slice is the input from 0 (it is indexed absolutely). Lines
    /// count from 1 again there; the caller shifts them once it knows the line at
    /// `base` (the second half of a split dump).
    pub fn starting_at(mut self, base: usize) -> Self {
        self.base = base;
        self.at = base;
        self.no_newline_until = base;
        self
    }

    /// Tiny windows, to test reading across window boundaries.
    #[cfg(any(test, fuzzing))]
    pub fn with_sizes(mut self, chunk: usize, lookahead: usize) -> Self {
        self.chunk = chunk.max(1);
        self.lookahead = lookahead.max(1);
        self
    }

    /// How much readers keep visible ahead of where they are.
    pub fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// How much to read at a time.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// The input's total length, when known.
    pub fn size_hint(&self) -> Option<usize> {
        self.size_hint
    }

    /// The bytes of the window.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        if self.reader.is_none() {
            &self.slice[self.base.min(self.slice.len())..]
        } else {
            &self.buf[self.start..self.filled]
        }
    }

    /// Absolute offset of `bytes()[0]`.
    #[inline]
    pub fn base(&self) -> usize {
        self.base
    }

    /// True when `bytes()` runs to the end of the input.
    #[inline]
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// The window's bytes, without a copy: borrowed from a slice, or the reader's
    /// buffer itself.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        if self.reader.is_none() {
            return Cow::Borrowed(&self.slice[self.base.min(self.slice.len())..]);
        }
        let mut buf = self.buf;
        buf.truncate(self.filled);
        buf.drain(..self.start);
        Cow::Owned(buf)
    }

    /// Drops the first `n` bytes of the window.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes().len());
        if n == 0 {
            return;
        }
        let line = self.pos(n).line;
        self.base += n;
        self.base_line = line;
        if self.reader.is_some() {
            self.start += n;
        }
    }

    /// Makes `bytes()` at least `want` long, unless the input ends first.
    pub fn fill(&mut self, want: usize) -> Result<(), DumpError> {
        if self.eof || self.bytes().len() >= want {
            return Ok(());
        }
        let Some(reader) = self.reader.as_mut() else {
            return Ok(());
        };
        // Move the window to the front, and make room.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        let mut need = want.max(self.filled + self.chunk);
        if let Some(total) = self.size_hint {
            // No bigger than the rest of the input (+1 to see its end).
            let rest = total.saturating_sub(self.base) + 1;
            need = need.min(rest.max(want));
        }
        if self.buf.len() < need {
            if self.buf.is_empty() {
                self.buf = vec![0; need];
            } else {
                self.buf.resize(need, 0);
            }
        }
        while self.filled < want {
            if self.filled == self.buf.len() {
                let len = self.buf.len() + self.chunk;
                self.buf.resize(len, 0);
            }
            match reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let pos = Position::new(0, (self.base + self.filled - self.start) as u64);
                    let pos = Position {
                        line: self.line_hint(),
                        ..pos
                    };
                    return Err(DumpError::new(&self.file, Some(pos), ErrorKind::Io(e)));
                }
            }
        }
        Ok(())
    }

    fn line_hint(&self) -> u64 {
        self.at_line.max(self.base_line)
    }

    /// Position of a local offset (clamped to the window).
    pub fn pos(&mut self, local: usize) -> Position {
        let bytes_len = self.bytes().len();
        let abs = self.base + local.min(bytes_len);
        if abs < self.at || self.at < self.base {
            // Backwards (rare: errors only): count again from the window start.
            self.at = self.base;
            self.at_line = self.base_line;
            self.no_newline_until = self.base;
        }
        if abs <= self.no_newline_until {
            self.at = abs;
            return Position::new(self.at_line, abs as u64);
        }
        let base = self.base;
        let from = self.no_newline_until.max(self.at);
        let bytes = if self.reader.is_none() {
            &self.slice[base.min(self.slice.len())..]
        } else {
            &self.buf[self.start..self.filled]
        };
        let newlines = memchr::memchr_iter(b'\n', &bytes[from - base..abs - base]).count();
        self.at_line += newlines as u64;
        self.at = abs;
        // Remember how far the line goes, so that the next positions on it are free.
        self.no_newline_until = match memchr::memchr(b'\n', &bytes[abs - base..]) {
            Some(i) => abs + i,
            None => base + bytes.len(),
        };
        Position::new(self.at_line, abs as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most 3 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(3);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn slice_and_reader_agree() {
        let input = b"ab\ncd\n\nefgh\nij";
        let mut a = Window::from_slice(input, "s".into());
        let mut b = Window::from_reader(Trickle(input), "r".into(), None);
        b.fill(4).unwrap();
        assert!(b.bytes().len() >= 4);
        assert_eq!(a.pos(4), Position::new(2, 4));
        assert_eq!(b.pos(4), Position::new(2, 4));
        a.consume(3);
        b.consume(3);
        b.fill(100).unwrap();
        assert!(b.at_eof());
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.pos(0), Position::new(2, 3));
        assert_eq!(b.pos(5), Position::new(4, 8));
        assert_eq!(b.pos(1), Position::new(2, 4));
        assert_eq!(a.pos(100), Position::new(5, 14));
        a.consume(9);
        assert_eq!(a.bytes(), b"ij");
        assert_eq!(a.pos(0), Position::new(5, 12));
    }
}
