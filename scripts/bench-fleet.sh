#!/usr/bin/env bash
# Benchmark of issue 14 (fleet datasets): export of many captures into one hive dataset
# against the export of one capture (per row), its peak RSS, and the dataset query
# `SELECT host, count(*) FROM entries WHERE map='flows' AND host=... GROUP BY host` with
# -v (the part files read), timed against DuckDB on the same dataset in the same run;
# then one big capture exported in chunks (--chunk-rows, default 1M) and whole.
# Not a test: it prints figures to copy into docs/benchmarks.md.
#
#   MAPSLEUTH=/tmp/mapsleuth-fleet scripts/bench-fleet.sh
#
# Environment: CAPTURES=20 ENTRIES=1000000 (captures of map `flows`, made-up entries,
# hosts h0..; made by crates/testkit/examples/fleet_captures.rs under $DATA, reused),
# DATA=/tmp/fleet-bench, RUNS=5 (query runs), MAPSLEUTH= (the release binary to measure),
# PYTHON= (a python with duckdb: default the interop venv of scripts/test.sh),
# BIG=10000000 (entries of the one big capture; BIG=0 leaves that part out).
# Disk: at 100 x 1M the captures are 4.5 GB (kept for the next run) and the dataset
# 5.4 GB (removed at exit, with the one-capture dataset); KEEP=1 keeps the datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

CAPTURES=${CAPTURES:-20}
ENTRIES=${ENTRIES:-1000000}
DATA=${DATA:-/tmp/fleet-bench}
RUNS=${RUNS:-5}
PYTHON=${PYTHON:-$PWD/target/interop-venv/bin/python}
M=${MAPSLEUTH:?give MAPSLEUTH=/path/to/release/mapsleuth}
CAPS="$DATA/captures-$CAPTURES-$ENTRIES"
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }

if [ "$(ls "$CAPS" 2>/dev/null | wc -l)" != "$CAPTURES" ]; then
    rm -rf "$CAPS"
    cargo run -q --release -p mapsleuth-testkit --example fleet_captures -- "$CAPS" "$CAPTURES" "$ENTRIES"
fi
echo "input: $CAPTURES captures of map flows x $ENTRIES entries ($(du -sh "$CAPS" | cut -f1)), $(nproc) CPUs"

# One capture alone, then all of them, into fresh datasets.
one="$DATA/ds-one" all="$DATA/ds-all"
rm -rf "$one" "$all"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$one" "$all"' EXIT
rss "export 1 capture, peak RSS" "$M" export "$CAPS/h0.mscap" -o "$one" --partition-by map,host
# The single capture's time is a mean of RUNS fresh exports: a lone first run was twice
# as slow as the rest (cold files), which flattered the ratio below.
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$DATA/one.json" --prepare "rm -rf $one" \
    "$M export $CAPS/h0.mscap -o $one --partition-by map,host" >/dev/null
t1=$(date +%s.%N)
rss "export $CAPTURES captures, peak RSS" "$M" export "$CAPS/*.mscap" -o "$all" --partition-by map,host
t2=$(date +%s.%N)
rows_one=$ENTRIES rows_all=$((CAPTURES * ENTRIES))
python3 - "$DATA/one.json" "$t1" "$t2" "$rows_one" "$rows_all" <<'PY'
import json, sys
one = json.load(open(sys.argv[1]))["results"][0]["mean"]
t1, t2, r1, ra = map(float, sys.argv[2:])
allt = t2 - t1
print(f"export 1 capture: {one:.2f} s (mean), {one / r1 * 1e9:.0f} ns/row")
print(f"export all: {allt:.2f} s, {allt / ra * 1e9:.0f} ns/row, ratio per row {allt / ra / (one / r1):.2f}x")
PY
echo "dataset: $(du -sh "$all" | cut -f1), $(find "$all" -name '*.parquet' | wc -l) part files"

# The queries: the issue's (every host of one map: all its parts) and one host's (one
# part: -v shows the pruning), each against DuckDB on the same dataset in the same run.
"$M" query "SELECT count(*) AS rows FROM entries" --dataset "$all"
host=h$((CAPTURES / 2))
Q_MAP="SELECT host, count(*) FROM entries WHERE map='flows' GROUP BY host"
Q_HOST="SELECT host, count(*) FROM entries WHERE map='flows' AND host='$host' GROUP BY host"
"$M" query "$Q_MAP" --dataset "$all" -v 2>&1 | grep -v '^mapsleuth:   ' | tail -4
"$M" query "$Q_HOST" --dataset "$all" -v
cat >"$DATA/duck.py" <<'PY'
import duckdb, sys
d, host = sys.argv[1], sys.argv[2]
where = "map = 'flows'" + (f" AND host = '{host}'" if host else "")
rows = duckdb.sql(f"""SELECT host, count(*) FROM read_parquet('{d}/entries/**/*.parquet',
    hive_partitioning = true, union_by_name = true) WHERE {where} GROUP BY host""").fetchall()
print(len(rows), "hosts,", sum(n for _, n in rows), "rows")
PY
"$PYTHON" "$DATA/duck.py" "$all" ""
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$DATA/q.json" \
    -n mapsleuth-map "$M query \"$Q_MAP\" --dataset $all" \
    -n duckdb-map "$PYTHON $DATA/duck.py $all ''" \
    -n mapsleuth-host "$M query \"$Q_HOST\" --dataset $all" \
    -n duckdb-host "$PYTHON $DATA/duck.py $all $host" >/dev/null
python3 - "$DATA/q.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for q in ("map", "host"):
    m, d = r[f"mapsleuth-{q}"], r[f"duckdb-{q}"]
    print(f"query (WHERE map{'' if q == 'map' else ' and host'}): mapsleuth {m['mean']:.3f} s "
          f"(min {m['min']:.3f}), duckdb (python, start included) {d['mean']:.3f} s "
          f"(min {d['min']:.3f}), mapsleuth/duckdb {m['mean'] / d['mean']:.2f}")
PY

# One big capture: exported in chunks of --chunk-rows (the default, 1M) and as one
# chunk, for the peak RSS of each.
BIG=${BIG:-10000000}
[ "$BIG" -gt 0 ] || exit 0
BIGCAP="$DATA/captures-1-$BIG"
if [ ! -f "$BIGCAP/h0.mscap" ]; then
    rm -rf "$BIGCAP"
    cargo run -q --release -p mapsleuth-testkit --example fleet_captures -- "$BIGCAP" 1 "$BIG"
fi
echo "big capture: $BIG entries ($(du -sh "$BIGCAP/h0.mscap" | cut -f1))"
big="$DATA/ds-big"
for chunk in 1000000 "$BIG"; do
    rm -rf "$big"
    t0=$(date +%s.%N)
    rss "export 1 capture of $BIG entries, --chunk-rows $chunk, peak RSS" \
        "$M" export "$BIGCAP/h0.mscap" -o "$big" --partition-by map,host --chunk-rows "$chunk"
    t1=$(date +%s.%N)
    echo "  $(python3 -c "print(f'{$t1 - $t0:.2f} s')"), $(find "$big" -name '*.parquet' -path '*entries*' | wc -l) entries parts"
done
rm -rf "$big"
