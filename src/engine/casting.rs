//! Broadcast, multicast and manycast in the engine: classic 4.2.6p5's AM_NEWBCL (a mode 5
//! packet mobilising a broadcast client association), AM_MANYCAST (a server answering our
//! manycast solicitation mobilising a client association) and the manycast server's
//! answer to a request sent to a group address.
//!
//! What reaches the wildcard socket was sent to a broadcast or multicast address (a
//! socket bound to one of our unicast addresses takes everything sent to that address):
//! only broadcasts, when we are a broadcast client, and requests, when we are a manycast
//! server, are looked at; classic drops the rest too.

use super::peers::{refid_of, Peer, PeerSpec};
use super::{AssocId, Datagram, Engine, ReplyMac};
use crate::assoc::AssocMode;
use crate::clock::Clock;
use crate::restrict::{AuthStatus, Grant};
use crate::time::NtpDuration;
use crate::wire::ntp::{Header, Leap, Mode, Packet};
use std::net::SocketAddr;

/// Broadcast client associations kept at most: mode 5 packets prove nothing about their
/// source, so with `disable auth` a forger could otherwise fill the table.
const MAX_BROADCAST_SERVERS: usize = 16;

/// How the daemon takes part in broadcast and manycast, from ntp.conf.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Casting {
    /// `broadcastclient`, `multicastclient` or `enable bclient`: mode 5 packets mobilise
    /// broadcast client associations.
    pub broadcast_client: bool,
    /// Calibrate the delay with a volley of client exchanges (not `broadcastclient
    /// novolley`).
    pub volley: bool,
    /// `broadcastdelay`: the round trip assumed without a volley (classic: 4 ms).
    pub broadcast_delay: NtpDuration,
    /// `manycastserver`: answer requests sent to a group address.
    pub manycast_server: bool,
    /// `tos maxclock`: servers a manycast client mobilises at most.
    pub max_clock: usize,
}

impl Default for Casting {
    fn default() -> Casting {
        Casting {
            broadcast_client: false,
            volley: true,
            broadcast_delay: NtpDuration::from_secs_f64(0.004),
            manycast_server: false,
            max_clock: 10,
        }
    }
}

/// Logs the end of a broadcast client's volley (`calibrating` before the poll), with the
/// delay it measured.
pub(super) fn note_volley(peer: &Peer, calibrating: bool) {
    if peer.assoc.config().mode != AssocMode::BroadcastClient || !calibrating {
        return;
    }
    if let Some(delay) = peer.assoc.broadcast_delay() {
        log::info!(
            "{} broadcast client association {}: volley done, round-trip delay {:.3} ms",
            peer.addr.ip(),
            peer.assoc_id,
            delay.to_secs_f64() * 1e3
        );
    }
}

/// A datagram that came in on the wildcard socket, so was sent to a group address.
pub(super) fn to_group(dgram: &Datagram) -> bool {
    dgram.local.is_some_and(|a| a.ip().is_unspecified())
}

impl<C: Clock> Engine<C> {
    /// Whether a packet of `mode` sent to a group address is for us.
    pub(super) fn group_accepts(&self, mode: Mode) -> bool {
        match mode {
            Mode::Broadcast => self.settings.casting.broadcast_client,
            Mode::Client => self.settings.casting.manycast_server,
            _ => false,
        }
    }

    /// Classic's manycast server test: answer only while synchronised, and only a client
    /// of a higher stratum than ours (an unsynchronised one counts as 16), so manycast
    /// clients never get a server worse than what they have.
    pub(super) fn answers_manycast(&self, request: &Header) -> bool {
        let theirs = match request.stratum {
            0 => 16,
            s => s,
        };
        self.system.vars.synchronized() && self.system.vars.stratum < theirs
    }

    /// A mode 5 packet: for its broadcast client association, or mobilising one when we
    /// are a broadcast client and the packet carries a valid MAC by a trusted key (or
    /// `disable auth`). Refusals are counted (ntpq's "authentication failed").
    pub(super) fn broadcast_packet(
        &mut self,
        known: Option<AssocId>,
        grant: &Grant,
        packet: &Packet,
        auth: AuthStatus,
        dgram: &Datagram,
    ) -> Option<(Header, ReplyMac)> {
        let id = match known {
            Some(id) => id,
            None if !self.settings.casting.broadcast_client => {
                self.counters.dropped += 1;
                return None;
            }
            None if !grant.may_mobilize(auth, self.settings.authenticate) => {
                self.counters.bad_auth += 1;
                self.counters.dropped += 1;
                log::debug!("{}: broadcast not authentic; dropped", dgram.source);
                return None;
            }
            None => {
                let key = (auth == AuthStatus::Ok).then_some(packet.trailer.key_id);
                match self.mobilize_broadcast_client(dgram.source, &packet.header, key) {
                    Some(id) => id,
                    None => {
                        self.counters.dropped += 1;
                        return None;
                    }
                }
            }
        };
        self.receive(id, grant, packet, auth, dgram)
    }

