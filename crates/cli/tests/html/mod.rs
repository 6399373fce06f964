//! A small HTML reader for the report tests: checks that every non-void element is
//! closed and properly nested, and gives the elements with their attributes and spans,
//! so that tests can look inside one section of the page.

#![allow(dead_code)]

/// Elements HTML never closes.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
/// Elements whose content is text up to their end tag.
const RAW: [&str; 2] = ["script", "style"];

#[derive(Clone, Debug)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Byte offset of `<` of the start tag and of the end of the end tag.
    pub start: usize,
    pub end: usize,
    pub depth: usize,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `other` lies inside this element.
    pub fn contains(&self, other: &Element) -> bool {
        other.start > self.start && other.end <= self.end
    }
}

/// The line and column of byte `at`, for messages.
fn place(html: &str, at: usize) -> String {
    let before = &html[..at.min(html.len())];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line} col {col}")
}

/// Reads a tag's attributes from `s` (the text between the name and `>`); values are
/// unescaped for `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`.
fn attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() || b[i] == b'/' {
            i += 1;
            continue;
        }
        let n0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = s[n0..i].to_ascii_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let q = *b.get(i).ok_or("attribute without value")?;
            if q != b'"' && q != b'\'' {
                return Err(format!("unquoted value of `{name}`"));
            }
            let v0 = i + 1;
            let len = s[v0..]
                .find(q as char)
                .ok_or("unterminated attribute value")?;
            out.push((name, unescape(&s[v0..v0 + len])));
            i = v0 + len + 1;
        } else {
            out.push((name, String::new()));
        }
    }
    Ok(out)
}

pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The elements of `html`, in document order; an error names the place of the first
/// unclosed, stray or misnested tag.
pub fn parse(html: &str) -> Result<Vec<Element>, String> {
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(rel) = html[i..].find('<') {
        let at = i + rel;
        let rest = &html[at..];
        if rest.starts_with("<!--") {
            let end = rest
                .find("-->")
                .ok_or(format!("unclosed comment at {}", place(html, at)))?;
            i = at + end + 3;
            continue;
        }
        if rest.starts_with("<!") {
            i = at + rest.find('>').ok_or("unclosed doctype")? + 1;
            continue;
        }
        let close = rest
            .find('>')
            .ok_or(format!("unclosed tag at {}", place(html, at)))?;
        let tag = &rest[1..close];
        i = at + close + 1;
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            let top = open
                .pop()
                .ok_or(format!("stray </{name}> at {}", place(html, at)))?;
            if out[top].name != name {
                return Err(format!(
                    "</{name}> at {} closes <{}> opened at {}",
                    place(html, at),
                    out[top].name,
                    place(html, out[top].start)
                ));
            }
            out[top].end = i;
            continue;
        }
        let name_len = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_len].to_ascii_lowercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("bad tag `<{tag}>` at {}", place(html, at)));
        }
        let attrs =
            attributes(&tag[name_len..]).map_err(|e| format!("{e} at {}", place(html, at)))?;
        let self_closed = tag.ends_with('/');
        out.push(Element {
            name: name.clone(),
            attrs,
            start: at,
            end: i,
            depth: open.len(),
        });
        if VOID.contains(&name.as_str()) || self_closed {
            continue;
        }
        if RAW.contains(&name.as_str()) {
            let end_tag = format!("</{name}>");
            let end = html[i..]
                .find(&end_tag)
                .ok_or(format!("unclosed <{name}> at {}", place(html, at)))?;
            i += end + end_tag.len();
            if let Some(last) = out.last_mut() {
                last.end = i;
            }
            continue;
        }
        open.push(out.len() - 1);
    }
    if let Some(&top) = open.last() {
        return Err(format!(
            "<{}> opened at {} is never closed",
            out[top].name,
            place(html, out[top].start)
        ));
    }
    Ok(out)
}

/// The external references of a page: URLs, `<link>`, and any `src`/`href` that is not
/// a fragment of the page itself.
pub fn external_refs(html: &str, elements: &[Element]) -> Vec<String> {
    let mut bad = Vec::new();
    let lower = html.to_ascii_lowercase();
    for needle in [
        "http://", "https://", "@import", "url(//", "url(\"", "url('",
    ] {
        if lower.contains(needle) {
            bad.push(format!("text contains `{needle}`"));
        }
    }
    if lower.matches("url(").count() != lower.matches("url(#").count() {
        bad.push("a CSS url() that is not a fragment".to_string());
    }
    for e in elements {
        if matches!(
            e.name.as_str(),
            "link" | "iframe" | "object" | "embed" | "img"
        ) {
            bad.push(format!("<{}> element", e.name));
        }
        for (n, v) in &e.attrs {
            let refers = matches!(
                n.as_str(),
                "src" | "href" | "xlink:href" | "action" | "srcset"
            );
            if refers && !v.starts_with('#') {
                bad.push(format!("<{} {n}=\"{v}\">", e.name));
            }
        }
    }
    bad
}
