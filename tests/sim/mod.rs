//! A deterministic simulator: virtual time (no sleeping), a drifting local clock
//! (`VirtualClock` on a hand-driven monotonic source), simulated servers with their own
//! offsets and network delays, and the real association, system and loop-filter code.
#![allow(dead_code)]

use ntp6::assoc::{select_round, AssocConfig, Association, Received};
use ntp6::clock::{Clock, ManualMono, MonoSource, VirtualClock, VirtualClockSpec};
use ntp6::discipline::loopfilter::{ClockCommand, LoopConfig, Outcome};
use ntp6::discipline::select::SelectStatus;
use ntp6::discipline::system::{SystemProcess, TosParams};
use ntp6::refclock::local::{LocalClock, LocalFudge};
use ntp6::time::{NtpDuration, NtpShort, NtpTimestamp, PollInterval, Ppm};
use ntp6::wire::ntp::{Header, Leap, Mode, RefId};
use std::time::Duration;

/// The monotonic source the simulation advances (the crate's hand-driven one).
pub type Manual = ManualMono;

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

/// A simulated server: true time plus its own offset, behind a network path.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// How far the server's clock is from true time (seconds).
    pub offset: f64,
    pub stratum: u8,
    /// One-way base delays (seconds); unequal values make an asymmetric path.
    pub delay_out: f64,
    pub delay_back: f64,
    /// Standard deviation of the extra (queueing) delay per leg.
    pub jitter: f64,
    /// The root dispersion it advertises (seconds): 0.1 ms for a good server, seconds
    /// for a Windows-like one.
    pub root_dispersion: f64,
    pub alive: bool,
}

impl Server {
    pub fn good(jitter: f64) -> Server {
        Server {
            offset: 0.0,
            stratum: 1,
            delay_out: 0.001,
            delay_back: 0.001,
            jitter,
            root_dispersion: 0.0001,
            alive: true,
        }
    }
}

struct InFlight {
    assoc: usize,
    arrival: Duration,
    reply: Header,
}

/// Scenario parameters.
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

/// A running simulation.
pub struct Sim {
    pub mono: Manual,
    pub clock: VirtualClock<Manual>,
    pub system: SystemProcess,
    pub assocs: Vec<Association>,
    pub servers: Vec<Server>,
    local: Option<LocalClock>,
    in_flight: Vec<InFlight>,
    next_tick: Duration,
    rng: Rng,
    base: NtpTimestamp,
    drift_ppm: f64,
    wander_ppm: f64,
    pub steps: Vec<(Duration, f64)>,
    pub panicked: Option<Duration>,
    pub exited: bool,
    /// (mono, true offset of the local clock) once per second.
    pub trace: Vec<(Duration, f64)>,
    /// Selection status of each association at the last selection.
    pub statuses: Vec<(u32, SelectStatus)>,
    pub synced_at: Option<Duration>,
    /// (time, synchronised) at each selection round that changed it.
    pub synced_log: Vec<(Duration, bool)>,
}

const LOCAL_ID: u32 = 1000;

impl Sim {
    pub fn new(setup: Setup) -> Sim {
        let mono = Manual::default();
        let base = NtpTimestamp::from_unix(1_700_000_000, 0);
        let spec = VirtualClockSpec {
            offset: NtpDuration::from_secs_f64(setup.start_offset),
            drift: Ppm(setup.drift_ppm),
        };
        let mut clock = VirtualClock::new(mono.clone(), base, spec);
        let (system, first) = SystemProcess::new(
            setup.loop_config,
            setup.drift_file,
            clock.precision(),
            setup.tos,
            Duration::ZERO,
        );
        apply(&mut clock, first);
        let assocs = (0..setup.servers.len())
            .map(|i| {
                let mut cfg = AssocConfig::server(i as u32 + 1, RefId([10, 0, 0, i as u8 + 1]));
                cfg.iburst = setup.iburst;
                cfg.max_poll = setup.max_poll.unwrap_or(cfg.max_poll);
                Association::new(cfg, Duration::ZERO)
            })
            .collect();
        Sim {
            mono,
            clock,
            system,
            assocs,
            servers: setup.servers,
            local: setup.local_clock.map(|stratum| {
                LocalClock::new(
                    0,
                    LocalFudge {
                        stratum,
                        ..LocalFudge::default()
                    },
                )
            }),
            in_flight: Vec::new(),
            next_tick: Duration::from_secs(1),
            rng: Rng::new(setup.seed),
            base,
            drift_ppm: setup.drift_ppm,
            wander_ppm: setup.wander_ppm,
            steps: Vec::new(),
            panicked: None,
            exited: false,
            trace: Vec::new(),
            statuses: Vec::new(),
            synced_at: None,
            synced_log: Vec::new(),
        }
    }

