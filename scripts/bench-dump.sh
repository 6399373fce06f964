#!/usr/bin/env bash
# Benchmark of `mapsleuth analyze dump` on a 1M-entry bpftool dump (docs/benchmarks.md,
# "Dump decoding"). Not a test: it prints figures to copy into the doc.
#
#   scripts/bench-dump.sh            (root and bpftool only to make the dumps once)
#
# The dumps come from corpus/gen-big-dump.sh (a real 1M-entry hash map: 4-byte keys,
# 32-byte struct flow_stats values) and are reused when present. Environment:
# JSON=/tmp/big.json TXT=/tmp/big.txt RUNS=5.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

JSON=${JSON:-/tmp/big.json}
TXT=${TXT:-/tmp/big.txt}
RUNS=${RUNS:-5}
OBJ=corpus/bpf/maps.bpf.o
M=target/release/mapsleuth

if [ ! -s "$JSON" ] || [ ! -s "$TXT" ]; then
    corpus/gen-big-dump.sh "$JSON" "$TXT"
fi
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }
cargo build --release --locked -p mapsleuth >&2

echo "## machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores online)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GB; kernel $(uname -r)"
echo "inputs: $(stat -c '%n %s bytes' "$JSON"), $(stat -c '%n %s bytes' "$TXT")"
echo "$($M --version); $(hyperfine --version); $(python3 --version)"
echo

# The map's own definition (`--map flows`: flow_key -> flow_stats) does not match this
# map's 4-byte keys, so that run also reports D003/D012 and exits 1 (-i); the exact
# types (`--key-type __u32 --value-type flow_stats`) give the clean run.
echo "## time (hyperfine, one run, $RUNS runs each)"
table=$(mktemp)
hyperfine --warmup 1 --runs "$RUNS" -i --export-markdown "$table" --style basic \
    -n "mapsleuth analyze dump big.json --btf maps.bpf.o --map flows" \
    "$M analyze dump $JSON --btf $OBJ --map flows" \
    -n "mapsleuth analyze dump big.txt --btf maps.bpf.o --map flows" \
    "$M analyze dump $TXT --btf $OBJ --map flows" \
    -n "mapsleuth analyze dump big.json --key-type __u32 --value-type flow_stats" \
    "$M analyze dump $JSON --btf $OBJ --key-type __u32 --value-type flow_stats" \
    -n "python3 json.load(big.json)" \
    "python3 -c 'import json; json.load(open(\"$JSON\"))'" >&2
cat "$table"
rm -f "$table"
echo

echo "## peak memory (/usr/bin/time -v)"
rss "analyze dump big.json --map flows" $M analyze dump "$JSON" --btf $OBJ --map flows
rss "analyze dump big.txt --map flows" $M analyze dump "$TXT" --btf $OBJ --map flows
rss "analyze dump big.json --key-type/--value-type" $M analyze dump "$JSON" --btf $OBJ --key-type __u32 --value-type flow_stats
rss "analyze dump big.json --format json (every entry decoded)" $M analyze dump "$JSON" --btf $OBJ --key-type __u32 --value-type flow_stats --format json
rss "python3 json.load(big.json)" python3 -c "import json; json.load(open('$JSON'))"
