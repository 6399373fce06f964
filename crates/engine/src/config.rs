//! `mapsleuth.toml`: the pairs a project names by hand and the findings it accepts, each
//! with its reason (docs/ci.md).

use mapsleuth_layout::Finding;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The whole file. Unknown keys are errors: a misspelt `alow` must not silently allow
/// nothing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    #[serde(default, rename = "pair")]
    pub pairs: Vec<PairEntry>,
    #[serde(default, rename = "allow")]
    pub allows: Vec<Allow>,
}

/// `[[pair]] go = "example.com/app/bpf.Event"  c = "struct event"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairEntry {
    pub go: String,
    pub c: String,
}

/// `[[allow]] code = "L022"  map = "rb"  reason = "..."`: findings of `code` whose
/// location matches every selector given.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// Either side's type: `struct event` or `example.com/app/bpf.Event`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why the finding is acceptable; required, and not empty.
    pub reason: String,
}

impl Allow {
    /// `maps` are the maps the finding is about: its own, or those whose key or value is
    /// its type.
    pub fn covers(&self, f: &Finding, maps: &[&str]) -> bool {
        let l = &f.location;
        let same = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        let map_ok = self.map.as_ref().is_none_or(|m| maps.contains(&m.as_str()));
        let type_ok = self
            .type_name
            .as_ref()
            .is_none_or(|t| l.type_name.as_ref() == Some(t) || l.other_type.as_ref() == Some(t));
        self.code == f.code && map_ok && same(&self.field, &l.field) && type_ok
    }
}

impl GateConfig {
    /// Reads and validates `path`; errors name the file and line.
    pub fn read(path: &str) -> Result<GateConfig> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Io {
            path: path.to_string(),
            error,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &str) -> Result<GateConfig> {
        let config: GateConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            Error::usage(format!("{path}:{line}: {}", e.message()))
        })?;
        for (i, a) in config.allows.iter().enumerate() {
            if a.reason.trim().is_empty() {
                return Err(Error::usage(format!(
                    "{path}: [[allow]] number {} ({}) has an empty reason: say why the finding \
                     is acceptable",
                    i + 1,
                    a.code
                )));
            }
            if a.code.parse::<mapsleuth_layout::FindingCode>().is_err() {
                return Err(Error::usage(format!(
                    "{path}: [[allow]] number {}: unknown finding code `{}` (docs/findings.md)",
                    i + 1,
                    a.code
                )));
            }
        }
        Ok(config)
    }

    /// The allow entry that covers `f` (about `maps`), if any.
    pub fn allowed(&self, f: &Finding, maps: &[&str]) -> Option<&Allow> {
        self.allows.iter().find(|a| a.covers(f, maps))
    }
}

/// 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapsleuth_layout::{LayoutCode, Location};

    #[test]
    fn reads_pairs_and_allows() {
        let c = GateConfig::parse(
            "[[pair]]\ngo = \"main.Event\"\nc = \"struct event\"\n\n[[allow]]\ncode = \"L022\"\n\
             map = \"rb\"\nreason = \"ring buffer records are decoded by hand\"\n",
            "m.toml",
        )
        .unwrap();
        assert_eq!(c.pairs[0].go, "main.Event");
        let f = Finding::new(LayoutCode::Unpaired, "x").at(Location {
            map: Some("rb".into()),
            ..Default::default()
        });
        assert!(c.allowed(&f, &["rb"]).is_some());
        let other = Finding::new(LayoutCode::Unpaired, "x").at(Location {
            map: Some("flows".into()),
            ..Default::default()
        });
        assert!(c.allowed(&other, &["flows"]).is_none());
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = GateConfig::parse("[[pair]]\ngo = \"a\"\nc = \"b\"\nalow = 1\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.toml:4:"), "{e}");
        let e = GateConfig::parse("[[allow]]\ncode = \"L022\"\nreason = \" \"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty reason"), "{e}");
        let e = GateConfig::parse("[[allow]]\ncode = \"L022\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reason"), "{e}");
        let e = GateConfig::parse("[[allow]]\ncode = \"L999\"\nreason = \"r\"\n", "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown finding code"), "{e}");
    }
}
