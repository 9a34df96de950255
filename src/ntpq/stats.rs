//! The summary commands ntpq 4.2.8 added (`sysinfo`, `kerninfo`, `sysstats`, `monstats`,
//! `iostats`, `authinfo`, `timerstats`): one READVAR of a fixed name list, printed as
//! `label  value` lines in the list's order, and `ifstats`, the numbered interface rows.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::display::{self, Resolver, StatusKind};
use crate::wire::varlist::Var;

/// How a value is shown (4.2.8 `NTP_*` display types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// As sent, without surrounding quotes; omitted when the server did not send it.
    Text,
    /// `address:port`, or the host name (`LOCAL(0)` for refclocks) with names on.
    AddrPort,
    /// An association mode by name (`client`).
    Mode,
    /// Two bits (`leap indicator: 00`).
    TwoBits,
    /// A timestamp as a date.
    Date,
}

/// One line of a summary: variable, label, how shown.
pub type Line = (&'static str, &'static str, Shown);

use Shown::*;

pub const SYSINFO: [Line; 14] = [
    ("peeradr", "system peer:      ", AddrPort),
    ("peermode", "system peer mode: ", Mode),
    ("leap", "leap indicator:   ", TwoBits),
    ("stratum", "stratum:          ", Text),
    ("precision", "log2 precision:   ", Text),
    ("rootdelay", "root delay:       ", Text),
    ("rootdisp", "root dispersion:  ", Text),
    ("refid", "reference ID:     ", Text),
    ("reftime", "reference time:   ", Date),
    ("sys_jitter", "system jitter:    ", Text),
    ("clk_jitter", "clock jitter:     ", Text),
    ("clk_wander", "clock wander:     ", Text),
    ("bcastdelay", "broadcast delay:  ", Text),
    ("authdelay", "symm. auth. delay:", Text),
];

pub const KERNINFO: [Line; 16] = [
    ("koffset", "pll offset:          ", Text),
    ("kfreq", "pll frequency:       ", Text),
    ("kmaxerr", "maximum error:       ", Text),
    ("kesterr", "estimated error:     ", Text),
    ("kstflags", "kernel status:       ", Text),
    ("ktimeconst", "pll time constant:   ", Text),
    ("kprecis", "precision:           ", Text),
    ("kfreqtol", "frequency tolerance: ", Text),
    ("kppsfreq", "pps frequency:       ", Text),
    ("kppsstab", "pps stability:       ", Text),
    ("kppsjitter", "pps jitter:          ", Text),
    ("kppscalibdur", "calibration interval ", Text),
    ("kppscalibs", "calibration cycles:  ", Text),
    ("kppsjitexc", "jitter exceeded:     ", Text),
    ("kppsstbexc", "stability exceeded:  ", Text),
    ("kppscaliberrs", "calibration errors:  ", Text),
];

pub const SYSSTATS: [Line; 12] = [
    ("ss_uptime", "uptime:               ", Text),
    ("ss_reset", "sysstats reset:       ", Text),
    ("ss_received", "packets received:     ", Text),
    ("ss_thisver", "current version:      ", Text),
    ("ss_oldver", "older version:        ", Text),
    ("ss_badformat", "bad length or format: ", Text),
    ("ss_badauth", "authentication failed:", Text),
    ("ss_declined", "declined:             ", Text),
    ("ss_restricted", "restricted:           ", Text),
    ("ss_limited", "rate limited:         ", Text),
    ("ss_kodsent", "KoD responses:        ", Text),
    ("ss_processed", "processed for time:   ", Text),
];

pub const MONSTATS: [Line; 8] = [
    ("mru_enabled", "enabled:            ", Text),
    ("mru_depth", "addresses:          ", Text),
    ("mru_deepest", "peak addresses:     ", Text),
    ("mru_maxdepth", "maximum addresses:  ", Text),
    ("mru_mindepth", "reclaim above count:", Text),
    ("mru_maxage", "reclaim older than: ", Text),
    ("mru_mem", "kilobytes:          ", Text),
    ("mru_maxmem", "maximum kilobytes:  ", Text),
];

pub const IOSTATS: [Line; 12] = [
    ("iostats_reset", "time since reset:     ", Text),
    ("total_rbuf", "receive buffers:      ", Text),
    ("free_rbuf", "free receive buffers: ", Text),
    ("used_rbuf", "used receive buffers: ", Text),
    ("rbuf_lowater", "low water refills:    ", Text),
    ("io_dropped", "dropped packets:      ", Text),
    ("io_ignored", "ignored packets:      ", Text),
    ("io_received", "received packets:     ", Text),
    ("io_sent", "packets sent:         ", Text),
    ("io_sendfailed", "packet send failures: ", Text),
    ("io_wakeups", "input wakeups:        ", Text),
    ("io_goodwakeups", "useful input wakeups: ", Text),
];

