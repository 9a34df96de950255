//! The network associations of the daemon (classic's peer list): each has an association
//! ID for mode 6, the address it talks to, and its protocol state.
//!
//! Every packet that is not a client request looks its sender up here, so the lookup is a
//! hash map keyed by address and port (as classic's `findpeer` matches), never a scan:
//! a table swollen by spoofed sources must not slow every packet down. Associations are
//! kept by ID, which is also the order mode 6 lists them in (classic's ntpq sorts by ID).
//!
//! Packet-mobilised (passive) associations are bounded: classic has no cap at all (an
//! ephemeral association lives until ten polls go unanswered), so 45,000 spoofed sources
//! made 45,000 associations. Here at most [`MAX_PASSIVE`] exist; a new one reclaims the
//! oldest that is unreachable, and when every one is reachable it is refused (the sender
//! then gets classic's stateless answer).

use super::sources::AssocId;
use crate::assoc::{AssocConfig, AssocMode, Association};
use crate::time::PollInterval;
use crate::wire::ntp::RefId;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

/// Passive associations kept at most. Far above any real symmetric mesh (a handful of
/// peers), far below what memory or per-packet work would notice (about 0.2 MB).
pub const MAX_PASSIVE: usize = 256;

/// A source to mobilise: from a `server`/`peer` line (address literal or resolved name),
/// from a `pool` name's addresses, or from a symmetric active packet.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerSpec {
    pub addr: SocketAddr,
    /// `config.id` is assigned by the table.
    pub config: AssocConfig,
}

impl PeerSpec {
    /// Classic defaults for `server ADDR`.
    pub fn server(addr: SocketAddr) -> PeerSpec {
        PeerSpec {
            addr,
            config: AssocConfig::server(0, refid_of(addr.ip())),
        }
    }

    /// An association a packet from `addr` mobilises (passive, broadcast client): of
    /// the packet's version, with the key it was signed by, polling as often as the peer
    /// does down to NTP_MINPOLL but never less often than the default minpoll (as 4.2.8).
    pub fn ephemeral(
        addr: SocketAddr,
        mode: AssocMode,
        version: u8,
        poll: i8,
        key: Option<u32>,
    ) -> PeerSpec {
        let mut spec = PeerSpec::server(addr);
        spec.config.mode = mode;
        spec.config.configured = false;
        spec.config.version = version;
        spec.config.min_poll =
            PollInterval(poll).clamp(PollInterval::MIN, PollInterval::DEFAULT_MIN);
        spec.config.key = key;
        spec
    }
}

/// The refid naming `addr` when it is our system peer: the IPv4 address itself, or for
/// IPv6 the first four octets of its MD5 hash in classic; we use a stable fold of the
/// address instead, since only equality matters to the loop test.
pub fn refid_of(addr: IpAddr) -> RefId {
    match addr {
        IpAddr::V4(v4) => RefId::from_ipv4(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut r = [0u8; 4];
            for (i, b) in o.iter().enumerate() {
                r[i % 4] ^= b.rotate_left(i as u32 / 4);
            }
            RefId(r)
        }
    }
}

/// One network association.
#[derive(Clone, Debug)]
pub struct Peer {
    pub assoc_id: AssocId,
    pub addr: SocketAddr,
    /// Our address its packets arrive on (ntpq `dstadr`), once one has.
    pub local: Option<SocketAddr>,
    pub assoc: Association,
}

impl Peer {
    /// Mobilised by a packet rather than by the configuration.
    fn is_passive(&self) -> bool {
        self.assoc.config().mode == AssocMode::SymmetricPassive
    }
}

/// The associations, by association ID, with an index by remote address.
#[derive(Clone, Debug, Default)]
pub struct PeerTable {
    peers: BTreeMap<AssocId, Peer>,
    by_addr: HashMap<SocketAddr, AssocId>,
    /// Passive associations in mobilisation order, oldest first, for reclaiming. Entries
    /// of associations removed since are skipped when met and purged when they pile up.
    passive_order: VecDeque<(AssocId, SocketAddr)>,
    passive: usize,
    /// IDs handed out next (wrapping), and those never handed out (0, the LOCAL drivers').
    next_id: u16,
    reserved: Range<u16>,
    /// The earliest poll deadline, while no association has been touched since it was
    /// found: the event loop asks for it after every wake-up, which must not cost a pass
    /// over a table full of passive associations.
    earliest: Cell<Option<Duration>>,
}

