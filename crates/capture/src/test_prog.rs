//! A tiny hand-assembled BPF program that writes known records into a ring buffer
//! (tests, examples and benchmarks only).

/// `BPF_PROG_TYPE_SOCKET_FILTER`: runnable with `BPF_PROG_TEST_RUN` on any packet.
pub const SOCKET_FILTER: u32 = 1;

/// One `struct bpf_insn` as a little-endian u64.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | u64::from(dst & 0xf) << 8
        | u64::from(src & 0xf) << 12
        | u64::from(off as u16) << 16
        | u64::from(imm as u32) << 32
}

/// `ld_imm64 dst, value` (src 1: `value` is a map fd).
fn ld_imm64(out: &mut Vec<u64>, dst: u8, src: u8, value: u64) {
    out.push(insn(0x18, dst, src, 0, value as u32 as i32));
    out.push(insn(0, 0, 0, 0, (value >> 32) as u32 as i32));
}

/// What the program does, in order, on every run.
#[derive(Clone, Copy)]
pub enum Op {
    /// bpf_ringbuf_output(map, stack pattern + off, len, 0)
    Output { off: usize, len: usize },
    /// bpf_ringbuf_reserve(map, len, 0) then bpf_ringbuf_discard.
    Discard { len: usize },
}

pub const PATTERN_LEN: usize = 64;

pub fn pattern() -> Vec<u8> {
    (0..PATTERN_LEN as u8)
        .map(|i| i.wrapping_mul(37) ^ 0xa5)
        .collect()
}

/// A socket filter that writes `ops` into the ring buffer `map_fd` and returns 0.
pub fn ring_writer(map_fd: i32, ops: &[Op]) -> Vec<u64> {
    let pat = pattern();
    let mut p = Vec::new();
    for (k, chunk) in pat.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        ld_imm64(&mut p, 1, 0, u64::from_le_bytes(word));
        // *(u64 *)(r10 - 64 + 8k) = r1
        p.push(insn(0x7b, 10, 1, -64 + 8 * k as i16, 0));
    }
    for op in ops {
        ld_imm64(&mut p, 1, 1, map_fd as u32 as u64);
        match *op {
            Op::Output { off, len } => {
                p.push(insn(0xbf, 2, 10, 0, 0)); // r2 = r10
                p.push(insn(0x07, 2, 0, 0, -64 + off as i32)); // r2 += off - 64
                p.push(insn(0xb7, 3, 0, 0, len as i32)); // r3 = len
                p.push(insn(0xb7, 4, 0, 0, 0)); // r4 = 0
                p.push(insn(0x85, 0, 0, 0, 130)); // call bpf_ringbuf_output
            }
            Op::Discard { len } => {
                p.push(insn(0xb7, 2, 0, 0, len as i32)); // r2 = len
                p.push(insn(0xb7, 3, 0, 0, 0)); // r3 = 0
                p.push(insn(0x85, 0, 0, 0, 131)); // call bpf_ringbuf_reserve
                p.push(insn(0x15, 0, 0, 3, 0)); // if r0 == 0 goto +3
                p.push(insn(0xbf, 1, 0, 0, 0)); // r1 = r0
                p.push(insn(0xb7, 2, 0, 0, 0)); // r2 = 0
                p.push(insn(0x85, 0, 0, 0, 133)); // call bpf_ringbuf_discard
            }
        }
    }
    p.push(insn(0xb7, 0, 0, 0, 0)); // r0 = 0
    p.push(insn(0x95, 0, 0, 0, 0)); // exit
    p
}
