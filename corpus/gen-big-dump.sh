#!/usr/bin/env bash
# Makes the benchmark input (too big to commit): a real 1M-entry BPF hash map, 4-byte
# keys and 32-byte struct flow_stats values (packets=i, bytes=64*i, drops=0,
# state=CS_ESTABLISHED, last_seen_ns=1000*i), dumped by bpftool as JSON and as plain
# text. The map has no BTF, so the -j dump has no `formatted`: the second row of
# scripts/bench-dump-btf.sh, whose default input (a BTF map) is gen-big-btf-dump.sh's.
#
#   corpus/gen-big-dump.sh /tmp/big.json [/tmp/big.txt]     (root, bpftool, python3)
#
# N=... sets the entry count (default 1000000: the -j dump is then ~272 MB).
# Prints how long bpftool took to dump, the anchor of docs/benchmarks.md.
set -euo pipefail

out_json=${1:?usage: $0 OUT.json [OUT.txt]}
out_txt=${2:-${out_json%.json}.txt}
N=${N:-1000000}
PIN=/sys/fs/bpf/mapsleuth_big_$$
TMP=$(mktemp -d)

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
cleanup() { rm -rf "$PIN" "$TMP"; }
trap cleanup EXIT

mkdir -p "$PIN"
entries=$(( N > 1048576 ? N : 1048576 ))
bpftool map create "$PIN/big" type hash key 4 value 32 entries "$entries" name ms_big

# One bpftool process fills the map: `bpftool batch` runs a file of commands.
python3 - "$PIN/big" "$N" >"$TMP/batch" <<'EOF'
import sys
path, n = sys.argv[1], int(sys.argv[2])
w = sys.stdout.write
for i in range(n):
    k = i.to_bytes(4, "little").hex(" ")
    v = " ".join((
        i.to_bytes(8, "little").hex(" "),
        (64 * i).to_bytes(8, "little").hex(" "),
        "00 00 00 00 01 00 00 00",
        (1000 * i).to_bytes(8, "little").hex(" "),
    ))
    w(f"map update pinned {path} key hex {k} value hex {v}\n")
EOF
bpftool batch file "$TMP/batch" >/dev/null

t0=$(date +%s.%N)
bpftool -j map dump pinned "$PIN/big" >"$out_json"
t1=$(date +%s.%N)
bpftool map dump pinned "$PIN/big" >"$out_txt"
t2=$(date +%s.%N)
printf 'bpftool -j map dump: %.2f s, %s bytes -> %s\n' "$(echo "$t1 - $t0" | bc)" "$(stat -c %s "$out_json")" "$out_json"
printf 'bpftool map dump:    %.2f s, %s bytes -> %s\n' "$(echo "$t2 - $t1" | bc)" "$(stat -c %s "$out_txt")" "$out_txt"
