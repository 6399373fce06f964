//! Live ring buffer tests: a hand-assembled BPF program writes known records with
//! `bpf_ringbuf_output` (run by `BPF_PROG_TEST_RUN`), the capture reads them without
//! consuming, and a test-side consumer then still receives every one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::capture_file::{Capture, ReadMethod};
use crate::testing::{
    map_create, page_size, pattern, prog_load, prog_test_run, ring_writer, ConsumerPage, MapFd,
    MapSpec, Op, RingMmap, SOCKET_FILTER,
};
use crate::tests::{bpf_ok, capture_bytes};
use crate::{CaptureOptions, Selector};

const RINGBUF: u32 = 27;
const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;

/// The records (bytes) one run of `ops` leaves, and the bytes it occupies in the ring.
fn expected_run(ops: &[Op]) -> (Vec<Vec<u8>>, u64) {
    let pat = pattern();
    let mut recs = Vec::new();
    let mut used = 0;
    for op in ops {
        let len = match *op {
            Op::Output { off, len } => {
                recs.push(pat[off..off + len].to_vec());
                len
            }
            Op::Discard { len } => len,
        };
        used += (len as u64 + 8).div_ceil(8) * 8;
    }
    (recs, used)
}

const OPS: [Op; 8] = [
    Op::Output { off: 0, len: 1 },
    Op::Output { off: 3, len: 7 },
    Op::Output { off: 8, len: 8 },
    Op::Discard { len: 16 },
    Op::Output { off: 50, len: 13 },
    Op::Output { off: 0, len: 0 },
    Op::Output { off: 0, len: 64 },
    Op::Output { off: 17, len: 33 },
];

struct LiveRing {
    map: MapFd,
    prog: OwnedFd,
    size: usize,
}

impl LiveRing {
    fn new(size: usize, name: &str) -> LiveRing {
        let spec = MapSpec {
            map_type: RINGBUF,
            max_entries: size as u32,
            name: name.into(),
            ..MapSpec::default()
        };
        let map = MapFd::new(map_create(&spec, None, None).unwrap()).unwrap();
        let insns = ring_writer(map.as_fd().as_raw_fd(), &OPS);
        let prog = prog_load(SOCKET_FILTER, &insns)
            .unwrap_or_else(|(e, log)| panic!("BPF_PROG_LOAD: {e}\n{log}"));
        LiveRing { map, prog, size }
    }

    fn run(&self, times: u32) {
        let packet = [0u8; 64];
        for _ in 0..times {
            assert_eq!(prog_test_run(self.prog.as_fd(), &packet, 1).unwrap(), 0);
        }
    }