pub const AUTHINFO: [Line; 9] = [
    ("authreset", "time since reset:", Text),
    ("authkeys", "stored keys:     ", Text),
    ("authfreek", "free keys:       ", Text),
    ("authklookups", "key lookups:     ", Text),
    ("authknotfound", "keys not found:  ", Text),
    ("authkuncached", "uncached keys:   ", Text),
    ("authkexpired", "expired keys:    ", Text),
    ("authencrypts", "encryptions:     ", Text),
    ("authdecrypts", "decryptions:     ", Text),
];

pub const TIMERSTATS: [Line; 3] = [
    ("timerstats_reset", "time since reset:  ", Text),
    ("timer_overruns", "timer overruns:    ", Text),
    ("timer_xmts", "calls to transmit: ", Text),
];

/// The summary a command shows and whether it starts with the status line.
pub fn summary(command: &str) -> Option<(&'static [Line], bool)> {
    Some(match command {
        "sysinfo" => (&SYSINFO[..], true),
        "kerninfo" => (&KERNINFO[..], true),
        "sysstats" => (&SYSSTATS[..], false),
        "monstats" => (&MONSTATS[..], false),
        "iostats" => (&IOSTATS[..], false),
        "authinfo" => (&AUTHINFO[..], false),
        "timerstats" => (&TIMERSTATS[..], false),
        _ => return None,
    })
}

/// The READVAR request data: the names, comma separated, as ntpq sends a variable list.
pub fn request(lines: &[Line]) -> String {
    lines.iter().map(|l| l.0).collect::<Vec<_>>().join(",")
}

/// Classic `modetoa`: association modes by number (ntpdc prints them too).
pub const MODES: [&str; 9] = [
    "unspec",
    "sym_active",
    "sym_passive",
    "client",
    "server",
    "broadcast",
    "control",
    "private",
    "bclient",
];

/// Parses `a.b.c.d:port` or `[v6]:port` (a bare address gets port 0).
pub fn parse_addr_port(v: &str) -> Option<SocketAddr> {
    v.parse()
        .ok()
        .or_else(|| v.parse::<IpAddr>().ok().map(|a| SocketAddr::new(a, 0)))
}

/// `addr:port` numerically; with names, the refclock or host name (port appended).
fn addr_port_text(value: &str, res: &dyn Resolver, names: bool) -> String {
    let sa = parse_addr_port(value).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    if !names || sa.ip().is_unspecified() {
        return sa.to_string();
    }
    if let IpAddr::V4(v4) = sa.ip() {
        if let Some(n) = display::refclock_name(v4) {
            return n;
        }
    }
    match res.name_of(sa.ip()) {
        Some(n) => format!("{n}:{}", sa.port()),
        None => sa.to_string(),
    }
}

