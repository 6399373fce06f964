// SPDX-License-Identifier: GPL-2.0
/* BTF coverage: one named type per feature, each kept alive by a global variable
 * (VAR in a DATASEC) so clang emits it. Not meant to be loaded. */
#include "mirror.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __user __attribute__((btf_type_tag("user")))
#define __dtag(x) __attribute__((btf_decl_tag(x)))

/* Bitfields: several storage units, signed bitfields, a bitfield crossing a byte
 * boundary, a zero-width bitfield forcing the next unit, an unnamed padding bitfield. */
struct bits {
	__u8 a : 3;      /* bits 0..2 */
	__u8 b : 5;      /* bits 3..7 */
	__u16 c : 10;    /* bits 8..17: crosses a byte */
	__s16 d : 6;     /* signed */
	__u32 e : 20;
	__s32 f : 12;    /* signed */
	__u64 g : 40;
	__u64 h : 24;
	int i : 7;       /* plain int bitfield, bit 128 */
	__u32 : 5;       /* unnamed padding bitfield (not in BTF) */
	unsigned int j : 1;  /* bit 140 */
	__u32 : 0;       /* zero width: k starts the next __u32 unit */
	unsigned int k : 3;  /* bit 160 */
	char tail;       /* byte 21; size 24 */
};

/* Packed: no holes, members at odd offsets, bitfields straddling bytes. Size 18. */
struct packed_hdr {
	__u8 type;       /* 0 */
	__u32 len;       /* 1 */
	__u16 id;        /* 5 */
	__u64 ts;        /* 7 */
	__u32 lo : 12;   /* bit 120 */
	__u32 hi : 12;   /* bit 132 */
} __attribute__((packed));

/* Over-aligned: BTF does not record alignment; size 16 (9 bytes + 7 padding). */
struct over_aligned {
	__u32 a;
	__u32 b;
	__u8 c;
} __attribute__((aligned(16)));

/* Contains the over-aligned struct and an over-aligned member. */
struct holds_aligned {
	__u8 tag;                              /* 0, then 15 bytes hole */
	struct over_aligned oa;                /* 16 */
	__u8 tag2;                             /* 32, then 31 bytes hole */
	__u32 wide __attribute__((aligned(32)));/* 64 */
};

/* Plain union with an anonymous struct inside. */
union value_u {
	__u32 i;
	float f;
	__u8 bytes[4];
	struct {
		__u16 lo;
		__u16 hi;
	} parts;
};

/* Anonymous nested struct AND anonymous union, plus named nested types. */
struct nested {
	__u32 kind;
	union {                  /* anonymous union */
		struct {         /* anonymous struct inside it */
			__u16 sport;
			__u16 dport;
		};
		__u32 ports;
	};
	struct {                 /* anonymous struct member */
		__u64 lo;
		__u64 hi;
	};
	struct {
		__u8 x;
		__u8 y;
	} named_anon;            /* named member of an anonymous struct type */
	struct inner_named {
		__u32 v;
	} in;                    /* named member of a named nested struct */
	union value_u val;
};

/* Multi-dimensional arrays, arrays of structs. */
struct arrays {
	__u32 m[3][4];
	char names[2][8];
	__u8 cube[2][3][4];
	struct flow_key keys[2];
	union value_u vals[3];
};

/* Flexible array member at the end. */
struct flex {
	__u32 len;
	__u16 flags;
	__u8 data[];
};

/* Zero-length (GNU) array at the end. */
struct zero_len {
	__u64 hdr;
	__u32 items[0];
};

/* Enums: negative values, a packed (1-byte) enum, and values above 2^32. The latter
 * should be ENUM64, but clang 14 emits a plain ENUM of size 8 with the values
 * truncated to 32 bits (BIG_2_32 -> 0); ENUM64 comes from pahole (split_module.btf,
 * vmlinux.btf). */
enum signed_e {
	SE_MIN = -2147483647 - 1,
	SE_NEG = -1,
	SE_ZERO = 0,
	SE_POS = 1,
	SE_MAX = 2147483647,
};

enum __attribute__((packed)) small_e {
	SM_A = 0,
	SM_B = 1,
	SM_C = 255,
};

enum big_e {
	BIG_ONE = 1,
	BIG_2_32 = 0x100000000ULL,
	BIG_MAX = 0xffffffffffffffffULL,
};

enum big_signed_e {
	BS_NEG = -0x100000000LL,
	BS_ZERO = 0,
	BS_POS = 0x7fffffffffffffffLL,
};

