// SPDX-License-Identifier: GPL-2.0
/* Legacy maps: `struct bpf_map_def` in SEC("maps"), as in pre-BTF-map programs
 * (iproute2, old samples). Modern libbpf (>= 1.0) refuses to load them; the object is
 * only read, never loaded. In BTF the maps are VARs of struct bpf_map_def in DATASEC
 * 'maps'; only legacy_flows names its key/value types, through the old
 * BPF_ANNOTATE_KV_PAIR convention (struct ____btf_map_NAME in section .maps.NAME). */
#include "mirror.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* libbpf 1.0 dropped this from bpf_helpers.h; this is its old layout (20 bytes). */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* hash: struct flow_key -> struct flow_stats */
struct bpf_map_def SEC("maps") legacy_flows = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct flow_key),
	.value_size = sizeof(struct flow_stats),
	.max_entries = 1024,
	.map_flags = BPF_F_NO_PREALLOC,
};

/* Old libbpf/samples/bpf macro: libbpf < 1.0 looked up struct ____btf_map_<map>
 * to find a legacy map's key and value BTF types. */
#define BPF_ANNOTATE_KV_PAIR(name, type_key, type_val)		\
	struct ____btf_map_##name {				\
		type_key key;					\
		type_val value;					\
	};							\
	struct ____btf_map_##name				\
	__attribute__ ((section(".maps." #name), used))		\
		____btf_map_##name = { }

BPF_ANNOTATE_KV_PAIR(legacy_flows, struct flow_key, struct flow_stats);

/* array: u32 -> struct event (sizes only, no BTF key/value types) */
struct bpf_map_def SEC("maps") legacy_events = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct event),
	.max_entries = 16,
	.map_flags = 0,
};

/* per-CPU array: u32 -> u64 */
struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
	.map_flags = 0,
};

SEC("socket")
int legacy_prog(struct __sk_buff *skb)
{
	struct flow_key fk = {};
	struct flow_stats *fs;
	struct event *ev;
	__u64 *cnt;
	__u32 k = 0;

	fk.proto = skb->protocol;
	fs = bpf_map_lookup_elem(&legacy_flows, &fk);
	if (fs)
		fs->packets++;
	ev = bpf_map_lookup_elem(&legacy_events, &k);
	if (ev)
		ev->ret = skb->len;
	cnt = bpf_map_lookup_elem(&legacy_counts, &k);
	if (cnt)
		(*cnt)++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
