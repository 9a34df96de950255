#!/usr/bin/env bash
# User-space instructions per answer of our ntpd's server path, counted by callgrind: unlike
# CPU time on a shared machine, the count does not depend on what else runs. See
# docs/benchmark.md ("Instructions per answer").
#
#   sudo bash scripts/bench-instructions.sh            # target/release/ntpd
#   sudo NTPD=/path/to/ntpd bash scripts/bench-instructions.sh
#
# The daemon runs under valgrind in a fresh network namespace (loopback only) under
# `setpriv --bounding-set -sys_time`, serving LOCAL(0), twice per configuration: once for
# SMALL windows of 32 requests, once for LARGE; the difference in instructions divided by
# the difference in answers is the cost of one answer (start-up and timers cancel out).
# It includes everything the process executes per answer in user space: the event loop,
# recvmmsg/sendmmsg wrappers, the engine. Needs root, valgrind and python3; about a minute.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SMALL=50
LARGE=250
PER_WINDOW=32

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-instructions.sh: needs root (network namespace, port 123)" >&2
    exit 1
fi
for tool in valgrind callgrind_annotate python3 unshare setpriv ip; do
    command -v "$tool" >/dev/null || { echo "bench-instructions.sh: $tool not found" >&2; exit 1; }
done
NTPD="${NTPD:-target/release/ntpd}"
if [ -z "${NTP_BENCH_IN_NETNS:-}" ]; then
    [ -x "$NTPD" ] || cargo build --release --bin ntpd
    exec unshare -n env NTP_BENCH_IN_NETNS=1 NTPD="$NTPD" bash "$0" "$@"
fi
ip link set lo up
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The client: windows of 32 requests from 32 loopback addresses, each window answered
# before the next leaves (valgrind makes the daemon slow; nothing is dropped).
cat >"$work/client.py" <<'EOF'
import socket, struct, sys, time
windows, per = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(per):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.1.%d" % (i + 1), 0))
    s.settimeout(5.0)
    socks.append(s)
request = bytearray(48)
request[0] = 0x23  # version 4, mode 3
deadline = time.time() + 120  # valgrind start-up
while True:
    socks[0].sendto(request, ("127.0.0.1", 123))
    try:
        socks[0].recv(100)
        break
    except (socket.timeout, ConnectionRefusedError):
        if time.time() > deadline:
            sys.exit("no answer from the daemon")
answered, seq = 0, 0
for _ in range(windows):
    for s in socks:
        seq += 1
        struct.pack_into(">Q", request, 40, seq)
        s.sendto(request, ("127.0.0.1", 123))
    for s in socks:
        try:
            s.recv(100)
            answered += 1
        except socket.timeout:
            pass
print(answered)
EOF

# Instructions of one daemon run answering WINDOWS windows with config line(s) LINES;
# prints "instructions answers".
run() {
    local windows=$1 monitor=$2 out="$work/callgrind.out.$1"
    printf 'server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n%sdriftfile %s/drift\n' \
        "$monitor" "$work" >"$work/ntp.conf"
    setpriv --bounding-set -sys_time valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$NTPD" -n -c "$work/ntp.conf" >"$work/daemon.log" 2>&1 &
    local pid=$!
    local answered
    answered=$(python3 "$work/client.py" "$windows" "$PER_WINDOW") || { kill "$pid"; exit 1; }
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    if [ -z "$total" ]; then
        echo "bench-instructions.sh: no callgrind totals in $out" >&2
        exit 1
    fi
    echo "$total $answered"
}

echo "| configuration | instructions per answer |"
echo "|---|---:|"
for monitor in "disable monitor" "monitor on (default)"; do
    line=""
    [ "$monitor" = "disable monitor" ] && line="disable monitor"$'\n'
    read -r small_ir small_n < <(run "$SMALL" "$line")
    read -r large_ir large_n < <(run "$LARGE" "$line")
    per=$(( (large_ir - small_ir) / (large_n - small_n) ))
    echo "| $monitor | $per |"
done
