#!/usr/bin/env bash
# Records corpus/dumps/diff/: real bpftool dumps of per-CPU maps before and after a
# mutation (fill, dump, mutate, dump), for `mapsleuth diff`. The hash-map pair is
# corpus/dumps/flows{,.after}.* (regen-dumps.sh). See dumps/diff/README.md for what
# each mutation is.
#
# Needs: root, bpftool (Debian's, v7.1 here), corpus/bpf/maps.bpf.o, taskset, python3,
# and at least 2 CPUs (one CPU's value is changed by running the program on that CPU).
# Cleans up every pin it makes, and /sys/fs/bpf/ms_pinned when this run created it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
OBJ=$here/bpf/maps.bpf.o
OUT=$here/dumps/diff
PIN=/sys/fs/bpf/mapsleuth_diff_$$
TMP=$(mktemp -d)
MS_PINNED=/sys/fs/bpf/ms_pinned
created_ms_pinned=0

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "needs bpftool" >&2; exit 1; }
[ -f "$OBJ" ] || { echo "missing $OBJ (build corpus/bpf first)" >&2; exit 1; }
taskset -c 1 true 2>/dev/null || { echo "needs CPU 1" >&2; exit 1; }

cleanup() {
	rm -rf "$PIN" "$TMP"
	if [ "$created_ms_pinned" = 1 ]; then rm -f "$MS_PINNED"; fi
}
trap cleanup EXIT

[ -e "$MS_PINNED" ] || created_ms_pinned=1
mkdir -p "$PIN/m" "$PIN/nobtf"
bpftool prog loadall "$OBJ" "$PIN" >/dev/null 2>"$TMP/load.err" || {
	cat "$TMP/load.err" >&2
	exit 1
}
map_ids=$(bpftool -j prog show pinned "$PIN/ms_xdp" |
	python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["map_ids"])))')
for id in $map_ids; do
	name=$(bpftool -j map show id "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
	[ "$name" = pcpu_hash_stats ] && bpftool map pin id "$id" "$PIN/m/pcpu_hash_stats"
done
S=$PIN/m/pcpu_hash_stats
N=$PIN/nobtf/nb_pcpu
upd() { bpftool map update pinned "$@"; }
z32=$(printf '00 %.0s' $(seq 32))
head -c 64 /dev/zero >"$TMP/pkt"
xdp_on() { # cpu runs: ms_xdp increments packets of key 0 on that CPU only
	taskset -c "$1" bpftool prog run pinned "$PIN/ms_xdp" data_in "$TMP/pkt" repeat "$2" >/dev/null
}

# ---- before --------------------------------------------------------------------------
# pcpu_hash_stats: PERCPU_HASH u32 -> struct flow_stats (packets 0..8, bytes 8..16,
# drops 16..20, state 20..24, last_seen_ns 24..32). bpftool update sets every CPU alike.
upd "$S" key hex 00 00 00 00 value hex $z32
xdp_on 0 2
xdp_on 1 5
upd "$S" key hex 01 00 00 00 value hex 0a 00 00 00 00 00 00 00 e8 03 00 00 00 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00
upd "$S" key hex 02 00 00 00 value hex 03 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00 00 00 00 00
# nb_pcpu: PERCPU_HASH 4 -> 12 bytes, no BTF.
bpftool map create "$N" type percpu_hash key 4 value 12 entries 8 name nb_pcpu
upd "$N" key hex 01 00 00 00 value hex 01 02 03 04 05 06 07 08 09 0a 0b 0c
upd "$N" key hex 02 00 00 00 value hex 00 00 00 00 00 00 00 00 00 00 00 00
upd "$N" key hex 03 00 00 00 value hex ff ff ff ff ff ff ff ff ff ff ff ff

rm -rf "$OUT.new"
mkdir -p "$OUT.new"
dump() { # base pinned-path
	bpftool -j map show pinned "$2" >"$OUT.new/$1.show.json"
	bpftool map dump pinned "$2" >"$OUT.new/$1.txt"
	bpftool -j map dump pinned "$2" >"$OUT.new/$1.json"
	bpftool -p map dump pinned "$2" >"$OUT.new/$1.pretty.json"
}
dump pcpu_hash_stats "$S"
dump nb_pcpu "$N"

# ---- mutate --------------------------------------------------------------------------
# pcpu_hash_stats: key 0 packets on CPU 1 only (5 -> 8); key 1 bytes 1000 -> 2000 on
# every CPU; key 2 deleted; key 3 added.
xdp_on 1 3
upd "$S" key hex 01 00 00 00 value hex 0a 00 00 00 00 00 00 00 d0 07 00 00 00 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00
bpftool map delete pinned "$S" key hex 02 00 00 00
upd "$S" key hex 03 00 00 00 value hex 07 00 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00 00 00 01 00 00 00 03 00 00 00 00 00 00 00
# nb_pcpu: key 1 bytes 4..6 (05 06 -> aa bb) on every CPU; key 2 deleted; key 4 added.
upd "$N" key hex 01 00 00 00 value hex 01 02 03 04 aa bb 07 08 09 0a 0b 0c
bpftool map delete pinned "$N" key hex 02 00 00 00
upd "$N" key hex 04 00 00 00 value hex 04 00 00 00 00 00 00 00 00 00 00 00
dump pcpu_hash_stats.after "$S"
dump nb_pcpu.after "$N"

bpftool version >"$OUT.new/bpftool-version.txt"
[ -f "$OUT/README.md" ] && cp "$OUT/README.md" "$OUT.new/README.md"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
echo "wrote $(ls "$OUT" | wc -l) files to $OUT"