/* Typedef chains. */
typedef __u64 u64_t;
typedef u64_t ts_t;
typedef ts_t stamp_t;
typedef struct flow_key flow_key_t;
typedef flow_key_t fk_alias_t;
typedef __u32 arr4_t[4];

/* Qualifiers, pointers, FWD, function pointers, type tag, float/double, all ints. */
struct opaque;           /* never defined: FWD struct */
union opaque_u;          /* never defined: FWD union */

struct qualified {
	const __u32 c;
	volatile __u64 v;
	const volatile int cv;
	int *restrict rp;
	const char *name;
	char *const cp;
	char __user *uptr;                    /* PTR -> TYPE_TAG "user" -> char */
	const int __user *ucp;                /* PTR -> TYPE_TAG -> CONST -> int */
	void __user *uvoid;                   /* PTR -> TYPE_TAG -> void (type 0) */
	int __attribute__((btf_type_tag("a"))) __attribute__((btf_type_tag("b"))) *tag2; /* two tags */
	struct event __user *uev;             /* clang 14 drops the tag on struct pointees */
	void *vp;
	void **vpp;
	struct opaque *op;
	union opaque_u *ou;
	struct qualified *self;
	int (*cb)(void *ctx, __u32 n);        /* FUNC_PROTO via pointer */
	void (*noargs)(void);
	float f;                              /* FLOAT 4 */
	double d;                             /* FLOAT 8 */
	_Bool flag;                           /* INT BOOL */
	char ch;                              /* INT CHAR */
	signed char sc;
	unsigned char uc;
	short s;
	unsigned short us;
	long l;
	unsigned long ul;
	long long ll;
	unsigned long long ull;
	__int128 i128;
	unsigned __int128 u128;
	ts_t ts;
	stamp_t stamp;
	fk_alias_t key;
	arr4_t quad;
	enum signed_e se;
	enum small_e sm;
	enum big_e be;
	enum big_signed_e bse;
	enum conn_state cs;
};

/* Decl tags on a struct, a member, a function, a parameter and a variable. */
struct __dtag("tagged_struct") tagged {
	__u32 plain;
	__u64 marked __dtag("tagged_member");
};

/* Everything together, each at its natural place. */
struct kitchen_sink {
	struct bits bits;
	struct packed_hdr ph;
	struct holds_aligned ha;
	struct nested nested;
	struct arrays arrays;
	struct qualified q;
	struct tagged t;
	struct event ev;
	struct flow_stats fs;
	struct conn_flags cf;
	struct addr ad;
	struct lpm_v4_key lk;
	struct flex fl;          /* flexible array last */
};

/* Global variables: .bss (zero), .data (initialised), .rodata (const volatile),
 * and a custom .data.custom section. */
struct kitchen_sink g_sink;
struct zero_len g_zero_len;
union value_u g_value = { .i = 0x3f800000 };
struct bits g_bits = { .a = 5, .c = 1000, .d = -3, .f = -100, .g = 0xffffffffffULL };
__u64 g_counter __dtag("tagged_var") = 42;
const volatile __u32 g_rodata_limit = 1500;
const volatile enum signed_e g_rodata_mode = SE_NEG;
stamp_t g_stamp SEC(".data.custom") = 7;
enum big_e g_big = BIG_2_32;
enum big_signed_e g_big_signed = BS_NEG;
enum small_e g_small = SM_C;

/* FUNC / FUNC_PROTO with a few args; global (non-static) so it stays a subprogram. */
__attribute__((noinline)) __dtag("tagged_func")
int ms_func(struct kitchen_sink *ks, __u32 idx __dtag("tagged_param"), __u64 mask, enum conn_state st)
{
	if (!ks)
		return -1;
	return (int)((ks->arrays.m[idx & 1][idx & 3] & mask) + st);
}

static __attribute__((noinline)) __u64 ms_static_func(const struct packed_hdr *ph, ts_t when)
{
	return ph->ts + when;
}

SEC("xdp")
int ms_types(struct xdp_md *ctx)
{
	int r = ms_func(&g_sink, g_rodata_limit, g_counter, CS_NEW);

	r += (int)ms_static_func(&g_sink.ph, g_stamp);
	r += g_bits.a + g_value.parts.lo + g_zero_len.hdr + g_rodata_mode + (int)g_big + (int)g_big_signed + g_small;
	return r > 0 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
