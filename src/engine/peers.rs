//! The network associations of the daemon (classic's peer list): each has an association
//! ID for mode 6, the address it talks to, and its protocol state. Lookup is by remote
//! address, as classic's `findpeer` does; the table is small (tens of entries), so a
//! linear scan beats any index.

use super::sources::AssocId;
use crate::assoc::{AssocConfig, Association};
use crate::wire::ntp::RefId;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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

/// The associations, in mobilisation order (the order ntpq lists them).
#[derive(Clone, Debug, Default)]
pub struct PeerTable {
    peers: Vec<Peer>,
    next_id: u16,
}

impl PeerTable {
    /// An empty table whose first association ID is `first_id`.
    pub fn new(first_id: u16) -> PeerTable {
        PeerTable {
            peers: Vec::new(),
            next_id: first_id.max(1),
        }
    }

    /// Adds an association unless one with that address exists; returns its ID.
    pub fn mobilize(&mut self, spec: PeerSpec, now: Duration) -> Option<AssocId> {
        if self.find(spec.addr).is_some() {
            return None;
        }
        let assoc_id = AssocId(self.next_id);
        self.next_id = self.next_id.checked_add(1).unwrap_or(1).max(1);
        let config = AssocConfig {
            id: assoc_id.selection_id(),
            ..spec.config
        };
        self.peers.push(Peer {
            assoc_id,
            addr: spec.addr,
            local: None,
            assoc: Association::new(config, now),
        });
        Some(assoc_id)
    }

    /// The association talking to `addr` (address and port, as classic matches).
    pub fn find(&self, addr: SocketAddr) -> Option<usize> {
        self.peers.iter().position(|p| p.addr == addr)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut Peer> {
        self.peers.get_mut(index)
    }

    pub fn by_id(&self, assoc_id: AssocId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.assoc_id == assoc_id)
    }

    pub fn remove(&mut self, index: usize) -> Peer {
        self.peers.remove(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The protocol states, for a selection round.
    pub fn assocs_mut(&mut self) -> Vec<&mut Association> {
        self.peers.iter_mut().map(|p| &mut p.assoc).collect()
    }

    /// The earliest poll due.
    pub fn next_deadline(&self) -> Duration {
        self.peers
            .iter()
            .map(|p| p.assoc.next_deadline())
            .min()
            .unwrap_or(Duration::MAX)
    }

    /// Index of an association whose poll is due at `now`.
    pub fn due(&self, now: Duration) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| p.assoc.next_deadline() <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mobilize_assigns_ids_and_refuses_duplicates() {
        let mut t = PeerTable::new(40000);
        let a = t.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO);
        let b = t.mobilize(PeerSpec::server(addr("10.0.0.2:123")), Duration::ZERO);
        assert_eq!((a, b), (Some(AssocId(40000)), Some(AssocId(40001))));
        assert_eq!(
            t.mobilize(PeerSpec::server(addr("10.0.0.1:123")), Duration::ZERO),
            None
        );
        assert_eq!(t.find(addr("10.0.0.2:123")), Some(1));
        assert_eq!(
            t.by_id(AssocId(40001)).map(|p| p.addr),
            Some(addr("10.0.0.2:123"))
        );
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