    pub fn now(&self) -> Duration {
        self.mono.mono()
    }

    /// The local clock's error against true time (seconds; positive: ahead).
    pub fn true_offset(&self) -> f64 {
        let true_now = self.base + NtpDuration::from_secs_f64(self.now().as_secs_f64());
        (self.clock.now() - true_now).to_secs_f64()
    }

    /// The frequency error left: oscillator drift plus the correction (PPM).
    pub fn frequency_error(&self) -> f64 {
        self.drift_ppm + self.clock.frequency().map_or(0.0, |f| f.0)
    }

    /// The oscillator's own frequency changes by `ppm` from now on (temperature, a VM
    /// moved to another host).
    pub fn drift_step(&mut self, ppm: f64) {
        self.drift_ppm += ppm;
        self.clock.set_oscillator_drift(Ppm(self.drift_ppm));
    }

    /// Runs until `until` (monotonic) or a panic/exit.
    pub fn run_until(&mut self, until: Duration) {
        while self.panicked.is_none() && !self.exited {
            let next_assoc = self
                .assocs
                .iter()
                .map(|a| a.next_deadline())
                .min()
                .unwrap_or(Duration::MAX);
            let next_packet = self
                .in_flight
                .iter()
                .map(|p| p.arrival)
                .min()
                .unwrap_or(Duration::MAX);
            let t = self.next_tick.min(next_assoc).min(next_packet);
            if t > until {
                break;
            }
            self.advance_to(t);
            if next_packet <= t {
                self.deliver(t);
            } else if next_assoc <= t {
                self.poll(t);
            } else {
                self.tick(t);
            }
        }
        if self.now() < until && self.panicked.is_none() && !self.exited {
            self.advance_to(until);
        }
    }

    fn advance_to(&self, t: Duration) {
        let now = self.now();
        if t > now {
            self.mono.advance(t - now);
        }
    }

    pub fn run_for_hours(&mut self, hours: f64) {
        let until = self.now() + Duration::from_secs_f64(hours * 3600.0);
        self.run_until(until);
    }

    fn deliver(&mut self, t: Duration) {
        let Some(k) = self.in_flight.iter().position(|p| p.arrival <= t) else {
            return;
        };
        let packet = self.in_flight.swap_remove(k);
        let rx = self.clock.now();
        let vars = self.system.vars;
        let got = self.assocs[packet.assoc].on_packet(&packet.reply, rx, t, &vars);
        if got == (Received::Sample { select: true }) {
            self.select(t);
        }
    }

    fn poll(&mut self, t: Duration) {
        let Some(i) = self.assocs.iter().position(|a| a.next_deadline() <= t) else {
            return;
        };
        let clock_now = self.clock.now();
        let vars = self.system.vars;
        let out = self.assocs[i].on_timer(t, clock_now, &vars);
        if let Some(request) = out.send {
            self.serve(i, &request, t);
        }
        if out.reselect {
            self.select(t);
        }
    }

