//! From a parsed ntp.conf and the command line to what the engine and the shell run with.
//! This is where "parsed but not acted on yet" is decided and logged once per directive.

use super::args::Options;
use super::listen::ListenPolicy;
use crate::assoc::{AssocConfig, AssocMode};
use crate::config::{
    AssocKind, Config, Family as ConfFamily, InterfaceAction, InterfaceMatch, RestrictTarget,
    Target,
};
use crate::discipline::loopfilter::LoopConfig;
use crate::discipline::system::TosParams;
use crate::engine::peers::{refid_of, PeerSpec};
use crate::engine::{Casting, Orphan};
use crate::refclock::driver::{Fudge, Kind, RefClock};
use crate::refclock::local::{LocalClock, LocalFudge};
use crate::restrict::{
    AccessControl, Family, Monitor, RestrictEntry, RestrictList, DEFAULT_CAPACITY,
};
use crate::time::PollInterval;
use crate::wire::ntp::RefId;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

const NTP_PORT: u16 = 123;
use std::path::PathBuf;

/// Directives the daemon reads but does not act on yet; `--check` warns about them too.
pub const NOT_ACTED_ON: &[&str] = &["crypto", "setvar"];

/// Reference clock types the daemon runs: LOCAL, NMEA, PPS and SHM.
pub const REFCLOCKS_RUN: &[u8] = &[1, 20, 22, 28];

/// What `--check` and the start-up log measure a configuration against.
pub const SUPPORT: crate::config::Support<'static> = crate::config::Support {
    not_acted_on: NOT_ACTED_ON,
    refclocks: REFCLOCKS_RUN,
};

/// The shell's own settings.
#[derive(Clone, Debug, Default)]
pub struct ShellSettings {
    /// -p wins over the `pidfile` directive, as in classic.
    pub pid_path: Option<PathBuf>,
    pub drift_path: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    pub listen: ListenPolicy,
    /// Broadcast and manycast on the wildcard socket.
    pub groups: GroupSockets,
}

/// Logs, once each, what `config` asks for that is not acted on (as `--check` says it).
/// `discard average/minimum` are applied (see [`access`]); only its `monitor` is not.
pub fn log_unsupported(config: &Config) {
    let mut said = BTreeSet::new();
    for d in crate::config::unsupported(config, &SUPPORT) {
        if said.insert(d.message.clone()) {
            log::warn!("{d}");
        }
    }
    if config.discard.monitor.is_some() {
        let location = config
            .directives
            .iter()
            .rev()
            .find(|(_, keyword)| *keyword == "discard")
            .map(|(location, _)| format!("{location}: "))
            .unwrap_or_default();
        log::warn!("{location}'discard monitor' not supported yet; ignored");
    }
}

/// The LOCAL(u) drivers configured with `server 127.127.1.u`, with their fudges.
pub fn local_clocks(config: &Config) -> Vec<LocalClock> {
    let mut out = Vec::new();
    for assoc in &config.associations {
        let Target::RefClock { clock_type, unit } = assoc.target else {
            continue;
        };
        // Other types are device clocks (`refclocks`) or were warned about, naming the
        // driver, by `log_unsupported`.
        if clock_type != 1 {
            continue;
        }
        let mut fudge = LocalFudge::default();
        for f in config
            .fudges
            .iter()
            .filter(|f| f.clock_type == 1 && f.unit == unit)
        {
            fudge.stratum = f.stratum.unwrap_or(fudge.stratum);
            fudge.refid = f.refid.map(RefId).unwrap_or(fudge.refid);
            fudge.time1 = f.time1.unwrap_or(fudge.time1);
        }
        out.push(LocalClock::new(unit, fudge));
    }
    out
}

/// The device clocks (SHM, NMEA, PPS) of `server 127.127.T.U` lines, with their fudges,
/// `prefer`, `minpoll`, `mode` and `path`.
pub fn refclocks(config: &Config) -> Vec<RefClock> {
    let mut out = Vec::new();
    for assoc in &config.associations {
        let Target::RefClock { clock_type, unit } = assoc.target else {
            continue;
        };
        let Some(kind) = Kind::from_type(clock_type) else {
            continue;
        };
        let mut fudge = Fudge::default();
        for f in config
            .fudges
            .iter()
            .filter(|f| f.clock_type == clock_type && f.unit == unit)
        {
            fudge.time1 = f.time1.or(fudge.time1);
            fudge.time2 = f.time2.or(fudge.time2);
            fudge.stratum = f.stratum.or(fudge.stratum);
            fudge.refid = f.refid.map(RefId).or(fudge.refid);
            for (set, given) in fudge.flags.iter_mut().zip(f.flags) {
                *set = given.unwrap_or(*set);
            }
        }
        let mut clock = RefClock::new(
            kind,
            unit,
            fudge,
            assoc.mode.unwrap_or(0),
            assoc.path.clone(),
        );
        clock.prefer = assoc.prefer;
        clock.poll = assoc.minpoll.unwrap_or(PollInterval::DEFAULT_MIN);
        out.push(clock);
    }
    out
}

