//! Expected keys (`--expect-keys FILE`): their parsing, and D016/D017, keys that are
//! expected but missing, and keys in the dump nobody expected.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use mapsleuth_dump::Dump;
use mapsleuth_layout::{ByteOrder, Finding, Location, Severity};

use super::tally::Tally;
use super::Code;
use crate::decode::hex;

/// Keys a user expects in the map (`--expect-keys FILE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedKeys {
    /// Key bytes and the 1-based line they came from, in file order, without repeats.
    pub keys: Vec<(Vec<u8>, usize)>,
    /// True when some key was a number read without a key type (as little-endian).
    pub assumed_order: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct KeysError {
    pub line: usize,
    pub message: String,
}

impl ExpectedKeys {
    /// One key per line; `#` starts a comment. A key is
    /// - hex bytes separated by spaces: `0a 00 00 05` (`0x0a 0x00 ...` too), in memory order;
    /// - one hex string of exactly two digits per key byte: `0a000005` or `0x0a000005`,
    ///   in memory order (as findings print keys) — even when all its digits are decimal;
    /// - a number: decimal (`5`, `-1`) or shorter `0x` hex (`0x5`), stored in the key's
    ///   size and in `order` (the key type's byte order).
    ///
    /// `order` is `None` when there is no key type: numbers are then read as
    /// little-endian and [`ExpectedKeys::assumed_order`] says so.
    pub fn parse(text: &str, key_size: usize, order: Option<ByteOrder>) -> Result<Self, KeysError> {
        let mut out = ExpectedKeys::default();
        let mut seen = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let bytes = parse_key(content, key_size, order, &mut out.assumed_order)
                .map_err(|message| KeysError { line, message })?;
            if seen.insert(bytes.clone()) {
                out.keys.push((bytes, line));
            }
        }
        Ok(out)
    }
}

