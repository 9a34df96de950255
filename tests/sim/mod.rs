//! A deterministic network simulator around the real daemon core: engines (`Engine` on a
//! [`SimClock`] each: clients, servers, peers) and scripted servers exchange datagrams
//! over simulated paths (delay, jitter, asymmetry, loss, reordering) in virtual time, with
//! no sleeping. Engines are driven only through their public API: `handle_datagram`,
//! `handle_timer`, `next_deadline` and `take_actions`, as the daemon's event loop does.
//!
//! The harness checks one rule in every scenario: no engine ever sends one peer two
//! requests less than two seconds apart (issue 11; classic's BURST_INTERVAL).
#![allow(dead_code)]

pub mod clock;
pub mod server;

pub use clock::SimClock;
pub use server::Server;

use ntp6::assoc::Association;
use ntp6::clock::{Clock, ManualMono, MonoSource};
use ntp6::control::NonceKey;
use ntp6::discipline::loopfilter::LoopConfig;
use ntp6::discipline::system::{SystemProcess, TosParams};
use ntp6::engine::peers::PeerSpec;
use ntp6::engine::{Action, Datagram, Engine, Event, Settings};
use ntp6::refclock::local::{LocalClock, LocalFudge};
use ntp6::restrict::{AccessControl, Family, Monitor, RestrictFlags, RestrictList};
use ntp6::time::{NtpDuration, NtpTimestamp, PollInterval, Ppm};
use ntp6::wire::ntp::{peek_mode, Mode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The engine type every node runs.
pub type SimEngine = Engine<SimClock>;

/// The least spacing of two requests from one engine to one peer.
pub const MIN_REQUEST_SPACING: Duration = Duration::from_secs(2);

/// A small deterministic generator (xorshift64*), with Gaussian samples.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// An engine node's attachment to the network (seconds; probability for `loss`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// Base delay of what the node sends, and of what it receives.
    pub up: f64,
    pub down: f64,
    /// Standard deviation of the queueing delay added to each datagram, per direction.
    pub jitter: f64,
    pub loss: f64,
}

/// One of our daemons in the simulation.
pub struct EngineNode {
    pub addr: SocketAddr,
    pub engine: SimEngine,
    pub clock: SimClock,
    /// What it was started with (a restart starts over from these).
    pub settings: Settings,
    pub link: Link,
    /// Random-walk frequency wander of its oscillator (PPM per sqrt(hour)).
    pub wander_ppm: f64,
    /// The engine asked to exit: (world time, status). It runs no more.
    pub exit: Option<(Duration, i32)>,
    /// Down (e.g. restarting): no timers, datagrams to it are lost.
    pub down: bool,
    /// First moment its system variables said synchronised.
    pub synced_at: Option<Duration>,
    /// Every change of its system variables' synchronised state: (world time, now).
    pub sync_changes: Vec<(Duration, bool)>,
    /// The events it logged, with their world time.
    pub events: Vec<(Duration, Event)>,
    /// (world time, true offset of its clock) once a second.
    pub trace: Vec<(Duration, f64)>,
}

impl EngineNode {
    fn running(&self) -> bool {
        self.exit.is_none() && !self.down && !self.clock.sleeping()
    }
}

/// Who sits at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRef {
    Engine(usize),
    Server(usize),
}

/// A datagram on the wire.
struct Flight {
    at: Duration,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// What happens next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Next {
    Wake(usize),
    Deliver(usize),
    Timer(usize),
    Sample,
}

/// Scenario parameters of the classic set-up: one client engine (the node watched) and
/// scripted servers.
pub struct Setup {
    pub start_offset: f64,
    pub drift_ppm: f64,
    /// Random-walk frequency wander of the oscillator (PPM per sqrt(hour)).
    pub wander_ppm: f64,
    pub servers: Vec<Server>,
    pub iburst: bool,
    /// `maxpoll` of every server line (classic's 10 when None).
    pub max_poll: Option<PollInterval>,
    pub loop_config: LoopConfig,
    pub tos: TosParams,
    pub drift_file: Option<Ppm>,
    /// A LOCAL(0) driver at this stratum.
    pub local_clock: Option<u8>,
    pub seed: u64,
}

impl Setup {
    pub fn new(start_offset: f64, drift_ppm: f64, servers: Vec<Server>) -> Setup {
        Setup {
            start_offset,
            drift_ppm,
            wander_ppm: 0.0,
            servers,
            iburst: true,
            max_poll: None,
            loop_config: LoopConfig::default(),
            tos: TosParams::default(),
            drift_file: None,
            local_clock: None,
            seed: 7,
        }
    }
}

