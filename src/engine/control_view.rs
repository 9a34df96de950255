//! The engine as mode 6 sees it: snapshots of the system and association variables in the
//! shapes `crate::control` formats, and the monitor as an MRU source.

use super::peers::Peer;
use super::{AssocId, Engine, Source};
use crate::assoc::flash::Flash;
use crate::assoc::AssocMode;
use crate::clock::Clock;
use crate::control::{
    self, ClockVars, ControlState, IoStats, MonitorStats, MruEntry, MruSource, PacketStats,
    PeerStatus, PeerVars, ServerStats, SystemStatus,
};
use crate::discipline::loopfilter::ClockState;
use crate::refclock::driver::{Kind, RefClock};
use crate::refclock::local::{LocalClock, DISPERSION_SECS};
use crate::restrict::{Monitor, RestrictFlag, RestrictFlags};
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ntp::Leap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Classic system status "clock source" codes: a PPS signal, a UHF radio (classic's class
/// of GPS receivers and SHM), the local clock and NTP.
const SOURCE_PPS: u8 = 1;
const SOURCE_UHF: u8 = 4;
const SOURCE_LOCAL: u8 = 5;
const SOURCE_NTP: u8 = 6;
/// Classic system events.
const EVENT_FREQ_NOT_SET: u8 = 1;
const EVENT_FREQ_SET: u8 = 2;
const EVENT_SPIKE: u8 = 3;
const EVENT_FREQ_MODE: u8 = 4;
const EVENT_CLOCK_SYNC: u8 = 5;
/// Classic peer event "sys_peer" and the select code of the system peer.
const PEER_EVENT_SYS_PEER: u8 = 0xa;
const PEER_EVENT_MOBILIZE: u8 = 1;
const PEER_EVENT_REACHABLE: u8 = 4;
const SELECT_SYS_PEER: u8 = 6;
/// An empty clock filter stage's dispersion (MAXDISPERSE, 16 s).
const EMPTY_STAGE_SECS: f64 = 16.0;
/// Host and peer mode of a refclock association as classic reports them.
const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;

/// The version string ntpq shows in `rv`.
pub const VERSION: &str = crate::version::NTPD;

/// A read-only view of an engine at one instant.
pub struct View<'a, C: Clock> {
    pub engine: &'a Engine<C>,
    pub now: NtpTimestamp,
}

fn leap_bits(leap: Leap) -> u8 {
    leap.to_bits()
}

/// Classic's host mode / peer mode numbers of an association.
fn modes(mode: AssocMode) -> (u8, u8) {
    match mode {
        AssocMode::Client => (MODE_CLIENT, MODE_SERVER),
        AssocMode::SymmetricActive => (1, 2),
        AssocMode::SymmetricPassive => (2, 1),
        // Classic's MODE_BROADCAST and MODE_BCLIENT (6); a manycast client is a client.
        AssocMode::Broadcast => (5, 0),
        AssocMode::BroadcastClient => (6, 5),
        AssocMode::ManycastClient => (MODE_CLIENT, MODE_SERVER),
    }
}

