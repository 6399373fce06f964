#!/usr/bin/env bash
# Regenerates corpus/align: for each case file align/NAME.c, the BPF object
# align/NAME.bpf.o (clang -g -target bpf), the compiler's own sizes, alignments and
# offsets as align/NAME.oracle.tsv (a generated C program, compiled for the host and
# run; checked against the BPF target with static assertions), and libbpf's C view of
# the BTF as align/NAME.format-c.txt (bpftool btf dump file ... format c: where it
# prints __attribute__((packed))). Idempotent: same tools, same bytes.
#
# Usage: corpus/regen-align.sh   (needs clang, bpftool, python3: apt-get install clang bpftool)
set -euo pipefail

CORPUS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Work from corpus/align with relative paths so that no absolute path ends up in a file.
cd "$CORPUS/align"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

need() {
	command -v "$1" >/dev/null 2>&1 || { echo "missing tool: $1 ($2)" >&2; exit 1; }
}
need clang "apt-get install clang"
need bpftool "apt-get install bpftool"
need python3 "apt-get install python3"

wrote() { echo "wrote align/$1"; }

for src in *.c; do
	name="${src%.c}"
	obj="$name.bpf.o"
	clang -g -O2 -Wall -Werror -target bpf -fdebug-prefix-map="$CORPUS/align"=. -c "$src" -o "$obj"
	wrote "$obj"

	bpftool -j btf dump file "$obj" >"$TMP/$name.json"
	python3 gen-oracle.py program "$TMP/$name.json" "$src" >"$TMP/$name.oracle.c"
	# The host program includes the case file: run it from here so that the include resolves.
	clang -w -O0 -I. -o "$TMP/$name.oracle" "$TMP/$name.oracle.c"
	{
		echo "# $src: sizeof/_Alignof/offsetof from $(clang --version | head -1), $(uname -m) host"
		"$TMP/$name.oracle"
	} >"$name.oracle.tsv"
	wrote "$name.oracle.tsv"

	# The same numbers hold for -target bpf (the oracle ran on the host).
	python3 gen-oracle.py asserts "$name.oracle.tsv" "$src" >"$TMP/$name.asserts.c"
	clang -w -target bpf -I. -fsyntax-only "$TMP/$name.asserts.c"
	echo "checked: align/$name.oracle.tsv holds for -target bpf too"

	bpftool btf dump file "$obj" format c >"$name.format-c.txt"
	wrote "$name.format-c.txt"
done

VERS="$CORPUS/oracles/VERSIONS.txt"
{
	echo "# >>> regen-align.sh"
	echo "clang: $(clang --version | head -1)"
	echo "bpftool: $(bpftool version | tr '\n' ' ')"
	echo "# <<< regen-align.sh"
} >"$TMP/versions"
if [ -f "$VERS" ]; then
	awk '/^# >>> regen-align.sh/{skip=1} !skip{print} /^# <<< regen-align.sh/{skip=0}' "$VERS" >"$TMP/versions.old"
	cat "$TMP/versions.old" "$TMP/versions" >"$VERS"
else
	cp "$TMP/versions" "$VERS"
fi
echo "wrote oracles/VERSIONS.txt"
