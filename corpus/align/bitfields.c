/* Bitfields: named ones raise the alignment to their type's (SysV), unnamed and
 * zero-width ones do not; storage units, signedness, flushes, packed bitfields. */

enum bf_two { BF_OFF, BF_ON };

struct bf_mixed_types {
	int a : 3;
	long b : 2;
	_Bool c : 1;
	enum bf_two d : 1;
	short e : 5;
	unsigned f : 30; /* does not fit the rest of the int: next unit */
};

struct bf_with_plain {
	long : 4;
	int a : 4;
	short b;
	long c;
	long d : 8;
	int e;
	int f;
};

struct bf_flush {
	int a : 4;
	long : 0;
	long b : 16;
};

/* Only the bitfield's declared type says 4: no gap shows it. */
struct bf_type_raises {
	char a;
	char b;
	char c;
	int d : 8;
};

struct bf_long_unit {
	char c;
	long x : 4;
};

/* Unnamed and zero-width bitfields of a wide type do not raise it. */
struct bf_unnamed_no_raise {
	char a;
	long : 4;
	char b;
};

struct bf_zero_no_raise {
	char a;
	long : 0;
	char b; /* at 8, size 9 */
};

struct bf_signedness {
	signed int s : 5;
	unsigned int u : 5;
	signed char sc : 3;
	long long ll : 40;
	unsigned long long ull : 20;
};

/* Packed: bitfields cross their type's units. */
struct bf_packed_cross {
	char a;
	int b : 12;
	int c : 12;
	short d : 9;
} __attribute__((packed));

union bf_union {
	int a : 4;
	long b : 33;
	char c;
};

struct bf_bools {
	_Bool a : 1;
	_Bool b : 1;
};

struct bf_wide_then_char {
	unsigned long long v : 63;
	char c;
};

struct bf_mixed_types g_bf_mixed_types;
struct bf_with_plain g_bf_with_plain;
struct bf_flush g_bf_flush;
struct bf_type_raises g_bf_type_raises;
struct bf_long_unit g_bf_long_unit;
struct bf_unnamed_no_raise g_bf_unnamed_no_raise;
struct bf_zero_no_raise g_bf_zero_no_raise;
struct bf_signedness g_bf_signedness;
struct bf_packed_cross g_bf_packed_cross;
union bf_union g_bf_union;
struct bf_bools g_bf_bools;
struct bf_wide_then_char g_bf_wide_then_char;
