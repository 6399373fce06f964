//! A bounded scanner for JSON values and for the JSON-like listing bpftool prints for
//! maps with BTF. It validates a value and copies it out compactly (no whitespace
//! outside strings). In lenient mode, bare tokens that are not JSON (bitfields printed
//! `0x5`, pointers, `nan`) are copied as JSON strings, the way `bpftool -j` quotes them.

use crate::error::{excerpt, ErrorKind};

/// A scan failure at a byte offset of the buffer.
#[derive(Debug)]
pub(crate) struct ScanError {
    pub offset: usize,
    pub kind: ErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Json,
    Lenient,
}

pub(crate) struct Scanner<'a> {
    pub buf: &'a [u8],
    pub dialect: Dialect,
    pub max_depth: usize,
    pub max_len: usize,
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

#[inline]
pub(crate) fn skip_ws(buf: &[u8], mut pos: usize) -> usize {
    while pos < buf.len() && is_ws(buf[pos]) {
        pos += 1;
    }
    pos
}

pub(crate) fn truncated(offset: usize, context: &'static str) -> ScanError {
    ScanError {
        offset,
        kind: ErrorKind::Truncated { context },
    }
}

pub(crate) fn syntax(buf: &[u8], offset: usize, expected: &'static str) -> ScanError {
    if offset >= buf.len() {
        return truncated(offset, "a JSON value");
    }
    ScanError {
        offset,
        kind: ErrorKind::Syntax {
            expected,
            found: excerpt(&buf[offset..]),
        },
    }
}

impl Scanner<'_> {
    /// Scans the value at `pos` (after whitespace), appends its compact form to `out`
    /// and returns the offset just after it.
    pub fn value(&self, pos: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
        let start_len = out.len();
        let end = self.value_at(skip_ws(self.buf, pos), out, 0, start_len)?;
        Ok(end)
    }

    fn check_len(&self, out: &[u8], start_len: usize, pos: usize) -> Result<(), ScanError> {
        if out.len() - start_len > self.max_len {
            return Err(ScanError {
                offset: pos,
                kind: ErrorKind::TooLarge {
                    what: "decoded (BTF) form of an entry",
                    limit: self.max_len,
                },
            });
        }
        Ok(())
    }

    fn value_at(
        &self,
        pos: usize,
        out: &mut Vec<u8>,
        depth: usize,
        start_len: usize,
    ) -> Result<usize, ScanError> {
        let buf = self.buf;
        let Some(&b) = buf.get(pos) else {
            return Err(truncated(pos, "a JSON value"));
        };
        match b {
            b'{' | b'[' => {
                if depth >= self.max_depth {
                    return Err(ScanError {
                        offset: pos,
                        kind: ErrorKind::TooDeep {
                            limit: self.max_depth,
                        },
                    });
                }
                let (close, is_obj) = if b == b'{' {
                    (b'}', true)
                } else {
                    (b']', false)
                };
                out.push(b);
                let mut p = skip_ws(buf, pos + 1);
                if buf.get(p) == Some(&close) {
                    out.push(close);
                    return Ok(p + 1);
                }
                loop {
                    if is_obj {
                        if buf.get(p) != Some(&b'"') {
                            return Err(syntax(buf, p, "a quoted member name"));
                        }
                        p = self.string(p, out)?;
                        p = skip_ws(buf, p);
                        if buf.get(p) != Some(&b':') {
                            return Err(syntax(buf, p, "`:`"));
                        }
                        out.push(b':');
                        p = skip_ws(buf, p + 1);
                    }
                    p = self.value_at(p, out, depth + 1, start_len)?;
                    self.check_len(out, start_len, p)?;
                    p = skip_ws(buf, p);
                    match buf.get(p) {
                        Some(b',') => {
                            out.push(b',');
                            p = skip_ws(buf, p + 1);
                        }
                        Some(&c) if c == close => {
                            out.push(close);
                            return Ok(p + 1);
                        }
                        None => {
                            return Err(truncated(p, if is_obj { "an object" } else { "an array" }))
                        }
                        Some(_) => {
                            return Err(syntax(
                                buf,
                                p,
                                if is_obj { "`,` or `}`" } else { "`,` or `]`" },
                            ))
                        }
                    }
                }
            }
            b'"' => {
                let end = self.string(pos, out)?;
                self.check_len(out, start_len, end)?;
                Ok(end)
            }
            _ => self.bare(pos, out),
        }
    }

    /// A string token; copied verbatim after validation.
    pub fn string(&self, pos: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
        let end = self.string_end(pos)?;
        out.extend_from_slice(&self.buf[pos..end]);
        Ok(end)
    }

    /// Validates the string starting at `pos` (a `"`) and returns the offset after it.
    pub fn string_end(&self, pos: usize) -> Result<usize, ScanError> {
        let buf = self.buf;
        let mut p = pos + 1;
        loop {
            let Some(rel) = memchr::memchr3(b'"', b'\\', b'\n', &buf[p.min(buf.len())..]) else {
                return Err(truncated(buf.len(), "a string"));
            };
            // Control characters are not allowed in JSON strings.
            if let Some(bad) = buf[p..p + rel].iter().position(|&c| c < 0x20) {
                return Err(syntax(buf, p + bad, "no control character in a string"));
            }
            p += rel;
            match buf[p] {
                b'"' => return Ok(p + 1),
                b'\n' => return Err(syntax(buf, p, "the end of the string")),
                _ => {
                    // An escape.
                    let Some(&e) = buf.get(p + 1) else {
                        return Err(truncated(p + 1, "a string"));
                    };
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => p += 2,
                        b'u' => {
                            let Some(h) = buf.get(p + 2..p + 6) else {
                                return Err(truncated(buf.len(), "a string"));
                            };
                            if !h.iter().all(u8::is_ascii_hexdigit) {
                                return Err(syntax(buf, p, "a `\\uXXXX` escape"));
                            }
                            p += 6;
                        }
                        _ => return Err(syntax(buf, p, "a valid escape")),
                    }
                }
            }
        }
    }

    /// A number, `true`, `false`, `null`, or (lenient) any bare token.
    fn bare(&self, pos: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
        let buf = self.buf;
        let len = buf[pos..]
            .iter()
            .position(|&c| is_ws(c) || matches!(c, b',' | b']' | b'}' | b':' | b'"' | b'[' | b'{'))
            .unwrap_or(buf.len() - pos);
        let tok = &buf[pos..pos + len];
        if len == 0 {
            return Err(syntax(buf, pos, "a JSON value"));
        }
        if is_json_scalar(tok) {
            out.extend_from_slice(tok);
            return Ok(pos + len);
        }
        match self.dialect {
            Dialect::Json => Err(syntax(buf, pos, "a JSON value")),
            Dialect::Lenient => {
                if len > 256 || !tok.iter().all(|c| c.is_ascii_graphic()) {
                    return Err(syntax(buf, pos, "a value"));
                }
                out.push(b'"');
                for &c in tok {
                    if c == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                out.push(b'"');
                Ok(pos + len)
            }
        }
    }
}

