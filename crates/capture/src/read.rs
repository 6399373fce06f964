//! Reading a map's entries: batch lookups, with a GET_NEXT_KEY fallback.
//!
//! Consistency (what a capture of a map that changes under it guarantees):
//!
//! - Batch lookups of hash maps (hash, percpu_hash, lru_hash, lru_percpu_hash,
//!   hash_of_maps) walk the hash table bucket by bucket and copy each bucket under its
//!   lock. A key lives in one bucket for its whole life, so a key present for the whole
//!   capture is returned exactly once, with the value it had when its bucket was read.
//!   A key inserted or deleted during the capture appears at most once. No key is
//!   returned twice.
//! - Batch lookups of arrays, LPM tries and array-of-maps go key by key (the kernel's
//!   generic batch); array slots never vanish.
//! - The fallback (`BPF_MAP_GET_NEXT_KEY` + `BPF_MAP_LOOKUP_ELEM`, used where the kernel
//!   refuses batch lookups) is weaker, because GET_NEXT_KEY is not a snapshot:
//!   * a key deleted between the two calls is skipped and counted (`vanished_keys`);
//!     the walk resumes from the last key that was read, which still precedes the rest;
//!   * when the key the walk stands on is gone, the kernel restarts at the first key
//!     (hash maps, LPM tries); an updated hash key moves to the head of its bucket; both
//!     lead the walk back over keys it already read: those are skipped, so every key
//!     is recorded at most once, and each such return is counted (`revisits`);
//!   * on a hash map that is modified during the walk, keys can be missed, even keys
//!     that were never touched (updates reorder buckets, and the kernel reuses freed
//!     elements, which can make GET_NEXT_KEY jump ahead). Quiescent maps are read
//!     exactly.
//!   * the walk gives up after `max_steps_factor × (max_entries + 1)` GET_NEXT_KEY calls
//!     (a writer faster than the reader), reported as `complete: false`.

use std::collections::HashSet;
use std::io;
use std::time::SystemTime;

use crate::capture_file::ReadMethod;
use crate::error::CaptureError;
use crate::map::{Map, Readability};

/// How to read entries.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Entries per batch lookup; 0 sizes batches by `batch_bytes`.
    pub batch_entries: u32,
    /// Approximate bytes of keys and values per batch when `batch_entries` is 0.
    pub batch_bytes: usize,
    /// Skip batch lookups (testing, or kernels with broken batch support).
    pub force_next_key: bool,
    /// Threads reading a large hash map (≥ 65536 max entries) in parallel, each over a
    /// range of hash buckets. 1 (the default) reads with one thread: on an idle 2-CPU
    /// machine 2 threads cut the read of 1M entries from ~390 to ~265 ms, but on a busy
    /// one they are slower. 0: one per CPU, at most 4.
    pub threads: usize,
    /// The fallback gives up (`complete: false`) after this many GET_NEXT_KEY calls per
    /// possible entry.
    pub max_steps_factor: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            batch_entries: 0,
            batch_bytes: 4 << 20,
            force_next_key: false,
            threads: 1,
            max_steps_factor: 16,
        }
    }
}

/// A map's entries as fixed-size records: key bytes, then `values_per_entry` values of
/// `value_size` bytes (the kernel's 8-byte rounding of per-CPU values removed).
#[derive(Clone, Debug)]
pub struct MapEntries {
    pub records: Vec<u8>,
    pub count: u64,
    pub record_size: usize,
    pub values_per_entry: u32,
    pub method: ReadMethod,
    pub vanished_keys: u64,
    pub revisits: u64,
    pub complete: bool,
    pub started: SystemTime,
    pub finished: SystemTime,
}

const ENOTSUPP: i32 = crate::sys::ENOTSUPP;

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(ENOTSUPP) | Some(libc::ENOSYS)
    )
}

/// Hash map types, whose batch position is a bucket index (`__htab_map_lookup_and_delete_batch`).
const HASH_TYPES: [u32; 5] = [1, 5, 9, 10, 13];
/// Below this size one thread reads a hash map faster than several start.
const PARALLEL_MIN_ENTRIES: u32 = 1 << 16;

/// The bucket index in a hash map's batch position.
fn bucket_of(token: &[u8]) -> u32 {
    u32::from_ne_bytes([token[0], token[1], token[2], token[3]])
}

/// Records read by one run of batch lookups.
struct Segment {
    records: Vec<u8>,
    count: u64,
    /// (bucket at which a batch started, index of its first record).
    starts: Vec<(u32, u64)>,
    /// Index of the first record of the last batch.
    last_batch_first: u64,
    /// Bucket at which the run stopped (`u64::MAX`: the end of the table).
    end: u64,
}

