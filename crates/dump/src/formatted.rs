//! bpftool's `formatted` text, stored compactly (issue 13: it was two thirds of a
//! 10M-entry dump's memory).
//!
//! Every entry of a map prints the same keys and nesting, so a record keeps only its
//! scalar tokens, and the rest (the *skeleton*: punctuation and member names, with
//! `\x01` where a token goes) is stored once per dump. Canonical integers are stored as
//! varints. Record layout: a varint, 0 for text kept as it is (whatever the encoder
//! does not expect), else 1 + the skeleton's index; then the tokens, each
//! `\x02 varint` (an integer ≥ 0), `\x03 varint` (its negation), or the token's text
//! (first byte ≥ 0x20) ended by `\x00`. Valid JSON holds no control bytes, so none of
//! these markers can be confused with text.

use std::collections::HashMap;

use crate::table::ByteTable;

/// Skeletons kept per dump; entries of further shapes keep their text whole.
const MAX_SKELETONS: usize = 256;
const HOLE: u8 = 0x01;
const UINT: u8 = 0x02;
const NEG: u8 = 0x03;
const END: u8 = 0x00;

#[derive(Debug, Default)]
pub(crate) struct FormattedTable {
    records: ByteTable,
    skeletons: Vec<Box<[u8]>>,
    by_skeleton: HashMap<Box<[u8]>, u32>,
    /// The skeleton of the previous record: almost always the next one's too.
    last: Option<u32>,
    skeleton: Vec<u8>,
    tokens: Vec<u8>,
}

impl FormattedTable {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Opens a record; its text goes in [`Self::buf`], then [`Self::close`] or
    /// [`Self::abort`].
    pub fn open(&mut self) {
        self.records.open();
    }

    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.records.buf()
    }

    pub fn abort(&mut self) {
        self.records.abort();
    }

    /// Encodes the open record's text and closes it; returns its index.
    pub fn close(&mut self) -> usize {
        let start = self.records.buf().len() - self.records.open_len();
        self.skeleton.clear();
        self.tokens.clear();
        let text = &self.records.buf()[start..];
        let id = if split(text, &mut self.skeleton, &mut self.tokens) {
            self.skeleton_id()
        } else {
            None
        };
        if let Some(id) = id {
            let data = self.records.buf();
            data.truncate(start);
            put_varint(data, u64::from(id) + 1);
            data.extend_from_slice(&self.tokens);
        } else {
            let data = self.records.buf();
            data.insert(start, 0);
        }
        self.records.close()
    }

    fn skeleton_id(&mut self) -> Option<u32> {
        if let Some(id) = self.last {
            if self.skeletons.get(id as usize).map(|s| &**s) == Some(&self.skeleton[..]) {
                return Some(id);
            }
        }
        let id = match self.by_skeleton.get(&self.skeleton[..]) {
            Some(&id) => id,
            None if self.skeletons.len() < MAX_SKELETONS => {
                let id = self.skeletons.len() as u32;
                let sk: Box<[u8]> = self.skeleton.as_slice().into();
                self.skeletons.push(sk.clone());
                self.by_skeleton.insert(sk, id);
                id
            }
            None => return None,
        };
        self.last = Some(id);
        Some(id)
    }

    /// The text of record `i`: borrowed when it was kept whole, else rebuilt in `scratch`.
    pub fn get<'s>(&'s self, i: usize, scratch: &'s mut String) -> Option<&'s str> {
        let rec = self.records.get(i)?;
        let (tag, rest) = get_varint(rec)?;
        if tag == 0 {
            return std::str::from_utf8(rest).ok();
        }
        let skeleton = self.skeletons.get(usize::try_from(tag - 1).ok()?)?;
        let mut out = std::mem::take(scratch).into_bytes();
        out.clear();
        join(skeleton, rest, &mut out)?;
        *scratch = String::from_utf8(out).ok()?;
        Some(scratch.as_str())
    }

    /// The scalar tokens of record `i` in text order, with its skeleton's index; `None`
    /// when the record was kept as text. Two records of one skeleton differ only in
    /// their tokens, so a reader can learn a shape once and then walk tokens alone.
    pub fn tokens(&self, i: usize) -> Option<(u32, FormattedTokens<'_>)> {
        let rec = self.records.get(i)?;
        let (tag, rest) = get_varint(rec)?;
        let skeleton = u32::try_from(tag.checked_sub(1)?).ok()?;
        Some((skeleton, FormattedTokens { rest }))
    }

    pub fn truncate(&mut self, len: usize) {
        self.records.truncate(len);
    }

    pub fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        self.skeleton = Vec::new();
        self.tokens = Vec::new();
    }

    /// Bytes record `i` takes, encoded.
    pub fn record_len(&self, i: usize) -> usize {
        self.records.get(i).map_or(0, <[u8]>::len)
    }

    pub fn reserve(&mut self, bytes: usize) {
        self.records.reserve(bytes);
    }

    pub fn heap_bytes(&self) -> usize {
        self.records.heap_bytes() + self.skeletons.iter().map(|s| 2 * s.len()).sum::<usize>()
    }
}

