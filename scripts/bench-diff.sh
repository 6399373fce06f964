#!/usr/bin/env bash
# Benchmark of `mapsleuth diff` on two 1M-entry bpftool dumps with 1% of the entries
# changed (docs/benchmarks.md, "Diff"), against `diff` of the two sorted bpftool text
# dumps in the same hyperfine run. Not a test: it prints figures to copy into the doc.
#
#   scripts/bench-diff.sh            (root and bpftool only to make the dumps once)
#
# The "before" dumps come from corpus/gen-big-dump.sh (a real 1M-entry hash map: 4-byte
# keys, 32-byte struct flow_stats values) and are reused when present. The "after" dumps
# are the same files with the first value byte (`packets`, low byte) of every 100th
# entry rewritten in place, bpftool's layout untouched. Environment: JSON=/tmp/big.json
# TXT=/tmp/big.txt RUNS=5.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

JSON=${JSON:-/tmp/big.json}
TXT=${TXT:-/tmp/big.txt}
RUNS=${RUNS:-5}
OBJ=corpus/bpf/maps.bpf.o
M=target/release/mapsleuth
AFTER_JSON=${JSON%.json}.after.json
AFTER_TXT=${TXT%.txt}.after.txt
SORTED_OLD=${TXT%.txt}.sorted.txt
SORTED_NEW=${TXT%.txt}.after.sorted.txt
REVERSED_JSON=${JSON%.json}.after.reversed.json

if [ ! -s "$JSON" ] || [ ! -s "$TXT" ]; then
    corpus/gen-big-dump.sh "$JSON" "$TXT"
fi
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }
cargo build --release --locked -p mapsleuth >&2

# Every 100th entry's first value byte + 1 (mod 256): 1% of the entries change, one
# field (`packets`) each. `-j` prints `"value":["0x..",...`; plain text prints `value:`
# then the bytes on the next line.
if [ ! -s "$AFTER_JSON" ] || [ "$AFTER_JSON" -ot "$JSON" ]; then
python3 - "$JSON" "$AFTER_JSON" "$TXT" "$AFTER_TXT" <<'EOF'
import re, sys
for src, dst, pat in ((sys.argv[1], sys.argv[2], rb'("value":\["0x)([0-9a-f]{2})'),
                      (sys.argv[3], sys.argv[4], rb'(value:\n)([0-9a-f]{2})')):
    n = [0]
    def sub(m):
        n[0] += 1
        if n[0] % 100:
            return m.group(0)
        return m.group(1) + b"%02x" % ((int(m.group(2), 16) + 1) % 256)
    out = re.sub(pat, sub, open(src, "rb").read())
    open(dst, "wb").write(out)
    print(f"{dst}: {n[0] // 100} of {n[0]} entries changed", file=sys.stderr)
EOF
fi
# The worst case for matching: NEW lists the keys in the opposite order, so every key
# goes through the hash index (bpftool -j's compact layout kept).
if [ ! -s "$REVERSED_JSON" ] || [ "$REVERSED_JSON" -ot "$AFTER_JSON" ]; then
    python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))
e.reverse()
open(sys.argv[2], "w").write(json.dumps(e, separators=(",", ":")))' "$AFTER_JSON" "$REVERSED_JSON"
fi
if [ ! -s "$SORTED_NEW" ] || [ "$SORTED_NEW" -ot "$AFTER_TXT" ]; then
    LC_ALL=C sort "$TXT" >"$SORTED_OLD"
    LC_ALL=C sort "$AFTER_TXT" >"$SORTED_NEW"
fi

echo "## machine"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores online); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GB; kernel $(uname -r)"
echo "inputs: $(stat -c '%n %s bytes' "$JSON" "$AFTER_JSON" "$TXT" "$AFTER_TXT" | paste -sd, -)"
echo "$($M --version); $(hyperfine --version); $(diff --version | head -1)"
echo

echo "## what the diff finds"
$M diff "$JSON" "$AFTER_JSON" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"])'
echo "diff of the sorted text dumps: $(diff "$SORTED_OLD" "$SORTED_NEW" | grep -c '^[<>]') lines differ"
echo

# `diff` exits 1 when the files differ: -i. Output goes to /dev/null (hyperfine's
# default), so both sides pay for producing it, not for a terminal.
echo "## time (hyperfine, one run, $RUNS runs each)"
table=$(mktemp)
hyperfine --warmup 1 --runs "$RUNS" -i --export-markdown "$table" --style basic \
    -n "diff big.sorted.txt big.after.sorted.txt" \
    "diff $SORTED_OLD $SORTED_NEW" \
    -n "sort + diff of big.txt big.after.txt" \
    "bash -c 'diff <(LC_ALL=C sort $TXT) <(LC_ALL=C sort $AFTER_TXT)'" \
    -n "mapsleuth diff big.json big.after.json" \
    "$M diff $JSON $AFTER_JSON" \
    -n "mapsleuth diff big.txt big.after.txt" \
    "$M diff $TXT $AFTER_TXT" \
    -n "mapsleuth diff big.json big.after.json (typed)" \
    "$M diff $JSON $AFTER_JSON --btf $OBJ --key-type __u32 --value-type flow_stats" \
    -n "mapsleuth diff big.json big.after.reversed.json (typed)" \
    "$M diff $JSON $REVERSED_JSON --btf $OBJ --key-type __u32 --value-type flow_stats" \
    -n "mapsleuth diff big.json big.after.json (typed, --format json)" \
    "$M diff $JSON $AFTER_JSON --btf $OBJ --key-type __u32 --value-type flow_stats --format json" >&2
cat "$table"
rm -f "$table"
echo

echo "## peak memory (/usr/bin/time -v)"
rss "mapsleuth diff big.json big.after.json (typed)" $M diff "$JSON" "$AFTER_JSON" --btf $OBJ --key-type __u32 --value-type flow_stats
rss "mapsleuth diff big.txt big.after.txt" $M diff "$TXT" "$AFTER_TXT"
rss "diff big.sorted.txt big.after.sorted.txt" diff "$SORTED_OLD" "$SORTED_NEW"
