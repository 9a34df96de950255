//! The estimator behind the discipline: the clock's free-running offset z(t) (what it would
//! be off by had it never been corrected, see [`super::trend`]) modelled as a line whose
//! slope, the frequency correction that cancels the oscillator's drift, wanders as a
//! random walk, observed through samples with noise. A Kalman filter over (z, slope) is
//! the optimal averaging for that model; what it needs to know is how much the oscillator
//! wanders, which no configuration can say (a temperature-stable server, a laptop, a VM
//! moved between hosts). So a bank of filters runs side by side, one per wander from far
//! below a good crystal's to a jump of several PPM within minutes, and the one that
//! predicted the recent samples best is used: on a stable oscillator the least wander wins
//! and averages over hours, on a wandering one a faster filter wins, and when the
//! frequency jumps the fastest one takes over within a few samples. A filter that fell
//! far behind the best is restarted from the best's state, so it can win again later.
//!
//! Each sample's noise is that of the source's best samples (learned from the filters'
//! surprises at them) plus what its extra round-trip delay can hide, as chrony weighs
//! samples: one that took `excess` longer than the best may be off by up to half of that,
//! queueing on one leg having shifted its offset.

/// The wanders tried (random walk of the frequency, in PPM per square root of an hour):
/// from well below a temperature-stable crystal to a frequency jump of PPMs in minutes.
const WANDERS: [f64; 9] = [0.001, 0.004, 0.016, 0.06, 0.25, 1.0, 4.0, 16.0, 64.0];
/// Samples the filters' records of how well they predicted reach back (exponentially).
const MEMORY: f64 = 24.0;
/// What each step up in the wander assumed costs a filter's record (log-likelihood).
const WANDER_PENALTY: f64 = 1.5;
/// A filter whose record falls this far (log-likelihood) behind the best's is restarted
/// from the best's state.
const RESTART_MARGIN: f64 = 12.0;
/// Samples the estimate of the best samples' noise averages.
const NOISE_MEMORY: f64 = 16.0;
/// Before any sample: the noise of a best sample (seconds), and the floor of it.
const INITIAL_NOISE: f64 = 1e-4;
const NOISE_FLOOR: f64 = 1e-7;
/// The uncertainty of the offset before the first sample (seconds): any.
const UNKNOWN_OFFSET: f64 = 1e3;

/// Surprises beyond this many standard deviations count as outliers: they move a filter
/// and cost it in its record as if they were this far, plus linearly beyond.
const HUBER: f64 = 2.5;

/// The Huber loss of a surprise of `u` standard deviations: Gaussian within `HUBER`,
/// linear beyond (the negative log-likelihood of a noise with heavier tails).
fn huber_loss(u: f64) -> f64 {
    let a = u.abs();
    if a <= HUBER {
        a * a / 2.0
    } else {
        HUBER * a - HUBER * HUBER / 2.0
    }
}

/// How well a filter predicted a sample, as a log-likelihood: the sample's error is at
/// most `half` (half its excess delay) either way plus a best sample's noise, and the
/// filter's own uncertainty adds to the latter (`variance`, s^2). Within the bound every
/// surprise is as likely (a filter is not judged on where queueing put the sample);
/// beyond it the surprise counts as Gaussian, then (Huber) linearly.
fn fit(surprise: f64, variance: f64, half: f64) -> f64 {
    let spread = variance.max(f64::MIN_POSITIVE).sqrt();
    let beyond = (surprise.abs() - half).max(0.0);
    -ln(2.0 * half + (2.0 * std::f64::consts::PI).sqrt() * spread) - huber_loss(beyond / spread)
}

/// The natural logarithm, computed here: `f64::ln` would be the daemon's only call into
/// libm, and linking libm for it costs about 300 kB of resident memory (its text pages,
/// mapped around the one function). Within a few ulp of libm over all positive numbers.
fn ln(x: f64) -> f64 {
    use std::f64::consts::{LN_2, SQRT_2};
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x == f64::INFINITY {
        return if x == 0.0 { f64::NEG_INFINITY } else { x };
    }
    if !x.is_normal() {
        // Subnormal: scale by 2^54 into the normal range first.
        return ln(x * 18_014_398_509_481_984.0) - 54.0 * LN_2;
    }
    // x = m * 2^e with m in [1/sqrt 2, sqrt 2), ln m = 2 atanh(s), s = (m - 1) / (m + 1):
    // |s| < 0.172, so the odd series in s^2 < 0.03 is done after 12 terms (< 1e-18).
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m >= SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = (0..12)
        .rev()
        .fold(0.0, |acc, k| acc * s2 + 1.0 / f64::from(2 * k + 1));
    f64::from(exponent) * LN_2 + 2.0 * s * series
}