/// True time at world time zero.
pub fn base() -> NtpTimestamp {
    NtpTimestamp::from_unix(1_700_000_000, 0)
}

/// Where the classic set-up's client sits.
pub fn client_addr() -> SocketAddr {
    "10.0.1.1:123".parse().unwrap()
}

/// Where the classic set-up's server `i` sits.
pub fn server_addr(i: usize) -> SocketAddr {
    SocketAddr::new([10, 0, 0, i as u8 + 1].into(), 123)
}

/// Settings of a daemon at `own` that serves anyone and steers its clock: `restrict
/// default` without flags, classic defaults otherwise.
pub fn settings(own: SocketAddr) -> Settings {
    let mut list = RestrictList::new();
    list.add_default(Family::V4, RestrictFlags::default());
    let mut s = Settings::new(
        AccessControl::new(list, Monitor::new(64)),
        NonceKey::new([own.port().into(), 7]),
        1000,
    );
    s.steer_clock = true;
    s.own_addresses = vec![own.ip()];
    s
}

/// `server ADDR [iburst]`.
pub fn server_line(addr: SocketAddr, iburst: bool) -> PeerSpec {
    let mut spec = PeerSpec::server(addr);
    spec.config.iburst = iburst;
    spec
}

/// `peer ADDR`: a symmetric active association.
pub fn peer_line(addr: SocketAddr) -> PeerSpec {
    let mut spec = PeerSpec::server(addr);
    spec.config.mode = ntp6::assoc::AssocMode::SymmetricActive;
    spec
}

/// `server 127.127.1.0` with `fudge 127.127.1.0 stratum N`.
pub fn local_clock(stratum: u8) -> LocalClock {
    LocalClock::new(
        0,
        LocalFudge {
            stratum,
            ..LocalFudge::default()
        },
    )
}

/// A running simulation.
pub struct Sim {
    /// World time: true elapsed time since the start.
    pub mono: ManualMono,
    pub engines: Vec<EngineNode>,
    pub servers: Vec<Server>,
    server_addrs: Vec<SocketAddr>,
    flights: Vec<Flight>,
    /// Pending resumes: (world time, engine, RTC error of the time slept).
    wakes: Vec<(Duration, usize, f64)>,
    next_sample: Duration,
    rng: Rng,
    /// Probability that a datagram is held back by `reorder_delay` (overtaken by later ones).
    pub reorder: f64,
    pub reorder_delay: f64,
    /// Last request time per (sender, receiver), for the spacing rule.
    last_request: HashMap<(SocketAddr, SocketAddr), Duration>,
    /// Requests each scripted server received: (sender, world time).
    pub requests: HashMap<SocketAddr, Vec<(SocketAddr, Duration)>>,
    /// Datagrams that reached an address where no node sits (a probe): (world time,
    /// sender, bytes).
    pub probes: HashMap<SocketAddr, Vec<(Duration, SocketAddr, Vec<u8>)>>,
}

impl Sim {
    /// An empty world.
    pub fn empty(seed: u64) -> Sim {
        Sim {
            mono: ManualMono::default(),
            engines: Vec::new(),
            servers: Vec::new(),
            server_addrs: Vec::new(),
            flights: Vec::new(),
            wakes: Vec::new(),
            next_sample: Duration::from_secs(1),
            rng: Rng::new(seed),
            reorder: 0.0,
            reorder_delay: 0.0,
            last_request: HashMap::new(),
            requests: HashMap::new(),
            probes: HashMap::new(),
        }
    }

    /// The classic set-up: scripted servers at [`server_addr`], one client engine at
    /// [`client_addr`] with a `server` line for each.
    pub fn new(setup: Setup) -> Sim {
        let mut sim = Sim::empty(setup.seed);
        let mut s = settings(client_addr());
        for server in &setup.servers {
            let addr = sim.add_server(*server);
            let mut line = server_line(addr, setup.iburst);
            line.config.max_poll = setup.max_poll.unwrap_or(line.config.max_poll);
            s.sources.push(line);
        }
        s.loop_config = setup.loop_config;
        s.tos = setup.tos;
        s.initial_frequency = setup.drift_file;
        s.local_clocks.extend(setup.local_clock.map(local_clock));
        let client = sim.add_engine(
            client_addr(),
            setup.start_offset,
            setup.drift_ppm,
            s,
            Link::default(),
        );
        sim.engines[client].wander_ppm = setup.wander_ppm;
        sim
    }