impl<C: Clock> View<'_, C> {
    fn local(&self, assoc_id: u16) -> Option<&LocalClock> {
        match self.engine.sources.get(AssocId(assoc_id))? {
            Source::Local(local) => Some(local),
            Source::Network(_) | Source::Device(_) => None,
        }
    }

    fn device(&self, assoc_id: u16) -> Option<&RefClock> {
        match self.engine.sources.get(AssocId(assoc_id))? {
            Source::Device(device) => Some(device),
            _ => None,
        }
    }

    fn device_status(&self, device: &RefClock) -> PeerStatus {
        let select = device.status as u8;
        let reachable = device.reach != 0;
        PeerStatus {
            configured: true,
            reachable,
            select,
            event_count: 1 + u8::from(reachable) + u8::from(select >= SELECT_SYS_PEER),
            last_event: if select >= SELECT_SYS_PEER {
                PEER_EVENT_SYS_PEER
            } else if reachable {
                PEER_EVENT_REACHABLE
            } else {
                PEER_EVENT_MOBILIZE
            },
            ..PeerStatus::default()
        }
    }

    /// A device clock's peer variables: its last poll's sample as the one filter stage
    /// classic's refclock peers show.
    fn device_vars(&self, assoc_id: u16, d: &RefClock) -> PeerVars {
        let sample = d.last_sample;
        let mut filtoffset = [NtpDuration::ZERO; 8];
        let mut filtdisp = [NtpDuration::from_secs_f64(EMPTY_STAGE_SECS); 8];
        if let Some(s) = sample {
            filtoffset[0] = s.offset;
            filtdisp[0] = s.dispersion;
        }
        let base = self.refclock_vars(assoc_id, d.address(), d.poll.0, sample);
        PeerVars {
            status: self.device_status(d),
            leap: leap_bits(d.leap),
            stratum: d.stratum(),
            precision: d.precision,
            refid: d.refid(),
            reftime: base.rec,
            reach: d.reach,
            dispersion: sample.map_or(filtdisp[0], |s| s.dispersion),
            jitter: d.jitter,
            filtoffset,
            filtdisp,
            ..base
        }
    }

    /// What every reference clock's peer variables share: a client of 127.127.T.U at
    /// `poll`, with the last sample's time and offset.
    fn refclock_vars(
        &self,
        assoc_id: u16,
        addr: Ipv4Addr,
        poll: i8,
        sample: Option<crate::discipline::sample::Sample>,
    ) -> PeerVars {
        PeerVars {
            assoc_id,
            status: PeerStatus::default(),
            srcadr: SocketAddr::new(IpAddr::V4(addr), 123),
            dstadr: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 123)),
            is_refclock: true,
            leap: 0,
            stratum: 0,
            precision: self.engine.system.vars.precision,
            root_delay: NtpDuration::ZERO,
            root_dispersion: NtpDuration::ZERO,
            refid: crate::wire::ntp::RefId([0; 4]),
            reftime: NtpTimestamp::ZERO,
            rec: sample.map_or(NtpTimestamp::ZERO, |s| s.time),
            reach: 0,
            unreach: 0,
            hmode: MODE_CLIENT,
            pmode: MODE_SERVER,
            hpoll: poll,
            ppoll: poll,
            headway: 0,
            flash: 0,
            keyid: 0,
            offset: sample.map_or(NtpDuration::ZERO, |s| s.offset),
            delay: NtpDuration::ZERO,
            dispersion: NtpDuration::ZERO,
            jitter: NtpDuration::ZERO,
            xleave: None,
            filtdelay: [NtpDuration::ZERO; 8],
            filtoffset: [NtpDuration::ZERO; 8],
            filtdisp: [NtpDuration::ZERO; 8],
            reason: self.reason(assoc_id),
        }
    }

    /// The system peer, synchronised or not (with `disable ntp` classic keeps one while
    /// it stays at leap 11).
    fn system_peer(&self) -> Option<u16> {
        let sys = &self.engine.system.vars;
        sys.peer.and_then(|id| u16::try_from(id).ok())
    }

    fn local_status(&self, assoc_id: u16, local: &LocalClock) -> PeerStatus {
        let sys_peer = self.system_peer() == Some(assoc_id);
        PeerStatus {
            configured: true,
            reachable: local.reach != 0,
            select: if sys_peer { SELECT_SYS_PEER } else { 0 },
            event_count: if sys_peer { 3 } else { 1 },
            last_event: if sys_peer { PEER_EVENT_SYS_PEER } else { 1 },
            ..PeerStatus::default()
        }
    }

    fn peer_status(&self, peer: &Peer) -> PeerStatus {
        let a = &peer.assoc;
        let select = a.status() as u8;
        let reachable = a.reach() != 0;
        let last_event = if select == SELECT_SYS_PEER {
            PEER_EVENT_SYS_PEER
        } else if reachable {
            PEER_EVENT_REACHABLE
        } else {
            PEER_EVENT_MOBILIZE
        };
        PeerStatus {
            configured: a.config().configured,
            auth_enabled: a.config().key.is_some(),
            authentic: a.authentic(),
            reachable,
            select,
            event_count: 1 + u8::from(reachable) + u8::from(select == SELECT_SYS_PEER),
            last_event,
            ..PeerStatus::default()
        }
    }

    /// The 8-stage filter as classic shows a refclock's: present stages carry the sample,
    /// missing ones the 16 s of an empty stage.
    fn filter(&self, local: &LocalClock) -> ([NtpDuration; 8], [NtpDuration; 8], NtpDuration) {
        let mut offsets = [NtpDuration::ZERO; 8];
        let mut disps = [NtpDuration::from_secs_f64(EMPTY_STAGE_SECS); 8];
        let samples = local.reach.count_ones() as usize;
        let offset = local.last_sample.map_or(NtpDuration::ZERO, |s| s.offset);
        for i in 0..samples.min(8) {
            offsets[i] = offset;
            disps[i] = NtpDuration::ZERO;
        }
        let dispersion = disps
            .iter()
            .enumerate()
            .fold(NtpDuration::ZERO, |acc, (i, d)| {
                acc + d.mul_f64(0.5f64.powi(i as i32 + 1))
            });
        (offsets, disps, dispersion)
    }

    fn local_vars(&self, assoc_id: u16, local: &LocalClock) -> PeerVars {
        let (filtoffset, filtdisp, dispersion) = self.filter(local);
        PeerVars {
            status: self.local_status(assoc_id, local),
            stratum: local.fudge.stratum,
            root_dispersion: NtpDuration::from_secs_f64(DISPERSION_SECS),
            refid: local.fudge.refid,
            reach: local.reach,
            dispersion,
            filtoffset,
            filtdisp,
            ..self.refclock_vars(assoc_id, local.address(), local.poll().0, local.last_sample)
        }
    }

    fn network_vars(&self, peer: &Peer) -> PeerVars {
        let a = &peer.assoc;
        let h = a.peer_header();
        let f = a.filter();
        let stages = f.stages_newest_first();
        let (hmode, pmode) = modes(a.config().mode);
        PeerVars {
            assoc_id: peer.assoc_id.0,
            status: self.peer_status(peer),
            srcadr: peer.addr,
            dstadr: peer.local,
            is_refclock: false,
            leap: leap_bits(h.leap),
            stratum: h.stratum,
            precision: h.precision,
            root_delay: h.root_delay.to_duration(),
            root_dispersion: h.root_dispersion.to_duration(),
            refid: h.refid,
            reftime: h.reference_time,
            rec: a.last_received(),
            reach: a.reach(),
            unreach: a.unreach(),
            hmode,
            pmode,
            hpoll: a.hpoll().0,
            ppoll: a.ppoll().0,
            headway: 0,
            // The packet tests of the last packet, and the peer tests as of now (classic
            // runs them every selection; a dead server shows peer_stratum, peer_dist and
            // peer_unreach, 1600, rather than "ok").
            flash: (a.flash().0 & !Flash::PEER_MASK)
                | a.unfit(
                    self.engine.clock.mono(),
                    &self.engine.system.vars,
                    &self.engine.system.tos,
                    &self.engine.own_refids,
                ),
            keyid: a.config().key.unwrap_or(0),
            offset: f.offset(),
            delay: f.delay(),
            dispersion: f.dispersion(),
            jitter: f.jitter(),
            xleave: Some(NtpDuration::ZERO),
            filtdelay: stages.map(|s| s.0),
            filtoffset: stages.map(|s| s.1),
            filtdisp: stages.map(|s| s.2),
            reason: self.reason(peer.assoc_id.0),
        }
    }

    fn reason(&self, assoc_id: u16) -> String {
        self.engine
            .reason(AssocId(assoc_id))
            .map_or(String::new(), |r| r.to_string())
    }
}

