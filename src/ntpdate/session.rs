//! The sampling state machine, sans-IO: the shell feeds it the time (monotonic for timers,
//! the clock's reading for timestamps), sends what [`Session::poll_transmit`] returns and
//! hands every datagram to [`Session::handle_reply`].
//!
//! Classic timing: each server gets `samples` requests spaced two timeouts apart (2 s by
//! default: 4.2.6p5's captures show exactly 2.000 s between requests); a request that gets
//! no answer by the next slot counts as an empty sample, and a server is done once it has
//! `samples` samples. Unlike classic, the first request leaves at once (classic waits for
//! its first 0.1 s timer tick, then staggers servers by 0.2 s) and the run ends the moment
//! the last answer is in.

use super::filter::{self, Filter, Sample};
use crate::auth::{mac, Key};
use crate::discipline::sample::Exchange;
use crate::time::{NtpDuration, NtpShort, NtpTimestamp};
use crate::wire::ntp::{Header, Leap, Mode, Packet, PeerHeader, RefId, HEADER_LEN};
use std::net::SocketAddr;
use std::time::Duration;

/// What ntpdate sends: LI=3, mode 3, poll 3, precision -6, root delay and dispersion 1 s.
const REQUEST_POLL: i8 = 3;
pub const REQUEST_PRECISION: i8 = -6;

/// The knobs of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SessionParams {
    pub samples: u8,
    pub version: u8,
    pub timeout: NtpDuration,
}

/// One line of classic's `-d` trace, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trace {
    Transmit(SocketAddr),
    Receive(SocketAddr),
    /// A RATE kiss-o'-death ends polling of that server (logged even without -d).
    RateLimited(SocketAddr),
}

/// A datagram to send (48 octets, plus a MAC with `-a`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub server: usize,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// `-a KEY -e DELAY`: requests carry a MAC by `key`, their transmit time is advanced by
/// `delay` (classic's allowance for the time signing takes), and only replies signed with
/// the same key count as authentic.
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    pub key: Key,
    pub delay: NtpDuration,
}

/// What we know about one server, as classic's `struct server`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerState {
    pub addr: SocketAddr,
    /// The server's header variables; stratum as classic shows it (a wire 0 reads as 16).
    pub peer: PeerHeader,
    /// The server's transmit time of its last reply (classic's `org`).
    pub last_server_time: NtpTimestamp,
    /// Our transmit time of the last request (classic's `xmt`).
    pub last_request_time: NtpTimestamp,
    /// The last request still waits for its reply: the first reply that answers it is
    /// taken, and copies of it after that are dropped, so one reply never counts twice.
    awaiting_reply: bool,
    pub transmitted: u32,
    pub filter: Filter,
    /// Classic's trust shift register: a 1 enters for every reply that failed
    /// authentication (with `-a`); a server with any 1 among the last 8 is not used.
    pub trust: u8,
    next_event: Option<Duration>,
}

impl ServerState {
    fn new(addr: SocketAddr, samples: u8, start: Duration) -> ServerState {
        ServerState {
            addr,
            peer: PeerHeader {
                leap: Leap::NoWarning,
                ..PeerHeader::cleared(0, RefId::default())
            },
            last_server_time: NtpTimestamp::ZERO,
            last_request_time: NtpTimestamp::ZERO,
            awaiting_reply: false,
            transmitted: 0,
            filter: Filter::new(samples),
            trust: 0,
            next_event: Some(start),
        }
    }

    pub fn is_done(&self) -> bool {
        self.next_event.is_none()
    }
}

/// One ntpdate run over its servers.
#[derive(Clone, Debug)]
pub struct Session {
    params: SessionParams,
    servers: Vec<ServerState>,
    trace: Vec<Trace>,
    auth: Option<Auth>,
}

impl Session {
    pub fn new(servers: &[SocketAddr], params: SessionParams, now: Duration) -> Session {
        Session {
            params,
            servers: servers
                .iter()
                .map(|a| ServerState::new(*a, params.samples, now))
                .collect(),
            trace: Vec::new(),
            auth: None,
        }
    }

    /// Signs requests and checks replies with `auth` (`-a`/`-k`/`-e`).
    pub fn with_auth(mut self, auth: Auth) -> Session {
        self.auth = Some(auth);
        self
    }

    /// Requests are spaced two timeouts apart (classic's observed 2 s at the default 1 s).
    fn spacing(&self) -> Duration {
        (self.params.timeout + self.params.timeout).to_std()
    }

