//! The single-threaded mio loop: it only moves bytes and timers. Datagrams go to the
//! engine, replies go back out of the socket they came in on, requests to our sources leave
//! from the wildcard socket of their family, and the engine's actions (drift file, exit)
//! and signals are carried out here.

use super::driftio;
use super::observe::Observers;
use super::resolver::Resolver;
use super::settings::{self, NameRequest};
use super::signals::{Signal, Signals};
use super::statsfiles::StatsFiles;
use crate::clock::Clock;
use crate::engine::{Action, Datagram, Engine};
use crate::net::udp;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A bound socket and whether what arrives on it is answered.
pub struct Listener {
    pub socket: UdpSocket,
    pub drop: bool,
}

/// Why the loop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM/SIGINT (the signal number).
    Signal(i32),
    /// The engine asked to exit (-q done, panic) with this status.
    Exit(i32),
}

const SIGNALS: Token = Token(usize::MAX);
const RESOLVER: Token = Token(usize::MAX - 1);
/// The metrics listener; its connections take the tokens below.
const METRICS: Token = Token(usize::MAX - 2);

/// What the loop needs besides the engine.
pub struct Shell<'a> {
    pub listeners: &'a [Listener],
    pub signals: &'a Signals,
    pub drift_path: Option<&'a PathBuf>,
    /// Names of `server`/`peer`/`pool` lines to resolve.
    pub names: Vec<NameRequest>,
    /// `tos maxclock`: associations a pool may mobilise.
    pub max_clock: usize,
    /// Where [`Action::Stats`] records and the hourly sysstats go.
    pub stats: StatsFiles,
    /// The metrics endpoint and the service manager.
    pub observers: &'a mut Observers,
}

/// Runs until a signal or the engine stops it.
pub fn run<C: Clock>(engine: &mut Engine<C>, shell: &mut Shell<'_>) -> io::Result<Stop> {
    let mut poll = Poll::new()?;
    for (i, l) in shell.listeners.iter().enumerate() {
        poll.registry().register(
            &mut SourceFd(&l.socket.as_raw_fd()),
            Token(i),
            Interest::READABLE,
        )?;
    }
    poll.registry().register(
        &mut SourceFd(&shell.signals.as_raw_fd()),
        SIGNALS,
        Interest::READABLE,
    )?;
    shell.observers.register(poll.registry(), METRICS)?;
    let waker = Arc::new(Waker::new(poll.registry(), RESOLVER)?);
    let resolver = Resolver::start(std::mem::take(&mut shell.names), waker);
    let mut pool_counts: HashMap<String, usize> = HashMap::new();
    let mut events = Events::with_capacity(64);
    let mut buf = [0u8; 2048];
    shell.observers.serving(engine);
    loop {
        let now = engine.clock().mono();
        let timeout = engine
            .next_deadline()
            .saturating_sub(now)
            .min(shell.observers.timeout(now))
            .min(Duration::from_secs(3600));
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // Time service first: the metrics endpoint's turn comes after the NTP sockets'.
        for event in events.iter().filter(|e| !shell.observers.owns(e.token())) {
            match event.token() {
                SIGNALS => {
                    while let Some(signal) = shell.signals.read() {
                        match signal {
                            Signal::Terminate(sig) => return Ok(Stop::Signal(sig)),
                            Signal::Hangup => log::info!("SIGHUP ignored"),
                        }
                    }
                }
                RESOLVER => {
                    for (request, addrs) in resolver.drain() {
                        let taken = pool_counts.entry(request.name.clone()).or_default();
                        mobilize_resolved(engine, &request, &addrs, taken, shell.max_clock);
                    }
                }
                Token(i) => {
                    if let Some(listener) = shell.listeners.get(i) {
                        drain(engine, listener, &mut buf);
                    }
                }
            }
        }
        for event in &events {
            if shell.observers.owns(event.token()) {
                shell
                    .observers
                    .handle(poll.registry(), event.token(), engine);
            }
        }
        if engine.clock().mono() >= engine.next_deadline() {
            engine.handle_timer(&mut |to, bytes| send_request(shell.listeners, to, bytes));
        }
        let clock = engine.clock();
        shell
            .stats
            .hourly(engine.counters(), clock.now(), clock.mono());
        for action in engine.take_actions() {
            match action {
                Action::WriteDrift(freq) => {
                    if let Some(path) = shell.drift_path {
                        if let Err(err) = driftio::write(path, freq) {
                            log::warn!("cannot write drift file {}: {err}", path.display());
                        }
                    }
                }
                Action::Event(event) => event.log(),
                Action::Stats(record) => {
                    let clock = engine.clock();
                    shell.stats.write(&record, clock.now(), clock.mono());
                }
                Action::Exit { status, message } => {
                    if let Some(message) = message {
                        println!("{message}");
                    }
                    return Ok(Stop::Exit(status));
                }
            }
        }
        shell.observers.tick(poll.registry(), engine);
    }
}

/// Associations for a resolved name: its first address for `server`/`peer`, every
/// address up to `max_clock` in all for a `pool`.
fn mobilize_resolved<C: Clock>(
    engine: &mut Engine<C>,
    request: &NameRequest,
    addrs: &[std::net::IpAddr],
    taken: &mut usize,
    max_clock: usize,
) {
    let wanted = if request.pool { addrs.len() } else { 1 };
    for ip in addrs.iter().take(wanted) {
        if request.pool && *taken >= max_clock {
            return;
        }
        if let Some(id) = engine.mobilize(settings::spec(*ip, request.template)) {
            *taken += 1;
            log::info!("{} ({}) association {id} mobilized", request.name, ip);
        }
    }
}

/// Sends a request to a source from the wildcard socket of its family (the reply comes
/// back to the address the kernel chose, where an interface socket receives it).
fn send_request(listeners: &[Listener], to: SocketAddr, bytes: &[u8]) {
    let local_of = |l: &&Listener| l.socket.local_addr().ok();
    let same_family = |l: &&Listener| local_of(l).is_some_and(|a| a.is_ipv4() == to.is_ipv4());
    let wildcard = listeners
        .iter()
        .filter(same_family)
        .find(|l| local_of(l).is_some_and(|a| a.ip().is_unspecified()))
        .or_else(|| listeners.iter().filter(same_family).find(|l| !l.drop));
    let Some(listener) = wildcard else {
        log::debug!("no socket to reach {to}");
        return;
    };
    if let Err(e) = listener.socket.send_to(bytes, to) {
        log::debug!("send to {to}: {e}");
    }
}

/// Reads every waiting datagram of one socket, answering each that deserves it.
fn drain<C: Clock>(engine: &mut Engine<C>, listener: &Listener, buf: &mut [u8]) {
    let local = listener.socket.local_addr().ok();
    loop {
        let received = match udp::recv(&listener.socket, buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // ICMP errors surface on later reads and clear themselves; anything else ends
            // this round so a persistent error cannot spin the loop.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue
            }
            Err(e) => {
                log::debug!("recv: {e}");
                return;
            }
        };
        if listener.drop {
            continue;
        }
        let dgram = Datagram {
            bytes: &buf[..received.len],
            source: received.source,
            local,
            age: received.age,
        };
        engine.handle_datagram(&dgram, &mut |reply| {
            if let Err(e) = listener.socket.send_to(reply, received.source) {
                log::debug!("send to {}: {e}", received.source);
            }
        });
    }
}
