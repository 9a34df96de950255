//! The daemon's sans-IO core: one [`Engine`] owns the clock, the system variables, access
//! control and the sources. The shell feeds it datagrams and timer ticks and carries out
//! what it returns; one packet reads top to bottom in [`Engine::handle_datagram`]:
//! decode -> restrict -> handler -> encode.

pub mod gate;

use crate::clock::{Clock, ClockError, ClockStatus};
use crate::refclock::local::{LocalClock, PRECISION as LOCAL_PRECISION};
use crate::server;
use crate::system::SystemVars;
use crate::time::{NtpDuration, Ppm};
use crate::wire::ntp::{peek_mode, Header, Leap, Mode, Packet, RefId, HEADER_LEN};
use gate::{Gate, Verdict};
use std::net::SocketAddr;
use std::time::Duration;

/// How often the drift file is written (classic: hourly).
const DRIFT_WRITE_INTERVAL: Duration = Duration::from_secs(3600);

/// Settings the engine runs with, resolved from ntp.conf and the command line.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub local_clocks: Vec<LocalClock>,
    pub gate: Gate,
    /// `enable ntp` (the default): the daemon may steer the clock.
    pub steer_clock: bool,
    /// Frequency read from the drift file, if any.
    pub initial_frequency: Option<Ppm>,
    /// A drift file is configured, so the engine asks for it to be written.
    pub drift_file: bool,
}

/// One received datagram, as the shell hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub bytes: &'a [u8],
    pub source: SocketAddr,
    /// How long ago the kernel received it.
    pub age: Duration,
}

/// Work for the shell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Write this frequency to the drift file.
    WriteDrift(Ppm),
}

/// Packet counters (the basis of ntpq's sysstats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub bad_format: u64,
    pub dropped: u64,
    pub served: u64,
    pub kissed: u64,
}

/// The daemon core.
#[derive(Debug)]
pub struct Engine<C: Clock> {
    clock: C,
    settings: Settings,
    sys: SystemVars,
    counters: Counters,
    next_local_poll: Duration,
    next_drift_write: Duration,
    /// The kernel refused a clock operation once; it has been logged and is not retried.
    clock_refused: bool,
}