impl<C: Clock> View<'_, C> {
    /// The monitor as `monstats` shows it. It recycles its oldest entry only when full,
    /// whatever the age, and never shrinks, so the peak is the current depth.
    fn monitor_stats(&self) -> MonitorStats {
        let m = self.engine.access.monitor();
        MonitorStats {
            enabled: m.is_active(),
            depth: m.len() as u64,
            deepest: m.len() as u64,
            min_depth: m.capacity() as u64,
            max_age: 0,
            max_depth: m.capacity() as u64,
            entry_octets: std::mem::size_of::<crate::restrict::MonEntry>() as u64,
        }
    }
}

impl<C: Clock> ControlState for View<'_, C> {
    fn stats(&self) -> ServerStats {
        let c = self.engine.counters;
        let uptime = self.engine.clock.mono().saturating_sub(c.started).as_secs();
        ServerStats {
            uptime,
            since_reset: uptime,
            packets: PacketStats {
                received: c.received,
                this_version: c.this_version,
                old_version: c.old_version,
                bad_format: c.bad_format,
                bad_auth: c.bad_auth,
                declined: c.dropped + c.bogus,
                restricted: c.restricted,
                rate_limited: c.rate_limited,
                kod_sent: c.kissed,
                processed: c.served + c.to_associations,
            },
            monitor: self.monitor_stats(),
            io: IoStats {
                received: c.received,
                // Replies to clients and kisses (polls and control answers are not counted).
                sent: c.served + c.kissed,
                ..IoStats::default()
            },
            ..ServerStats::default()
        }
    }

    fn system(&self) -> control::SystemVars {
        let sys = &self.engine.system.vars;
        let loop_filter = &self.engine.system.discipline;
        let synced = sys.synchronized();
        let freq_event = if self.engine.settings.initial_frequency.is_some() {
            EVENT_FREQ_SET
        } else {
            EVENT_FREQ_NOT_SET
        };
        let local_peer = self
            .system_peer()
            .is_some_and(|id| self.local(id).is_some());
        let device_peer = self.system_peer().and_then(|id| self.device(id));
        control::SystemVars {
            status: SystemStatus {
                leap: leap_bits(sys.leap),
                source: if local_peer {
                    SOURCE_LOCAL
                } else if let Some(d) = device_peer {
                    // Classic's clocktypes[] for the driver.
                    match d.kind {
                        Kind::Pps => SOURCE_PPS,
                        Kind::Shm | Kind::Nmea => SOURCE_UHF,
                    }
                } else if synced {
                    SOURCE_NTP
                } else {
                    0
                },
                event_count: if synced { 2 } else { 1 },
                // The discipline's state as classic reports its last change: freq_mode
                // while the frequency is measured (now while serving), spike_detect while
                // a big offset waits out the stepout.
                last_event: match loop_filter.state() {
                    ClockState::Freq => EVENT_FREQ_MODE,
                    ClockState::Spik => EVENT_SPIKE,
                    _ if synced => EVENT_CLOCK_SYNC,
                    _ => freq_event,
                },
            },
            version: VERSION.to_string(),
            processor: std::env::consts::ARCH.to_string(),
            system: self.engine.settings.system_name.clone(),
            leap: leap_bits(sys.leap),
            stratum: sys.stratum,
            precision: sys.precision,
            root_delay: sys.root_delay,
            root_dispersion: sys.root_dispersion_at(self.now).to_duration(),
            refid: sys.refid,
            reftime: sys.reference_time,
            clock: self.now,
            peer: self.system_peer().unwrap_or(0),
            tc: loop_filter.poll().0,
            mintc: 3,
            offset: loop_filter.offset(),
            frequency: loop_filter.frequency(),
            sys_jitter: sys.jitter,
            clk_jitter: loop_filter.jitter(),
            clk_wander: loop_filter.wander(),
        }
    }

    fn associations(&self) -> Vec<(u16, PeerStatus)> {
        self.engine
            .sources
            .iter()
            .map(|(id, source)| match source {
                Source::Local(l) => (id.0, self.local_status(id.0, l)),
                Source::Device(d) => (id.0, self.device_status(d)),
                Source::Network(p) => (id.0, self.peer_status(p)),
            })
            .collect()
    }

    fn peer(&self, assoc_id: u16) -> Option<PeerVars> {
        Some(match self.engine.sources.get(AssocId(assoc_id))? {
            Source::Local(l) => self.local_vars(assoc_id, l),
            Source::Device(d) => self.device_vars(assoc_id, d),
            Source::Network(p) => self.network_vars(p),
        })
    }

    fn clock(&self, assoc_id: u16) -> Option<ClockVars> {
        if let Some(d) = self.device(assoc_id) {
            return Some(ClockVars {
                device: d.kind.description().to_string(),
                timecode: d.timecode.clone(),
                poll: d.counts.polls,
                noreply: d.counts.noreply,
                badformat: d.counts.badformat,
                baddata: d.counts.baddata,
                fudgetime1: d.fudge.time1,
                fudgetime2: d.fudge.time2,
                stratum: Some(d.stratum()),
                refid: Some(d.refid()),
                flags: d.fudge.flag_bits(),
                ..ClockVars::default()
            });
        }
        let local = self.local(assoc_id)?;
        Some(ClockVars {
            device: "Undisciplined local clock".to_string(),
            poll: local.reach.count_ones(),
            fudgetime1: Some(local.fudge.time1),
            stratum: Some(local.fudge.stratum),
            // Classic always reads back the fudge refid (LOCL unless fudged).
            refid: Some(local.fudge.refid),
            ..ClockVars::default()
        })
    }
}

