//! What the control protocol reads from the daemon: plain snapshot structs, filled by the
//! engine through the small [`ControlState`] trait, so mode 6 stays pure code.

use std::net::SocketAddr;

use super::ordlist::InterfaceStats;
use super::stats::ServerStats;
use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use crate::wire::ntp::RefId;

/// The system status word: leap (2 bits), clock source (6), event count (4), last event (4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemStatus {
    pub leap: u8,
    /// Classic `CTL_SST_TS_*`: 0 unspec, 1 pps, 2 lf radio, 3 hf radio, 4 uhf radio,
    /// 5 local, 6 ntp, 7 other, 8 wristwatch, 9 telephone.
    pub source: u8,
    pub event_count: u8,
    /// Classic system event code (1 freq_not_set, 2 freq_set, 5 clock_sync, ...).
    pub last_event: u8,
}

impl SystemStatus {
    pub fn word(self) -> u16 {
        (u16::from(self.leap & 3) << 14)
            | (u16::from(self.source & 0x3f) << 8)
            | (u16::from(self.event_count & 0xf) << 4)
            | u16::from(self.last_event & 0xf)
    }
}

/// The peer status word; `select` gives ntpq its tally character (`" x.-+#*o"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStatus {
    pub configured: bool,
    pub auth_enabled: bool,
    pub authentic: bool,
    pub reachable: bool,
    pub broadcast: bool,
    /// 0 reject, 1 falsetick, 2 excess, 3 outlier, 4 candidate, 5 backup, 6 sys.peer, 7 pps.
    pub select: u8,
    pub event_count: u8,
    /// Classic peer event code (1 mobilize, 4 reachable, 0xa sys_peer, ...).
    pub last_event: u8,
}

impl PeerStatus {
    pub fn word(self) -> u16 {
        let flags = (u16::from(self.configured) << 7)
            | (u16::from(self.auth_enabled) << 6)
            | (u16::from(self.authentic) << 5)
            | (u16::from(self.reachable) << 4)
            | (u16::from(self.broadcast) << 3);
        (flags << 8)
            | (u16::from(self.select & 7) << 8)
            | (u16::from(self.event_count & 0xf) << 4)
            | u16::from(self.last_event & 0xf)
    }
}

/// System variables (READVAR, association 0). Durations are shown in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemVars {
    pub status: SystemStatus,
    /// e.g. `ntpd 4.2.6p5@1.2349-o Mon Jan 1 00:00:00 UTC 2024 (1)`.
    pub version: String,
    pub processor: String,
    pub system: String,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    /// Shown as an address at strata 2..15 (`127.127.1.0` -> ntpq prints `LOCAL(0)`),
    /// as text otherwise (`INIT`).
    pub refid: RefId,
    pub reftime: NtpTimestamp,
    pub clock: NtpTimestamp,
    /// Association ID of the system peer, 0 if none.
    pub peer: u16,
    /// Current poll exponent (`tc`) and its minimum (`mintc`).
    pub tc: i8,
    pub mintc: i8,
    pub offset: NtpDuration,
    pub frequency: Ppm,
    pub sys_jitter: NtpDuration,
    pub clk_jitter: NtpDuration,
    pub clk_wander: Ppm,
}

/// Per-association variables (READVAR/READSTAT with an association ID).
#[derive(Clone, Debug, PartialEq)]
pub struct PeerVars {
    pub assoc_id: u16,
    pub status: PeerStatus,
    /// Remote address; a refclock is `127.127.t.u:123`.
    pub srcadr: SocketAddr,
    /// Local address, `None` while unbound (`0.0.0.0:0`).
    pub dstadr: Option<SocketAddr>,
    /// Refclocks print their refid as text whatever the stratum.
    pub is_refclock: bool,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    pub refid: RefId,
    pub reftime: NtpTimestamp,
    /// Receive time of the latest packet (ntpq's `when` column).
    pub rec: NtpTimestamp,
    pub reach: u8,
    pub unreach: u32,
    pub hmode: u8,
    pub pmode: u8,
    pub hpoll: i8,
    pub ppoll: i8,
    pub headway: u32,
    /// Flash bits of the last packet (classic TEST1..TEST13 as 0x0001..0x1000).
    pub flash: u16,
    pub keyid: u32,
    pub offset: NtpDuration,
    pub delay: NtpDuration,
    pub dispersion: NtpDuration,
    pub jitter: NtpDuration,
    /// Interleave delay; `None` for refclocks, which classic does not report it for.
    pub xleave: Option<NtpDuration>,
    /// Clock filter, newest first.
    pub filtdelay: [NtpDuration; 8],
    pub filtoffset: [NtpDuration; 8],
    pub filtdisp: [NtpDuration; 8],
    /// Why the source is, or is not, the system peer, in words (sent only when asked for
    /// by name, so the default list stays classic's).
    pub reason: String,
}

/// Refclock variables (READCLOCK), as LOCAL(0) reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClockVars {
    /// Clock status word (0 for LOCAL(0)).
    pub status: u16,
    pub device: String,
    pub timecode: String,
    pub poll: u32,
    pub noreply: u32,
    pub badformat: u32,
    pub baddata: u32,
    pub fudgetime1: Option<NtpDuration>,
    pub fudgetime2: Option<NtpDuration>,
    pub stratum: Option<u8>,
    pub refid: Option<RefId>,
    pub flags: u8,
}

/// The daemon's side of mode 6. Everything is a snapshot read at request time.
pub trait ControlState {
    fn system(&self) -> SystemVars;
    /// (association ID, status) of every association, in ntpd's order.
    fn associations(&self) -> Vec<(u16, PeerStatus)>;
    fn peer(&self, assoc_id: u16) -> Option<PeerVars>;
    /// Refclock variables of an association, `None` if it is no refclock.
    fn clock(&self, assoc_id: u16) -> Option<ClockVars>;
    /// Counters behind the 4.2.8 statistics variables (`sysstats`, `monstats`, ...).
    fn stats(&self) -> ServerStats {
        ServerStats::default()
    }
    /// The local addresses for `ifstats` (the daemon shell knows its sockets).
    fn interfaces(&self) -> Vec<InterfaceStats> {
        Vec::new()
    }
}
