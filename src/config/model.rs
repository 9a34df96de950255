//! The typed result of reading ntp.conf: what the daemon acts on.
//!
//! Fields left `None` were not given; the daemon applies classic's defaults, so a missing
//! value and an explicit default stay distinguishable (saveconfig and `--check` need that).

use std::net::IpAddr;
use std::path::PathBuf;

use super::diagnostic::Location;
use crate::restrict::RestrictFlags;
use crate::time::{NtpDuration, PollInterval, Ppm};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// What an association (or fudge) points at. Hostnames are resolved by the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Ip(IpAddr),
    Host(String),
    /// `127.127.T.U`: reference clock driver type T, unit U.
    RefClock {
        clock_type: u8,
        unit: u8,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssocKind {
    Server,
    Peer,
    Pool,
    Broadcast,
    ManycastClient,
}

impl AssocKind {
    pub fn keyword(self) -> &'static str {
        match self {
            AssocKind::Server => "server",
            AssocKind::Peer => "peer",
            AssocKind::Pool => "pool",
            AssocKind::Broadcast => "broadcast",
            AssocKind::ManycastClient => "manycastclient",
        }
    }
}

/// One `server`/`peer`/`pool`/`broadcast`/`manycastclient` line.
#[derive(Clone, Debug, PartialEq)]
pub struct AssocConfig {
    pub kind: AssocKind,
    pub target: Target,
    /// `-4`/`-6` before the address: which family a hostname must resolve to.
    pub family: Option<Family>,
    pub iburst: bool,
    pub burst: bool,
    pub prefer: bool,
    pub noselect: bool,
    /// The `true` option (always survives the intersection algorithm).
    pub true_: bool,
    pub xleave: bool,
    pub preempt: bool,
    /// Parsed only: Autokey is not implemented.
    pub autokey: bool,
    pub minpoll: Option<PollInterval>,
    pub maxpoll: Option<PollInterval>,
    pub version: Option<u8>,
    pub key: Option<u32>,
    /// Parsed only (refclock mode / broadcast TTL).
    pub mode: Option<u32>,
    pub ttl: Option<u32>,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestrictTarget {
    /// `restrict default`: `None` when unqualified, which classic 4.2.6p5 applies to both
    /// the IPv4 and the IPv6 default entry (config_access adds it to both lists);
    /// `restrict -4 default` / `restrict -6 default` touch one family only.
    Default(Option<Family>),
    Addr(IpAddr),
    Host(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestrictEntry {
    pub target: RestrictTarget,
    /// `mask M`; `None` means a host mask (all ones) for addresses and hosts.
    pub mask: Option<IpAddr>,
    pub flags: RestrictFlags,
    pub location: Location,
}

/// `fudge 127.127.T.U ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fudge {
    pub clock_type: u8,
    pub unit: u8,
    pub stratum: Option<u8>,
    /// Up to four ASCII bytes, zero padded, as classic copies them.
    pub refid: Option<[u8; 4]>,
    pub time1: Option<NtpDuration>,
    pub time2: Option<NtpDuration>,
    pub flags: [Option<bool>; 4],
    pub location: Location,
}

/// A switch of `enable`/`disable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemFlag {
    Auth,
    Bclient,
    Calibrate,
    Kernel,
    /// 4.2.8's `enable mode7`: answer mode 7 (ntpdc) from other hosts, not only this one.
    Mode7,
    Monitor,
    Ntp,
    Pps,
    Stats,
}

impl SystemFlag {
    pub const ALL: [SystemFlag; 9] = [
        SystemFlag::Auth,
        SystemFlag::Bclient,
        SystemFlag::Calibrate,
        SystemFlag::Kernel,
        SystemFlag::Mode7,
        SystemFlag::Monitor,
        SystemFlag::Ntp,
        SystemFlag::Pps,
        SystemFlag::Stats,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            SystemFlag::Auth => "auth",
            SystemFlag::Bclient => "bclient",
            SystemFlag::Calibrate => "calibrate",
            SystemFlag::Kernel => "kernel",
            SystemFlag::Mode7 => "mode7",
            SystemFlag::Monitor => "monitor",
            SystemFlag::Ntp => "ntp",
            SystemFlag::Pps => "pps",
            SystemFlag::Stats => "stats",
        }
    }