impl Segment {
    fn with_capacity(bytes: usize) -> Self {
        Segment {
            records: Vec::with_capacity(bytes),
            count: 0,
            starts: Vec::new(),
            last_batch_first: 0,
            end: 0,
        }
    }
}

/// Concatenates the segments of a parallel read, dropping from each segment the keys
/// that an earlier segment's last batch already read (its buckets past its range).
fn merge_segments(shape: &Shape, out: &mut MapEntries, starts: &[u64], segs: Vec<Segment>) {
    let rs = out.record_size;
    let ks = shape.key_size;
    let total: usize = segs.iter().map(|s| s.records.len()).sum();
    out.records.clear();
    out.count = 0;
    let mut overlap: HashSet<Vec<u8>> = HashSet::new();
    let mut covered_to = 0u64;
    for (i, mut seg) in segs.into_iter().enumerate() {
        let start = starts[i];
        // Records of batches that started below `covered_to` may repeat keys.
        let check_until = if start < covered_to && !overlap.is_empty() {
            seg.starts
                .iter()
                .find(|&&(b, _)| u64::from(b) >= covered_to)
                .map_or(seg.count, |&(_, first)| first)
        } else {
            0
        };
        // Keys of this segment's last batch, when it ran into later ranges; added to
        // `overlap` only after this segment itself is filtered.
        let overlaps_next =
            seg.end == u64::MAX || seg.end > starts.get(i + 1).copied().unwrap_or(u64::MAX);
        let spill: Vec<Vec<u8>> = if overlaps_next {
            (seg.last_batch_first..seg.count)
                .map(|j| seg.records[j as usize * rs..j as usize * rs + ks].to_vec())
                .collect()
        } else {
            Vec::new()
        };
        let records = std::mem::take(&mut seg.records);
        if out.count == 0 && check_until == 0 {
            // The common case: take the first segment's buffer as it is.
            out.records = records;
            out.records.reserve(total - out.records.len());
            out.count = seg.count;
        } else {
            let kept_from = check_until as usize * rs;
            for j in 0..check_until as usize {
                let rec = &records[j * rs..(j + 1) * rs];
                if !overlap.contains(&rec[..ks]) {
                    out.records.extend_from_slice(rec);
                    out.count += 1;
                }
            }
            out.records.extend_from_slice(&records[kept_from..]);
            out.count += seg.count - check_until;
        }
        overlap.extend(spill);
        covered_to = covered_to.max(seg.end);
    }
}

/// Copies kernel-layout values (per-CPU stride rounded up to 8) into a record.
struct Shape {
    key_size: usize,
    value_size: usize,
    values: usize,
    kernel_value_len: usize,
}

impl Shape {
    fn push(&self, out: &mut Vec<u8>, key: &[u8], kernel_value: &[u8]) {
        out.extend_from_slice(key);
        if self.values == 1 {
            out.extend_from_slice(&kernel_value[..self.value_size]);
        } else {
            let stride = self.value_size.div_ceil(8) * 8;
            for cpu in 0..self.values {
                out.extend_from_slice(&kernel_value[cpu * stride..cpu * stride + self.value_size]);
            }
        }
    }
}

impl Map {
    /// Reads every entry. `progress` is called with the number of entries read so far.
    pub fn read_entries(
        &self,
        opts: &ReadOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<MapEntries, CaptureError> {
        self.info().check_iterable()?;
        let per_cpu = matches!(
            self.info().readability(),
            Readability::Iterable { per_cpu: true, .. }
        );
        let values = if per_cpu {
            crate::cpus::possible_cpus()
                .map_err(|e| CaptureError::sys("reading the possible CPUs", e))?
        } else {
            1
        };
        let shape = Shape {
            key_size: self.info().key_size as usize,
            value_size: self.info().value_size as usize,
            values,
            kernel_value_len: self.fd.kernel_value_len(),
        };
        let started = SystemTime::now();
        let mut out = MapEntries {
            records: Vec::new(),
            count: 0,
            record_size: shape.key_size + shape.value_size * values,
            values_per_entry: values as u32,
            method: ReadMethod::Batch,
            vanished_keys: 0,
            revisits: 0,
            complete: true,
            started,
            finished: started,
        };
        let batch_done = if opts.force_next_key {
            false
        } else {
            self.read_batch(&shape, opts, &mut out, progress)?
        };
        if !batch_done {
            out.records.clear();
            out.count = 0;
            out.method = ReadMethod::NextKey;
            self.read_next_key(&shape, opts, &mut out, progress)?;
        }
        out.finished = SystemTime::now();
        Ok(out)
    }

    /// Entries per batch for this map.
    fn batch_len(&self, shape: &Shape, opts: &ReadOptions) -> u32 {
        let per_entry = (shape.key_size + shape.kernel_value_len).max(1);
        let n: u32 = if opts.batch_entries > 0 {
            opts.batch_entries
        } else {
            (opts.batch_bytes / per_entry).clamp(64, 1 << 16) as u32
        };
        n.min(self.info().max_entries.max(1))
    }

    /// Batch lookups. `Ok(false)`: this map does not support them here, fall back.
    fn read_batch(
        &self,
        shape: &Shape,
        opts: &ReadOptions,
        out: &mut MapEntries,
        progress: &mut dyn FnMut(u64),
    ) -> Result<bool, CaptureError> {
        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            t => t,
        };
        let info = self.info();
        if threads > 1
            && HASH_TYPES.contains(&info.map_type.0)
            && info.max_entries >= PARALLEL_MIN_ENTRIES
        {
            return self.read_batch_parallel(shape, opts, threads, out, progress);
        }
        let mut seg =
            Segment::with_capacity(info.max_entries.min(1 << 20) as usize * out.record_size);
        let supported = self.batch_run(
            shape,
            self.batch_len(shape, opts),
            None,
            None,
            &mut seg,
            &mut |n| progress(n),
        )?;
        out.records = seg.records;
        out.count = seg.count;
        Ok(supported)
    }

