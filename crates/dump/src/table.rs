//! A compact table of byte records: one contiguous buffer, and offsets only when the
//! records stop having one common size (they almost always share it: a map has one
//! key size and one value size).

#[derive(Clone, Debug, Default)]
pub(crate) struct ByteTable {
    data: Vec<u8>,
    /// Records so far.
    len: usize,
    /// `Some(n)` while every record is `n` bytes.
    stride: Option<usize>,
    /// End offset of each record, kept only once sizes differ (`stride == None`, `len > 0`).
    ends: Vec<usize>,
    /// Start of the record being written, if one is open.
    open: Option<usize>,
}

impl ByteTable {
    pub fn len(&self) -> usize {
        self.len
    }

    /// The size shared by every record, if there is one.
    #[cfg(test)]
    pub fn uniform_size(&self) -> Option<usize> {
        if self.len == 0 {
            None
        } else {
            self.stride
        }
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (start, end) = match self.stride {
            Some(n) => (i * n, i * n + n),
            None => {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                (start, self.ends[i])
            }
        };
        self.data.get(start..end)
    }

    /// Opens a record; bytes go in with [`Self::buf`] and it ends with [`Self::close`].
    pub fn open(&mut self) {
        debug_assert!(self.open.is_none());
        self.open = Some(self.data.len());
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Bytes of the open record so far.
    pub fn open_len(&self) -> usize {
        self.open.map_or(0, |s| self.data.len() - s)
    }

    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Closes the open record and returns its index.
    pub fn close(&mut self) -> usize {
        let start = self.open.take().unwrap_or(self.data.len());
        let size = self.data.len() - start;
        let index = self.len;
        if self.len == 0 {
            self.stride = Some(size);
        } else if let Some(n) = self.stride {
            if n != size {
                // Sizes differ from here on: switch to explicit end offsets.
                self.ends = (1..=self.len).map(|i| i * n).collect();
                self.ends.push(self.data.len());
                self.stride = None;
            }
        } else {
            self.ends.push(self.data.len());
        }
        self.len += 1;
        index
    }

    /// Drops the open record, if any.
    pub fn abort(&mut self) {
        if let Some(start) = self.open.take() {
            self.data.truncate(start);
        }
    }

    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.abort();
        self.open();
        self.data.extend_from_slice(bytes);
        self.close()
    }

    /// Drops records from `len` on (undoing a partly read entry).
    pub fn truncate(&mut self, len: usize) {
        self.abort();
        if len >= self.len {
            return;
        }
        let data_end = match self.stride {
            Some(n) => len * n,
            None => {
                self.ends.truncate(len);
                self.ends.last().copied().unwrap_or(0)
            }
        };
        self.data.truncate(data_end);
        self.len = len;
        if len == 0 {
            self.stride = None;
            self.ends.clear();
        }
    }

    /// Adds `other`'s records after these (both closed), as pushing them one by one
    /// would; one copy when both share a record size.
    pub fn append(&mut self, other: &ByteTable) {
        self.abort();
        if self.len == 0 {
            self.clone_from(other);
            return;
        }
        let same_stride = self.stride.is_some() && self.stride == other.stride;
        if !same_stride {
            for i in 0..other.len {
                if let Some(rec) = other.get(i) {
                    self.push(rec);
                }
            }
            return;
        }
        self.data.extend_from_slice(&other.data);
        self.len += other.len;
    }

    pub fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    pub fn reserve(&mut self, bytes: usize) {
        self.data.reserve(bytes);
    }

    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_then_mixed() {
        let mut t = ByteTable::default();
        assert_eq!(t.push(&[1, 2]), 0);
        assert_eq!(t.push(&[3, 4]), 1);
        assert_eq!(t.uniform_size(), Some(2));
        assert_eq!(t.push(&[5]), 2);
        assert_eq!(t.uniform_size(), None);
        assert_eq!(t.get(0), Some(&[1u8, 2][..]));
        assert_eq!(t.get(1), Some(&[3u8, 4][..]));
        assert_eq!(t.get(2), Some(&[5u8][..]));
        assert_eq!(t.push(&[]), 3);
        assert_eq!(t.get(3), Some(&[][..]));
        assert_eq!(t.get(4), None);
        t.truncate(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1), Some(&[3u8, 4][..]));
        t.push(&[9, 9]);
        assert_eq!(t.get(2), Some(&[9u8, 9][..]));
    }

    #[test]
    fn open_abort() {
        let mut t = ByteTable::default();
        t.open();
        t.buf().extend_from_slice(&[1, 2, 3]);
        assert_eq!(t.open_len(), 3);
        t.abort();
        assert_eq!(t.len(), 0);
        t.push(&[7]);
        assert_eq!(t.get(0), Some(&[7u8][..]));
        t.truncate(0);
        assert_eq!(t.uniform_size(), None);
        t.push(&[1, 2, 3]);
        assert_eq!(t.uniform_size(), Some(3));
    }
}
