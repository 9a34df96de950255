//! A virtual clock: true time plus an offset and a drift, advanced by a monotonic source.
//! Steps, slews and frequency corrections behave like the kernel's, so the discipline sees
//! the same physics as on the system clock, and the real clock is never touched.

use super::{Clock, ClockError, ClockStatus, FREQUENCY_LIMIT, SLEW_RATE_LIMIT};
use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use std::fmt;
use std::time::Duration;

/// The kernel's maximum slew rate (adjtime's 500 PPM).
const MAX_SLEW_RATE: f64 = 500e-6;

/// Where monotonic time comes from: the real monotonic clock in daemons, a hand-driven
/// counter in simulations.
pub trait MonoSource {
    fn mono(&self) -> Duration;
    /// Time including suspends (CLOCK_BOOTTIME); a source that cannot tell returns `mono`.
    fn boottime(&self) -> Duration {
        self.mono()
    }
}

/// The process's monotonic clock (`CLOCK_MONOTONIC` through `std::time::Instant`).
#[derive(Clone, Copy, Debug)]
pub struct StdMono(std::time::Instant);

impl StdMono {
    pub fn new() -> StdMono {
        StdMono(std::time::Instant::now())
    }
}

impl Default for StdMono {
    fn default() -> Self {
        StdMono::new()
    }
}

impl MonoSource for StdMono {
    fn mono(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A monotonic source advanced by hand: simulations and tests run hours of virtual time
/// without sleeping. Clones share the same counter.
#[derive(Clone, Debug, Default)]
pub struct ManualMono(std::rc::Rc<std::cell::Cell<Duration>>);

impl ManualMono {
    pub fn advance(&self, by: Duration) {
        self.0.set(self.0.get() + by);
    }
}

impl MonoSource for ManualMono {
    fn mono(&self) -> Duration {
        self.0.get()
    }
}

/// `--virtual-clock OFFSET[,PPM]`: how far ahead of true time the clock starts (seconds, may
/// be negative) and how fast it drifts (PPM, positive: runs fast).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VirtualClockSpec {
    pub offset: NtpDuration,
    pub drift: Ppm,
}

impl std::str::FromStr for VirtualClockSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (offset, drift) = match text.split_once(',') {
            Some((o, d)) => (o, Some(d)),
            None => (text, None),
        };
        let number = |s: &str, what: &str| -> Result<f64, String> {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("--virtual-clock: bad {what} '{s}' (expected OFFSET[,PPM])"))
        };
        let offset = number(offset, "offset")?;
        let drift = drift
            .map(|d| number(d, "drift"))
            .transpose()?
            .unwrap_or(0.0);
        if drift.abs() > 1000.0 {
            return Err(format!(
                "--virtual-clock: drift {drift} PPM is beyond ±1000"
            ));
        }
        Ok(VirtualClockSpec {
            offset: NtpDuration::from_secs_f64(offset),
            drift: Ppm(drift),
        })
    }
}

impl fmt::Display for VirtualClockSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:+.6}s,{:+.3}ppm",
            self.offset.to_secs_f64(),
            self.drift.0
        )
    }
}

/// The virtual clock. Its reading is piecewise linear in monotonic time: re-anchored at
/// every operation, so frequency changes take effect from that moment, as in the kernel.
#[derive(Clone, Debug)]
pub struct VirtualClock<M: MonoSource> {
    mono: M,
    /// Monotonic time and clock reading at the last re-anchor.
    anchor_mono: Duration,
    anchor_value: NtpTimestamp,
    /// The oscillator's own error (fixed), the correction the discipline set and the
    /// slew rate on top of it.
    drift: Ppm,
    correction: Ppm,
    slew_rate: Ppm,
    /// Slew still to apply at the anchor (seconds, signed).
    pending_slew: f64,
    status: Option<ClockStatus>,
}

impl<M: MonoSource> VirtualClock<M> {
    /// A clock that reads `true_now + spec.offset` at this moment and then runs at
    /// `1 + drift` the rate of `mono`.
    pub fn new(mono: M, true_now: NtpTimestamp, spec: VirtualClockSpec) -> VirtualClock<M> {
        let anchor_mono = mono.mono();
        VirtualClock {
            mono,
            anchor_mono,
            anchor_value: true_now + spec.offset,
            drift: spec.drift,
            correction: Ppm::ZERO,
            slew_rate: Ppm::ZERO,
            pending_slew: 0.0,
            status: None,
        }
    }

    /// The monotonic source, e.g. for a simulation to advance it.
    pub fn mono_source(&self) -> &M {
        &self.mono
    }

    /// The slew still to be applied (seconds), for tests and ntpq.
    pub fn pending_slew(&self) -> NtpDuration {
        let (_, pending) = self.progress(self.elapsed());
        NtpDuration::from_secs_f64(pending)
    }