impl PeerTable {
    /// An empty table whose first association ID is `first_id`; IDs in `reserved` (and
    /// 0) are never used, even after the IDs wrap around.
    pub fn new(first_id: u16, reserved: Range<u16>) -> PeerTable {
        PeerTable {
            next_id: first_id.max(1),
            reserved,
            ..PeerTable::default()
        }
    }

    /// Adds an association unless one with that address exists; returns its ID. A passive
    /// one beyond [`MAX_PASSIVE`] takes the place of the oldest unreachable passive one,
    /// and is refused (None) when all are reachable.
    pub fn mobilize(&mut self, spec: PeerSpec, now: Duration) -> Option<AssocId> {
        if self.by_addr.contains_key(&spec.addr) {
            return None;
        }
        let passive = spec.config.mode == AssocMode::SymmetricPassive;
        if passive && self.passive >= MAX_PASSIVE && !self.reclaim_passive() {
            return None;
        }
        let assoc_id = self.free_id()?;
        let config = AssocConfig {
            id: assoc_id.selection_id(),
            ..spec.config
        };
        self.by_addr.insert(spec.addr, assoc_id);
        self.earliest.set(None);
        self.peers.insert(
            assoc_id,
            Peer {
                assoc_id,
                addr: spec.addr,
                local: None,
                assoc: Association::new(config, now),
            },
        );
        if passive {
            self.passive += 1;
            self.passive_order.push_back((assoc_id, spec.addr));
            if self.passive_order.len() > 2 * MAX_PASSIVE {
                let (peers, by_addr) = (&self.peers, &self.by_addr);
                self.passive_order.retain(|(id, addr)| {
                    by_addr.get(addr) == Some(id) && peers.get(id).is_some_and(Peer::is_passive)
                });
            }
        }
        Some(assoc_id)
    }

    /// The next ID not in use, not 0 and not reserved, wrapping after 65535.
    fn free_id(&mut self) -> Option<AssocId> {
        for _ in 0..=u16::MAX {
            let id = self.next_id;
            self.next_id = id.wrapping_add(1);
            if id != 0 && !self.reserved.contains(&id) && !self.peers.contains_key(&AssocId(id)) {
                return Some(AssocId(id));
            }
        }
        None
    }

    /// Removes the oldest passive association that is unreachable; false if none is.
    /// Reachable ones go to the back of the queue, so each pass looks at each once.
    fn reclaim_passive(&mut self) -> bool {
        for _ in 0..self.passive_order.len() {
            let Some((id, addr)) = self.passive_order.pop_front() else {
                break;
            };
            let live = self
                .peers
                .get(&id)
                .filter(|p| p.addr == addr && p.is_passive());
            let Some(peer) = live else {
                continue;
            };
            if peer.assoc.reach() != 0 {
                self.passive_order.push_back((id, addr));
                continue;
            }
            log::debug!("{addr} passive association {id} reclaimed");
            self.remove(id);
            return true;
        }
        false
    }

    /// The association talking to `addr` (address and port, as classic matches).
    pub fn find(&self, addr: SocketAddr) -> Option<AssocId> {
        self.by_addr.get(&addr).copied()
    }

    pub fn get_mut(&mut self, assoc_id: AssocId) -> Option<&mut Peer> {
        self.earliest.set(None);
        self.peers.get_mut(&assoc_id)
    }

    pub fn by_id(&self, assoc_id: AssocId) -> Option<&Peer> {
        self.peers.get(&assoc_id)
    }

    pub fn remove(&mut self, assoc_id: AssocId) -> Option<Peer> {
        let peer = self.peers.remove(&assoc_id)?;
        self.by_addr.remove(&peer.addr);
        self.earliest.set(None);
        if peer.is_passive() {
            self.passive -= 1;
        }
        Some(peer)
    }

