//! ntpq's classic 4.2.6p5 output formats: the 80-column peer table, the association list,
//! `readvar` output with its 72-column wrapping and "cooked" value conversions, and the
//! status word texts. Pure functions over parsed variables; names come through [`Resolver`].

use crate::assoc::flash::FLASH_NAMES;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::time::civil;
use crate::time::NtpTimestamp;
use crate::wire::varlist::Var;

/// Reverse name lookup (the shell does DNS with a short timeout; tests use a table).
pub trait Resolver {
    fn name_of(&self, addr: IpAddr) -> Option<String>;
}

/// A resolver that never resolves (`-n`, `hostnames no`).
pub struct Numeric;

impl Resolver for Numeric {
    fn name_of(&self, _: IpAddr) -> Option<String> {
        None
    }
}

pub(super) const LEAP: [&str; 4] = ["leap_none", "leap_add_sec", "leap_del_sec", "leap_alarm"];
pub(super) const SYNC: [&str; 10] = [
    "sync_unspec",
    "sync_pps",
    "sync_lf_radio",
    "sync_hf_radio",
    "sync_uhf_radio",
    "sync_local",
    "sync_ntp",
    "sync_other",
    "sync_wristwatch",
    "sync_telephone",
];
pub(super) const SYS_EVENTS: [&str; 16] = [
    "unspecified",
    "freq_not_set",
    "freq_set",
    "spike_detect",
    "freq_mode",
    "clock_sync",
    "restart",
    "panic_stop",
    "no_system_peer",
    "leap_armed",
    "leap_disarmed",
    "leap_event",
    "clock_step",
    "kern",
    "TAI",
    "stale_leapsecond_values",
];
pub(super) const PEER_EVENTS: [&str; 16] = [
    "unspec",
    "mobilize",
    "demobilize",
    "unreachable",
    "reachable",
    "restart",
    "no_reply",
    "rate_exceeded",
    "access_denied",
    "leap_armed",
    "sys_peer",
    "clock_event",
    "bad_auth",
    "popcorn",
    "interleave_mode",
    "interleave_error",
];
pub(super) const SELECT: [&str; 8] = [
    "reject",
    "falsetick",
    "excess",
    "outlyer",
    "candidate",
    "backup",
    "sys.peer",
    "pps.peer",
];
pub(super) const CLOCK_EVENTS: [&str; 7] = [
    "clk_unspec",
    "clk_noreply",
    "clk_badformat",
    "clk_fault",
    "clk_bad_signal",
    "clk_bad_date",
    "clk_bad_time",
];
/// Peer status bits: configured, reachable (`peers` skips associations with neither).
pub const PST_CONFIG: u16 = 0x8000;
pub const PST_REACH: u16 = 0x1000;
/// Tally characters by peer selection code.
pub const TALLY: &[u8; 8] = b" x.-+#*o";

fn events(n: u16) -> String {
    match n {
        0 => "no events".into(),
        1 => "1 event".into(),
        n => format!("{n} events"),
    }
}

/// What a status word describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    System,
    Peer,
    Clock,
}

/// The decoded status word text (`leap_alarm, sync_local, 1 event, freq_not_set`).
pub fn status_text(kind: StatusKind, st: u16) -> String {
    let count = events((st >> 4) & 0xf);
    let code = usize::from(st & 0xf);
    match kind {
        StatusKind::System => format!(
            "{}, {}, {count}, {}",
            LEAP[usize::from(st >> 14)],
            SYNC.get(usize::from((st >> 8) & 0x3f))
                .unwrap_or(&"sync_unspec"),
            SYS_EVENTS[code]
        ),
        StatusKind::Peer => {
            let mut parts: Vec<String> = [
                (0x8000, "conf"),
                (0x4000, "authenb"),
                (0x2000, "auth"),
                (0x1000, "reach"),
                (0x0800, "bcst"),
            ]
            .iter()
            .filter(|(bit, _)| st & bit != 0)
            .map(|(_, n)| (*n).to_string())
            .collect();
            parts.push(format!("sel_{}", SELECT[usize::from((st >> 8) & 7)]));
            parts.push(count);
            parts.push(PEER_EVENTS[code].to_string());
            parts.join(", ")
        }
        StatusKind::Clock => format!(
            ", {count}, {}",
            CLOCK_EVENTS.get(code).unwrap_or(&"clk_unspec")
        ),
    }
}

/// The first line of `readvar` output.
pub fn status_line(assoc: u16, st: u16, kind: StatusKind, raw: bool) -> String {
    if raw {
        format!("associd={assoc} status=0x{st:04x},\n")
    } else {
        format!(
            "associd={assoc} status={st:04x} {},\n",
            status_text(kind, st)
        )
    }
}