    /// The last status the discipline reported.
    pub fn status(&self) -> Option<ClockStatus> {
        self.status
    }

    /// Changes the oscillator's own error from now on (a simulation's frequency wander);
    /// unlike [`Clock::set_frequency`] this is not the discipline's to see or undo.
    pub fn set_oscillator_drift(&mut self, drift: Ppm) {
        self.reanchor();
        self.drift = drift;
    }

    fn elapsed(&self) -> f64 {
        self.mono
            .mono()
            .saturating_sub(self.anchor_mono)
            .as_secs_f64()
    }

    /// Reading offset accumulated since the anchor and the slew left, after `elapsed` s.
    fn progress(&self, elapsed: f64) -> (f64, f64) {
        let rate = self.rate();
        let slewable = elapsed * MAX_SLEW_RATE;
        let slewed = self.pending_slew.clamp(-slewable, slewable);
        (elapsed * rate + slewed, self.pending_slew - slewed)
    }

    /// Seconds of this clock per second of monotonic time (without a pending slew's
    /// 500 PPM at most).
    fn rate(&self) -> f64 {
        1.0 + self.drift.as_ratio() + self.correction.as_ratio() + self.slew_rate.as_ratio()
    }

    fn reanchor(&mut self) {
        let now_mono = self.mono.mono();
        let elapsed = now_mono.saturating_sub(self.anchor_mono).as_secs_f64();
        let (advance, pending) = self.progress(elapsed);
        self.anchor_value = self.anchor_value + NtpDuration::from_secs_f64(advance);
        self.anchor_mono = now_mono;
        self.pending_slew = pending;
    }
}

impl<M: MonoSource> Clock for VirtualClock<M> {
    fn now(&self) -> NtpTimestamp {
        let (advance, _) = self.progress(self.elapsed());
        self.anchor_value + NtpDuration::from_secs_f64(advance)
    }

    /// The datagram's age in real time, run at this clock's rate: with a 10% slew rate a
    /// real millisecond is 1.1 ms of this clock.
    fn at_realtime(&self, realtime: NtpTimestamp) -> NtpTimestamp {
        let ago = super::recent(super::system::realtime_now() - realtime);
        self.now() + -ago.mul_f64(self.rate())
    }

    fn mono(&self) -> Duration {
        self.mono.mono()
    }

    fn boottime(&self) -> Duration {
        self.mono.boottime()
    }

    fn precision(&self) -> i8 {
        // Nanosecond readings on top of CLOCK_MONOTONIC: the same as the system clock.
        -24
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        self.reanchor();
        self.anchor_value = self.anchor_value + offset;
        Ok(())
    }

    fn slew(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        self.reanchor();
        self.pending_slew = offset.to_secs_f64();
        Ok(())
    }

    fn set_frequency(&mut self, freq: Ppm) -> Result<(), ClockError> {
        self.reanchor();
        self.correction = Ppm(freq.0.clamp(-FREQUENCY_LIMIT.0, FREQUENCY_LIMIT.0));
        Ok(())
    }

    fn set_slew_rate(&mut self, rate: Ppm) -> Result<(), ClockError> {
        self.reanchor();
        self.slew_rate = Ppm(rate.0.clamp(-SLEW_RATE_LIMIT.0, SLEW_RATE_LIMIT.0));
        Ok(())
    }

    fn frequency(&self) -> Result<Ppm, ClockError> {
        Ok(self.correction)
    }

