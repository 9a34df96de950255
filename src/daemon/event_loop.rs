//! The single-threaded mio loop: it only moves bytes and timers. Datagrams go to the
//! engine, replies go back out of the socket they came in on, requests to our sources leave
//! from the wildcard socket of their family, and the engine's actions (drift file, exit)
//! and signals are carried out here. The sockets follow the machine's addresses: a
//! rescan (periodic, or soon after the kernel reports a change) opens and closes them.
//!
//! A socket is read a batch of datagrams at a time ([`udp::BATCH`], one `recvmmsg`), their
//! answers leave together (one `sendmmsg`), and signals and timers are looked at between
//! batches: under a flood a socket never runs dry, and SIGTERM must still be acted on
//! within milliseconds. Nothing else is done per datagram: no clock read besides the
//! engine's transmit time (the kernel stamps the arrival), no allocation, no formatting.

use super::listeners::{Listener, Listeners};
use super::observe::Observers;
use super::resolver::Resolver;
use super::settings::{self, NameRequest};
use super::statsfiles::StatsFiles;
use super::{driftio, logging};
use crate::clock::Clock;
use crate::engine::{Action, Datagram, Engine};
use crate::net::{route, udp};
use crate::refclock_io::Devices;
use crate::sys::signals::{Signal, Signals};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why the loop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM/SIGINT/SIGQUIT (the signal number).
    Signal(i32),
    /// The engine asked to exit (-q done, panic) with this status.
    Exit(i32),
}

const SIGNALS: Token = Token(usize::MAX);
const RESOLVER: Token = Token(usize::MAX - 1);
/// The kernel's address notifications.
const ADDRESSES: Token = Token(usize::MAX - 2);
/// The metrics listener; its connections take the tokens below.
const METRICS: Token = Token(usize::MAX - 3);

/// What the loop needs besides the engine.
pub struct Shell<'a> {
    /// The NTP sockets; their slots are their tokens.
    pub listeners: Listeners,
    pub signals: &'a Signals,
    pub drift_path: Option<&'a PathBuf>,
    /// Names of `server`/`peer`/`pool` lines to resolve.
    pub names: Vec<NameRequest>,
    /// `tos maxclock`: associations a pool may mobilise.
    pub max_clock: usize,
    /// Where [`Action::Stats`] records and the hourly sysstats go.
    pub stats: StatsFiles,
    /// Classic's debug level (`-d`), raised and lowered by SIGUSR1 and SIGUSR2.
    pub debug_level: u8,
    /// The metrics endpoint and the service manager.
    pub observers: &'a mut Observers,
    /// The reference clocks' devices, opened at start.
    pub devices: Devices,
}

/// Runs until a signal or the engine stops it.
pub fn run<C: Clock>(engine: &mut Engine<C>, shell: &mut Shell<'_>) -> io::Result<Stop> {
    let mut poll = Poll::new()?;
    engine.note_routes(route::local_for);
    shell
        .listeners
        .register(poll.registry(), ADDRESSES, engine.clock().mono())?;
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
    let (mut inbox, mut outbox) = (udp::Inbox::new(), udp::Outbox::new());
    shell.observers.serving(engine);
    shell.devices.attach(engine, poll.registry());
    loop {
        let now = engine.clock().mono();
        let timeout = if shell.listeners.iter().any(|l| l.unread) {
            Duration::ZERO
        } else {
            engine
                .next_deadline()
                .saturating_sub(now)
                .min(shell.observers.timeout(now))
                .min(shell.listeners.timeout(now))
                .min(shell.devices.timeout(now))
                .min(Duration::from_secs(3600))
        };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // Time service first: the metrics endpoint's turn comes after the NTP sockets'.
        for event in events.iter().filter(|e| !shell.observers.owns(e.token())) {
            match event.token() {
                SIGNALS => {
                    if let Some(stop) = take_signals(shell.signals, &mut shell.debug_level) {
                        return Ok(stop);
                    }
                }
                RESOLVER => {
                    for (request, addrs) in resolver.drain() {
                        let taken = pool_counts.entry(request.name.clone()).or_default();
                        mobilize_resolved(engine, &request, &addrs, taken, shell.max_clock);
                    }
                }
                ADDRESSES => shell.listeners.notified(engine.clock().mono()),
                token if shell.devices.owns(token) => {
                    shell.devices.readable(token, engine, poll.registry());
                }
                token => {
                    if let Some(listener) = shell.listeners.get_mut(token) {
                        listener.unread = true;
                    }
                }
            }
        }
        for listener in shell.listeners.iter_mut().filter(|l| l.unread) {
            listener.unread = read_batch(engine, listener, &mut inbox, &mut outbox) == Batch::Full;
        }
        for event in &events {
            if shell.observers.owns(event.token()) {
                shell
                    .observers
                    .handle(poll.registry(), event.token(), engine);
            }
        }
        shell.devices.tick(engine, poll.registry());
        run_timers(engine, &mut shell.listeners, poll.registry());
        let clock = engine.clock();
        shell
            .stats
            .hourly(engine.counters(), clock.now(), clock.mono());
        if let Some(stop) = carry_out_actions(engine, shell) {
            return Ok(stop);
        }
        shell.observers.tick(poll.registry(), engine);
    }
}

