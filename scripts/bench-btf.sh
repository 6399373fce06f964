#!/usr/bin/env bash
# Whole-process time of `mapsleuth btf show task_struct` on vmlinux BTF against the
# anchors, bpftool's C dump of the same file and pahole's layout of the same struct, in
# one hyperfine run (same machine, same moment). Writes the markdown table to
# target/bench-btf.md; docs/benchmarks.md (## BTF) quotes it.
#
#   scripts/bench-btf.sh            # 5 warmup runs, at least 30 runs each
#   RUNS=100 scripts/bench-btf.sh
#
# The in-process breakdown (parse, validate, lookup, conversion) is a criterion bench:
#   cargo bench -p mapsleuth-btf --bench vmlinux
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
BTF=corpus/btf/vmlinux.btf
BPFTOOL=${BPFTOOL:-/usr/sbin/bpftool}
OUT=target/bench-btf.md

for tool in hyperfine "$BPFTOOL" pahole; do
    command -v "$tool" >/dev/null || { echo "bench-btf: $tool is not installed" >&2; exit 2; }
done

cargo build --release -p mapsleuth
MAPSLEUTH=target/release/mapsleuth

# The three must agree that there is something to show before they are timed (grep
# without -q reads to the end: no SIGPIPE for the tool under pipefail). pahole 1.24
# warns about every DECL_TAG on stderr, which hyperfine discards like the output.
for cmd in "$MAPSLEUTH btf show task_struct --btf $BTF" \
    "pahole -F btf -C task_struct $BTF" \
    "$BPFTOOL btf dump file $BTF format c"; do
    $cmd 2>/dev/null | grep '^struct task_struct {' >/dev/null ||
        { echo "bench-btf: no struct task_struct from: $cmd" >&2; exit 1; }
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "versions: $("$BPFTOOL" version | head -1); pahole $(pahole --version)"

hyperfine --warmup 5 --min-runs "$RUNS" --export-markdown "$OUT" \
    -n 'mapsleuth btf show task_struct' "$MAPSLEUTH btf show task_struct --btf $BTF" \
    -n 'bpftool btf dump format c' "$BPFTOOL btf dump file $BTF format c > /dev/null" \
    -n 'pahole -C task_struct' "pahole -F btf -C task_struct $BTF"

echo
cat "$OUT"