    pub fn from_keyword(word: &str) -> Option<SystemFlag> {
        SystemFlag::ALL.into_iter().find(|f| f.keyword() == word)
    }
}

/// The `enable`/`disable` switches, starting from classic 4.2.6p5's defaults: auth, kernel,
/// monitor, ntp and stats on (init_proto sets `stats_control = 1`; monlist being on by
/// default is why RHEL6 ships `disable monitor`), bclient, calibrate and pps off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemFlags {
    pub auth: bool,
    pub bclient: bool,
    pub calibrate: bool,
    pub kernel: bool,
    pub mode7: bool,
    pub monitor: bool,
    pub ntp: bool,
    pub pps: bool,
    pub stats: bool,
}

impl Default for SystemFlags {
    fn default() -> SystemFlags {
        SystemFlags {
            auth: true,
            bclient: false,
            calibrate: false,
            kernel: true,
            mode7: false,
            monitor: true,
            ntp: true,
            pps: false,
            stats: true,
        }
    }
}

impl SystemFlags {
    pub fn set(&mut self, flag: SystemFlag, on: bool) {
        let slot = match flag {
            SystemFlag::Auth => &mut self.auth,
            SystemFlag::Bclient => &mut self.bclient,
            SystemFlag::Calibrate => &mut self.calibrate,
            SystemFlag::Kernel => &mut self.kernel,
            SystemFlag::Mode7 => &mut self.mode7,
            SystemFlag::Monitor => &mut self.monitor,
            SystemFlag::Ntp => &mut self.ntp,
            SystemFlag::Pps => &mut self.pps,
            SystemFlag::Stats => &mut self.stats,
        };
        *slot = on;
    }
}

/// `tinker`: clock discipline knobs. `panic 0` / `step 0` keep classic's meaning (disabled),
/// left for the discipline to interpret.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tinker {
    pub panic: Option<NtpDuration>,
    pub step: Option<NtpDuration>,
    pub stepout: Option<NtpDuration>,
    /// Dispersion growth rate (PHI), PPM.
    pub dispersion: Option<Ppm>,
    /// Allan intercept exactly as written (log2 seconds in 4.2.6p5).
    pub allan: Option<f64>,
    pub huffpuff: Option<NtpDuration>,
    /// Initial frequency offset.
    pub freq: Option<Ppm>,
    /// `maxslewrate` (an extension, chrony's name): the fastest the discipline slews.
    pub maxslewrate: Option<Ppm>,
}

/// `tos`: system selection knobs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tos {
    pub minsane: Option<u32>,
    pub minclock: Option<u32>,
    pub maxclock: Option<u32>,
    pub maxdist: Option<NtpDuration>,
    pub mindist: Option<NtpDuration>,
    pub ceiling: Option<u8>,
    pub floor: Option<u8>,
    pub orphan: Option<u8>,
    pub orphanwait: Option<NtpDuration>,
    pub beacon: Option<NtpDuration>,
    pub cohort: Option<bool>,
}

