//! mapsleuth capture files (`capture_file`) as [`Dump`]s: one per captured map, with the
//! map's kernel metadata. BTF blobs stay in the capture (`capture_file::Capture`).

use std::sync::Arc;

use crate::capture_file::{Capture, FormatError, MapView, MAGIC};
use crate::error::{DumpError, ErrorKind};
use crate::model::{Dump, EntryRec, MapMeta};
use crate::window::Window;
use crate::Ctx;

/// True when the input starts like a capture file.
pub(crate) fn is_capture(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// Converts a verified capture into one dump per map.
pub(crate) fn read(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<Vec<Dump>, DumpError> {
    // Positions number lines like everywhere else, meaningless as they are in binary.
    let mut lines = Window::from_slice(bytes, Arc::clone(&ctx.file));
    let capture = Capture::parse(bytes).map_err(|e| capture_error(&ctx.file, &mut lines, &e))?;
    let mut dumps = Vec::with_capacity(capture.map_count());
    for (index, view) in capture.maps().enumerate() {
        dumps.push(map_dump(ctx, &mut lines, index, &view)?);
    }
    Ok(dumps)
}

fn capture_error(file: &Arc<str>, lines: &mut Window<'_>, e: &FormatError) -> DumpError {
    let offset = match e {
        FormatError::BadMagic => Some(0),
        FormatError::UnsupportedVersion { .. } => Some(8),
        FormatError::Truncated { len, .. } => Some(*len),
        FormatError::HeaderJson { offset, .. }
        | FormatError::Header { offset, .. }
        | FormatError::Limit { offset, .. }
        | FormatError::TrailingBytes { offset, .. }
        | FormatError::DigestMismatch { offset } => Some(*offset),
    };
    let pos = offset.map(|o| lines.pos(usize::try_from(o).unwrap_or(usize::MAX)));
    DumpError::new(file, pos, ErrorKind::Capture(e.to_string()))
}

fn map_dump(
    ctx: &Ctx<'_>,
    lines: &mut Window<'_>,
    index: usize,
    view: &MapView<'_>,
) -> Result<Dump, DumpError> {
    let h = view.header;
    let mut d = ctx.new_dump(index, lines.pos(view.offset()));
    let nonzero = |n: u32| (n != 0).then_some(n);
    d.meta = MapMeta {
        id: Some(h.id),
        name: Some(h.name.clone()),
        map_type: Some(h.type_name.clone()),
        key_size: Some(h.key_size),
        value_size: Some(h.value_size),
        max_entries: Some(h.max_entries),
        flags: Some(u64::from(h.map_flags)),
        btf_id: nonzero(h.btf_id),
        btf_key_type_id: nonzero(h.btf_key_type_id),
        btf_value_type_id: nonzero(h.btf_value_type_id),
        btf_vmlinux_value_type_id: nonzero(h.btf_vmlinux_value_type_id),
        frozen: None,
        pinned: h.pinned_path.iter().cloned().collect(),
    };
    let n = view.len();
    d.reserve(
        n,
        n.saturating_mul(h.key_size as usize),
        n.saturating_mul(view.records().len() / n.max(1)),
    );
    let record = h.record_size as usize;
    for (i, e) in view.entries().enumerate() {
        let mut rec = EntryRec::new(lines.pos(view.offset() + i * record));
        rec.key = d.keys_mut().push(e.key) as u32;
        let first = u32::try_from(d.value_records()).map_err(|_| {
            DumpError::new(
                &ctx.file,
                Some(rec.pos()),
                ErrorKind::TooManyEntries {
                    limit: u64::from(u32::MAX),
                },
            )
        })?;
        rec.value_first = first;
        for v in e.values() {
            d.values_mut().push(v);
            rec.value_count += 1;
        }
        if h.per_cpu {
            rec.set_percpu();
        }
        d.commit(rec, &ctx.opts.limits)?;
    }
    d.finish();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::capture_file::{
        ByteOrder, CaptureWriter, MapHeader, ReadMethod, ReadStats, Source, ValueKind,
    };
    use crate::{read_bytes, DumpFormat, EntryKind, ErrorKind, ReadOptions};

    fn header(id: u32, cpus: u32, n: u64) -> MapHeader {
        MapHeader {
            id,
            map_type: if cpus > 1 { 5 } else { 1 },
            type_name: if cpus > 1 { "percpu_hash" } else { "hash" }.into(),
            name: format!("m{id}"),
            key_size: 4,
            value_size: 3,
            max_entries: 16,
            map_flags: 0,
            map_extra: 0,
            ifindex: 0,
            btf_id: 9,
            btf_key_type_id: 1,
            btf_value_type_id: 2,
            btf_vmlinux_value_type_id: 0,
            btf_index: None,
            pinned_path: Some("/sys/fs/bpf/m".into()),
            per_cpu: cpus > 1,
            values_per_entry: cpus,
            value_kind: ValueKind::Data,
            record_size: 4 + 3 * u64::from(cpus),
            entry_count: n,
            read: ReadStats {
                method: ReadMethod::Batch,
                started_at: "x".into(),
                finished_at: "y".into(),
                vanished_keys: 0,
                revisits: 0,
                complete: true,
            },
        }
    }

    fn sample() -> Vec<u8> {
        let source = Source {
            hostname: "h".into(),
            kernel_release: "6.18.0".into(),
            kernel_version: String::new(),
            machine: "x86_64".into(),
            byte_order: ByteOrder::Little,
            possible_cpus: 2,
            tool: "test".into(),
        };
        let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), source);
        w.add_map(header(1, 1, 2), b"\x01\0\0\0abc\x02\0\0\0def".to_vec())
            .unwrap();
        w.add_map(header(2, 2, 1), b"\x07\0\0\0xyzuvw".to_vec())
            .unwrap();
        w.to_bytes()
    }

    #[test]
    fn captures_read_as_dumps() {
        let bytes = sample();
        let v = read_bytes(&bytes, "cap", &ReadOptions::default()).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].source.format, DumpFormat::Capture);
        assert_eq!(v[0].meta.name.as_deref(), Some("m1"));
        assert_eq!(v[0].meta.btf_value_type_id, Some(2));
        assert_eq!(v[0].meta.pinned, ["/sys/fs/bpf/m"]);
        assert_eq!(v[0].entry(1).unwrap().value(), Some(&b"def"[..]));
        let e = v[1].entry(0).unwrap();
        assert_eq!(e.kind(), EntryKind::PerCpu);
        assert_eq!(e.values().collect::<Vec<_>>(), [&b"xyz"[..], &b"uvw"[..]]);
        assert_eq!(v[1].cpu_count(), Some(2));
        // Damaged: the digest catches it, with an offset.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 40] ^= 1;
        let e = read_bytes(&bad, "cap", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Capture(_)), "{e}");
        assert!(e.pos.is_some());
        let e = read_bytes(&bytes[..bytes.len() / 2], "cap", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Capture(_)), "{e}");
    }
}