    fn mobilize_broadcast_client(
        &mut self,
        addr: SocketAddr,
        header: &Header,
        key: Option<u32>,
    ) -> Option<AssocId> {
        let listening = self
            .sources
            .network()
            .iter()
            .filter(|p| p.assoc.config().mode == AssocMode::BroadcastClient)
            .count();
        if listening >= MAX_BROADCAST_SERVERS {
            return None;
        }
        let casting = self.settings.casting;
        let mut spec = PeerSpec::ephemeral(
            addr,
            AssocMode::BroadcastClient,
            header.version,
            header.poll,
            key,
        );
        spec.config.iburst = casting.volley;
        let id = self.sources.mobilize(spec, self.clock.mono())?;
        let peer = self.sources.network_mut().get_mut(id)?;
        peer.assoc
            .start_listening(casting.volley, casting.broadcast_delay);
        log::info!(target: crate::logclass::PEER_EVENTS, "{} broadcast client association {id} mobilized", addr.ip());
        Some(id)
    }

    /// A server reply from an address we have no association with: when it answers one
    /// of our manycast solicitations (and passes that association's key), the server is
    /// mobilised as a client association, up to `tos maxclock` of them.
    pub(super) fn manycast_reply(
        &mut self,
        grant: &Grant,
        packet: &Packet,
        auth: AuthStatus,
        source: SocketAddr,
    ) {
        let header = &packet.header;
        let Some(solicitor) = self
            .sources
            .network()
            .iter()
            .find(|p| p.assoc.solicited(header.origin_time))
            .map(|p| *p.assoc.config())
        else {
            self.counters.dropped += 1;
            return;
        };
        let authentic = match solicitor.key {
            Some(key) => auth == AuthStatus::Ok && packet.trailer.key_id == key,
            None => grant.association_auth_ok(auth),
        };
        if !authentic {
            self.counters.bad_auth += 1;
            self.counters.dropped += 1;
            return;
        }
        if header.leap == Leap::Unsync
            || header.stratum == 0
            || self.manycast_servers() >= self.settings.casting.max_clock
        {
            self.counters.dropped += 1;
            return;
        }
        let mut spec = PeerSpec::server(source);
        spec.config = crate::assoc::AssocConfig {
            mode: AssocMode::Client,
            configured: false,
            addr_refid: refid_of(source.ip()),
            ..solicitor
        };
        if let Some(id) = self.mobilize(spec) {
            self.manycast_found.push(id);
            self.counters.to_associations += 1;
            log::info!(target: crate::logclass::PEER_EVENTS, "{} manycast server association {id} mobilized", source.ip());
        }
    }

    /// Servers our manycast solicitations found that are still associations.
    fn manycast_servers(&mut self) -> usize {
        let network = self.sources.network();
        self.manycast_found
            .retain(|id| network.by_id(*id).is_some());
        self.manycast_found.len()
    }