    /// Hash maps: several threads read disjoint ranges of hash buckets at once. The
    /// batch position of a hash map is its bucket index; a thread stops once its
    /// position passes the start of the next range. Its last batch may have read buckets
    /// of the next ranges too: those keys are dropped from the later ranges, so every
    /// bucket's keys appear once (each bucket is still read atomically).
    fn read_batch_parallel(
        &self,
        shape: &Shape,
        opts: &ReadOptions,
        threads: usize,
        out: &mut MapEntries,
        progress: &mut dyn FnMut(u64),
    ) -> Result<bool, CaptureError> {
        let info = self.info();
        // htab_map_alloc: n_buckets = roundup_pow_of_two(max_entries).
        let n_buckets = u64::from(info.max_entries).next_power_of_two();
        let starts: Vec<u64> = (0..threads as u64)
            .map(|i| n_buckets * i / threads as u64)
            .collect();
        let n = self.batch_len(shape, opts);
        let done = std::sync::atomic::AtomicU64::new(0);
        let per_thread = info.max_entries as usize / threads + 1024;
        let results: Vec<Result<(bool, Segment), CaptureError>> = std::thread::scope(|scope| {
            let run = |i: usize, report: &mut dyn FnMut(u64)| {
                let mut seg = Segment::with_capacity(per_thread.min(1 << 20) * out.record_size);
                let start = (i > 0).then(|| (starts[i] as u32).to_ne_bytes());
                let stop = starts.get(i + 1).map(|&b| b as u32);
                let mut last = 0;
                self.batch_run(
                    shape,
                    n,
                    start.as_ref().map(|s| &s[..]),
                    stop,
                    &mut seg,
                    &mut |c| {
                        let total = done.fetch_add(c - last, std::sync::atomic::Ordering::Relaxed)
                            + c
                            - last;
                        last = c;
                        report(total);
                    },
                )
                .map(|ok| (ok, seg))
            };
            let handles: Vec<_> = (1..threads)
                .map(|i| scope.spawn(move || run(i, &mut |_| {})))
                .collect();
            let mut results = vec![run(0, progress)];
            for h in handles {
                results.push(h.join().unwrap_or_else(|_| {
                    Err(CaptureError::Syscall {
                        what: format!("reading {}", info.describe()),
                        source: std::io::Error::other("reader thread panicked"),
                    })
                }));
            }
            results
        });
        let mut segs = Vec::with_capacity(threads);
        for r in results {
            let (supported, seg) = r?;
            if !supported {
                return Ok(false);
            }
            segs.push(seg);
        }
        merge_segments(shape, out, &starts, segs);
        progress(out.count);
        Ok(true)
    }

