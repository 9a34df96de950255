//! The daemon's state as a Prometheus metrics page and as a one-line status, pure code over
//! a [`Snapshot`]. The engine fills the snapshot from the same mode 6 view ntpq reads
//! (`crate::engine::control_view`), so the page, ntpq and the logs always agree; the
//! daemon shell serves the page over HTTP and sends the status line to systemd.

pub mod http;
mod status;
pub mod text;

pub use status::status_line;

use crate::control::{PeerVars, SystemVars};
use crate::time::{NtpDuration, NtpTimestamp};
use text::{Kind, Page, Value};

/// Packet counts of one network source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketCounts {
    pub sent: u64,
    pub received: u64,
    /// Received but refused by a packet test or authentication.
    pub rejected: u64,
}

/// One source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSample {
    /// As `ntpq -pn` names it: an address, or `LOCAL(u)`.
    pub name: String,
    pub vars: PeerVars,
    /// None for reference clocks, which exchange no packets.
    pub packets: Option<PacketCounts>,
    /// The root distance `tos maxdist` is compared with, as of now.
    pub root_distance: NtpDuration,
    /// Why it is, or is not, the system peer.
    pub reason: String,
}

/// Server-side counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerCounters {
    pub received: u64,
    /// Client (mode 3) and symmetric requests answered with time.
    pub served: u64,
    pub kod_sent: u64,
    pub bad_format: u64,
    /// Dropped by `restrict`, per reason (`ignore`, `noserve`, `limited`, ...).
    pub restrict_drops: Vec<(&'static str, u64)>,
    /// Valid packets nobody answered (no association, failed authentication, a mode 6
    /// request not answerable): classic's `ss_declined` less the `restrict` drops.
    pub declined: u64,
    pub mru_entries: u64,
    pub mru_capacity: u64,
    pub uptime_secs: u64,
}

/// Everything the page shows, read at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub system: SystemVars,
    /// `tos maxdist`.
    pub max_dist: NtpDuration,
    pub sources: Vec<SourceSample>,
    pub server: ServerCounters,
}

impl Snapshot {
    /// Whether the daemon serves synchronised time (leap indicator not 3).
    pub fn synchronised(&self) -> bool {
        self.system.leap != 3
    }

    /// The system peer's name, "orphan mode" while orphan mode stands in.
    pub fn system_peer(&self) -> Option<&str> {
        if !self.synchronised() {
            return None;
        }
        let peer = self.system.peer;
        if peer == 0 {
            return Some("orphan mode");
        }
        self.sources
            .iter()
            .find(|s| s.vars.assoc_id == peer)
            .map(|s| s.name.as_str())
    }
}

/// Seconds rounded to the nanosecond (the 2^-32 s steps of NTP time would print twenty
/// digits).
fn secs(d: NtpDuration) -> Value {
    let nanos = (i128::from(d.to_bits()) * 1_000_000_000 + (1 << 31)) >> 32;
    Value::Float(nanos as f64 / 1e9)
}

fn poll_secs(log2: i8) -> Value {
    Value::Float(2f64.powi(i32::from(log2)))
}

/// An NTP timestamp as Unix seconds (0 for "never").
fn unix_secs(t: NtpTimestamp) -> Value {
    if t.is_zero() {
        return Value::Float(0.0);
    }
    let (s, nanos) = t.to_unix();
    Value::Float(s as f64 + f64::from(nanos) * 1e-9)
}

/// A refid as ntpq shows it: a dotted quad for a network source at stratum 2..15, the
/// text (without NULs) otherwise.
fn refid_label(vars: &PeerVars) -> String {
    if !vars.is_refclock && (2..16).contains(&vars.stratum) {
        let [a, b, c, d] = vars.refid.0;
        return format!("{a}.{b}.{c}.{d}");
    }
    vars.refid
        .0
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| {
            if b.is_ascii_graphic() {
                *b as char
            } else {
                '.'
            }
        })
        .collect()
}

type SystemValue = fn(&Snapshot) -> Value;

