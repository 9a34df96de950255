#!/usr/bin/env bash
# Installs the third-party NTP peers the interop tests talk to.
#
# Idempotent and quick when everything is present. Runs as root.
# SAFETY: no package install may start a time daemon (it would discipline the real clock),
# so a policy-rc.d that forbids service starts is in place for the whole install, and
# afterwards we check that no ntpd/chronyd process appeared.
#
# The two time daemons, chrony and NTPsec, are never installed as packages: each conflicts
# with whatever time daemon the machine has (systemd-timesyncd on Debian 12 images), and an
# installed daemon could start and steer the real clock. Their .debs are unpacked into
# <repo>/.peers/{chrony,ntpsec} (gitignored) and the tests run the binaries from there;
# their libraries and NTPsec's Python module (python3-ntp, pulled in by ntpsec-ntpdig) are
# ordinary packages.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$repo/.peers"
chronyd="$peers/chrony/usr/sbin/chronyd"
ntpsecd="$peers/ntpsec/usr/sbin/ntpd"

log() { echo "install-test-deps: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (apt-get, ip netns)"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Debian package -> a file proving it is installed.
declare -A want=(
    [ntpsec-ntpdig]=/usr/bin/ntpdig
    [python3-ntplib]=/usr/lib/python3/dist-packages/ntplib.py
    [monitoring-plugins-basic]=/usr/lib/nagios/plugins/check_ntp_peer
    [iproute2]=/usr/sbin/ip
    [util-linux]=/usr/bin/setpriv
    [tcpdump]=/usr/bin/tcpdump
    # Host integration tests (tests/host_*.rs): `systemd-analyze verify` on our units,
    # `groff -ww -man` / `man -l` on our man pages.
    [systemd]=/usr/bin/systemd-analyze
    [groff-base]=/usr/bin/groff
    [man-db]=/usr/bin/man
    # tests/metrics_netns.rs: a real Prometheus scrapes `ntpd --metrics`, and promtool lints
    # the page. Its package enables a prometheus.service; the policy-rc.d below keeps it
    # from starting, and a server it started anyway is stopped afterwards.
    [prometheus]=/usr/bin/promtool
    # tests/mode7_netns.rs: collectd's real ntpd plugin speaks mode 7 to our daemon.
    # collectd-core ships no enabled service of its own; the tests run it in a namespace.
    [collectd-core]=/usr/sbin/collectd
    # tests/refclock_*: gpsd feeds the SHM reference clock from a pty of NMEA sentences.
    # Its service and socket units stay stopped (policy-rc.d below).
    [gpsd]=/usr/sbin/gpsd
)
# chrony's and NTPsec's shared-library dependencies (none of them a time daemon).
chrony_libs=(libcap2 libedit2 libgnutls30 libnettle8 libseccomp2 libbsd0 libssl3)

missing=()
for pkg in "${!want[@]}"; do
    [ -e "${want[$pkg]}" ] || missing+=("$pkg")
done
for pkg in "${chrony_libs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$pkg")
done

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
}

# Time daemons (and the Prometheus server) in the host's own network namespace: what a
# package's service start would create. (Test daemons live in private namespaces and are none of our business.)
ntp_daemon_pids() {
    local me pid
    me="$(readlink /proc/self/ns/net)"
    for pid in $(pgrep -x ntpd; pgrep -x chronyd; pgrep -x prometheus; pgrep -x gpsd; pgrep -x collectd); do
        [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$me" ] && echo "$pid"
    done
    true
}

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    before="$(ntp_daemon_pids | sort)"

    # Forbid service starts during the install (restore whatever was there before).
    policy=/usr/sbin/policy-rc.d
    backup=""
    if [ -e "$policy" ]; then
        backup="$(mktemp /tmp/policy-rc.d.XXXXXX)"
        cp -p "$policy" "$backup"
    fi
    restore_policy() {
        if [ -n "$backup" ]; then
            cp -p "$backup" "$policy"
            rm -f "$backup"
        else
            rm -f "$policy"
        fi
    }
    trap restore_policy EXIT
    printf '#!/bin/sh\n# installed by install-test-deps.sh: never start services\nexit 101\n' >"$policy"
    chmod 755 "$policy"

    # Refuse anything that would remove packages (e.g. a time daemon).
    apt_update_once
    sim="$(apt-get -s -y install --no-install-recommends "${missing[@]}")"
    if grep -q '^Remv' <<<"$sim"; then
        log "refusing: the install would remove packages:"
        grep '^Remv' <<<"$sim" >&2
        exit 1
    fi
    apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null

    restore_policy
    trap - EXIT

    after="$(ntp_daemon_pids | sort)"
    started="$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)"
    if [ -n "$started" ]; then
        for pid in $started; do
            log "WARNING: the install started a daemon (pid $pid: $(ps -o comm= -p "$pid")); killing it"
            kill "$pid" || true
        done
    fi
fi

# Unpacks Debian package $1 into $peers/$1 unless $2 (a file it ships) is there already.
unpack_peer() {
    local pkg="$1" proof="$2" tmp
    [ -x "$proof" ] && return 0
    log "unpacking $pkg into $peers/$pkg"
    tmp="$(mktemp -d)"
    chmod 777 "$tmp" # apt-get download drops privileges to _apt
    if ! (cd "$tmp" && apt-get download -qq "$pkg"); then
        apt_update_once
        (cd "$tmp" && apt-get download -qq "$pkg")
    fi
    rm -rf "${peers:?}/$pkg"
    mkdir -p "$peers/$pkg"
    dpkg -x "$tmp"/"$pkg"_*.deb "$peers/$pkg"
    rm -rf "$tmp"
}
unpack_peer chrony "$chronyd"
unpack_peer ntpsec "$ntpsecd"
if ldd "$ntpsecd" | grep -q 'not found'; then
    log "NTPsec's ntpd is missing libraries:"
    ldd "$ntpsecd" | grep 'not found' >&2
    exit 1
fi
if ldd "$chronyd" | grep -q 'not found'; then
    log "chronyd is missing libraries:"
    ldd "$chronyd" | grep 'not found' >&2
    exit 1
fi
"$chronyd" -v >/dev/null

# The unprivileged user our ntpd drops to in tests/host_install.rs (`-u ntp:ntp`), as the
# RHEL ntp package creates it. Reused when present.
if ! getent passwd ntp >/dev/null; then
    log "creating system user ntp"
    getent group ntp >/dev/null || groupadd --system ntp
    useradd --system --gid ntp --home-dir /var/lib/ntp --no-create-home \
        --shell /usr/sbin/nologin --comment "NTP daemon" ntp
fi

/usr/bin/python3 -c 'import ntplib' 2>/dev/null || {
    log "/usr/bin/python3 cannot import ntplib"
    exit 1
}
log "ok: ntpsec $("$ntpsecd" --version 2>&1 | head -1 | cut -c1-40), $("$chronyd" -v | head -1)"
