//! bpftool's `formatted` text walked in place for D018: the token of each leaf (and of
//! each array, which may be a byte array) and a signature of the shape (keys, nesting,
//! array lengths), without building a `serde_json::Value` tree. The dump reader stored
//! the text compact and validated; anything this walker does not expect (escaped keys,
//! duplicate keys, deep nesting) makes it give up, and the caller parses with
//! serde_json instead.

use crate::names::{fold_name, join_path};

/// Deeper than this, or with more leaves, serde_json's walk decides (it has the limits).
const MAX_DEPTH: u32 = 60;
/// Objects with more keys are not checked for duplicates here.
const MAX_KEYS: usize = 64;

/// One leaf or array of bpftool's value: where its token is, and (when asked for) its
/// path as bpftool names it and normalised.
#[derive(Clone, Debug)]
pub(super) struct TheirLeaf {
    pub start: usize,
    pub end: usize,
}

/// A leaf's paths, made only when a plan is built.
#[derive(Clone, Debug)]
pub(super) struct TheirPath {
    pub path: String,
    pub norm: String,
    pub array: bool,
}

/// The reusable buffers of one walk.
#[derive(Default)]
pub(super) struct Walk {
    /// The shape: `{`, each key and a NUL, `}`, `[`, `]`, `s` per scalar.
    pub sig: Vec<u8>,
    pub leaves: Vec<TheirLeaf>,
    /// Filled only by [`Walk::run_with_paths`].
    pub paths: Vec<TheirPath>,
    keys: Vec<(usize, usize)>,
}

impl Walk {
    /// Walks `text` (one JSON value); false when the caller must use serde_json.
    pub fn run(&mut self, text: &str) -> bool {
        self.start();
        let mut pos = 0;
        self.value(text, &mut pos, 0, None) && pos == text.len()
    }

    /// [`Walk::run`], and the paths of every leaf.
    pub fn run_with_paths(&mut self, text: &str) -> bool {
        self.start();
        let mut pos = 0;
        self.value(text, &mut pos, 0, Some(("", ""))) && pos == text.len()
    }

    fn start(&mut self) {
        self.sig.clear();
        self.leaves.clear();
        self.paths.clear();
        self.keys.clear();
    }

    fn value(&mut self, t: &str, pos: &mut usize, depth: u32, path: Option<(&str, &str)>) -> bool {
        if depth > MAX_DEPTH || self.leaves.len() > crate::decode::MAX_VALUES {
            return false;
        }
        match t.as_bytes().get(*pos) {
            Some(b'{') => self.object(t, pos, depth, path),
            Some(b'[') => self.array(t, pos, depth, path),
            Some(_) => {
                let start = *pos;
                let Some(end) = scalar_end(t.as_bytes(), start) else {
                    return false;
                };
                self.sig.push(b's');
                self.leaf(start, end, false, path);
                *pos = end;
                true
            }
            None => false,
        }
    }

    fn leaf(&mut self, start: usize, end: usize, array: bool, path: Option<(&str, &str)>) {
        self.leaves.push(TheirLeaf { start, end });
        if let Some((path, norm)) = path {
            self.paths.push(TheirPath {
                path: path.to_string(),
                norm: norm.to_string(),
                array,
            });
        }
    }

    fn object(&mut self, t: &str, pos: &mut usize, depth: u32, path: Option<(&str, &str)>) -> bool {
        let b = t.as_bytes();
        self.sig.push(b'{');
        *pos += 1;
        let frame = self.keys.len();
        let ok = b.get(*pos) == Some(&b'}') || self.members(t, pos, depth, path, frame);
        self.keys.truncate(frame);
        if !ok || b.get(*pos) != Some(&b'}') {
            return false;
        }
        *pos += 1;
        self.sig.push(b'}');
        true
    }

    /// `"k":v` pairs up to the closing brace (left at `pos`).
    fn members(
        &mut self,
        t: &str,
        pos: &mut usize,
        depth: u32,
        path: Option<(&str, &str)>,
        frame: usize,
    ) -> bool {
        let b = t.as_bytes();
        loop {
            let Some((ks, ke)) = plain_string(b, *pos) else {
                return false;
            };
            let key = &t[ks + 1..ke - 1];
            if self.keys.len() - frame >= MAX_KEYS
                || self.keys[frame..].iter().any(|&(s, e)| &t[s..e] == key)
            {
                return false;
            }
            self.keys.push((ks + 1, ke - 1));
            self.sig.extend_from_slice(key.as_bytes());
            self.sig.push(0);
            if b.get(ke) != Some(&b':') {
                return false;
            }
            *pos = ke + 1;
            let ok = match path {
                Some((p, n)) => {
                    let (p, n) = (join_path(p, key), join_path(n, &fold_name(key)));
                    self.value(t, pos, depth + 1, Some((&p, &n)))
                }
                None => self.value(t, pos, depth + 1, None),
            };
            if !ok {
                return false;
            }
            match b.get(*pos) {
                Some(b',') => *pos += 1,
                Some(b'}') => return true,
                _ => return false,
            }
        }
    }