    /// The next request due at `now` (monotonic), stamped with `clock_now`; servers whose
    /// last slot passed are closed on the way (classic's `transmit()`).
    pub fn poll_transmit(&mut self, now: Duration, clock_now: NtpTimestamp) -> Option<Transmit> {
        let spacing = self.spacing();
        let params = self.params;
        for (index, server) in self.servers.iter_mut().enumerate() {
            match server.next_event {
                Some(due) if due <= now => {}
                _ => continue,
            }
            self.trace.push(Trace::Transmit(server.addr));
            if server.filter.len() < server.transmitted as usize {
                server.filter.push(Sample::EMPTY);
            }
            if server.filter.len() >= usize::from(params.samples) {
                server.next_event = None;
                continue;
            }
            let stamp = clock_now + self.auth.as_ref().map_or(NtpDuration::ZERO, |a| a.delay);
            server.last_request_time = stamp;
            server.awaiting_reply = true;
            server.transmitted += 1;
            server.next_event = Some(now + spacing);
            let mut bytes = request(params.version, stamp).to_vec();
            if let Some(auth) = &self.auth {
                mac::sign(&auth.key, &mut bytes);
            }
            return Some(Transmit {
                server: index,
                to: server.addr,
                bytes,
            });
        }
        None
    }

    /// Processes one datagram from `from`, received at `received` (our clock).
    pub fn handle_reply(&mut self, bytes: &[u8], from: SocketAddr, received: NtpTimestamp) {
        self.trace.push(Trace::Receive(from));
        let Ok(reply) = Header::decode(bytes) else {
            return;
        };
        if !matches!(reply.mode, Mode::Server | Mode::SymmetricPassive) || reply.stratum >= 16 {
            return;
        }
        // Like classic, a reply belongs to the first server with that address.
        let Some(server) = self.servers.iter_mut().find(|s| s.addr == from) else {
            return;
        };
        if server.is_done()
            || !server.awaiting_reply
            || reply.origin_time != server.last_request_time
        {
            return;
        }
        server.awaiting_reply = false;
        if let Some(auth) = &self.auth {
            server.trust = (server.trust << 1) | u8::from(!authentic(bytes, &auth.key));
        }
        if reply.leap == Leap::Unsync && reply.stratum == 0 && reply.reference_id.0 == *b"RATE" {
            self.trace.push(Trace::RateLimited(from));
            server.next_event = None;
            return;
        }
        record_header(server, &reply);
        if reply.receive_time.is_zero() || reply.transmit_time < reply.receive_time {
            return;
        }
        let exchange = Exchange::from_reply(&reply, received);
        server
            .filter
            .push(filter::classic_sample(&exchange, reply.precision));
        if server.filter.len() >= usize::from(self.params.samples) {
            server.next_event = None;
        }
    }

    /// When the shell must call [`Session::poll_transmit`] next (None: the run is over).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.servers.iter().filter_map(|s| s.next_event).min()
    }

    pub fn is_done(&self) -> bool {
        self.servers.iter().all(ServerState::is_done)
    }

    /// The trace since the last call (for `-d` and the rate-limit message).
    pub fn take_trace(&mut self) -> Vec<Trace> {
        std::mem::take(&mut self.trace)
    }

    pub fn servers(&self) -> &[ServerState] {
        &self.servers
    }
}

/// A reply counts as authentic only with a MAC by our own key that verifies (classic
/// ntpdate trusts nothing else, whatever the keys file holds).
fn authentic(bytes: &[u8], key: &Key) -> bool {
    let Ok(p) = Packet::decode(bytes) else {
        return false;
    };
    match p.trailer.mac_offset {
        Some(at) if p.trailer.key_id == key.id => mac::verify(key, &bytes[..at], &bytes[at + 4..]),
        _ => false,
    }
}

fn record_header(server: &mut ServerState, reply: &Header) {
    server.peer = PeerHeader::of(reply);
    if reply.stratum == 0 {
        server.peer.stratum = 16;
    }
    server.last_server_time = reply.transmit_time;
}

