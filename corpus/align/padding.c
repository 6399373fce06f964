/* Gaps between and after members, and where they come from: alignment, aligned(N),
 * unnamed and zero-width bitfields (which BTF does not record), zero-size members.
 * No type is a member of another unless a case says so: a use at an offset can pin an
 * alignment, and only `pad_context` is meant to. */

struct pad_natural {
	int i;
	long l; /* 4-byte hole before */
	char c; /* 7 bytes of tail */
};

/* Gaps made by unnamed bitfields that no alignment explains: the size or the offset
 * rules it out, so they must not raise the alignment. */
struct pad_unnamed_short {
	int head;
	int : 5; /* takes 4 bytes: `tail` lands at 8 */
	int tail;
};

struct pad_unnamed_long {
	int head;
	long : 64;
	long : 64;
	int tail; /* at 24 */
};

struct pad_leading {
	int : 32; /* a gap at offset 0 is never alignment */
	short mag;
	long : 0;
	short phase;
	long : 0;
	int : 32;
	int len;
	short *data;
};

struct pad_odd_gaps {
	long : 56;
	char a;
	long : 56;
	char b;
	char : 8;
};

/* No member reaches BTF: only a size. */
struct pad_only_unnamed {
	long : 64;
	long : 64;
};

struct pad_one_char { char x; };
struct pad_one_char_unnamed { char : 8; };
struct pad_one_short { short x; };
struct pad_one_short_unnamed { short : 16; };
struct pad_one_int { int x; };
struct pad_one_int_unnamed { int : 32; };
struct pad_one_long { long x; };
struct pad_one_long_unnamed { long : 64; };

/* A member aligned(32): a hole before it and tail after it. */
struct pad_member_aligned {
	int a;
	int b __attribute__((aligned(32)));
};

/* Tail padding that natural alignment explains looks the same under aligned(16). */
struct pad_tail_natural {
	long a;
	char b;
};

struct pad_tail_aligned {
	long a;
	char b;
} __attribute__((aligned(16)));

/* Here the tail is longer than the natural alignment leaves: the attribute shows. */
struct pad_tail_evident {
	int a;
	char b;
} __attribute__((aligned(16)));

/* Twins: an unnamed bitfield makes exactly the gap that an aligned member or an
 * aligned struct makes, and the BTF of each pair is the same. */
struct twin_hole_unnamed {
	int a;
	int : 32;
	int b;
	int c;
};

struct twin_hole_aligned {
	int a;
	int b __attribute__((aligned(8)));
	int c;
};

struct twin_tail_unnamed {
	int a;
	int b;
	int c;
	int : 32;
};

struct twin_tail_aligned {
	int a;
	int b;
	int c;
} __attribute__((aligned(8)));

/* Zero-size members: an aligned zero-size struct, zero-length and flexible arrays, an
 * empty union. */
struct zero_marker {
	char z[0];
} __attribute__((aligned(8)));

struct holds_marker {
	int a;
	short b;
	struct zero_marker mark; /* at 8 */
};

struct holds_marker_unnamed {
	int a;
	short b;
	short : 16;
	struct zero_marker mark;
};

struct zero_len_tail {
	long hdr;
	int items[0];
};

struct flex_tail {
	int n;
	short s;
	char data[];
};

union empty_union {};

struct holds_empty_union {
	long : 64;
	int : 32;
	int len;
	void *qp;
	union empty_union ex;
	long : 64;
	int slid;
	int flags;
	long : 64;
	char mac[6];
	long : 0;
	char hdr_type;
};

struct holds_empty_union_2 {
	long : 64;
	char : 8;
	char type;
	short refs;
	char flags;
	short : 0;
	char : 8;
	char level;
	long : 64;
	void *node;
	void *start;
	union empty_union disp;
	long : 64;
	int len; /* at 48, after a gap that aligned(16) would explain but the size (56) denies */
};

/* Uses that pin an alignment: `t` at 8 after a char says pad_tail_natural is not
 * 16-aligned; `m` after 6 bytes says zero_marker is at least 4-aligned. */
struct pad_context {
	char c;
	struct pad_tail_natural t;
	short s;
	struct zero_marker m;
};

/* One global per type: BTF then holds each definition (a pointer alone leaves a
 * forward declaration), and no global is a member of anything. */
struct pad_natural g_pad_natural;
struct pad_unnamed_short g_pad_unnamed_short;
struct pad_unnamed_long g_pad_unnamed_long;
struct pad_leading g_pad_leading;
struct pad_odd_gaps g_pad_odd_gaps;
struct pad_only_unnamed g_pad_only_unnamed;
struct pad_one_char g_pad_one_char;
struct pad_one_char_unnamed g_pad_one_char_unnamed;
struct pad_one_short g_pad_one_short;
struct pad_one_short_unnamed g_pad_one_short_unnamed;
struct pad_one_int g_pad_one_int;
struct pad_one_int_unnamed g_pad_one_int_unnamed;
struct pad_one_long g_pad_one_long;
struct pad_one_long_unnamed g_pad_one_long_unnamed;
struct pad_member_aligned g_pad_member_aligned;
struct pad_tail_natural g_pad_tail_natural;
struct pad_tail_aligned g_pad_tail_aligned;
struct pad_tail_evident g_pad_tail_evident;
struct twin_hole_unnamed g_twin_hole_unnamed;
struct twin_hole_aligned g_twin_hole_aligned;
struct twin_tail_unnamed g_twin_tail_unnamed;
struct twin_tail_aligned g_twin_tail_aligned;
struct zero_marker g_zero_marker;
struct holds_marker g_holds_marker;
struct holds_marker_unnamed g_holds_marker_unnamed;
struct zero_len_tail g_zero_len_tail;
struct flex_tail g_flex_tail;
union empty_union g_empty_union;
struct holds_empty_union g_holds_empty_union;
struct holds_empty_union_2 g_holds_empty_union_2;
struct pad_context g_pad_context;
