// SPDX-License-Identifier: GPL-2.0
/* A kernel-module-like object whose BTF is encoded by pahole as split BTF on top of
 * corpus/btf/vmlinux.btf. The kernel types below are spelled exactly as in the kernel so
 * that dedup resolves them to base type IDs; the ms_mod_* types are new (split) types.
 * Built with gcc -g (DWARF), so pahole 1.24 emits ENUM64 for ms_mod_big. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef _Bool bool;

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

struct hlist_head {
	struct hlist_node *first;
};

/* A 64-bit enum: DWARF enum of size 8 -> BTF_KIND_ENUM64. */
enum ms_mod_big {
	MS_MOD_SMALL = 1,
	MS_MOD_BIG = 0x100000000ULL,
	MS_MOD_MAX = 0xffffffffffffffffULL,
};

/* A signed 64-bit enum. */
enum ms_mod_sbig {
	MS_MOD_NEG = -0x100000000LL,
	MS_MOD_ZERO = 0,
};

enum ms_mod_mode {
	MS_MOD_OFF = -1,
	MS_MOD_ON = 1,
};

/* The module's own struct: base types embedded, a hole, bitfields, a 64-bit enum. */
struct ms_mod_state {
	struct list_head list;   /* base type */
	struct hlist_node node;  /* base type */
	u32 id;                  /* 32, then a 4-byte hole */
	u64 bytes;               /* 40 */
	u8 flags : 3;            /* bitfields */
	u8 busy : 1;
	u16 port;
	bool up;
	enum ms_mod_big big;     /* 56, 8 bytes */
	enum ms_mod_sbig sbig;
	enum ms_mod_mode mode;
	struct hlist_head *bucket;
	struct ms_mod_state *peer;
};

struct ms_mod_table {
	struct hlist_head buckets[4];
	struct ms_mod_state states[2];
	u32 count;
};

struct ms_mod_table ms_mod_table_g;

int ms_mod_touch(struct ms_mod_state *st, u32 id)
{
	st->id = id;
	return st->big == MS_MOD_BIG && st->mode == MS_MOD_ON;
}