/// Restrict list and monitor. Host names are resolved once, now, as classic does; each of
/// our own addresses gets classic's `ignore ntpport` entry so we never answer ourselves.
pub fn access(config: &Config, own_addresses: &[IpAddr]) -> AccessControl {
    let mut list = RestrictList::new();
    for entry in &config.restrictions {
        let addrs: Vec<IpAddr> = match &entry.target {
            RestrictTarget::Default(family) => {
                let families = match family {
                    Some(ConfFamily::V4) => &[Family::V4][..],
                    Some(ConfFamily::V6) => &[Family::V6][..],
                    None => &[Family::V4, Family::V6][..],
                };
                for f in families {
                    list.add_default(*f, entry.flags);
                }
                continue;
            }
            RestrictTarget::Addr(addr) => vec![*addr],
            RestrictTarget::Host(name) => match (name.as_str(), 0).to_socket_addrs() {
                Ok(found) => found.map(|s| s.ip()).collect(),
                Err(err) => {
                    log::warn!("{}: restrict {name}: {err}; line ignored", entry.location);
                    continue;
                }
            },
        };
        for addr in addrs {
            let mask = entry.mask.filter(|m| m.is_ipv4() == addr.is_ipv4());
            if let Err(err) = list.add(RestrictEntry {
                addr,
                mask,
                flags: entry.flags,
            }) {
                log::warn!("{}: {err}; line ignored", entry.location);
            }
        }
    }
    for addr in own_addresses {
        list.add_interface(*addr);
    }
    let mut monitor = Monitor::new(DEFAULT_CAPACITY);
    monitor.set_enabled(config.system.monitor);
    let mut access = AccessControl::new(list, monitor);
    access.set_rate_limits(config.discard.rate_limits());
    access
}

fn rule_text(matcher: &InterfaceMatch) -> String {
    match matcher {
        InterfaceMatch::All | InterfaceMatch::Wildcard => "all".into(),
        InterfaceMatch::Ipv4 => "ipv4".into(),
        InterfaceMatch::Ipv6 => "ipv6".into(),
        InterfaceMatch::Name(name) => name.clone(),
        InterfaceMatch::Addr { addr, .. } => addr.to_string(),
    }
}

/// Shell settings: PID file (-p wins over ntp.conf), drift file (-f wins), log file (-l
/// wins), listen policy.
pub fn shell(config: &Config, opts: &Options) -> ShellSettings {
    let mut listen = ListenPolicy {
        ipv4: !opts.ipv6_only,
        ipv6: !opts.ipv4_only,
        only: opts.interfaces.clone(),
        ignore: Vec::new(),
        no_virtual: opts.no_virtual_ips,
    };
    for rule in &config.interfaces {
        let text = rule_text(&rule.matcher);
        match rule.action {
            InterfaceAction::Listen => listen.only.push(text),
            InterfaceAction::Ignore | InterfaceAction::Drop => listen.ignore.push(text),
        }
    }
    ShellSettings {
        pid_path: opts.pidfile.clone().or_else(|| config.pidfile.clone()),
        drift_path: opts
            .driftfile
            .clone()
            .or_else(|| config.driftfile.as_ref().map(|d| d.path.clone())),
        log_file: opts.logfile.clone().or_else(|| config.log_file.clone()),
        listen,
        groups: group_sockets(config),
    }
}

/// Classic's `system` variable, uname's sysname "/" release (`Linux/6.1.0-18-amd64`),
/// read from /proc/sys/kernel, which holds the same two strings as uname(2) returns.
pub fn system_name() -> String {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let sysname = read("ostype").unwrap_or_else(|| "Linux".into());
    match read("osrelease") {
        Some(release) => format!("{sysname}/{release}"),
        None => sysname,
    }
}

/// A host name still to resolve into association(s): classic resolves names off the main
/// loop (its ntp_intres child) so absent DNS never stalls time service.
#[derive(Clone, Debug, PartialEq)]
pub struct NameRequest {
    pub name: String,
    pub family: Option<ConfFamily>,
    /// `pool`: every address becomes an association (up to `tos maxclock`).
    pub pool: bool,
    pub template: AssocConfig,
    pub location: String,
}

/// The network associations of ntp.conf: address literals now, names for the resolver.
pub fn sources(config: &Config, opts: &Options) -> (Vec<PeerSpec>, Vec<NameRequest>) {
    let mut now = Vec::new();
    let mut later = Vec::new();
    for a in &config.associations {
        let kind = match a.kind {
            AssocKind::Server | AssocKind::Pool => AssocMode::Client,
            AssocKind::Peer => AssocMode::SymmetricActive,
            AssocKind::Broadcast => AssocMode::Broadcast,
            AssocKind::ManycastClient => AssocMode::ManycastClient,
        };
        let template = AssocConfig {
            id: 0,
            mode: kind,
            version: a.version.unwrap_or(4),
            min_poll: a.minpoll.unwrap_or(PollInterval::DEFAULT_MIN),
            max_poll: a.maxpoll.unwrap_or(PollInterval::DEFAULT_MAX),
            iburst: a.iburst || opts.quit,
            burst: a.burst,
            prefer: a.prefer,
            noselect: a.noselect,
            truechimer: a.true_,
            configured: a.kind != AssocKind::Pool,
            addr_refid: RefId::INIT,
            key: a.key,
        };
        match &a.target {
            Target::RefClock { .. } => {}
            Target::Ip(ip) => now.push(spec(*ip, template)),
            Target::Host(name) => later.push(NameRequest {
                name: name.clone(),
                family: a.family,
                pool: a.kind == AssocKind::Pool,
                template,
                location: a.location.to_string(),
            }),
        }
    }
    (now, later)
}

