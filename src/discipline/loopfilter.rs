//! The clock discipline: RFC 5905 section 11.3 (A.5.5.6 `local_clock`) with classic
//! 4.2.6p5's thresholds and visible states. Offsets above the step threshold (`tinker
//! step`, 0.128 s) are believed only after they persist for the stepout interval (`tinker
//! stepout`, 900 s), except at start-up; offsets above the panic threshold (`tinker
//! panic`, 1000 s) end the daemon unless `-g` allowed one big first correction. The filter
//! never touches a clock: it returns [`ClockCommand`]s for the engine to apply through
//! [`crate::clock::Clock`], which keeps it a pure function of its inputs.
//!
//! Where classic integrates the offsets into the frequency (a PLL whose slowest mode takes
//! days at a 1024 s time constant) and waits out 900 s in the FREQ state before it trusts
//! a frequency, the frequency and the phase here come from every sample of every
//! surviving source as it arrives ([`super::trend`], [`super::kalman`]: the oscillator's
//! free-running offset tracked by filters that each assume a different wander, the one
//! predicting best in charge), starting from what the drift file says, or from nothing.
//! So a cold start serves from its first update and knows its frequency as well as the
//! samples allow within minutes; NSET, FREQ and SYNC remain visible states (FREQ: the
//! frequency is not yet known to a PPM) without holding the daemon back. The phase is
//! removed by slewing at up to `tinker maxslewrate` (an extension; 83 333 PPM by default,
//! as chrony) instead of a slice a second, so 50 ms takes under a second and -x slews
//! seconds in a minute. The time constant (ntpq `tc`, which drives the system poll) rises
//! while the clock would stay within the samples' own noise over a poll twice as long,
//! and falls when it would not over the present one; jitter and wander are classic's
//! statistics (jitter from the samples' surprise against the estimate).

use super::trend::Trend;
use crate::clock::{FREQUENCY_LIMIT, SLEW_RATE_LIMIT};
use crate::time::{NtpDuration, PollInterval, Ppm};
use std::time::Duration;

/// Averaging constant of jitter and wander (CLOCK_AVG).
const AVERAGING: f64 = 8.0;
/// Frequency tolerance of the kernel and ours (NTP_MAXFREQ, 500 PPM), s/s.
const MAX_FREQUENCY: f64 = FREQUENCY_LIMIT.0 * 1e-6;
/// Classic's time constant before the first update (ntp_minpoll), raised at once to the
/// system peer's minpoll.
const INITIAL_POLL: PollInterval = PollInterval(3);
/// What is known of the frequency without a drift file: typical oscillators are within
/// 100 PPM of nominal (s/s).
const COLD_FREQUENCY_ERROR: f64 = 100e-6;
/// How well a drift file knows the frequency: written within the hour, off by what
/// temperature moved it since (s/s).
const WARM_FREQUENCY_ERROR: f64 = 1e-6;
/// A frequency known this well is trusted: FREQ gives way to SYNC (s/s).
const TRUSTED_FREQUENCY_ERROR: f64 = 1e-6;
/// The offset estimate should average at least this many samples' noise: the poll
/// interval is shortened until it does (as chrony's `polltarget`, in effective samples).
const POLL_TARGET: f64 = 16.0;
/// The kernel's frequency resolution (2^-16 PPM), s/s.
const FREQUENCY_RESOLUTION: f64 = 1.5e-11;
/// Slew rates below this are not worth a system call (s/s).
const SLEW_FLOOR: f64 = 1e-9;

/// The classic discipline states (EVNT_NSET ... EVNT_SYNC), shown in the ntpq `rv` status
/// word as their events (freq_not_set, freq_set, spike_detect, freq_mode, clock_sync).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// No frequency from a drift file, no update yet.
    Nset,
    /// Frequency set from the drift file, no update yet.
    Fset,
    /// An offset above the step threshold was seen; waiting out the stepout.
    Spik,
    /// The frequency is being measured: not yet known to within a PPM.
    Freq,
    /// The frequency is known; normal operation.
    Sync,
}

