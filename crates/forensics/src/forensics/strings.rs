//! D008-D010: text fields without a terminator, with unprintable bytes, or with bytes
//! after their terminator.

use mapsleuth_layout::{Finding, LeafKind, Location, Severity};

use super::side::Side;
use super::tally::{plural, EntryId, Tally};
use super::{Code, Marks, Place};
use crate::decode::{escape, FlatDecoder};
use mapsleuth_layout::in_go_blank;

/// One `char` array of the type and the entries where it is not a clean string.
pub(super) struct StrCheck {
    leaf: usize,
    offset: usize,
    len: usize,
    no_nul: Tally,
    nonprint: Tally,
    after_nul: Tally,
}

impl StrCheck {
    /// Every text leaf but Go's blank fields.
    pub fn plan(flat: &FlatDecoder) -> Vec<StrCheck> {
        let mut out = Vec::new();
        for (i, l) in flat.leaves().iter().enumerate() {
            if let LeafKind::Bytes { len, .. } = &l.kind {
                if flat.is_text(i) && !in_go_blank(&l.path) {
                    out.push(StrCheck {
                        leaf: i,
                        offset: (l.offset_bits / 8) as usize,
                        len: usize::try_from(*len).unwrap_or(usize::MAX),
                        no_nul: Tally::default(),
                        nonprint: Tally::default(),
                        after_nul: Tally::default(),
                    });
                }
            }
        }
        out
    }

    pub fn check(&mut self, bytes: &[u8], entry: &EntryId<'_>, marks: &mut Marks) {
        let Some(b) = self
            .offset
            .checked_add(self.len)
            .and_then(|end| bytes.get(self.offset..end))
        else {
            return;
        };
        let nul = b.iter().position(|&x| x == 0);
        let text = &b[..nul.unwrap_or(b.len())];
        let show = || Some(format!("\"{}\"", escape(b)));
        if nul.is_none() {
            marks.add(Code::NoNul);
            self.no_nul.add_for(entry, show);
        }
        if text.iter().any(|&c| !(0x20..0x7f).contains(&c)) {
            marks.add(Code::NonPrintable);
            self.nonprint
                .add_for(entry, || Some(format!("\"{}\"", escape(text))));
        }
        if let Some(n) = nul {
            if b[n..].iter().any(|&c| c != 0) {
                marks.add(Code::AfterNul);
                self.after_nul.add_for(entry, show);
            }
        }
    }
}

impl Side {
    /// D008, D009, D010 of each text field in turn.
    pub(super) fn string_findings(&self, place: &Place, out: &mut Vec<Finding>) {
        for s in &self.strings {
            let path = &self.flat.leaves()[s.leaf].path;
            let finding = |code: Code, sev: Severity, t: &Tally, what: String| {
                Finding::with_severity(code, sev, what).at(Location {
                    field: Some(path.clone()),
                    offset: Some(s.offset as u64),
                    key: t.first_key(),
                    ..place.at(Some(self))
                })
            };
            let entries = |t: &Tally| match t.records {
                true => plural(t.count, "record", "records"),
                false => plural(t.count, "entry", "entries"),
            };
            let t = &s.no_nul;
            if t.count > 0 {
                let msg = format!(
                    "`{path}` ({} bytes) has no NUL terminator in {}: {}{}; C code reading \
                        it as a string runs past its end",
                    s.len,
                    entries(t),
                    t.keys_text(),
                    t.example_text()
                );
                out.push(finding(Code::NoNul, Severity::Warning, t, msg).fix(
                    "copy with a bounded helper that terminates \
                        (`bpf_probe_read_kernel_str`, `bpf_get_current_comm`) or write at most \
                        len-1 bytes; in user space never assume the terminator",
                ));
            }
            let t = &s.nonprint;
            if t.count > 0 {
                let msg = format!(
                    "`{path}` has bytes outside printable ASCII before its end in {}: {}{}",
                    entries(t),
                    t.keys_text(),
                    t.example_text()
                );
                out.push(finding(Code::NonPrintable, Severity::Info, t, msg).fix(
                    "if the field is text, the bytes are binary data or garbage: check what \
                        is copied into it; if it is binary, declare it `__u8[]` so tools show \
                        bytes",
                ));
            }
            let t = &s.after_nul;
            if t.count > 0 {
                let msg = format!(
                    "`{path}` has non-zero bytes after its NUL terminator in {}: {}{}; stale \
                        data from an earlier string or uninitialised memory",
                    entries(t),
                    t.keys_text(),
                    t.example_text()
                );
                out.push(
                    finding(Code::AfterNul, Severity::Warning, t, msg)
                        .fix("zero the buffer before copying a string into it"),
                );
            }
        }
    }
}
