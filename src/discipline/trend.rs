//! The discipline's memory of recent offsets, for estimating frequency and phase by least
//! squares over an adaptive window (the regression chrony uses) instead of the classic
//! PLL's slow integrator.
//!
//! Every correction the discipline makes (the frequency and the slew rate on top of it)
//! is booked in a ledger, so an offset measured at time t can be turned into the offset
//! the clock would show had it never been corrected: z = theta + A(t), where A(t) is the
//! total correction applied by then. Those free-running offsets lie on a line whose slope
//! is the frequency correction that cancels the oscillator's drift, whatever the loop did
//! meanwhile, so the estimate does not feed back on itself and measurements of any age (the
//! clock filter hands on samples up to eight polls old) fit in at their own time.
//!
//! How many of the recent offsets the line goes through is decided by a runs test on its
//! residuals: while the oscillator is stable their signs alternate at random and the whole
//! history is averaged; when it wanders, the oldest points bend away from a line, the
//! residuals come in long runs of one sign, and the window shrinks until they no longer do.

use std::collections::VecDeque;

/// Offsets kept (chrony's default too): at a 1024 s poll, 18 hours.
const MAX_POINTS: usize = 64;
/// Ledger entries kept: three or so per update (a slew starts, ends, a new frequency),
/// enough to reach back further than any sample the clock filter still holds.
const MAX_LEDGER: usize = 4096;
/// Windows this small are not tested for runs: too few residuals to tell anything.
const MIN_RUNS_WINDOW: usize = 6;
/// Standard normal quantile of the runs test (one-sided, 1%): fewer runs than expected by
/// this many standard deviations means the points do not lie on a line.
const RUNS_QUANTILE: f64 = 2.326;
/// The fewest offsets a line is drawn through: two would always fit exactly.
const MIN_FIT_POINTS: usize = 3;

/// One offset: when it was measured and the clock's free-running offset then (seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Point {
    t: f64,
    z: f64,
}

/// A straight line through the newest free-running offsets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Frequency correction that cancels the drift (s/s): the slope of z.
    pub frequency: f64,
    /// Its standard error (s/s).
    pub frequency_error: f64,
    /// Scatter of one point about the line (seconds).
    pub sigma: f64,
    /// Points on the line (the window the runs test chose).
    pub points: usize,
    /// Mean time and mean z of the points: the line passes through them.
    centre: (f64, f64),
    /// Sum of squared time deviations (s^2).
    sxx: f64,
}

impl Fit {
    /// The free-running offset a line of slope `frequency` through the centre predicts
    /// at `t`.
    fn at(&self, t: f64, frequency: f64) -> f64 {
        self.centre.1 + frequency * (t - self.centre.0)
    }

    /// Standard error of the line's prediction at `t` (without the noise of a new point).
    pub fn error_at(&self, t: f64) -> f64 {
        let dt = t - self.centre.0;
        self.sigma * (1.0 / self.points as f64 + dt * dt / self.sxx).sqrt()
    }
}

/// The fewest runs of one sign among `n` residuals that a random order would give, at
/// the test's level (normal approximation, half the residuals of each sign).
fn critical_runs(n: usize) -> f64 {
    let n = n as f64;
    let mean = n / 2.0 + 1.0;
    let variance = n * (n - 2.0) / (4.0 * (n - 1.0));
    mean - RUNS_QUANTILE * variance.sqrt()
}

/// The ledger of corrections and the recent free-running offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// (monotonic seconds, total correction) at each change of rate; linear in between.
    ledger: VecDeque<(f64, f64)>,
    /// Correction rate in force since the last booking (frequency plus slew, s/s).
    rate: f64,
    /// The offsets, oldest first.
    points: VecDeque<Point>,
}

impl Trend {
    /// An empty history at `now`, with `rate` in force.
    pub fn new(rate: f64, now: f64) -> Trend {
        Trend {
            ledger: VecDeque::from([(now, 0.0)]),
            rate,
            points: VecDeque::new(),
        }
    }