impl ClockState {
    /// Classic's numeric state (ntpq `rv` shows `state=4`).
    pub fn code(self) -> u8 {
        match self {
            ClockState::Nset => 0,
            ClockState::Fset => 1,
            ClockState::Spik => 2,
            ClockState::Freq => 3,
            ClockState::Sync => 4,
        }
    }
}

/// What the engine must do to the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockCommand {
    /// Correct by this much, adjtime-like (at 500 PPM, finished by the kernel): `-q` only.
    Slew(NtpDuration),
    /// Jump by this much.
    Step(NtpDuration),
    /// Set the frequency correction (positive: make the clock faster).
    SetFrequency(Ppm),
    /// Set the slew rate on top of the frequency (positive: the clock gains).
    SetSlewRate(Ppm),
}

/// What an update did, as classic `local_clock`'s return value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// A spike or the stepout wait: nothing changed (0).
    Ignored,
    /// The offset is being slewed (1): update the system variables.
    Slewed,
    /// The clock was stepped (2): clear every association and set refid STEP.
    Stepped,
    /// The offset exceeds the panic threshold: log and exit (-1).
    Panic {
        offset: NtpDuration,
        limit: NtpDuration,
    },
    /// `-q`: the clock was set or slewed once; exit.
    Exit,
}

/// Discipline parameters from `tinker` and the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopConfig {
    /// `tinker step` (zero: never step).
    pub step: NtpDuration,
    /// `tinker stepout`.
    pub stepout: Duration,
    /// `tinker panic` (zero: never panic).
    pub panic: NtpDuration,
    /// `-g`: the first correction may exceed the panic threshold.
    pub allow_panic: bool,
    /// `-q`: set the clock once and exit.
    pub once: bool,
    /// `tinker maxslewrate` (an extension): the fastest the phase is slewed.
    pub max_slew_rate: Ppm,
}

/// chrony's default maximum slew rate (1/12: 83 ms a second).
pub const DEFAULT_MAX_SLEW_RATE: Ppm = Ppm(83_333.333);

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            step: NtpDuration::from_secs_f64(0.128),
            stepout: Duration::from_secs(900),
            panic: NtpDuration::from_secs(1000),
            allow_panic: false,
            once: false,
            max_slew_rate: DEFAULT_MAX_SLEW_RATE,
        }
    }
}

impl LoopConfig {
    /// `-x`: slew offsets up to 600 s.
    pub fn slew_only(self) -> LoopConfig {
        LoopConfig {
            step: NtpDuration::from_secs(600),
            ..self
        }
    }
}

/// The phase the discipline has slewed the clock by since start: `total` as of `since`,
/// growing at `rate` after. The clock filters take off what was slewed after each of their
/// samples, so that a sample taken before a fast slew is not read as the clock's offset
/// after it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slewed {
    pub total: NtpDuration,
    pub rate: Ppm,
    pub since: Duration,
}

impl Slewed {
    /// The phase slewed by `now`.
    pub fn at(&self, now: Duration) -> NtpDuration {
        let later = now.saturating_sub(self.since).as_secs_f64();
        self.total + NtpDuration::from_secs_f64(later * self.rate.as_ratio())
    }
}

/// The result of one update.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub outcome: Outcome,
    pub commands: Vec<ClockCommand>,
}

/// The discipline state (classic's loop-filter statics, as one value).
#[derive(Clone, Debug, PartialEq)]
pub struct LoopFilter {
    config: LoopConfig,
    state: ClockState,
    /// Offset still to slew at `slew_since` (seconds), the slew rate in force (s/s) and
    /// the phase slewed up to `slew_since` since start (seconds).
    residual: f64,
    slew_rate: f64,
    slew_since: f64,
    slewed: f64,
    /// The last offset accepted (ntpq `offset`), seconds.
    last_offset: f64,
    /// Frequency correction in force (drift_comp), s/s, and its standard error.
    frequency: f64,
    frequency_error: f64,
    jitter: f64,
    wander: f64,
    /// Monotonic seconds of the last accepted update (clock_epoch).
    epoch: f64,
    poll: PollInterval,
    /// Progress towards a longer (positive) or shorter (negative) time constant.
    poll_score: f64,
    allow_panic: bool,
    precision: f64,
    /// The corrections made and the estimate of the oscillator they feed.
    trend: Trend,
    /// The frequency at the last clock update, for the wander statistic (s/s).
    updated_frequency: f64,
}

