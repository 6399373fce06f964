#!/usr/bin/env bash
# Benchmark of `mapsleuth export` on the 1M-entry bpftool dump (docs/benchmarks.md,
# "Export"): whole process, against `analyze dump` alone on the same input in the same
# run (what export adds: building the frame and writing it). Not a test.
#
#   scripts/bench-export.sh          (root and bpftool only to make the dump once)
#
# The dump comes from corpus/gen-big-dump.sh (a real 1M-entry hash map: 4-byte keys,
# 32-byte struct flow_stats values). Environment: JSON=/tmp/big.json RUNS=5.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

JSON=${JSON:-/tmp/big.json}
TXT=${TXT:-/tmp/big.txt}
RUNS=${RUNS:-5}
OBJ=corpus/bpf/maps.bpf.o
M=target/release/mapsleuth
T=(--btf $OBJ --key-type __u32 --value-type flow_stats)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if [ ! -s "$JSON" ]; then
    corpus/gen-big-dump.sh "$JSON" "$TXT"
fi
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }
cargo build --release --locked -p mapsleuth >&2

echo "## machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores online)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GB; kernel $(uname -r)"
echo "input: $(stat -c '%n %s bytes' "$JSON")"
echo "$($M --version); $(hyperfine --version)"
echo

echo "## time (hyperfine, $RUNS runs each)"
table=$(mktemp)
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$table" --style basic \
    -n "analyze dump big.json (alone)" \
    "$M analyze dump $JSON ${T[*]}" \
    -n "export big.json -o big.parquet" \
    "$M export $JSON ${T[*]} -o $OUT/big.parquet" \
    -n "export big.json -o big.csv" \
    "$M export $JSON ${T[*]} -o $OUT/big.csv" \
    -n "export big.json -o big.ndjson" \
    "$M export $JSON ${T[*]} -o $OUT/big.ndjson" \
    -n "query top 10 by value.bytes" \
    "$M query 'SELECT key, \"value.bytes\" FROM entries ORDER BY \"value.bytes\" DESC LIMIT 10' $JSON ${T[*]}" >&2
cat "$table"
rm -f "$table"
echo
echo "## outputs"
ls -l "$OUT" | awk 'NR > 1 {print $9 ": " $5 " bytes"}'
echo
echo "## peak memory (/usr/bin/time -v)"
rss "analyze dump big.json" $M analyze dump "$JSON" "${T[@]}"
rss "export big.json -o big.parquet" $M export "$JSON" "${T[@]}" -o "$OUT/big.parquet"
