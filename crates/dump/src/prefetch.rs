//! Reading a big file on a second thread (issue 13): the kernel's copy out of the page
//! cache was an eighth of a 1M-entry dump's time on the parsing thread. A helper thread
//! reads the next chunks while the parser works on the current one; the parser only
//! copies them out of memory. A few chunks are in flight at a time, so memory stays
//! bounded, and buffers go back to the reader to be reused.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Smaller files are read in place: a thread costs more than it saves.
pub(crate) const MIN_PREFETCH: usize = 16 << 20;
const CHUNK: usize = 4 << 20;
/// Chunks read ahead of the parser.
const IN_FLIGHT: usize = 3;

type Chunk = io::Result<Vec<u8>>;

/// A [`Read`] whose bytes come from a reader on another thread, in order.
pub(crate) struct Prefetch {
    chunks: Receiver<Chunk>,
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    pub fn new<R: Read + Send + 'static>(reader: R) -> Prefetch {
        let (send, chunks) = mpsc::sync_channel(IN_FLIGHT);
        let (spent, reuse) = mpsc::sync_channel(IN_FLIGHT + 1);
        let thread = std::thread::Builder::new()
            .name("dump-read".into())
            .spawn(move || read_ahead(reader, &send, &reuse))
            .ok();
        Prefetch {
            chunks,
            spent,
            current: Vec::new(),
            at: 0,
            done: thread.is_none(),
            thread,
        }
    }

    /// The next chunk; `Ok(false)` at the end of the input.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let old = std::mem::take(&mut self.current);
        // The reader may have stopped; the buffer is then just dropped.
        let _ = self.spent.try_send(old);
        self.at = 0;
        match self.chunks.recv() {
            Ok(Ok(chunk)) => {
                self.current = chunk;
                Ok(true)
            }
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            Err(_) => {
                self.done = true;
                Ok(false)
            }
        }
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.thread.is_none() {
            return Err(io::Error::other("could not start the reading thread"));
        }
        while self.at == self.current.len() {
            if self.done || !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing our ends stops the reader at its next send.
        let (_, dead) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.chunks, dead));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reading thread: fills chunks until the input ends, fails, or the parser is gone.
fn read_ahead(mut reader: impl Read, send: &SyncSender<Chunk>, reuse: &Receiver<Vec<u8>>) {
    loop {
        let mut buf = reuse.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        let result = loop {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        buf.truncate(filled);
        let last = filled < CHUNK || result.is_err();
        if filled > 0 && send.send(Ok(buf)).is_err() {
            return;
        }
        if let Err(e) = result {
            let _ = send.send(Err(e));
            return;
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a read, then fails if asked to.
    struct Steps {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Steps {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("disk on fire"));
            }
            let n = out.len().min(self.step).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn bytes_come_in_order_across_chunks() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345] {
            let input = data(len);
            let src = Steps {
                data: input.clone(),
                at: 0,
                step: 1 << 20,
                fail_at: None,
            };
            let mut out = Vec::new();
            Prefetch::new(src).read_to_end(&mut out).unwrap();
            assert_eq!(out.len(), input.len(), "length {len}");
            assert!(out == input, "bytes of length {len}");
        }
    }

    #[test]
    fn an_error_arrives_after_the_bytes_before_it() {
        let src = Steps {
            data: data(2 * CHUNK),
            at: 0,
            step: 1 << 20,
            fail_at: Some(CHUNK + (1 << 20)),
        };
        let mut p = Prefetch::new(src);
        let mut out = vec![0; 4096];
        let mut got = 0;
        let err = loop {
            match p.read(&mut out) {
                Ok(0) => panic!("ended without the error"),
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(got, CHUNK + (1 << 20));
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn dropping_early_stops_the_reader() {
        let src = Steps {
            data: data(20 * CHUNK),
            at: 0,
            step: CHUNK,
            fail_at: None,
        };
        let mut p = Prefetch::new(src);
        let mut out = vec![0; 10];
        p.read_exact(&mut out).unwrap();
        assert_eq!(out, data(10));
        drop(p); // joins the thread: the test would hang if it kept reading
    }
}