    fn array(&mut self, t: &str, pos: &mut usize, depth: u32, path: Option<(&str, &str)>) -> bool {
        let b = t.as_bytes();
        let at = self.leaves.len();
        self.leaf(*pos, *pos, true, path);
        self.sig.push(b'[');
        let start = *pos;
        *pos += 1;
        let mut i = 0usize;
        while b.get(*pos) != Some(&b']') {
            if i > 0 {
                if b.get(*pos) != Some(&b',') {
                    return false;
                }
                *pos += 1;
            }
            let ok = match path {
                Some((p, n)) => {
                    let (p, n) = (format!("{p}[{i}]"), format!("{n}[{i}]"));
                    self.value(t, pos, depth + 1, Some((&p, &n)))
                }
                None => self.value(t, pos, depth + 1, None),
            };
            if !ok {
                return false;
            }
            i += 1;
        }
        *pos += 1;
        self.sig.push(b']');
        if let Some(l) = self.leaves.get_mut(at) {
            l.start = start;
            l.end = *pos;
        }
        true
    }
}

/// The end of a string without escapes starting at `pos`, else `None`.
fn plain_string(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    if b.get(pos) != Some(&b'"') {
        return None;
    }
    let len = memchr_quote(&b[pos + 1..])?;
    let end = pos + 1 + len;
    if b[pos + 1..end].contains(&b'\\') {
        return None;
    }
    Some((pos, end + 1))
}

fn memchr_quote(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'"')
}

/// The end of the scalar token at `pos`: a string (escapes allowed) or a bare token.
fn scalar_end(b: &[u8], pos: usize) -> Option<usize> {
    if b.get(pos) == Some(&b'"') {
        let mut i = pos + 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        return None;
    }
    let end = b[pos..]
        .iter()
        .position(|c| matches!(c, b',' | b'}' | b']'))
        .map_or(b.len(), |n| pos + n);
    (end > pos).then_some(end)
}

/// The top level of `formatted`: the text of `key` and of `value`, when it is exactly
/// that (`{"key":..,"value":..}`, either one alone); `None` for per-CPU `values` and
/// anything else, which serde_json handles.
pub(super) fn key_and_value(text: &str) -> Option<(Option<&str>, Option<&str>)> {
    let b = text.as_bytes();
    if b.first() != Some(&b'{') || b.last() != Some(&b'}') {
        return None;
    }
    let (mut key, mut value) = (None, None);
    let mut pos = 1;
    while pos < b.len() - 1 {
        let (ks, ke) = plain_string(b, pos)?;
        if b.get(ke) != Some(&b':') {
            return None;
        }
        let start = ke + 1;
        let end = value_end(b, start)?;
        let slot = match &text[ks + 1..ke - 1] {
            "key" => &mut key,
            "value" => &mut value,
            _ => return None,
        };
        if slot.replace(&text[start..end]).is_some() {
            return None;
        }
        pos = end;
        match b.get(pos) {
            Some(b',') if pos + 1 < b.len() - 1 => pos += 1,
            _ if pos == b.len() - 1 => break,
            _ => return None,
        }
    }
    Some((key, value))
}

/// The end of the compact JSON value at `pos`.
fn value_end(b: &[u8], pos: usize) -> Option<usize> {
    match b.get(pos)? {
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < b.len() {
                match b[i] {
                    b'"' => i = scalar_end(b, i)? - 1,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => scalar_end(b, pos),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_leaves_and_shape() {
        let mut w = Walk::default();
        assert!(w.run_with_paths(r#"{"a":1,"b_c":{"d":"x,y"},"e":[1,2]}"#));
        assert_eq!(w.sig, b"{a\0sb_c\0{d\0s}e\0[ss]}");
        let paths: Vec<_> = w.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["a", "b_c.d", "e", "e[0]", "e[1]"]);
        assert_eq!(w.paths[1].norm, "bc.d");
        let toks: Vec<_> = w.leaves.iter().map(|l| l.start..l.end).collect();
        assert_eq!(toks, [5..6, 18..23, 29..34, 30..31, 32..33]);
        // Duplicate and escaped keys, and truncated text, are left to serde_json.
        assert!(!w.run(r#"{"a":1,"a":2}"#));
        assert!(!w.run(r#"{"a\"":1}"#));
        assert!(!w.run(r#"{"a":[1,2}"#));
        assert!(w.run(r#""esc\"aped""#));
    }

    #[test]
    fn splits_key_and_value() {
        let t = r#"{"key":[1,{"x":"]"}],"value":{"a":"}"}}"#;
        assert_eq!(
            key_and_value(t),
            Some((Some(r#"[1,{"x":"]"}]"#), Some(r#"{"a":"}"}"#)))
        );
        assert_eq!(key_and_value(r#"{"value":3}"#), Some((None, Some("3"))));
        assert_eq!(key_and_value(r#"{"key":1,"values":[]}"#), None);
        assert_eq!(key_and_value(r#"{"key":1,"key":2}"#), None);
        assert_eq!(key_and_value(r#"{"key":1,}"#), None);
    }
}
