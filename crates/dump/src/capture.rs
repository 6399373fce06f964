//! mapsleuth capture files (`capture_file`) as [`Dump`]s: one per captured map, with the
//! map's kernel metadata, and the capture's header, digest and BTF
//! ([`CaptureInfo`](crate::capture_file::CaptureInfo), shared by the dumps).

use std::sync::Arc;

use crate::capture_file::{Capture, FormatError, MapHeader, MapView};
use crate::ctx::Ctx;
use crate::error::{DumpError, ErrorKind};
use crate::model::{Dump, MapMeta};
use crate::window::Window;

/// Converts a verified capture into one dump per map.
pub(crate) fn read(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<Vec<Dump>, DumpError> {
    // Positions number lines like everywhere else, meaningless as they are in binary.
    let mut lines = Window::from_slice(bytes, Arc::clone(&ctx.file));
    let capture = Capture::parse(bytes).map_err(|e| capture_error(&ctx.file, &mut lines, &e))?;
    let info = Arc::new(capture.info());
    let mut dumps = Vec::with_capacity(capture.map_count());
    for (index, view) in capture.maps().enumerate() {
        let mut dump = map_dump(ctx, &mut lines, index, &view)?;
        dump.set_capture(Arc::clone(&info));
        dumps.push(dump);
    }
    Ok(dumps)
}

fn capture_error(file: &Arc<str>, lines: &mut Window<'_>, e: &FormatError) -> DumpError {
    let pos = lines.pos(usize::try_from(e.offset()).unwrap_or(usize::MAX));
    DumpError::new(file, Some(pos), ErrorKind::Capture(e.to_string()))
}

/// What the dump model keeps of a map's capture header.
fn map_meta(h: &MapHeader) -> MapMeta {
    let nonzero = |n: u32| (n != 0).then_some(n);
    MapMeta {
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
    }
}

fn map_dump(
    ctx: &Ctx<'_>,
    lines: &mut Window<'_>,
    index: usize,
    view: &MapView<'_>,
) -> Result<Dump, DumpError> {
    let h = view.header;
    let mut d = ctx.new_dump(index, lines.pos(view.offset()));
    d.meta = map_meta(h);
    let ring = view.is_ring();
    if ring {
        d.set_ring();
    }
    let n = view.len();
    d.reserve(
        n,
        n.saturating_mul(h.key_size as usize),
        n.saturating_mul(view.records().len() / n.max(1)),
    );
    for (i, e) in view.entries().enumerate() {
        let pos = lines.pos(view.entry_offset(i));
        let key = (!ring).then_some(e.key);
        d.push_raw_entry(pos, key, e.values(), h.per_cpu, &ctx.opts.limits)?;
    }
    d.finish();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::capture_file::{
        ByteOrder, CaptureHost, CaptureWriter, MapHeader, ReadStats, ValueKind,
    };
    use crate::{
        read_bytes, read_file, read_from, Dump, DumpFormat, DumpReadOptions, EntryKind, ErrorKind,
    };

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
            read: ReadStats::complete_batch("x", "y"),
            ring: None,
            outer_map_id: None,
        }
    }

    fn sample() -> Vec<u8> {
        writer(false).to_bytes()
    }

    /// Two maps; with `btf`, vmlinux BTF and the first map's own BTF too.
    fn writer(btf: bool) -> CaptureWriter {
        let source = CaptureHost {
            hostname: "h".into(),
            kernel_release: "6.18.0".into(),
            kernel_version: String::new(),
            machine: "x86_64".into(),
            byte_order: ByteOrder::Little,
            possible_cpus: 2,
            tool: "test".into(),
        };
        let mut w = CaptureWriter::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000), source);
        let mut first = header(1, 1, 2);
        if btf {
            w.add_btf(
                b"vmlinux BTF".to_vec(),
                Some(1),
                Some("vmlinux".into()),
                true,
            );
            first.btf_index = Some(w.add_btf(b"map BTF".to_vec(), Some(9), None, false));
        }
        w.add_map(first, b"\x01\0\0\0abc\x02\0\0\0def".to_vec())
            .unwrap();
        w.add_map(header(2, 2, 1), b"\x07\0\0\0xyzuvw".to_vec())
            .unwrap();
        w
    }

    /// A reader that returns a few bytes at a time, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// What one read of a capture must give besides entries.
    fn assert_capture_info(dumps: &[Dump], bytes: &[u8]) {
        assert_eq!(dumps.len(), 2);
        let digest = crate::hex::encode(&bytes[bytes.len() - 32..]);
        for (i, d) in dumps.iter().enumerate() {
            let info = d.capture().expect("a capture's dumps carry its info");
            assert_eq!(info.header().snapshot_id, "2023-11-14T22:13:20.000000Z");
            assert_eq!(info.header().source.hostname, "h");
            assert_eq!(info.header().source.kernel_release, "6.18.0");
            assert_eq!(info.digest_hex(), digest);
            assert_eq!(info.vmlinux_btf(), Some(&b"vmlinux BTF"[..]));
            assert_eq!(d.capture_map().map(|m| m.id), Some(i as u32 + 1));
            assert_eq!(d.entry(0).unwrap().key().map(<[u8]>::len), Some(4));
        }
        assert_eq!(dumps[0].embedded_btf(), Some(&b"map BTF"[..]));
        assert_eq!(dumps[1].embedded_btf(), None);
    }

    #[test]
    fn one_read_gives_entries_snapshot_and_btf() {
        let bytes = writer(true).to_bytes();
        let opts = DumpReadOptions::default();
        assert_capture_info(&read_bytes(&bytes, "cap", &opts).unwrap(), &bytes);
        let piped = read_from(Trickle(&bytes), "<stdin>", &opts).unwrap();
        assert_eq!(&*piped[0].source.name, "<stdin>");
        assert_capture_info(&piped, &bytes);
        let path = std::env::temp_dir().join(format!("ms-dump-capinfo-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let from_file = read_file(&path, &opts);
        std::fs::remove_file(&path).unwrap();
        assert_capture_info(&from_file.unwrap(), &bytes);
        // Not a capture: nothing attached.
        let text = read_bytes(b"key: 01  value: 02\nFound 1 element\n", "t", &opts).unwrap();
        assert!(text[0].capture().is_none() && text[0].embedded_btf().is_none());
    }

    #[test]
    fn captures_read_as_dumps() {
        let bytes = sample();
        let v = read_bytes(&bytes, "cap", &DumpReadOptions::default()).unwrap();
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
        let e = read_bytes(&bad, "cap", &DumpReadOptions::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Capture(_)), "{e}");
        assert!(e.pos.is_some());
        let e = read_bytes(
            &bytes[..bytes.len() / 2],
            "cap",
            &DumpReadOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Capture(_)), "{e}");
    }
}
