//! Statistics records (`statistics loopstats peerstats clockstats sysstats`) in classic
//! 4.2.6p5's line formats, and the names of their file generations (`filegen ... type
//! day|week|month|year|age|pid|none`).
//!
//! Pure: a record plus the time it is written at gives one line; the daemon's
//! `statsfiles` shell decides where it goes. Every line starts with the Modified Julian
//! Day and the seconds past UTC midnight (3 decimals), e.g.
//! `61365 13513.042 0.000001234 -21.077 0.000045000 0.012345 6`.

use crate::config::{FilegenType, StatsFile};
use crate::time::civil::{self, fixed, Civil};
use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use std::net::IpAddr;

/// A loop filter update (classic `record_loop_stats`): after each clock update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopStats {
    pub offset: NtpDuration,
    pub frequency: Ppm,
    pub jitter: NtpDuration,
    /// Frequency wander (classic's "clock stability").
    pub wander: Ppm,
    /// log2 seconds of the system poll interval.
    pub poll: i8,
}

/// A clock filter update of one peer (classic `record_peer_stats`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerStats {
    /// The peer's address; reference clocks use their 127.127.t.u pseudo-address.
    pub addr: IpAddr,
    /// The peer status word, printed in hex without padding (`%x`).
    pub status: u16,
    pub offset: NtpDuration,
    pub delay: NtpDuration,
    pub dispersion: NtpDuration,
    pub jitter: NtpDuration,
}

/// A reference clock's timecode or event text (classic `record_clock_stats`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClockStats {
    pub addr: IpAddr,
    pub text: String,
}

/// The hourly packet counters (classic `record_sys_stats`); cleared after each record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysStats {
    /// Seconds since the counters were last cleared.
    pub since_reset: u64,
    pub received: u64,
    /// Packets addressed to this host and processed.
    pub processed: u64,
    pub current_version: u64,
    pub old_version: u64,
    /// Dropped by restrict.
    pub restricted: u64,
    pub bad_length: u64,
    pub bad_auth: u64,
    pub declined: u64,
    pub rate_limited: u64,
    pub kod_sent: u64,
}

/// One statistics record.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Loop(LoopStats),
    Peer(PeerStats),
    Clock(ClockStats),
    Sys(SysStats),
}

fn secs(d: NtpDuration) -> f64 {
    d.to_secs_f64()
}

/// `MJD SECONDS.mmm`: the day and the seconds past UTC midnight of `t`.
pub fn stamp(t: NtpTimestamp) -> String {
    let (day, into_day) = civil::mjd(t);
    let past_midnight = NtpDuration::from_bits((into_day << 32) | i64::from(t.fraction()));
    format!("{day} {}", fixed(past_midnight, 3))
}

impl Record {
    /// Which statistics file the record belongs to.
    pub fn file(&self) -> StatsFile {
        match self {
            Record::Loop(_) => StatsFile::Loopstats,
            Record::Peer(_) => StatsFile::Peerstats,
            Record::Clock(_) => StatsFile::Clockstats,
            Record::Sys(_) => StatsFile::Sysstats,
        }
    }

    /// The line (without newline) written at time `t`.
    pub fn line(&self, t: NtpTimestamp) -> String {
        let stamp = stamp(t);
        match self {
            Record::Loop(l) => format!(
                "{stamp} {:.9} {:.3} {:.9} {:.6} {}",
                secs(l.offset),
                l.frequency.0,
                secs(l.jitter),
                l.wander.0,
                l.poll
            ),
            Record::Peer(p) => format!(
                "{stamp} {} {:x} {:.9} {:.9} {:.9} {:.9}",
                p.addr,
                p.status,
                secs(p.offset),
                secs(p.delay),
                secs(p.dispersion),
                secs(p.jitter)
            ),
            Record::Clock(c) => format!("{stamp} {} {}", c.addr, c.text),
            Record::Sys(s) => format!(
                "{stamp} {} {} {} {} {} {} {} {} {} {} {}",
                s.since_reset,
                s.received,
                s.processed,
                s.current_version,
                s.old_version,
                s.restricted,
                s.bad_length,
                s.bad_auth,
                s.declined,
                s.rate_limited,
                s.kod_sent
            ),
        }
    }
}

/// What identifies a file generation besides the time: the daemon's PID (`type pid`) and
/// its uptime in seconds (`type age`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationContext {
    pub pid: u32,
    pub uptime: u64,
}

