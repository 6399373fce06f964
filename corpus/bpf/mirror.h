/* The structs that the Go corpus (corpus/go) mirrors, correctly and with the bugs
 * people make. Shared by every BPF program in corpus/bpf. Offsets in comments are for
 * the BPF target (LP64, natural alignment). */
#ifndef MAPSLEUTH_MIRROR_H
#define MAPSLEUTH_MIRROR_H

#include <linux/types.h>

enum conn_state {
	CS_CLOSED = -1,
	CS_NEW = 0,
	CS_ESTABLISHED = 1,
	CS_TIME_WAIT = 2,
};

/* The classic: a 4-byte hole before ts_ns and 3 bytes of trailing padding. */
struct event {
	__u32 pid;       /* 0, then a 4-byte hole */
	__u64 ts_ns;     /* 8 */
	__s32 ret;       /* 16 */
	__u8 is_exit;    /* 20 */
	char comm[16];   /* 21, then 3 bytes of trailing padding: size 40 */
};

struct flow_key {
	__u32 saddr;     /* 0 */
	__u32 daddr;     /* 4 */
	__u16 sport;     /* 8 */
	__u16 dport;     /* 10 */
	__u8 proto;      /* 12, then 3 bytes of trailing padding: size 16 */
};

/* The 32-byte value of the benchmark hash map. */
struct flow_stats {
	__u64 packets;         /* 0 */
	__u64 bytes;           /* 8 */
	__u32 drops;           /* 16 */
	enum conn_state state; /* 20 */
	__s64 last_seen_ns;    /* 24: size 32 */
};

/* Bitfields Go cannot mirror field by field. */
struct conn_flags {
	__u32 state : 4;
	__u32 dir : 1;
	__u32 nat : 1;
	__u32 reserved : 26; /* storage unit: __u32 at 0 */
	__u16 port;          /* 4 */
	__u8 af;             /* 6, then 1 byte of trailing padding: size 8 */
};

/* An anonymous union after a hole. */
struct addr {
	__u16 family;   /* 0, then a 2-byte hole */
	union {
		__u32 v4;   /* 4 */
		__u8 v6[16];/* 4 */
	};              /* size 20 */
};

struct lpm_v4_key {
	__u32 prefixlen; /* 0 */
	__u8 addr[4];    /* 4: size 8 */
};

#endif