/// The classic ntpdate request, stamped with `transmit`.
pub fn request(version: u8, transmit: NtpTimestamp) -> [u8; HEADER_LEN] {
    let header = Header {
        leap: Leap::Unsync,
        version,
        mode: Mode::Client,
        stratum: 0,
        poll: REQUEST_POLL,
        precision: REQUEST_PRECISION,
        root_delay: NtpShort::from_bits(0x0001_0000),
        root_dispersion: NtpShort::from_bits(0x0001_0000),
        reference_id: RefId::default(),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: transmit,
    };
    let mut out = [0u8; HEADER_LEN];
    header.encode(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntpdate::options::Adjust;
    use crate::ntpdate::outcome::{conclude, debug_dump, query_line};

    const SERVER: &str = "172.25.0.99:123";

    fn params(samples: u8) -> SessionParams {
        SessionParams {
            samples,
            version: 4,
            timeout: NtpDuration::ONE_SECOND,
        }
    }

    fn clock(secs: f64) -> NtpTimestamp {
        NtpTimestamp::from_bits(0xeeab_84fa_0000_0000) + NtpDuration::from_secs_f64(secs)
    }

    /// A synchronised stratum-2 server `ahead` seconds ahead, answering instantly.
    fn reply_to(request: &[u8], ahead: f64, leap: Leap) -> [u8; HEADER_LEN] {
        let asked = Header::decode(request).unwrap();
        let server_now = asked.transmit_time + NtpDuration::from_secs_f64(ahead + 0.000_02);
        let reply = Header {
            leap,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: 3,
            precision: -23,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            reference_id: RefId::from_ascii("GPS"),
            reference_time: server_now + NtpDuration::from_secs(-60),
            origin_time: asked.transmit_time,
            receive_time: server_now,
            transmit_time: server_now,
        };
        let mut out = [0u8; HEADER_LEN];
        reply.encode(&mut out);
        out
    }

    #[test]
    fn request_is_classic() {
        let bytes = request(4, clock(0.0));
        assert_eq!(
            bytes[..16],
            [0xe3, 0, 3, 0xfa, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        assert!(bytes[16..40].iter().all(|b| *b == 0));
        assert_eq!(request(3, clock(0.0))[0], 0xdb);
    }

    #[test]
    fn answered_server_gives_samples_two_seconds_apart() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut s = Session::new(&[addr], params(4), Duration::ZERO);
        for n in 0..4u64 {
            let now = Duration::from_secs(2 * n);
            assert_eq!(s.next_deadline(), Some(now));
            let tx = s.poll_transmit(now, clock(now.as_secs_f64())).unwrap();
            assert!(s.poll_transmit(now, clock(0.0)).is_none());
            let reply = reply_to(&tx.bytes, -0.691491, Leap::NoWarning);
            s.handle_reply(&reply, addr, clock(now.as_secs_f64() + 0.00004));
        }
        assert!(s.is_done());
        assert_eq!(s.next_deadline(), None);
        let out = conclude(s.servers(), Adjust::Auto);
        let (index, decision) = out.chosen.unwrap();
        assert_eq!(index, 0);
        assert!(decision.step);
        assert_eq!(
            query_line(&s.servers()[0], &out.filtered[0]),
            "server 172.25.0.99, stratum 2, offset -0.691491, delay 0.02565"
        );
    }

    #[test]
    fn stale_duplicate_and_foreign_replies_are_ignored() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut s = Session::new(&[addr], params(1), Duration::ZERO);
        let tx = s.poll_transmit(Duration::ZERO, clock(0.0)).unwrap();
        let reply = reply_to(&tx.bytes, 0.0, Leap::NoWarning);
        s.handle_reply(&reply, "172.25.0.98:123".parse().unwrap(), clock(0.001));
        s.handle_reply(&reply[..40], addr, clock(0.001));
        let mut wrong_origin = reply;
        wrong_origin[31] ^= 1;
        s.handle_reply(&wrong_origin, addr, clock(0.001));
        assert!(!s.is_done());
        s.handle_reply(&reply, addr, clock(0.001));
        assert!(s.is_done());
    }

    /// A server (or a man in the middle) sending each reply four times gives one sample
    /// per request, not four.
    #[test]
    fn copies_of_one_reply_count_once() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut s = Session::new(&[addr], params(4), Duration::ZERO);
        let tx = s.poll_transmit(Duration::ZERO, clock(0.0)).unwrap();
        let reply = reply_to(&tx.bytes, 0.0, Leap::NoWarning);
        for _ in 0..4 {
            s.handle_reply(&reply, addr, clock(0.001));
        }
        assert_eq!(s.servers()[0].filter.len(), 1);
        assert!(!s.is_done());
        let tx = s.poll_transmit(s.spacing(), clock(2.0)).unwrap();
        let reply = reply_to(&tx.bytes, 0.0, Leap::NoWarning);
        s.handle_reply(&reply, addr, clock(2.001));
        assert_eq!(s.servers()[0].filter.len(), 2);
    }

    #[test]
    fn unreachable_server_gives_up_after_classic_slots() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut s = Session::new(&[addr], params(4), Duration::ZERO);
        let mut sent = 0;
        while let Some(deadline) = s.next_deadline() {
            if s.poll_transmit(deadline, clock(deadline.as_secs_f64()))
                .is_some()
            {
                sent += 1;
            }
            if s.is_done() {
                assert_eq!(deadline, Duration::from_secs(8));
            }
        }
        assert_eq!(sent, 4);
        let transmits = s
            .take_trace()
            .iter()
            .filter(|t| matches!(t, Trace::Transmit(_)))
            .count();
        assert_eq!(transmits, 5);
        let out = conclude(s.servers(), Adjust::Auto);
        assert_eq!(out.chosen, None);
        // Classic 4.2.6p5's dump for this case (ntpdate.txt; our last request left at 6 s),
        // plus our round-trip line.
        let dump = debug_dump(&s.servers()[0], &out.filtered[0], 0);
        let expected = "server 172.25.0.99, port 123\n\
            stratum 0, precision 0, leap 00, trust 000\n\
            refid [172.25.0.99], delay 0.00000, dispersion 64.00000\n\
            transmitted 4, in filter 4\n\
            reference time:    00000000.00000000  Mon, Jan  1 1900  0:00:00.000\n\
            originate timestamp: 00000000.00000000  Mon, Jan  1 1900  0:00:00.000\n\
            transmit timestamp:  eeab8500.00000000  Sat, Nov 21 2026  2:48:32.000\n\
            filter delay:  0.00000  0.00000  0.00000  0.00000 \n         0.00000  0.00000  0.00000  0.00000 \n\
            filter offset: 0.000000 0.000000 0.000000 0.000000\n         0.000000 0.000000 0.000000 0.000000\n\
            delay 0.00000, dispersion 64.00000\n\
            offset 0.000000\n\
            round trip (without classic's allowance) 0.000000\n\n";
        assert_eq!(dump, expected);
    }

    fn md5_key() -> Key {
        crate::auth::keys::parse(b"7 M secret\n").keys.remove(0)
    }

    /// `-a 7`: requests are signed and stamped `-e` later; a reply signed with the key is
    /// used, an unsigned or wrongly signed one makes the server untrusted.
    #[test]
    fn authenticated_run_uses_only_signed_replies() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let delay = NtpDuration::from_secs_f64(0.25);
        let auth = Auth {
            key: md5_key(),
            delay,
        };
        for (signing, usable) in [
            (Some("7 M secret"), true),
            (None, false),
            (Some("7 M wrong"), false),
        ] {
            let mut s = Session::new(&[addr], params(1), Duration::ZERO).with_auth(auth.clone());
            let tx = s.poll_transmit(Duration::ZERO, clock(0.0)).unwrap();
            assert_eq!(tx.bytes.len(), 48 + 20);
            assert_eq!(tx.bytes[48..52], [0, 0, 0, 7]);
            assert!(mac::verify(&auth.key, &tx.bytes[..48], &tx.bytes[52..]));
            assert_eq!(
                Header::decode(&tx.bytes).unwrap().transmit_time,
                clock(0.0) + delay
            );
            let mut reply = reply_to(&tx.bytes, 0.0, Leap::NoWarning).to_vec();
            if let Some(keys) = signing {
                mac::sign(
                    &crate::auth::keys::parse(keys.as_bytes()).keys[0],
                    &mut reply,
                );
            }
            // Received 0.25 s (the -e delay) + 1 ms after the request left.
            s.handle_reply(&reply, addr, clock(0.251));
            assert!(s.is_done());
            let out = conclude(s.servers(), Adjust::Auto);
            assert_eq!(
                out.chosen.is_some(),
                usable,
                "{signing:?} {:?}",
                out.dropped
            );
            if !usable {
                assert_eq!(s.servers()[0].trust, 1);
                assert_eq!(
                    out.dropped,
                    vec![(0, crate::ntpdate::select::Dropped::Untrusted)]
                );
            }
        }
    }

    #[test]
    fn unsynchronised_server_is_dropped() {
        let addr: SocketAddr = SERVER.parse().unwrap();
        let mut s = Session::new(&[addr], params(1), Duration::ZERO);
        let tx = s.poll_transmit(Duration::ZERO, clock(0.0)).unwrap();
        s.handle_reply(&reply_to(&tx.bytes, 0.0, Leap::Unsync), addr, clock(0.0001));
        let out = conclude(s.servers(), Adjust::Auto);
        assert_eq!(out.chosen, None);
        assert_eq!(
            out.dropped,
            vec![(0, crate::ntpdate::select::Dropped::LeapNotInSync)]
        );
    }
}
