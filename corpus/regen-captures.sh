#!/usr/bin/env bash
# Regenerates the live-capture corpus (run as root, bpf(2) and a bpffs needed):
#   corpus/captures/ring.mscap   a ring buffer's unread records (4 of them: three 24-byte
#                                `struct event` records, one 16-byte record, one discarded)
#   corpus/captures/outer.mscap  an array of maps captured with --recursive: the outer map
#                                and its two inner arrays
#   corpus/captures/outer.after.mscap  the same maps after changes made with bpftool: slot 0
#                                emptied, slot 1 → inner_a added, slot 2 moved from inner_b
#                                to inner_a, inner_a[0] = 42
#   corpus/captures/ring_event.bpf.o  the BTF of `struct event` (--record-type)
# The maps are made by the capture crate's `corpus_maps` example, pinned under a temporary
# bpffs directory, captured with `mapsleuth capture`, then unpinned. Snapshot times and
# map ids differ on every run; the records and values do not.
#
# Usage: corpus/regen-captures.sh   (MAPSLEUTH=path/to/mapsleuth to use a built binary)
set -euo pipefail

CORPUS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$CORPUS")"
OUT="$CORPUS/captures"
cd "$OUT"
MULTIARCH="$(gcc -print-multiarch)"
clang -g -O2 -Wall -Werror -I"/usr/include/$MULTIARCH" -fdebug-prefix-map="$OUT"=. \
	-target bpf -c ring_event.bpf.c -o ring_event.bpf.o
echo "wrote captures/ring_event.bpf.o"

cd "$ROOT"
cargo build -q -p mapsleuth-capture --example corpus_maps --features test-util
if [ -z "${MAPSLEUTH:-}" ]; then
	cargo build -q -p mapsleuth
	MAPSLEUTH="${CARGO_TARGET_DIR:-$ROOT/target}/debug/mapsleuth"
fi
EXAMPLE="${CARGO_TARGET_DIR:-$ROOT/target}/debug/examples/corpus_maps"

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
PIN="/sys/fs/bpf/ms-corpus-$$"  # bpffs names take no dots
mkdir "$PIN"
trap 'rm -rf "$PIN"' EXIT
"$EXAMPLE" "$PIN"
"$MAPSLEUTH" capture --pinned "$PIN/events" -o "$OUT/ring.mscap"
"$MAPSLEUTH" capture --pinned "$PIN/outer" --recursive -o "$OUT/outer.mscap"
bpftool map delete pinned "$PIN/outer" key 0 0 0 0
bpftool map update pinned "$PIN/outer" key 1 0 0 0 value pinned "$PIN/inner_a"
bpftool map update pinned "$PIN/outer" key 2 0 0 0 value pinned "$PIN/inner_a"
bpftool map update pinned "$PIN/inner_a" key 0 0 0 0 value 42 0 0 0 0 0 0 0
"$MAPSLEUTH" capture --pinned "$PIN/outer" --recursive -o "$OUT/outer.after.mscap"
chmod 644 "$OUT"/*.mscap
echo "wrote captures/ring.mscap, captures/outer.mscap and captures/outer.after.mscap"
