//! Hex: the one lowercase encoder of the workspace ([`encode`], [`encode_into`]), and
//! the decoding the readers share (crate-private).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex, two digits per byte: `[0x0a, 0xff]` is `"0aff"`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    encode_into(&mut s, bytes);
    s
}

/// [`encode`] appended to `out` (no allocation when `out` has room).
pub fn encode_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// Nibble value of an ASCII hex digit, or 0xff.
pub(crate) const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Two hex digits to a byte.
#[inline]
pub(crate) fn byte2(hi: u8, lo: u8) -> Option<u8> {
    let h = NIBBLE[hi as usize];
    let l = NIBBLE[lo as usize];
    if (h | l) & 0xf0 != 0 {
        None
    } else {
        Some(h << 4 | l)
    }
}

/// A token that is not a hex byte: its range in the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadToken {
    pub start: usize,
    pub end: usize,
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// Decodes a line of space-separated two-digit hex bytes, as bpftool prints them
/// (`01 02 03 04 05 06 07 08  09 0a ...`), appending to `out`. On a bad token, `out`
/// keeps the bytes before it.
pub(crate) fn decode_hex_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), BadToken> {
    let start_len = out.len();
    if decode_bpftool_line(line, out) {
        return Ok(());
    }
    out.truncate(start_len);
    decode_any_line(line, out)
}

/// The exact layout bpftool prints: `hh` tokens, one space apart, two between groups
/// of 8. False on anything else (`out` then holds garbage to drop).
#[inline]
fn decode_bpftool_line(line: &[u8], out: &mut Vec<u8>) -> bool {
    let n = line.len();
    out.reserve(n / 3 + 1);
    let mut i = 0;
    while i + 1 < n {
        let Some(v) = byte2(line[i], line[i + 1]) else {
            return false;
        };
        out.push(v);
        i += 2;
        if i == n {
            return true;
        }
        if line[i] != b' ' {
            return false;
        }
        i += 1;
        if i < n && line[i] == b' ' {
            i += 1;
        }
    }
    i == n
}

fn decode_any_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), BadToken> {
    let mut i = 0;
    let n = line.len();
    while i < n {
        let b = line[i];
        if is_space(b) {
            i += 1;
            continue;
        }
        // Fast path: exactly two hex digits then a space or the end.
        if i + 1 < n && (i + 2 == n || is_space(line[i + 2])) {
            if let Some(v) = byte2(b, line[i + 1]) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        let end = line[i..]
            .iter()
            .position(|&c| is_space(c))
            .map_or(n, |p| i + p);
        return Err(BadToken { start: i, end });
    }
    Ok(())
}

/// True when every space-separated token of the line is two characters long, as in a
/// line of hex bytes (possibly corrupted), and unlike an error message such as
/// `No space left on device`.
pub(crate) fn is_hex_like_line(line: &[u8]) -> bool {
    let mut tokens = 0;
    for tok in line.split(|&b| is_space(b)).filter(|t| !t.is_empty()) {
        if tok.len() != 2 {
            return false;
        }
        tokens += 1;
    }
    tokens > 0
}

/// Parses one JSON hex string's content, `0x0a` (bpftool) or `0xa`, `0a`.
pub(crate) fn parse_hex_str(s: &[u8]) -> Option<u8> {
    let digits = s
        .strip_prefix(b"0x")
        .or_else(|| s.strip_prefix(b"0X"))
        .unwrap_or(s);
    match *digits {
        [lo] => byte2(b'0', lo),
        [hi, lo] => byte2(hi, lo),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let mut out = Vec::new();
        decode_hex_line(b"01 02 03 04 05 06 07 08  09 0a 0B ff", &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]);
        out.clear();
        assert_eq!(
            decode_hex_line(b"01 0g 03", &mut out),
            Err(BadToken { start: 3, end: 5 })
        );
        assert_eq!(out, [1]);
        out.clear();
        assert_eq!(
            decode_hex_line(b"01 123", &mut out),
            Err(BadToken { start: 3, end: 6 })
        );
        assert_eq!(
            decode_hex_line(b"1", &mut out),
            Err(BadToken { start: 0, end: 1 })
        );
        assert!(decode_hex_line(b"", &mut out).is_ok());
        assert!(is_hex_like_line(b"01 02  0g"));
        assert!(!is_hex_like_line(b"No space left on device"));
        assert!(!is_hex_like_line(b"<no entry>"));
        assert!(!is_hex_like_line(b"  "));
    }

    #[test]
    fn encodes_lowercase_and_round_trips() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x0a, 0xff, 0]), "0aff00");
        let mut s = String::from("k=");
        encode_into(&mut s, &[0xAB, 0x01]);
        assert_eq!(s, "k=ab01");
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        assert_eq!(text.len(), 512);
        let back: Vec<u8> = text
            .as_bytes()
            .chunks(2)
            .map(|p| byte2(p[0], p[1]).unwrap())
            .collect();
        assert_eq!(back, all);
    }

    #[test]
    fn json_strings() {
        assert_eq!(parse_hex_str(b"0x0a"), Some(10));
        assert_eq!(parse_hex_str(b"0xA"), Some(10));
        assert_eq!(parse_hex_str(b"ff"), Some(255));
        assert_eq!(parse_hex_str(b"0x100"), None);
        assert_eq!(parse_hex_str(b"0x"), None);
        assert_eq!(parse_hex_str(b"zz"), None);
    }
}
