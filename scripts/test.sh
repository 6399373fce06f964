#!/usr/bin/env bash
# The whole test suite. Tests read only committed files under corpus/; the live-capture
# tests create real maps with bpf(2) when run as root and print a SKIP line otherwise.
#
# The export tests read our Parquet files back with two readers that share no code with
# polars, pyarrow and DuckDB (crates/frames/tests/interop.py): they are installed here,
# pinned, into a virtual environment under target/, and required (a missing reader fails
# the run instead of skipping). MAPSLEUTH_NO_INTEROP=1 skips the install and lets those
# checks print SKIP.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${MAPSLEUTH_NO_INTEROP:-}" ]; then
    venv=target/interop-venv
    if ! "$venv/bin/python" -c 'import pyarrow, duckdb' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            -r crates/frames/tests/interop-requirements.txt
    fi
    export MAPSLEUTH_PYTHON="$PWD/$venv/bin/python"
    export MAPSLEUTH_REQUIRE_INTEROP=1
fi
cargo test --workspace --locked "$@"