/// The association for `ip` made from a line's settings.
pub fn spec(ip: IpAddr, template: AssocConfig) -> PeerSpec {
    PeerSpec {
        addr: SocketAddr::new(ip, NTP_PORT),
        config: AssocConfig {
            addr_refid: refid_of(ip),
            ..template
        },
    }
}

/// The discipline's thresholds: `tinker` lines, then -g, -x and -q as classic applies them.
pub fn loop_config(config: &Config, opts: &Options) -> LoopConfig {
    let t = &config.tinker;
    let mut lc = LoopConfig::default();
    lc.step = t.step.unwrap_or(lc.step);
    lc.panic = t.panic.unwrap_or(lc.panic);
    if let Some(stepout) = t.stepout {
        lc.stepout = Duration::from_secs_f64(stepout.to_secs_f64().max(0.0));
    }
    lc.max_slew_rate = t.maxslewrate.unwrap_or(lc.max_slew_rate);
    lc.allow_panic = opts.panic_gate;
    lc.once = opts.quit;
    if opts.slew_only {
        lc = lc.slew_only();
    }
    lc
}

/// `tos` knobs over classic's defaults.
pub fn tos(config: &Config) -> TosParams {
    let t = &config.tos;
    let mut p = TosParams::default();
    let count = |v: Option<u32>, d: usize| v.map_or(d, |n| n as usize);
    p.min_sane = count(t.minsane, p.min_sane);
    p.min_clock = count(t.minclock, p.min_clock);
    p.max_dist = t.maxdist.unwrap_or(p.max_dist);
    p.min_dist = t.mindist.unwrap_or(p.min_dist);
    p.floor = t.floor.unwrap_or(p.floor);
    p.ceiling = t.ceiling.unwrap_or(p.ceiling);
    p
}

/// Broadcast client and manycast server settings.
pub fn casting(config: &Config) -> Casting {
    let default = Casting::default();
    Casting {
        broadcast_client: config.system.bclient,
        volley: !config.broadcast_novolley,
        broadcast_delay: config.broadcast_delay.unwrap_or(default.broadcast_delay),
        manycast_server: !config.manycast_server.is_empty(),
        max_clock: max_clock(config),
    }
}

/// What the wildcard IPv4 socket must do for broadcast and manycast: receive datagrams
/// sent to group addresses, join multicast groups, send to broadcast addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupSockets {
    /// Hand what arrives on the wildcard socket to the engine (which keeps only
    /// broadcasts and manycast requests).
    pub receive: bool,
    /// Multicast groups to join (`multicastclient`, `manycastserver` with a group).
    pub join: Vec<Ipv4Addr>,
    /// We send to broadcast or multicast addresses (`broadcast`, `manycastclient`).
    pub send: bool,
    /// Multicast TTL of what we send (the largest `ttl` given; classic's default 127).
    pub ttl: u32,
}

/// The wildcard socket's part in broadcast and manycast.
pub fn group_sockets(config: &Config) -> GroupSockets {
    let casting = casting(config);
    let v4 = |t: &Target| match t {
        Target::Ip(IpAddr::V4(a)) if a.is_multicast() => Some(*a),
        _ => None,
    };
    let mut join: Vec<Ipv4Addr> = config
        .multicast_client
        .iter()
        .filter_map(v4)
        .chain(config.manycast_server.iter().filter_map(v4))
        .collect();
    join.sort();
    join.dedup();
    let senders = config
        .associations
        .iter()
        .filter(|a| matches!(a.kind, AssocKind::Broadcast | AssocKind::ManycastClient));
    GroupSockets {
        receive: casting.broadcast_client || casting.manycast_server,
        join,
        send: senders.clone().next().is_some(),
        ttl: senders.filter_map(|a| a.ttl).max().unwrap_or(127).min(255),
    }
}

/// `tos maxclock`: how many associations a pool may mobilise (classic default 10).
pub fn max_clock(config: &Config) -> usize {
    config.tos.maxclock.map_or(10, |n| n as usize)
}

/// `tos orphan N orphanwait W` (classic waits 300 s by default).
pub fn orphan(config: &Config) -> Option<Orphan> {
    let stratum = config.tos.orphan?;
    let wait = config.tos.orphanwait.map_or(Duration::from_secs(300), |w| {
        Duration::from_secs_f64(w.to_secs_f64().max(0.0))
    });
    Some(Orphan { stratum, wait })
}