/// Classic's RES_* bits, as `mrulist` prints them in its `rs` column.
fn classic_restrict_bits(flags: RestrictFlags) -> u16 {
    flags.iter().fold(0, |bits, f| {
        bits | match f {
            RestrictFlag::Ignore => 0x0001,
            RestrictFlag::NoServe => 0x0002,
            RestrictFlag::NoTrust => 0x0004,
            RestrictFlag::Version => 0x0008,
            RestrictFlag::NoPeer => 0x0010,
            RestrictFlag::Limited => 0x0020,
            RestrictFlag::NoQuery => 0x0040,
            RestrictFlag::NoModify => 0x0080,
            RestrictFlag::NoTrap => 0x0100,
            RestrictFlag::LowPrioTrap => 0x0200,
            RestrictFlag::Kod => 0x0400,
            RestrictFlag::NtpPort => 0,
        }
    })
}

/// The monitor, with its monotonic times mapped onto the daemon clock.
pub struct MruView<'a> {
    pub monitor: &'a Monitor,
    pub now: NtpTimestamp,
    pub now_mono: Duration,
}

impl MruView<'_> {
    fn at(&self, mono: Duration) -> NtpTimestamp {
        let ago = self.now_mono.saturating_sub(mono);
        self.now + -NtpDuration::from_nanos(i64::try_from(ago.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl MruSource for MruView<'_> {
    fn visit(&self, after: Option<NtpTimestamp>, visit: &mut dyn FnMut(&MruEntry) -> bool) {
        let entries: Vec<&crate::restrict::MonEntry> = self.monitor.iter().collect();
        for e in entries.into_iter().rev() {
            let entry = MruEntry {
                addr: SocketAddr::new(e.addr, e.port),
                first: self.at(e.first_seen),
                last: self.at(e.last_seen),
                count: u32::try_from(e.count).unwrap_or(u32::MAX),
                mode: e.mode.to_bits(),
                version: e.version,
                restrict: classic_restrict_bits(e.flags),
            };
            if after.is_some_and(|a| (entry.last - a).to_bits() <= 0) {
                continue;
            }
            if !visit(&entry) {
                return;
            }
        }
    }
}
