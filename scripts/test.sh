#!/usr/bin/env bash
# The whole test suite. Tests read only committed files under corpus/; the live-capture
# tests create real maps with bpf(2) when run as root and print a SKIP line otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
