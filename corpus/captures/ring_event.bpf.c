// SPDX-License-Identifier: GPL-2.0
/* The record type of corpus/captures/ring.mscap: what a program would reserve in its
 * ring buffer. Compiled by corpus/regen-captures.sh for its BTF only (the records
 * themselves are written by a hand-assembled program, see that script). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;
	__u8 flags;
	/* 3 bytes of padding */
	__u64 ts_ns;
	char comm[8];
};

/* Keeps `struct event` in the BTF: a ring map declares no value type. */
struct event ms_event_type;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ms_events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int on_exec(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&ms_events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->flags = 1;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