/// The engine's timers when due, then the interface rescan when due; the engine learns
/// which of its own addresses came and went.
fn run_timers<C: Clock>(engine: &mut Engine<C>, listeners: &mut Listeners, registry: &Registry) {
    if engine.clock().mono() >= engine.next_deadline() {
        engine.handle_timer(&mut |to, bytes| send_request(listeners, to, bytes));
    }
    if let Some(moved) = listeners.rescan_if_due(registry, engine.clock().mono()) {
        engine.own_addresses_changed(&moved.removed, &moved.added);
        engine.note_routes(route::local_for);
    }
}

/// Carries out the engine's actions; the stop when one ends the daemon.
fn carry_out_actions<C: Clock>(engine: &mut Engine<C>, shell: &mut Shell<'_>) -> Option<Stop> {
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
                return Some(Stop::Exit(status));
            }
        }
    }
    None
}

/// Acts on the pending signals; the stop when one ends the daemon.
fn take_signals(signals: &Signals, debug_level: &mut u8) -> Option<Stop> {
    while let Some(signal) = signals.read() {
        let level = match signal {
            Signal::Terminate(sig) => return Some(Stop::Signal(sig)),
            Signal::MoreDebug => debug_level.checked_add(1),
            Signal::LessDebug => debug_level.checked_sub(1),
            Signal::Ignored(sig) => {
                log::info!("signal {sig} ignored");
                continue;
            }
        };
        // As classic's moredebug/lessdebug: nothing happens past either end.
        if let Some(level) = level {
            let how = if level > *debug_level {
                "raised"
            } else {
                "lowered"
            };
            *debug_level = level;
            logging::set_debug_level(level);
            log::info!("debug {how} to {level}");
        }
    }
    None
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
            break;
        }
        if let Some(id) = engine.mobilize(settings::spec(*ip, request.template)) {
            *taken += 1;
            log::info!(target: crate::logclass::PEER_EVENTS, "{} ({}) association {id} mobilized", request.name, ip);
        }
    }
    engine.note_routes(route::local_for);
}

/// Sends a request to a source from the wildcard socket of its family (the reply comes
/// back to the address the kernel chose, where an interface socket receives it).
fn send_request(listeners: &mut Listeners, to: SocketAddr, bytes: &[u8]) {
    let same_family = |l: &&mut Listener| l.endpoint.addr.is_ipv4() == to.is_ipv4();
    let mut candidates: Vec<&mut Listener> = listeners.iter_mut().filter(same_family).collect();
    let wildcard = candidates
        .iter()
        .position(|l| l.endpoint.addr.ip().is_unspecified())
        .or_else(|| candidates.iter().position(|l| !l.drop()));
    let Some(at) = wildcard else {
        log::debug!("no socket to reach {to}");
        return;
    };
    candidates.swap_remove(at).send_to(bytes, to);
}

/// How a batch of reads ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Batch {
    /// The socket ran dry (or failed): wait for its next readiness event.
    Done,
    /// Datagrams were read (or the read was interrupted); more may be waiting.
    Full,
}

