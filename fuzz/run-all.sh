#!/bin/sh
# Runs the given fuzz targets one after another (one core), SECONDS each (default 600),
# with the committed corpus as seeds and a scratch corpus in $WORK (default
# /tmp/ntp6-fuzz). Logs go to $WORK/NAME.log; the last lines hold libFuzzer's final stats.
# Usage: fuzz/run-all.sh [-t SECONDS] TARGET...   (build first: cargo +nightly fuzz build -O)
set -eu
cd "$(dirname "$0")"
secs=600
if [ "${1:-}" = "-t" ]; then secs=$2; shift 2; fi
work=${WORK:-/tmp/ntp6-fuzz}
bin=target/x86_64-unknown-linux-gnu/release
for t in "$@"; do
    mkdir -p "$work/$t"
    nice "$bin/$t" "$work/$t" "corpus/$t" -max_total_time="$secs" -timeout=5 \
        -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/$t-" \
        > "$work/$t.log" 2>&1 || echo "$t: exit $?" >> "$work/failures"
done
