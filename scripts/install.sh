#!/usr/bin/env bash
# Installs ntpd-rs6 the way Red Hat's ntp and ntpdate packages lay out a system:
#
#   DESTDIR=/tmp/stage bash scripts/install.sh [--bindir target/release]
#
# Binaries: /usr/sbin/ntpd, /usr/sbin/ntpdate, /usr/sbin/ntpq (where RHEL6 scripts call
# it), /usr/bin/ntpq (a link, where other distributions look), /usr/sbin/ntpdc (RHEL6's
# path, where LibreNMS and Insights call it), /usr/sbin/ntptime (as
# RHEL6's ntp package) and /usr/sbin/ntp-wait (as RHEL6's ntp-perl puts it). Configuration under /etc
# is only installed when absent; an existing file is left alone and the new one is put
# beside it as FILE.new. Also: init scripts, systemd units (ntpd.service forking,
# ntpd-notify.service reporting to systemd, ntp-wait.service), the ntp-units.d entry for
# timedatectl, the ntpdate wrapper, man pages, and /var/lib/ntp and /var/log/ntpstats
# owned by the ntp user when it exists. Without DESTDIR this installs into /.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bindir="$repo/target/release"
while [ $# -gt 0 ]; do
    case "$1" in
        --bindir) bindir="$2"; shift 2 ;;
        --bindir=*) bindir="${1#--bindir=}"; shift ;;
        *) echo "usage: DESTDIR=DIR $0 [--bindir DIR]" >&2; exit 2 ;;
    esac
done
dest="${DESTDIR:-}"

for prog in ntpd ntpdate ntpq ntpdc ntptime ntp-wait; do
    if [ ! -x "$bindir/$prog" ]; then
        echo "install.sh: $bindir/$prog missing; run 'cargo build --release' first" >&2
        exit 1
    fi
done

# install_file MODE SOURCE TARGET: copy with mode, creating directories.
install_file() {
    install -D -m "$1" "$2" "$dest$3"
}

# install_config MODE SOURCE TARGET: like install_file, but never overwrite a file the
# administrator may have edited.
install_config() {
    if [ -e "$dest$3" ] && ! cmp -s "$2" "$dest$3"; then
        install -D -m "$1" "$2" "$dest$3.new"
        echo "install.sh: kept $dest$3, new version in $dest$3.new"
    else
        install -D -m "$1" "$2" "$dest$3"
    fi
}

install_file 755 "$bindir/ntpd" /usr/sbin/ntpd
install_file 755 "$bindir/ntpdate" /usr/sbin/ntpdate
install_file 755 "$bindir/ntpq" /usr/sbin/ntpq
install_file 755 "$bindir/ntptime" /usr/sbin/ntptime
install_file 755 "$bindir/ntpdc" /usr/sbin/ntpdc
install_file 755 "$bindir/ntp-wait" /usr/sbin/ntp-wait
mkdir -p "$dest/usr/bin"
ln -sf ../sbin/ntpq "$dest/usr/bin/ntpq"

install_config 644 "$repo/conf/ntp.conf" /etc/ntp.conf
install_config 644 "$repo/conf/sysconfig/ntpd" /etc/sysconfig/ntpd
install_config 644 "$repo/conf/sysconfig/ntpdate" /etc/sysconfig/ntpdate
install_config 644 "$repo/conf/step-tickers" /etc/ntp/step-tickers
install_config 600 "$repo/conf/keys" /etc/ntp/keys
install_config 600 "$repo/conf/crypto-pw" /etc/ntp/crypto/pw

install_file 755 "$repo/dist/init.d/ntpd" /etc/init.d/ntpd
install_file 755 "$repo/dist/init.d/ntpdate" /etc/init.d/ntpdate
install_file 755 "$repo/dist/ntpdate-wrapper" /usr/libexec/ntpdate-wrapper
install_file 644 "$repo/dist/systemd/ntpd.service" /usr/lib/systemd/system/ntpd.service
install_file 644 "$repo/dist/systemd/ntpdate.service" /usr/lib/systemd/system/ntpdate.service
install_file 644 "$repo/dist/systemd/ntpd-notify.service" /usr/lib/systemd/system/ntpd-notify.service
install_file 644 "$repo/dist/systemd/ntp-wait.service" /usr/lib/systemd/system/ntp-wait.service
install_file 644 "$repo/conf/ntp-units.d/60-ntpd.list" /usr/lib/systemd/ntp-units.d/60-ntpd.list

for page in "$repo"/man/*.[0-9]; do
    section="${page##*.}"
    install_file 644 "$page" "/usr/share/man/man$section/$(basename "$page")"
done

mkdir -p "$dest/var/lib/ntp" "$dest/var/log/ntpstats" "$dest/var/run" "$dest/var/lock/subsys"
if getent passwd ntp >/dev/null && [ "$(id -u)" -eq 0 ]; then
    chown ntp:ntp "$dest/var/lib/ntp" "$dest/var/log/ntpstats"
fi
echo "install.sh: installed into ${dest:-/}"
