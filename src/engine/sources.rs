//! The engine's sources of time in one table, each named by an association ID (the ID
//! ntpq shows): network associations (by remote address, [`PeerTable`]), reference clocks
//! (the LOCAL(0) driver today; the drivers of a later issue plug in beside it) and orphan
//! mode's stand-in. Reference clocks take the first IDs, as classic's configuration
//! order gives them, then network associations by ID (mobilisation order until the IDs
//! wrap; they never take a reference clock's).

use super::peers::{Peer, PeerSpec, PeerTable};
use super::Orphan;
use crate::discipline::system::Contender;
use crate::refclock::local::{LocalClock, LocalFudge};
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
}

/// Every source of the engine.
#[derive(Clone, Debug)]
pub struct Sources {
    network: PeerTable,
    /// Reference clocks, polled together on their own timer.
    refclocks: Vec<(AssocId, LocalClock)>,
    orphan: Option<Orphan>,
    next_refclock_poll: Duration,
}

impl Sources {
    /// The configured reference clocks (numbered from `first_id`) and orphan mode; network
    /// associations are added with [`Sources::mobilize`].
    pub fn new(
        first_id: u16,
        refclocks: &[LocalClock],
        orphan: Option<Orphan>,
        now: Duration,
    ) -> Sources {
        let first_id = first_id.max(1);
        let refclocks: Vec<(AssocId, LocalClock)> = refclocks
            .iter()
            .enumerate()
            .map(|(i, l)| (AssocId(first_id.saturating_add(i as u16)), l.clone()))
            .collect();
        // Network IDs never take a reference clock's, even once they wrap around.
        let network_first = first_id.saturating_add(refclocks.len() as u16);
        Sources {
            network: PeerTable::new(network_first, first_id..network_first),
            refclocks,
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

    /// The source named `id`.
    pub fn get(&self, id: AssocId) -> Option<Source<'_>> {
        match self.refclocks.iter().find(|(i, _)| *i == id) {
            Some((_, local)) => Some(Source::Local(local)),
            None => self.network.by_id(id).map(Source::Network),
        }
    }

    /// Every source in ntpq's order: reference clocks, then network associations.
    pub fn iter(&self) -> impl Iterator<Item = (AssocId, Source<'_>)> {
        let locals = self.refclocks().map(|(id, l)| (id, Source::Local(l)));
        let network = self
            .network
            .iter()
            .map(|p| (p.assoc_id, Source::Network(p)));
        locals.chain(network)
    }

    /// How the logs name the system peer `id`: an address, LOCAL(u), or orphan mode.
    pub fn name(&self, id: u32) -> Option<String> {
        if id == ORPHAN_ID {
            return Some("orphan mode".into());
        }
        match self.get(AssocId::from_selection(id)?)? {
            Source::Network(p) => Some(p.addr.ip().to_string()),
            Source::Local(l) => Some(format!("LOCAL({})", l.unit)),
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
        refclocks.min(self.network.next_deadline())
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

    /// The reference clocks and orphan mode as contenders in a selection round at `now`
    /// (the engine started at `started`).
    pub fn fallback_contenders(
        &self,
        clock_now: NtpTimestamp,
        now: Duration,
        started: Duration,
    ) -> Vec<Contender> {
        self.refclocks
            .iter()
            .filter_map(|(id, l)| l.contender(id.selection_id(), false, now))
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
        let mut s = Sources::new(500, &[local], None, Duration::ZERO);
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
    fn refclocks_are_polled_every_64_s() {
        let local = LocalClock::new(0, LocalFudge::default());
        let mut s = Sources::new(1, &[local], None, Duration::ZERO);
        let t = NtpTimestamp::ZERO;
        assert_eq!(s.poll_refclocks(t, Duration::ZERO), Some(vec![AssocId(1)]));
        assert_eq!(s.next_deadline(), Duration::from_secs(64));
        assert_eq!(s.poll_refclocks(t, Duration::from_secs(63)), None);
        let none = Sources::new(1, &[], None, Duration::ZERO);
        assert_eq!(none.next_deadline(), Duration::MAX);
    }
}