    /// The associations in ID order.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// Gives each unicast association that has no local address yet the one `route`
    /// names for its remote (classic finds the interface when it mobilises an association,
    /// so ntpq's `dstadr` and `t` column show it before any reply comes).
    pub fn note_routes(&mut self, route: impl Fn(SocketAddr) -> Option<IpAddr>) {
        let unicast = |p: &Peer| {
            matches!(
                p.assoc.config().mode,
                AssocMode::Client | AssocMode::SymmetricActive
            )
        };
        for peer in self
            .peers
            .values_mut()
            .filter(|p| p.local.is_none() && unicast(p))
        {
            peer.local = route(peer.addr).map(|ip| SocketAddr::new(ip, peer.addr.port()));
        }
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// How many passive (packet-mobilised) associations exist.
    pub fn passive_count(&self) -> usize {
        self.passive
    }

    /// The protocol states, for a selection round.
    pub fn assocs_mut(&mut self) -> Vec<&mut Association> {
        self.earliest.set(None);
        self.peers.values_mut().map(|p| &mut p.assoc).collect()
    }

    /// The earliest poll due.
    pub fn next_deadline(&self) -> Duration {
        if let Some(at) = self.earliest.get() {
            return at;
        }
        let at = self
            .peers
            .values()
            .map(|p| p.assoc.next_deadline())
            .min()
            .unwrap_or(Duration::MAX);
        self.earliest.set(Some(at));
        at
    }

    /// ID of an association whose poll is due at `now`.
    pub fn due(&self, now: Duration) -> Option<AssocId> {
        if now < self.next_deadline() {
            return None;
        }
        self.peers
            .values()
            .find(|p| p.assoc.next_deadline() <= now)
            .map(|p| p.assoc_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discipline::system::SystemVars;
    use crate::time::{NtpShort, NtpTimestamp};
    use crate::wire::ntp::{Header, Leap, Mode};
    use std::net::Ipv4Addr;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn passive(addr: SocketAddr) -> PeerSpec {
        let mut spec = PeerSpec::server(addr);
        spec.config.mode = AssocMode::SymmetricPassive;
        spec.config.configured = false;
        spec
    }

    fn spoofed(i: u32) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 123))
    }

    /// Runs the exchange that proves a passive association and makes it reachable.
    fn prove(t: &mut PeerTable, id: AssocId) {
        let sys = SystemVars::initial(-20);
        let at = |s: i64| NtpTimestamp::from_unix(1_700_000_000 + s, 0);
        let mut pkt = Header::decode(&[0x21; 48]).unwrap();
        (pkt.leap, pkt.stratum, pkt.poll, pkt.precision) = (Leap::NoWarning, 2, 6, -20);
        (pkt.root_delay, pkt.root_dispersion) = (NtpShort::ZERO, NtpShort::ZERO);
        (pkt.origin_time, pkt.receive_time, pkt.transmit_time) =
            (NtpTimestamp::ZERO, NtpTimestamp::ZERO, at(1));
        pkt.reference_time = at(0);
        let a = &mut t.get_mut(id).unwrap().assoc;
        a.on_packet(&pkt, at(1), Duration::ZERO, &sys);
        let answer = a.answer(at(1), &sys);
        (pkt.origin_time, pkt.receive_time, pkt.transmit_time) =
            (answer.transmit_time, at(2), at(2));
        a.on_packet(&pkt, at(2), Duration::ZERO, &sys);
        assert!(a.proven() && a.reach() != 0);
        assert_eq!(pkt.mode, Mode::SymmetricActive);
    }

