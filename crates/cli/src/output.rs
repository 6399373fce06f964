//! How results reach the terminal: the output format, colour, and the exit status that
//! findings imply.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use mapsleuth_layout::{Finding, Severity};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables and pahole-style layouts.
    Table,
    /// One JSON document (its schema is in schemas/).
    Json,
    /// One JSON object per line (rows, entries or findings).
    Ndjson,
    /// Comma-separated rows with a header.
    Csv,
    /// SARIF 2.1.0 (code scanning): one rule per finding code, one result per finding
    /// (`check`, `lock check`, `analyze layout`, `analyze dump`).
    Sarif,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What every command gets: where to write and how.
pub struct Out {
    pub format: Format,
    pub color: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub stdout: std::io::StdoutLock<'static>,
}

impl Out {
    pub fn new(format: Format, color: ColorChoice, quiet: bool, verbose: bool) -> Self {
        let stdout = std::io::stdout();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && stdout.is_terminal()
            }
        };
        Out {
            format,
            color,
            quiet,
            verbose,
            stdout: stdout.lock(),
        }
    }

    pub fn paint(&self, text: &str, style: Style) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Error => "1;31",
            Style::Warning => "1;33",
            Style::Info => "36",
            Style::Dim => "2",
            Style::Bold => "1",
            Style::Ok => "32",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    pub fn json<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut self.stdout, value)?;
        writeln!(self.stdout)?;
        Ok(())
    }

    pub fn ndjson<T: Serialize>(
        &mut self,
        rows: impl IntoIterator<Item = T>,
    ) -> anyhow::Result<()> {
        for r in rows {
            serde_json::to_writer(&mut self.stdout, &r)?;
            writeln!(self.stdout)?;
        }
        Ok(())
    }

    /// Findings as a human reads them: severity, code, location, message, fix.
    pub fn findings(&mut self, findings: &[Finding]) -> anyhow::Result<()> {
        for f in findings {
            let sev = match f.severity {
                Severity::Error => self.paint("error", Style::Error),
                Severity::Warning => self.paint("warning", Style::Warning),
                Severity::Info => self.paint("info", Style::Info),
            };
            let mut loc = Vec::new();
            let l = &f.location;
            if let Some(m) = &l.map {
                loc.push(format!("map {m}"));
            }
            if let Some(k) = &l.key {
                // Ring records have no key: findings name them `#N`, by their index.
                let ring_record = k.starts_with('#') && !k.contains(" (line ");
                loc.push(format!(
                    "{} {k}",
                    if ring_record { "record" } else { "key" }
                ));
            }
            if let Some(t) = &l.type_name {
                loc.push(t.clone());
            }
            if let Some(field) = &l.field {
                loc.push(format!(".{field}"));
            }
            if let Some(o) = l.offset {
                loc.push(format!("@{o}"));
            }
            let loc = if loc.is_empty() {
                l.file.clone().unwrap_or_default()
            } else {
                loc.join(" ")
            };
            writeln!(self.stdout, "{sev}[{}] {}: {}", f.code, loc, f.message)?;
            if let Some(fix) = &f.fix {
                writeln!(self.stdout, "    {} {fix}", self.paint("fix:", Style::Dim))?;
            }
        }
        Ok(())
    }

    /// Findings as one SARIF 2.1.0 log.
    pub fn sarif<'f>(
        &mut self,
        findings: impl IntoIterator<Item = &'f Finding>,
        locator: &crate::sarif::Locator,
    ) -> anyhow::Result<()> {
        let log = crate::sarif::log(findings, locator);
        self.json(&log)
    }

    pub fn unsupported(&self, command: &str) -> anyhow::Error {
        anyhow::Error::new(UsageError(format!(
            "--format {} is not available for `{command}`",
            format!("{:?}", self.format).to_lowercase()
        )))
    }
}

#[derive(Clone, Copy)]
pub enum Style {
    Error,
    Warning,
    Info,
    Dim,
    Bold,
    Ok,
}

/// Bad usage: exit status 2, like unreadable input.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Findings at or above the threshold make the run exit with status 1.
pub fn exit_for(findings: &[Finding], fail_on: Severity) -> i32 {
    if findings.iter().any(|f| f.severity >= fail_on) {
        1
    } else {
        0
    }
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