/// One scalar of bpftool's `formatted` text, in the order the record writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormattedToken<'a> {
    /// A non-negative integer, written in the canonical way (no sign, no leading zero).
    Uint(u64),
    /// A negative integer, `-` then the canonical digits of this magnitude.
    Neg(u64),
    /// Any other scalar as its JSON text: a string with its quotes, a float, `true`...
    Text(&'a str),
}

impl FormattedToken<'_> {
    /// The token's JSON text, as it was in the dump.
    pub fn write_to(&self, out: &mut String) {
        let mut bytes = std::mem::take(out).into_bytes();
        match *self {
            FormattedToken::Uint(v) => put_decimal(&mut bytes, v),
            FormattedToken::Neg(v) => {
                bytes.push(b'-');
                put_decimal(&mut bytes, v);
            }
            FormattedToken::Text(t) => bytes.extend_from_slice(t.as_bytes()),
        }
        // Only ASCII digits or text that was a `str` were added.
        *out = String::from_utf8(bytes).unwrap_or_default();
    }
}

/// The tokens of one record, in order; stops early on damaged bytes.
#[derive(Clone, Debug)]
pub struct FormattedTokens<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FormattedTokens<'a> {
    type Item = FormattedToken<'a>;

    fn next(&mut self) -> Option<FormattedToken<'a>> {
        let (&marker, after) = self.rest.split_first()?;
        let (token, rest) = match marker {
            UINT | NEG => {
                let (v, rest) = get_varint(after)?;
                let t = if marker == UINT {
                    FormattedToken::Uint(v)
                } else {
                    FormattedToken::Neg(v)
                };
                (t, rest)
            }
            _ => {
                let end = memchr::memchr(END, self.rest)?;
                let text = std::str::from_utf8(&self.rest[..end]).ok()?;
                (FormattedToken::Text(text), &self.rest[end + 1..])
            }
        };
        self.rest = rest;
        Some(token)
    }
}

/// Byte classes for [`split`]: punctuation and blanks go to the skeleton as they are.
const PUNCT: u8 = 1;
const CONTROL: u8 = 2;
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = CONTROL;
        i += 1;
    }
    let punct = b"{}[]:, \t\n\r";
    let mut j = 0;
    while j < punct.len() {
        t[punct[j] as usize] = PUNCT;
        j += 1;
    }
    t
};

/// Splits compact JSON text into its skeleton and tokens; false for text it does not
/// expect (control bytes, an unterminated string, invalid UTF-8), which is then kept
/// whole.
fn split(text: &[u8], skeleton: &mut Vec<u8>, tokens: &mut Vec<u8>) -> bool {
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        match (b, CLASS[b as usize]) {
            (_, PUNCT) => {
                skeleton.push(b);
                i += 1;
            }
            (_, CONTROL) => return false,
            (b'"', _) => {
                let Some(end) = string_end(text, i) else {
                    return false;
                };
                if text[i..end].iter().any(|&c| c < 0x20) {
                    return false;
                }
                let next = text[end..].iter().find(|c| !c.is_ascii_whitespace());
                if next == Some(&b':') {
                    // A member name: the same in every entry.
                    skeleton.extend_from_slice(&text[i..end]);
                } else {
                    skeleton.push(HOLE);
                    tokens.extend_from_slice(&text[i..end]);
                    tokens.push(END);
                }
                i = end;
            }
            _ => {
                let end = text[i..]
                    .iter()
                    .position(|&c| CLASS[c as usize] != 0 || c == b'"')
                    .map_or(text.len(), |p| i + p);
                skeleton.push(HOLE);
                put_token(tokens, &text[i..end]);
                i = end;
            }
        }
    }
    std::str::from_utf8(text).is_ok()
}

/// The offset just past the string that starts at `at`.
fn string_end(text: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', &text[i..])?;
        if text[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
        if i > text.len() {
            return None;
        }
    }
}

/// A bare token: a varint when it is an integer written the one way we write it back.
fn put_token(tokens: &mut Vec<u8>, tok: &[u8]) {
    let (marker, digits) = match tok.strip_prefix(b"-") {
        Some(d) => (NEG, d),
        None => (UINT, tok),
    };
    let canonical = !digits.is_empty()
        && digits.len() <= 20
        && (digits[0] != b'0' || (digits.len() == 1 && marker == UINT));
    let value = if canonical { parse_u64(digits) } else { None };
    match value {
        Some(v) => {
            tokens.push(marker);
            put_varint(tokens, v);
        }
        None => {
            tokens.extend_from_slice(tok);
            tokens.push(END);
        }
    }
}

