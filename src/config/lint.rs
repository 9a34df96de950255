//! The classic ntp.conf traps, found in a loaded configuration: each finding is a warning
//! at the line to change, saying what goes wrong and what to write instead.
//!
//! - `restrict default ignore` (or `noquery`) that also covers 127.0.0.1 or ::1: ntpq on
//!   the host itself times out;
//! - `limited` with `discard` values that refuse an iburst client's requests (checked by
//!   running the real rate limiter over an iburst start and an hour of 64 s polls);
//! - 4.2.6p5's log2 `discard minimum` (2 means 4 s, not 2 s);
//! - LOCAL(0) beside real servers (clients keep trusting a free-running clock when the
//!   servers fail: `tos orphan` is the modern answer);
//! - one or two servers (no majority to outvote a falseticker);
//! - with `disable auth`, serving lines without `nopeer`: Windows clients in symmetric
//!   active mode become peers of the server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use super::check::last_location;
use super::diagnostic::{Diagnostic, Location};
use super::explain_access::{prefix_len, rate_words, who};
use super::model::{AssocKind, Config, Family, RestrictEntry, RestrictTarget, Target};
use crate::refclock::local::DEFAULT_STRATUM;
use crate::restrict::{Arrival, Monitor, RateLimits, RestrictFlag, RestrictFlags};
use crate::wire::ntp::Mode;

/// Requests of an iburst start and the spacing of the polls after it (minpoll 6).
const IBURST: u64 = 8;
const IBURST_SPACING: u64 = 2;
const POLL: u64 = 64;
/// Polls simulated after the burst: an hour.
const POLLS: u64 = 56;

/// Every trap found in `config`, in no particular order (`--check` sorts by line).
pub fn lint(config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    loopback_query(config, &mut out);
    limited_vs_iburst(config, &mut out);
    discard_minimum(config, &mut out);
    local_beside_servers(config, &mut out);
    few_servers(config, &mut out);
    windows_symmetric(config, &mut out);
    out
}