/// `true`, `false`, `null` or a JSON number.
fn is_json_scalar(tok: &[u8]) -> bool {
    if matches!(tok, b"true" | b"false" | b"null") {
        return true;
    }
    let mut i = 0;
    let n = tok.len();
    if i < n && tok[i] == b'-' {
        i += 1;
    }
    if i >= n {
        return false;
    }
    if tok[i] == b'0' {
        i += 1;
    } else if tok[i].is_ascii_digit() {
        while i < n && tok[i].is_ascii_digit() {
            i += 1;
        }
    } else {
        return false;
    }
    if i < n && tok[i] == b'.' {
        i += 1;
        let s = i;
        while i < n && tok[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if i < n && (tok[i] == b'e' || tok[i] == b'E') {
        i += 1;
        if i < n && (tok[i] == b'+' || tok[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < n && tok[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str, dialect: Dialect) -> Result<(String, usize), ScanError> {
        let sc = Scanner {
            buf: s.as_bytes(),
            dialect,
            max_depth: 8,
            max_len: 1000,
        };
        let mut out = Vec::new();
        let end = sc.value(0, &mut out)?;
        Ok((String::from_utf8(out).unwrap(), end))
    }

    #[test]
    fn compacts_json() {
        let (out, end) = scan(
            "{\n  \"key\": 0,\n  \"value\": {\"a\": [1, 2\n ], \"s\": \"x\\\"y\"}\n},",
            Dialect::Json,
        )
        .unwrap();
        assert_eq!(out, r#"{"key":0,"value":{"a":[1,2],"s":"x\"y"}}"#);
        assert_eq!(end, 55);
    }

    #[test]
    fn lenient_quotes_bare_tokens() {
        let (out, _) = scan(
            r#"{"state": 0x5, "p": (nil), "f": -1.5e3}"#,
            Dialect::Lenient,
        )
        .unwrap();
        assert_eq!(out, r#"{"state":"0x5","p":"(nil)","f":-1.5e3}"#);
        assert!(scan(r#"{"state": 0x5}"#, Dialect::Json).is_err());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            scan("[1, 2", Dialect::Json).unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
        assert!(matches!(
            scan("[[[[[[[[[[1]]]]]]]]]]", Dialect::Json)
                .unwrap_err()
                .kind,
            ErrorKind::TooDeep { .. }
        ));
        assert!(scan("\"ab", Dialect::Json).is_err());
        assert!(scan("\"a\\qb\"", Dialect::Json).is_err());
        assert!(scan("{1:2}", Dialect::Json).is_err());
        assert!(scan("01", Dialect::Json).is_err());
        assert!(scan("", Dialect::Json).is_err());
    }

    #[test]
    fn scalars() {
        for ok in ["0", "-0", "12", "1.5", "1e5", "-1.25E-3", "true", "null"] {
            assert!(is_json_scalar(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "0x5", "nan", "+1"] {
            assert!(!is_json_scalar(bad.as_bytes()), "{bad}");
        }
    }
}
