//! The discipline's memory of recent offsets, for estimating frequency and phase by least
//! squares (the regression chrony uses) instead of the classic PLL's slow integrator.
//!
//! Every correction the daemon discipline makes (phase slews, frequency) is booked, so an
//! offset measured at time t can be turned into the offset the clock would show had it
//! never been corrected: z = theta + A(t), where A(t) is the total correction applied by
//! then. Those free-running offsets lie on a line whose slope is the frequency correction
//! that cancels the oscillator's drift, whatever the loop did meanwhile, so the estimate
//! does not feed back on itself and measurements of any age (the clock filter hands on
//! samples up to eight polls old) fit in at their own time.

use std::collections::VecDeque;

/// Offsets kept for the fit: enough to average the noise, few enough to follow the
/// oscillator's wander (ten polls: under three hours at the longest).
const MAX_POINTS: usize = 10;
/// Seconds between bookings while slewing: the slew rate changes smoothly, so the ledger
/// stays exact to a fraction of a microsecond when interpolated.
const LEDGER_SPACING: f64 = 16.0;
/// Ledger entries kept: longer than any sample the clock filter can still hold (eight
/// polls of 1024 s) at one booking per spacing.
const MAX_LEDGER: usize = 1024;
/// adjtime(2)'s slew rate, which bounds what an interrupted one-shot slew achieved.
const MAX_SLEW_RATE: f64 = 500e-6;

/// One-shot slews remembered apart from the ledger: more updates than the clock filter
/// holds samples for.
const MAX_RAMPS: usize = 64;

/// How far a one-shot slew (start, amount) had moved the clock by `t`.
fn ramp_progress((start, amount): (f64, f64), t: f64) -> f64 {
    let reach = MAX_SLEW_RATE * (t - start).max(0.0);
    amount.clamp(-reach, reach)
}

/// A straight line through the free-running offsets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Frequency correction that cancels the drift (s/s): the slope of z.
    pub frequency: f64,
    /// Its standard error (s/s).
    pub frequency_error: f64,
    /// Mean time and mean z of the points: the line passes through them.
    centre: (f64, f64),
    /// Points used.
    pub points: usize,
}

impl Fit {
    /// The free-running offset the line predicts at `t`.
    fn at(&self, t: f64) -> f64 {
        self.centre.1 + self.frequency * (t - self.centre.0)
    }
}

/// The ledger of corrections and the recent free-running offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// (monotonic seconds, total correction) at each booking; linear in between.
    ledger: VecDeque<(f64, f64)>,
    /// Frequency correction in force since the last booking (s/s).
    frequency: f64,
    /// Phase slewed since the last booking (seconds).
    slewed: f64,
    /// Whole offsets handed over as one-shot slews (start, amount), oldest first. Each
    /// moves the clock at adjtime's rate until done or replaced by the next.
    ramps: VecDeque<(f64, f64)>,
    /// (sample time, free-running offset), oldest first.
    points: VecDeque<(f64, f64)>,
}

impl Trend {
    /// An empty history at `now`, with `frequency` in force.
    pub fn new(frequency: f64, now: f64) -> Trend {
        Trend {
            ledger: VecDeque::from([(now, 0.0)]),
            frequency,
            slewed: 0.0,
            ramps: VecDeque::new(),
            points: VecDeque::new(),
        }
    }

    /// Forgets every offset (after a step), keeping the frequency in force.
    pub fn clear(&mut self, now: f64) {
        *self = Trend::new(self.frequency, now);
    }

    /// Total correction applied up to `now`.
    fn applied(&self, now: f64) -> f64 {
        self.booked(now) + self.ramped(now)
    }

    /// What the ledger holds up to `now` (all but the one-shot slews).
    fn booked(&self, now: f64) -> f64 {
        let (t, a) = self.ledger.back().copied().unwrap_or((now, 0.0));
        a + self.frequency * (now - t) + self.slewed
    }

