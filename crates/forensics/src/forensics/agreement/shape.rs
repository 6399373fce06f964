//! D018 without rebuilding bpftool's text (issue 13). The dump stores each `formatted`
//! as a skeleton shared by every entry of that shape plus the entry's scalar tokens.
//! The first entry of a skeleton is walked as text, as before, to learn which token
//! each of bpftool's leaves is; later entries of that skeleton are compared token by
//! token. Whatever the text walk would not take (per-CPU `values`, escaped keys, nested
//! arrays) is not learnt, and those entries keep the text path.

use std::ops::Range;

use mapsleuth_dump::FormattedToken;

use super::{Cmp, Their, Token};
use crate::forensics::their_json::{self, Walk};
use mapsleuth_layout::ByteOrder;

type Json = serde_json::Value;

/// What D018 knows of one skeleton: `None` once it was found not to fit.
pub(super) type Known = Option<Shape>;

/// bpftool's key and value of one skeleton, as walks over its tokens.
pub(super) struct Shape {
    /// Key, then value (`None` when the text has no such member).
    pub parts: [Option<Part>; 2],
}

/// One of bpftool's values: its shape signature ([`Walk::sig`]) and its leaves.
pub(super) struct Part {
    pub sig: Vec<u8>,
    pub leaves: Vec<Leaf>,
}

/// A leaf of bpftool's value as tokens: one scalar, or an array of scalars.
pub(super) enum Leaf {
    Scalar(usize),
    Array(Range<usize>),
}