/// One filter: its wander, the time its state is at, the state (free-running offset and
/// slope) and its covariance, and its record.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Model {
    /// Spectral density of the slope's random walk ((s/s)^2 per second).
    q: f64,
    t: f64,
    x: [f64; 2],
    p: [[f64; 2]; 2],
    score: f64,
}

impl Model {
    /// Moves the state forward to `t` (never back: a late sample is fitted at its own
    /// time by the measurement model instead).
    fn advance(&mut self, t: f64) {
        let dt = t - self.t;
        if dt <= 0.0 {
            return;
        }
        let p = self.p;
        self.x[0] += self.x[1] * dt;
        let p00 = p[0][0] + 2.0 * dt * p[0][1] + dt * dt * p[1][1];
        let p01 = p[0][1] + dt * p[1][1];
        self.p = [
            [
                p00 + self.q * dt.powi(3) / 3.0,
                p01 + self.q * dt * dt / 2.0,
            ],
            [p01 + self.q * dt * dt / 2.0, p[1][1] + self.q * dt],
        ];
        self.t = t;
    }

    /// The prediction for a sample at `t` (at or before the state's time) and its
    /// variance: z + slope * (t - now), H = [1, t - now].
    fn predict(&self, t: f64) -> (f64, f64, [f64; 2]) {
        let h = [1.0, t - self.t];
        let ph = [
            self.p[0][0] * h[0] + self.p[0][1] * h[1],
            self.p[1][0] * h[0] + self.p[1][1] * h[1],
        ];
        let z = self.x[0] + self.x[1] * h[1];
        (z, h[0] * ph[0] + h[1] * ph[1], ph)
    }

    /// Takes in sample `z` at `t` with noise variance `r`; returns the surprise and its
    /// expected variance. A surprise beyond `HUBER` standard deviations moves the state
    /// only as far as one of that size would: network noise has heavier tails than a
    /// Gaussian, and a sample that far out is more likely queueing than the clock.
    fn update(&mut self, t: f64, z: f64, r: f64) -> (f64, f64) {
        self.advance(t);
        let (predicted, hph, ph) = self.predict(t);
        let s = hph + r;
        let nu = z - predicted;
        let limit = HUBER * s.sqrt();
        let taken = nu.clamp(-limit, limit);
        let k = [ph[0] / s, ph[1] / s];
        self.x[0] += k[0] * taken;
        self.x[1] += k[1] * taken;
        for (i, ki) in k.iter().enumerate() {
            for (j, phj) in ph.iter().enumerate() {
                self.p[i][j] -= ki * phj;
            }
        }
        // Keep the covariance symmetric and its variances positive against rounding.
        let cross = (self.p[0][1] + self.p[1][0]) / 2.0;
        self.p[0][1] = cross;
        self.p[1][0] = cross;
        self.p[0][0] = self.p[0][0].max(0.0);
        self.p[1][1] = self.p[1][1].max(0.0);
        (nu, s)
    }
}

/// The bank of filters and the learned noise of the best samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Bank {
    models: [Model; WANDERS.len()],
    /// Variance of a best sample (s^2).
    noise: f64,
    /// Index of the filter that predicts best.
    best: usize,
    samples: u64,
}

impl Bank {
    /// Filters that know the slope to be `frequency` +- `error` (s/s) at `t`, and nothing
    /// of the offset.
    pub fn new(frequency: f64, error: f64, t: f64) -> Bank {
        let model = |wander: f64| Model {
            q: (wander * 1e-6).powi(2) / 3600.0,
            t,
            x: [0.0, frequency],
            p: [[UNKNOWN_OFFSET.powi(2), 0.0], [0.0, error * error]],
            score: 0.0,
        };
        Bank {
            models: WANDERS.map(model),
            noise: INITIAL_NOISE.powi(2),
            best: 0,
            samples: 0,
        }
    }

