//! A small SVG writer: elements are appended to one string, every text and attribute
//! escaped here, so the templates can insert the result as it is.

use std::fmt::Write;

/// The fill of holes and padding: a pattern the page defines once (`ms-hatch`).
pub const HATCH_FILL: &str = "url(#ms-hatch)";

/// Escapes text for HTML/SVG content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One `<svg>` element being written (inline in HTML, so without `xmlns`: the file holds
/// no URL at all).
pub struct Svg {
    out: String,
}

impl Svg {
    /// An SVG of `width` x `height` pixels; `label` is read by screen readers.
    pub fn new(width: u32, height: u32, class: &str, label: &str) -> Self {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="{}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
            escape(class),
            escape(label)
        );
        Svg { out }
    }

    /// Appends raw, already escaped markup (used by the callers' own element helpers).
    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A rectangle; `extra` is further attributes, already escaped.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, extra: &str) {
        let _ = write!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"{extra}/>"#,
            num(x),
            num(y),
            num(w),
            num(h),
            escape(fill)
        );
    }

    /// Text at (x, y); `anchor` is start, middle or end.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, s: &str) {
        let _ = write!(
            self.out,
            r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{class}">{}</text>"#,
            num(x),
            num(y),
            escape(s)
        );
    }

    /// Opens a group whose hover text (`<title>`) covers every element in it.
    pub fn group(&mut self, title: &str, extra: &str) {
        let _ = write!(self.out, "<g{extra}><title>{}</title>", escape(title));
    }

    pub fn end_group(&mut self) {
        self.out.push_str("</g>");
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// A coordinate with at most one decimal, so that output stays short and stable.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// The fill of field number `i`: distinct, light enough to read text on.
pub fn field_colour(i: usize) -> &'static str {
    const PALETTE: [&str; 12] = [
        "#8ecae6", "#ffb703", "#90be6d", "#f4a3a8", "#b8a1e3", "#f9c74f", "#76c8b1", "#f8961e",
        "#a3b18a", "#e9c46a", "#9ad1d4", "#d4a373",
    ];
    PALETTE[i % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(2.25), "2.3");
        assert_eq!(num(f64::NAN), "0");
    }
}