    /// Classic stops soliciting once `tos minclock` servers are found (until some go).
    pub(super) fn manycast_satisfied(&mut self) -> bool {
        self.manycast_servers() >= self.settings.tos.min_clock
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{engine, request, TestEngine};
    use super::super::Settings;
    use super::*;
    use crate::time::NtpTimestamp;

    const WILDCARD: &str = "0.0.0.0:123";

    /// The test engine (LOCAL(0), serving stratum 11) rebuilt with `adjust` applied;
    /// what its first timer run sends goes to `send`.
    fn casting_engine(
        adjust: impl FnOnce(&mut Settings),
        send: &mut dyn FnMut(SocketAddr, &[u8]),
    ) -> TestEngine {
        let (_, e) = engine(&[], &[], 0.0);
        let mut settings = e.settings.clone();
        adjust(&mut settings);
        let mut e = Engine::new(e.clock.clone(), settings);
        e.handle_timer(send);
        e
    }

    /// Hands `bytes` from `from` to the engine as arriving on the socket bound to `local`.
    fn arrive(e: &mut TestEngine, from: &str, local: &str, bytes: &[u8]) -> Vec<Header> {
        let dgram = Datagram {
            bytes,
            source: from.parse().unwrap(),
            local: Some(local.parse().unwrap()),
            received: None,
        };
        let mut replies = Vec::new();
        e.handle_datagram(&dgram, &mut |r| replies.push(Header::decode(r).unwrap()));
        replies
    }

    fn broadcast_from_server() -> [u8; 48] {
        let mut b = request(0x25, NtpTimestamp::from_bits(0xeeab_8600_0000_0000));
        b[1] = 2; // stratum
        b
    }

    #[test]
    fn group_traffic_is_looked_at_only_when_configured() {
        let mut e = casting_engine(|_| {}, &mut |_, _| {});
        let t1 = NtpTimestamp::from_bits(1);
        assert!(arrive(&mut e, "192.0.2.1:123", WILDCARD, &request(0x23, t1)).is_empty());
        assert!(arrive(&mut e, "192.0.2.1:123", WILDCARD, &broadcast_from_server()).is_empty());
        assert_eq!(e.counters().dropped, 2);
        assert!(e.peers().is_empty());
        // A manycast server answers a request sent to the group, from a client of a
        // worse stratum (an unsynchronised one is 16).
        let mut e = casting_engine(|s| s.casting.manycast_server = true, &mut |_, _| {});
        let replies = arrive(&mut e, "192.0.2.1:123", WILDCARD, &request(0x23, t1));
        assert_eq!(replies.len(), 1);
        assert_eq!((replies[0].stratum, replies[0].origin_time), (11, t1));
        let mut better = request(0x23, t1);
        better[1] = 3;
        assert!(arrive(&mut e, "192.0.2.1:123", WILDCARD, &better).is_empty());
    }

    #[test]
    fn broadcasts_need_a_trusted_key_unless_auth_is_disabled() {
        let mut e = casting_engine(|s| s.casting.broadcast_client = true, &mut |_, _| {});
        arrive(&mut e, "192.0.2.5:123", WILDCARD, &broadcast_from_server());
        assert!(e.peers().is_empty());
        assert_eq!(e.counters().bad_auth, 1);
        let mut e = casting_engine(
            |s| {
                s.casting.broadcast_client = true;
                s.authenticate = false;
            },
            &mut |_, _| {},
        );
        arrive(&mut e, "192.0.2.5:123", WILDCARD, &broadcast_from_server());
        let peer = e
            .peers()
            .iter()
            .next()
            .expect("a broadcast client association");
        assert_eq!(peer.assoc.config().mode, AssocMode::BroadcastClient);
        // The volley starts: a client request to the broadcast's source.
        let mut sent = Vec::new();
        e.handle_timer(&mut |to, bytes| sent.push((to, Header::decode(bytes).unwrap().mode)));
        assert_eq!(sent, [("192.0.2.5:123".parse().unwrap(), Mode::Client)]);
    }

    #[test]
    fn a_manycast_answer_mobilises_its_server_once() {
        let group: SocketAddr = "224.0.1.1:123".parse().unwrap();
        let mut solicitor = PeerSpec::server(group);
        solicitor.config.mode = AssocMode::ManycastClient;
        let mut sent = Vec::new();
        let mut e = casting_engine(|s| s.sources.push(solicitor), &mut |to, bytes| {
            sent.push((to, Header::decode(bytes).unwrap()))
        });
        let (to, solicitation) = sent.pop().expect("a solicitation");
        assert_eq!((to, solicitation.mode), (group, Mode::Client));
        let answer = |origin: NtpTimestamp| {
            let mut b = request(0x24, NtpTimestamp::from_bits(0xeeab_8600_0000_0000));
            b[1] = 2;
            b[24..32].copy_from_slice(&origin.to_bits().to_be_bytes());
            b[32..40].copy_from_slice(&0xeeab_8600_0000_0000u64.to_be_bytes());
            b
        };
        let local = "192.0.2.100:123";
        // An answer to something we never sent is nobody's.
        arrive(
            &mut e,
            "192.0.2.8:123",
            local,
            &answer(NtpTimestamp::from_bits(7)),
        );
        assert_eq!(e.peers().len(), 1);
        for _ in 0..2 {
            arrive(
                &mut e,
                "192.0.2.9:123",
                local,
                &answer(solicitation.transmit_time),
            );
        }
        assert_eq!(e.peers().len(), 2);
        let found = e.peers().find("192.0.2.9:123".parse().unwrap()).unwrap();
        let config = e.peers().by_id(found).unwrap().assoc.config();
        assert_eq!((config.mode, config.configured), (AssocMode::Client, false));
    }
}
