//! Raw records: concatenated key‖value bytes (per-CPU: key‖value×CPUs, each value
//! padded to 8 bytes as `bpf(2)` lays them out), sizes given by the caller.

use crate::ctx::Ctx;
use crate::error::{DumpError, ErrorKind, Position};
use crate::model::{Dump, EntryRec};
use crate::window::Window;

pub(crate) fn read(ctx: &Ctx<'_>, win: &mut Window<'_>) -> Result<Vec<Dump>, DumpError> {
    let Some(layout) = ctx.opts.raw else {
        return Err(DumpError::new(
            &ctx.file,
            None,
            ErrorKind::InvalidOption(
                "raw records need the key and value sizes (--key-size, --value-size)".into(),
            ),
        ));
    };
    let limits = &ctx.opts.limits;
    let invalid = |msg: String| DumpError::new(&ctx.file, None, ErrorKind::InvalidOption(msg));
    if layout.key_size > limits.max_value_size || layout.value_size > limits.max_value_size {
        return Err(invalid(format!(
            "key or value size above the limit of {} bytes",
            limits.max_value_size
        )));
    }
    let cpus = layout.cpus.unwrap_or(1);
    if cpus == 0 || cpus > limits.max_cpus {
        return Err(invalid(format!(
            "per-CPU count must be 1..={}",
            limits.max_cpus
        )));
    }
    let stride = if layout.cpus.is_some() {
        layout.value_size.div_ceil(8) * 8
    } else {
        layout.value_size
    };
    let record = layout.key_size + stride * cpus;
    if record == 0 {
        return Err(invalid("records of 0 bytes".into()));
    }
    let mut d = ctx.new_dump(0, Position::START);
    d.meta.key_size = u32::try_from(layout.key_size).ok();
    d.meta.value_size = u32::try_from(layout.value_size).ok();
    loop {
        win.fill(record.max(1 << 20))?;
        let whole = win.bytes().len() / record;
        if whole == 0 {
            break;
        }
        for i in 0..whole {
            let pos = win.pos(i * record);
            let rec_bytes = &win.bytes()[i * record..(i + 1) * record];
            // Lines mean little in binary input, but are numbered as everywhere else.
            let mut rec = EntryRec::new(pos);
            rec.key = d.keys_mut().push(&rec_bytes[..layout.key_size]) as u32;
            let first = u32::try_from(d.value_records()).map_err(|_| {
                DumpError::new(
                    &ctx.file,
                    Some(rec.pos()),
                    ErrorKind::TooManyEntries {
                        limit: u32::MAX as u64,
                    },
                )
            })?;
            rec.value_first = first;
            for c in 0..cpus {
                let v = layout.key_size + c * stride;
                d.values_mut().push(&rec_bytes[v..v + layout.value_size]);
            }
            rec.value_count = cpus as u32;
            if layout.cpus.is_some() {
                rec.set_percpu();
            }
            d.commit(rec, limits)?;
        }
        win.consume(whole * record);
    }
    let rest = win.bytes().len();
    if rest != 0 {
        let e = DumpError::new(
            &ctx.file,
            Some(win.pos(0)),
            ErrorKind::RawRemainder {
                bytes: rest,
                record,
            },
        );
        d.issue(e);
    }
    d.finish();
    Ok(vec![d])
}