    /// How far the one-shot slews had moved the clock by `t`.
    fn ramped(&self, t: f64) -> f64 {
        self.ramps.iter().map(|&ramp| ramp_progress(ramp, t)).sum()
    }

    /// Total correction applied up to `t` (< `now`), interpolated between bookings.
    fn applied_at(&self, t: f64, now: f64) -> f64 {
        let mut later = (now, self.booked(now));
        for &(tb, ab) in self.ledger.iter().rev() {
            if tb <= t {
                let span = later.0 - tb;
                let part = if span > 0.0 { (t - tb) / span } else { 0.0 };
                return ab + (later.1 - ab) * part.clamp(0.0, 1.0) + self.ramped(t);
            }
            later = (tb, ab);
        }
        later.1 + self.ramped(t)
    }

    fn book(&mut self, now: f64) {
        let total = self.booked(now);
        self.ledger.push_back((now, total));
        if self.ledger.len() > MAX_LEDGER {
            self.ledger.pop_front();
        }
        self.slewed = 0.0;
    }

    /// Records the once-a-second slew slice handed to the clock at `now` (positive: clock
    /// moved forward); it completes within the second.
    pub fn slewed(&mut self, amount: f64, now: f64) {
        self.slewed += amount;
        if self
            .ledger
            .back()
            .is_none_or(|b| now - b.0 >= LEDGER_SPACING)
        {
            self.book(now);
        }
    }

    /// Records a whole offset handed to the clock at `now` as one adjtime-like slew, which
    /// cuts short what is left of the previous one.
    pub fn slew_started(&mut self, amount: f64, now: f64) {
        if let Some(last) = self.ramps.back_mut() {
            last.1 = ramp_progress(*last, now);
        }
        self.ramps.push_back((now, amount));
        if self.ramps.len() > MAX_RAMPS {
            // Long finished: fold it into the ledger.
            if let Some(old) = self.ramps.pop_front() {
                for entry in &mut self.ledger {
                    entry.1 += ramp_progress(old, entry.0);
                }
            }
        }
    }

    /// Records a new frequency correction, in force from `now`.
    pub fn set_frequency(&mut self, frequency: f64, now: f64) {
        self.book(now);
        self.frequency = frequency;
    }

    /// Adds the offset `theta` measured at `t` (no later than `now`).
    pub fn add(&mut self, t: f64, theta: f64, now: f64) {
        let _ = self.add_shares(&[(t, theta, 1.0)], now);
    }

    /// Adds one point for a weighted combination of (time, offset, weight) measurements:
    /// each is taken to the free-running frame at its own time before they are averaged,
    /// which is exact however the clock was slewed between them. Returns how far the
    /// point lies from what the earlier ones predicted (the surprise in it), if they
    /// predicted anything.
    pub fn add_shares(&mut self, shares: &[(f64, f64, f64)], now: f64) -> Option<f64> {
        let (mut weights, mut t_sum, mut z_sum) = (0.0, 0.0, 0.0);
        for &(t, theta, weight) in shares {
            let t = t.min(now);
            weights += weight;
            t_sum += weight * t;
            z_sum += weight * (theta + self.applied_at(t, now));
        }
        if weights <= 0.0 || !(t_sum.is_finite() && z_sum.is_finite()) {
            return None;
        }
        let (t, z) = (t_sum / weights, z_sum / weights);
        let surprise = self.fit().map(|fit| z - fit.at(t));
        self.book(now);
        self.points.push_back((t, z));
        if self.points.len() > MAX_POINTS {
            self.points.pop_front();
        }
        surprise
    }

