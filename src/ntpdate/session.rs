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
use crate::discipline::sample::Exchange;
use crate::time::{NtpDuration, NtpShort, NtpTimestamp};
use crate::wire::ntp::{Header, Leap, Mode, RefId, HEADER_LEN};
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

/// A datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub server: usize,
    pub to: SocketAddr,
    pub bytes: [u8; HEADER_LEN],
}

/// What we know about one server, as classic's `struct server`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerState {
    pub addr: SocketAddr,
    pub leap: Leap,
    /// Stratum as classic shows it (a wire 0 reads as 16).
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub refid: RefId,
    pub reference_time: NtpTimestamp,
    /// The server's transmit time of its last reply (classic's `org`).
    pub last_server_time: NtpTimestamp,
    /// Our transmit time of the last request (classic's `xmt`).
    pub last_request_time: NtpTimestamp,
    pub transmitted: u32,
    pub filter: Filter,
    next_event: Option<Duration>,
}

impl ServerState {
    fn new(addr: SocketAddr, samples: u8, start: Duration) -> ServerState {
        ServerState {
            addr,
            leap: Leap::NoWarning,
            stratum: 0,
            precision: 0,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            refid: RefId::default(),
            reference_time: NtpTimestamp::ZERO,
            last_server_time: NtpTimestamp::ZERO,
            last_request_time: NtpTimestamp::ZERO,
            transmitted: 0,
            filter: Filter::new(samples),
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
        }
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
            server.last_request_time = clock_now;
            server.transmitted += 1;
            server.next_event = Some(now + spacing);
            return Some(Transmit {
                server: index,
                to: server.addr,
                bytes: request(params.version, clock_now),
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
        if server.is_done() || reply.origin_time != server.last_request_time {
            return;
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

fn record_header(server: &mut ServerState, reply: &Header) {
    server.leap = reply.leap;
    server.stratum = if reply.stratum == 0 {
        16
    } else {
        reply.stratum
    };
    server.precision = reply.precision;
    server.root_delay = reply.root_delay;
    server.root_dispersion = reply.root_dispersion;
    server.refid = reply.reference_id;
    server.reference_time = reply.reference_time;
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
