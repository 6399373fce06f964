#!/usr/bin/env bash
# Benchmark of issue 13: speed on the dumps users have, a BTF-typed hash map whose `-j`
# dump carries bpftool's `formatted` on every entry. Every row of the issue against the
# anchor (`python3 json.load` of the same file) in one run. Not a test: it prints figures
# to copy into docs/benchmarks.md.
#
#   scripts/bench-dump-btf.sh        (root and bpftool only to make the dumps once)
#
# Inputs, made when missing and then reused (too big to commit):
# - default, BTF map: corpus/gen-big-btf-dump.sh /tmp/procs.json /tmp/procs.txt
#   /tmp/procs.after.json (1M entries of corpus/bench/procs.bpf.o's map `procs`: __u32 ->
#   32-byte struct proc_info with char comm[16]; the after dump has 1% of values changed);
# - second row, map without BTF (no `formatted`): corpus/gen-big-dump.sh /tmp/big.json
#   (4-byte keys, 32-byte struct flow_stats values, typed by --key-type/--value-type);
# - TEN_M=1: also N=10000000 corpus/gen-big-btf-dump.sh /tmp/procs-10m.json (~3.9 GB,
#   map `procs_big`), timed with RUNS_10M runs.
# Environment: RUNS=5 PY_RUNS=2 RUNS_10M=2 TEN_M= PROFILE= (1: perf profile of the
# first row) MAPSLEUTH= (a binary to measure; default: build the release one here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

BTF_JSON=${BTF_JSON:-/tmp/procs.json}
BTF_TXT=${BTF_JSON%.json}.txt
BTF_AFTER=${BTF_JSON%.json}.after.json
PLAIN_JSON=${PLAIN_JSON:-/tmp/big.json}
BIG_JSON=${BIG_JSON:-/tmp/procs-10m.json}
RUNS=${RUNS:-5}
PY_RUNS=${PY_RUNS:-2}
RUNS_10M=${RUNS_10M:-2}
OBJ=corpus/bench/procs.bpf.o
T="--btf $OBJ --map procs"
T_PLAIN="--btf corpus/bpf/maps.bpf.o --key-type __u32 --value-type flow_stats"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[ -z "${PROFILE:-}" ] || command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }
if [ ! -s "$BTF_JSON" ] || [ ! -s "$BTF_TXT" ] || [ ! -s "$BTF_AFTER" ]; then
    corpus/gen-big-btf-dump.sh "$BTF_JSON" "$BTF_TXT" "$BTF_AFTER"
fi
[ -s "$PLAIN_JSON" ] || corpus/gen-big-dump.sh "$PLAIN_JSON" "${PLAIN_JSON%.json}.txt"
if [ -n "${TEN_M:-}" ] && [ ! -s "$BIG_JSON" ]; then
    N=10000000 corpus/gen-big-btf-dump.sh "$BIG_JSON" -
fi
if [ -z "${MAPSLEUTH:-}" ]; then
    cargo build --release --locked -p mapsleuth >&2
    MAPSLEUTH=${CARGO_TARGET_DIR:-target}/release/mapsleuth
fi
# A copy: another build in a shared target directory cannot swap it during the run.
M=$WORK/mapsleuth
cp "$MAPSLEUTH" "$M"

# The rows: name (says the input), then the command.
NAMES=() CMDS=()
row() { NAMES+=("$1"); CMDS+=("$2"); }
b=$(basename "$BTF_JSON") p=$(basename "$PLAIN_JSON")
row "analyze dump $b (BTF, 1M)" "$M analyze dump $BTF_JSON $T"
row "analyze dump $b --format json (BTF, 1M)" "$M analyze dump $BTF_JSON $T --format json"
row "export $b -o x.parquet (BTF, 1M)" "$M export $BTF_JSON $T -o $WORK/x.parquet"
row "diff $b $(basename "$BTF_AFTER") (BTF, 1M, 1% changed)" "$M diff $BTF_JSON $BTF_AFTER $T"
row "analyze dump $(basename "$BTF_TXT") (BTF text dump, 1M)" "$M analyze dump $BTF_TXT $T"
row "analyze dump $p (no BTF, 1M)" "$M analyze dump $PLAIN_JSON $T_PLAIN"
ANCHORS=("python3 json.load($b) (BTF, 1M)" "python3 json.load($p) (no BTF, 1M)")
ANCHOR_CMDS=("python3 -c 'import json; json.load(open(\"$BTF_JSON\"))'"
             "python3 -c 'import json; json.load(open(\"$PLAIN_JSON\"))'")

echo "## machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores online); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GB; kernel $(uname -r); $(bpftool version | head -1)"
echo "$($M --version) ($(git rev-parse --short HEAD)); $(hyperfine --version); $(python3 --version)"
for f in "$BTF_JSON" "$BTF_AFTER" "$BTF_TXT" "$PLAIN_JSON"; do
    echo "input: $(stat -c '%n %s bytes' "$f")"
done
echo

