//! The clock filter of RFC 5905 section 10 (A.5.2 `clock_filter`), with classic 4.2.6p5's
//! details: once the discipline knows the frequency (classic: once the system is
//! synchronised), eight stages ordered by delay (by delay plus dispersion once older than
//! the Allan intercept); before that, the newest sample first, since a clock whose
//! frequency is not known drifts too fast for an older low-delay sample to be true. Dispersion ages at PHI per second, jitter is the RMS of offset differences
//! from the best sample, and the popcorn spike suppressor drops a best offset that moves
//! more than three jitters within two poll intervals while both it and the filter's
//! dispersion are sane (so the first sample of an empty filter passes).

use super::loopfilter::Slewed;
use super::sample::{Sample, PHI};
use crate::time::{NtpDuration, PollInterval};
use std::time::Duration;

/// Stages in the shift register (NTP_SHIFT).
pub const STAGES: usize = 8;
/// Dispersion of an empty stage and the ceiling of all dispersions (MAXDISPERSE, seconds).
pub const MAX_DISPERSION: f64 = 16.0;
/// Distance above which a sample counts as invalid once two good ones exist (MAXDISTANCE).
pub const MAX_DISTANCE: f64 = 1.5;
/// Age beyond which delay no longer ranks a sample (Allan intercept, 2^11 s).
pub const ALLAN_INTERCEPT: f64 = 2048.0;
/// Popcorn spike gate, in jitters (CLOCK_SGATE).
const SPIKE_GATE: f64 = 3.0;
/// Weight of successive stages in the peer dispersion (NTP_FWEIGHT).
const WEIGHT: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stage {
    offset: f64,
    delay: f64,
    dispersion: f64,
    /// Monotonic seconds when the sample entered the register.
    epoch: f64,
    /// The phase the discipline had slewed by then (seconds).
    slewed: f64,
}

/// One sample as the filter holds it, for the discipline's line, which weighs every
/// sample by its delay rather than keeping only the one of lowest delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    pub offset: NtpDuration,
    pub delay: NtpDuration,
    /// When it was taken (monotonic).
    pub time: Duration,
}

impl Measurement {
    /// A filter's worth of samples holding only this one (a reference clock's).
    pub fn alone(self) -> [Option<Measurement>; STAGES] {
        let mut held = [None; STAGES];
        held[0] = Some(self);
        held
    }
}

/// What the system knows that the filter needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FilterContext {
    /// System precision (log2 s): the floor of the jitter.
    pub precision: i8,
    /// System poll exponent: the popcorn window is two of these.
    pub poll: PollInterval,
    /// Whether the discipline knows the frequency (classic: the clock is synchronised,
    /// which in 4.2.6p5 happens only then). Until it does the clock may drift too fast for
    /// an older low-delay sample to be true, so the newest sample is used, each one; once
    /// it does, samples are ranked by delay and a stale one is not used twice.
    pub settled: bool,
    /// The phase the discipline has slewed: taken off each sample as far as it was slewed
    /// after the sample (classic slews too slowly for that to matter).
    pub slewed: Slewed,
}

/// What happened to a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterVerdict {
    /// The best sample is new: the peer's statistics are fresh for selection.
    New,
    /// The best sample was already used.
    Stale,
    /// The best sample moved too far too fast (a popcorn spike).
    Popcorn,
    /// No stage holds a valid sample.
    Empty,
}

