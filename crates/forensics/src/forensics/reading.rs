//! D014: entries bpftool could not read; D015: problems reading the dump itself.

use std::collections::BTreeMap;

use mapsleuth_dump::{Dump, DumpEntry, DumpError, ErrorKind};
use mapsleuth_layout::{Finding, Location, Severity};

use super::tally::{plural, push_capped, EntryId, Tally};
use super::{Code, Marks, Place};

/// Entries listed with a lookup error instead of a value, by message.
#[derive(Default)]
pub(super) struct LookupErrors {
    tally: Tally,
    messages: BTreeMap<String, u64>,
}

impl LookupErrors {
    pub fn add(&mut self, entry: &DumpEntry<'_>, id: &EntryId<'_>, marks: &mut Marks) {
        marks.add(Code::LookupError);
        let msg = entry.lookup_error().unwrap_or("?").to_string();
        self.tally.add(id.label, id.max_keys, || None);
        *self.messages.entry(msg).or_default() += 1;
    }

    /// The D014 finding: a warning, or information when the map type has empty slots.
    pub fn finding(&self, dump: &Dump, place: &Place) -> Option<Finding> {
        let t = &self.tally;
        if t.count == 0 {
            return None;
        }
        let normal = dump
            .meta
            .bpftool_dump_note()
            .is_some_and(|n| n.contains("lookup errors"));
        let msgs: Vec<String> = self
            .messages
            .iter()
            .map(|(m, n)| format!("`{m}` ({n})"))
            .collect();
        let mut msg = format!(
            "bpftool could not read {}: {}; {}",
            plural(t.count, "entry", "entries"),
            msgs.join(", "),
            t.keys_text()
        );
        if normal {
            msg.push_str("; for this map type these are empty slots");
        }
        let sev = if normal {
            Severity::Info
        } else {
            Severity::Warning
        };
        Some(
            Finding::with_severity(Code::LookupError, sev, msg)
                .at(Location {
                    key: t.first_key(),
                    ..place.at(None)
                })
                .fix(
                    "`No such file or directory` means the key vanished (or a slot is empty) \
                    between listing and lookup; `Operation not permitted`/`not supported` means \
                    the map type cannot be read from user space this way",
                ),
        )
    }
}

/// D015: one finding per reader issue up to `max`, then counts of the rest.
pub(super) fn issue_findings(dump: &Dump, max: usize, place: &Place, out: &mut Vec<Finding>) {
    let more = |msg: String| {
        Finding::with_severity(Code::DumpIssue, Severity::Warning, msg).at(place.at(None))
    };
    push_capped(
        out,
        &dump.issues,
        max,
        |issue| issue_finding(issue, place.map.clone()),
        |_, n| more(format!("and {n} more problems reading the dump")),
    );
    if dump.issues_dropped > 0 {
        out.push(more(format!(
            "{} more problems reading the dump were not kept",
            dump.issues_dropped
        )));
    }
}

fn issue_finding(issue: &DumpError, map: Option<String>) -> Finding {
    let sev = match issue.kind {
        ErrorKind::Truncated { .. } => Severity::Error,
        _ => Severity::Warning,
    };
    let msg = match issue.pos {
        Some(p) => format!("line {}: {}", p.line, issue.kind),
        None => issue.kind.to_string(),
    };
    let fix = match issue.kind {
        ErrorKind::Truncated { .. } | ErrorKind::MissingTrailer => {
            "the dump is incomplete: take it again and keep all of bpftool's output"
        }
        ErrorKind::NotDumpable(_) => "read this map another way (see the message)",
        _ => "the dump was damaged or edited; entries around this place may be missing",
    };
    Finding::with_severity(Code::DumpIssue, sev, msg)
        .at(Location {
            file: Some(issue.file.to_string()),
            offset: issue.pos.map(|p| p.offset),
            map,
            ..Location::default()
        })
        .fix(fix)
}
