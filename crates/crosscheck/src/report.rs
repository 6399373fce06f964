//! The `analyze layout` report: every pair checked, and what could not be paired.

use mapsleuth_layout::{Finding, LayoutCode, Location, Severity, Target};
use serde::Serialize;

use crate::crosscheck::PairReport;
use crate::pairing::CCandidate;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct LayoutSummary {
    pub pairs: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

/// One JSON document: `schemas/analyze-layout.schema.json`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct LayoutReport {
    pub tool_version: String,
    pub go_binary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
    pub go_target: Target,
    pub btf_file: String,
    pub btf_target: Target,
    pub pairs: Vec<PairReport>,
    /// Findings about the inputs as a whole (unpaired map types, ...).
    pub findings: Vec<Finding>,
    pub summary: LayoutSummary,
}

impl LayoutSummary {
    /// Counts `findings` by severity.
    pub fn of<'f>(pairs: usize, findings: impl Iterator<Item = &'f Finding>) -> LayoutSummary {
        let mut summary = LayoutSummary {
            pairs,
            errors: 0,
            warnings: 0,
            infos: 0,
        };
        for f in findings {
            match f.severity {
                Severity::Error => summary.errors += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => summary.infos += 1,
            }
        }
        summary
    }
}

/// L022: a map's key or value type that no Go type mirrors.
fn unpaired_finding(c: &CCandidate) -> Finding {
    let (map, role) = c.map.clone().unwrap_or_default();
    let bare = c
        .name
        .trim_start_matches("struct ")
        .trim_start_matches("union ");
    Finding::new(
        LayoutCode::Unpaired,
        format!(
            "the {role} type of map `{map}`, `{}`, has no Go counterpart in the binary",
            c.name
        ),
    )
    .at(Location {
        type_name: Some(c.name.clone()),
        map: Some(map),
        ..Default::default()
    })
    .fix(format!(
        "pair it explicitly with --pair GoType={bare}, or generate a mirror with `mapsleuth go \
         gen {} --btf FILE`",
        c.name
    ))
}

impl LayoutReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        go_binary: String,
        go_version: Option<String>,
        go_target: Target,
        btf_file: String,
        btf_target: Target,
        pairs: Vec<PairReport>,
        unpaired: &[CCandidate],
    ) -> Self {
        let findings: Vec<Finding> = unpaired.iter().map(unpaired_finding).collect();
        let all = pairs.iter().flat_map(|p| p.findings.iter());
        let summary = LayoutSummary::of(pairs.len(), all.chain(findings.iter()));
        LayoutReport {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            go_binary,
            go_version,
            go_target,
            btf_file,
            btf_target,
            pairs,
            findings,
            summary,
        }
    }

    /// Keeps the findings `keep` accepts (pairs' and the report's own) and counts them
    /// again: what `check` does with the findings a config file allows.
    pub fn retain_findings(&mut self, mut keep: impl FnMut(&Finding) -> bool) {
        for p in &mut self.pairs {
            p.findings.retain(&mut keep);
        }
        self.findings.retain(&mut keep);
        let all = self.pairs.iter().flat_map(|p| p.findings.iter());
        self.summary = LayoutSummary::of(self.pairs.len(), all.chain(self.findings.iter()));
    }

    /// Every finding, pair findings first.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.pairs
            .iter()
            .flat_map(|p| p.findings.iter())
            .chain(self.findings.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairing::{plan_by_name, CCandidate};
    use mapsleuth_layout::ByteOrder;

    #[test]
    fn map_types_without_a_go_mirror_are_reported() {
        let candidates = vec![
            CCandidate {
                name: "struct event".into(),
                id: 1,
                map: Some(("events".into(), "value")),
            },
            CCandidate {
                name: "struct flow_key".into(),
                id: 2,
                map: Some(("flows".into(), "key")),
            },
        ];
        let (plans, unpaired) = plan_by_name(
            &["main.Event".to_string(), "runtime.g".to_string()],
            &candidates,
            false,
        );
        assert_eq!(plans.len(), 1);
        assert_eq!(unpaired.len(), 1);
        let t = Target::bpf(ByteOrder::Little);
        let r = LayoutReport::new(
            "app".into(),
            None,
            t.clone(),
            "x.o".into(),
            t,
            vec![],
            &unpaired,
        );
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].code, "L022");
        assert_eq!(r.findings[0].location.map.as_deref(), Some("flows"));
        assert_eq!(r.summary.warnings, 1);
        // Everything paired: no L022.
        let (_, none) = plan_by_name(
            &["main.Event".into(), "main.FlowKey".into()],
            &candidates,
            false,
        );
        assert!(none.is_empty());
    }
}
