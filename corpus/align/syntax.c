/* Declarations that reach alignment through typedefs, arrays (multi-dimensional, of
 * pointers, of function pointers, of structs), anonymous and empty aggregates, forward
 * declarations, types that refer to each other, names shared between a tag and a
 * typedef, and scalars whose alignment is not obvious. */

typedef int sx_pair_t[2];
typedef int sx_cube_t[3][4][5];
typedef int *sx_ptrs_t[6];
typedef char (*sx_fn_arr_t[3])(int);
typedef const volatile int *volatile sx_cv_ptr_t;

struct sx_multidim {
	char tag;
	sx_pair_t a;
	sx_cube_t b;
	sx_ptrs_t c;
	sx_fn_arr_t d;
	char e[2][3];
	short f[3][1][2];
	sx_cv_ptr_t g;
};

struct sx_cell {
	char c;
	int i;
};

struct sx_grid {
	char tag;
	struct sx_cell cells[2][3];
	char after;
};

typedef struct {
	int x, y, z;
} sx_anon_t;

typedef union {
	char bytes[6];
	short halves[3];
} sx_anon_u;

struct sx_empty {};
union sx_empty_u {};

struct sx_holds_empty {
	int a;
	char b;
	struct sx_empty e; /* size 0, at 5 */
	union sx_empty_u u;
	long l;
};

struct sx_fwd;
union sx_fwd_u;

struct sx_nested {
	int a;
	struct {
		int b;
		struct {
			struct sx_nested *self;
			const char *name;
		} inner;
		union {
			volatile long f;
			void *g;
		};
	};
	union {
		const int *h;
		void (*cb)(char, int, void *);
	} j;
	enum { SX_K = 100, SX_L = 200 } m;
	char n[16];
	struct {
		char o;
		int p;
		void (*q)(int);
	} r[5];
	struct sx_fwd *fwd;
	union sx_fwd_u *fwd_u;
	sx_anon_t anon;
	sx_anon_u anon_u;
};

/* Ordering: types that need each other, an empty struct first in two of them. */
struct sx_s1 {};
struct sx_s3;
struct sx_s2 {
	struct sx_s2 *s2;
	struct sx_s3 *s3;
};
struct sx_s3 {
	struct sx_s1 s1;
	struct sx_s2 s2;
};
struct sx_s4 {
	struct sx_s1 s1;
	struct sx_s3 s3;
};

/* Namespacing: a tag and a typedef of one name, and a typedef of a different type with
 * an aggregate's name. */
struct NS {
	int NS;
	int NU;
};
typedef struct NS NS;

union NU {
	int NS;
	long NU;
};
typedef union NU NU;

struct NX {};
typedef int NX;

/* Scalars: __int128 is 16-aligned, a packed enum 1 byte, an enum with a 64-bit value
 * 8 bytes. */
struct sx_int128 {
	char c;
	__int128 v; /* at 16 */
};

enum __attribute__((packed)) sx_small_e { SX_P = 1 };
enum sx_big_e { SX_W = 0x100000000ULL };

struct sx_enums {
	enum sx_small_e p;
	char c;
	enum sx_big_e w;
};

struct sx_floats {
	float f;
	double d;
	_Bool b;
};

struct sx_multidim g_sx_multidim;
struct sx_cell g_sx_cell;
struct sx_grid g_sx_grid;
sx_anon_t g_sx_anon_t;
sx_anon_u g_sx_anon_u;
struct sx_empty g_sx_empty;
union sx_empty_u g_sx_empty_u;
struct sx_holds_empty g_sx_holds_empty;
struct sx_nested g_sx_nested;
struct sx_s1 g_sx_s1;
struct sx_s2 g_sx_s2;
struct sx_s3 g_sx_s3;
struct sx_s4 g_sx_s4;
struct NS g_NS;
NS g_NS_t;
union NU g_NU;
NU g_NU_t;
struct NX g_NX;
NX g_NX_t;
struct sx_int128 g_sx_int128;
struct sx_enums g_sx_enums;
struct sx_floats g_sx_floats;
