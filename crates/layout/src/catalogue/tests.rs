//! The catalogue against docs/findings.md: every code in both, with the same severities,
//! title and fix.

use super::*;

/// One `### CODE severity — title` section of docs/findings.md.
#[derive(Debug)]
struct DocEntry {
    code: String,
    severities: String,
    title: String,
    /// The text after `Fix: ` to the end of its paragraph, whitespace folded.
    fix: Option<String>,
}

fn fold_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse(doc: &str) -> Result<Vec<DocEntry>, String> {
    let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut in_section = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            sections.push((heading, Vec::new()));
            in_section = true;
        } else if line.starts_with('#') {
            in_section = false;
        } else if let (true, Some((_, body))) = (in_section, sections.last_mut()) {
            body.push(line);
        }
    }
    sections
        .into_iter()
        .map(|(heading, body)| {
            let (code, rest) = heading.split_once(' ').ok_or(heading)?;
            let (severities, title) = rest.split_once(" — ").ok_or(heading)?;
            let text = body.join("\n");
            let fixes: Vec<&str> = text
                .split("\n\n")
                .filter_map(|paragraph| paragraph.split_once("Fix: ").map(|(_, fix)| fix))
                .collect();
            if fixes.len() > 1 || fixes.iter().any(|f| f.contains("Fix: ")) {
                return Err(format!("{code}: more than one `Fix: `"));
            }
            Ok(DocEntry {
                code: code.to_string(),
                severities: severities.to_string(),
                title: title.to_string(),
                fix: fixes.first().map(|f| fold_space(f)),
            })
        })
        .collect()
}

/// How `doc` differs from the catalogue, one line per difference.
fn drift(doc: &str) -> Vec<String> {
    let entries = match parse(doc) {
        Ok(e) => e,
        Err(e) => return vec![format!("unreadable heading or section: {e}")],
    };
    let mut problems = Vec::new();
    let documented: Vec<&str> = entries.iter().map(|e| e.code.as_str()).collect();
    let catalogued: Vec<&str> = FindingCode::all().map(FindingCode::as_str).collect();
    if documented != catalogued {
        problems.push(format!(
            "codes differ: docs/findings.md has {documented:?}, the catalogue {catalogued:?}"
        ));
    }
    for e in &entries {
        let Ok(code) = e.code.parse::<FindingCode>() else {
            continue;
        };
        let info = code.info();
        let severities: Vec<&str> = info.severities.iter().map(|s| s.as_str()).collect();
        if e.severities != severities.join("/") {
            problems.push(format!(
                "{}: severity `{}` in the doc, `{}` in the catalogue",
                e.code,
                e.severities,
                severities.join("/")
            ));
        }
        if e.title != info.title {
            problems.push(format!(
                "{}: title `{}` in the doc, `{}` in the catalogue",
                e.code, e.title, info.title
            ));
        }
        let fix = info.fix.map(fold_space);
        if e.fix != fix {
            problems.push(format!(
                "{}: fix {:?} in the doc, {:?} in the catalogue",
                e.code, e.fix, fix
            ));
        }
    }
    problems
}

fn findings_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/findings.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn docs_findings_md_matches_the_catalogue() {
    let problems = drift(&findings_md());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn drift_from_the_doc_is_caught() {
    let doc = findings_md();
    let edited = doc
        .replace(
            "### L005 warning — signedness differs",
            "### L005 error — signedness differs",
        )
        .replace(
            "### D013 error — duplicate keys",
            "### D013 error — repeated keys",
        )
        .replace(
            "Fix: take the dump again, or a capture.",
            "Fix: take the dump again.",
        )
        .replace(
            "### B010 info — no module BTF",
            "### B011 info — no module BTF",
        );
    assert_ne!(doc, edited);
    let problems = drift(&edited);
    for expected in [
        "codes differ",
        "L005: severity `error` in the doc, `warning` in the catalogue",
        "D013: title `repeated keys` in the doc",
        "D013: fix Some(\"take the dump again.\") in the doc",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected}: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");
    // A doc without a fix where the catalogue has one drifts too.
    let no_fix = doc.replace("Fix: `modprobe configs`.", "");
    assert_eq!(drift(&no_fix).len(), 1);
}

#[test]
fn codes_are_unique_and_in_order_within_their_family() {
    for (letter, codes) in [
        (
            'B',
            BtfCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ),
        ('L', LayoutCode::ALL.iter().map(|c| c.as_str()).collect()),
        ('D', DumpCode::ALL.iter().map(|c| c.as_str()).collect()),
    ] {
        assert!(
            codes.iter().all(|c| c.len() == 4 && c.starts_with(letter)),
            "{codes:?}"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
    }
    for code in FindingCode::all() {
        let info = code.info();
        assert!(!info.severities.is_empty(), "{code}");
        assert_eq!(code.as_str().parse::<FindingCode>(), Ok(code));
        assert_eq!(code.to_string(), code.as_str());
    }
    assert!("L999".parse::<FindingCode>().is_err());
}

#[test]
fn a_finding_takes_its_code_and_usual_severity() {
    let f = crate::Finding::new(LayoutCode::SizeDiffers, "sizes");
    assert_eq!((f.code.as_str(), f.severity), ("L001", Severity::Error));
    let f = crate::Finding::with_severity(LayoutCode::MissingInC, Severity::Warning, "pad");
    assert_eq!((f.code.as_str(), f.severity), ("L010", Severity::Warning));
    assert_eq!(DumpCode::LookupError.severity(), Severity::Info);
    assert_eq!(BtfCode::NotKernelBtf.as_str(), "B008");
}