    /// Runs batch lookups from `start` (a batch position; `None`: the beginning) until
    /// the end of the map or, with `stop`, until the position (a hash bucket) reaches
    /// `stop`. `Ok(false)`: the kernel does not do batch lookups for this map.
    fn batch_run(
        &self,
        shape: &Shape,
        mut n: u32,
        start: Option<&[u8]>,
        stop: Option<u32>,
        seg: &mut Segment,
        on_batch: &mut dyn FnMut(u64),
    ) -> Result<bool, CaptureError> {
        let info = self.info();
        let token_len = self.fd.batch_token_len();
        let (mut tok_in, mut tok_out) = (vec![0u8; token_len], vec![0u8; token_len]);
        let mut first = start.is_none();
        if let Some(s) = start {
            tok_in[..s.len()].copy_from_slice(s);
        }
        let mut keys = vec![0u8; n as usize * shape.key_size];
        let mut vals = vec![0u8; n as usize * shape.kernel_value_len];
        let mut stalls = 0;
        loop {
            let at = if first { 0 } else { bucket_of(&tok_in) };
            let (got, r) = self.fd.lookup_batch(
                (!first).then_some(&tok_in[..]),
                &mut tok_out,
                &mut keys,
                &mut vals,
                n,
            );
            let got = match &r {
                Ok(()) => got,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINTR)) => got,
                Err(_) => 0,
            } as usize;
            if got > 0 {
                seg.starts.push((at, seg.count));
                seg.last_batch_first = seg.count;
            }
            for i in 0..got {
                let key = &keys[i * shape.key_size..(i + 1) * shape.key_size];
                let value = &vals[i * shape.kernel_value_len..(i + 1) * shape.kernel_value_len];
                shape.push(&mut seg.records, key, value);
            }
            seg.count += got as u64;
            if got > 0 {
                on_batch(seg.count);
            }
            match r {
                Ok(()) => {}
                Err(e) => match e.raw_os_error() {
                    Some(libc::ENOENT) => {
                        seg.end = u64::MAX;
                        return Ok(true);
                    }
                    Some(libc::ENOSPC) if got == 0 => {
                        // One hash bucket holds more entries than the batch: grow it.
                        n = n.saturating_mul(2);
                        keys.resize(n as usize * shape.key_size, 0);
                        vals.resize(n as usize * shape.kernel_value_len, 0);
                        continue;
                    }
                    // The generic batch gives up with EINTR after an element vanished
                    // under it three times (e.g. empty slots of a sparse fd array).
                    Some(libc::EINTR) if got == 0 => {
                        stalls += 1;
                        if stalls >= 3 {
                            return Ok(false);
                        }
                        continue;
                    }
                    Some(libc::EINTR) => {}
                    _ if first && is_unsupported(&e) => return Ok(false),
                    _ => {
                        return Err(CaptureError::sys(
                            format!("reading {} (BPF_MAP_LOOKUP_BATCH)", info.describe()),
                            e,
                        ))
                    }
                },
            }
            if got > 0 {
                stalls = 0;
            }
            std::mem::swap(&mut tok_in, &mut tok_out);
            first = false;
            if let Some(stop) = stop {
                let next = bucket_of(&tok_in);
                if next >= stop {
                    seg.end = u64::from(next);
                    return Ok(true);
                }
            }
        }
    }

    /// GET_NEXT_KEY + LOOKUP_ELEM with the restart handling described in the module docs.
    fn read_next_key(
        &self,
        shape: &Shape,
        opts: &ReadOptions,
        out: &mut MapEntries,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), CaptureError> {
        let info = self.info();
        let what = |cmd: &str| format!("reading {} ({cmd})", info.describe());
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        let mut prev: Option<Vec<u8>> = None;
        let mut next = vec![0u8; shape.key_size];
        let mut value = vec![0u8; shape.kernel_value_len];
        let mut in_seen_run = false;
        let mut vanish_streak = 0u32;
        let budget = opts
            .max_steps_factor
            .max(1)
            .saturating_mul(u64::from(info.max_entries) + 1);
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > budget {
                out.complete = false;
                break;
            }
            let more = self
                .fd
                .next_key(prev.as_deref(), &mut next)
                .map_err(|e| CaptureError::sys(what("BPF_MAP_GET_NEXT_KEY"), e))?;
            if !more {
                break;
            }
            if seen.contains(&next[..]) {
                if !in_seen_run {
                    in_seen_run = true;
                    out.revisits += 1;
                }
                prev = Some(next.clone());
                continue;
            }
            in_seen_run = false;
            let found = self
                .fd
                .lookup(&next, &mut value)
                .map_err(|e| CaptureError::sys(what("BPF_MAP_LOOKUP_ELEM"), e))?;
            if !found {
                // Deleted since GET_NEXT_KEY, or an empty slot of an fd array: skip it.
                // Resuming from `prev` reaches what followed it.
                if info.map_type.0 != 3 && info.map_type.0 != 12 {
                    out.vanished_keys += 1;
                    vanish_streak += 1;
                    // A writer re-inserting and deleting the same key could keep us
                    // here; after a few tries step past it.
                    if prev.is_some() && vanish_streak < 64 {
                        continue;
                    }
                }
                vanish_streak = 0;
                // Fd arrays (prog_array, array_of_maps): empty slots never fill by
                // themselves; step past them.
                prev = Some(next.clone());
                continue;
            }
            vanish_streak = 0;
            shape.push(&mut out.records, &next, &value);
            out.count += 1;
            if out.count & 4095 == 0 {
                progress(out.count);
            }
            seen.insert(next.clone().into_boxed_slice());
            prev = Some(next.clone());
        }
        progress(out.count);
        Ok(())
    }
}