/// The system variables, as `ntpq -c rv` shows them (in seconds, not milliseconds).
const SYSTEM: &[(&str, &str, SystemValue)] = &[
    (
        "ntp_sync_status",
        "1 if the daemon serves synchronised time (leap indicator not 3), else 0.",
        |s| Value::Int(u64::from(s.synchronised())),
    ),
    (
        "ntp_stratum",
        "Stratum the daemon serves (16: unsynchronised).",
        |s| Value::Int(u64::from(s.system.stratum)),
    ),
    (
        "ntp_leap",
        "Leap indicator served: 0 none, 1 insert, 2 delete, 3 unsynchronised.",
        |s| Value::Int(u64::from(s.system.leap)),
    ),
    (
        "ntp_offset_seconds",
        "Last clock offset the discipline accepted (ntpq rv offset).",
        |s| secs(s.system.offset),
    ),
    (
        "ntp_frequency_ppm",
        "Frequency correction of the clock, in parts per million (ntpq rv frequency).",
        |s| Value::Float(s.system.frequency.0),
    ),
    (
        "ntp_sys_jitter_seconds",
        "Jitter of the combined sources (ntpq rv sys_jitter).",
        |s| secs(s.system.sys_jitter),
    ),
    (
        "ntp_clock_jitter_seconds",
        "Jitter of the clock's offsets (ntpq rv clk_jitter).",
        |s| secs(s.system.clk_jitter),
    ),
    (
        "ntp_clock_wander_ppm",
        "Frequency wander of the clock, in parts per million (ntpq rv clk_wander).",
        |s| Value::Float(s.system.clk_wander.0),
    ),
    (
        "ntp_root_delay_seconds",
        "Round-trip delay to the primary reference (ntpq rv rootdelay).",
        |s| secs(s.system.root_delay),
    ),
    (
        "ntp_root_dispersion_seconds",
        "Dispersion to the primary reference (ntpq rv rootdisp).",
        |s| secs(s.system.root_dispersion),
    ),
    (
        "ntp_poll_seconds",
        "System poll interval (2^tc seconds).",
        |s| poll_secs(s.system.tc),
    ),
    (
        "ntp_reference_time_seconds",
        "When the clock was last updated, in Unix seconds (0: never).",
        |s| unix_secs(s.system.reftime),
    ),
    (
        "ntp_max_distance_seconds",
        "Root distance above which a source is unfit ('tos maxdist').",
        |s| secs(s.max_dist),
    ),
    (
        "ntp_uptime_seconds",
        "Seconds since the daemon started.",
        |s| Value::Int(s.server.uptime_secs),
    ),
    (
        "ntp_mru_entries",
        "Clients in the MRU monitor (ntpq mrulist, monstats mru_depth).",
        |s| Value::Int(s.server.mru_entries),
    ),
    (
        "ntp_mru_capacity",
        "Clients the MRU monitor holds at most.",
        |s| Value::Int(s.server.mru_capacity),
    ),
];

type CounterValue = fn(&ServerCounters) -> u64;

/// The server's counters (ntpq sysstats).
const SERVER: &[(&str, &str, CounterValue)] = &[
    (
        "ntp_packets_received_total",
        "NTP packets received (ss_received).",
        |c| c.received,
    ),
    (
        "ntp_requests_served_total",
        "Time requests answered.",
        |c| c.served,
    ),
    (
        "ntp_kod_sent_total",
        "Kiss-o'-death packets sent (ss_kodsent).",
        |c| c.kod_sent,
    ),
    (
        "ntp_packets_bad_format_total",
        "Packets too malformed to parse (ss_badformat).",
        |c| c.bad_format,
    ),
    (
        "ntp_packets_declined_total",
        "Valid packets nobody answered: no association, failed authentication, mode 6 refused.",
        |c| c.declined,
    ),
];

type SourceValue = fn(&SourceSample) -> Option<Value>;