/// Classic's interval text: seconds up to 2048, then minutes, hours, days.
pub fn pretty_interval(secs: i64) -> String {
    if secs <= 0 {
        return "-".into();
    }
    if secs <= 2048 {
        return secs.to_string();
    }
    let m = (secs + 29) / 60;
    if m <= 300 {
        return format!("{m}m");
    }
    let h = (m + 29) / 60;
    if h <= 96 {
        return format!("{h}h");
    }
    format!("{}d", (h + 11) / 24)
}

/// Parses `0xSSSSSSSS.FFFFFFFF`.
pub fn parse_ts(v: &str) -> Option<u64> {
    let (s, f) = v.strip_prefix("0x")?.split_once('.')?;
    Some(
        (u64::from(u32::from_str_radix(s, 16).ok()?) << 32)
            | u64::from(u32::from_str_radix(f, 16).ok()?),
    )
}

/// `eeab8432.fbbb1d05  Sat, Nov 21 2026  2:45:06.983` (UTC, era 0 as classic prints it).
pub fn pretty_date(ts: u64) -> String {
    civil::pretty_date(NtpTimestamp::from_bits(ts), 0)
}

/// `LOCAL(0)` for 127.127.1.0 and other refclock addresses.
pub fn refclock_name(addr: Ipv4Addr) -> Option<String> {
    let [a, b, t, u] = addr.octets();
    if a != 127 || b != 127 {
        return None;
    }
    let kind = match t {
        1 => "LOCAL",
        20 => "GPS_NMEA",
        22 => "PPS",
        28 => "SHM",
        _ => return Some(format!("REFCLK({t},{u})")),
    };
    Some(format!("{kind}({u})"))
}

/// A host as ntpq shows it: refclock name or resolved name, else the number.
pub fn host_text(addr: IpAddr, resolver: &dyn Resolver, names: bool) -> String {
    if names {
        if let IpAddr::V4(v4) = addr {
            if let Some(n) = refclock_name(v4) {
                return n;
            }
        }
        if let Some(n) = resolver.name_of(addr) {
            return n;
        }
    }
    addr.to_string()
}

/// The refid column: `.LOCL.` for text, `LOCAL(0)` for refclock addresses, else as sent.
pub fn refid_column(v: &str) -> String {
    if v.is_empty() {
        return String::new();
    }
    if v.len() <= 4 {
        return format!(".{v}.");
    }
    match v.parse::<Ipv4Addr>() {
        Ok(a) => refclock_name(a).unwrap_or_else(|| v.to_string()),
        Err(_) => v.to_string(),
    }
}

/// Accumulates `name=value` pairs, wrapping before column 72 as classic `output()`.
#[derive(Default)]
pub struct VarOutput {
    pub text: String,
    line: usize,
    started: bool,
}

impl VarOutput {
    pub fn push(&mut self, name: &str, value: &str) {
        let len = name.len() + 1 + value.len();
        if self.started {
            if self.line + len + 2 > 72 {
                self.text.push_str(",\n");
                self.line = 0;
            } else {
                self.text.push_str(", ");
                self.line += 2;
            }
        }
        let _ = write!(self.text, "{name}={value}");
        self.line += len;
        self.started = true;
    }

    pub fn finish(mut self) -> String {
        if self.started {
            self.text.push('\n');
        }
        self.text
    }
}

fn cooked_array(name: &str, value: &str) -> String {
    let pad = 12usize.saturating_sub(name.len() + 1);
    let fields: Vec<String> = value
        .split_whitespace()
        .map(|v| {
            let f = v
                .parse::<f64>()
                .map_or(v.to_string(), |x| format!("{x:.2}"));
            format!("{f:>7.7}")
        })
        .collect();
    format!("{}{}", " ".repeat(pad), fields.join(" "))
}

fn cooked_flash(value: &str) -> String {
    let bits = value
        .strip_prefix("0x")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    if bits == 0 {
        return "00 ok".into();
    }
    let names: Vec<&str> = FLASH_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("{bits:02x} {}", names.join(", "))
}