    /// A test-side consumer, independent of the capture's walk: reads every committed
    /// record from the consumer to the producer position and advances the consumer
    /// position past them, as libbpf's ring_buffer__consume does.
    fn consume(&self) -> Vec<(u64, Vec<u8>)> {
        let ring = RingMmap::new(self.map.as_fd(), self.size).unwrap();
        let page = ConsumerPage::new(self.map.as_fd()).unwrap();
        let mut pos = ring.consumer_pos();
        let producer = ring.producer_pos();
        let mut out = Vec::new();
        while pos < producer {
            let (word, _) = ring.header(pos);
            assert_eq!(word & BUSY_BIT, 0, "busy record at {pos}");
            let len = (word & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if word & DISCARD_BIT == 0 {
                let mut data = Vec::new();
                ring.copy(pos + 8, len, &mut data).unwrap();
                out.push((pos, data));
            }
            pos += (len as u64 + 8).div_ceil(8) * 8;
            page.set_consumer_pos(pos);
        }
        assert_eq!(ring.consumer_pos(), producer);
        out
    }
}

/// The ring records of the only map in a capture, and the map's header.
fn captured(sel: Selector) -> (Vec<(u64, Vec<u8>)>, crate::capture_file::MapHeader) {
    let bytes = capture_bytes(&[sel], &CaptureOptions::default());
    let cap = Capture::parse(&bytes[..]).unwrap();
    assert_eq!(
        &bytes[8..12],
        &2u32.to_le_bytes(),
        "ring captures are version 2"
    );
    let view = cap.map(0).unwrap();
    let recs = view
        .ring_records()
        .map(|r| (r.position, r.data.to_vec()))
        .collect();
    (recs, view.header.clone())
}

#[test]
fn ring_records_are_captured_without_consuming() {
    if !bpf_ok() {
        return;
    }
    let page = page_size();
    let ring = LiveRing::new(page, "ms_t_ring_live");
    let (per_run, used) = expected_run(&OPS);
    // Fill, consume, then refill past the end of the data area so records wrap.
    let first = (page as u64 / used / 2) as u32;
    ring.run(first);
    assert_eq!(ring.consume().len(), per_run.len() * first as usize);
    let second = (page as u64 / used - 1) as u32;
    assert!(
        first as u64 * used + second as u64 * used > page as u64,
        "wraps"
    );
    ring.run(second);

    let want: Vec<Vec<u8>> = (0..second).flat_map(|_| per_run.clone()).collect();
    let (got, header) = captured(Selector::Id(ring.map.info().id));
    let got_bytes: Vec<Vec<u8>> = got.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(got_bytes, want, "record bytes exactly");
    let state = header.ring.clone().unwrap();
    assert_eq!(state.data_size, page as u64);
    assert_eq!(state.consumer_pos, first as u64 * used);
    assert_eq!(state.producer_pos, (first + second) as u64 * used);
    assert_eq!(state.consumer_pos_after, state.consumer_pos);
    assert_eq!(state.discarded, u64::from(second));
    assert_eq!(
        (state.busy_at, state.overwritten, &state.problem),
        (None, 0, &None)
    );
    assert_eq!(header.entry_count, want.len() as u64);
    assert_eq!(header.read.method, ReadMethod::Mmap);
    assert!(header.read.complete);
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "positions ascend");

    // By name too; then a consumer still receives every record, at the same positions.
    let (by_name, _) = captured(Selector::Name("ms_t_ring_live".into()));
    assert_eq!(by_name, got);
    assert_eq!(ring.consume(), got, "the capture consumed nothing");
    let (after, header) = captured(Selector::Id(ring.map.info().id));
    assert!(after.is_empty());
    assert_eq!(header.ring.unwrap().consumer_pos, state.producer_pos);
}

/// A `USER_RINGBUF` (user space produces, a BPF program drains with
/// bpf_user_ringbuf_drain): records written through a producer mapping, as libbpf's
/// user_ring_buffer__submit does, are captured exactly from a read-only mapping, and the
/// consumer position (the kernel's) does not move.
#[test]
fn user_ring_records_are_captured_exactly() {
    if !bpf_ok() {
        return;
    }
    const USER_RINGBUF: u32 = 31;
    let size = 4096 * 4;
    let spec = MapSpec {
        map_type: USER_RINGBUF,
        max_entries: size as u32,
        name: "ms_t_uring".into(),
        ..MapSpec::default()
    };
    let map = MapFd::new(map_create(&spec, None, None).unwrap()).unwrap();
    let producer = crate::testing::UserProducer::new(map.as_fd(), size).unwrap();
    let pat = pattern();
    let mut want = Vec::new();
    let mut pos = 0u64;
    for (i, len) in [24usize, 1, 64, 13, 40].into_iter().enumerate() {
        let data = &pat[i..i + len.min(pat.len() - i)];
        let discard = i == 3;
        assert!(producer.write(data, discard, 0));
        if !discard {
            want.push((pos, data.to_vec()));
        }
        pos += (data.len() as u64 + 8).div_ceil(8) * 8;
    }
    let (got, header) = captured(Selector::Id(map.info().id));
    assert_eq!(header.type_name, "user_ringbuf");
    assert_eq!(got, want);
    let ring = header.ring.unwrap();
    assert_eq!((ring.consumer_pos, ring.producer_pos), (0, pos));
    assert_eq!((ring.consumer_pos_after, ring.discarded), (0, 1));
    assert!(header.read.complete);
    // Captured again: the same records (nothing consumed).
    assert_eq!(captured(Selector::Id(map.info().id)).0, want);
}