/// One update's inputs, in seconds.
struct Sample {
    theta: f64,
    now: f64,
    /// Time since the last accepted update.
    mu: f64,
}

impl LoopFilter {
    /// A discipline starting at `now`, with the drift file's frequency if there was one.
    /// Returns the filter and the command that installs its initial frequency.
    pub fn new(
        config: LoopConfig,
        drift: Option<Ppm>,
        precision: i8,
        now: Duration,
    ) -> (LoopFilter, ClockCommand) {
        let frequency = drift.map_or(0.0, |f| (f.0 * 1e-6).clamp(-MAX_FREQUENCY, MAX_FREQUENCY));
        let error = if drift.is_some() {
            WARM_FREQUENCY_ERROR
        } else {
            COLD_FREQUENCY_ERROR
        };
        let precision = NtpDuration::from_log2(precision).to_secs_f64();
        let now = now.as_secs_f64();
        let filter = LoopFilter {
            config,
            state: if drift.is_some() {
                ClockState::Fset
            } else {
                ClockState::Nset
            },
            residual: 0.0,
            slew_rate: 0.0,
            slew_since: now,
            slewed: 0.0,
            last_offset: 0.0,
            frequency,
            frequency_error: error,
            jitter: precision,
            wander: 0.0,
            epoch: now,
            poll: INITIAL_POLL,
            poll_score: 0.0,
            allow_panic: config.allow_panic,
            precision,
            trend: Trend::new(frequency, error, now),
            updated_frequency: frequency,
        };
        (filter, ClockCommand::SetFrequency(Ppm(frequency * 1e6)))
    }

    /// The clock update for a new sample of the system peer: the system offset decides
    /// between step and slew as classic's; the slew and the frequency come from the
    /// estimate over the samples observed so far (see [`LoopFilter::observe`]).
    /// `min_poll`/`max_poll` are the system peer's.
    pub fn update(
        &mut self,
        offset: NtpDuration,
        now: Duration,
        min_poll: PollInterval,
        max_poll: PollInterval,
    ) -> Update {
        let theta = offset.to_secs_f64();
        let now = now.as_secs_f64();
        let sample = Sample {
            theta,
            now,
            mu: (now - self.epoch).max(0.0),
        };
        let panic = self.config.panic.to_secs_f64();
        if panic > 0.0 && theta.abs() > panic && !self.allow_panic {
            return Update {
                outcome: Outcome::Panic {
                    offset,
                    limit: self.config.panic,
                },
                commands: vec![],
            };
        }
        let step = self.config.step.to_secs_f64();
        let big = step > 0.0 && theta.abs() > step;
        if self.config.once {
            let command = if big {
                ClockCommand::Step(offset)
            } else {
                ClockCommand::Slew(offset)
            };
            return Update {
                outcome: Outcome::Exit,
                commands: vec![command],
            };
        }
        self.settle_slew(now);
        let old_frequency = self.frequency;
        let mut commands = Vec::new();
        let outcome = if big {
            match self.big_offset(&sample) {
                None => Outcome::Ignored,
                Some(()) => {
                    commands.push(ClockCommand::Step(offset));
                    Outcome::Stepped
                }
            }
        } else {
            self.small_offset(&sample, min_poll, max_poll);
            Outcome::Slewed
        };
        if outcome == Outcome::Ignored {
            return Update { outcome, commands };
        }
        // Wander: how much the frequency moved since the last clock update (refreshes in
        // between included), averaged as classic's.
        let change = self.frequency - self.updated_frequency;
        self.updated_frequency = self.frequency;
        self.wander =
            (self.wander.powi(2) + (change.powi(2) - self.wander.powi(2)) / AVERAGING).sqrt();
        if self.frequency != old_frequency || outcome == Outcome::Stepped {
            commands.push(ClockCommand::SetFrequency(self.frequency()));
        }
        commands.extend(self.steer_slew(now, true));
        Update { outcome, commands }
    }