/// The suffix appended to the file name for generation `kind` at `t`, classic 4.2.6p5
/// style: `.20261121` (day, UTC), `.2026w46` (week: day of year / 7), `.202611` (month),
/// `.2026` (year), `.a00086400` (age: uptime rounded down to whole days), `.#1234` (pid),
/// nothing for `none`.
pub fn generation_suffix(kind: FilegenType, t: NtpTimestamp, ctx: GenerationContext) -> String {
    let (unix, _) = t.to_unix();
    let c = Civil::from_unix(unix);
    let month = c.month + 1;
    match kind {
        FilegenType::None => String::new(),
        FilegenType::Pid => format!(".#{}", ctx.pid),
        FilegenType::Day => format!(".{:04}{month:02}{:02}", c.year, c.day),
        FilegenType::Week => format!(".{:04}w{:02}", c.year, civil::day_of_year(unix) / 7),
        FilegenType::Month => format!(".{:04}{month:02}", c.year),
        FilegenType::Year => format!(".{:04}", c.year),
        FilegenType::Age => format!(".a{:08}", ctx.uptime - ctx.uptime % 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21 03:45:13.5 UTC.
    fn t() -> NtpTimestamp {
        NtpTimestamp::from_unix(1_795_232_713, 500_000_000)
    }

    #[test]
    fn stamp_is_mjd_and_seconds_past_midnight() {
        // MJD of 2026-11-21 is 61365; 03:45:13.5 is 13513.5 s past midnight.
        assert_eq!(stamp(t()), "61365 13513.500");
        let epoch = NtpTimestamp::from_unix(0, 0);
        assert_eq!(stamp(epoch), "40587 0.000");
    }

    #[test]
    fn classic_line_layouts() {
        let l = Record::Loop(LoopStats {
            offset: NtpDuration::from_secs_f64(-0.000123456),
            frequency: Ppm(-21.0774),
            jitter: NtpDuration::from_secs_f64(0.000951),
            wander: Ppm(0.0134),
            poll: 6,
        });
        assert_eq!(
            l.line(t()),
            "61365 13513.500 -0.000123456 -21.077 0.000951000 0.013400 6"
        );
        let p = Record::Peer(PeerStats {
            addr: "192.0.2.1".parse().unwrap(),
            status: 0x9614,
            offset: NtpDuration::from_secs_f64(0.0016),
            delay: NtpDuration::from_secs_f64(0.025),
            dispersion: NtpDuration::from_secs_f64(0.000977),
            jitter: NtpDuration::ZERO,
        });
        assert_eq!(
            p.line(t()),
            "61365 13513.500 192.0.2.1 9614 0.001600000 0.025000000 0.000977000 0.000000000"
        );
        assert_eq!(p.file(), StatsFile::Peerstats);
        let c = Record::Clock(ClockStats {
            addr: "127.127.1.0".parse().unwrap(),
            text: "ok".into(),
        });
        assert_eq!(c.line(t()), "61365 13513.500 127.127.1.0 ok");
        let s = Record::Sys(SysStats {
            since_reset: 3600,
            received: 10,
            processed: 9,
            current_version: 8,
            old_version: 1,
            restricted: 2,
            bad_length: 1,
            ..SysStats::default()
        });
        assert_eq!(s.line(t()), "61365 13513.500 3600 10 9 8 1 2 1 0 0 0 0");
    }

    #[test]
    fn generation_names() {
        let ctx = GenerationContext {
            pid: 4242,
            uptime: 200_000,
        };
        let name = |k| generation_suffix(k, t(), ctx);
        assert_eq!(name(FilegenType::Day), ".20261121");
        assert_eq!(name(FilegenType::Month), ".202611");
        assert_eq!(name(FilegenType::Year), ".2026");
        // 2026-11-21 is day 325 of the year: 325 / 7 = 46.
        assert_eq!(name(FilegenType::Week), ".2026w46");
        assert_eq!(name(FilegenType::None), "");
        assert_eq!(name(FilegenType::Pid), ".#4242");
        assert_eq!(name(FilegenType::Age), ".a00172800");
        let jan1 = NtpTimestamp::from_unix(1_767_225_600, 0); // 2026-01-01 00:00 UTC
        assert_eq!(generation_suffix(FilegenType::Week, jan1, ctx), ".2026w00");
    }
}
