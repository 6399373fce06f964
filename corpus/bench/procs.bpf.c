// SPDX-License-Identifier: GPL-2.0
/* The benchmark map (issue 13): what users dump, a BTF-typed hash map from a thread id
 * (__u32) to a 32-byte struct with a `char comm[16]`. corpus/gen-big-btf-dump.sh loads
 * this object with `bpftool prog loadall ... pinmaps`, fills a map from user space and
 * dumps it. Two maps of the same types: `procs` (1M entries, preallocated, the usual
 * hash map) and `procs_big` (16M entries, not preallocated, so that loading the object
 * for the 1M case does not reserve 1.5 GB of kernel memory). Build (committed .o; it
 * is not in corpus/bpf, whose every object the BTF tests read against oracles), here:
 *   clang -g -O2 -Wall -Werror -target bpf -I/usr/include/$(gcc -print-multiarch) \
 *       -fdebug-prefix-map=$PWD=. -c procs.bpf.c -o procs.bpf.o */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum proc_state {
	PS_RUNNING = 0,
	PS_SLEEPING = 1,
	PS_DISK_SLEEP = 2,
	PS_STOPPED = 4,
	PS_ZOMBIE = 8,
};

struct proc_info {
	__u64 runtime_ns;      /* 0 */
	__u32 pid;             /* 8: the thread group id */
	enum proc_state state; /* 12 */
	char comm[16];         /* 16: NUL-padded; size 32, no padding */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	__type(key, __u32);
	__type(value, struct proc_info);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 24);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct proc_info);
} procs_big SEC(".maps");

/* What fills such a map in real life; loaded, never attached here. */
SEC("tracepoint/sched/sched_process_exec")
int ms_bench_exec(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct proc_info info = {};

	info.runtime_ns = bpf_ktime_get_ns();
	info.pid = id >> 32;
	info.state = PS_RUNNING;
	bpf_get_current_comm(info.comm, sizeof(info.comm));
	bpf_map_update_elem(&procs, &tid, &info, BPF_ANY);
	bpf_map_update_elem(&procs_big, &tid, &info, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