    /// Adds a survivor's sample (`offset` measured at `time`, with `excess` round-trip
    /// delay over the source's best) to the estimate the frequency and phase come from;
    /// [`LoopFilter::update`] and [`LoopFilter::refresh`] follow it. Every sample of
    /// every survivor counts once, so four servers polled each minute give four offsets a
    /// minute to average. Samples above the step threshold are left out: they belong to a
    /// spike, or to the time before the step they will cause.
    pub fn observe(
        &mut self,
        offset: NtpDuration,
        time: Duration,
        excess: NtpDuration,
        now: Duration,
    ) {
        let theta = offset.to_secs_f64();
        let step = self.config.step.to_secs_f64();
        if self.config.once || (step > 0.0 && theta.abs() > step) {
            return;
        }
        let now = now.as_secs_f64();
        // Jitter is what the offsets do unexpectedly: the surprise against the estimate
        // (classic differences successive offsets, which counts the corrections made in
        // between as noise).
        let excess = excess.to_secs_f64();
        if let Some((surprise, _)) = self.trend.add(time.as_secs_f64(), theta, excess, now) {
            let diff = surprise.abs().max(self.precision);
            self.jitter =
                (self.jitter.powi(2) + (diff.powi(2) - self.jitter.powi(2)) / AVERAGING).sqrt();
        }
    }

    /// Above the step threshold: wait out the stepout, then step (None: ignore).
    fn big_offset(&mut self, s: &Sample) -> Option<()> {
        let stepout = self.config.stepout.as_secs_f64();
        match self.state {
            ClockState::Sync => {
                self.state = ClockState::Spik;
                return None;
            }
            ClockState::Freq | ClockState::Spik if s.mu < stepout => return None,
            _ => {}
        }
        // Without a trusted frequency yet, measure it next. (Classic 4.2.6p5 also
        // re-measures after any step within two stepouts of the last one or of start-up,
        // which would leave a daemon started with a drift file unsynchronised for 15
        // minutes after its first step; issue 3 asks for service within 30 s.)
        let next = if self.frequency_error <= TRUSTED_FREQUENCY_ERROR {
            ClockState::Sync
        } else {
            ClockState::Freq
        };
        self.state = next;
        self.residual = 0.0;
        self.last_offset = 0.0;
        self.epoch = s.now;
        self.jitter = self.precision;
        self.poll_score = 0.0;
        self.allow_panic = false;
        // The offsets before the jump say nothing of the offset after it; what they
        // taught about the frequency stays.
        self.trend.stepped(s.now);
        Some(())
    }

    /// Within the step threshold: the frequency and the phase from the estimate, the state
    /// and the time constant.
    fn small_offset(&mut self, s: &Sample, min_poll: PollInterval, max_poll: PollInterval) {
        self.allow_panic = false;
        if !self.follow_estimate(s.now) {
            self.residual = s.theta;
        }
        self.last_offset = s.theta;
        self.epoch = s.now;
        self.state = match self.state {
            ClockState::Nset | ClockState::Freq
                if self.frequency_error > TRUSTED_FREQUENCY_ERROR =>
            {
                ClockState::Freq
            }
            _ => ClockState::Sync,
        };
        if self.state == ClockState::Sync {
            self.adjust_poll(min_poll, max_poll);
        }
    }

    /// Takes the frequency and the offset still to slew from the estimate as of `now`;
    /// false before any sample.
    fn follow_estimate(&mut self, now: f64) -> bool {
        let (frequency, error) = self.trend.frequency();
        let frequency = frequency.clamp(-MAX_FREQUENCY, MAX_FREQUENCY);
        // Below what the kernel resolves (2^-16 PPM) a change is not worth a command.
        if (frequency - self.frequency).abs() >= FREQUENCY_RESOLUTION {
            self.frequency = frequency;
        }
        let Some(residual) = self.trend.offset_now(self.frequency, now) else {
            return false;
        };
        self.frequency_error = error;
        self.residual = residual;
        true
    }

