//! The engine's sources of time in one table, each named by an association ID (the ID
//! ntpq shows): network associations (by remote address, [`PeerTable`]), reference clocks
//! (the LOCAL driver, and the SHM, NMEA and PPS device clocks) and orphan mode's
//! stand-in. Reference clocks take the first IDs, as classic's configuration
//! order gives them, then network associations by ID (mobilisation order until the IDs
//! wrap; they never take a reference clock's).

use super::peers::{Peer, PeerSpec, PeerTable};
use super::Orphan;
use crate::discipline::select::SelectStatus;
use crate::discipline::system::Contender;
use crate::refclock::driver::{Kind, RefClock};
use crate::refclock::local::{LocalClock, LocalFudge};
use crate::refclock::pps::CAPTURE_RANGE_SECS;
use crate::stats::{ClockStats, Record};
use crate::time::{NtpDuration, NtpTimestamp, PollInterval};
use crate::wire::ntp::RefId;
use std::fmt;
use std::time::Duration;

/// An association ID (classic `associd`): names one source in mode 6 and in selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssocId(pub u16);

impl AssocId {
    /// The ID the system process knows the source by.
    pub fn selection_id(self) -> u32 {
        u32::from(self.0)
    }

    /// The association behind a system peer ID (orphan mode's 0 is none).
    pub fn from_selection(id: u32) -> Option<AssocId> {
        u16::try_from(id).ok().filter(|&id| id != 0).map(AssocId)
    }
}

impl fmt::Display for AssocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The system peer ID while orphan mode is the time source: no association, as classic
/// reports it.
pub use crate::discipline::system::ORPHAN_ID;