fn parse_num(v: &str) -> Option<u64> {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

/// The cooked text of one variable (`kind` says which table names belong to).
pub fn cooked(
    kind: StatusKind,
    name: &str,
    value: &str,
    res: &dyn Resolver,
    names: bool,
) -> String {
    let clock = kind == StatusKind::Clock;
    match name {
        "leap" if !clock => parse_num(value).map_or(value.into(), |l| format!("{:02b}", l & 3)),
        "refid" if !clock => refid_column(value).trim_matches('.').to_string(),
        "reftime" | "clock" | "rec" | "org" | "xmt" => {
            parse_ts(value).map_or(value.into(), pretty_date)
        }
        "srcadr" | "peeradr" if kind == StatusKind::Peer => value
            .parse::<IpAddr>()
            .map_or(value.into(), |a| host_text(a, res, names)),
        "reach" => parse_num(value).map_or(value.into(), |r| format!("{r:03o}")),
        "flash" => cooked_flash(value),
        "filtdelay" | "filtoffset" | "filtdisp" => cooked_array(name, value),
        _ => value.into(),
    }
}

/// How `readvar` output is rendered.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// `raw`: values exactly as the server sent them.
    pub raw: bool,
    /// Resolve host names (off with `-n` / `hostnames no`).
    pub names: bool,
    pub resolver: &'a dyn Resolver,
}

/// `readvar` output: status line (only when no variables were named), then the variables.
pub fn readvar(
    assoc: u16,
    status: u16,
    kind: StatusKind,
    vars: &[Var],
    with_status: bool,
    view: View<'_>,
) -> String {
    let mut out = VarOutput::default();
    for v in vars {
        if view.raw {
            out.push(&v.name, &v.value);
        } else {
            let text = cooked(kind, &v.name, &v.value, view.resolver, view.names);
            out.push(&v.name, &text);
        }
    }
    let head = if with_status {
        status_line(assoc, status, kind, view.raw)
    } else {
        String::new()
    };
    head + &out.finish()
}

/// Header of the association list.
pub const ASSOC_HEADER: &str = "ind assid status  conf reach auth condition  last_event cnt\n\
===========================================================\n";

/// One row of `associations`.
pub fn assoc_row(index: usize, assoc: u16, st: u16) -> String {
    let conf = if st & 0x8000 != 0 { "yes" } else { "no" };
    let reach = if st & 0x1000 != 0 { "yes" } else { "no" };
    let auth = match (st & 0x4000 != 0, st & 0x2000 != 0) {
        (false, _) => "none",
        (true, true) => "ok",
        (true, false) => "bad",
    };
    let event = st & 0xf;
    let last = if event == 0 {
        ""
    } else {
        PEER_EVENTS[usize::from(event)]
    };
    format!(
        "{index:3} {assoc:5}  {st:04x}   {conf:>3.3}  {reach:>4}  {auth:>4.4} {:>9.9} {last:>11} {:2}\n",
        SELECT[usize::from((st >> 8) & 7)],
        (st >> 4) & 0xf
    )
}

/// Which columns the peer table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStyle {
    /// `peers`: refid and jitter.
    Refid,
    /// `opeers`: local address and dispersion.
    Local,
}

/// The two header lines of the peer table.
pub fn peers_header(style: PeerStyle) -> String {
    let head = match style {
        PeerStyle::Refid => {
            "     remote           refid      st t when poll reach   delay   offset  jitter"
        }
        PeerStyle::Local => {
            "     remote           local      st t when poll reach   delay   offset    disp"
        }
    };
    format!("{head}\n{}\n", "=".repeat(78))
}

fn var<'a>(vars: &'a [Var], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|v| v.name == name)
        .map(|v| v.value.as_str())
}

/// Classic's address type from the local address: multicast, broadcast, loopback, unicast.
pub(super) fn addr_type(dst: Option<IpAddr>) -> char {
    match dst {
        Some(IpAddr::V4(a)) => {
            let n = u32::from(a);
            if n & 0xf000_0000 == 0xe000_0000 {
                'm'
            } else if n & 0xff == 0xff {
                'b'
            } else if n == 0x7f00_0001 {
                'l'
            } else if n & 0xffff_ffe0 == 0 {
                '-'
            } else {
                'u'
            }
        }
        Some(IpAddr::V6(a)) if a.segments()[0] & 0xff00 == 0xff00 => 'm',
        Some(IpAddr::V6(_)) => 'u',
        None => '-',
    }
}

fn ms_col(v: Option<&str>) -> String {
    let x = v.and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    format!("{x:.3}")
}