    /// Between clock updates, when other survivors' samples (or the system peer's that
    /// the clock filter does not hand on) came in: the frequency, the slew and the time
    /// constant follow the estimate at once, so a changed oscillator is corrected within
    /// a poll of any server. Nothing else changes (no classic clock update happened);
    /// nothing at all before the first update has chosen between step and slew.
    /// `min_poll`/`max_poll` are the system peer's.
    pub fn refresh(
        &mut self,
        now: Duration,
        min_poll: PollInterval,
        max_poll: PollInterval,
    ) -> Vec<ClockCommand> {
        if !matches!(self.state, ClockState::Freq | ClockState::Sync) || self.config.once {
            return Vec::new();
        }
        let now = now.as_secs_f64();
        self.settle_slew(now);
        let old_frequency = self.frequency;
        let mut commands = Vec::new();
        if !self.follow_estimate(now) {
            return commands;
        }
        if self.state == ClockState::Sync {
            self.adjust_poll(min_poll, max_poll);
        }
        if self.frequency != old_frequency {
            commands.push(ClockCommand::SetFrequency(self.frequency()));
        }
        commands.extend(self.steer_slew(now, true));
        commands
    }

    /// Lengthens the time constant while the offset estimate averages well over the
    /// target number of samples' noise and the clock would keep within a sample's noise
    /// over twice the present poll interval; shortens it while the estimate averages
    /// fewer, and at once to an interval over which the clock would keep within that
    /// noise when the present one is too long for it (the frequency changed).
    fn adjust_poll(&mut self, min_poll: PollInterval, max_poll: PollInterval) {
        let noise = self.trend.noise();
        let keeps = |poll: PollInterval| self.trend.growth(poll.seconds() as f64) <= noise;
        if !keeps(self.poll) {
            let mut poll = self.poll;
            while poll > min_poll && !keeps(poll) {
                poll = PollInterval(poll.0 - 1);
            }
            self.poll = poll;
            self.poll_score = 0.0;
        } else if self.trend.averaged() < POLL_TARGET {
            self.poll_score -= 0.5;
        } else if self.trend.averaged() > 2.0 * POLL_TARGET
            && keeps(PollInterval(self.poll.0.saturating_add(1)))
        {
            self.poll_score += 0.25;
        }
        if self.poll_score >= 1.0 {
            self.poll_score = 0.0;
            if self.poll < max_poll {
                self.poll = PollInterval(self.poll.0 + 1);
            }
        } else if self.poll_score <= -1.0 {
            self.poll_score = 0.0;
            if self.poll > min_poll {
                self.poll = PollInterval(self.poll.0 - 1);
            }
        }
        self.poll = self.poll.clamp(min_poll, max_poll);
    }

    /// Books what the slew in force removed up to `now`.
    fn settle_slew(&mut self, now: f64) {
        let done = self.slew_rate * (now - self.slew_since).max(0.0);
        self.residual -= done;
        self.slewed += done;
        self.slew_since = now;
    }

    /// The slew rate for the residual: all of it within the next second, at most at the
    /// maximum rate. A command when the rate changes (or `force` after an update, which
    /// may have changed the frequency the trend books).
    fn steer_slew(&mut self, now: f64, force: bool) -> Option<ClockCommand> {
        let max = self.config.max_slew_rate.0.clamp(0.0, SLEW_RATE_LIMIT.0) * 1e-6;
        let mut rate = self.residual.clamp(-max, max);
        if rate.abs() < SLEW_FLOOR {
            rate = 0.0;
        }
        if rate == self.slew_rate && !force {
            return None;
        }
        self.trend.set_rate(self.frequency + rate, now);
        let changed = rate != self.slew_rate;
        self.slew_rate = rate;
        changed.then_some(ClockCommand::SetSlewRate(Ppm(rate * 1e6)))
    }

    /// The once-a-second housekeeping: the slew rate for what is left of the residual.
    /// `None` when the rate stays (and always with `-q`).
    pub fn tick(&mut self, now: Duration) -> Option<ClockCommand> {
        if self.config.once {
            return None;
        }
        let now = now.as_secs_f64();
        self.settle_slew(now);
        self.steer_slew(now, false)
    }

