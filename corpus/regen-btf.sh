#!/usr/bin/env bash
# Regenerates the BTF corpus: BPF objects (LE and BE) from corpus/bpf/*.bpf.c, raw and
# split BTF blobs, .BTF-compressed objects, and the bpftool/pahole oracles under
# corpus/oracles/btf/. Idempotent: same tools and same vmlinux.btf give the same bytes.
#
# Usage: corpus/regen-btf.sh [--refresh-vmlinux] [--load-test]
#   --refresh-vmlinux  copy /sys/kernel/btf/vmlinux over corpus/btf/vmlinux.btf (by default
#                      the recorded one is kept, so the split BTF keeps its base)
#   --load-test        also check that maps.bpf.o loads here (root, bpffs), then unpin
set -euo pipefail

refresh_vmlinux=0
load_test=0
for arg in "$@"; do
	case "$arg" in
	--refresh-vmlinux) refresh_vmlinux=1 ;;
	--load-test) load_test=1 ;;
	*) echo "usage: $0 [--refresh-vmlinux] [--load-test]" >&2; exit 2 ;;
	esac
done

CORPUS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Work from corpus/ with relative paths so that no absolute path ends up in an oracle.
cd "$CORPUS"
BPF=bpf
BTF=btf
ORA=oracles/btf
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

need() {
	command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 ($2)" >&2; exit 1; }
}
need clang "apt-get install clang-14"
need gcc "apt-get install gcc"
need bpftool "apt-get install bpftool"
need pahole "apt-get install dwarves"
need llvm-objcopy "apt-get install llvm"
need llvm-readelf "apt-get install llvm"
need zstd "apt-get install zstd"
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "missing libbpf headers (apt-get install libbpf-dev)" >&2; exit 1; }
# LLVM >= 19's objcopy is the only tool here that can compress a non-debug section.
OBJCOPY19="$(command -v llvm-objcopy-19 || true)"

wrote() { echo "wrote $1"; }

mkdir -p "$BTF" "$ORA"