/// One 80-column peer row. `now` is the client's clock as an NTP timestamp (for `when`).
pub fn peer_row(
    status: u16,
    vars: &[Var],
    style: PeerStyle,
    now: u64,
    res: &dyn Resolver,
    names: bool,
) -> String {
    let tally = TALLY[usize::from((status >> 8) & 7)] as char;
    let src = var(vars, "srcadr").and_then(|s| s.parse::<IpAddr>().ok());
    let remote = src.map_or(String::new(), |a| host_text(a, res, names));
    let dst = var(vars, "dstadr").and_then(|s| s.parse::<IpAddr>().ok());
    let second = match style {
        PeerStyle::Refid => refid_column(var(vars, "refid").unwrap_or("")),
        // Classic prints the local address as a number even with names on (stoa).
        PeerStyle::Local => dst.map_or(String::new(), |a| a.to_string()),
    };
    let num = |n: &str| var(vars, n).and_then(parse_num).unwrap_or(0);
    let stratum = num("stratum");
    let poll = num("hpoll").min(num("ppoll")).clamp(3, 17);
    let last = [var(vars, "rec"), var(vars, "reftime")]
        .into_iter()
        .flatten()
        .filter_map(parse_ts)
        .find(|t| *t != 0);
    let when = last.map_or("-".to_string(), |t| {
        pretty_interval(((now >> 32) as i64) - ((t >> 32) as i64))
    });
    let last_col = match style {
        PeerStyle::Refid => ms_col(var(vars, "jitter")),
        PeerStyle::Local => ms_col(var(vars, "dispersion")),
    };
    format!(
        "{tally}{remote:<15.15} {second:<15.15} {stratum:2} {} {when:>4.4} {:>4.4}  {:3o}  {:>7.7} {:>8.7} {last_col:>7.7}\n",
        addr_type(dst),
        pretty_interval(1 << poll),
        num("reach"),
        ms_col(var(vars, "delay")),
        ms_col(var(vars, "offset")),
    )
}

/// The server error texts classic ntpq prints (stderr).
pub fn error_text(code: u8, assoc: u16) -> String {
    use crate::wire::control::cerr;
    match code {
        cerr::BADFMT => "***Server reports a bad format request packet".into(),
        cerr::PERMISSION => "***Server disallowed request (authentication?)".into(),
        cerr::BADOP => "***Server reports a bad opcode in request".into(),
        cerr::BADASSOC => format!("***Association ID {assoc} unknown to server"),
        cerr::UNKNOWNVAR => "***A request variable unknown to the server".into(),
        cerr::BADVALUE => "***Server indicates a request variable was bad".into(),
        cerr::UNSPEC => "***Server returned an unspecified error".into(),
        n => format!("***Server returns unknown error code {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_use_classic_suffixes() {
        let cases = [
            (0, "-"),
            (20, "20"),
            (2048, "2048"),
            (4096, "68m"),
            (7200, "120m"),
        ];
        for (secs, text) in cases {
            assert_eq!(pretty_interval(secs), text);
        }
        assert_eq!(pretty_interval(18001), "300m");
        assert_eq!(pretty_interval(18060), "5h");
        assert_eq!(pretty_interval(86400 * 5), "5d");
    }

    #[test]
    fn dates_match_classic() {
        assert_eq!(
            pretty_date(0xeeab8432_fbbb1d05),
            "eeab8432.fbbb1d05  Sat, Nov 21 2026  2:45:06.983"
        );
        assert_eq!(
            pretty_date(0),
            "00000000.00000000  Mon, Jan  1 1900  0:00:00.000"
        );
    }

    /// Resolves every address, as /etc/hosts does for 127.0.0.1.
    struct Everything;

    impl Resolver for Everything {
        fn name_of(&self, _: IpAddr) -> Option<String> {
            Some("localhost".into())
        }
    }

    #[test]
    fn opeers_local_column_stays_numeric_with_names() {
        let var = |name: &str, value: &str| Var {
            name: name.into(),
            value: value.into(),
        };
        let vars = [var("srcadr", "192.0.2.1"), var("dstadr", "127.0.0.1")];
        let row = peer_row(0x9614, &vars, PeerStyle::Local, 0, &Everything, true);
        assert!(row.starts_with("*localhost       127.0.0.1 "), "{row}");
    }

    #[test]
    fn status_words_decode_as_classic() {
        assert_eq!(
            status_text(StatusKind::System, 0xc511),
            "leap_alarm, sync_local, 1 event, freq_not_set"
        );
        assert_eq!(
            status_text(StatusKind::Peer, 0x963a),
            "conf, reach, sel_sys.peer, 3 events, sys_peer"
        );
        assert_eq!(
            status_line(3495, 0, StatusKind::Clock, false),
            "associd=3495 status=0000 , no events, clk_unspec,\n"
        );
        assert_eq!(
            assoc_row(2, 14932, 0x9424),
            "  2 14932  9424   yes   yes  none candidate   reachable  2\n"
        );
        assert_eq!(
            assoc_row(1, 10893, 0x8011),
            "  1 10893  8011   yes    no  none    reject    mobilize  1\n"
        );
    }
}