/// Reads one batch of waiting datagrams of one socket and answers each that deserves it.
/// The loop polls again between batches: a batch is some tens of microseconds of work in
/// a release build, so a signal waits for at most a few under a flood, and the extra poll
/// per batch costs next to nothing.
fn read_batch<C: Clock>(
    engine: &mut Engine<C>,
    listener: &mut Listener,
    inbox: &mut udp::Inbox,
    outbox: &mut udp::Outbox,
) -> Batch {
    let count = match inbox.recv(&listener.socket) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Batch::Done,
        // ICMP errors surface on later reads and clear themselves: try again after the
        // next poll. Anything else ends this round so a persistent error cannot spin the
        // loop.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Batch::Full
        }
        Err(e) => {
            log::debug!("recv: {e}");
            return Batch::Done;
        }
    };
    listener.received += count as u64;
    if !listener.drop() || listener.hears_groups {
        let local = listener.socket.local_addr().ok();
        let (mut queued, mut failed) = (0, 0);
        for received in (0..count).filter_map(|i| inbox.get(i)) {
            let dgram = Datagram {
                bytes: received.bytes,
                source: received.source,
                local,
                received: received.realtime,
            };
            engine.handle_datagram(&dgram, &mut |reply| {
                queued += 1;
                failed += outbox.push(&listener.socket, &received.peer, reply);
            });
        }
        failed += outbox.flush(&listener.socket);
        listener.sent += (queued - failed) as u64;
        listener.dropped += failed as u64;
    }
    // A short batch does not prove the socket dry: an ICMP error queued behind the
    // datagrams ends recvmmsg early, and edge-triggered readiness would not come again for
    // what is left. The next read says WouldBlock when it is.
    Batch::Full
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMono, VirtualClock, VirtualClockSpec};
    use crate::control::NonceKey;
    use crate::daemon::listen::Endpoint;
    use crate::engine::Settings;
    use crate::restrict::{AccessControl, Monitor, RestrictList};
    use crate::time::NtpTimestamp;
    use std::net::UdpSocket;

    /// A socket with more datagrams waiting than a batch takes is read a batch at a time,
    /// each answered, until it runs dry.
    #[test]
    fn a_batch_reads_at_most_batch_datagrams() {
        let clock = VirtualClock::new(
            ManualMono::default(),
            NtpTimestamp::from_bits(0xeeab_8432_0000_0000),
            "1000".parse::<VirtualClockSpec>().unwrap(),
        );
        let access = AccessControl::new(RestrictList::new(), Monitor::new(64));
        let mut engine = Engine::new(clock, Settings::new(access, NonceKey::new([1, 2]), 1));
        let endpoint = Endpoint {
            addr: "127.0.0.1:0".parse().unwrap(),
            interface: "lo".into(),
            drop: false,
        };
        let socket = udp::bind(endpoint.addr).unwrap();
        let mut listener = Listener::new(socket, endpoint, 2);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let to = listener.socket.local_addr().unwrap();
        let mut request = [0u8; 48];
        request[0] = 0x23; // version 4, mode 3
        request[40] = 1; // a transmit time
        let waiting = udp::BATCH + 10;
        for _ in 0..waiting {
            client.send_to(&request, to).unwrap();
        }
        // Loopback delivery may finish in a softirq just after send_to returns.
        std::thread::sleep(Duration::from_millis(50));
        let (mut inbox, mut outbox) = (udp::Inbox::new(), udp::Outbox::new());
        let mut batches = Vec::new();
        while batches.last() != Some(&Batch::Done) && batches.len() < 5 {
            batches.push(read_batch(
                &mut engine,
                &mut listener,
                &mut inbox,
                &mut outbox,
            ));
        }
        // A full batch, the rest, and the read that finds the socket dry.
        assert_eq!(batches, [Batch::Full, Batch::Full, Batch::Done]);
        assert_eq!(listener.received, waiting as u64);
        assert_eq!(listener.sent, waiting as u64);
        let mut buf = [0u8; 2048];
        for _ in 0..waiting {
            let n = client.recv(&mut buf).expect("one answer per request");
            let reply = crate::wire::ntp::Header::decode(&buf[..n]).unwrap();
            // The kernel's receive stamp (real time) lands in the virtual clock's time
            // base, 1000 s ahead: shortly before the transmit time, not 1000 s off.
            let waited = (reply.transmit_time - reply.receive_time).to_secs_f64();
            assert!(
                (0.0..1.0).contains(&waited),
                "received {waited} s before sent"
            );
        }
    }
}
