#!/usr/bin/env bash
# `mapsleuth check` vs pahole on both sides (docs/benchmarks.md, "CI gate"). The program:
# corpus/bpf/maps.bpf.o and legacy.bpf.o (20 maps: 17 BTF-defined, 3 legacy) and a Go
# binary: $GO_BIN, else the 20 MB program scripts/bench-layout.sh builds into
# $BENCH_DIR/app when it is there, else the corpus binary (1.3 MB). mapsleuth reads every
# map and cross-checks every pair; pahole is run once per side for one struct, a lower
# bound of what a pahole-based check costs. Needs cargo, hyperfine and pahole.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${BENCH_DIR:-/tmp/mapsleuth-bench-layout}
for tool in cargo hyperfine pahole; do
    command -v "$tool" >/dev/null || { echo "bench-check: $tool is not installed" >&2; exit 2; }
done
go_bin=${GO_BIN:-}
[ -z "$go_bin" ] && [ -x "$work/app" ] && go_bin=$work/app
[ -z "$go_bin" ] && go_bin=$root/corpus/go/bin/app-go1.25.5-linux-amd64
# The pairs of good.toml name the corpus program's mirrors; another binary is paired by
# name (a type the binary lacks would be an error).
config_args=()
[ "$go_bin" = "$root/corpus/go/bin/app-go1.25.5-linux-amd64" ] &&
    config_args=(--config "$root/crates/cli/tests/ci/good.toml")
runs=()
[ -n "${RUNS:-}" ] && runs=(-r "$RUNS")

cargo build --release -p mapsleuth
ms=${MAPSLEUTH:-$root/target/release/mapsleuth}
echo "Go binary: $go_bin ($(stat -c %s "$go_bin") bytes)"
go_struct=$("$ms" go types --go-bin "$go_bin" --format json \
    | grep -o '"name": *"[^"]*\.Event"' | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
hyperfine -N -w 3 "${runs[@]}" \
    -i "$ms check --go-bin $go_bin --btf corpus/bpf/maps.bpf.o --btf corpus/bpf/legacy.bpf.o ${config_args[*]}" \
    "pahole -C $go_struct $go_bin" \
    "pahole -C event corpus/bpf/maps.bpf.o" || true