fn unquoted(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// The summary text: optional status line, then `label  value` per line of the table.
pub fn render(
    lines: &[Line],
    vars: &[Var],
    status: Option<u16>,
    res: &dyn Resolver,
    names: bool,
) -> String {
    let mut out = status.map_or(String::new(), |st| {
        display::status_line(0, st, StatusKind::System, false)
    });
    for (name, label, shown) in lines {
        let value = vars
            .iter()
            .find(|v| v.name == *name)
            .map(|v| v.value.as_str());
        let num = || {
            value
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let text = match shown {
            Text => match value {
                Some(v) => unquoted(v).to_string(),
                None => continue,
            },
            AddrPort => addr_port_text(value.unwrap_or(""), res, names),
            Mode => MODES
                .get(num() as usize)
                .map_or(format!("mode#{}", num()), |m| m.to_string()),
            TwoBits => format!("{:02b}", num() & 3),
            Date => display::pretty_date(value.and_then(display::parse_ts).unwrap_or(0)),
        };
        let _ = writeln!(out, "{label}  {text}");
    }
    out
}

/// Fields of one `ifstats` row.
const IFSTATS_FIELDS: usize = 12;

/// The `ifstats` header.
pub const IFSTATS_HEADER: &str =
    "    interface name                                        send\n \
     #  address/broadcast     drop flag ttl mc received sent failed peers   uptime\n\
     ==============================================================================\n";

#[derive(Default)]
struct IfRow {
    addr: Option<SocketAddr>,
    bcast: Option<SocketAddr>,
    name: String,
    enabled: u64,
    numbers: [u64; 8],
}

/// Takes one `tag.N=value` into `row`; false for tags ifstats does not know.
fn if_field(row: &mut IfRow, tag: &str, value: &str) -> bool {
    let n = || value.trim().parse::<u64>().ok();
    let slot = |i: usize, row: &mut IfRow, v: Option<u64>| v.map(|v| row.numbers[i] = v).is_some();
    match tag {
        "addr" => parse_addr_port(value).map(|a| row.addr = Some(a)).is_some(),
        "bcast" => {
            row.bcast = parse_addr_port(value);
            value.is_empty() || row.bcast.is_some()
        }
        "en" => n().map(|v| row.enabled = v).is_some(),
        "flags" => {
            let v = value
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok());
            slot(0, row, v)
        }
        "tl" => slot(1, row, n()),
        "mc" => slot(2, row, n()),
        "rx" => slot(3, row, n()),
        "tx" => slot(4, row, n()),
        "txerr" => slot(5, row, n()),
        "pc" => slot(6, row, n()),
        "up" => slot(7, row, n()),
        "name" => {
            row.name = unquoted(value).to_string();
            value.len() >= 2
        }
        _ => false,
    }
}

fn if_row_text(index: usize, r: &IfRow) -> String {
    let [flags, ttl, mc, rx, tx, txerr, peers, up] = r.numbers;
    let drop = if r.enabled != 0 { '.' } else { 'D' };
    let unspec = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut s = format!(
        "{index:3} {:<24.24} {drop} {flags:4x} {ttl:3} {mc:2} {rx:6} {tx:6} {txerr:6} {peers:5} {up:8}\n    {}\n",
        r.name,
        r.addr.unwrap_or(unspec)
    );
    if let Some(b) = r.bcast.filter(|b| !b.ip().is_unspecified()) {
        let _ = writeln!(s, "    {b}");
    }
    s
}

/// The `ifstats` rows (stdout) and complaints (stderr), as 4.2.8 prints them: a row is
/// printed once its twelve fields arrived; rows must come in index order.
pub fn ifstats(vars: &[Var]) -> (String, String) {
    let (mut out, mut err) = (String::from(IFSTATS_HEADER), String::new());
    let (mut row, mut index, mut fields) = (IfRow::default(), 0usize, 0usize);
    for v in vars {
        let Some((tag, n)) = v.name.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        if n != index {
            if n < index {
                err = format!(
                    "received if index {n}, have {fields} of {IFSTATS_FIELDS} fields for index {index}, aborting.\n"
                );
                return (out, err);
            }
            if fields < IFSTATS_FIELDS {
                let _ = writeln!(
                    out,
                    "Warning: incomplete row with {fields} (of {IFSTATS_FIELDS}) fields"
                );
            }
            (row, index, fields) = (IfRow::default(), n, 0);
        }
        if if_field(&mut row, tag, &v.value) {
            fields += 1;
            if fields == IFSTATS_FIELDS {
                out += &if_row_text(index, &row);
            }
        }
    }
    if fields != IFSTATS_FIELDS {
        let _ = writeln!(
            out,
            "Warning: incomplete row with {fields} (of {IFSTATS_FIELDS}) fields"
        );
    }
    (out, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntpq::display::Numeric;
    use crate::wire::varlist::parse_varlist;

    #[test]
    fn sysinfo_prints_labels_and_converted_values() {
        let vars = parse_varlist(
            b"leap=0, stratum=11, precision=-22, rootdelay=0.000, rootdisp=10.250,\r\n\
              refid=127.127.1.0, reftime=0xeeab8432.fbbb1d05, sys_jitter=0.000,\r\n\
              clk_jitter=0.000, clk_wander=0.000, peeradr=127.127.1.0:123,\r\n\
              peermode=3, bcastdelay=0.000, authdelay=0.000\r\n",
        );
        let text = render(&SYSINFO, &vars, Some(0x0514), &Numeric, false);
        let want = "associd=0 status=0514 leap_none, sync_local, 1 event, event_4,\n\
            system peer:        127.127.1.0:123\n\
            system peer mode:   client\n\
            leap indicator:     00\n\
            stratum:            11\n";
        assert!(
            text.starts_with(&want.replace("event_4", "freq_mode")),
            "{text}"
        );
        assert!(text
            .contains("\nreference time:     eeab8432.fbbb1d05  Sat, Nov 21 2026  2:45:06.983\n"));
        assert!(text.ends_with("symm. auth. delay:  0.000\n"), "{text}");
        let named = render(&SYSINFO[..1], &vars, None, &Numeric, true);
        assert_eq!(named, "system peer:        LOCAL(0)\n");
    }

    #[test]
    fn missing_text_values_are_skipped() {
        let vars = parse_varlist(b"ss_uptime=3600, ss_received=42\r\n");
        assert_eq!(
            render(&SYSSTATS, &vars, None, &Numeric, false),
            "uptime:                 3600\npackets received:       42\n"
        );
    }

    #[test]
    fn ifstats_rows_and_warnings() {
        let vars = parse_varlist(
            b"addr.0=127.0.0.1:123, bcast.0, en.0=1, flags.0=0x5, mc.0=0, name.0=\"lo\",\r\n\
              pc.0=1, rx.0=7, tl.0=0, tx.0=6, txerr.0=0, up.0=60\r\n",
        );
        let (out, err) = ifstats(&vars);
        assert_eq!(
            out,
            format!(
                "{IFSTATS_HEADER}  0 lo                       .    5   0  0      7      6      0     1       60\n    127.0.0.1:123\n"
            )
        );
        assert!(err.is_empty());
        let (out, _) = ifstats(&[]);
        assert!(out.ends_with("Warning: incomplete row with 0 (of 12) fields\n"));
    }
}