    /// Forgets every offset (after a step), keeping the rate in force.
    pub fn clear(&mut self, now: f64) {
        *self = Trend::new(self.rate, now);
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

    /// Adds one point for a weighted combination of (time, offset, weight) measurements:
    /// each is taken to the free-running frame at its own time before they are averaged,
    /// which is exact however the clock was slewed between them. Returns how far the
    /// point lies from what the earlier ones predicted (the surprise in it) and the
    /// standard error of that prediction, if they predicted.
    pub fn add_shares(&mut self, shares: &[(f64, f64, f64)], now: f64) -> Option<(f64, f64)> {
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
        let surprise = self
            .fit()
            .map(|fit| (z - fit.at(t, fit.frequency), fit.error_at(t)));
        self.points.push_back(Point { t, z });
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

    /// Forgets all but the newest `keep` offsets (they tell of an oscillator that changed).
    pub fn keep_newest(&mut self, keep: usize) {
        while self.points.len() > keep {
            self.points.pop_front();
        }
    }

    /// The line through the longest run of newest offsets that passes the runs test; None
    /// with fewer than three offsets or no spread in time.
    pub fn fit(&self) -> Option<Fit> {
        let n = self.points.len();
        (0..(n + 1).saturating_sub(MIN_FIT_POINTS))
            .filter_map(|start| self.fit_from(start))
            .find(|fit| fit.passes.unwrap_or(true))
            .map(|fit| fit.fit)
    }

    /// The line through the offsets from index `start` on, and whether its residuals pass
    /// the runs test (None: too few to test).
    fn fit_from(&self, start: usize) -> Option<Tested> {
        let window = self.points.range(start..);
        let n = window.len();
        let nf = n as f64;
        let (tm, zm) = (
            window.clone().map(|p| p.t).sum::<f64>() / nf,
            window.clone().map(|p| p.z).sum::<f64>() / nf,
        );
        let (mut sxx, mut sxz) = (0.0, 0.0);
        for p in window.clone() {
            sxx += (p.t - tm) * (p.t - tm);
            sxz += (p.t - tm) * (p.z - zm);
        }
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxz / sxx;
        let residual = |p: &Point| p.z - zm - slope * (p.t - tm);
        let squares: f64 = window.clone().map(|p| residual(p).powi(2)).sum();
        // The scatter about the line, widened for few degrees of freedom: with three
        // points a single residual would otherwise often look like no noise at all.
        let dof = nf - 2.0;
        let variance = squares / dof * (dof + 2.0) / dof;
        let passes = (n >= MIN_RUNS_WINDOW).then(|| {
            let signs: Vec<bool> = window.map(|p| residual(p) >= 0.0).collect();
            let runs = 1 + signs.windows(2).filter(|w| w[0] != w[1]).count();
            runs as f64 >= critical_runs(n)
        });
        Some(Tested {
            fit: Fit {
                frequency: slope,
                frequency_error: (variance / sxx).sqrt(),
                sigma: variance.sqrt(),
                points: n,
                centre: (tm, zm),
                sxx,
            },
            passes,
        })
    }

    /// The offset (correction still needed) at `now` predicted by a line of slope
    /// `frequency` through the fit's points, or through the newest point without one.
    pub fn offset_now(&self, fit: Option<&Fit>, frequency: f64, now: f64) -> Option<f64> {
        let z = match fit {
            Some(fit) => fit.at(now, frequency),
            None => {
                let p = self.points.back()?;
                p.z + frequency * (now - p.t)
            }
        };
        Some(z - self.applied(now))
    }
}

/// A window's line and its runs test.
struct Tested {
    fit: Fit,
    passes: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of a clock drifting `drift` (s/s) from `start`, corrected as booked.
    fn theta(trend: &Trend, start: f64, drift: f64, t: f64, now: f64) -> f64 {
        -(start + drift * t + trend.applied_at(t, now))
    }

    #[test]
    fn slope_is_the_frequency_that_cancels_drift_despite_corrections() {
        let (drift, start) = (50e-6, 0.05);
        let mut trend = Trend::new(0.0, 0.0);
        for k in 1..=12 {
            let now = 64.0 * f64::from(k);
            // A fast slew for a second before each update, a new frequency after six.
            trend.set_rate(-0.01, now - 10.0);
            trend.set_rate(if k > 6 { -40e-6 } else { 0.0 }, now - 9.0);
            // Each sample is a poll old when it arrives.
            let t = now - 64.0;
            let offset = theta(&trend, start, drift, t, now);
            trend.add_shares(&[(t, offset, 1.0)], now);
        }
        let fit = trend.fit().expect("fit");
        assert!((fit.frequency + 50e-6).abs() < 1e-12, "{fit:?}");
        let now = 64.0 * 12.0;
        let predicted = trend.offset_now(Some(&fit), fit.frequency, now).unwrap();
        let truth = theta(&trend, start, drift, now, now);
        assert!((predicted - truth).abs() < 1e-9, "{predicted} {truth}");
    }

    #[test]
    fn needs_three_offsets_spread_in_time() {
        let mut t = Trend::new(0.0, 0.0);
        t.add_shares(&[(1.0, 0.0, 1.0)], 1.0);
        t.add_shares(&[(3.0, 2e-5, 1.0)], 3.0);
        assert!(t.fit().is_none());
        t.add_shares(&[(5.0, 3e-5, 1.0)], 5.0);
        let fit = t.fit().unwrap();
        assert!((fit.frequency - 0.75e-5).abs() < 1e-12, "{fit:?}");
        // One residual of 5/3 us on each end, 10/3 us in the middle; three times the
        // variance for the single degree of freedom.
        let sigma = (3.0 * (2.0 * (5e-6 / 3.0f64).powi(2) + (10e-6 / 3.0f64).powi(2))).sqrt();
        assert!((fit.sigma - sigma).abs() < 1e-12, "{fit:?}");
        assert!((fit.frequency_error - sigma / 8f64.sqrt()).abs() < 1e-12);
        let mut same = Trend::new(0.0, 0.0);
        for _ in 0..3 {
            same.add_shares(&[(5.0, 0.0, 1.0)], 5.0);
        }
        assert!(same.fit().is_none());
    }

    #[test]
    fn window_shrinks_when_the_oscillator_changed() {
        let mut steady = Trend::new(0.0, 0.0);
        let mut bent = Trend::new(0.0, 0.0);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..40 {
            let t = 64.0 * f64::from(k);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-4;
            steady.add_shares(&[(t, noise, 1.0)], t);
            // 5 PPM more from the 25th offset on.
            let bend = 5e-6 * (t - 64.0 * 24.0).max(0.0);
            bent.add_shares(&[(t, noise + bend, 1.0)], t);
        }
        let steady = steady.fit().unwrap();
        let bent = bent.fit().unwrap();
        assert_eq!(steady.points, 40, "{steady:?}");
        assert!(bent.points < 20, "{bent:?}");
        assert!((bent.frequency - 5e-6).abs() < 0.5e-6, "{bent:?}");
    }
}
