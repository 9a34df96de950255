//! Symmetric peers through two daemon cores joined by an in-memory wire: a `peer` line on
//! one side, the passive association it mobilises on the other (unauthenticated under
//! `disable auth`, or with a trusted key under the default `enable auth`). Both become
//! reachable; the passive side answers until the active side proves its address and then
//! polls on its own; when the active side falls silent the passive association goes.

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use ntp6::assoc::{AssocMode, Flash};
use ntp6::clock::ManualMono;
use ntp6::engine::peers::PeerSpec;
use ntp6::engine::{Datagram, Settings};
use ntp6::restrict::RestrictList;
use ntp6::wire::ntp::{Header, Mode, Packet};
use std::net::SocketAddr;
use std::time::Duration;

const A: &str = "192.0.2.1:123";
const B: &str = "192.0.2.2:123";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two engines, A with `peer B`, and what travels between them.
struct Wire {
    a: (ManualMono, harness::TestEngine),
    b: (ManualMono, harness::TestEngine),
    /// A is connected; once false its packets are lost (the peer went away).
    a_up: bool,
    /// Datagrams B sent: (to, octets, answer to a packet rather than a poll).
    from_b: Vec<(SocketAddr, Vec<u8>, bool)>,
}

impl Wire {
    fn new(key: Option<u32>, b_settings: impl FnOnce(&mut Settings)) -> Wire {
        let a = harness::engine_with(RestrictList::new(), |_| {});
        let b = harness::engine_with(RestrictList::new(), b_settings);
        let mut w = Wire {
            a,
            b,
            a_up: true,
            from_b: Vec::new(),
        };
        let mut spec = PeerSpec::server(addr(B));
        spec.config.mode = AssocMode::SymmetricActive;
        spec.config.key = key;
        w.a.1.mobilize(spec);
        w
    }

    /// Delivers `bytes` from `from` to the engine at `to`, and its answers back, until
    /// nothing is in flight.
    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, answer: bool) {
        let mut queue = vec![(from, to, bytes, answer)];
        while let Some((from, to, bytes, answer)) = queue.pop() {
            if from == addr(B) {
                self.from_b.push((to, bytes.clone(), answer));
            }
            if !self.a_up && (from == addr(A) || to == addr(A)) {
                continue;
            }
            let engine = if to == addr(A) {
                &mut self.a.1
            } else {
                &mut self.b.1
            };
            let dgram = Datagram {
                bytes: &bytes,
                source: from,
                local: Some(to),
                received: None,
            };
            let mut replies = Vec::new();
            engine.handle_datagram(&dgram, &mut |r| replies.push(r.to_vec()));
            queue.extend(replies.into_iter().map(|r| (to, from, r, true)));
        }
    }

    /// Runs both engines for `secs` seconds, one second at a time.
    fn run(&mut self, secs: u64) {
        for _ in 0..secs {
            self.a.0.advance(Duration::from_secs(1));
            self.b.0.advance(Duration::from_secs(1));
            for (from, side) in [(A, 0), (B, 1)] {
                let mut sent = Vec::new();
                let engine = if side == 0 {
                    &mut self.a.1
                } else {
                    &mut self.b.1
                };
                engine.handle_timer(&mut |to, b| sent.push((to, b.to_vec())));
                for (to, bytes) in sent {
                    self.deliver(addr(from), to, bytes, false);
                }
            }
        }
    }

    fn b_passive(&self) -> Option<&ntp6::engine::peers::Peer> {
        self.b.1.peers().iter().find(|p| p.addr == addr(A))
    }
}

fn a_reach(w: &Wire) -> u8 {
    w.a.1.peers().iter().next().unwrap().assoc.reach()
}

fn symmetric_peers_work(key: Option<u32>, b_settings: impl FnOnce(&mut Settings)) {
    let mut w = Wire::new(key, b_settings);
    w.run(600);
    let passive = w
        .b_passive()
        .expect("B mobilised a passive association for A");
    assert_eq!(passive.assoc.config().mode, AssocMode::SymmetricPassive);
    assert!(passive.assoc.proven());
    assert_ne!(passive.assoc.reach(), 0, "B never reached A");
    assert_ne!(a_reach(&w), 0, "A never reached B");
    assert!(!passive.assoc.flash().has(Flash::AUTH));
    // B answered A's first packet(s) only, then polled on its own timer.
    let answers = w.from_b.iter().filter(|(_, _, answer)| *answer).count();
    let polls = w.from_b.iter().filter(|(_, _, answer)| !*answer).count();
    eprintln!("B sent {answers} answers and {polls} polls in 600 s");
    assert!((1..=2).contains(&answers), "{answers} answers");
    assert!(polls >= 5, "{polls} polls");
    for (to, bytes, _) in &w.from_b {
        assert_eq!(*to, addr(A));
        let p = Packet::decode(bytes).unwrap();
        assert_eq!(p.header.mode, Mode::SymmetricPassive);
        assert_eq!(p.trailer.mac_offset.is_some(), key.is_some());
        if let Some(k) = key {
            assert_eq!(p.trailer.key_id, k);
        }
    }
    // A goes away: B's association becomes unreachable and is demobilised, after which
    // nothing more is sent to A.
    w.a_up = false;
    w.run(1200);
    assert!(w.b_passive().is_none(), "B kept polling a silent peer");
    let before = w.from_b.len();
    w.run(600);
    assert_eq!(w.from_b.len(), before);
}

#[test]
fn unauthenticated_symmetric_peers_under_disable_auth() {
    symmetric_peers_work(None, |s| s.authenticate = false);
}

#[test]
fn authenticated_symmetric_peers_under_enable_auth() {
    symmetric_peers_work(Some(2), |_| {});
}

/// Under the default `enable auth` an unsigned `peer` gets classic's stateless answers
/// (so it still gets time from us) and no association on our side.
#[test]
fn unauthenticated_peer_under_enable_auth_is_answered_without_state() {
    let mut w = Wire::new(None, |_| {});
    w.run(300);
    assert!(w.b_passive().is_none());
    assert_ne!(a_reach(&w), 0);
    assert!(w.from_b.iter().all(|(_, _, answer)| *answer));
    let first = Header::decode(&w.from_b[0].1).unwrap();
    assert_eq!(first.mode, Mode::SymmetricPassive);
}
