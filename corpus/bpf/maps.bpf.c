// SPDX-License-Identifier: GPL-2.0
/* BTF-defined maps of many types over the mirror.h structs. Loads with
 * `bpftool prog loadall maps.bpf.o /sys/fs/bpf/DIR`; the maps are then filled and
 * dumped to record the dump corpus. */
#include "mirror.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* HASH: struct flow_key -> struct flow_stats */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

/* ARRAY: u32 -> struct event (holes and trailing padding) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct event);
} events SEC(".maps");

/* PERCPU_HASH: u32 -> u64 and u32 -> struct flow_stats */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_hash_u64 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct flow_stats);
} pcpu_hash_stats SEC(".maps");

/* PERCPU_ARRAY: u32 -> u64 and u32 -> struct flow_stats */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_array_u64 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct flow_stats);
} pcpu_array_stats SEC(".maps");

/* LRU_HASH: struct flow_key -> u64 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, struct flow_key);
	__type(value, __u64);
} lru_flows SEC(".maps");

/* LPM_TRIE: needs BPF_F_NO_PREALLOC */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm_v4 SEC(".maps");

/* HASH_OF_MAPS with an inner ARRAY map template; slot 1 statically set to inner_a. */
struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner_array inner_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_hash SEC(".maps") = {
	.values = { [1] = &inner_a },
};

/* PROG_ARRAY: slot 0 statically set to the tail-call target below. */
SEC("xdp")
int ms_tail(struct xdp_md *ctx)
{
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = { [0] = (void *)&ms_tail },
};

/* RINGBUF: no key, no value */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

/* QUEUE: no key */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 32);
	__type(value, struct flow_key);
} fifo SEC(".maps");

/* Pinned by name: libbpf pins it at /sys/fs/bpf/ms_pinned (default pin root). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u64);
} ms_pinned SEC(".maps");

/* map_flags: struct addr values, no prealloc */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct addr);
} addrs SEC(".maps");

/* map_flags: struct conn_flags (bitfields) values, mmapable array */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct conn_flags);
} conns SEC(".maps");

/* Sizes only, no key/value types in BTF: 4-byte key, 40-byte value (sizeof(struct event)). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 40);
} sized_only SEC(".maps");

SEC("xdp")
int ms_xdp(struct xdp_md *ctx)
{
	struct flow_key fk = {};
	struct flow_stats *fs, zero = {};
	struct lpm_v4_key lk = { .prefixlen = 32 };
	__u32 k = 0;
	__u64 *cnt;
	struct event *ev;
	struct conn_flags *cf;
	struct addr *a;
	void *inner;

	fk.proto = 6;
	fs = bpf_map_lookup_elem(&flows, &fk);
	if (!fs) {
		bpf_map_update_elem(&flows, &fk, &zero, BPF_NOEXIST);
	} else {
		__sync_fetch_and_add(&fs->packets, 1);
	}
	ev = bpf_map_lookup_elem(&events, &k);
	if (ev)
		ev->pid = bpf_get_prandom_u32();
	cnt = bpf_map_lookup_elem(&pcpu_hash_u64, &k);
	if (cnt)
		(*cnt)++;
	fs = bpf_map_lookup_elem(&pcpu_hash_stats, &k);
	if (fs)
		fs->packets++;
	cnt = bpf_map_lookup_elem(&pcpu_array_u64, &k);
	if (cnt)
		(*cnt)++;
	fs = bpf_map_lookup_elem(&pcpu_array_stats, &k);
	if (fs)
		fs->packets++;
	cnt = bpf_map_lookup_elem(&lru_flows, &fk);
	if (cnt)
		(*cnt)++;
	if (bpf_map_lookup_elem(&lpm_v4, &lk))
		k = 1;
	inner = bpf_map_lookup_elem(&outer_hash, &k);
	if (inner) {
		cnt = bpf_map_lookup_elem(inner, &k);
		if (cnt)
			(*cnt)++;
	}
	bpf_ringbuf_output(&rb, &fk, sizeof(fk), 0);
	bpf_map_push_elem(&fifo, &fk, BPF_EXIST);
	cnt = bpf_map_lookup_elem(&ms_pinned, &k);
	if (cnt)
		(*cnt)++;
	a = bpf_map_lookup_elem(&addrs, &k);
	if (a)
		a->v4 = 1;
	cf = bpf_map_lookup_elem(&conns, &k);
	if (cf)
		cf->nat = 1;
	if (bpf_map_lookup_elem(&sized_only, &k))
		k = 2;
	bpf_tail_call(ctx, &jmp_table, 0);
	return XDP_PASS;
}

SEC("socket")
int ms_socket(struct __sk_buff *skb)
{
	__u32 k = 0;
	struct event *ev = bpf_map_lookup_elem(&events, &k);

	if (ev)
		ev->ret = skb->len;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