/// `discard` as 4.2.6p5 reads it: raw numbers (average/minimum in log2 seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discard {
    pub average: Option<i32>,
    pub minimum: Option<i32>,
    pub monitor: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceAction {
    Listen,
    Ignore,
    Drop,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceMatch {
    All,
    Ipv4,
    Ipv6,
    Wildcard,
    Name(String),
    /// An address, optionally `/PREFIX`; without a prefix only that address matches.
    Addr {
        addr: IpAddr,
        prefix: Option<u8>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceRule {
    pub action: InterfaceAction,
    pub matcher: InterfaceMatch,
    pub location: Location,
}

/// A statistics file name, for `statistics` and `filegen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatsFile {
    Clockstats,
    Cryptostats,
    Loopstats,
    Peerstats,
    Rawstats,
    Sysstats,
    Timingstats,
    Protostats,
}

impl StatsFile {
    pub const ALL: [StatsFile; 8] = [
        StatsFile::Clockstats,
        StatsFile::Cryptostats,
        StatsFile::Loopstats,
        StatsFile::Peerstats,
        StatsFile::Rawstats,
        StatsFile::Sysstats,
        StatsFile::Timingstats,
        StatsFile::Protostats,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            StatsFile::Clockstats => "clockstats",
            StatsFile::Cryptostats => "cryptostats",
            StatsFile::Loopstats => "loopstats",
            StatsFile::Peerstats => "peerstats",
            StatsFile::Rawstats => "rawstats",
            StatsFile::Sysstats => "sysstats",
            StatsFile::Timingstats => "timingstats",
            StatsFile::Protostats => "protostats",
        }
    }

    pub fn from_keyword(word: &str) -> Option<StatsFile> {
        StatsFile::ALL.into_iter().find(|f| f.keyword() == word)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilegenType {
    None,
    Pid,
    Day,
    Week,
    Month,
    Year,
    Age,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filegen {
    pub name: StatsFile,
    pub file: Option<String>,
    pub kind: Option<FilegenType>,
    pub link: Option<bool>,
    pub enable: Option<bool>,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DriftFile {
    pub path: PathBuf,
    /// The optional wander tolerance after the path (parsed, not used by 4.2.6p5 logic).
    pub tolerance: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetVar {
    pub name: String,
    pub value: String,
    /// `default`: also sent in the default `ntpq -c rv` variable list.
    pub default: bool,
}

/// Everything ntp.conf said, after includes. Later lines override earlier ones for
/// single-valued settings, as in classic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    pub driftfile: Option<DriftFile>,
    pub associations: Vec<AssocConfig>,
    pub restrictions: Vec<RestrictEntry>,
    pub fudges: Vec<Fudge>,
    pub keys_file: Option<PathBuf>,
    pub trusted_keys: Vec<u32>,
    pub request_key: Option<u32>,
    pub control_key: Option<u32>,
    pub broadcast_client: bool,
    pub broadcast_novolley: bool,
    /// `multicastclient [ADDR...]`; `Some(empty)` means the default group 224.0.1.1.
    pub multicast_client: Option<Vec<Target>>,
    pub manycast_server: Vec<Target>,
    pub broadcast_delay: Option<NtpDuration>,
    /// `crypto` options as written (Autokey is not implemented).
    pub crypto: Option<Vec<(String, String)>>,
    pub statistics: Vec<StatsFile>,
    pub stats_dir: Option<PathBuf>,
    pub filegens: Vec<Filegen>,
    pub system: SystemFlags,
    pub log_file: Option<PathBuf>,
    /// `logconfig` items as written, e.g. `=syncall`, `+clockall`.
    pub log_config: Vec<String>,
    /// `ntpsigndsocket DIR` (Samba's signing socket; MS-SNTP signing is not done).
    pub ntp_signd_socket: Option<PathBuf>,
    /// `pidfile FILE`; `-p` wins over it.
    pub pidfile: Option<PathBuf>,
    /// `tick SECONDS`, carried as written (the kernel's own resolution is used).
    pub tick: Option<NtpDuration>,
    /// The last `enable bclient` line while it is in force: classic's other spelling of
    /// `broadcastclient` (`proto_config(PROTO_BROADCLIENT)` for both).
    pub bclient_at: Option<Location>,
    pub tinker: Tinker,
    pub tos: Tos,
    pub discard: Discard,
    pub interfaces: Vec<InterfaceRule>,
    pub leap_file: Option<PathBuf>,
    pub setvars: Vec<SetVar>,
    /// Every directive seen, in order, so the daemon can say which it does not act on.
    pub directives: Vec<(Location, &'static str)>,
}

impl Config {
    /// Whether this host is to be a broadcast/multicast client: `broadcastclient`,
    /// `multicastclient` or `enable bclient`.
    pub fn broadcast_client_mode(&self) -> bool {
        self.broadcast_client || self.multicast_client.is_some() || self.system.bclient
    }

    /// The logconfig mask the lines give (classic's default when there are none).
    pub fn log_mask(&self) -> crate::logclass::LogMask {
        crate::logclass::LogMask::from_items(&self.log_config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_start_at_classic_defaults() {
        let mut f = SystemFlags::default();
        let on: Vec<&str> = SystemFlag::ALL
            .into_iter()
            .filter(|&flag| {
                let mut probe = f;
                probe.set(flag, false);
                probe != f
            })
            .map(SystemFlag::keyword)
            .collect();
        assert_eq!(on, ["auth", "kernel", "monitor", "ntp", "stats"]);
        f.set(SystemFlag::Monitor, false);
        assert!(!f.monitor);
    }
}
