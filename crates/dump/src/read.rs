//! Reading any input: detect its format, hand it to that format's reader, apply the
//! rules every format shares (an empty input, bpftool's own error, `strict`).

use std::borrow::Cow;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::error::{DumpError, ErrorKind, Position};
use crate::format::{detect_format, is_capture, DumpFormat};
use crate::model::{Dump, MapMeta};
use crate::options::DumpReadOptions;
use crate::split::{self, Whole};
use crate::window::Window;
use crate::{capture, json, raw, text};

/// How much of the input detection looks at.
const SNIFF: usize = 64 * 1024;

/// `whole`: the same input again, when it can be read from any offset (a file, a
/// slice): a big `-j` dump is then read in two halves at once ([`split`]).
pub(crate) fn read_window(
    mut win: Window<'_>,
    file: Arc<str>,
    opts: &DumpReadOptions,
    whole: Option<Whole<'_>>,
) -> Result<Vec<Dump>, DumpError> {
    win.fill(SNIFF)?;
    if opts.format == Some(DumpFormat::Capture)
        || (opts.format.is_none() && is_capture(win.bytes()))
    {
        let ctx = Ctx {
            file,
            opts,
            format: DumpFormat::Capture,
        };
        // Verified whole: the digest covers the file.
        let bytes = read_all(win)?;
        return capture::read(&ctx, &bytes);
    }
    let blank = win.at_eof() && win.bytes().iter().all(u8::is_ascii_whitespace);
    let format = choose_format(&mut win, &file, opts, blank)?;
    if format != DumpFormat::Raw && blank {
        return Err(DumpError::new(&file, None, ErrorKind::Empty));
    }
    let ctx = Ctx { file, opts, format };
    let mut dumps = match format {
        DumpFormat::Text => text::read(&ctx, &mut win)?,
        DumpFormat::BtfText => json::read(&ctx, &mut win, json::Mode::BtfText)?,
        DumpFormat::Json => match whole.filter(|w| split::worth_it(&ctx, *w, win.bytes())) {
            Some(whole) => {
                // Its read-ahead would hold buffers the halves do not use.
                drop(win);
                split::read_whole(&ctx, whole)?
            }
            None => json::read(&ctx, &mut win, json::Mode::Json)?,
        },
        DumpFormat::Raw => raw::read(&ctx, &mut win)?,
        DumpFormat::Capture => return Err(capture_not_whole(&ctx)),
    };
    if dumps.is_empty() {
        dumps.push(ctx.new_dump(0, Position::START));
    }
    bpftool_error_as_error(&mut dumps)?;
    if opts.strict {
        first_issue_as_error(&mut dumps)?;
    }
    Ok(dumps)
}

/// The forced format, else the detected one, else raw records when their sizes are
/// given.
fn choose_format(
    win: &mut Window<'_>,
    file: &Arc<str>,
    opts: &DumpReadOptions,
    blank: bool,
) -> Result<DumpFormat, DumpError> {
    if let Some(f) = opts.format.or_else(|| detect_format(win.bytes())) {
        return Ok(f);
    }
    if opts.raw.is_some() {
        return Ok(DumpFormat::Raw);
    }
    if blank {
        return Err(DumpError::new(file, None, ErrorKind::Empty));
    }
    let at = win
        .bytes()
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let pos = win.pos(at);
    Err(DumpError::new(file, Some(pos), ErrorKind::UnknownFormat))
}

/// Only bpftool's complaint and no dump at all (`bpftool map dump ... 2>&1` failed):
/// that is the error.
fn bpftool_error_as_error(dumps: &mut [Dump]) -> Result<(), DumpError> {
    let nothing = dumps
        .iter()
        .all(|d| d.is_empty() && d.found_elements.is_none() && d.meta == MapMeta::default());
    if !nothing {
        return Ok(());
    }
    for d in dumps {
        if let Some(i) = d
            .issues
            .iter()
            .position(|e| matches!(e.kind, ErrorKind::BpftoolError(_)))
        {
            return Err(d.issues.swap_remove(i));
        }
    }
    Ok(())
}

fn first_issue_as_error(dumps: &mut [Dump]) -> Result<(), DumpError> {
    for d in dumps {
        if !d.issues.is_empty() {
            return Err(d.issues.swap_remove(0));
        }
    }
    Ok(())
}

/// Captures are read above; this keeps the match exhaustive without a panic.
fn capture_not_whole(ctx: &Ctx<'_>) -> DumpError {
    DumpError::new(
        &ctx.file,
        None,
        ErrorKind::InvalidOption("capture files are read whole".into()),
    )
}

/// The whole input: borrowed when it is a slice, else the window's buffer, grown to
/// the end of the input and taken without a copy.
fn read_all(mut win: Window<'_>) -> Result<Cow<'_, [u8]>, DumpError> {
    while !win.at_eof() {
        let want = win.bytes().len().saturating_add(win.chunk());
        win.fill(want)?;
    }
    Ok(win.into_bytes())
}