    /// Forgets the offset (the clock was stepped), keeping what is known of the slope.
    pub fn forget_offset(&mut self) {
        for m in &mut self.models {
            m.p[0][0] = UNKNOWN_OFFSET.powi(2);
            m.p[0][1] = 0.0;
            m.p[1][0] = 0.0;
        }
    }

    /// Takes in the free-running offset `z` sampled at `t` with `excess` round-trip delay
    /// over its source's best. Returns the best filter's surprise at it and the standard
    /// deviation that filter expected of the surprise (None for the first sample).
    pub fn add(&mut self, t: f64, z: f64, excess: f64) -> Option<(f64, f64)> {
        if !(t.is_finite() && z.is_finite() && excess.is_finite()) {
            return None;
        }
        let excess = excess.max(0.0);
        let r = (self.noise.sqrt() + excess / 2.0).powi(2);
        let first = self.samples == 0;
        self.samples += 1;
        let mut best_surprise = (0.0, 0.0);
        let keep = 1.0 - 1.0 / MEMORY;
        for (i, m) in self.models.iter_mut().enumerate() {
            let (nu, s) = m.update(t, z, r);
            if i == self.best {
                best_surprise = (nu, s);
            }
            if !first {
                m.score = keep * m.score + fit(nu, s - r + self.noise, excess / 2.0);
            }
        }
        if first {
            return None;
        }
        // The noise of a best sample: what the best filter's surprise at one showed beyond
        // the filter's own uncertainty, once that is the smaller part.
        let (nu, s) = best_surprise;
        if excess <= self.noise.sqrt() && s - r < r {
            let taken = nu.clamp(-HUBER * s.sqrt(), HUBER * s.sqrt());
            let seen = taken * taken - (s - r);
            self.noise =
                (self.noise + (seen - self.noise) / NOISE_MEMORY).max(NOISE_FLOOR * NOISE_FLOOR);
        }
        self.choose();
        Some((nu, s.sqrt()))
    }

    /// Picks the filter with the best record; restarts those far behind it from its state.
    fn choose(&mut self) {
        // Each step up in wander must earn its place: a filter is preferred to the next
        // calmer one only if its record is better by more than WANDER_PENALTY, so noise
        // with heavy tails does not pass for wander.
        let standing = |i: usize| self.models[i].score - WANDER_PENALTY * i as f64;
        let best = (0..self.models.len())
            .max_by(|&a, &b| standing(a).total_cmp(&standing(b)))
            .unwrap_or(0);
        self.best = best;
        let lead = self.models[best];
        for m in &mut self.models {
            if m.score < lead.score - RESTART_MARGIN {
                *m = Model {
                    q: m.q,
                    score: lead.score - RESTART_MARGIN,
                    ..lead
                };
            }
        }
    }

    fn lead(&self) -> &Model {
        &self.models[self.best]
    }

    /// Samples taken in.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The slope (the frequency correction that cancels the drift, s/s) and its standard
    /// error.
    pub fn frequency(&self) -> (f64, f64) {
        let m = self.lead();
        (m.x[1], m.p[1][1].sqrt())
    }

    /// The free-running offset predicted for `t` (no earlier than the last sample) with
    /// the slope replaced by `frequency`.
    pub fn offset_at(&self, t: f64, frequency: f64) -> f64 {
        let m = self.lead();
        m.x[0] + frequency * (t - m.t)
    }

    /// How uncertain the offset becomes `ahead` seconds after the last sample, beyond a
    /// best sample's own noise (s^2): the slope's error and the wander carried forward.
    pub fn growth(&self, ahead: f64) -> f64 {
        let m = self.lead();
        ahead * ahead * m.p[1][1] + m.q * ahead.powi(3) / 3.0
    }

    /// Variance of the offset estimate as of the last sample (s^2).
    pub fn offset_variance(&self) -> f64 {
        self.lead().p[0][0]
    }

    /// Variance of a best sample (s^2).
    pub fn noise(&self) -> f64 {
        self.noise
    }

