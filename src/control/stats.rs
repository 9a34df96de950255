//! The system variables ntpd 4.2.8 added for newer ntpq's `sysinfo`, `sysstats`,
//! `monstats`, `iostats`, `authinfo`, `timerstats` and `kerninfo`. Classic 4.2.6p5 did not
//! know them; answering them lets current monitoring (ntpq 4.2.8, NTPsec's ntpq) read our
//! ntpd, and costs nothing for old clients, which never ask.

use super::state::PeerVars;
use crate::time::NtpDuration;
use crate::wire::varlist::VarWriter;

/// Packet counters (`sysstats`), all since the last reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    pub received: u64,
    /// Packets of the current NTP version (4) and of older ones.
    pub this_version: u64,
    pub old_version: u64,
    pub bad_format: u64,
    pub bad_auth: u64,
    /// Valid packets not answered (no association and no server reply due).
    pub declined: u64,
    /// Dropped by `restrict`.
    pub restricted: u64,
    /// Over the `limited` rate.
    pub rate_limited: u64,
    pub kod_sent: u64,
    /// Handed to the protocol (server replies and association updates).
    pub processed: u64,
}

/// The MRU monitor (`monstats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorStats {
    pub enabled: bool,
    pub depth: u64,
    pub deepest: u64,
    /// Entries kept whatever their age (`mru mindepth`).
    pub min_depth: u64,
    /// Entries older than this many seconds may be reclaimed (`mru maxage`).
    pub max_age: u64,
    pub max_depth: u64,
    /// Octets per entry, for the `mru_mem`/`mru_maxmem` kilobyte figures.
    pub entry_octets: u64,
}

/// Datagram I/O (`iostats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    pub received: u64,
    pub sent: u64,
    pub send_failed: u64,
    pub dropped: u64,
    pub ignored: u64,
    /// Socket wake-ups, and those that found a datagram.
    pub wakeups: u64,
    pub good_wakeups: u64,
}

/// Symmetric-key counters (`authinfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    pub keys: u64,
    pub free_keys: u64,
    pub lookups: u64,
    pub not_found: u64,
    pub uncached: u64,
    pub expired: u64,
    pub encryptions: u64,
    pub decryptions: u64,
}

/// Everything the 4.2.8 statistics variables report. Times are whole seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServerStats {
    pub uptime: u64,
    /// Seconds since the counters were last reset (ntpd start, here).
    pub since_reset: u64,
    pub packets: PacketStats,
    pub monitor: MonitorStats,
    pub io: IoStats,
    pub auth: AuthStats,
    /// Timer ticks that ran late, and transmissions the timer started.
    pub timer_overruns: u64,
    pub timer_xmts: u64,
    pub broadcast_delay: NtpDuration,
    pub auth_delay: NtpDuration,
}

/// The variables in 4.2.8's table order (named requests are answered in this order, after
/// the 4.2.6p5 ones).
pub const STATS_TABLE: [&str; 66] = [
    "mru_enabled",
    "mru_depth",
    "mru_deepest",
    "mru_mindepth",
    "mru_maxage",
    "mru_maxdepth",
    "mru_mem",
    "mru_maxmem",
    "ss_uptime",
    "ss_reset",
    "ss_received",
    "ss_thisver",
    "ss_oldver",
    "ss_badformat",
    "ss_badauth",
    "ss_declined",
    "ss_restricted",
    "ss_limited",
    "ss_kodsent",
    "ss_processed",
    "peeradr",
    "peermode",
    "bcastdelay",
    "authdelay",
    "authkeys",
    "authfreek",
    "authklookups",
    "authknotfound",
    "authkuncached",
    "authkexpired",
    "authencrypts",
    "authdecrypts",
    "authreset",
    "koffset",
    "kfreq",
    "kmaxerr",
    "kesterr",
    "kstflags",
    "ktimeconst",
    "kprecis",
    "kfreqtol",
    "kppsfreq",
    "kppsstab",
    "kppsjitter",
    "kppscalibdur",
    "kppscalibs",
    "kppscaliberrs",
    "kppsjitexc",
    "kppsstbexc",
    "iostats_reset",
    "total_rbuf",
    "free_rbuf",
    "used_rbuf",
    "rbuf_lowater",
    "io_dropped",
    "io_ignored",
    "io_received",
    "io_sent",
    "io_sendfailed",
    "io_wakeups",
    "io_goodwakeups",
    "timerstats_reset",
    "timer_overruns",
    "timer_xmts",
    "fuzz",
    "clk_wander_threshold",
];

