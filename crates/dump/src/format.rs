//! The dump formats and their detection from content.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A dump format. `FromStr` takes the names `--input-format` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DumpFormat {
    /// `bpftool map dump` of a map without BTF: `key: .. value: ..` hex lines,
    /// `Found N elements`.
    Text,
    /// `bpftool map dump` of a map with BTF: a JSON-like listing of decoded values,
    /// no raw bytes.
    BtfText,
    /// `bpftool -j map dump` or `bpftool -p map dump`: hex-string arrays, and
    /// `formatted` when the map has BTF.
    Json,
    /// Concatenated key‖value records; sizes come from the caller.
    Raw,
    /// A mapsleuth capture file (`capture_file`), recognised by its magic.
    Capture,
}

impl DumpFormat {
    pub const ALL: [DumpFormat; 5] = [
        DumpFormat::Text,
        DumpFormat::BtfText,
        DumpFormat::Json,
        DumpFormat::Raw,
        DumpFormat::Capture,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DumpFormat::Text => "text",
            DumpFormat::BtfText => "btf-text",
            DumpFormat::Json => "json",
            DumpFormat::Raw => "raw",
            DumpFormat::Capture => "capture",
        }
    }
}

impl fmt::Display for DumpFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dump format `{0}` (expected one of: text, btf-text, json, raw, capture)")]
pub struct ParseFormatError(pub String);

impl FromStr for DumpFormat {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" => DumpFormat::Text,
            "btf-text" | "btf_text" | "btftext" | "btf" => DumpFormat::BtfText,
            "json" | "pretty" | "pretty-json" | "-j" | "-p" => DumpFormat::Json,
            "raw" | "records" => DumpFormat::Raw,
            "capture" | "mscap" => DumpFormat::Capture,
            _ => return Err(ParseFormatError(s.to_string())),
        })
    }
}

/// True when the input starts like a capture file.
pub(crate) fn is_capture(head: &[u8]) -> bool {
    head.starts_with(&crate::capture_file::MAGIC)
}

/// How far into the input detection looks.
const SNIFF: usize = 64 * 1024;

/// Detects the format from the first bytes of the input. `None` when it is none of the
/// text formats (raw records cannot be recognised: their sizes must be given).
pub fn detect_format(input: &[u8]) -> Option<DumpFormat> {
    let head = &input[..input.len().min(SNIFF)];
    if is_capture(head) {
        return Some(DumpFormat::Capture);
    }
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    match head[0] {
        b'[' | b'{' => Some(detect_json_family(head)),
        _ => {
            let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
            let line = &head[..line_end];
            if looks_like_text_line(line) {
                Some(DumpFormat::Text)
            } else {
                None
            }
        }
    }
}

fn looks_like_text_line(line: &[u8]) -> bool {
    if line.starts_with(b"key:")
        || line.starts_with(b"value:")
        || line.starts_with(b"value (CPU ")
        || line.starts_with(b"Found ")
        || line.starts_with(b"Error: ")
        || line.starts_with(b"Warning: ")
    {
        return true;
    }
    // A multi-map header: `140: hash  name ms_dup  flags 0x0`.
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    digits > 0 && line[digits..].starts_with(b": ")
}

/// `-j`/`-p` print every key as an array of `"0x.."` strings; the BTF listing prints
/// decoded values. Look at the first `"key"`.
fn detect_json_family(head: &[u8]) -> DumpFormat {
    // `[key: ..` : a lookup error printed in the middle of a BTF listing.
    let after_bracket = head[1..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &head[1 + i..]);
    if after_bracket.is_some_and(|rest| rest.starts_with(b"key:")) {
        return DumpFormat::BtfText;
    }
    let Some(at) = memchr::memmem::find(head, b"\"key\"") else {
        return DumpFormat::Json;
    };
    let rest = &head[at + 5..];
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while rest.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if rest.get(i) != Some(&b':') {
        return DumpFormat::Json;
    }
    i += 1;
    skip_ws(&mut i);
    if rest.get(i) != Some(&b'[') {
        return DumpFormat::BtfText;
    }
    i += 1;
    skip_ws(&mut i);
    match rest.get(i..i + 3) {
        Some(b"\"0x") | Some(b"\"0X") => DumpFormat::Json,
        // `"key": []`: a zero-sized key, only in JSON output.
        _ if rest.get(i) == Some(&b']') => DumpFormat::Json,
        None => DumpFormat::Json,
        _ => DumpFormat::BtfText,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in DumpFormat::ALL {
            assert_eq!(f.name().parse::<DumpFormat>(), Ok(f));
        }
        assert!("yaml".parse::<DumpFormat>().is_err());
    }

    #[test]
    fn detects() {
        assert_eq!(
            detect_format(b"key: 01 00 00 00  value: 02\nFound 1 element\n"),
            Some(DumpFormat::Text)
        );
        assert_eq!(detect_format(b"Found 0 elements\n"), Some(DumpFormat::Text));
        assert_eq!(
            detect_format(b"140: hash  name x  flags 0x0\n"),
            Some(DumpFormat::Text)
        );
        assert_eq!(
            detect_format(br#"[{"key":["0x01"],"value":["0x02"]}]"#),
            Some(DumpFormat::Json)
        );
        assert_eq!(
            detect_format(b"[{\n        \"key\": [\"0x01\"\n        ],"),
            Some(DumpFormat::Json)
        );
        assert_eq!(
            detect_format(b"[{\n        \"key\": 0,\n        \"value\": 1\n}]"),
            Some(DumpFormat::BtfText)
        );
        assert_eq!(
            detect_format(b"[{\n \"key\": [1,2\n ],\n \"value\": 1\n}]"),
            Some(DumpFormat::BtfText)
        );
        assert_eq!(detect_format(b"[]\n"), Some(DumpFormat::Json));
        assert_eq!(
            detect_format(br#"{"error":"get map by id (9): No such file"}"#),
            Some(DumpFormat::Json)
        );
        assert_eq!(detect_format(b"\x01\x00\x00\x00"), None);
        assert_eq!(detect_format(b""), None);
    }
}