# One run of each: exit status (1 = findings, 2 = error, which stops the benchmark)
# and the output's size, so a row that fails fast is not timed as fast.
echo "## what each row does (one run)"
for i in "${!CMDS[@]}"; do
    status=0
    bash -c "${CMDS[$i]}" >"$WORK/out" 2>"$WORK/err" || status=$?
    echo "${NAMES[$i]}: exit $status, $(stat -c %s "$WORK/out") bytes out; $(head -c 300 "$WORK/err" | tr '\n' ' ')"
    [ "$status" -lt 2 ] || { cat "$WORK/err" >&2; exit 1; }
done
echo

hf() { # EXPORT RUNS (NAME CMD)...
    local out=$1 runs=$2 args=()
    shift 2
    while [ $# -gt 0 ]; do args+=(-n "$1" "$2"); shift 2; done
    hyperfine --runs "$runs" -i --style basic --export-json "$out" "${args[@]}" >&2
}
pairs=()
for i in "${!CMDS[@]}"; do pairs+=("${NAMES[$i]}" "${CMDS[$i]}"); done
echo "## time (hyperfine: $RUNS runs each; the Python anchors $PY_RUNS)"
hf "$WORK/rows.json" "$RUNS" "${pairs[@]}"
hf "$WORK/anchors.json" "$PY_RUNS" "${ANCHORS[0]}" "${ANCHOR_CMDS[0]}" "${ANCHORS[1]}" "${ANCHOR_CMDS[1]}"
if [ -n "${TEN_M:-}" ]; then
    hf "$WORK/tenm.json" "$RUNS_10M" "analyze dump $(basename "$BIG_JSON") (BTF, 10M)" \
        "$M analyze dump $BIG_JSON --btf $OBJ --map procs_big"
fi

echo "## peak memory (/usr/bin/time -v)"
for i in "${!CMDS[@]}"; do rss "${NAMES[$i]}" bash -c "${CMDS[$i]}"; done | tee "$WORK/rss.txt"
rss "${ANCHORS[0]}" bash -c "${ANCHOR_CMDS[0]}" | tee -a "$WORK/rss.txt"
if [ -n "${TEN_M:-}" ]; then
    rss "analyze dump $(basename "$BIG_JSON") (BTF, 10M)" $M analyze dump "$BIG_JSON" --btf $OBJ --map procs_big |
        tee -a "$WORK/rss.txt"
fi
echo

# Ratio: a 1M row's mean over the anchor of its input (procs.json's for the BTF rows);
# the 10M row's over the 1M `analyze dump` row (issue 13: at most 10x).
echo "## summary"
python3 - "$WORK" <<'EOF'
import json, os, sys
w = sys.argv[1]
runs = []
for f in ("rows.json", "anchors.json", "tenm.json"):
    if os.path.exists(os.path.join(w, f)):
        runs += json.load(open(os.path.join(w, f)))["results"]
rss = dict(l.rsplit(": ", 1) for l in open(os.path.join(w, "rss.txt")).read().splitlines())
anchor = {"no BTF" in r["command"]: r["mean"] for r in runs if r["command"].startswith("python3")}
one_m = runs[0]["mean"]
print("| command (input) | mean ± σ | min … max | ratio | peak RSS |")
print("| --- | --- | --- | --- | --- |")
for r in runs:
    name = r["command"]
    if name.startswith("python3"):
        ratio = "1 (anchor)"
    elif "10M" in name:
        ratio = f"{r['mean'] / one_m:.1f}x the 1M `analyze dump`"
    else:
        ratio = f"{r['mean'] / anchor['no BTF' in name]:.3f}x python3 json.load"
    print(f"| `{name}` | {r['mean']:.3f} s ± {r['stddev'] or 0:.3f} | {r['min']:.3f} … {r['max']:.3f} s "
          f"| {ratio} | {rss.get(name, '—')} |")
EOF

if [ -n "${PROFILE:-}" ]; then
    # After the runs above the file is in the page cache, as in the timed runs.
    echo
    echo "## profile: ${NAMES[0]} (perf, DWARF call graphs)"
    perf record -F 999 --call-graph dwarf,16384 -o "$WORK/perf.data" -- \
        bash -c "${CMDS[0]} >/dev/null" 2>/dev/null
    report() { perf report -i "$WORK/perf.data" --stdio -g none "$@" 2>/dev/null |
        grep -v '^#' | grep -v '^$' | cut -c1-160 | sed 's/ *$//'; }
    echo "### self time"
    report --no-children --sort symbol --percent-limit 0.8 | head -40 || true
    echo "### with callees (frames of this workspace and the big library ones)"
    report --children --sort symbol --percent-limit 1.5 |
        grep -E 'mapsleuth|compare_formatted|serde_json|indexmap|hash|malloc|free|memcmp' |
        grep -vE '\{closure|fold<|for_each<|extend<|try_fold<|from_iter<|drop' | head -40 || true
    echo "### by object"
    report --no-children --sort dso | head -5 || true
fi