/// Per source, labelled `source` and `refid`, as `ntpq -p` and `ntpq -c "rv ID"` show it.
const SOURCES: &[(&str, Kind, &str, SourceValue)] = &[
    (
        "ntp_source_selected",
        Kind::Gauge,
        "1 for the system peer (ntpq tally '*'), else 0.",
        |s| Some(Value::Int(u64::from(s.vars.status.select == 6))),
    ),
    (
        "ntp_source_selectable",
        Kind::Gauge,
        "1 if the source passed the peer tests and is no falseticker (tally '.', '-', '+', '#', '*' or 'o').",
        |s| Some(Value::Int(u64::from(s.vars.status.select >= 2))),
    ),
    (
        "ntp_source_reach",
        Kind::Gauge,
        "Reach register: one bit per poll of the last eight, set if answered (ntpq reach, in decimal).",
        |s| Some(Value::Int(u64::from(s.vars.reach))),
    ),
    (
        "ntp_source_stratum",
        Kind::Gauge,
        "Stratum of the source.",
        |s| Some(Value::Int(u64::from(s.vars.stratum))),
    ),
    (
        "ntp_source_offset_seconds",
        Kind::Gauge,
        "Offset of the source from the local clock (ntpq offset).",
        |s| Some(secs(s.vars.offset)),
    ),
    (
        "ntp_source_delay_seconds",
        Kind::Gauge,
        "Round-trip delay to the source (ntpq delay).",
        |s| Some(secs(s.vars.delay)),
    ),
    (
        "ntp_source_jitter_seconds",
        Kind::Gauge,
        "Jitter of the source's offsets (ntpq jitter).",
        |s| Some(secs(s.vars.jitter)),
    ),
    (
        "ntp_source_dispersion_seconds",
        Kind::Gauge,
        "Dispersion of the source's clock filter (ntpq rv dispersion).",
        |s| Some(secs(s.vars.dispersion)),
    ),
    (
        "ntp_source_root_distance_seconds",
        Kind::Gauge,
        "Root distance of the source, compared with ntp_max_distance_seconds.",
        |s| Some(secs(s.root_distance)),
    ),
    (
        "ntp_source_poll_seconds",
        Kind::Gauge,
        "Poll interval towards the source (ntpq poll).",
        |s| Some(poll_secs(s.vars.hpoll)),
    ),
    (
        "ntp_source_packets_sent_total",
        Kind::Counter,
        "Requests sent to the source.",
        |s| s.packets.map(|p| Value::Int(p.sent)),
    ),
    (
        "ntp_source_packets_received_total",
        Kind::Counter,
        "Packets received from the source.",
        |s| s.packets.map(|p| Value::Int(p.received)),
    ),
    (
        "ntp_source_packets_rejected_total",
        Kind::Counter,
        "Packets from the source refused by a packet test or authentication.",
        |s| s.packets.map(|p| Value::Int(p.rejected)),
    ),
];