    /// The server at index `i` answers `request` sent at `t`, if it is alive.
    fn serve(&mut self, i: usize, request: &Header, t: Duration) {
        let s = self.servers[i];
        if !s.alive {
            return;
        }
        let leg = |rng: &mut Rng, base: f64| base + (s.jitter * rng.gauss()).abs();
        let out = leg(&mut self.rng, s.delay_out);
        let back = leg(&mut self.rng, s.delay_back);
        let at_server = t.as_secs_f64() + out;
        let server_time = |secs: f64| self.base + NtpDuration::from_secs_f64(secs + s.offset);
        let reply = Header {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: s.stratum,
            poll: request.poll,
            precision: -20,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_duration(NtpDuration::from_secs_f64(s.root_dispersion)),
            reference_id: RefId::from_ascii("GPS"),
            reference_time: server_time(at_server - 8.0),
            origin_time: request.transmit_time,
            receive_time: server_time(at_server),
            transmit_time: server_time(at_server + 0.00005),
        };
        let arrival = Duration::from_secs_f64(at_server + 0.00005 + back);
        self.in_flight.push(InFlight {
            assoc: i,
            arrival,
            reply,
        });
    }

    fn tick(&mut self, t: Duration) {
        self.next_tick = t + Duration::from_secs(1);
        if self.wander_ppm > 0.0 {
            self.drift_ppm += self.wander_ppm / 60.0 * self.rng.gauss();
            self.clock.set_oscillator_drift(Ppm(self.drift_ppm));
        }
        if let Some(cmd) = self.system.tick(t) {
            apply(&mut self.clock, cmd);
        }
        if t.as_secs().is_multiple_of(64) {
            if let Some(local) = &mut self.local {
                local.sample(self.clock.now(), t);
                self.select(t);
            }
        }
        self.trace.push((t, self.true_offset()));
    }

    /// Classic `clock_select` and `clock_update`, exactly as the daemon runs them.
    pub fn select(&mut self, t: Duration) {
        let extra: Vec<_> = self
            .local
            .iter()
            .filter_map(|l| l.contender(LOCAL_ID, false, t))
            .collect();
        let mut assocs: Vec<&mut Association> = self.assocs.iter_mut().collect();
        let update = select_round(&mut self.system, &mut assocs, &extra, &[], t);
        self.statuses = update.status.clone();
        for cmd in &update.commands {
            if let ClockCommand::Step(d) = cmd {
                self.steps.push((t, d.to_secs_f64()));
            }
            apply(&mut self.clock, *cmd);
        }
        match update.outcome {
            Some(Outcome::Panic { .. }) => self.panicked = Some(t),
            Some(Outcome::Exit) => self.exited = true,
            _ => {}
        }
        let synced = self.system.vars.synchronized();
        if self.synced_at.is_none() && synced {
            self.synced_at = Some(t);
        }
        if self.synced_log.last().is_none_or(|l| l.1 != synced) {
            self.synced_log.push((t, synced));
        }
    }

    /// Root-mean-square of the true offset over the trace since `from`.
    pub fn rms_since(&self, from: Duration) -> f64 {
        self.rms_between(from, Duration::MAX)
    }

    /// Root-mean-square of the true offset over the trace from `from` until `to`.
    pub fn rms_between(&self, from: Duration, to: Duration) -> f64 {
        let part: Vec<f64> = self
            .trace
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, o)| o * o)
            .collect();
        (part.iter().sum::<f64>() / part.len().max(1) as f64).sqrt()
    }

    /// Largest |true offset| since `from`.
    pub fn max_abs_since(&self, from: Duration) -> f64 {
        self.trace
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, o)| o.abs())
            .fold(0.0, f64::max)
    }
}

fn apply(clock: &mut VirtualClock<Manual>, cmd: ClockCommand) {
    let result = match cmd {
        ClockCommand::Step(d) => clock.step(d),
        ClockCommand::Slew(d) => clock.slew(d),
        ClockCommand::SetFrequency(f) => clock.set_frequency(f),
        ClockCommand::SetSlewRate(r) => clock.set_slew_rate(r),
    };
    result.expect("the virtual clock never refuses");
}

pub fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}