impl<C: Clock> Engine<C> {
    pub fn new(clock: C, settings: Settings) -> Engine<C> {
        let now = clock.mono();
        let sys = SystemVars {
            frequency: settings.initial_frequency.unwrap_or_default(),
            ..SystemVars::unsynchronized(clock.precision())
        };
        Engine {
            clock,
            settings,
            sys,
            counters: Counters::default(),
            next_local_poll: now,
            next_drift_write: now + DRIFT_WRITE_INTERVAL,
            clock_refused: false,
        }
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn system(&self) -> &SystemVars {
        &self.sys
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn local_clocks(&self) -> &[LocalClock] {
        &self.settings.local_clocks
    }

    /// When [`Engine::handle_timer`] wants to run next (monotonic time).
    pub fn next_deadline(&self) -> Duration {
        let drift = if self.settings.drift_file {
            self.next_drift_write
        } else {
            Duration::MAX
        };
        let local = if self.settings.local_clocks.is_empty() {
            Duration::MAX
        } else {
            self.next_local_poll
        };
        drift.min(local)
    }

    /// Runs what is due; returns actions for the shell.
    pub fn handle_timer(&mut self) -> Option<Action> {
        let now = self.clock.mono();
        if now >= self.next_local_poll && !self.settings.local_clocks.is_empty() {
            self.poll_local_clocks();
            let poll = self.settings.local_clocks[0].poll().seconds();
            self.next_local_poll = now + Duration::from_secs(poll);
        }
        if self.settings.drift_file && now >= self.next_drift_write {
            self.next_drift_write = now + DRIFT_WRITE_INTERVAL;
            return Some(Action::WriteDrift(self.sys.frequency));
        }
        None
    }

    /// The frequency to save at a clean stop.
    pub fn final_drift(&self) -> Option<Ppm> {
        self.settings.drift_file.then_some(self.sys.frequency)
    }

    /// Samples the local clock drivers. Without network sources, the lowest-stratum one is
    /// the system peer at once: the daemon synchronises at its stratum + 1 on the first
    /// sample, so clients can use it immediately.
    fn poll_local_clocks(&mut self) {
        let now = self.clock.now();
        for local in &mut self.settings.local_clocks {
            local.sample(now);
        }
        let Some(best) = self
            .settings
            .local_clocks
            .iter()
            .min_by_key(|l| l.fudge.stratum)
        else {
            return;
        };
        let Some(sample) = best.last_sample else {
            return;
        };
        let was_synced = self.sys.is_synchronized();
        self.sys = SystemVars {
            leap: Leap::NoWarning,
            stratum: best
                .fudge
                .stratum
                .saturating_add(1)
                .min(crate::system::STRATUM_UNSYNC),
            precision: self.sys.precision,
            root_delay: sample.delay,
            root_dispersion: sample.dispersion + NtpDuration::from_log2(LOCAL_PRECISION),
            reference_id: RefId::from_ipv4(best.address()),
            reference_time: now,
            offset: sample.offset,
            frequency: self.sys.frequency,
            jitter: NtpDuration::ZERO,
        };
        if !was_synced {
            log::info!(
                "synchronized to LOCAL({}), stratum {}",
                best.unit,
                best.fudge.stratum
            );
            self.report_status();
        }
    }

    /// Tells the kernel we are synchronised (when allowed to steer the clock), so it keeps
    /// its error estimates and the RTC in step.
    fn report_status(&mut self) {
        if !self.settings.steer_clock {
            return;
        }
        let status = ClockStatus {
            leap: self.sys.leap,
            synchronized: self.sys.is_synchronized(),
            estimated_error: self.sys.jitter,
            maximum_error: self.sys.root_delay + self.sys.root_dispersion,
        };
        let result = self.clock.set_status(status);
        self.note_clock_result(result);
    }

    /// Logs a refused clock operation once; the daemon goes on serving time either way.
    fn note_clock_result(&mut self, result: Result<(), ClockError>) {
        if let Err(err) = result {
            if !self.clock_refused {
                log::warn!("kernel refused a clock adjustment: {err}; continuing without steering the clock");
                self.clock_refused = true;
            }
        }
    }

    /// Handles one datagram; returns the length of the reply written to `out`, if any.
    pub fn handle_datagram(
        &mut self,
        dgram: &Datagram,
        out: &mut [u8; HEADER_LEN],
    ) -> Option<usize> {
        self.counters.received += 1;
        let (mode, version) = peek_mode(dgram.bytes);
        let verdict = self
            .settings
            .gate
            .verdict(dgram.source, mode, version, false);
        if matches!(verdict, Verdict::Drop) || mode == Mode::Control {
            self.counters.dropped += 1;
            return None;
        }
        let packet = match Packet::decode(dgram.bytes) {
            Ok(p) => p,
            Err(_) => {
                self.counters.bad_format += 1;
                return None;
            }
        };
        let reply = match verdict {
            Verdict::Serve => {
                let now = self.clock.now();
                let rx = now
                    + -NtpDuration::from_nanos(dgram.age.as_nanos().min(i64::MAX as u128) as i64);
                self.counters.served += 1;
                server::reply(&packet.header, &self.sys, rx, self.clock.now())
            }
            Verdict::Kiss(code) => {
                self.counters.kissed += 1;
                server::kiss(&packet.header, code)
            }
            Verdict::Drop | Verdict::Control { .. } | Verdict::Protocol => {
                self.counters.dropped += 1;
                return None;
            }
        };
        Some(encode(&reply, out))
    }
}

fn encode(header: &Header, out: &mut [u8; HEADER_LEN]) -> usize {
    header.encode(out)
}