    /// Adds a scripted server at the next [`server_addr`]; returns its address.
    pub fn add_server(&mut self, server: Server) -> SocketAddr {
        let addr = server_addr(self.servers.len());
        self.servers.push(server);
        self.server_addrs.push(addr);
        addr
    }

    /// Adds an engine at `addr` on a clock `offset` seconds off and `drift` PPM fast;
    /// returns its index.
    pub fn add_engine(
        &mut self,
        addr: SocketAddr,
        offset: f64,
        drift: f64,
        settings: Settings,
        link: Link,
    ) -> usize {
        let true_now = self.true_time(self.now());
        let clock = SimClock::new(&self.mono, true_now, offset, drift);
        let engine = Engine::new(clock.clone(), settings.clone());
        self.engines.push(EngineNode {
            addr,
            engine,
            clock,
            settings,
            link,
            wander_ppm: 0.0,
            exit: None,
            down: false,
            synced_at: None,
            sync_changes: Vec::new(),
            events: Vec::new(),
            trace: Vec::new(),
        });
        self.engines.len() - 1
    }

    /// World time.
    pub fn now(&self) -> Duration {
        self.mono.mono()
    }

    /// True time at world time `t`.
    pub fn true_time(&self, t: Duration) -> NtpTimestamp {
        base() + NtpDuration::from_secs_f64(t.as_secs_f64())
    }

    /// The watched node: the first engine (the classic set-up's client).
    pub fn client(&self) -> &SimEngine {
        &self.engines[0].engine
    }

    pub fn system(&self) -> &SystemProcess {
        self.client().system_process()
    }

    /// The system peer ID of the client's first reference clock (LOCAL(0)).
    pub fn local_id(&self) -> u32 {
        let (id, _) = self
            .client()
            .sources()
            .refclocks()
            .next()
            .expect("LOCAL(0)");
        id.selection_id()
    }

    /// The client's `i`-th network association (in the order of its `server` lines).
    pub fn assoc(&self, i: usize) -> &Association {
        &self
            .client()
            .peers()
            .iter()
            .nth(i)
            .expect("association")
            .assoc
    }

    /// Engine `i`'s clock error against true time (seconds; positive: ahead).
    pub fn offset_of(&self, i: usize) -> f64 {
        (self.engines[i].clock.now() - self.true_time(self.now())).to_secs_f64()
    }

    /// The client's clock error against true time (seconds; positive: ahead).
    pub fn true_offset(&self) -> f64 {
        self.offset_of(0)
    }

    /// The client's frequency error left: oscillator drift plus correction (PPM).
    pub fn frequency_error(&self) -> f64 {
        let clock = &self.engines[0].clock;
        clock.drift() + clock.frequency().map_or(0.0, |f| f.0)
    }

    /// Steps the client asked for: (world time, seconds).
    pub fn steps(&self) -> Vec<(Duration, f64)> {
        self.engines[0].clock.steps()
    }

    /// When the client exited with a panic (status 1).
    pub fn panicked(&self) -> Option<Duration> {
        self.engines[0]
            .exit
            .filter(|(_, status)| *status != 0)
            .map(|(t, _)| t)
    }

    /// Whether the client exited normally (-q done).
    pub fn exited(&self) -> bool {
        self.engines[0].exit.is_some_and(|(_, status)| status == 0)
    }

    pub fn synced_at(&self) -> Option<Duration> {
        self.engines[0].synced_at
    }

    /// Since when engine `i` has been synchronised without a break (None: it is not).
    pub fn serving_since(&self, i: usize) -> Option<Duration> {
        let node = &self.engines[i];
        if !node.engine.system().synchronized() {
            return None;
        }
        node.sync_changes.last().map(|c| c.0)
    }

    /// The client's once-a-second trace of its true offset.
    pub fn trace(&self) -> &[(Duration, f64)] {
        &self.engines[0].trace
    }

    /// Suspends engine `i` for `duration` of world time; on resume the kernel adds the
    /// time slept to its clock, `rtc_error` seconds wrong.
    pub fn suspend(&mut self, i: usize, duration: Duration, rtc_error: f64) {
        self.engines[i].clock.suspend();
        self.wakes.push((self.now() + duration, i, rtc_error));
    }