    fn set_status(&mut self, status: ClockStatus) -> Result<(), ClockError> {
        self.status = Some(status);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Manual = ManualMono;

    fn advance(mono: &Manual, secs: f64) {
        mono.advance(Duration::from_secs_f64(secs));
    }

    fn clock(offset: f64, drift: f64) -> (Manual, VirtualClock<Manual>) {
        let mono = Manual::default();
        let spec = VirtualClockSpec {
            offset: NtpDuration::from_secs_f64(offset),
            drift: Ppm(drift),
        };
        let c = VirtualClock::new(
            mono.clone(),
            NtpTimestamp::from_unix(1_700_000_000, 0),
            spec,
        );
        (mono, c)
    }

    fn secs_since_start(c: &VirtualClock<Manual>) -> f64 {
        (c.now() - NtpTimestamp::from_unix(1_700_000_000, 0)).to_secs_f64()
    }

    /// The real clock's reading `ms` milliseconds ago, as a kernel receive timestamp.
    fn realtime_ago(ms: i32) -> NtpTimestamp {
        crate::clock::system::realtime_now() + -NtpDuration::from_nanos(i64::from(ms) * 1_000_000)
    }

    fn ms(d: NtpDuration) -> f64 {
        d.to_secs_f64() * 1e3
    }

    #[test]
    fn kernel_timestamps_map_into_the_virtual_time_base() {
        // A virtual clock 100 s ahead of the real one: a datagram stamped by the kernel
        // 20 ms ago arrived 20 ms before this clock's now, not 100 s off.
        let (_, c) = clock(100.0, 0.0);
        let rx = c.at_realtime(realtime_ago(20));
        let age = ms(c.now() - rx);
        // The real clock moves on between the two reads (microseconds): a loose bound.
        assert!((19.9..25.0).contains(&age), "age {age} ms");
    }

    #[test]
    fn kernel_timestamp_ages_run_at_the_clocks_rate() {
        let (_, mut c) = clock(-3.0, 0.0);
        c.set_slew_rate(Ppm(50_000.0)).unwrap(); // 5% fast
        let age = ms(c.now() - c.at_realtime(realtime_ago(400)));
        assert!((419.9..425.0).contains(&age), "age {age} ms");
    }

    #[test]
    fn implausible_kernel_timestamps_count_as_now() {
        let (_, c) = clock(0.0, 0.0);
        for stamp in [
            realtime_ago(-5_000),
            realtime_ago(3_000),
            NtpTimestamp::ZERO,
        ] {
            assert_eq!(c.at_realtime(stamp), c.now(), "{stamp:?}");
        }
    }

    #[test]
    fn parses_offset_and_drift() {
        let spec: VirtualClockSpec = "-0.5,20".parse().unwrap();
        assert!((spec.offset.to_secs_f64() + 0.5).abs() < 1e-9);
        assert_eq!(spec.drift, Ppm(20.0));
        assert!("2.5".parse::<VirtualClockSpec>().is_ok());
        assert!("x".parse::<VirtualClockSpec>().is_err());
        assert!("1,nan".parse::<VirtualClockSpec>().is_err());
    }

    #[test]
    fn offset_and_drift_accumulate() {
        let (mono, c) = clock(2.5, 100.0);
        assert!((secs_since_start(&c) - 2.5).abs() < 1e-9);
        advance(&mono, 1000.0);
        assert!((secs_since_start(&c) - (1002.5 + 0.1)).abs() < 1e-6);
    }

    #[test]
    fn slew_is_limited_to_500_ppm() {
        let (mono, mut c) = clock(0.0, 0.0);
        c.slew(NtpDuration::from_secs_f64(0.2)).unwrap();
        advance(&mono, 100.0);
        assert!((secs_since_start(&c) - 100.05).abs() < 1e-6);
        advance(&mono, 1000.0);
        assert!((secs_since_start(&c) - 1100.2).abs() < 1e-6);
        assert_eq!(c.pending_slew(), NtpDuration::ZERO);
    }

    #[test]
    fn frequency_correction_cancels_drift() {
        let (mono, mut c) = clock(0.0, 50.0);
        c.set_frequency(Ppm(-50.0)).unwrap();
        advance(&mono, 10_000.0);
        assert!(secs_since_start(&c) - 10_000.0 < 1e-6);
    }

    #[test]
    fn oscillator_drift_changes_apart_from_the_correction() {
        let (mono, mut c) = clock(0.0, 50.0);
        c.set_frequency(Ppm(-50.0)).unwrap();
        advance(&mono, 1000.0);
        c.set_oscillator_drift(Ppm(51.0));
        advance(&mono, 1000.0);
        assert!((secs_since_start(&c) - 2000.001).abs() < 1e-6);
        assert_eq!(c.frequency(), Ok(Ppm(-50.0)));
    }

    #[test]
    fn slew_rate_adds_to_the_frequency_until_changed() {
        let (mono, mut c) = clock(0.05, 20.0);
        c.set_frequency(Ppm(-20.0)).unwrap();
        c.set_slew_rate(Ppm(-83_333.0)).unwrap();
        advance(&mono, 0.6);
        c.set_slew_rate(Ppm::ZERO).unwrap();
        // 50 ms removed in 0.6 s; the frequency correction is untouched.
        assert!(
            (secs_since_start(&c) - 0.6).abs() < 1e-6,
            "{}",
            secs_since_start(&c)
        );
        assert_eq!(c.frequency(), Ok(Ppm(-20.0)));
        advance(&mono, 1000.0);
        assert!((secs_since_start(&c) - 1000.6).abs() < 1e-6);
        c.set_slew_rate(Ppm(1e6)).unwrap();
        advance(&mono, 1.0);
        assert!((secs_since_start(&c) - (1001.6 + 0.0995)).abs() < 1e-6);
    }

    #[test]
    fn step_jumps() {
        let (_, mut c) = clock(3.0, 0.0);
        c.step(NtpDuration::from_secs_f64(-3.0)).unwrap();
        assert!(secs_since_start(&c).abs() < 1e-9);
    }
}
