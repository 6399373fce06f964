//! mapsleuth's incident report: the layout pairs and dump analyses of a post-mortem as
//! one self-contained HTML file (inline CSS, a few lines of inline JS, byte maps and
//! charts as inline SVG; no URL anywhere), to attach to a ticket and read offline.
//!
//! [`Report::build`] makes the model from the same structs `--format json` prints;
//! [`render`] writes it through the template in `templates/report.html` (minijinja,
//! HTML-escaped); the SVG is written by [`bytemap`] and [`charts`], escaped there.

pub mod aggregate;
pub mod bytemap;
pub mod charts;
pub mod dumpview;
pub mod model;
pub mod svg;

pub use model::{Input, InputFile, Report};

/// The page's template, compiled into the library.
const TEMPLATE: &str = include_str!("../templates/report.html");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rendering the report template: {0}")]
    Template(#[from] minijinja::Error),
}

/// The report as one HTML document.
pub fn render(report: &Report) -> Result<String, Error> {
    let mut env = minijinja::Environment::new();
    // `.html`: minijinja escapes every value for HTML; only the SVG, escaped by
    // [`svg::Svg`], goes in with `|safe`.
    env.add_template("report.html", TEMPLATE)?;
    let tmpl = env.get_template("report.html")?;
    let ctx = minijinja::Value::from(minijinja::value::Serde(report));
    Ok(tmpl.render(ctx)?)
}

/// Builds and renders in one step.
pub fn html(input: &Input<'_, '_>) -> Result<String, Error> {
    render(&Report::build(input))
}