/// One source, as mode 6 and the logs see it.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Network(&'a Peer),
    Local(&'a LocalClock),
    /// A device reference clock (SHM, NMEA, PPS).
    Device(&'a RefClock),
}

/// Every source of the engine.
#[derive(Clone, Debug)]
pub struct Sources {
    network: PeerTable,
    /// Reference clocks, polled together on their own timer.
    refclocks: Vec<(AssocId, LocalClock)>,
    /// Device reference clocks, each polled on its own interval.
    devices: Vec<(AssocId, RefClock)>,
    orphan: Option<Orphan>,
    next_refclock_poll: Duration,
}

impl Sources {
    /// The configured reference clocks (LOCAL ones, then device clocks, numbered from
    /// `first_id`) and orphan mode; network associations are added with
    /// [`Sources::mobilize`].
    pub fn new(
        first_id: u16,
        refclocks: &[LocalClock],
        devices: &[RefClock],
        orphan: Option<Orphan>,
        now: Duration,
    ) -> Sources {
        let first_id = first_id.max(1);
        let id = |i: usize| AssocId(first_id.saturating_add(i as u16));
        let refclocks: Vec<(AssocId, LocalClock)> = refclocks
            .iter()
            .enumerate()
            .map(|(i, l)| (id(i), l.clone()))
            .collect();
        let devices: Vec<(AssocId, RefClock)> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut d = d.clone();
                d.start(now);
                (id(refclocks.len() + i), d)
            })
            .collect();
        // Network IDs never take a reference clock's, even once they wrap around.
        let network_first = first_id.saturating_add((refclocks.len() + devices.len()) as u16);
        Sources {
            network: PeerTable::new(network_first, first_id..network_first),
            refclocks,
            devices,
            orphan,
            next_refclock_poll: now,
        }
    }

    /// Adds a network association unless one with that address exists.
    pub fn mobilize(&mut self, spec: PeerSpec, now: Duration) -> Option<AssocId> {
        self.network.mobilize(spec, now)
    }

    /// The network associations.
    pub fn network(&self) -> &PeerTable {
        &self.network
    }

    pub fn network_mut(&mut self) -> &mut PeerTable {
        &mut self.network
    }

    /// The reference clocks with their IDs.
    pub fn refclocks(&self) -> impl Iterator<Item = (AssocId, &LocalClock)> {
        self.refclocks.iter().map(|(id, l)| (*id, l))
    }

    /// The device reference clocks with their IDs.
    pub fn devices(&self) -> impl Iterator<Item = (AssocId, &RefClock)> {
        self.devices.iter().map(|(id, d)| (*id, d))
    }

    pub fn device_mut(&mut self, id: AssocId) -> Option<&mut RefClock> {
        self.devices
            .iter_mut()
            .find(|(i, _)| *i == id)
            .map(|(_, d)| d)
    }

    /// The source named `id`.
    pub fn get(&self, id: AssocId) -> Option<Source<'_>> {
        if let Some((_, local)) = self.refclocks.iter().find(|(i, _)| *i == id) {
            return Some(Source::Local(local));
        }
        if let Some((_, device)) = self.devices.iter().find(|(i, _)| *i == id) {
            return Some(Source::Device(device));
        }
        self.network.by_id(id).map(Source::Network)
    }

    /// Every source in ntpq's order: reference clocks, then network associations.
    pub fn iter(&self) -> impl Iterator<Item = (AssocId, Source<'_>)> {
        let locals = self.refclocks().map(|(id, l)| (id, Source::Local(l)));
        let devices = self.devices().map(|(id, d)| (id, Source::Device(d)));
        let network = self
            .network
            .iter()
            .map(|p| (p.assoc_id, Source::Network(p)));
        locals.chain(devices).chain(network)
    }

    /// How the logs name the system peer `id`: an address, LOCAL(u), or orphan mode.
    pub fn name(&self, id: u32) -> Option<String> {
        if id == ORPHAN_ID {
            return Some("orphan mode".into());
        }
        match self.get(AssocId::from_selection(id)?)? {
            Source::Network(p) => Some(p.addr.ip().to_string()),
            Source::Local(l) => Some(format!("LOCAL({})", l.unit)),
            Source::Device(d) => Some(d.name()),
        }
    }

    /// Reference clocks or orphan mode: sources of last resort, polled on their own timer.
    fn has_fallback(&self) -> bool {
        !self.refclocks.is_empty() || self.orphan.is_some()
    }

    /// When the next poll of any source is due.
    pub fn next_deadline(&self) -> Duration {
        let refclocks = if self.has_fallback() {
            self.next_refclock_poll
        } else {
            Duration::MAX
        };
        let devices = self.devices.iter().map(|(_, d)| d.next_poll()).min();
        refclocks
            .min(devices.unwrap_or(Duration::MAX))
            .min(self.network.next_deadline())
    }

    /// Samples the reference clocks if their poll is due; returns the IDs sampled, or
    /// None when nothing was due (a selection round follows a poll).
    pub fn poll_refclocks(
        &mut self,
        clock_now: NtpTimestamp,
        now: Duration,
    ) -> Option<Vec<AssocId>> {
        if now < self.next_refclock_poll || !self.has_fallback() {
            return None;
        }
        for (_, local) in &mut self.refclocks {
            local.sample(clock_now, now);
        }
        self.next_refclock_poll = now + Duration::from_secs(PollInterval::DEFAULT_MIN.seconds());
        Some(self.refclocks.iter().map(|(id, _)| *id).collect())
    }

    /// Polls the device clocks that are due; returns the IDs of those that produced a
    /// sample, with a clockstats record of each (classic `record_clock_stats`), or None
    /// when none was due.
    pub fn poll_devices(
        &mut self,
        clock_now: NtpTimestamp,
        now: Duration,
    ) -> Option<(Vec<AssocId>, Vec<Record>)> {
        let mut due = false;
        let mut sampled = Vec::new();
        let mut records = Vec::new();
        for (id, device) in &mut self.devices {
            due |= now >= device.next_poll();
            if device.poll(clock_now, now).is_some() {
                sampled.push(*id);
                records.push(Record::Clock(ClockStats {
                    addr: device.address().into(),
                    text: device.timecode.clone(),
                }));
            }
        }
        due.then_some((sampled, records))
    }

    /// Notes the selection status of the device clocks after a round, and lets a PPS clock
    /// count while a `prefer` source (another clock numbering the seconds) survives within
    /// classic's capture range. While the PPS clock is in charge, classic's `clock_select`
    /// has first made the prefer peer the system peer and then handed `sys_peer` to the
    /// PPS peer: the prefer peer keeps the sys.peer status (`*`), the PPS peer is `o`.
    pub fn device_round(&mut self, status: &[(u32, SelectStatus)], sys_peer: Option<u32>) {
        let status_of = |id: AssocId| {
            status
                .iter()
                .find(|(i, _)| *i == id.selection_id())
                .map_or(SelectStatus::Reject, |s| s.1)
        };
        let survivor = |s: SelectStatus| s >= SelectStatus::Candidate;
        let numbering_device = self.devices.iter().find_map(|(id, d)| {
            (d.prefer
                && d.kind != Kind::Pps
                && survivor(status_of(*id))
                && d.last_sample
                    .is_some_and(|s| s.offset.abs().to_secs_f64() < CAPTURE_RANGE_SECS))
            .then_some(*id)
        });
        let numbering_peer = self.network.iter().position(|p| {
            p.assoc.config().prefer
                && survivor(p.assoc.status())
                && p.assoc.filter().offset().abs().to_secs_f64() < CAPTURE_RANGE_SECS
        });
        let numbered = numbering_device.is_some() || numbering_peer.is_some();
        let mut pps_in_charge = false;
        for (id, d) in &mut self.devices {
            let mut s = status_of(*id);
            if d.kind == Kind::Pps && s == SelectStatus::SystemPeer {
                s = SelectStatus::PpsPeer;
                pps_in_charge = true;
            }
            d.status = if sys_peer == Some(id.selection_id()) && s < SelectStatus::SystemPeer {
                SelectStatus::SystemPeer
            } else {
                s
            };
            d.seconds_numbered = numbered;
        }
        if !pps_in_charge {
            return;
        }
        if let Some(id) = numbering_device {
            if let Some((_, d)) = self.devices.iter_mut().find(|(i, _)| *i == id) {
                d.status = SelectStatus::SystemPeer;
            }
        } else if let Some(i) = numbering_peer {
            if let Some(a) = self.network.assocs_mut().into_iter().nth(i) {
                a.set_status(SelectStatus::SystemPeer);
            }
        }
    }

    /// The reference clocks and orphan mode as contenders in a selection round at `now`
    /// (the engine started at `started`; the system clock reads to `sys_precision`).
    pub fn fallback_contenders(
        &self,
        clock_now: NtpTimestamp,
        now: Duration,
        started: Duration,
        sys_precision: i8,
    ) -> Vec<Contender> {
        self.refclocks
            .iter()
            .filter_map(|(id, l)| l.contender(id.selection_id(), false, now))
            .chain(
                self.devices
                    .iter()
                    .filter_map(|(id, d)| d.contender(id.selection_id(), now, sys_precision)),
            )
            .chain(self.orphan_contender(clock_now, now, started))
            .collect()
    }

    /// The orphan stand-in, once `orphanwait` has passed: a reference of stratum N - 1
    /// that selection uses only when no real source survives, served with refid
    /// 127.0.0.1 as classic does.
    fn orphan_contender(
        &self,
        clock_now: NtpTimestamp,
        now: Duration,
        started: Duration,
    ) -> Option<Contender> {
        let orphan = self.orphan?;
        if now < started + orphan.wait {
            return None;
        }
        let mut local = LocalClock::new(0, LocalFudge::default());
        local.fudge.stratum = orphan.stratum.saturating_sub(1);
        local.sample(clock_now, now);
        let mut c = local.contender(ORPHAN_ID, false, now)?;
        c.details.addr_refid = RefId([127, 0, 0, 1]);
        c.details.dispersion = NtpDuration::ZERO;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refclocks_take_the_first_ids_then_network_associations() {
        let local = LocalClock::new(0, LocalFudge::default());
        let mut s = Sources::new(500, &[local], &[], None, Duration::ZERO);
        let a = s.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO);
        assert_eq!(a, Some(AssocId(501)));
        let ids: Vec<AssocId> = s.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, [AssocId(500), AssocId(501)]);
        assert!(matches!(s.get(AssocId(500)), Some(Source::Local(_))));
        assert_eq!(s.name(500).as_deref(), Some("LOCAL(0)"));
        assert_eq!(s.name(501).as_deref(), Some("10.0.0.1"));
        assert_eq!(s.name(ORPHAN_ID).as_deref(), Some("orphan mode"));
        assert!(s.get(AssocId(502)).is_none());
    }

    #[test]
    fn device_clocks_follow_the_local_ones_and_poll_on_their_own() {
        use crate::refclock::driver::Fudge;
        let local = LocalClock::new(0, LocalFudge::default());
        let mut shm = RefClock::new(Kind::Shm, 2, Fudge::default(), 0, None);
        shm.poll = PollInterval(4);
        let mut s = Sources::new(7, &[local], &[shm], None, Duration::ZERO);
        let t = NtpTimestamp::ZERO;
        s.poll_refclocks(t, Duration::ZERO);
        assert_eq!(s.next_deadline(), Duration::from_secs(16));
        let a = s.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO);
        assert_eq!(a, Some(AssocId(9)));
        assert!(matches!(s.get(AssocId(8)), Some(Source::Device(_))));
        assert_eq!(s.name(8).as_deref(), Some("SHM(2)"));
        // Due, but nothing read: polled (noreply), no sample.
        let (sampled, _) = s.poll_devices(t, Duration::from_secs(16)).unwrap();
        assert!(sampled.is_empty());
        assert_eq!(s.devices().next().unwrap().1.counts.noreply, 1);
        assert!(s.poll_devices(t, Duration::from_secs(17)).is_none());
    }

    #[test]
    fn refclocks_are_polled_every_64_s() {
        let local = LocalClock::new(0, LocalFudge::default());
        let mut s = Sources::new(1, &[local], &[], None, Duration::ZERO);
        let t = NtpTimestamp::ZERO;
        assert_eq!(s.poll_refclocks(t, Duration::ZERO), Some(vec![AssocId(1)]));
        assert_eq!(s.next_deadline(), Duration::from_secs(64));
        assert_eq!(s.poll_refclocks(t, Duration::from_secs(63)), None);
        let none = Sources::new(1, &[], &[], None, Duration::ZERO);
        assert_eq!(none.next_deadline(), Duration::MAX);
    }
}
