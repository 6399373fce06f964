#!/usr/bin/env bash
# Live capture vs bpftool (docs/benchmarks.md, "Live capture"): a 1M-entry hash map
# (4-byte keys, 32-byte values) pinned at /sys/fs/bpf/ms_bench, dumped by
# `bpftool -j map dump` and captured by `mapsleuth capture`. Needs root, bpftool and
# hyperfine. ENTRIES=N changes the map size; the pin is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
pin=/sys/fs/bpf/ms_bench
out=${TMPDIR:-/tmp}/ms_bench.mscap
for tool in bpftool hyperfine; do
    command -v "$tool" >/dev/null || { echo "bench-capture: $tool is not installed" >&2; exit 2; }
done
if [ "$(id -u)" -ne 0 ]; then
    echo "bench-capture: creating and reading maps needs root" >&2
    exit 2
fi
cargo build --release -p mapsleuth-capture --examples --features test-util
cargo build --release -p mapsleuth
trap 'rm -f "$pin" "$out"' EXIT
./target/release/examples/fill_bench_map --entries "${ENTRIES:-1000000}" --pin "$pin"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
hyperfine -w 1 -r 5 \
    "bpftool -j map dump pinned $pin > /dev/null" \
    "target/release/mapsleuth capture --pinned $pin -o $out"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
