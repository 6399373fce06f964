//! Findings: what every engine reports. Codes are stable and never reused; `L` for
//! layout cross-checks, `D` for dump forensics, `B` for BTF health. The catalogue is
//! [`crate::catalogue`] (and docs/findings.md, kept in step with it by a test).

use serde::{Deserialize, Serialize};

use crate::catalogue::FindingCode;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            _ => Err(format!("unknown severity `{s}` (info, warning, error)")),
        }
    }
}

/// Where a finding points. Every part is optional: a BTF health finding has a file, a
/// layout finding a type and field, a dump finding a map, key and byte offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The type, as the source spells it (`struct event`, `main.Event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// The other side's type for cross-checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_type: Option<String>,
    /// Dotted field path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Byte offset in the type, the value, or the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// The entry's key, as hex bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// The finding's code (`L001`, `D002`, `B008`), stable and never reused; every code
    /// is in docs/findings.md.
    // Text, as reports and their readers (SQL, JSON tools) use it; findings are built
    // from a typed `FindingCode`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A finding with its code's usual severity.
    pub fn new(code: impl Into<FindingCode>, message: impl Into<String>) -> Self {
        let code = code.into();
        Finding::with_severity(code, code.severity(), message)
    }

    /// A finding of a code whose severity depends on the case (the catalogue lists the
    /// ones it takes).
    pub fn with_severity(
        code: impl Into<FindingCode>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code: code.into().as_str().to_string(),
            severity,
            message: message.into(),
            location: Location::default(),
            fix: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = location;
        self
    }
}
