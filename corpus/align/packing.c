/* Packing: packed structs whose BTF shows it and packed structs whose BTF does not,
 * unions, #pragma pack, member-level packed, packed with aligned. No type is a member of
 * another unless a case says so. */

struct pk_tail_packed {
	int a;
	short b;
} __attribute__((packed)); /* size 6: not a multiple of 4 */

struct pk_tail_plain {
	int a;
	short b;
};

struct pk_fields_packed {
	short a;
	int b; /* at 2 */
} __attribute__((packed));

struct pk_fields_plain {
	short a;
	int b;
};

struct pk_inner_anon {
	char : 4;
	int a : 4;
	long b; /* at 1 */
	struct {
		char c;
		int d;
	} __attribute__((packed)) e;
} __attribute__((packed));

union pk_union_bits {
	int a : 4;
	char b;
	char c : 1;
};

union pk_union_holds_packed {
	struct {
		long a;
		int b;
	} __attribute__((packed));
	int c;
};

union pk_union_odd {
	char code[5];
	struct {
		char op;
		int rel;
	} __attribute__((packed));
};

/* Packed, yet every member sits where it would anyway: its own BTF cannot show it... */
struct pk_looks_aligned {
	int x1;
	int x2;
} __attribute__((packed));

/* ...until a plain struct holds it at an odd offset. The holder then looks packed to
 * libbpf, and BTF cannot tell which of the two carried the attribute. */
struct pk_outer_implicit {
	char y1;
	struct pk_looks_aligned y2;
};

/* A packed struct with a leading unnamed bitfield and a zero-width one, held at an odd
 * offset by a struct whose tail comes from `long : 0` (not from alignment). */
struct pk_zero_width {
	char : 8;
	char kind;
	char burst;
	int : 0;
	short bytes;
} __attribute__((packed));

struct pk_holds_zero_width {
	long : 64;
	char : 8;
	struct pk_zero_width d;
	long : 0;
};

/* Packed structs of plain members inside a plain struct. */
struct pk_plain_int {
	int x;
};

struct pk_plain_then_char {
	struct pk_plain_int a;
	char c;
} __attribute__((packed)); /* size 5 */

struct pk_mixed_outer {
	struct pk_plain_then_char b1;
	short a1;
	struct pk_plain_then_char b2;
};

/* Packed and aligned at once: members packed, the struct 4-aligned (size 8). */
struct pk_packed_aligned {
	char a;
	int b;
} __attribute__((packed, aligned(4)));

#pragma pack(push, 2)
struct pk_pragma2 {
	char a;
	int b;  /* at 2 */
	long c; /* at 6 */
};
#pragma pack(pop)

/* Only one member packed: the struct keeps the alignment of the others. */
struct pk_member_packed {
	char a;
	int b __attribute__((packed)); /* at 1 */
	short c;                        /* at 6 */
};

/* Packed with nothing out of place and used nowhere: its BTF is the same as that of the
 * plain twin below. */
struct pk_hidden {
	long a;
	long b;
} __attribute__((packed));

struct pk_hidden_plain {
	long a;
	long b;
};

/* An array of packed structs of odd size. */
struct pk_array_of_packed {
	char tag;
	struct pk_tail_packed items[3];
};

/* One global per type: BTF then holds each definition, and no global is a member of
 * anything. */
struct pk_tail_packed g_pk_tail_packed;
struct pk_tail_plain g_pk_tail_plain;
struct pk_fields_packed g_pk_fields_packed;
struct pk_fields_plain g_pk_fields_plain;
struct pk_inner_anon g_pk_inner_anon;
union pk_union_bits g_pk_union_bits;
union pk_union_holds_packed g_pk_union_holds_packed;
union pk_union_odd g_pk_union_odd;
struct pk_looks_aligned g_pk_looks_aligned;
struct pk_outer_implicit g_pk_outer_implicit;
struct pk_zero_width g_pk_zero_width;
struct pk_holds_zero_width g_pk_holds_zero_width;
struct pk_plain_int g_pk_plain_int;
struct pk_plain_then_char g_pk_plain_then_char;
struct pk_mixed_outer g_pk_mixed_outer;
struct pk_packed_aligned g_pk_packed_aligned;
struct pk_pragma2 g_pk_pragma2;
struct pk_member_packed g_pk_member_packed;
struct pk_hidden g_pk_hidden;
struct pk_hidden_plain g_pk_hidden_plain;
struct pk_array_of_packed g_pk_array_of_packed;
