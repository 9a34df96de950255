//! The discipline's ledger of its own corrections, so that every sample can be taken to
//! the frame of a clock that was never corrected, where the estimator
//! ([`super::kalman`]) sees the oscillator alone.
//!
//! Every correction the discipline makes (the frequency and the slew rate on top of it)
//! is booked, so an offset measured at time t becomes the offset the clock would show had
//! it never been corrected: z = theta + A(t), where A(t) is the total correction applied
//! by then. Those free-running offsets follow a line whose slope is the frequency
//! correction that cancels the oscillator's drift, whatever the loop did meanwhile, so
//! the estimate does not feed back on itself and samples of any age fit in at their own
//! time.

use super::kalman::Bank;
use std::collections::VecDeque;

/// Ledger entries kept: a few per update (a slew starts, ends, a new frequency), enough
/// to reach back further than any sample the clock filter still holds.
const MAX_LEDGER: usize = 4096;

/// The ledger of corrections and the estimator fed from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// (monotonic seconds, total correction) at each change of rate; linear in between.
    ledger: VecDeque<(f64, f64)>,
    /// Correction rate in force since the last booking (frequency plus slew, s/s).
    rate: f64,
    bank: Bank,
}

impl Trend {
    /// No samples yet at `now`; the frequency correction in force is `frequency`, known to
    /// `error` (s/s).
    pub fn new(frequency: f64, error: f64, now: f64) -> Trend {
        Trend {
            ledger: VecDeque::from([(now, 0.0)]),
            rate: frequency,
            bank: Bank::new(frequency, error, now),
        }
    }

    /// The clock was stepped at `now`: the offset starts over, what is known of the
    /// frequency stays.
    pub fn stepped(&mut self, now: f64) {
        let total = self.applied(now);
        self.ledger = VecDeque::from([(now, total)]);
        self.bank.forget_offset();
    }

    /// Total correction applied up to `now`.
    fn applied(&self, now: f64) -> f64 {
        let (t, a) = self.ledger.back().copied().unwrap_or((now, 0.0));
        a + self.rate * (now - t)
    }

    /// Total correction applied up to `t` (no later than `now`), interpolated between
    /// bookings.
    fn applied_at(&self, t: f64, now: f64) -> f64 {
        let mut later = (now, self.applied(now));
        for &(tb, ab) in self.ledger.iter().rev() {
            if tb <= t {
                let span = later.0 - tb;
                let part = if span > 0.0 { (t - tb) / span } else { 0.0 };
                return ab + (later.1 - ab) * part.clamp(0.0, 1.0);
            }
            later = (tb, ab);
        }
        later.1
    }

    /// Records a new correction rate (frequency plus slew), in force from `now`.
    pub fn set_rate(&mut self, rate: f64, now: f64) {
        let total = self.applied(now);
        self.ledger.push_back((now, total));
        if self.ledger.len() > MAX_LEDGER {
            self.ledger.pop_front();
        }
        self.rate = rate;
    }

    /// Adds the offset `theta` measured at `t` (no later than `now`) with `excess`
    /// round-trip delay over its source's best, taken to the free-running frame at its
    /// own time, which is exact however the clock was slewed since. Returns how far it
    /// lies from what the earlier ones predicted (the surprise in it) and how far it was
    /// expected to lie, once they predict.
    pub fn add(&mut self, t: f64, theta: f64, excess: f64, now: f64) -> Option<(f64, f64)> {
        let t = t.min(now);
        self.bank.add(t, theta + self.applied_at(t, now), excess)
    }

    /// The frequency correction that cancels the drift and its standard error (s/s).
    pub fn frequency(&self) -> (f64, f64) {
        self.bank.frequency()
    }

    /// The offset (correction still needed) at `now` if the frequency correction had been
    /// `frequency` since the last sample; None before any sample.
    pub fn offset_now(&self, frequency: f64, now: f64) -> Option<f64> {
        (self.bank.samples() > 0).then(|| self.bank.offset_at(now, frequency) - self.applied(now))
    }

    /// How uncertain the offset becomes `ahead` seconds after a sample, beyond the noise
    /// of one (s^2), and that noise (s^2).
    pub fn growth(&self, ahead: f64) -> f64 {
        self.bank.growth(ahead)
    }

    pub fn noise(&self) -> f64 {
        self.bank.noise()
    }

    /// How many best samples' worth of noise the offset estimate averages.
    pub fn averaged(&self) -> f64 {
        self.bank.noise() / self.bank.offset_variance().max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of a clock drifting `drift` (s/s) from `start`, corrected as booked.
    fn theta(trend: &Trend, start: f64, drift: f64, t: f64, now: f64) -> f64 {
        -(start + drift * t + trend.applied_at(t, now))
    }

    #[test]
    fn the_frequency_that_cancels_drift_is_found_despite_corrections() {
        let (drift, start) = (50e-6, 0.05);
        let mut trend = Trend::new(0.0, 100e-6, 0.0);
        for k in 1..=24 {
            let now = 64.0 * f64::from(k);
            // A fast slew for a second before each update, a new frequency after six.
            trend.set_rate(-0.01, now - 10.0);
            trend.set_rate(if k > 6 { -40e-6 } else { 0.0 }, now - 9.0);
            // Each sample is a poll old when it arrives.
            let t = now - 64.0;
            let offset = theta(&trend, start, drift, t, now);
            trend.add(t, offset, 0.0, now);
        }
        let (f, _) = trend.frequency();
        assert!((f + 50e-6).abs() < 1e-9, "{f}");
        let now = 64.0 * 24.0;
        let predicted = trend.offset_now(f, now).unwrap();
        let truth = theta(&trend, start, drift, now, now);
        assert!((predicted - truth).abs() < 1e-6, "{predicted} {truth}");
    }

    #[test]
    fn a_step_forgets_the_offset_not_the_frequency() {
        let mut trend = Trend::new(0.0, 100e-6, 0.0);
        for k in 0..20 {
            let t = 64.0 * f64::from(k);
            trend.add(t, -0.5 + 2e-6 * t, 0.0, t);
        }
        trend.stepped(1300.0);
        trend.add(1310.0, 0.001 + 2e-6 * 1310.0, 0.0, 1310.0);
        let (f, _) = trend.frequency();
        assert!((f - 2e-6).abs() < 1e-8, "{f}");
        let offset = trend.offset_now(f, 1310.0).unwrap();
        assert!((offset - (0.001 + 2e-6 * 1310.0)).abs() < 1e-5, "{offset}");
    }
}
