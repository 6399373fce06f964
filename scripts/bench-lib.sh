# Shared by the scripts/bench-*.sh benchmarks (sourced, not run).

# rss LABEL CMD...: the peak resident memory of one run of CMD, in MB.
rss() {
    local label=$1 log
    shift
    log=$(mktemp)
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || true
    echo "$label: $(($(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log") / 1024)) MB"
    rm -f "$log"
}