    /// Restarts engine `i` from its settings, on the same clock, after `down` of world
    /// time during which it does not answer.
    pub fn restart(&mut self, i: usize, down: Duration) {
        self.engines[i].down = true;
        let until = self.now() + down;
        self.run_until(until);
        let node = &mut self.engines[i];
        node.engine = Engine::new(node.clock.clone(), node.settings.clone());
        node.down = false;
        node.exit = None;
        node.synced_at = None;
    }

    pub fn run_for_hours(&mut self, hours: f64) {
        let until = self.now() + Duration::from_secs_f64(hours * 3600.0);
        self.run_until(until);
    }

    /// Runs every node until world time `until`.
    pub fn run_until(&mut self, until: Duration) {
        while let Some((t, next)) = self.next_event().filter(|(t, _)| *t <= until) {
            let now = self.now();
            if t > now {
                self.mono.advance(t - now);
            }
            match next {
                Next::Wake(k) => {
                    let (_, i, rtc_error) = self.wakes.swap_remove(k);
                    self.engines[i].clock.resume(rtc_error);
                }
                Next::Deliver(k) => {
                    let flight = self.flights.swap_remove(k);
                    self.deliver(flight);
                }
                Next::Timer(i) => self.timer(i),
                Next::Sample => self.sample(),
            }
        }
        let now = self.now();
        if until > now {
            self.mono.advance(until - now);
        }
    }

    fn next_event(&self) -> Option<(Duration, Next)> {
        let wakes = self
            .wakes
            .iter()
            .enumerate()
            .map(|(k, w)| (w.0, Next::Wake(k)));
        let flights = self
            .flights
            .iter()
            .enumerate()
            .map(|(k, f)| (f.at, Next::Deliver(k)));
        let timers = self
            .engines
            .iter()
            .enumerate()
            .filter(|(_, n)| n.running())
            .map(|(i, n)| (n.clock.to_world(n.engine.next_deadline()), Next::Timer(i)));
        wakes
            .chain(flights)
            .chain(timers)
            .chain([(self.next_sample, Next::Sample)])
            .min()
    }

    fn node_at(&self, addr: SocketAddr) -> Option<NodeRef> {
        if let Some(i) = self.engines.iter().position(|n| n.addr == addr) {
            return Some(NodeRef::Engine(i));
        }
        self.server_addrs
            .iter()
            .position(|a| *a == addr)
            .map(NodeRef::Server)
    }

    /// One leg of a path: (base delay, jitter, loss) on the `sending` or receiving side.
    fn leg(&self, node: Option<NodeRef>, sending: bool) -> (f64, f64, f64) {
        match node {
            Some(NodeRef::Engine(i)) => {
                let l = self.engines[i].link;
                (if sending { l.up } else { l.down }, l.jitter, l.loss)
            }
            Some(NodeRef::Server(i)) => {
                let s = &self.servers[i];
                let base = if sending { s.delay_back } else { s.delay_out };
                (base, s.jitter, s.loss)
            }
            None => (0.0, 0.0, 0.0),
        }
    }

