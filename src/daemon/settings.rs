//! From a parsed ntp.conf and the command line to what the engine and the shell run with.
//! This is where "parsed but not acted on yet" is decided and logged once per directive.

use super::args::Options;
use super::listen::ListenPolicy;
use crate::config::{
    AssocKind, Config, Family, InterfaceAction, InterfaceMatch, RestrictTarget, Target,
};
use crate::engine::gate::{Gate, Rule};
use crate::refclock::local::{LocalClock, LocalFudge};
use crate::wire::ntp::RefId;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;

/// Directives the daemon reads but does not act on yet; `--check` warns about them too.
pub const NOT_ACTED_ON: &[&str] = &[
    "peer",
    "pool",
    "broadcast",
    "broadcastclient",
    "multicastclient",
    "manycastserver",
    "manycastclient",
    "broadcastdelay",
    "crypto",
    "keys",
    "trustedkey",
    "requestkey",
    "controlkey",
    "statistics",
    "statsdir",
    "filegen",
    "tinker",
    "tos",
    "leapfile",
    "setvar",
    "logconfig",
    "discard",
];

/// The shell's own settings.
#[derive(Clone, Debug, Default)]
pub struct ShellSettings {
    pub drift_path: Option<PathBuf>,
    pub log_file: Option<PathBuf>,
    pub listen: ListenPolicy,
}

/// Logs, once each, the directives present in `config` that are not acted on yet, and the
/// `server` lines naming network sources (the discipline issue brings them to life).
pub fn log_unsupported(config: &Config) {
    let mut said = BTreeSet::new();
    for (location, keyword) in &config.directives {
        if NOT_ACTED_ON.contains(keyword) && said.insert(*keyword) {
            log::warn!("{location}: '{keyword}' not supported yet");
        }
    }
    for assoc in &config.associations {
        if assoc.kind == AssocKind::Server
            && !matches!(assoc.target, Target::RefClock { .. })
            && said.insert("server")
        {
            log::warn!(
                "{}: network 'server' associations not supported yet",
                assoc.location
            );
        }
    }
}

/// The LOCAL(u) drivers configured with `server 127.127.1.u`, with their fudges.
pub fn local_clocks(config: &Config) -> Vec<LocalClock> {
    let mut out = Vec::new();
    for assoc in &config.associations {
        let Target::RefClock { clock_type, unit } = assoc.target else {
            continue;
        };
        if clock_type != 1 {
            log::warn!(
                "{}: reference clock type {clock_type} not supported",
                assoc.location
            );
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

fn full_mask(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::BROADCAST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(u128::MAX)),
    }
}

/// The restrict list; host names are resolved once, now, as classic does.
pub fn gate(config: &Config) -> Gate {
    let mut rules = Vec::new();
    for entry in &config.restrictions {
        let addrs: Vec<IpAddr> = match &entry.target {
            RestrictTarget::Default(family) => {
                let v4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
                let v6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
                let defaults = match family {
                    Some(Family::V4) => vec![v4],
                    Some(Family::V6) => vec![v6],
                    None => vec![v4, v6],
                };
                for addr in defaults {
                    rules.push(Rule {
                        addr,
                        mask: addr,
                        flags: entry.flags,
                    });
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
            let mask = entry
                .mask
                .filter(|m| m.is_ipv4() == addr.is_ipv4())
                .unwrap_or_else(|| full_mask(addr));
            rules.push(Rule {
                addr,
                mask,
                flags: entry.flags,
            });
        }
    }
    Gate::new(rules)
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

/// Shell settings: drift file (-f wins over ntp.conf), log file (-l wins), listen policy.
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
        drift_path: opts
            .driftfile
            .clone()
            .or_else(|| config.driftfile.as_ref().map(|d| d.path.clone())),
        log_file: opts.logfile.clone().or_else(|| config.log_file.clone()),
        listen,
    }
}
