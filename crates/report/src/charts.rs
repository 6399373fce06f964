//! Small charts as inline SVG: vertical bars (a histogram) and horizontal bars (one per
//! field or CPU). Their size does not depend on the number of entries behind them.

use crate::svg::Svg;

/// Bars drawn at most in one chart (more are summed into the last, or left out and said).
pub const MAX_BARS: usize = 64;

/// A histogram: one bar per bin, the bin's label under the first and last bar.
pub fn histogram(bins: &[(String, u64)], label: &str) -> String {
    let bins = &bins[..bins.len().min(MAX_BARS)];
    let (w, h, pad) = (480.0, 160.0, 24.0);
    let mut svg = Svg::new(w as u32, h as u32 + 30, "chart", label);
    let max = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let bw = if bins.is_empty() {
        0.0
    } else {
        (w - 2.0 * pad) / bins.len() as f64
    };
    svg.rect(pad, h, w - 2.0 * pad, 1.0, "#555", "");
    for (i, (name, count)) in bins.iter().enumerate() {
        let bh = (*count as f64 / max) * (h - 20.0);
        let x = pad + i as f64 * bw;
        svg.group(&format!("{name}: {count}"), "");
        svg.rect(x + 1.0, h - bh, (bw - 2.0).max(1.0), bh, "#4c78a8", "");
        svg.end_group();
    }
    if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
        svg.text(pad, h + 14.0, "start", "lbl", &first.0);
        svg.text(w - pad, h + 14.0, "end", "lbl", &last.0);
    }
    svg.text(pad, 12.0, "start", "lbl", &format!("max {}", max as u64));
    svg.finish()
}

/// Horizontal bars, `value / of` long each, the value written after the bar.
pub fn bars(items: &[(String, f64, String)], of: f64, label: &str) -> String {
    let items = &items[..items.len().min(MAX_BARS)];
    let (name_w, bar_w, row) = (200.0, 240.0, 16.0);
    let h = (items.len() as f64 * row + 4.0).max(20.0);
    let mut svg = Svg::new((name_w + bar_w + 120.0) as u32, h as u32, "chart", label);
    let of = if of > 0.0 { of } else { 1.0 };
    for (i, (name, value, text)) in items.iter().enumerate() {
        let y = 2.0 + i as f64 * row;
        svg.group(&format!("{name}: {text}"), "");
        svg.text(name_w - 6.0, y + 11.0, "end", "lbl", &shorten(name, 30));
        let len = (value / of).clamp(0.0, 1.0) * bar_w;
        svg.rect(name_w, y + 2.0, bar_w, row - 4.0, "#eeeeee", "");
        svg.rect(name_w, y + 2.0, len, row - 4.0, "#4c78a8", "");
        svg.text(name_w + bar_w + 6.0, y + 11.0, "start", "lbl", text);
        svg.end_group();
    }
    svg.finish()
}

/// The first `n` characters of `s`, with an ellipsis when cut.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_charts_draw() {
        assert!(histogram(&[], "x").ends_with("</svg>"));
        assert!(bars(&[], 0.0, "x").ends_with("</svg>"));
    }

    #[test]
    fn bars_are_capped() {
        let many: Vec<(String, u64)> = (0..1000).map(|i| (i.to_string(), i)).collect();
        let svg = histogram(&many, "x");
        assert_eq!(svg.matches("<g>").count(), MAX_BARS);
    }
}
