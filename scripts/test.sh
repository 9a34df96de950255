#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine (as root: the interop tests run
# real daemons in network namespaces). Installs the third-party peers first.
#
#   sudo bash scripts/test.sh              # everything
#   sudo bash scripts/test.sh interop      # extra args go to `cargo test` (filters etc.)
#   bash scripts/test.sh --preflight       # only say which peers are missing
#   CI=false bash scripts/test.sh config   # let tests whose peer is missing skip
#
# Debug build on purpose: one compilation for library, binaries and tests, and nothing in
# the suite is speed-sensitive. Exits non-zero on any failure, and before building if a
# program the suite talks to is missing.
set -euo pipefail
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/.."

[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

# A test whose peer (or root) is missing fails instead of printing SKIP: this is the suite
# the README promises, so it cannot pass by skipping (tests/common/peers.rs reads CI).
export CI="${CI:-true}"

preflight_only=0
if [ "${1:-}" = "--preflight" ]; then
    preflight_only=1
    shift
fi

if [ "$preflight_only" -eq 0 ]; then
    if [ "$EUID" -eq 0 ]; then
        bash scripts/install-test-deps.sh
    else
        echo "test.sh: not root, so the peers cannot be installed; checking what is there" >&2
    fi
fi

# Every third-party program the tests talk to, where the tests look for it
# (tests/common/peers.rs and the tests that run tools by name), and root for the
# network namespaces. Said all at once, by name, before cargo builds anything.
missing=()
need_file() { # NAME PATH
    [ -x "$2" ] || missing+=("$1 ($2)")
}
need_cmd() { # NAME: looked up on PATH, as the tests run it
    command -v "$1" >/dev/null 2>&1 || missing+=("$1 (not on PATH)")
}
[ "$EUID" -eq 0 ] || missing+=("root (network namespace tests)")
need_file chronyd .peers/chrony/usr/sbin/chronyd
need_file "NTPsec ntpd" .peers/ntpsec/usr/sbin/ntpd
need_file "NTPsec ntpq" .peers/ntpsec/usr/bin/ntpq
need_file "NTPsec ntpdig" /usr/bin/ntpdig
/usr/bin/python3 -c 'import ntplib' 2>/dev/null ||
    missing+=("python3-ntplib (/usr/bin/python3 cannot import ntplib)")
need_file check_ntp_peer /usr/lib/nagios/plugins/check_ntp_peer
need_file check_ntp_time /usr/lib/nagios/plugins/check_ntp_time
need_file promtool /usr/bin/promtool
need_file prometheus /usr/bin/prometheus
need_file collectd /usr/sbin/collectd
need_file gpsd /usr/sbin/gpsd
need_file tcpdump /usr/bin/tcpdump
for tool in ip setpriv systemd-analyze groff man; do
    need_cmd "$tool"
done
getent passwd ntp >/dev/null || missing+=("user ntp (tests/host_install.rs drops to it)")

if [ "${#missing[@]}" -gt 0 ]; then
    echo "test.sh: missing what the suite needs:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    if [ -n "$CI" ] && [ "$CI" != "false" ]; then
        if [ "$EUID" -eq 0 ]; then
            echo "test.sh: scripts/install-test-deps.sh did not provide them (CI=false lets those tests skip)" >&2
        else
            echo "test.sh: run as root so scripts/install-test-deps.sh installs them (or CI=false to let those tests skip)" >&2
        fi
        exit 1
    fi
    echo "test.sh: CI=false: the tests that need them will SKIP" >&2
elif [ "$preflight_only" -eq 1 ]; then
    echo "test.sh: every peer is there" >&2
fi
if [ "$preflight_only" -eq 1 ]; then
    exit "$((${#missing[@]} > 0))"
fi

# Two cores: one test binary at a time, and the namespace tests serialise themselves.
# --no-fail-fast: report every failing test binary, still exiting non-zero.
cargo test --no-fail-fast "$@"