/// The whole page.
pub fn render(s: &Snapshot) -> String {
    let mut page = Page::new();
    page.family(
        "ntp_build_info",
        Kind::Gauge,
        "The daemon's version, as ntpq rv shows it.",
    );
    page.sample(
        "ntp_build_info",
        &[("version", &s.system.version)],
        Value::Int(1),
    );
    for (name, help, value) in SYSTEM {
        page.single(name, Kind::Gauge, help, value(s));
    }
    for (name, help, value) in SERVER {
        page.single(name, Kind::Counter, help, Value::Int(value(&s.server)));
    }
    page.family(
        "ntp_packets_dropped_total",
        Kind::Counter,
        "Packets dropped by restrict, by reason (ignore, noserve, noquery, limited, ...).",
    );
    for (reason, n) in &s.server.restrict_drops {
        page.sample(
            "ntp_packets_dropped_total",
            &[("reason", reason)],
            Value::Int(*n),
        );
    }
    let labels: Vec<(String, String)> = s
        .sources
        .iter()
        .map(|src| (src.name.clone(), refid_label(&src.vars)))
        .collect();
    for (name, kind, help, value) in SOURCES {
        page.family(name, *kind, help);
        for (src, (source, refid)) in s.sources.iter().zip(&labels) {
            if let Some(v) = value(src) {
                page.sample(name, &[("source", source), ("refid", refid)], v);
            }
        }
    }
    page.family(
        "ntp_source_reason_info",
        Kind::Gauge,
        "Why each source is, or is not, the system peer, in words (label reason).",
    );
    for (src, (source, refid)) in s.sources.iter().zip(&labels) {
        page.sample(
            "ntp_source_reason_info",
            &[
                ("source", source),
                ("refid", refid),
                ("reason", &src.reason),
            ],
            Value::Int(1),
        );
    }
    page.finish()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::control::{PeerStatus, SystemStatus};
    use crate::time::Ppm;
    use crate::wire::ntp::RefId;
    use std::net::SocketAddr;

    /// A reachable network source at stratum 2, as mode 6 would show it.
    pub(crate) fn peer_vars() -> PeerVars {
        PeerVars {
            assoc_id: 2,
            status: PeerStatus::default(),
            srcadr: "192.0.2.1:123".parse::<SocketAddr>().unwrap(),
            dstadr: None,
            is_refclock: false,
            leap: 0,
            stratum: 2,
            precision: -20,
            root_delay: NtpDuration::from_secs_f64(0.01),
            root_dispersion: NtpDuration::from_secs_f64(0.02),
            refid: RefId([192, 0, 2, 99]),
            reftime: NtpTimestamp::ZERO,
            rec: NtpTimestamp::ZERO,
            reach: 0o377,
            unreach: 0,
            hmode: 3,
            pmode: 4,
            hpoll: 6,
            ppoll: 6,
            headway: 0,
            flash: 0,
            keyid: 0,
            offset: NtpDuration::from_secs_f64(-0.0005),
            delay: NtpDuration::from_secs_f64(0.002),
            dispersion: NtpDuration::from_secs_f64(0.001),
            jitter: NtpDuration::from_secs_f64(0.0001),
            xleave: None,
            filtdelay: [NtpDuration::ZERO; 8],
            filtoffset: [NtpDuration::ZERO; 8],
            filtdisp: [NtpDuration::ZERO; 8],
            reason: String::new(),
        }
    }

    fn snapshot() -> Snapshot {
        let mut vars = peer_vars();
        vars.status.select = 6;
        let mut local = peer_vars();
        local.assoc_id = 1;
        local.is_refclock = true;
        local.stratum = 10;
        local.refid = RefId::LOCL;
        local.status.select = 0;
        Snapshot {
            system: SystemVars {
                status: SystemStatus::default(),
                version: "ntpd 4.2.6p5".into(),
                leap: 0,
                stratum: 3,
                tc: 6,
                peer: 2,
                offset: NtpDuration::from_secs_f64(0.00025),
                frequency: Ppm(-12.5),
                ..SystemVars::default()
            },
            max_dist: NtpDuration::from_secs_f64(1.5),
            sources: vec![
                SourceSample {
                    name: "LOCAL(0)".into(),
                    vars: local,
                    packets: None,
                    root_distance: NtpDuration::from_secs_f64(0.01),
                    reason: "not selected".into(),
                },
                SourceSample {
                    name: "192.0.2.1".into(),
                    vars,
                    packets: Some(PacketCounts {
                        sent: 10,
                        received: 9,
                        rejected: 1,
                    }),
                    root_distance: NtpDuration::from_secs_f64(0.03),
                    reason: "system peer".into(),
                },
            ],
            server: ServerCounters {
                received: 100,
                served: 80,
                restrict_drops: vec![("ignore", 5), ("limited", 2)],
                ..ServerCounters::default()
            },
        }
    }

    fn line<'a>(page: &'a str, prefix: &str) -> &'a str {
        page.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{page}"))
    }

    #[test]
    fn system_source_and_server_series() {
        let page = render(&snapshot());
        assert_eq!(line(&page, "ntp_sync_status "), "ntp_sync_status 1");
        assert_eq!(line(&page, "ntp_stratum "), "ntp_stratum 3");
        assert_eq!(
            line(&page, "ntp_offset_seconds "),
            "ntp_offset_seconds 0.00025"
        );
        assert_eq!(line(&page, "ntp_frequency_ppm "), "ntp_frequency_ppm -12.5");
        assert_eq!(line(&page, "ntp_poll_seconds "), "ntp_poll_seconds 64");
        assert_eq!(
            line(&page, "ntp_source_selected{source=\"192.0.2.1\""),
            "ntp_source_selected{source=\"192.0.2.1\",refid=\"192.0.2.99\"} 1"
        );
        assert_eq!(
            line(&page, "ntp_source_stratum{source=\"LOCAL(0)\""),
            "ntp_source_stratum{source=\"LOCAL(0)\",refid=\"LOCL\"} 10"
        );
        assert!(!page.contains("ntp_source_packets_sent_total{source=\"LOCAL(0)\""));
        assert_eq!(
            line(&page, "ntp_source_packets_rejected_total{"),
            "ntp_source_packets_rejected_total{source=\"192.0.2.1\",refid=\"192.0.2.99\"} 1"
        );
        assert_eq!(
            line(&page, "ntp_packets_dropped_total{reason=\"limited\"}"),
            "ntp_packets_dropped_total{reason=\"limited\"} 2"
        );
        assert!(page.contains(
            "ntp_source_reason_info{source=\"192.0.2.1\",refid=\"192.0.2.99\",reason=\"system peer\"} 1"
        ));
    }

    #[test]
    fn every_family_is_declared_once_before_its_samples() {
        let page = render(&snapshot());
        let mut declared: Vec<&str> = Vec::new();
        for l in page.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last(), Some(&name), "{l} outside its family");
            }
        }
        assert!(page.ends_with('\n'));
    }

    #[test]
    fn unsynchronised_has_no_system_peer() {
        let mut s = snapshot();
        s.system.leap = 3;
        assert_eq!(s.system_peer(), None);
        assert!(render(&s).contains("\nntp_sync_status 0\n"));
        s.system.leap = 0;
        assert_eq!(s.system_peer(), Some("192.0.2.1"));
        s.system.peer = 0;
        assert_eq!(s.system_peer(), Some("orphan mode"));
    }
}