    /// The wander the best filter assumes (PPM per square root of an hour).
    #[cfg(test)]
    fn wander(&self) -> f64 {
        WANDERS[self.best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_agrees_with_libm() {
        let mut x = 1e-310;
        while x < 1e300 {
            for v in [
                x,
                x * std::f64::consts::SQRT_2,
                x * std::f64::consts::E,
                x * 7.3,
            ] {
                let (ours, libm) = (ln(v), v.ln());
                assert!(
                    (ours - libm).abs() <= 4.0 * f64::EPSILON * libm.abs().max(1.0),
                    "{v}: {ours} vs {libm}"
                );
            }
            x *= 10.0;
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
    }

    /// A deterministic generator of noise, uniform in +-amplitude.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self, amplitude: f64) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * amplitude
        }
    }

    #[test]
    fn a_stable_oscillator_is_averaged_over_hours() {
        let mut bank = Bank::new(0.0, 100e-6, 0.0);
        let mut noise = Noise(7);
        for k in 0..400 {
            let t = 64.0 * f64::from(k);
            bank.add(t, 0.01 - 20e-6 * t + noise.next(100e-6), 0.0);
        }
        let (f, error) = bank.frequency();
        assert!((f + 20e-6).abs() < 0.005e-6, "{f} +- {error}");
        assert!(error < 0.005e-6, "{error}");
        assert!(bank.wander() <= 0.004, "{}", bank.wander());
        // The offset is known far better than one sample's noise.
        let t = 64.0 * 399.0;
        assert!((bank.offset_at(t, f) - (0.01 - 20e-6 * t)).abs() < 20e-6);
    }

    #[test]
    fn a_frequency_jump_is_followed_within_a_dozen_samples() {
        let mut bank = Bank::new(0.0, 100e-6, 0.0);
        let mut noise = Noise(11);
        let truth = |t: f64| -20e-6 * t - 5e-6 * (t - 64.0 * 200.0).max(0.0);
        for k in 0..212 {
            let t = 64.0 * f64::from(k);
            bank.add(t, truth(t) + noise.next(50e-6), 0.0);
        }
        let (f, _) = bank.frequency();
        assert!((f + 25e-6).abs() < 0.5e-6, "{f}");
    }

    #[test]
    fn a_wandering_oscillator_is_followed_by_a_faster_filter() {
        let mut bank = Bank::new(0.0, 100e-6, 0.0);
        let mut noise = Noise(5);
        let (mut drift, mut z) = (0.0, 0.0);
        for k in 0..600 {
            let t = 64.0 * f64::from(k);
            // 0.25 PPM per square root of an hour, as steps every 64 s.
            drift += noise.next(0.25e-6 * (64.0f64 / 3600.0).sqrt() * 3f64.sqrt());
            z += drift * 64.0;
            bank.add(t, z + noise.next(20e-6), 0.0);
        }
        assert!((0.06..=1.0).contains(&bank.wander()), "{}", bank.wander());
        let (f, _) = bank.frequency();
        assert!((f - drift).abs() < 0.05e-6, "{f} {drift}");
    }

    #[test]
    fn samples_with_excess_delay_count_less() {
        let mut bank = Bank::new(0.0, 100e-6, 0.0);
        let mut noise = Noise(3);
        for k in 0..200 {
            let t = 16.0 * f64::from(k);
            // Every other sample queued 10 ms on its way out: 5 ms off.
            let (bias, excess) = if k % 2 == 0 {
                (0.0, 0.0)
            } else {
                (5e-3, 10e-3)
            };
            bank.add(t, 1e-5 * t + noise.next(20e-6) + bias, excess);
        }
        let (f, _) = bank.frequency();
        assert!((f - 1e-5).abs() < 0.1e-6, "{f}");
        let t = 16.0 * 199.0;
        assert!((bank.offset_at(t, f) - 1e-5 * t).abs() < 200e-6);
    }

    #[test]
    fn a_late_sample_is_placed_at_its_own_time() {
        let mut bank = Bank::new(0.0, 100e-6, 0.0);
        for k in 0..20 {
            let t = 64.0 * f64::from(k);
            bank.add(t, 3e-6 * t, 0.0);
        }
        bank.add(64.0 * 18.5, 3e-6 * 64.0 * 18.5, 0.0);
        let (f, _) = bank.frequency();
        assert!((f - 3e-6).abs() < 1e-9, "{f}");
    }
}