    /// Forces the time constant (classic `sys_poll`), e.g. clamped to a new system peer.
    pub fn set_poll(&mut self, poll: PollInterval) {
        self.poll = poll;
    }

    /// The phase slewed since start, for the clock filters.
    pub fn slewed(&self) -> Slewed {
        Slewed {
            total: NtpDuration::from_secs_f64(self.slewed),
            rate: Ppm(self.slew_rate * 1e6),
            since: Duration::from_secs_f64(self.slew_since.max(0.0)),
        }
    }

    pub fn state(&self) -> ClockState {
        self.state
    }

    /// The frequency correction (drift_comp): what the drift file holds.
    pub fn frequency(&self) -> Ppm {
        Ppm(self.frequency * 1e6)
    }

    /// The standard error of the frequency correction.
    pub fn frequency_error(&self) -> Ppm {
        Ppm(self.frequency_error * 1e6)
    }

    /// The time constant (ntpq `tc`), which drives the system poll interval.
    pub fn poll(&self) -> PollInterval {
        self.poll
    }

    /// The last offset accepted (ntpq `offset`).
    pub fn offset(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.last_offset)
    }

    /// Clock jitter (ntpq `clk_jitter`).
    pub fn jitter(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.jitter)
    }

    /// Frequency wander (ntpq `clk_wander`).
    pub fn wander(&self) -> Ppm {
        Ppm(self.wander * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn filter(config: LoopConfig, drift: Option<Ppm>) -> LoopFilter {
        LoopFilter::new(config, drift, -20, secs(0)).0
    }

    fn off(s: f64) -> NtpDuration {
        NtpDuration::from_secs_f64(s)
    }

    const MIN: PollInterval = PollInterval(6);
    const MAX: PollInterval = PollInterval(10);

    /// An offset measured just now, observed and used for an update.
    fn update_at(f: &mut LoopFilter, offset: f64, at: f64) -> Update {
        let now = Duration::from_secs_f64(at);
        f.observe(off(offset), now, NtpDuration::ZERO, now);
        f.update(off(offset), now, MIN, MAX)
    }

    fn update(f: &mut LoopFilter, offset: f64, at: u64) -> Update {
        update_at(f, offset, at as f64)
    }

    /// A clock that runs `drift` fast, steered by the filter's commands, ticked every second.
    struct Model {
        /// How far the clock is ahead of true time, its drift, the commanded rates (s/s).
        ahead: f64,
        drift: f64,
        frequency: f64,
        slew: f64,
        now: f64,
        steps: usize,
    }

    impl Model {
        fn new(ahead: f64, drift_ppm: f64, f: &LoopFilter) -> Model {
            Model {
                ahead,
                drift: drift_ppm * 1e-6,
                frequency: f.frequency().0 * 1e-6,
                slew: 0.0,
                now: 0.0,
                steps: 0,
            }
        }

        fn apply(&mut self, commands: &[ClockCommand]) {
            for c in commands {
                match *c {
                    ClockCommand::Step(d) => {
                        self.ahead += d.to_secs_f64();
                        self.steps += 1;
                    }
                    ClockCommand::SetFrequency(p) => self.frequency = p.0 * 1e-6,
                    ClockCommand::SetSlewRate(p) => self.slew = p.0 * 1e-6,
                    ClockCommand::Slew(_) => panic!("one-shot slew outside -q"),
                }
            }
        }

        /// Runs `seconds` of ticks, then measures (noise added) and updates.
        fn run(&mut self, f: &mut LoopFilter, seconds: u32, noise: f64) -> Update {
            for _ in 0..seconds {
                self.ahead += self.drift + self.frequency + self.slew;
                self.now += 1.0;
                let tick = f.tick(Duration::from_secs_f64(self.now));
                self.apply(tick.as_slice());
            }
            let u = update_at(f, -self.ahead + noise, self.now);
            self.apply(&u.commands);
            u
        }
    }

    #[test]
    fn startup_steps_large_offset_at_once() {
        let mut f = filter(LoopConfig::default(), None);
        let u = update(&mut f, 3.0, 10);
        assert_eq!(u.outcome, Outcome::Stepped);
        assert!(u.commands.contains(&ClockCommand::Step(off(3.0))));
        assert_eq!(f.state(), ClockState::Freq);
    }

    #[test]
    fn a_cold_start_serves_from_the_first_offset_and_learns_the_frequency() {
        let mut f = filter(LoopConfig::default(), None);
        let mut clock = Model::new(0.05, 50.0, &f);
        let u = clock.run(&mut f, 7, 0.0);
        assert_eq!(u.outcome, Outcome::Slewed);
        assert_eq!(f.state(), ClockState::Freq);
        // The rest of the burst, two seconds apart, then one poll a minute: every offset
        // is used, none waits out a FREQ interval.
        for _ in 0..7 {
            assert_eq!(clock.run(&mut f, 2, 0.0).outcome, Outcome::Slewed);
        }
        for _ in 0..3 {
            assert_eq!(clock.run(&mut f, 64, 0.0).outcome, Outcome::Slewed);
        }
        assert_eq!(f.state(), ClockState::Sync);
        assert!((f.frequency().0 + 50.0).abs() < 0.01, "{:?}", f.frequency());
        clock.run(&mut f, 1, 0.0);
        assert!(clock.ahead.abs() < 1e-6, "{}", clock.ahead);
        assert_eq!(clock.steps, 0);
    }

    #[test]
    fn fifty_ms_is_slewed_within_a_second_at_a_bounded_rate() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        let u = update(&mut f, -0.05, 10);
        let [ClockCommand::SetSlewRate(rate)] = u.commands[..] else {
            panic!("{u:?}");
        };
        assert!((rate.0 + 50_000.0).abs() < 1e-3, "{rate:?}");
        assert_eq!(f.tick(secs(11)), Some(ClockCommand::SetSlewRate(Ppm::ZERO)));
        assert_eq!(f.tick(secs(12)), None);
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        let u = update(&mut f, 0.1, 10);
        let ClockCommand::SetSlewRate(rate) = u.commands[0] else {
            panic!("{u:?}");
        };
        assert!((rate.0 - 83_333.333).abs() < 1e-3, "{rate:?}");
    }

    #[test]
    fn maxslewrate_bounds_the_slew() {
        let slow = LoopConfig {
            max_slew_rate: Ppm(500.0),
            ..LoopConfig::default()
        };
        let mut f = filter(slow, Some(Ppm(0.0)));
        let mut clock = Model::new(-0.01, 0.0, &f);
        clock.run(&mut f, 1, 0.0);
        assert_eq!(clock.slew, 500e-6);
        clock.run(&mut f, 10, 0.0);
        assert!((clock.ahead + 0.005).abs() < 1e-9, "{}", clock.ahead);
        for _ in 0..10 {
            clock.run(&mut f, 1, 0.0);
        }
        assert!(clock.ahead.abs() < 1e-9, "{}", clock.ahead);
    }

    #[test]
    fn sync_spike_is_ignored_until_stepout() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        update(&mut f, 0.001, 10);
        assert_eq!(f.state(), ClockState::Sync);
        assert_eq!(update(&mut f, 0.5, 74).outcome, Outcome::Ignored);
        assert_eq!(f.state(), ClockState::Spik);
        assert_eq!(update(&mut f, 0.5, 500).outcome, Outcome::Ignored);
        assert_eq!(update(&mut f, 0.5, 911).outcome, Outcome::Stepped);
    }

    #[test]
    fn spike_followed_by_good_offset_returns_to_sync() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        update(&mut f, 0.001, 10);
        update(&mut f, 0.5, 74);
        assert_eq!(update(&mut f, 0.001, 138).outcome, Outcome::Slewed);
        assert_eq!(f.state(), ClockState::Sync);
    }

    #[test]
    fn panic_unless_g() {
        let mut f = filter(LoopConfig::default(), None);
        assert!(matches!(
            update(&mut f, 2000.0, 5).outcome,
            Outcome::Panic { .. }
        ));
        let g = LoopConfig {
            allow_panic: true,
            ..LoopConfig::default()
        };
        let mut f = filter(g, None);
        assert_eq!(update(&mut f, 2000.0, 5).outcome, Outcome::Stepped);
    }

    #[test]
    fn slew_only_never_steps_below_600_s_and_slews_seconds_in_a_minute() {
        let mut f = filter(LoopConfig::default().slew_only(), None);
        let mut clock = Model::new(-3.0, 0.0, &f);
        let u = clock.run(&mut f, 5, 0.0);
        assert_eq!(u.outcome, Outcome::Slewed);
        assert_eq!(clock.slew, DEFAULT_MAX_SLEW_RATE.0 * 1e-6);
        clock.run(&mut f, 30, 0.0);
        assert!(
            clock.ahead < -0.4,
            "never faster than the maximum: {}",
            clock.ahead
        );
        clock.run(&mut f, 10, 0.0);
        assert!(clock.ahead.abs() < 1e-6, "{}", clock.ahead);
        assert_eq!(clock.steps, 0);
    }

    #[test]
    fn freq_state_fits_every_offset_not_just_two() {
        let mut f = filter(LoopConfig::default(), None);
        // A clock 2 PPM slow measured with +-50 us of noise: the first and last offsets
        // alone would say 1.896 PPM.
        let mut clock = Model::new(-0.001, -2.0, &f);
        for k in 0..16 {
            let noise = if k % 2 == 0 { 50e-6 } else { -50e-6 };
            clock.run(&mut f, 64, noise);
        }
        assert_eq!(f.state(), ClockState::Sync);
        assert!((f.frequency().0 - 2.0).abs() < 0.05, "{:?}", f.frequency());
    }

    #[test]
    fn a_drift_file_outweighs_a_few_noisy_offsets() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(-20.0)));
        let mut clock = Model::new(0.0, 20.0, &f);
        for k in 0..4 {
            let noise = if k % 2 == 0 { 100e-6 } else { -100e-6 };
            clock.run(&mut f, 2, noise);
        }
        assert_eq!(f.state(), ClockState::Sync);
        assert!((f.frequency().0 + 20.0).abs() < 2.0, "{:?}", f.frequency());
    }

    #[test]
    fn once_sets_and_exits() {
        let q = LoopConfig {
            once: true,
            ..LoopConfig::default()
        };
        let mut f = filter(q, None);
        let u = update(&mut f, 0.5, 5);
        assert_eq!(u.outcome, Outcome::Exit);
        assert_eq!(u.commands, vec![ClockCommand::Step(off(0.5))]);
        let mut f = filter(q, None);
        assert_eq!(
            update(&mut f, 0.05, 5).commands,
            vec![ClockCommand::Slew(off(0.05))]
        );
        assert_eq!(f.tick(secs(6)), None);
    }

    #[test]
    fn drift_file_frequency_is_installed() {
        let (f, cmd) = LoopFilter::new(LoopConfig::default(), Some(Ppm(-12.5)), -20, secs(0));
        let ClockCommand::SetFrequency(Ppm(freq)) = cmd else {
            panic!("{cmd:?}");
        };
        assert!((freq + 12.5).abs() < 1e-9);
        assert_eq!(f.state(), ClockState::Fset);
    }

    #[test]
    fn poll_rises_when_offsets_stay_on_a_line() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        f.set_poll(MIN);
        let mut clock = Model::new(0.0, 0.0, &f);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-4;
            let poll = f.poll().seconds() as u32;
            clock.run(&mut f, poll, noise);
        }
        assert!(f.poll() > MIN, "{:?}", f.poll());
    }

    #[test]
    fn poll_stays_short_while_the_oscillator_wanders() {
        let mut f = filter(LoopConfig::default(), Some(Ppm(0.0)));
        f.set_poll(MIN);
        let mut clock = Model::new(0.0, 0.0, &f);
        for k in 0..400 {
            // The oscillator swings by 2 PPM over an hour and back.
            clock.drift = 2e-6 * (f64::from(k) * 64.0 / 3600.0 * std::f64::consts::PI).sin();
            let poll = f.poll().seconds() as u32;
            clock.run(&mut f, poll, 0.0);
        }
        assert_eq!(f.poll(), MIN);
        assert!(clock.ahead.abs() < 50e-6, "{}", clock.ahead);
    }
}