    #[test]
    fn mobilize_assigns_ids_and_refuses_duplicates() {
        let mut t = PeerTable::new(40000, 39999..40000);
        let a = t.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO);
        let b = t.mobilize(PeerSpec::server(addr("10.0.0.2:123")), Duration::ZERO);
        assert_eq!((a, b), (Some(AssocId(40000)), Some(AssocId(40001))));
        assert_eq!(
            t.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO),
            None
        );
        assert_eq!(t.find(addr("10.0.0.2:123")), Some(AssocId(40001)));
        assert_eq!(t.find(addr("10.0.0.2:124")), None);
        assert_eq!(
            t.by_id(AssocId(40001)).map(|p| p.addr),
            Some(addr("10.0.0.2:123"))
        );
        assert!(t.remove(AssocId(40000)).is_some());
        assert_eq!(t.find(addr("10.0.0.1:123")), None);
        assert_eq!(
            t.iter().map(|p| p.assoc_id).collect::<Vec<_>>(),
            [AssocId(40001)]
        );
    }

    #[test]
    fn ids_wrap_around_skipping_zero_reserved_and_live() {
        let mut t = PeerTable::new(65534, 1..3);
        let server = t.mobilize(PeerSpec::server(addr("192.0.2.1:123")), Duration::ZERO);
        assert_eq!(server, Some(AssocId(65534)));
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(t.mobilize(passive(spoofed(i)), Duration::ZERO).unwrap());
        }
        assert_eq!(ids, [AssocId(65535), AssocId(3), AssocId(4)]);
        // Churn through the whole ID space: the server keeps its ID and nobody takes it.
        for i in 3..70_000 {
            let id = t.mobilize(passive(spoofed(i)), Duration::ZERO);
            assert!(
                id.is_some_and(|id| id >= AssocId(3) && id != AssocId(65534)),
                "{i}: {id:?}"
            );
        }
        assert_eq!(t.find(addr("192.0.2.1:123")), Some(AssocId(65534)));
        assert_eq!(
            t.by_id(AssocId(65534)).map(|p| p.addr),
            Some(addr("192.0.2.1:123"))
        );
    }

    #[test]
    fn passive_associations_are_capped_reclaiming_the_oldest_unreachable() {
        let mut t = PeerTable::new(100, 0..0);
        t.mobilize(PeerSpec::server(addr("192.0.2.1:123")), Duration::ZERO);
        let kept = t.mobilize(passive(spoofed(0)), Duration::ZERO).unwrap();
        prove(&mut t, kept);
        let n = 10 * MAX_PASSIVE as u32;
        for i in 1..n {
            assert!(t.mobilize(passive(spoofed(i)), Duration::ZERO).is_some());
            assert!(t.passive_count() <= MAX_PASSIVE);
        }
        assert_eq!(t.passive_count(), MAX_PASSIVE);
        assert_eq!(t.len(), MAX_PASSIVE + 1);
        // The reachable peer and the configured server stay; the newest spoofed ones are
        // those left; the map and the table agree.
        assert_eq!(t.find(spoofed(0)), Some(kept));
        assert!(t.find(addr("192.0.2.1:123")).is_some());
        for i in 1..n {
            let want = i > n - MAX_PASSIVE as u32;
            assert_eq!(t.find(spoofed(i)).is_some(), want, "{i}");
        }
        for p in t.iter() {
            assert_eq!(t.find(p.addr), Some(p.assoc_id));
        }
        assert!(t.passive_order.len() <= 2 * MAX_PASSIVE + 1);
    }

    #[test]
    fn passive_refused_when_all_slots_are_reachable() {
        let mut t = PeerTable::new(1, 0..0);
        for i in 0..MAX_PASSIVE as u32 {
            let id = t.mobilize(passive(spoofed(i)), Duration::ZERO).unwrap();
            prove(&mut t, id);
        }
        assert_eq!(t.mobilize(passive(spoofed(99_999)), Duration::ZERO), None);
        assert_eq!(t.passive_count(), MAX_PASSIVE);
        // Configured sources are not passive and always fit.
        assert!(t
            .mobilize(PeerSpec::server(addr("192.0.2.1:123")), Duration::ZERO)
            .is_some());
    }

    #[test]
    fn next_deadline_follows_changes_made_through_the_table() {
        let mut t = PeerTable::new(1, 0..0);
        assert_eq!(t.next_deadline(), Duration::MAX);
        // The first poll is due at once: mobilised at 10 s, it is not due before.
        let start = Duration::from_secs(10);
        let id = t
            .mobilize(PeerSpec::server(addr("192.0.2.1:123")), start)
            .unwrap();
        let first = t.next_deadline();
        assert_eq!(first, start);
        assert_eq!(
            (first, t.due(first), t.due(first / 2)),
            (first, Some(id), None)
        );
        let sys = SystemVars::initial(-20);
        let a = &mut t.get_mut(id).unwrap().assoc;
        a.on_timer(first, NtpTimestamp::ZERO, &sys);
        let later = a.next_deadline();
        assert!(later > first);
        assert_eq!((t.next_deadline(), t.due(first)), (later, None));
        t.remove(id);
        assert_eq!(t.next_deadline(), Duration::MAX);
    }

    #[test]
    fn ipv4_refid_is_the_address() {
        assert_eq!(
            refid_of("172.25.0.11".parse().unwrap()),
            RefId([172, 25, 0, 11])
        );
        let v6 = refid_of("2001:db8::1".parse().unwrap());
        assert_eq!(v6, refid_of("2001:db8::1".parse().unwrap()));
        assert_ne!(v6, refid_of("2001:db8::2".parse().unwrap()));
    }
}