# --- 1. BPF objects -----------------------------------------------------------------
MULTIARCH="$(gcc -print-multiarch)"
CFLAGS=(-g -O2 -Wall -Werror -I"/usr/include/$MULTIARCH" -I. -fdebug-prefix-map="$CORPUS/bpf"=.)
OBJS=()
for src in "$BPF"/*.bpf.c; do
	name="$(basename "$src" .bpf.c)"
	(cd "$BPF" && clang "${CFLAGS[@]}" -target bpf -c "$name.bpf.c" -o "$name.bpf.o")
	(cd "$BPF" && clang "${CFLAGS[@]}" -target bpfeb -c "$name.bpf.c" -o "$name.bpfeb.o")
	wrote "$BPF/$name.bpf.o"; wrote "$BPF/$name.bpfeb.o"
	OBJS+=("$BPF/$name.bpf.o" "$BPF/$name.bpfeb.o")
done

# --- 2. BTF blobs -------------------------------------------------------------------
if [ "$refresh_vmlinux" = 1 ] || [ ! -f "$BTF/vmlinux.btf" ]; then
	cp /sys/kernel/btf/vmlinux "$BTF/vmlinux.btf"
	chmod 644 "$BTF/vmlinux.btf"
	wrote "$BTF/vmlinux.btf"
else
	echo "kept btf/vmlinux.btf (use --refresh-vmlinux to replace it)"
fi

# Raw .BTF sections, as they sit in the objects (unrelocated).
for e in bpf bpfeb; do
	llvm-objcopy --dump-section .BTF="$BTF/types.$e.btf" "$BPF/types.$e.o" "$TMP/discard.o"
	wrote "$BTF/types.$e.btf"
done

# Split BTF of a module-like gcc object on top of vmlinux.btf.
gcc -g -O2 -c "$BTF/src/split_module.c" -o "$TMP/split_module.o"
rm -f "$BTF/split_module.btf"
pahole --btf_encode_detached="$BTF/split_module.btf" --btf_base="$BTF/vmlinux.btf" "$TMP/split_module.o"
chmod 644 "$BTF/split_module.btf"
wrote "$BTF/split_module.btf"

# Objects whose .BTF is SHF_COMPRESSED (ELF Chdr + zlib/zstd).
COMPRESSED=()
if [ -n "$OBJCOPY19" ]; then
	for spec in bpf:zlib bpf:zstd bpfeb:zlib; do
		e="${spec%%:*}"; fmt="${spec#*:}"
		out="$BTF/types.$e.btf-$fmt.o"
		"$OBJCOPY19" --compress-sections=".BTF=$fmt" "$BPF/types.$e.o" "$out"
		# Check: decompressing gives back the original section bytes.
		"$OBJCOPY19" --compress-sections='.BTF=none' "$out" "$TMP/back.o"
		llvm-objcopy --dump-section .BTF="$TMP/back.btf" "$TMP/back.o" "$TMP/discard.o"
		cmp -s "$TMP/back.btf" "$BTF/types.$e.btf" || { echo "round trip of $out differs" >&2; exit 1; }
		wrote "$out"
		COMPRESSED+=("$out")
	done
else
	echo "llvm-objcopy-19 not found (apt-get install llvm-19): compressed-.BTF objects not regenerated" >&2
fi

# --- 3. Oracles ---------------------------------------------------------------------
# bpftool text, JSON and C; pahole. Extra args (e.g. base BTF) come after the file.
oracle_bpftool() { # FILE [bpftool global opts...]
	local f="$1"; shift
	local o="$ORA/$(basename "$f")"
	bpftool "$@" btf dump file "$f" >"$o.bpftool.txt"; wrote "$o.bpftool.txt"
	bpftool "$@" -j btf dump file "$f" >"$o.bpftool.json"; wrote "$o.bpftool.json"
}
oracle_format_c() {
	local f="$1"; local o="$ORA/$(basename "$f")"
	bpftool btf dump file "$f" format c >"$o.format-c.txt"; wrote "$o.format-c.txt"
}
# pahole's stdout, and its stderr (warnings such as "Unknown kind 17") when there is any.
oracle_pahole() { # OUT FILE-ARGS...
	local out="$1"; shift
	pahole -F btf "$@" >"$out" 2>"$out.stderr" || echo "pahole exit status: $?" >>"$out.stderr"
	wrote "$out"
	local err="${out%.txt}.stderr.txt"
	if [ -s "$out.stderr" ]; then mv "$out.stderr" "$err"; wrote "$err"; else rm -f "$out.stderr" "$err"; fi
}
# A tool that is expected to fail: record stderr and the exit status.
oracle_failure() { # OUT CMD...
	local out="$1"; shift
	local rc=0
	"$@" >"$out" 2>&1 || rc=$?
	echo "exit status: $rc" >>"$out"
	wrote "$out"
}

for f in "${OBJS[@]}" "$BTF/types.bpf.btf" "$BTF/types.bpfeb.btf"; do
	oracle_bpftool "$f"
	oracle_format_c "$f"
	oracle_pahole "$ORA/$(basename "$f").pahole.txt" "$f"
done

# vmlinux: text and JSON are big, keep them zstd-compressed; pahole for chosen structs.
bpftool btf dump file "$BTF/vmlinux.btf" | zstd -19 -q -f -o "$ORA/vmlinux.btf.bpftool.txt.zst"
wrote "$ORA/vmlinux.btf.bpftool.txt.zst"
bpftool -j btf dump file "$BTF/vmlinux.btf" | zstd -19 -q -f -o "$ORA/vmlinux.btf.bpftool.json.zst"
wrote "$ORA/vmlinux.btf.bpftool.json.zst"
rm -f "$ORA/vmlinux.btf.pahole.stderr.txt"
VMLINUX_TYPES=(list_head hlist_node in6_addr ethhdr iphdr ipv6hdr tcphdr udphdr sock_common
	sk_buff file inode task_struct bpf_attr xdp_md __sk_buff bpf_map)
{
	for t in "${VMLINUX_TYPES[@]}"; do
		echo "/* pahole -F btf -C $t vmlinux.btf */"
		pahole -F btf -C "$t" "$BTF/vmlinux.btf" 2>>"$TMP/vmlinux.pahole.err"
	done
} >"$ORA/vmlinux.btf.pahole.txt"
wrote "$ORA/vmlinux.btf.pahole.txt"
# The warnings repeat once per run; keep one run's worth.
if [ -s "$TMP/vmlinux.pahole.err" ]; then
	pahole -F btf -C list_head "$BTF/vmlinux.btf" 2>"$ORA/vmlinux.btf.pahole.stderr.txt" >/dev/null
	wrote "$ORA/vmlinux.btf.pahole.stderr.txt"
