//! Ring buffers (`BPF_MAP_TYPE_RINGBUF`, `USER_RINGBUF`): the unread records, read
//! through a read-only mmap without consuming them.
//!
//! The kernel's layout: a consumer page (the consumer position), a producer page (the
//! producer position), then the data area. Each record starts 8-aligned with an 8-byte
//! header: a `u32` length whose top bits are BUSY (still being written) and DISCARD,
//! and a `u32` page offset; it occupies `round_up(len + 8, 8)` bytes. Records between
//! the consumer and producer positions are unread. Nothing here writes the consumer
//! position, so a live consumer still receives every record afterwards.

use std::time::SystemTime;

use crate::capture_file::{RingState, RING_RECORD_PREFIX};
use crate::error::CaptureError;
use crate::map::Map;
use crate::sys;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_LEN: u64 = 8;

/// What the walk needs of a ring's memory; the live mmap, or a byte array in tests.
pub(crate) trait RingMemory {
    fn data_size(&self) -> usize;
    fn consumer_pos(&self) -> u64;
    fn producer_pos(&self) -> u64;
    /// The (length word, page offset word) header at ring position `pos`.
    fn header(&self, pos: u64) -> (u32, u32);
    /// Appends `len` bytes from ring position `pos`; `None` if `len > data_size`.
    fn copy(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> Option<()>;
}

impl RingMemory for sys::RingMmap {
    fn data_size(&self) -> usize {
        sys::RingMmap::data_size(self)
    }
    fn consumer_pos(&self) -> u64 {
        sys::RingMmap::consumer_pos(self)
    }
    fn producer_pos(&self) -> u64 {
        sys::RingMmap::producer_pos(self)
    }
    fn header(&self, pos: u64) -> (u32, u32) {
        sys::RingMmap::header(self, pos)
    }
    fn copy(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> Option<()> {
        sys::RingMmap::copy(self, pos, len, out)
    }
}

/// The unread records of a ring and its state.
#[derive(Clone, Debug)]
pub struct RingRecords {
    pub state: RingState,
    /// The records as the capture file stores them (position, length, bytes).
    pub block: Vec<u8>,
    pub count: u64,
    pub started: SystemTime,
    pub finished: SystemTime,
}

/// Why positions cannot be walked, if they cannot.
fn position_problem(consumer: u64, producer: u64, size: u64) -> Option<String> {
    if producer < consumer {
        return Some(format!(
            "the producer position {producer} is behind the consumer position {consumer}"
        ));
    }
    if producer - consumer > size {
        return Some(format!(
            "the producer position {producer} is {} bytes ahead of the consumer position {consumer}, more than the ring's {size} bytes",
            producer - consumer
        ));
    }
    if !consumer.is_multiple_of(8) || !producer.is_multiple_of(8) {
        return Some(format!(
            "the positions are not 8-byte aligned (consumer {consumer}, producer {producer})"
        ));
    }
    None
}

/// Walks the records from the consumer to the producer position, copying the committed
/// ones; stops at a busy record or at the first inconsistency (reported with offsets).
pub(crate) fn walk(mem: &impl RingMemory) -> (RingState, Vec<u8>, u64) {
    let size = mem.data_size() as u64;
    let consumer = mem.consumer_pos();
    let producer = mem.producer_pos();
    let mut state = RingState {
        data_size: size,
        consumer_pos: consumer,
        producer_pos: producer,
        consumer_pos_after: consumer,
        block_size: 0,
        discarded: 0,
        busy_at: None,
        overwritten: 0,
        problem: position_problem(consumer, producer, size),
    };
    let mut block = Vec::with_capacity(producer.saturating_sub(consumer).min(size) as usize);
    // (ring position, offset in `block`) of each stored record.
    let mut starts: Vec<(u64, usize)> = Vec::new();
    let mut pos = consumer;
    while state.problem.is_none() && pos < producer {
        let (word, _pg_off) = mem.header(pos);
        if word & BUSY_BIT != 0 {
            state.busy_at = Some(pos);
            break;
        }
        let len = u64::from(word & !(BUSY_BIT | DISCARD_BIT));
        let total = (len + HEADER_LEN).div_ceil(8) * 8;
        if len + HEADER_LEN > size || pos + total > producer {
            state.problem = Some(format!(
                "the record at position {pos} (data offset {}) has length {len}, which ends at position {} past the producer position {producer} or the ring's {size} bytes",
                pos % size,
                pos + total
            ));
            break;
        }
        if word & DISCARD_BIT != 0 {
            state.discarded += 1;
        } else {
            starts.push((pos, block.len()));
            block.extend_from_slice(&pos.to_le_bytes());
            block.extend_from_slice(&(len as u32).to_le_bytes());
            // len + 8 <= size was checked, so the copy is within the ring.
            if mem
                .copy(pos + HEADER_LEN, len as usize, &mut block)
                .is_none()
            {
                block.truncate(block.len() - RING_RECORD_PREFIX);
                starts.pop();
                break;
            }
        }
        pos += total;
    }
    state.consumer_pos_after = mem.consumer_pos();
    drop_overwritten(&mut state, &mut block, &mut starts, mem.producer_pos());
    state.block_size = block.len() as u64;
    (state, block, starts.len() as u64)
}

/// A record at position q can have been overwritten while it was copied only if the
/// producer went past q + size (a live consumer freed it and the producer wrapped);
/// such records are a prefix of the walk. They are dropped and counted.
fn drop_overwritten(
    state: &mut RingState,
    block: &mut Vec<u8>,
    starts: &mut Vec<(u64, usize)>,
    producer_after: u64,
) {
    let lapped = starts
        .iter()
        .take_while(|(q, _)| producer_after > q.saturating_add(state.data_size))
        .count();
    if lapped == 0 {
        return;
    }
    let cut = starts.get(lapped).map_or(block.len(), |&(_, at)| at);
    block.drain(..cut);
    starts.drain(..lapped);
    for s in starts.iter_mut() {
        s.1 -= cut;
    }
    state.overwritten = lapped as u64;
}

impl Map {
    /// The unread records of a ring buffer map, read without consuming them.
    pub fn read_ring(&self) -> Result<RingRecords, CaptureError> {
        let info = self.info();
        let started = SystemTime::now();
        let what = || format!("mapping {} read-only (mmap)", info.describe());
        // Our open fd keeps the map, so its id cannot name another map meanwhile.
        let fd = sys::map_fd_by_id_for_mmap(info.id).map_err(|e| CaptureError::sys(what(), e))?;
        let ring = sys::RingMmap::new(std::os::fd::AsFd::as_fd(&fd), info.max_entries as usize)
            .map_err(|e| CaptureError::sys(what(), e))?;
        let (state, block, count) = walk(&ring);
        Ok(RingRecords {
            state,
            block,
            count,
            started,
            finished: SystemTime::now(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// A ring in a byte array (data area only), with settable positions.
    struct FakeRing {
        data: Vec<u8>,
        consumer: u64,
        producer: u64,
    }

    impl FakeRing {
        fn new(size: usize) -> Self {
            FakeRing {
                data: vec![0; size],
                consumer: 0,
                producer: 0,
            }
        }
        /// Appends a record at the producer position.
        fn push(&mut self, bytes: &[u8], flags: u32) {
            let size = self.data.len() as u64;
            let mut rec = (bytes.len() as u32 | flags).to_le_bytes().to_vec();
            rec.extend_from_slice(&0u32.to_le_bytes());
            rec.extend_from_slice(bytes);
            rec.resize(rec.len().div_ceil(8) * 8, 0);
            for (i, b) in rec.iter().enumerate() {
                self.data[((self.producer + i as u64) % size) as usize] = *b;
            }
            self.producer += rec.len() as u64;
        }
    }

    impl RingMemory for FakeRing {
        fn data_size(&self) -> usize {
            self.data.len()
        }
        fn consumer_pos(&self) -> u64 {
            self.consumer
        }
        fn producer_pos(&self) -> u64 {
            self.producer
        }
        fn header(&self, pos: u64) -> (u32, u32) {
            let at = (pos % self.data.len() as u64) as usize;
            let w = |i: usize| u32::from_le_bytes(self.data[i..i + 4].try_into().unwrap());
            (w(at), w(at + 4))
        }
        fn copy(&self, pos: u64, len: usize, out: &mut Vec<u8>) -> Option<()> {
            let size = self.data.len();
            (len <= size).then(|| {
                out.extend((0..len).map(|i| self.data[(pos as usize + i) % size]));
            })
        }
    }

    fn records(block: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < block.len() {
            let pos = u64::from_le_bytes(block[at..at + 8].try_into().unwrap());
            let len = u32::from_le_bytes(block[at + 8..at + 12].try_into().unwrap()) as usize;
            out.push((pos, block[at + 12..at + 12 + len].to_vec()));
            at += 12 + len;
        }
        out
    }

    #[test]
    fn walks_wraps_skips_discarded_and_stops_at_busy() {
        let mut r = FakeRing::new(128);
        r.push(&[1; 80], 0); // 88 bytes, consumed below
        r.consumer = r.producer;
        r.push(&[2; 5], 0); // at 88
        r.push(&[3; 3], DISCARD_BIT); // at 104
        r.push(&[4; 9], 0); // at 120: its data wraps to data offset 0
        r.push(&[5; 1], BUSY_BIT); // at 144
        r.push(&[6; 1], 0); // after the busy one: not read
        let (state, block, count) = walk(&r);
        assert_eq!(
            records(&block),
            vec![(88, vec![2; 5]), (120, vec![4; 9])],
            "{state:?}"
        );
        assert_eq!(count, 2);
        assert_eq!(state.discarded, 1);
        assert_eq!(state.busy_at, Some(144));
        assert_eq!(state.problem, None);
        assert_eq!(state.block_size, block.len() as u64);
        assert_eq!((state.consumer_pos, state.producer_pos), (88, 176));
    }

    #[test]
    fn inconsistent_positions_are_reported_with_offsets() {
        let mut r = FakeRing::new(64);
        r.consumer = 40;
        r.producer = 16;
        let (state, block, count) = walk(&r);
        assert!(block.is_empty() && count == 0);
        let p = state.problem.unwrap();
        assert!(
            p.contains("producer position 16 is behind the consumer position 40"),
            "{p}"
        );

        let mut r = FakeRing::new(64);
        r.producer = 200;
        let p = walk(&r).0.problem.unwrap();
        assert!(
            p.contains("200 bytes ahead") && p.contains("64 bytes"),
            "{p}"
        );

        // A length past the data area: reported, nothing read out of bounds.
        let mut r = FakeRing::new(64);
        r.push(&[7; 4], 0);
        r.data[..4].copy_from_slice(&1000u32.to_le_bytes());
        let (state, block, _) = walk(&r);
        assert!(block.is_empty());
        let p = state.problem.unwrap();
        assert!(
            p.contains("record at position 0 (data offset 0) has length 1000"),
            "{p}"
        );

        // A good record, then one whose length runs past the producer position.
        let mut r = FakeRing::new(64);
        r.push(&[8; 8], 0);
        r.push(&[9; 8], 0);
        r.data[16..20].copy_from_slice(&20u32.to_le_bytes());
        let (state, block, count) = walk(&r);
        assert_eq!(records(&block), vec![(0, vec![8; 8])]);
        assert_eq!(count, 1);
        let p = state.problem.unwrap();
        assert!(
            p.contains("position 16") && p.contains("ends at position 48"),
            "{p}"
        );
    }

    #[test]
    fn lapped_records_are_dropped() {
        let mut r = FakeRing::new(64);
        r.push(&[1; 8], 0); // at 0
        r.push(&[2; 8], 0); // at 16
        let (mut state, mut block, _) = walk(&r);
        let mut starts = vec![(0, 0), (16, 20)];
        drop_overwritten(&mut state, &mut block, &mut starts, 72);
        assert_eq!(state.overwritten, 1);
        assert_eq!(records(&block), vec![(16, vec![2; 8])]);
        assert_eq!(starts, vec![(16, 0)]);
    }
}
