//! SARIF 2.1.0 (`--format sarif`): one run, one rule per finding code with its
//! catalogue text (docs/findings.md), one result per finding. Results point at the Go
//! struct's declaration when `--go-src` finds it (Go's DWARF does not say where types
//! are declared), else at the file the finding is about.

use mapsleuth_engine::GoSources;
use mapsleuth_layout::{Finding, FindingCode, Severity};
use serde_json::{json, Value};

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const FINDINGS_DOC: &str = "docs/findings.md";
const FINDINGS_URI: &str = "https://example.invalid/mapsleuth/blob/main/docs/findings.md";

/// Where results point.
pub struct Locator {
    /// `--go-src DIR` and what was found in it.
    go_src: Option<(String, GoSources)>,
    /// The file a finding is about when it names none (the Go binary, the dump).
    fallback: String,
}

impl Locator {
    pub fn new(go_src: Option<&str>, fallback: &str) -> anyhow::Result<Locator> {
        let go_src = match go_src {
            Some(dir) => Some((dir.trim_end_matches('/').to_string(), GoSources::scan(dir)?)),
            None => None,
        };
        Ok(Locator {
            go_src,
            fallback: fallback.to_string(),
        })
    }

    /// (file, line) of a finding.
    fn place(&self, f: &Finding) -> (String, Option<usize>) {
        let l = &f.location;
        let go_type = [&l.other_type, &l.type_name]
            .into_iter()
            .flatten()
            .find(|t| is_go_name(t));
        if let (Some((dir, src)), Some(t)) = (&self.go_src, go_type) {
            if let Some(d) = src.find(t) {
                return (format!("{dir}/{}", d.file), Some(d.line));
            }
        }
        (
            l.file.clone().unwrap_or_else(|| self.fallback.clone()),
            None,
        )
    }
}

/// Go type names have a package (`main.Event`); C names never hold a dot.
fn is_go_name(t: &str) -> bool {
    !t.starts_with("struct ") && !t.starts_with("union ") && t.contains('.')
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn rule(code: FindingCode) -> Value {
    let info = code.info();
    // GitHub's anchor of the `### L001 error — total size differs` heading.
    let severities: Vec<&str> = info.severities.iter().map(|s| s.as_str()).collect();
    let heading = format!("{} {} — {}", info.code, severities.join(" / "), info.title);
    let anchor: String = heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect();
    let help = match info.fix {
        Some(fix) => format!("{}. Fix: {fix}", info.title),
        None => format!("{}. See {FINDINGS_DOC}.", info.title),
    };
    json!({
        "id": info.code,
        "name": info.title,
        "shortDescription": { "text": info.title },
        "fullDescription": { "text": help },
        "help": { "text": help },
        "helpUri": format!("{FINDINGS_URI}#{anchor}"),
        "defaultConfiguration": { "level": level(info.severity()) },
    })
}

fn result(f: &Finding, index: usize, loc: &Locator) -> Value {
    let (uri, line) = loc.place(f);
    let mut physical = json!({ "artifactLocation": { "uri": uri } });
    if let Some(line) = line {
        physical["region"] = json!({ "startLine": line });
    }
    let mut logical = Vec::new();
    if let Some(t) = &f.location.type_name {
        let name = match &f.location.field {
            Some(field) => format!("{t}.{field}"),
            None => t.clone(),
        };
        logical.push(json!({ "fullyQualifiedName": name, "kind": "type" }));
    }
    let mut message = f.message.clone();
    if let Some(fix) = &f.fix {
        message.push_str(&format!(" Fix: {fix}"));
    }
    let mut r = json!({
        "ruleId": f.code,
        "ruleIndex": index,
        "level": level(f.severity),
        "message": { "text": message },
        "locations": [{ "physicalLocation": physical }],
    });
    if !logical.is_empty() {
        r["locations"][0]["logicalLocations"] = Value::Array(logical);
    }
    let props = serde_json::to_value(&f.location).unwrap_or(Value::Null);
    if props.as_object().is_some_and(|m| !m.is_empty()) {
        r["properties"] = props;
    }
    r
}

/// The SARIF log of `findings`.
pub fn log<'f>(findings: impl IntoIterator<Item = &'f Finding>, loc: &Locator) -> Value {
    let codes: Vec<FindingCode> = FindingCode::all().collect();
    let rules: Vec<Value> = codes.iter().map(|c| rule(*c)).collect();
    let results: Vec<Value> = findings
        .into_iter()
        .map(|f| {
            let index = codes.iter().position(|c| c.as_str() == f.code).unwrap_or(0);
            result(f, index, loc)
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mapsleuth",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/mapsleuth",
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
