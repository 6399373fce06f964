#!/usr/bin/env bash
# The whole test suite, and the rules CI enforces: formatting, clippy with warnings
# denied (the workspace lints: no unsafe outside capture's syscall module; no print,
# unwrap or panic in library crates), documentation with warnings denied, then every
# test. Tests read only committed files under corpus/.
#
# Live capture: as root (CI runs as root), the live tests create real maps with bpf(2)
# and are required (MAPSLEUTH_REQUIRE_LIVE): bpffs is mounted and bpftool installed here
# when missing, and a test that cannot run fails the run instead of printing SKIP.
# MAPSLEUTH_NO_LIVE=1 lets them print SKIP instead (a machine without bpf(2)).
#
# The export tests read our Parquet files back with two readers that share no code with
# polars, pyarrow and DuckDB (crates/frames/tests/interop.py): they are installed here,
# pinned, into a virtual environment under target/, and required (a missing reader fails
# the run instead of skipping). MAPSLEUTH_NO_INTEROP=1 skips the install and lets those
# checks print SKIP. The same venv has PySpark for the fleet dataset test, with Java from
# Debian's packages (installed here as root when missing): required when both are there,
# else that test prints SKIP.
#
# The report's browser test (crates/cli/tests/report_browser.rs) renders a page in headless
# Chromium: as root, Debian's `chromium` is installed when missing (a failed install is
# tolerated), and once a browser is on PATH the test is required (MAPSLEUTH_REQUIRE_BROWSER).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MAPSLEUTH_NO_INTEROP:-}" ]; then
    venv=target/interop-venv
    if ! "$venv/bin/python" -c 'import pyarrow, duckdb, pyspark' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            -r crates/frames/tests/interop-requirements.txt
    fi
    export MAPSLEUTH_PYTHON="$PWD/$venv/bin/python"
    export MAPSLEUTH_REQUIRE_INTEROP=1
    # The fleet test's Spark job needs a JVM (Debian's); required once installed.
    if ! command -v java >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
    fi
    if command -v java >/dev/null && "$venv/bin/python" -c 'import pyspark' 2>/dev/null; then
        export MAPSLEUTH_REQUIRE_SPARK=1
    fi
fi

if [ "$(id -u)" = 0 ] && [ -z "${MAPSLEUTH_NO_LIVE:-}" ]; then
    if ! mountpoint -q /sys/fs/bpf; then
        mount -t bpf bpf /sys/fs/bpf
    fi
    if ! command -v bpftool >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftool >/dev/null
    fi
    export MAPSLEUTH_REQUIRE_LIVE=1
fi

if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        echo "scripts/test.sh: could not install chromium; the browser test will print SKIP" >&2
fi
if [ -n "${MAPSLEUTH_CHROMIUM:-}" ] || command -v chromium >/dev/null ||
    command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    export MAPSLEUTH_REQUIRE_BROWSER=1
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
cargo test --workspace --locked "$@"
