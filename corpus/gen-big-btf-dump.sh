#!/usr/bin/env bash
# Makes the default benchmark input of issue 13 (too big to commit): a real BTF-typed
# BPF hash map as users have, loaded from corpus/bench/procs.bpf.o (__u32 tid -> struct
# proc_info: __u64 runtime_ns, __u32 pid, enum proc_state, char comm[16]; 32 bytes),
# filled with N entries (corpus/bench/fill-procs.py: varied comm strings, NUL-padded;
# all enum values) and dumped by bpftool. Because the map has BTF, every entry of the
# `-j` dump carries bpftool's `formatted` object, and the plain dump is bpftool's BTF
# text form. (corpus/gen-big-dump.sh makes the BTF-less input: no `formatted`.)
#
#   corpus/gen-big-btf-dump.sh OUT.json [OUT.txt|-] [AFTER.json]   (root, bpftool, python3)
#
# OUT.txt: the plain dump (default OUT with .txt; `-`: none). AFTER.json: then change
# 1% of the entries (every 100th tid's runtime_ns grows) and dump the same map again
# (and AFTER with .txt, unless `-`): the input of the `diff` benchmark.
# N=... sets the entry count (default 1000000: -j dump 391 MB; 10M: 3.9 GB). Up to 1048576
# entries go to map `procs` (preallocated), more to `procs_big` (16M, no prealloc):
# the map name to pass as `--map` is printed. Prints how long the fill and bpftool took.
set -euo pipefail

out_json=${1:?usage: $0 OUT.json [OUT.txt|-] [AFTER.json]}
out_txt=${2:-${out_json%.json}.txt}
after_json=${3:-}
N=${N:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
OBJ=$HERE/bench/procs.bpf.o
PIN=/sys/fs/bpf/mapsleuth_bench_$$
MAP=procs
[ "$N" -le 1048576 ] || MAP=procs_big

[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "needs bpftool (apt-get install bpftool)" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
trap 'rm -rf "$PIN"' EXIT

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

# Loading the object (not `bpftool map create`) is what gives the map its BTF.
mkdir -p "$PIN"
bpftool prog loadall "$OBJ" "$PIN/prog" pinmaps "$PIN/maps"
t0=$(now)
python3 "$HERE/bench/fill-procs.py" "$PIN/maps/$MAP" "$N"
printf 'fill (BPF_MAP_UPDATE_BATCH): %.2f s, %s entries into map %s\n' "$(since "$t0")" "$N" "$MAP"

# dump JSON TXT: the -j and the plain dump of the map, timed.
dump() {
    local t
    t=$(now)
    bpftool -j map dump pinned "$PIN/maps/$MAP" >"$1"
    printf 'bpftool -j map dump: %.2f s, %s bytes -> %s\n' "$(since "$t")" "$(stat -c %s "$1")" "$1"
    # Every entry carries `formatted`: the expensive path of issue 13 runs.
    python3 - "$1" "$N" <<'EOF'
import sys
pats = [b'{"key":["', b'"formatted":{"key":']
counts, tails = [0, 0], [b"", b""]
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 24):
        for i, p in enumerate(pats):
            buf = tails[i] + chunk
            counts[i] += buf.count(p)
            tails[i] = buf[1 - len(p):]  # a match across chunks, never one counted twice
entries, formatted = counts
print(f"  entries: {entries}, with formatted: {formatted}")
if not entries == formatted == int(sys.argv[2]):
    sys.exit(f"{sys.argv[1]}: expected {sys.argv[2]} entries, each with formatted")
EOF
    [ "$2" = - ] && return
    t=$(now)
    bpftool map dump pinned "$PIN/maps/$MAP" >"$2"
    printf 'bpftool map dump:    %.2f s, %s bytes -> %s\n' "$(since "$t")" "$(stat -c %s "$2")" "$2"
}

dump "$out_json" "$out_txt"
if [ -n "$after_json" ]; then
    python3 "$HERE/bench/fill-procs.py" "$PIN/maps/$MAP" "$N" --change
    after_txt=-
    [ "$out_txt" = - ] || after_txt=${after_json%.json}.txt
    dump "$after_json" "$after_txt"
fi
echo "map: $MAP (--btf $OBJ --map $MAP)"