impl Shape {
    /// Learns the shape of `text`, whose scalars are `tokens` in order.
    pub fn learn(text: &str, tokens: &[FormattedToken<'_>], walk: &mut Walk) -> Known {
        let (key, value) = their_json::key_and_value(text)?;
        let starts = scalar_starts(text, tokens, walk)?;
        let part = |p: Option<&str>, walk: &mut Walk| -> Option<Option<Part>> {
            p.map(|p| Part::learn(text, p, tokens, &starts, walk))
                .map_or(Some(None), |p| p.map(Some))
        };
        Some(Shape {
            parts: [part(key, walk)?, part(value, walk)?],
        })
    }
}

impl Part {
    fn learn(
        text: &str,
        part: &str,
        tokens: &[FormattedToken<'_>],
        starts: &[usize],
        walk: &mut Walk,
    ) -> Option<Part> {
        let offset = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        if !walk.run(part) {
            return None;
        }
        let mut leaves = Vec::with_capacity(walk.leaves.len());
        for l in &walk.leaves {
            let (start, end) = (offset + l.start, offset + l.end);
            if part.as_bytes().get(l.start) != Some(&b'[') {
                leaves.push(Leaf::Scalar(starts.binary_search(&start).ok()?));
                continue;
            }
            let first = starts.partition_point(|&s| s < start);
            let last = starts.partition_point(|&s| s < end);
            // Only flat arrays: then the tokens alone give back the array's text.
            if array_text(tokens.get(first..last)?) != text.get(start..end)? {
                return None;
            }
            leaves.push(Leaf::Array(first..last));
        }
        Some(Part {
            sig: walk.sig.clone(),
            leaves,
        })
    }

    /// Compares `ours` with bpftool's leaf `i` of this entry's `tokens`, as the text
    /// walk does (`None` when the two cannot be compared).
    pub fn same(
        &self,
        i: usize,
        tokens: &[FormattedToken<'_>],
        ours: &Cmp<'_>,
        order: ByteOrder,
    ) -> Option<bool> {
        match self.leaves.get(i)? {
            Leaf::Scalar(k) => token_same(tokens.get(*k)?, ours, order),
            Leaf::Array(r) => {
                let items: Option<Vec<Json>> = tokens.get(r.clone())?.iter().map(json_of).collect();
                match items {
                    Some(items) => ours.same_as(Their::Array(&items), order),
                    // The array text would not parse either.
                    None => ours.same_as(Their::Other, order),
                }
            }
        }
    }

    /// Leaf `i` as JSON text, for an example.
    pub fn text(&self, i: usize, tokens: &[FormattedToken<'_>]) -> String {
        let raw = match self.leaves.get(i) {
            Some(Leaf::Scalar(k)) => tokens.get(*k).map(|t| {
                let mut s = String::new();
                t.write_to(&mut s);
                s
            }),
            Some(Leaf::Array(r)) => tokens.get(r.clone()).map(array_text),
            None => None,
        };
        raw.and_then(|t| serde_json::from_str::<Json>(&t).ok())
            .map(|j| j.to_string())
            .unwrap_or_default()
    }
}

/// Where each token starts in `text`: its scalar leaves, checked against the tokens.
fn scalar_starts(text: &str, tokens: &[FormattedToken<'_>], walk: &mut Walk) -> Option<Vec<usize>> {
    if !walk.run(text) {
        return None;
    }
    let mut starts = Vec::with_capacity(tokens.len());
    let mut scratch = String::new();
    let scalars = walk
        .leaves
        .iter()
        .filter(|l| text.as_bytes().get(l.start) != Some(&b'['));
    for l in scalars {
        let tok = tokens.get(starts.len())?;
        scratch.clear();
        tok.write_to(&mut scratch);
        if text.get(l.start..l.end)? != scratch {
            return None;
        }
        starts.push(l.start);
    }
    (starts.len() == tokens.len()).then_some(starts)
}

fn array_text(tokens: &[FormattedToken<'_>]) -> String {
    let mut s = String::from("[");
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        t.write_to(&mut s);
    }
    s.push(']');
    s
}

/// A token compared as the text walk compares its text ([`Token::parse`]).
fn token_same(tok: &FormattedToken<'_>, ours: &Cmp<'_>, order: ByteOrder) -> Option<bool> {
    match *tok {
        FormattedToken::Uint(v) => ours.same_as(Their::Number(&v.into()), order),
        FormattedToken::Neg(v) if v <= 1 << 63 => {
            let n = (-i128::from(v)) as i64;
            ours.same_as(Their::Number(&n.into()), order)
        }
        FormattedToken::Text(t) => ours.same_as(Token::parse(t).view(), order),
        FormattedToken::Neg(_) => {
            let mut s = String::new();
            tok.write_to(&mut s);
            ours.same_as(Token::parse(&s).view(), order)
        }
    }
}

/// A token as serde_json parses it inside an array.
fn json_of(tok: &FormattedToken<'_>) -> Option<Json> {
    match *tok {
        FormattedToken::Uint(v) => Some(Json::from(v)),
        FormattedToken::Neg(v) if v <= 1 << 63 => Some(Json::from((-i128::from(v)) as i64)),
        FormattedToken::Text(t) => serde_json::from_str(t).ok(),
        FormattedToken::Neg(_) => {
            let mut s = String::new();
            tok.write_to(&mut s);
            serde_json::from_str(&s).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TheirLeaves;
    use super::*;
    use mapsleuth_dump::{read_bytes, DumpReadOptions};

    /// Reads one `-j` entry whose `formatted` is `text`; its tokens and rebuilt text.
    fn entry_of(formatted: &str) -> (String, Vec<FormattedToken<'static>>) {
        let input = format!(r#"[{{"key":["0x01"],"value":["0x02"],"formatted":{formatted}}}]"#);
        let dumps = read_bytes(input.as_bytes(), "t.json", &DumpReadOptions::default()).unwrap();
        let dump: &'static _ = Box::leak(Box::new(dumps.into_iter().next().unwrap()));
        let e = dump.entries().next().unwrap();
        let (_, tokens) = e.formatted_tokens().expect("stored as tokens");
        (e.formatted_json().unwrap(), tokens.collect())
    }

    fn ours() -> Vec<Cmp<'static>> {
        vec![
            Cmp::Num { value: 5, bits: 32 },
            Cmp::Num {
                value: -12,
                bits: 64,
            },
            Cmp::Num {
                value: i128::from(u64::MAX),
                bits: 64,
            },
            Cmp::Float(1.5),
            Cmp::Enum {
                value: 1,
                name: Some("PS_RUNNING"),
            },
            Cmp::Bytes(b"ab\0\0"),
            Cmp::Bytes(&[1, 2, 3]),
        ]
    }

    /// Every leaf compares and prints as the text walk does.
    #[test]
    fn tokens_compare_as_the_text_does() {
        let texts = [
            r#"{"key":5,"value":{"a":-12,"b":"ab","c":1.5,"d":"PS_RUNNING","e":[1,2,3]}}"#,
            r#"{"key":18446744073709551615,"value":{"s":"a\"b\\","n":-9223372036854775808}}"#,
            r#"{"key":0,"value":{"big":-18446744073709551615,"z":-0,"t":true,"x":"0x5"}}"#,
            r#"{"value":{"e":[],"f":[-1,"7",null]}}"#,
        ];
        for text in texts {
            let (rebuilt, tokens) = entry_of(text);
            assert_eq!(rebuilt, text);
            let mut walk = Walk::default();
            let shape = Shape::learn(&rebuilt, &tokens, &mut walk).expect(text);
            let (key, value) = their_json::key_and_value(&rebuilt).unwrap();
            for (part, theirs) in shape.parts.iter().zip([key, value]) {
                let (Some(part), Some(theirs)) = (part, theirs) else {
                    assert!(part.is_none() && theirs.is_none(), "{text}");
                    continue;
                };
                assert!(walk.run(theirs));
                assert_eq!(part.sig, walk.sig, "{text}");
                let by_text = TheirLeaves::Text(theirs, &walk.leaves);
                for i in 0..walk.leaves.len() {
                    assert_eq!(part.text(i, &tokens), by_text.text(i), "{text} leaf {i}");
                    for c in ours() {
                        let order = ByteOrder::Little;
                        let fast = part.same(i, &tokens, &c, order);
                        assert_eq!(fast, by_text.same(i, &c, order), "{text} leaf {i} {c:?}");
                    }
                }
            }
        }
    }

    /// Shapes the token path does not take stay with the text path.
    #[test]
    fn other_shapes_are_not_learnt() {
        for text in [
            r#"{"key":1,"values":[{"cpu":0,"value":2}]}"#,
            r#"{"key":1,"value":{"m":[[1,2],[3]]}}"#,
            r#"{"key":1,"value":{"m":[{"a":1}]}}"#,
        ] {
            let (rebuilt, tokens) = entry_of(text);
            assert!(
                Shape::learn(&rebuilt, &tokens, &mut Walk::default()).is_none(),
                "{text}"
            );
        }
    }
}