/// One line's key: hex bytes, or one token.
fn parse_key(
    content: &str,
    key_size: usize,
    order: Option<ByteOrder>,
    assumed: &mut bool,
) -> Result<Vec<u8>, String> {
    let tokens: Vec<&str> = content
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    let bytes = match tokens.as_slice() {
        [] => return Err(format!("`{content}` is not a key")),
        [t] => parse_token(t, key_size, order, assumed)?,
        _ => hex_bytes(&tokens)?,
    };
    if bytes.len() != key_size {
        return Err(format!(
            "{} bytes, but keys are {key_size} bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// `0a 00 00 05` or `0x0a 0x00 ...`.
fn hex_bytes(tokens: &[&str]) -> Result<Vec<u8>, String> {
    tokens
        .iter()
        .map(|t| {
            let d = t
                .strip_prefix("0x")
                .or_else(|| t.strip_prefix("0X"))
                .unwrap_or(t);
            if d.is_empty() || d.len() > 2 {
                return Err(format!("`{t}` is not a hex byte"));
            }
            u8::from_str_radix(d, 16).map_err(|_| format!("`{t}` is not a hex byte"))
        })
        .collect()
}

/// A key written as one token: the key's bytes in hex, or a number.
fn parse_token(
    t: &str,
    key_size: usize,
    order: Option<ByteOrder>,
    assumed: &mut bool,
) -> Result<Vec<u8>, String> {
    let prefixed = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
    let digits = prefixed.unwrap_or(t);
    let all_hex = !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_hexdigit());
    let all_dec = t
        .strip_prefix('-')
        .unwrap_or(t)
        .bytes()
        .all(|c| c.is_ascii_digit())
        && t != "-";
    if all_hex && digits.len() == 2 * key_size {
        (0..key_size)
            .map(|k| u8::from_str_radix(&digits[2 * k..2 * k + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| format!("`{t}` is not hex"))
    } else if prefixed.is_some() && all_hex {
        let v = u128::from_str_radix(digits, 16)
            .map_err(|_| format!("`{t}` does not fit in 128 bits"))?;
        number_bytes(v, false, key_size, order, assumed)
    } else if all_dec {
        let v: i128 = t
            .parse()
            .map_err(|_| format!("`{t}` does not fit in 128 bits"))?;
        number_bytes(v as u128, v < 0, key_size, order, assumed)
    } else {
        Err(format!(
            "`{t}` is neither a number nor {key_size} hex bytes"
        ))
    }
}

fn number_bytes(
    v: u128,
    negative: bool,
    size: usize,
    order: Option<ByteOrder>,
    assumed: &mut bool,
) -> Result<Vec<u8>, String> {
    if size == 0 || size > 16 {
        return Err(format!(
            "a number cannot be a {size}-byte key: give the key's bytes in hex"
        ));
    }
    let bits = size as u32 * 8;
    let fits = if bits >= 128 {
        true
    } else if negative {
        (v as i128) >= -(1i128 << (bits - 1))
    } else {
        v < (1u128 << bits)
    };
    if !fits {
        return Err(format!("{} does not fit in a {size}-byte key", v as i128));
    }
    let order = order.unwrap_or_else(|| {
        *assumed = true;
        ByteOrder::Little
    });
    let le = v.to_le_bytes();
    let mut b = le[..size].to_vec();
    if order == ByteOrder::Big {
        b.reverse();
    }
    Ok(b)
}

const MISSING_FIX: &str =
    "the program never inserted these keys, or they were deleted (LRU eviction, \
    a timeout, user space); check the key's byte order and padding against the \
    map's key type";

/// `key` with its padding bits cleared.
fn without_padding(key: &[u8], pad: &[(usize, u8)]) -> Vec<u8> {
    let mut v = key.to_vec();
    for &(i, m) in pad {
        if let Some(b) = v.get_mut(i) {
            *b &= !m;
        }
    }
    v
}

impl ExpectedKeys {
    /// D016 then D017. `pad` is the key type's padding: a missing key may be in the dump
    /// with other padding bytes.
    pub(super) fn findings(
        &self,
        dump: &Dump,
        pad: &[(usize, u8)],
        max_keys: usize,
        loc: &Location,
        out: &mut Vec<Finding>,
    ) {
        let present: HashSet<&[u8]> = dump.entries().filter_map(|e| e.key()).collect();
        out.extend(self.missing_finding(dump, &present, pad, max_keys, loc));
        out.extend(self.unexpected_finding(dump, &present, max_keys, loc));
    }

    fn missing_finding(
        &self,
        dump: &Dump,
        present: &HashSet<&[u8]>,
        pad: &[(usize, u8)],
        max: usize,
        loc: &Location,
    ) -> Option<Finding> {
        let masked = |k: &[u8]| without_padding(k, pad);
        let by_fields: HashMap<Vec<u8>, &[u8]> = if pad.is_empty() {
            HashMap::new()
        } else {
            dump.entries()
                .filter_map(|e| e.key())
                .map(|k| (masked(k), k))
                .collect()
        };
        let mut missing = Tally::default();
        let mut near = Vec::new();
        for (k, line) in &self.keys {
            if present.contains(k.as_slice()) {
                continue;
            }
            missing.add(|| hex(k), max, || Some(format!("line {line}")));
            if let Some(found) = by_fields.get(&masked(k)) {
                near.push(format!("{} is there as {}", hex(k), hex(found)));
            }
        }
        if missing.count == 0 {
            return None;
        }
        let msg = self.missing_text(&missing, &near, max);
        Some(
            Finding::with_severity(Code::MissingKey, Severity::Error, msg)
                .at(Location {
                    key: missing.first_key(),
                    ..loc.clone()
                })
                .fix(MISSING_FIX),
        )
    }

    /// D016's message: the keys missing, and those `near` (in the dump with other padding).
    fn missing_text(&self, missing: &Tally, near: &[String], max: usize) -> String {
        let mut msg = format!(
            "{} of {} expected keys {} not in the dump: {}",
            missing.count,
            self.keys.len(),
            if missing.count == 1 { "is" } else { "are" },
            missing.keys_text()
        );
        if !near.is_empty() {
            let near = &near[..near.len().min(max)];
            let _ = write!(
                msg,
                "; some differ only in padding bytes ({}), so a lookup with a zeroed key \
                    misses them",
                near.join(", ")
            );
        }
        if self.assumed_order {
            msg.push_str(" (numbers read as little-endian: no key type given)");
        }
        msg
    }

    fn unexpected_finding(
        &self,
        dump: &Dump,
        present: &HashSet<&[u8]>,
        max: usize,
        loc: &Location,
    ) -> Option<Finding> {
        let want: HashSet<&[u8]> = self.keys.iter().map(|(k, _)| k.as_slice()).collect();
        let mut unexpected = Tally::default();
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for k in dump.entries().filter_map(|e| e.key()) {
            if seen.insert(k) && !want.contains(k) {
                unexpected.add(|| hex(k), max, || None);
            }
        }
        if unexpected.count == 0 {
            return None;
        }
        let msg = format!(
            "{} of {} keys in the dump {} not expected: {}",
            unexpected.count,
            present.len(),
            if unexpected.count == 1 { "is" } else { "are" },
            unexpected.keys_text()
        );
        Some(
            Finding::with_severity(Code::UnexpectedKey, Severity::Warning, msg)
                .at(Location {
                    key: unexpected.first_key(),
                    ..loc.clone()
                })
                .fix(
                    "keys nobody expects: a byte-order mistake building keys, stale entries, or \
                    another writer",
                ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_key_forms() {
        let k = ExpectedKeys::parse(
            "# comment\n5\n0x6\n0a 00 00 05\n0x0a000009\n0a000008 # note\n-1\n5\n00000007\n",
            4,
            Some(ByteOrder::Little),
        )
        .unwrap();
        let keys: Vec<String> = k.keys.iter().map(|(b, _)| hex(b)).collect();
        assert_eq!(
            keys,
            ["05000000", "06000000", "0a000005", "0a000009", "0a000008", "ffffffff", "00000007"]
        );
        assert!(!k.assumed_order);
        let be = ExpectedKeys::parse("5", 4, Some(ByteOrder::Big)).unwrap();
        assert_eq!(be.keys[0].0, [0, 0, 0, 5]);
        let e = ExpectedKeys::parse("1\n\n0x1ffffffff\n", 4, None).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(ExpectedKeys::parse("0a 00", 4, None).is_err());
        assert!(ExpectedKeys::parse("zz", 4, None).is_err());
        assert!(ExpectedKeys::parse("5", 20, None).is_err());
        assert!(ExpectedKeys::parse("5", 4, None).unwrap().assumed_order);
    }

    /// A line of separators only (`,`) indexed an empty token list.
    #[test]
    fn a_line_without_a_key_is_an_error() {
        let e = ExpectedKeys::parse("1\n , ,\n", 4, None).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("is not a key"), "{}", e.message);
    }
}
