#!/usr/bin/env python3
"""Fills the benchmark map of procs.bpf.c (__u32 tid -> struct proc_info) with N entries.

    fill-procs.py PINNED_MAP N            tids 1..N, values from a fixed seed
    fill-procs.py PINNED_MAP N --change   rewrite 1% of them (every 100th tid):
                                          runtime_ns grows, as in a later snapshot

Writes with BPF_MAP_UPDATE_BATCH through bpf(2) (ctypes, no extra package), 64k
entries a call: about 4 s for 1M entries, 33 s for 10M. `bpftool batch` (one `map
update` command a line) took 1.2 s per 100k: ~12 s per 1M, ~2 min and a 2 GB command
file for 10M. Same N, same values on every run; bpftool's dump order still differs
between maps (the kernel seeds each hash map's hash at random), and an update moves
an entry to the head of its bucket, so the --change dump lists some keys in another
order.
"""
import ctypes
import os
import platform
import random
import struct
import sys

BPF_OBJ_GET = 7
BPF_MAP_UPDATE_BATCH = 26
SYS_BPF = {"x86_64": 321, "aarch64": 280}
CHUNK = 65536

# enum proc_state and how often each shows in a snapshot of a busy machine.
STATES = [0] * 15 + [1] * 70 + [2] * 8 + [4] * 2 + [8] * 5

# Process names of every length 1..15 (the kernel keeps 15 bytes and a NUL).
NAMES = ["sh", "bash", "zsh", "sshd", "cron", "Xorg", "java", "node", "nginx", "redis-server",
         "postgres", "python3", "systemd", "dbus-daemon", "containerd", "containerd-shim",
         "dockerd", "kubelet", "chrome", "firefox", "Web Content", "rsyslogd", "journald",
         "kthreadd", "rcu_sched", "a", "ls", "git", "cc1", "ld.lld", "rustc", "cargo"]


def comm_pool(rng):
    """4096 NUL-padded comm[16] values: fixed names and numbered kernel threads."""
    pool = []
    for n in range(4096):
        kind = n % 4
        if kind == 0:
            name = f"kworker/{rng.randrange(64)}:{rng.randrange(16)}"
        elif kind == 1:
            name = f"{rng.choice(['ksoftirqd', 'migration', 'cpuhp', 'irq'])}/{rng.randrange(256)}"
        elif kind == 2:
            name = f"{rng.choice(NAMES)}-{rng.randrange(100000)}"
        else:
            name = rng.choice(NAMES)
        pool.append(name.encode()[:15].ljust(16, b"\0"))
    return pool


def values(n):
    """(tid, value bytes) for tids 1..n, the same on every call."""
    rng = random.Random(13)
    pool = comm_pool(rng)
    pack = struct.Struct("<QII16s").pack
    for i in range(n):
        r = rng.getrandbits(64)
        tid = i + 1
        pid = tid if r & 3 == 0 else max(1, tid - ((r >> 2) & 7))
        state = STATES[(r >> 5) % len(STATES)]
        runtime = (r >> 12) >> ((r >> 8) & 15)  # ns, from 0 to ~52 days, varied widths
        yield tid, pack(runtime, pid, state, pool[(r >> 52) & 4095])


class Bpf:
    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.nr = SYS_BPF[platform.machine()]

    def call(self, cmd, attr):
        rc = self.libc.syscall(self.nr, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"bpf cmd {cmd}: {os.strerror(err)}")
        return rc

    def obj_get(self, path):
        raw = ctypes.create_string_buffer(path.encode())
        attr = (ctypes.c_uint64 * 3)(ctypes.addressof(raw), 0, 0)
        return self.call(BPF_OBJ_GET, attr)

    def update_batch(self, fd, keys, vals, count):
        kbuf = ctypes.create_string_buffer(bytes(keys), len(keys))
        vbuf = ctypes.create_string_buffer(bytes(vals), len(vals))
        # struct { in_batch, out_batch, keys, values; u32 count, map_fd; elem_flags, flags }
        attr = (ctypes.c_uint64 * 7)(0, 0, ctypes.addressof(kbuf), ctypes.addressof(vbuf),
                                     count | (fd << 32), 0, 0)
        self.call(BPF_MAP_UPDATE_BATCH, attr)


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    change = sys.argv[3:] == ["--change"]
    bpf = Bpf()
    fd = bpf.obj_get(path)
    keys, vals, count, written = bytearray(), bytearray(), 0, 0
    for tid, val in values(n):
        if change:
            if tid % 100:
                continue
            runtime = struct.unpack_from("<Q", val)[0] + 1_000_000 + tid
            val = struct.pack("<Q", runtime) + val[8:]
        keys += struct.pack("<I", tid)
        vals += val
        count += 1
        if count == CHUNK:
            bpf.update_batch(fd, keys, vals, count)
            written += count
            keys, vals, count = bytearray(), bytearray(), 0
    if count:
        bpf.update_batch(fd, keys, vals, count)
        written += count
    print(f"{path}: {'changed' if change else 'wrote'} {written} entries", file=sys.stderr)


if __name__ == "__main__":
    main()
