//! Bit positions in memory order, the one rule every engine uses: a bitfield's bits are
//! counted from the least significant bit of its first byte on little-endian targets and
//! from the most significant bit on big-endian ones (how C compilers lay bitfields out,
//! and how BTF, pahole and bpftool number them).

use crate::ByteOrder;

/// The mask of the `width` lowest bits.
pub fn low_bits(width: u64) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

/// How far to shift right a window of `window_bytes` bytes, read as one integer of
/// `order`, to bring down a field of `width` bits starting `rel_bits` into the window.
pub fn shift_in_window(order: ByteOrder, window_bytes: u64, rel_bits: u64, width: u64) -> u64 {
    match order {
        ByteOrder::Little => rel_bits,
        ByteOrder::Big => (window_bytes * 8).saturating_sub(rel_bits + width),
    }
}

/// (byte index, bit mask) of every byte that bits `[offset, offset + size)` touch.
pub fn byte_masks(offset_bits: u64, size_bits: u64, order: ByteOrder) -> Vec<(usize, u8)> {
    let mut out: Vec<(usize, u8)> = Vec::new();
    let end = offset_bits.saturating_add(size_bits);
    let mut p = offset_bits;
    while p < end {
        let byte = (p / 8) as usize;
        let in_byte = p % 8;
        let take = (8 - in_byte).min(end - p);
        let run = (((1u16 << take) - 1) << in_byte) as u8;
        let m = match order {
            ByteOrder::Little => run,
            ByteOrder::Big => run.reverse_bits(),
        };
        match out.last_mut() {
            Some((b, mm)) if *b == byte => *mm |= m,
            _ => out.push((byte, m)),
        }
        p += take;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_in_memory_order() {
        assert_eq!(
            byte_masks(8, 16, ByteOrder::Little),
            vec![(1, 0xff), (2, 0xff)]
        );
        assert_eq!(
            byte_masks(4, 8, ByteOrder::Little),
            vec![(0, 0xf0), (1, 0x0f)]
        );
        assert_eq!(byte_masks(4, 8, ByteOrder::Big), vec![(0, 0x0f), (1, 0xf0)]);
        assert_eq!(byte_masks(6, 1, ByteOrder::Big), vec![(0, 0x02)]);
    }

    #[test]
    fn shifts_agree_with_the_masks() {
        // A 3-bit field 5 bits into a 2-byte window: the masks of the bytes and the
        // shifted low bits of the window read as one integer pick the same bits.
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let (rel, width, n) = (5, 3, 2);
            let shift = shift_in_window(order, n, rel, width);
            let window_mask = low_bits(width) << shift;
            let bytes: Vec<u8> = match order {
                ByteOrder::Little => window_mask.to_le_bytes()[..2].to_vec(),
                ByteOrder::Big => window_mask.to_be_bytes()[14..].to_vec(),
            };
            let from_masks: Vec<u8> = (0..2)
                .map(|i| {
                    byte_masks(rel, width, order)
                        .iter()
                        .find(|(b, _)| *b == i)
                        .map_or(0, |(_, m)| *m)
                })
                .collect();
            assert_eq!(bytes, from_masks, "{order:?}");
        }
        assert_eq!(low_bits(128), u128::MAX);
        assert_eq!(low_bits(0), 0);
    }
}