    /// Offsets held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Least-squares line through the offsets; `None` with fewer than three or no spread
    /// in time.
    pub fn fit(&self) -> Option<Fit> {
        let n = self.points.len();
        if n < 3 {
            return None;
        }
        let mean = |f: fn(&(f64, f64)) -> f64| self.points.iter().map(f).sum::<f64>() / n as f64;
        let (tm, zm) = (mean(|p| p.0), mean(|p| p.1));
        let (mut sxx, mut sxz) = (0.0, 0.0);
        for &(t, z) in &self.points {
            sxx += (t - tm) * (t - tm);
            sxz += (t - tm) * (z - zm);
        }
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxz / sxx;
        let residuals: f64 = self
            .points
            .iter()
            .map(|&(t, z)| (z - zm - slope * (t - tm)).powi(2))
            .sum();
        let variance = residuals / (n - 2) as f64;
        Some(Fit {
            frequency: slope,
            frequency_error: (variance / sxx).sqrt(),
            centre: (tm, zm),
            points: n,
        })
    }

    /// The offset (correction still needed) the fit predicts for the clock at `now`.
    pub fn offset_now(&self, fit: &Fit, now: f64) -> f64 {
        fit.at(now) - self.applied(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_the_frequency_that_cancels_drift_despite_corrections() {
        let (drift, start) = (50e-6, 0.05);
        let mut trend = Trend::new(0.0, 0.0);
        // The truth, kept apart from the trend: (time, correction applied by then).
        let mut history: Vec<(f64, f64)> = vec![(0.0, 0.0)];
        let (mut applied, mut freq) = (0.0, 0.0);
        let theta_at = |t: f64, history: &[(f64, f64)], freq_since: (f64, f64)| {
            let before = history.iter().rev().find(|h| h.0 <= t).map_or(0.0, |h| h.1);
            let extra = if t > freq_since.0 {
                freq_since.1 * (t - freq_since.0)
            } else {
                0.0
            };
            -(start + drift * t + before + extra)
        };
        let mut last = 0.0;
        for k in 1..=12 {
            let now = 64.0 * f64::from(k);
            // Frequency ran since the last update; then a millisecond slewed in each of
            // the ten seconds before this one.
            applied += freq * (now - 10.0 - last);
            history.push((now - 10.0, applied));
            for s in 0..10 {
                applied += freq - 0.001;
                history.push((now - 9.0 + f64::from(s), applied));
                trend.slewed(-0.001, now - 9.0 + f64::from(s));
            }
            last = now;
            // Each sample is a poll old when it arrives.
            let t = now - 64.0;
            trend.add(t, theta_at(t, &history, (now, 0.0)), now);
            if k == 6 {
                freq = -40e-6;
                trend.set_frequency(freq, now);
            }
        }
        let fit = trend.fit().expect("fit");
        assert!((fit.frequency + 50e-6).abs() < 1e-9, "{fit:?}");
        let now = 64.0 * 12.0;
        let predicted = trend.offset_now(&fit, now);
        let truth = theta_at(now, &history, (now, 0.0));
        assert!((predicted - truth).abs() < 1e-6, "{predicted} {truth}");
    }

    #[test]
    fn an_interrupted_one_shot_slew_counts_only_what_it_did() {
        let mut t = Trend::new(0.0, 0.0);
        t.slew_started(0.1, 0.0);
        // adjtime's 500 PPM: 25 ms done after 50 s, 50 ms when replaced at 100 s.
        assert!((t.applied_at(50.0, 100.0) - 0.025).abs() < 1e-12);
        t.slew_started(-0.001, 100.0);
        assert!((t.applied(1000.0) - 0.049).abs() < 1e-12);
        assert!((t.applied_at(50.0, 1000.0) - 0.025).abs() < 1e-12);
    }

    #[test]
    fn needs_three_offsets_spread_in_time() {
        let mut t = Trend::new(0.0, 0.0);
        t.add(1.0, 0.0, 1.0);
        t.add(2.0, 0.0, 2.0);
        assert!(t.fit().is_none());
        t.add(3.0, 0.0, 3.0);
        assert!(t.fit().is_some());
        let mut same = Trend::new(0.0, 0.0);
        for _ in 0..3 {
            same.add(5.0, 0.0, 5.0);
        }
        assert!(same.fit().is_none());
    }
}