/// Writes the skeleton with its holes filled from `tokens`.
fn join(skeleton: &[u8], mut tokens: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.reserve(skeleton.len() + tokens.len() * 2);
    for &b in skeleton {
        if b != HOLE {
            out.push(b);
            continue;
        }
        let (&marker, rest) = tokens.split_first()?;
        tokens = match marker {
            UINT | NEG => {
                let (v, rest) = get_varint(rest)?;
                if marker == NEG {
                    out.push(b'-');
                }
                put_decimal(out, v);
                rest
            }
            _ => {
                let end = memchr::memchr(END, tokens)?;
                out.extend_from_slice(&tokens[..end]);
                &tokens[end + 1..]
            }
        };
    }
    Some(())
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |v, &d| {
        if d.is_ascii_digit() {
            v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

fn put_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    loop {
        n -= 1;
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[n..]);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(texts: &[&str]) -> FormattedTable {
        let mut t = FormattedTable::default();
        for text in texts {
            t.open();
            t.buf().extend_from_slice(text.as_bytes());
            t.close();
        }
        let mut scratch = String::new();
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(t.get(i, &mut scratch), Some(*text), "record {i}");
        }
        t
    }

    #[test]
    fn texts_come_back_byte_for_byte() {
        let t = round_trip(&[
            r#"{"key":393762,"value":{"runtime_ns":463944647716,"pid":393757,"state":"PS_SLEEPING","comm":"kworker/2:11"}}"#,
            r#"{"key":0,"value":{"runtime_ns":18446744073709551615,"pid":-1,"state":"7","comm":""}}"#,
            r#"{"key":5,"value":{"a":-0,"b":007,"c":1.5e3,"d":true,"e":null,"f":"x\"y:","g":[1,2,{"h":"\\"}]}}"#,
            r#"{"key":1,"values":[{"cpu":0,"value":184467440737095516150},{"cpu":1,"value":-9}]}"#,
            "{ \"key\" : 1 , \"value\" : [ 0x5 ] }",
            "[]",
            "",
        ]);
        assert!(t.skeletons.len() >= 3);
    }

    #[test]
    fn one_skeleton_per_shape_and_tokens_only_per_entry() {
        let a = r#"{"key":393762,"value":{"runtime_ns":463944647716,"pid":393757,"state":"PS_SLEEPING","comm":"kworker/2:11"}}"#;
        let b = r#"{"key":1,"value":{"runtime_ns":2,"pid":3,"state":"PS_RUNNING","comm":"sh"}}"#;
        let t = round_trip(&[a, b, a]);
        assert_eq!(t.skeletons.len(), 1);
        let first = t.records.get(0).map_or(0, <[u8]>::len);
        assert!(first * 2 < a.len(), "{first} bytes for {}", a.len());
    }

    #[test]
    fn tokens_are_the_scalars_in_order() {
        let a = r#"{"key":7,"value":{"n":-12,"s":"a\"b","f":1.5,"z":0,"e":007}}"#;
        let t = round_trip(&[a, "{\"key\":\"open"]);
        let (skeleton, tokens) = t.tokens(0).unwrap();
        assert_eq!(skeleton, 0);
        let toks: Vec<_> = tokens.collect();
        use FormattedToken::*;
        assert_eq!(
            toks,
            [
                Uint(7),
                Neg(12),
                Text(r#""a\"b""#),
                Text("1.5"),
                Uint(0),
                Text("007")
            ]
        );
        let mut texts = String::new();
        for tok in toks {
            tok.write_to(&mut texts);
            texts.push(' ');
        }
        assert_eq!(texts, r#"7 -12 "a\"b" 1.5 0 007 "#);
        assert!(t.tokens(1).is_none(), "kept as text");
        assert!(t.tokens(2).is_none(), "no such record");
    }

    #[test]
    fn unexpected_text_is_kept_whole() {
        let t = round_trip(&[
            "\u{1}{\"key\":1}",
            "{\"key\":\"open",
            "{\"key\":\"a\u{0}b\"}",
            "{\"key\":\"a\\",
            "{\"key\":1}",
        ]);
        for i in 0..4 {
            assert_eq!(t.records.get(i).map(|r| r[0]), Some(0), "record {i}");
        }
        assert_eq!(t.records.get(4).map(|r| r[0]), Some(1));
    }

    #[test]
    fn skeletons_are_bounded() {
        let texts: Vec<String> = (0..MAX_SKELETONS + 3)
            .map(|i| format!("{{\"k{i}\":{i}}}"))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t = round_trip(&refs);
        assert_eq!(t.skeletons.len(), MAX_SKELETONS);
    }
}