/// Kilobytes of `entries` monitor entries, rounded as classic.
fn kilobytes(entries: u64, entry_octets: u64) -> u64 {
    (entries * entry_octets + 512) / 1024
}

/// Writes one statistics variable. `sys_peer` is the system peer, if any (`peeradr`,
/// `peermode`). The kernel variables read as from a build without the kernel loop (all
/// zero): this ntpd disciplines the clock itself.
pub fn put_stat(w: &mut VarWriter, name: &str, s: &ServerStats, sys_peer: Option<&PeerVars>) {
    let (p, m, io, a) = (&s.packets, &s.monitor, &s.io, &s.auth);
    let value = match name {
        "mru_enabled" => return w.hex(name, u64::from(m.enabled)),
        "mru_depth" => m.depth,
        "mru_deepest" => m.deepest,
        "mru_mindepth" => m.min_depth,
        "mru_maxage" => m.max_age,
        "mru_maxdepth" => m.max_depth,
        "mru_mem" => kilobytes(m.depth, m.entry_octets),
        "mru_maxmem" => kilobytes(m.max_depth, m.entry_octets),
        "ss_uptime" => s.uptime,
        "ss_reset" | "authreset" | "iostats_reset" | "timerstats_reset" => s.since_reset,
        "ss_received" => p.received,
        "ss_thisver" => p.this_version,
        "ss_oldver" => p.old_version,
        "ss_badformat" => p.bad_format,
        "ss_badauth" => p.bad_auth,
        "ss_declined" => p.declined,
        "ss_restricted" => p.restricted,
        "ss_limited" => p.rate_limited,
        "ss_kodsent" => p.kod_sent,
        "ss_processed" => p.processed,
        "peeradr" => {
            let addr = sys_peer.map_or("0.0.0.0:0".to_string(), |v| v.srcadr.to_string());
            return w.item(&format!("{name}={addr}"));
        }
        "peermode" => sys_peer.map_or(0, |v| u64::from(v.hmode)),
        "bcastdelay" => return w.dbl(name, s.broadcast_delay.to_secs_f64() * 1e3),
        "authdelay" => return w.dbl(name, s.auth_delay.to_secs_f64() * 1e3),
        "authkeys" => a.keys,
        "authfreek" => a.free_keys,
        "authklookups" => a.lookups,
        "authknotfound" => a.not_found,
        "authkuncached" => a.uncached,
        "authkexpired" => a.expired,
        "authencrypts" => a.encryptions,
        "authdecrypts" => a.decryptions,
        "kstflags" => return w.string(name, ""),
        "io_dropped" => io.dropped,
        "io_ignored" => io.ignored,
        "io_received" => io.received,
        "io_sent" => io.sent,
        "io_sendfailed" => io.send_failed,
        "io_wakeups" => io.wakeups,
        "io_goodwakeups" => io.good_wakeups,
        "timer_overruns" => s.timer_overruns,
        "timer_xmts" => s.timer_xmts,
        "fuzz" | "clk_wander_threshold" => return w.dbl(name, 0.0),
        // Kernel loop and receive buffer figures: none to report.
        _ => 0,
    };
    w.uint(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(names: &[&str], s: &ServerStats) -> String {
        let mut w = VarWriter::new();
        for n in names {
            put_stat(&mut w, n, s, None);
        }
        String::from_utf8(w.finish().0).unwrap()
    }

    #[test]
    fn writes_4_2_8_formats() {
        let s = ServerStats {
            uptime: 3600,
            since_reset: 3600,
            packets: PacketStats {
                received: 42,
                kod_sent: 1,
                ..PacketStats::default()
            },
            monitor: MonitorStats {
                enabled: true,
                depth: 10,
                max_depth: 600,
                entry_octets: 120,
                ..MonitorStats::default()
            },
            ..ServerStats::default()
        };
        assert_eq!(
            text(
                &[
                    "mru_enabled",
                    "mru_mem",
                    "mru_maxmem",
                    "ss_uptime",
                    "ss_received"
                ],
                &s
            ),
            "mru_enabled=0x1, mru_mem=1, mru_maxmem=70, ss_uptime=3600,\r\nss_received=42\r\n"
        );
        assert_eq!(
            text(
                &["peeradr", "peermode", "kstflags", "koffset", "authdelay"],
                &s
            ),
            "peeradr=0.0.0.0:0, peermode=0, kstflags, koffset=0, authdelay=0.000\r\n"
        );
    }

    #[test]
    fn every_table_name_is_written() {
        for n in STATS_TABLE {
            assert!(text(&[n], &ServerStats::default()).starts_with(n), "{n}");
        }
    }
}