fi

# Split BTF: bpftool needs the base through -B (bpftool 7.1 has no "base" keyword).
# format c with a base prints all of vmlinux too, so it is not recorded.
oracle_bpftool "$BTF/split_module.btf" -B "$BTF/vmlinux.btf"
oracle_pahole "$ORA/split_module.btf.pahole.txt" --btf_base="$BTF/vmlinux.btf" \
	-C ms_mod_state,ms_mod_table "$BTF/split_module.btf"
oracle_failure "$ORA/split_module.btf.nobase.bpftool.txt" bpftool btf dump file "$BTF/split_module.btf"

# Compressed .BTF: what the real tools say.
for f in "${COMPRESSED[@]}"; do
	b="$ORA/$(basename "$f")"
	oracle_failure "$b.bpftool.txt" bpftool btf dump file "$f"
	oracle_failure "$b.pahole.txt" pahole -F btf "$f"
	llvm-readelf -S "$f" >"$b.readelf-S.txt"; wrote "$b.readelf-S.txt"
done

# --- 4. Versions --------------------------------------------------------------------
VERS=oracles/VERSIONS.txt
{
	echo "# >>> regen-btf.sh"
	echo "kernel (vmlinux.btf source): $(uname -r)"
	echo "clang: $(clang --version | head -1)"
	echo "gcc: $(gcc --version | head -1)"
	echo "bpftool: $(bpftool version | tr '\n' ' ')"
	echo "pahole: $(pahole --version)"
	echo "llvm-objcopy: $(llvm-objcopy --version | grep -i version | head -1)"
	[ -n "$OBJCOPY19" ] && echo "llvm-objcopy-19: $("$OBJCOPY19" --version | grep -i version | head -1)"
	echo "libbpf-dev: $(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null || echo unknown)"
	echo "zstd: $(zstd --version)"
	echo "# <<< regen-btf.sh"
} >"$TMP/versions"
if [ -f "$VERS" ]; then
	awk '/^# >>> regen-btf.sh/{skip=1} !skip{print} /^# <<< regen-btf.sh/{skip=0}' "$VERS" >"$TMP/versions.old"
	cat "$TMP/versions.old" "$TMP/versions" >"$VERS"
else
	cp "$TMP/versions" "$VERS"
fi
wrote "$VERS"

# --- 5. Checks ----------------------------------------------------------------------
for f in "${OBJS[@]}"; do
	sections="$(llvm-readelf -S "$f")"
	grep -q ' \.BTF ' <<<"$sections" || { echo "$f: no .BTF" >&2; exit 1; }
	grep -q ' \.BTF\.ext ' <<<"$sections" || { echo "$f: no .BTF.ext" >&2; exit 1; }
	want="little endian"; case "$f" in *.bpfeb.o) want="big endian" ;; esac
	header="$(llvm-readelf -h "$f")"
	grep -q "$want" <<<"$header" || { echo "$f: not $want" >&2; exit 1; }
done
echo "checked: every object has .BTF and .BTF.ext, byte order as named"

if [ "$load_test" = 1 ]; then
	[ "$(stat -f -c %T /sys/fs/bpf)" = bpf_fs ] || mount -t bpf bpf /sys/fs/bpf
	rm -rf /sys/fs/bpf/ms_test /sys/fs/bpf/ms_pinned
	bpftool prog loadall bpf/maps.bpf.o /sys/fs/bpf/ms_test
	ls /sys/fs/bpf/ms_test
	rm -rf /sys/fs/bpf/ms_test /sys/fs/bpf/ms_pinned
	echo "checked: maps.bpf.o loads with bpftool prog loadall (pins removed)"
fi

du -sh "$CORPUS"