/// The per-peer filter and the statistics it derives.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockFilter {
    stages: [Stage; STAGES],
    next: usize,
    order: [usize; STAGES],
    /// Last time the dispersions were aged.
    update: f64,
    offset: f64,
    delay: f64,
    dispersion: f64,
    jitter: f64,
    /// Epoch of the sample last handed on.
    epoch: f64,
    /// Stages written since the filter was cleared (at most [`STAGES`]); the rest are
    /// empty, and rank last.
    filled: usize,
    /// The peer dispersion counting only the filled stages.
    held_dispersion: f64,
    /// The phase slewed when `offset` was last worked out (seconds).
    slewed: f64,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl ClockFilter {
    /// An empty filter (classic `peer_clear`): every stage at maximum dispersion.
    pub fn new(now: Duration) -> ClockFilter {
        let now = secs(now);
        let empty = Stage {
            offset: 0.0,
            delay: 0.0,
            dispersion: MAX_DISPERSION,
            epoch: now,
            slewed: 0.0,
        };
        ClockFilter {
            stages: [empty; STAGES],
            next: 0,
            order: [0, 1, 2, 3, 4, 5, 6, 7],
            update: now,
            offset: 0.0,
            delay: 0.0,
            dispersion: MAX_DISPERSION,
            // Classic's peer_clear: the precision, about nothing, until a sample says more
            // (ntpq shows 0.000, never 4000 ms for a server that has not answered).
            jitter: 0.0,
            epoch: now,
            filled: 0,
            held_dispersion: MAX_DISPERSION,
            slewed: 0.0,
        }
    }

    /// Shifts in a sample taken at `now` and recomputes the peer statistics.
    pub fn add(&mut self, sample: &Sample, now: Duration, ctx: FilterContext) -> FilterVerdict {
        self.push(
            sample.offset.to_secs_f64(),
            sample.delay.to_secs_f64().max(0.0),
            sample.dispersion.to_secs_f64(),
            now,
            ctx,
        )
    }

    /// Shifts in the "no answer for three polls" dummy: zero offset, maximum dispersion.
    pub fn add_missing(&mut self, now: Duration, ctx: FilterContext) -> FilterVerdict {
        self.push(0.0, 0.0, MAX_DISPERSION, now, ctx)
    }

    fn push(
        &mut self,
        offset: f64,
        delay: f64,
        disp: f64,
        now: Duration,
        ctx: FilterContext,
    ) -> FilterVerdict {
        let slewed = ctx.slewed.at(now).to_secs_f64();
        let now = secs(now);
        self.stages[self.next] = Stage {
            offset,
            delay,
            dispersion: disp,
            epoch: now,
            slewed,
        };
        let newest = self.next;
        self.next = (self.next + 1) % STAGES;
        self.filled = (self.filled + 1).min(STAGES);
        self.age(now, newest);
        // Newest first; once synchronised, a stable sort by distance keeps that order
        // among equal distances, as classic's insertion sort does.
        let mut ranked: Vec<(f64, usize)> = (0..STAGES)
            .map(|k| (newest + STAGES - k) % STAGES)
            .map(|i| (self.distance(i, now), i))
            .collect();
        if ctx.settled {
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        for (slot, (_, i)) in self.order.iter_mut().zip(&ranked) {
            *slot = *i;
        }
        let mut valid = 0;
        for (dist, _) in &ranked {
            if *dist >= MAX_DISPERSION || (valid >= 2 && *dist >= MAX_DISTANCE) {
                continue;
            }
            valid += 1;
        }
        self.summarise(valid, ctx, slewed)
    }

    /// Ages every stage but the newest by PHI times the time since the last update.
    fn age(&mut self, now: f64, newest: usize) {
        let growth = PHI * (now - self.update).max(0.0);
        self.update = now;
        for (i, stage) in self.stages.iter_mut().enumerate() {
            if i != newest {
                stage.dispersion += growth;
            }
            stage.dispersion = stage.dispersion.min(MAX_DISPERSION);
        }
    }

    fn distance(&self, i: usize, now: f64) -> f64 {
        let stage = &self.stages[i];
        if stage.dispersion >= MAX_DISPERSION {
            MAX_DISPERSION
        } else if now - stage.epoch > ALLAN_INTERCEPT {
            stage.delay + stage.dispersion
        } else {
            stage.delay
        }
    }

    /// Stage `i`'s offset as the clock stands now (`slewed` by then).
    fn offset_now(&self, i: usize, slewed: f64) -> f64 {
        let stage = &self.stages[i];
        stage.offset - (slewed - stage.slewed)
    }

    fn summarise(&mut self, valid: usize, ctx: FilterContext, slewed: f64) -> FilterVerdict {
        let best = self.order[0];
        let best_offset = self.offset_now(best, slewed);
        let mut dispersion = 0.0;
        let mut held = 0.0;
        let mut jitter = 0.0;
        for (rank, &i) in self.order.iter().enumerate().rev() {
            dispersion = WEIGHT * (dispersion + self.stages[i].dispersion);
            // Stages fill from index 0 after a clear, so those below `filled` are written.
            if i < self.filled {
                held = WEIGHT * (held + self.stages[i].dispersion);
            }
            if rank < valid {
                jitter += (self.offset_now(i, slewed) - best_offset).powi(2);
            }
        }
        self.dispersion = dispersion;
        self.held_dispersion = held;
        if valid == 0 {
            return FilterVerdict::Empty;
        }
        let best_stage = self.stages[best];
        let moved = (self.offset - (slewed - self.slewed) - best_offset).abs();
        self.offset = best_offset;
        self.slewed = slewed;
        self.delay = best_stage.delay;
        if valid > 1 {
            jitter /= (valid - 1) as f64;
        }
        let floor = NtpDuration::from_log2(ctx.precision).to_secs_f64();
        self.jitter = jitter.sqrt().max(floor);
        if best_stage.epoch <= self.epoch && ctx.settled {
            return FilterVerdict::Stale;
        }
        let window = 2.0 * ctx.poll.seconds() as f64;
        let sane = self.dispersion < MAX_DISTANCE && best_stage.dispersion < MAX_DISTANCE;
        if sane && moved > SPIKE_GATE * self.jitter && best_stage.epoch - self.epoch < window {
            return FilterVerdict::Popcorn;
        }
        self.epoch = best_stage.epoch;
        FilterVerdict::New
    }

    /// The peer offset (theta): the best sample's.
    pub fn offset(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.offset)
    }

    /// The peer round-trip delay (delta).
    pub fn delay(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.delay)
    }

    /// The peer dispersion (epsilon) as of the last update.
    pub fn dispersion(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.dispersion)
    }

    /// The peer dispersion as of the last update counting only the stages written since
    /// the filter was cleared, each with classic's weight for its rank (the empty stages
    /// rank last, so this is [`ClockFilter::dispersion`] without their MAXDISPERSE share).
    pub fn held_dispersion(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.held_dispersion)
    }

    /// Stages written since the filter was cleared, real samples and "no answer" dummies
    /// alike (at most [`STAGES`]).
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// The peer jitter (psi).
    pub fn jitter(&self) -> NtpDuration {
        NtpDuration::from_secs_f64(self.jitter)
    }

    /// Monotonic time of the sample last handed on (classic `peer->epoch`).
    pub fn epoch(&self) -> Duration {
        Duration::from_secs_f64(self.epoch.max(0.0))
    }

    /// Monotonic time the dispersions were last aged (classic `peer->update`).
    pub fn last_update(&self) -> Duration {
        Duration::from_secs_f64(self.update.max(0.0))
    }

    /// The samples held, newest first (None: an empty stage or the dummy of a poll that
    /// got no answer).
    pub fn measurements(&self) -> [Option<Measurement>; STAGES] {
        let mut out = [None; STAGES];
        for (k, slot) in out.iter_mut().enumerate() {
            let s = &self.stages[(self.next + STAGES - 1 - k) % STAGES];
            if s.dispersion < MAX_DISPERSION {
                *slot = Some(Measurement {
                    offset: NtpDuration::from_secs_f64(s.offset),
                    delay: NtpDuration::from_secs_f64(s.delay),
                    time: Duration::from_secs_f64(s.epoch.max(0.0)),
                });
            }
        }
        out
    }

    /// The stages newest first, as ntpq's filtdelay/filtoffset/filtdisp show them:
    /// (delay, offset, dispersion).
    pub fn stages_newest_first(&self) -> [(NtpDuration, NtpDuration, NtpDuration); STAGES] {
        let mut out = [(NtpDuration::ZERO, NtpDuration::ZERO, NtpDuration::ZERO); STAGES];
        for (k, slot) in out.iter_mut().enumerate() {
            let i = (self.next + STAGES - 1 - k) % STAGES;
            let s = &self.stages[i];
            *slot = (
                NtpDuration::from_secs_f64(s.delay),
                NtpDuration::from_secs_f64(s.offset),
                NtpDuration::from_secs_f64(s.dispersion),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpTimestamp;

    fn ctx() -> FilterContext {
        FilterContext {
            precision: -20,
            poll: PollInterval(6),
            settled: false,
            slewed: Slewed::default(),
        }
    }

    fn synced() -> FilterContext {
        FilterContext {
            settled: true,
            ..ctx()
        }
    }

    fn sample(offset_ms: f64, delay_ms: f64) -> Sample {
        Sample {
            offset: NtpDuration::from_secs_f64(offset_ms / 1e3),
            delay: NtpDuration::from_secs_f64(delay_ms / 1e3),
            dispersion: NtpDuration::from_secs_f64(1e-6),
            time: NtpTimestamp::ZERO,
        }
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn first_sample_passes_then_a_sudden_jump_is_a_popcorn_spike() {
        let mut f = ClockFilter::new(at(0));
        // An empty filter's dispersion is insane, so its first sample is no spike.
        assert_eq!(
            f.add(&sample(0.0, 1.0), at(1), synced()),
            FilterVerdict::New
        );
        for t in 1..STAGES as u64 {
            f.add(&sample(10.0, 5.0), at(1 + 2 * t), synced());
        }
        // The low-delay sample at 0 ms leaves the register: the best offset jumps by
        // 10 ms, far more than the jitter of the samples at 10 ms.
        assert_eq!(
            f.add(&sample(10.0, 5.0), at(17), synced()),
            FilterVerdict::Popcorn
        );
    }

    #[test]
    fn unsynchronised_filter_uses_the_newest_sample() {
        let mut f = ClockFilter::new(at(0));
        f.add(&sample(1.0, 5.0), at(1), ctx());
        f.add(&sample(2.0, 50.0), at(3), ctx());
        assert!((f.offset().to_secs_f64() - 0.002).abs() < 1e-9);
    }

    #[test]
    fn lowest_delay_sample_wins() {
        let mut f = ClockFilter::new(at(0));
        for (i, (off, del)) in [(1.0, 30.0), (2.0, 5.0), (3.0, 40.0), (4.0, 20.0)]
            .iter()
            .enumerate()
        {
            f.add(&sample(*off, *del), at(2 * i as u64 + 1), synced());
        }
        assert!((f.offset().to_secs_f64() - 0.002).abs() < 1e-9);
        assert!((f.delay().to_secs_f64() - 0.005).abs() < 1e-9);
    }

    #[test]
    fn dispersion_falls_as_stages_fill_and_ages_at_phi() {
        let mut f = ClockFilter::new(at(0));
        f.add(&sample(1.0, 10.0), at(1), ctx());
        let one = f.dispersion().to_secs_f64();
        for t in [3, 5, 7] {
            f.add(&sample(1.0, 10.0), at(t), ctx());
        }
        let four = f.dispersion().to_secs_f64();
        assert!(one > 7.0 && four < 1.0, "{one} {four}");
        // An old sample's dispersion grew by PHI per second.
        f.add(&sample(1.0, 10.0), at(1007), ctx());
        let stages = f.stages_newest_first();
        assert!((stages[1].2.to_secs_f64() - (1e-6 + PHI * 1000.0)).abs() < 1e-6);
    }

    #[test]
    fn held_dispersion_leaves_out_only_the_empty_stages() {
        let mut f = ClockFilter::new(at(0));
        f.add(&sample(1.0, 10.0), at(1), ctx());
        f.add(&sample(1.2, 10.0), at(3), ctx());
        assert_eq!(f.filled(), 2);
        // Two fresh samples: classic counts six empty stages at 16 s (about 4 s in all).
        assert!(f.dispersion().to_secs_f64() > 3.9);
        assert!(f.held_dispersion().to_secs_f64() < 1e-4);
        // A "no answer" dummy is a filled stage: it counts in full.
        f.add_missing(at(5), ctx());
        assert!(f.held_dispersion().to_secs_f64() > 7.9);
        for t in 0..STAGES as u64 {
            f.add(&sample(1.0, 10.0), at(7 + 2 * t), synced());
        }
        assert_eq!(f.filled(), STAGES);
        assert_eq!(f.held_dispersion(), f.dispersion());
    }

    #[test]
    fn jitter_is_rms_of_differences() {
        let mut f = ClockFilter::new(at(0));
        for (i, off) in [1.0, 3.0, 1.0, 3.0].iter().enumerate() {
            f.add(
                &sample(*off, 10.0 + i as f64),
                at(2 * i as u64 + 1),
                synced(),
            );
        }
        // Best (lowest delay) has offset 1 ms; differences 0, 2, 0, 2 ms over 3.
        let expect = (8.0f64 / 3.0).sqrt() / 1e3;
        assert!((f.jitter().to_secs_f64() - expect).abs() < 1e-9);
    }

    #[test]
    fn stale_sample_not_reused_when_synchronized() {
        let mut f = ClockFilter::new(at(0));
        let sync = synced();
        f.add(&sample(1.0, 5.0), at(1), sync);
        f.add(&sample(1.0, 5.0), at(3), sync);
        // A worse (higher delay) sample leaves the same best sample in place.
        assert_eq!(f.add(&sample(1.0, 50.0), at(5), sync), FilterVerdict::Stale);
    }

    #[test]
    fn missing_answers_count_as_maximum_dispersion() {
        let mut f = ClockFilter::new(at(0));
        assert_eq!(f.add_missing(at(64), ctx()), FilterVerdict::Empty);
    }
}
