//! Raw records: concatenated key‖value bytes (per-CPU: key‖value×CPUs, each value
//! padded to 8 bytes as `bpf(2)` lays them out), sizes given by the caller.

use crate::ctx::Ctx;
use crate::error::{DumpError, ErrorKind, Position};
use crate::model::Dump;
use crate::window::Window;

/// Where a record's parts lie.
struct Shape {
    key_size: usize,
    value_size: usize,
    /// Bytes from one CPU's value to the next.
    stride: usize,
    cpus: usize,
    percpu: bool,
    record: usize,
}

impl Shape {
    fn values<'r>(&self, record: &'r [u8]) -> impl Iterator<Item = &'r [u8]> + 'r {
        let (key_size, stride, value_size) = (self.key_size, self.stride, self.value_size);
        (0..self.cpus).map(move |c| {
            let v = key_size + c * stride;
            &record[v..v + value_size]
        })
    }
}

pub(crate) fn read(ctx: &Ctx<'_>, win: &mut Window<'_>) -> Result<Vec<Dump>, DumpError> {
    let shape = shape(ctx)?;
    let limits = &ctx.opts.limits;
    let record = shape.record;
    let mut d = ctx.new_dump(0, Position::START);
    d.meta.key_size = u32::try_from(shape.key_size).ok();
    d.meta.value_size = u32::try_from(shape.value_size).ok();
    loop {
        win.fill(record.max(1 << 20))?;
        let whole = win.bytes().len() / record;
        if whole == 0 {
            break;
        }
        for i in 0..whole {
            // Lines mean little in binary input, but are numbered as everywhere else.
            let pos = win.pos(i * record);
            let bytes = &win.bytes()[i * record..(i + 1) * record];
            let key = &bytes[..shape.key_size];
            d.push_raw_entry(pos, Some(key), shape.values(bytes), shape.percpu, limits)?;
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

/// The record shape the options give, checked against the limits.
fn shape(ctx: &Ctx<'_>) -> Result<Shape, DumpError> {
    let invalid = |msg: String| DumpError::new(&ctx.file, None, ErrorKind::InvalidOption(msg));
    let Some(layout) = ctx.opts.raw else {
        return Err(invalid(
            "raw records need the key and value sizes (--key-size, --value-size)".into(),
        ));
    };
    let limits = &ctx.opts.limits;
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
    Ok(Shape {
        key_size: layout.key_size,
        value_size: layout.value_size,
        stride,
        cpus,
        percpu: layout.cpus.is_some(),
        record,
    })
}
