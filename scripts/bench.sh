#!/usr/bin/env bash
# Server benchmark: builds the release binaries and runs benches/serve (see docs/benchmark.md).
# Needs root: the benchmark re-executes itself in a fresh network namespace (unshare -n) and
# runs every server there under `setpriv --bounding-set -sys_time`. Extra arguments go to the
# benchmark, e.g. `bash scripts/bench.sh --only reflector,ours --seconds 10`.
# Results: a markdown table on stdout, also written to target/bench-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: needs root (network namespace, port 123); try: sudo bash scripts/bench.sh" >&2
    exit 1
fi
for tool in unshare setpriv taskset ip nice; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
    echo "bench.sh: needs 2 cores (server and load generator on different cores)" >&2
    exit 1
fi
[ -x .peers/chrony/usr/sbin/chronyd ] || echo "bench.sh: chrony missing (scripts/install-test-deps.sh); its row will be n/a" >&2
[ -x .peers/ntpsec/usr/sbin/ntpd ] || echo "bench.sh: NTPsec missing (scripts/install-test-deps.sh); its row will be n/a" >&2

cargo build --release --bins
cargo bench --bench serve -- "$@"