    /// Puts a datagram on the wire at world time `sent`, unless the path loses it.
    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>, sent: f64) {
        let (out_base, out_jitter, out_loss) = self.leg(self.node_at(from), true);
        let (in_base, in_jitter, in_loss) = self.leg(self.node_at(to), false);
        let lost = self.rng.uniform() < out_loss || self.rng.uniform() < in_loss;
        let mut delay = out_base
            + in_base
            + (out_jitter * self.rng.gauss()).abs()
            + (in_jitter * self.rng.gauss()).abs();
        if self.reorder > 0.0 && self.rng.uniform() < self.reorder {
            delay += self.reorder_delay;
        }
        if !lost {
            self.flights.push(Flight {
                at: Duration::from_secs_f64(sent + delay),
                from,
                to,
                bytes,
            });
        }
    }

    fn deliver(&mut self, flight: Flight) {
        let now = self.now();
        match self.node_at(flight.to) {
            Some(NodeRef::Engine(i)) => {
                let node = &mut self.engines[i];
                if !node.running() {
                    return;
                }
                let addr = node.addr;
                let dgram = Datagram {
                    bytes: &flight.bytes,
                    source: flight.from,
                    local: Some(addr),
                    received: None,
                };
                let mut replies = Vec::new();
                node.engine
                    .handle_datagram(&dgram, &mut |r| replies.push(r.to_vec()));
                for reply in replies {
                    self.send(addr, flight.from, reply, now.as_secs_f64());
                }
                self.after_event(i);
            }
            Some(NodeRef::Server(k)) => {
                self.note_request(&flight, now);
                let arrived = now.as_secs_f64();
                let reply = self.servers[k].answer(&flight.bytes, base(), arrived);
                if let Some(reply) = reply {
                    let left = arrived + server::PROCESSING;
                    self.send(flight.to, flight.from, reply, left);
                }
            }
            None => {
                self.probes
                    .entry(flight.to)
                    .or_default()
                    .push((now, flight.from, flight.bytes))
            }
        }
    }

    /// Sends `bytes` from `from` (a probe, or any node's address) to `to` now.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let now = self.now().as_secs_f64();
        self.send(from, to, bytes, now);
    }

    fn note_request(&mut self, flight: &Flight, now: Duration) {
        self.requests
            .entry(flight.to)
            .or_default()
            .push((flight.from, now));
    }

    fn timer(&mut self, i: usize) {
        let now = self.now();
        let mut out = Vec::new();
        self.engines[i]
            .engine
            .handle_timer(&mut |to, bytes| out.push((to, bytes.to_vec())));
        let from = self.engines[i].addr;
        for (to, bytes) in out {
            let (mode, _) = peek_mode(&bytes);
            if matches!(
                mode,
                Mode::Client | Mode::SymmetricActive | Mode::SymmetricPassive
            ) {
                self.check_spacing(from, to, now);
            }
            self.send(from, to, bytes, now.as_secs_f64());
        }
        self.after_event(i);
    }

    /// The harness-wide rule: never two requests to one peer less than 2 s apart.
    fn check_spacing(&mut self, from: SocketAddr, to: SocketAddr, now: Duration) {
        if let Some(last) = self.last_request.insert((from, to), now) {
            let gap = now - last;
            assert!(
                gap >= MIN_REQUEST_SPACING,
                "{from} sent {to} two requests {gap:?} apart (at {last:?} and {now:?})"
            );
        }
    }

    fn after_event(&mut self, i: usize) {
        let now = self.now();
        let node = &mut self.engines[i];
        for action in node.engine.take_actions() {
            match action {
                Action::Exit { status, .. } => node.exit = Some((now, status)),
                Action::Event(event) => {
                    if std::env::var_os("SIM_EVENTS").is_some() {
                        eprintln!("{:>10.3} s {}: {event}", now.as_secs_f64(), node.addr);
                    }
                    node.events.push((now, event));
                }
                _ => {}
            }
        }
        let synced = node.engine.system().synchronized();
        if node.synced_at.is_none() && synced {
            node.synced_at = Some(now);
        }
        if node.sync_changes.last().is_some_and(|c| c.1) != synced {
            node.sync_changes.push((now, synced));
        }
    }

    /// Once a second: the oscillators wander, and every engine's true offset is traced.
    fn sample(&mut self) {
        let t = self.next_sample;
        self.next_sample = t + Duration::from_secs(1);
        let true_now = self.true_time(t);
        for node in &mut self.engines {
            if node.wander_ppm > 0.0 {
                let step = node.wander_ppm / 60.0 * self.rng.gauss();
                node.clock.set_drift(node.clock.drift() + step);
            }
            let offset = (node.clock.now() - true_now).to_secs_f64();
            node.trace.push((t, offset));
        }
    }

    /// Root-mean-square of the client's true offset over the trace since `from`.
    pub fn rms_since(&self, from: Duration) -> f64 {
        self.rms_between(from, Duration::MAX)
    }

    /// Root-mean-square of the client's true offset over the trace from `from` until `to`.
    pub fn rms_between(&self, from: Duration, to: Duration) -> f64 {
        let part: Vec<f64> = self
            .trace()
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, o)| o * o)
            .collect();
        (part.iter().sum::<f64>() / part.len().max(1) as f64).sqrt()
    }

    /// Largest |true offset| of the client since `from`.
    pub fn max_abs_since(&self, from: Duration) -> f64 {
        self.trace()
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, o)| o.abs())
            .fold(0.0, f64::max)
    }

    /// The last moment the client was `limit` or more off (None: never).
    pub fn last_beyond(&self, limit: f64) -> Option<Duration> {
        self.trace()
            .iter()
            .rev()
            .find(|(_, offset)| offset.abs() >= limit)
            .map(|(t, _)| *t)
    }
}

pub fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}