fn warn(out: &mut Vec<Diagnostic>, location: Location, message: String) {
    out.push(Diagnostic::warning(location, format!("lint: {message}")));
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// How specifically `r` covers `addr` (mask length; 0 for a default), if it does. Lines
/// with `ntpport` only apply to port 123, never to ntpq.
fn covers(r: &RestrictEntry, addr: IpAddr) -> Option<u32> {
    if r.flags.contains(RestrictFlag::NtpPort) {
        return None;
    }
    match (&r.target, addr) {
        (RestrictTarget::Default(None), _)
        | (RestrictTarget::Default(Some(Family::V4)), IpAddr::V4(_))
        | (RestrictTarget::Default(Some(Family::V6)), IpAddr::V6(_)) => Some(0),
        (RestrictTarget::Addr(a), _) if a.is_ipv4() == addr.is_ipv4() => {
            let width = if a.is_ipv4() { 32 } else { 128 };
            let mask = r.mask.filter(|m| m.is_ipv4() == a.is_ipv4());
            let (m, len) = match mask {
                None => (u128::MAX, width),
                Some(m) => (bits(m), prefix_len(m).unwrap_or(bits(m).count_ones())),
            };
            (bits(*a) & m == bits(addr) & m).then_some(len)
        }
        _ => None,
    }
}

/// The flags that apply to `addr` (the most specific lines, ORed as classic merges equal
/// entries) and the last of those lines.
fn applying(config: &Config, addr: IpAddr) -> Option<(RestrictFlags, &RestrictEntry)> {
    let covering: Vec<(u32, &RestrictEntry)> = config
        .restrictions
        .iter()
        .filter_map(|r| covers(r, addr).map(|len| (len, r)))
        .collect();
    let best = covering.iter().map(|c| c.0).max()?;
    let mut winners = covering.iter().filter(|c| c.0 == best);
    let flags = winners
        .clone()
        .flat_map(|c| c.1.flags.iter())
        .collect::<RestrictFlags>();
    winners.next_back().map(|c| (flags, c.1))
}

fn loopback_query(config: &Config, out: &mut Vec<Diagnostic>) {
    let loopbacks = [
        (IpAddr::V4(Ipv4Addr::LOCALHOST), "restrict 127.0.0.1"),
        (IpAddr::V6(Ipv6Addr::LOCALHOST), "restrict -6 ::1"),
    ];
    for (addr, fix) in loopbacks {
        let Some((flags, line)) = applying(config, addr) else {
            continue;
        };
        let flag = if flags.contains(RestrictFlag::Ignore) {
            "ignore"
        } else if flags.contains(RestrictFlag::NoQuery) {
            "noquery"
        } else {
            continue;
        };
        let message = if matches!(line.target, RestrictTarget::Addr(_)) && line.mask.is_none() {
            format!(
                "'{flag}' on {addr}: ntpq on this host gets no answer and times out; drop \
                 '{flag}' from this line (nomodify keeps ntpq read-only)"
            )
        } else {
            format!(
                "this line's '{flag}' also covers {addr}: ntpq on this host gets no answer and \
                 times out; add '{fix}' after it"
            )
        };
        warn(out, line.location.clone(), message);
    }
}

/// The request (1-based) of an iburst client, then polling every 64 s, that the rate
/// limiter with `limits` refuses first; None if it refuses none.
fn first_refused(limits: RateLimits) -> Option<u64> {
    let mut monitor = Monitor::new(1);
    monitor.set_limits(limits);
    monitor.set_limited_in_use(true);
    let arrival = Arrival {
        src: SocketAddr::from(([192, 0, 2, 1], 123)),
        local: None,
        mode: Mode::Client,
        version: 4,
    };
    let flags = RestrictFlags::NONE.with(RestrictFlag::Limited);
    let burst = (0..IBURST).map(|i| i * IBURST_SPACING);
    let last = (IBURST - 1) * IBURST_SPACING;
    let polls = (1..=POLLS).map(|k| last + k * POLL);
    burst
        .chain(polls)
        .position(|t| {
            monitor
                .observe(Duration::from_secs(t), &arrival, flags)
                .limited
        })
        .map(|i| i as u64 + 1)
}

fn limited_vs_iburst(config: &Config, out: &mut Vec<Diagnostic>) {
    let serving = |r: &&RestrictEntry| {
        r.flags.contains(RestrictFlag::Limited)
            && !r.flags.contains(RestrictFlag::Ignore)
            && !r.flags.contains(RestrictFlag::NoServe)
    };
    let Some(line) = config.restrictions.iter().find(serving) else {
        return;
    };
    let limits = config.discard.rate_limits();
    let Some(n) = first_refused(limits) else {
        return;
    };
    let which = if n <= IBURST {
        format!("request {n} of its iburst (8 requests 2 s apart)")
    } else {
        format!("its poll {} at 64 s after an iburst", n - IBURST)
    };
    let kod = if line.flags.contains(RestrictFlag::Kod) {
        "gets a kiss-o'-death RATE and backs off"
    } else {
        "gets no answer"
    };
    warn(
        out,
        line.location.clone(),
        format!(
            "limited: {}; a client starting with iburst has {which} refused and {kod}; keep \
             4.2.6p5's defaults ('discard average 3 minimum 1': 8 s average, 2 s apart) or \
             leave 'limited' off the lines of your own clients",
            rate_words(limits)
        ),
    );
}

fn discard_minimum(config: &Config, out: &mut Vec<Diagnostic>) {
    let Some(m) = config.discard.minimum.filter(|m| *m >= 2) else {
        return;
    };
    let secs = 1u64 << m.clamp(0, 16);
    warn(
        out,
        last_location(config, "discard"),
        format!(
            "discard minimum {m}: 4.2.6p5 reads this as log2 seconds, {secs} s between a \
             client's packets, not {m} s (ntpd 4.2.8 and NTPsec read seconds); iburst clients \
             send every 2 s; for a 2 s spacing write 'discard minimum 1'"
        ),
    );
}

fn is_network(target: &Target) -> bool {
    !matches!(target, Target::RefClock { .. })
}

fn local_beside_servers(config: &Config, out: &mut Vec<Diagnostic>) {
    let local = config
        .associations
        .iter()
        .find(|a| matches!(a.target, Target::RefClock { clock_type: 1, .. }));
    let network = config.associations.iter().any(|a| is_network(&a.target));
    let (Some(local), true) = (local, network) else {
        return;
    };
    let Target::RefClock { unit, .. } = local.target else {
        return;
    };
    let stratum = config
        .fudges
        .iter()
        .filter(|f| f.clock_type == 1 && f.unit == unit)
        .find_map(|f| f.stratum)
        .unwrap_or(DEFAULT_STRATUM);
    warn(
        out,
        local.location.clone(),
        format!(
            "LOCAL({unit}) beside real servers: when they all fail, this host goes on serving \
             its free-running clock at stratum {} and its clients cannot tell; write 'tos \
             orphan {stratum}' instead of the LOCAL server and fudge lines: orphan mode stands \
             in only while no real source is reachable, and hosts in orphan mode agree on one \
             time",
            u16::from(stratum) + 1
        ),
    );
}

fn few_servers(config: &Config, out: &mut Vec<Diagnostic>) {
    if config
        .associations
        .iter()
        .any(|a| a.kind == AssocKind::Pool)
    {
        return;
    }
    let servers: Vec<_> = config
        .associations
        .iter()
        .filter(|a| matches!(a.kind, AssocKind::Server | AssocKind::Peer) && is_network(&a.target))
        .collect();
    let why = match servers.len() {
        1 => "one server: ntpd follows whatever it says, and nothing notices when it is wrong",
        2 => "two servers: when they disagree ntpd cannot tell which one is wrong (no majority)",
        _ => return,
    };
    let first = servers[0];
    warn(
        out,
        first.location.clone(),
        format!(
            "{why}; configure at least 3 servers (4 to keep 3 when one fails), e.g. 'server \
             N.rhel.pool.ntp.org iburst' for N in 0-3, or a 'pool' line"
        ),
    );
}

fn windows_symmetric(config: &Config, out: &mut Vec<Diagnostic>) {
    if config.system.auth {
        return;
    }
    const REMEDY: &str = "add 'nopeer' (such clients still get time: they are answered \
                          without an association), or set Windows clients to client mode: \
                          w32tm /config /manualpeerlist:\"SERVER,0x8\" /syncfromflags:manual /update";
    const MODE1: &str = "may send symmetric active packets (w32time's mode for a manual peer \
                         without ',0x8') and, with 'disable auth', become peers of this server, \
                         which may then follow a client's clock";
    let has_default = config
        .restrictions
        .iter()
        .any(|r| matches!(r.target, RestrictTarget::Default(None | Some(Family::V4))));
    if !has_default {
        let at = last_location(config, "disable");
        warn(
            out,
            at,
            format!("without a 'restrict default' line every host {MODE1}; {REMEDY}"),
        );
    }
    for r in &config.restrictions {
        let f = |flag| r.flags.contains(flag);
        let loopback = matches!(r.target, RestrictTarget::Addr(a) if a.is_loopback());
        if f(RestrictFlag::NoPeer)
            || f(RestrictFlag::Ignore)
            || f(RestrictFlag::NoServe)
            || loopback
        {
            continue;
        }
        warn(
            out,
            r.location.clone(),
            format!("{} {MODE1}; {REMEDY}", who(r)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The lint findings for config `text`, as `LINE: message`.
    fn findings(text: &str) -> Vec<String> {
        let (config, diags) =
            super::super::load::load(Path::new("ntp.conf"), &mut |_| Ok(text.as_bytes().to_vec()));
        assert!(diags.is_empty(), "{diags:?}");
        let mut found: Vec<String> = lint(&config)
            .iter()
            .map(|d| format!("{}: {}", d.location.line, d.message))
            .collect();
        found.sort();
        found
    }

    fn fires(text: &str, line: u32, needle: &str) {
        let found = findings(text);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("{line}: lint: ")) && f.contains(needle)),
            "no '{needle}' at line {line} for\n{text}\n{found:#?}"
        );
    }

    fn silent(text: &str, needle: &str) {
        let found = findings(text);
        assert!(
            found.iter().all(|f| !f.contains(needle)),
            "'{needle}' for\n{text}\n{found:#?}"
        );
    }

    const RHEL6: &str = "restrict default kod nomodify notrap nopeer noquery\n\
                         restrict -6 default kod nomodify notrap nopeer noquery\n\
                         restrict 127.0.0.1\nrestrict -6 ::1\n";

    #[test]
    fn default_ignore_or_noquery_on_loopback() {
        fires(
            "restrict default ignore\n",
            1,
            "'ignore' also covers 127.0.0.1",
        );
        fires("restrict default ignore\n", 1, "add 'restrict -6 ::1'");
        let explicit = "restrict default noquery\nrestrict 127.0.0.1 noquery\nrestrict -6 ::1\n";
        fires(
            explicit,
            2,
            "'noquery' on 127.0.0.1: ntpq on this host gets no answer",
        );
        silent(RHEL6, "times out");
        silent(
            "restrict default ignore\nrestrict 127.0.0.1\nrestrict -6 ::1\n",
            "times out",
        );
        silent("restrict 127.0.0.1 noquery ntpport\n", "times out");
    }

    #[test]
    fn limited_against_iburst_clients() {
        let limited = "restrict default limited kod\n";
        fires(
            &format!("{limited}discard minimum 2\n"),
            1,
            "request 2 of its iburst (8 requests 2 s apart) refused and gets a kiss-o'-death",
        );
        fires(
            &format!("{limited}discard average 7\n"),
            1,
            "its poll 3 at 64 s",
        );
        silent(limited, "limited:");
        silent("discard minimum 2\n", "limited:");
    }

    #[test]
    fn discard_minimum_is_log2_seconds() {
        fires(
            "discard average 3 minimum 2\n",
            1,
            "discard minimum 2: 4.2.6p5 reads this as log2 seconds, 4 s",
        );
        silent("discard minimum 1\n", "log2 seconds");
        silent("discard average 5\n", "log2 seconds");
    }

    #[test]
    fn local_clock_beside_real_servers() {
        let local = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";
        fires(
            &format!("{local}server 10.0.0.1\nserver 10.0.0.2\nserver 10.0.0.3\n"),
            1,
            "stratum 11 and its clients cannot tell; write 'tos orphan 10'",
        );
        silent(local, "LOCAL(0)");
        silent(
            "server 10.0.0.1\nserver 10.0.0.2\nserver 10.0.0.3\n",
            "LOCAL",
        );
    }

    #[test]
    fn fewer_than_three_servers() {
        fires(
            "server 10.0.0.1 iburst\n",
            1,
            "one server: ntpd follows whatever it says",
        );
        fires(
            "server 127.127.1.0\nserver 10.0.0.1\npeer 10.0.0.2\n",
            2,
            "two servers: when they disagree",
        );
        let three = "server a.example iburst\nserver b.example iburst\nserver c.example iburst\n";
        silent(three, "servers");
        silent("pool pool.ntp.org iburst\nserver 10.0.0.1\n", "one server");
        silent("server 127.127.1.0\n", "server");
    }

    #[test]
    fn windows_symmetric_clients_without_nopeer() {
        fires(
            "disable auth\nrestrict default kod nomodify notrap noquery\n",
            2,
            "every other host (IPv4 and IPv6) may send symmetric active packets",
        );
        fires(
            "restrict default ignore\nrestrict 172.25.0.0 mask 255.255.255.0 nomodify\n\
             disable auth\n",
            2,
            "hosts in 172.25.0.0/24 may send symmetric active packets",
        );
        fires(
            "disable auth\n",
            1,
            "without a 'restrict default' line every host",
        );
        silent(
            "disable auth\nrestrict default kod nomodify notrap nopeer noquery\n\
             restrict 127.0.0.1\n",
            "symmetric",
        );
        silent(
            "restrict default kod nomodify notrap noquery\n",
            "symmetric",
        );
    }

    #[test]
    fn the_rhel6_defaults_are_clean() {
        let rhel6 = format!("{RHEL6}server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n");
        assert_eq!(findings(&rhel6), Vec::<String>::new());
    }
}
