//! Classic ntpdate's per-server samples and its clock filter: the sample with the lowest
//! delay wins, and the others' spread gives the dispersion.
//!
//! Delays, short offsets and dispersions are classic's 16.16 "s_fp" values; we keep them
//! as [`NtpDuration`]s truncated to 16 fraction bits so every printed digit matches.
//!
//! Why classic's printed delay is ~25.6 ms on a loopback: ntpdate adds a fixed allowance to
//! every measured round trip, 2^-6 s for its own assumed precision (`NTPDATE_PRECISION`),
//! 2^precision for the server's (zero in 16.16 once the server is finer than 2^-16 s) and
//! 0.01 s of "maximum skew" (NTPv2's `NTP_MAXSKW`, 0x28f in 16.16), i.e. 0.025619 s, then
//! raises the result to at least 0.02 s (`NTP_MINDIST`). `-d` shows the true round trip
//! on our own extra line.

use crate::discipline::sample::Exchange;
use crate::time::NtpDuration;

/// One 16.16 unit, widened to 32.32.
const fn fp(bits16: i64) -> NtpDuration {
    NtpDuration::from_bits(bits16 << 16)
}

/// 2^-6 s: ntpdate's own precision.
const OWN_PRECISION: NtpDuration = fp(0x400);
/// NTPv2's maximum skew allowance (0.01 s as 16.16).
pub const MAX_SKEW: NtpDuration = fp(0x28f);
/// The least delay a sample can have (0.02 s as 16.16).
const MIN_DISTANCE: NtpDuration = fp(0x51f);
/// Dispersion of an empty sample, and of a server without any (64 s).
pub const MAX_DISPERSION: NtpDuration = fp(64 << 16);

/// Truncates to 16.16 as classic's `LFPTOFP` does (toward minus infinity).
pub fn to_short(d: NtpDuration) -> NtpDuration {
    NtpDuration::from_bits((d.to_bits() >> 16) << 16)
}

/// 2^log2 seconds in 16.16 (zero below 2^-16 s, one second from 2^0 up).
pub fn short_power(log2: i8) -> NtpDuration {
    match log2 {
        l if l >= 0 => fp(1 << 16),
        l if l < -16 => NtpDuration::ZERO,
        l => fp((1 << 16) >> -i32::from(l)),
    }
}

/// One filter register entry; a zero delay means "no data".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The round trip plus classic's allowance (see the module doc).
    pub delay: NtpDuration,
    pub offset: NtpDuration,
    /// The true round trip, for our `-d` line.
    pub raw_delay: NtpDuration,
}

impl Sample {
    pub const EMPTY: Sample = Sample {
        delay: NtpDuration::ZERO,
        offset: NtpDuration::ZERO,
        raw_delay: NtpDuration::ZERO,
    };

    pub fn is_empty(&self) -> bool {
        self.delay == NtpDuration::ZERO
    }

    fn short_offset(&self) -> NtpDuration {
        to_short(self.offset)
    }
}

/// Turns an exchange into classic's sample: the offset as RFC 5905 computes it, the delay
/// truncated to 16.16 plus the allowance; a delay still not positive is an empty sample.
pub fn classic_sample(exchange: &Exchange, server_precision: i8) -> Sample {
    let offset = exchange.sample(-32, server_precision).offset;
    let raw_delay = (exchange.t4 - exchange.t1) - (exchange.t3 - exchange.t2);
    let delay = to_short(raw_delay) + OWN_PRECISION + short_power(server_precision) + MAX_SKEW;
    if delay <= NtpDuration::ZERO {
        return Sample::EMPTY;
    }
    Sample {
        delay: delay.max(MIN_DISTANCE),
        offset,
        raw_delay,
    }
}

/// A server's filter register: at most `capacity` samples, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    capacity: usize,
    samples: Vec<Sample>,
}

/// What the filter concludes for a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filtered {
    pub delay: NtpDuration,
    pub offset: NtpDuration,
    pub dispersion: NtpDuration,
    /// The true round trip of the chosen sample.
    pub raw_delay: NtpDuration,
}

impl Filter {
    pub fn new(capacity: u8) -> Filter {
        Filter {
            capacity: usize::from(capacity),
            samples: Vec::with_capacity(usize::from(capacity)),
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn push(&mut self, sample: Sample) {
        if self.samples.len() < self.capacity {
            self.samples.push(sample);
        }
    }

    /// All `capacity` registers, empty ones included (as `-d` prints them).
    pub fn registers(&self) -> Vec<Sample> {
        let mut all = self.samples.clone();
        all.resize(self.capacity, Sample::EMPTY);
        all
    }

    /// Classic's `clock_filter`: order by delay (empty registers last, with classic's exact
    /// exchange sort so ties resolve identically), take the first, and sum the others'
    /// offset differences halved per rank as the dispersion.
    pub fn evaluate(&self) -> Filtered {
        let regs = self.registers();
        let mut order: Vec<usize> = (0..regs.len()).collect();
        for i in 0..order.len().saturating_sub(1) {
            for j in i + 1..order.len() {
                let (a, b) = (regs[order[i]], regs[order[j]]);
                if !b.is_empty() && (a.is_empty() || a.delay > b.delay) {
                    order.swap(i, j);
                }
            }
        }
        let Some(best) = order.first().map(|&i| regs[i]).filter(|s| !s.is_empty()) else {
            return Filtered {
                delay: NtpDuration::ZERO,
                offset: NtpDuration::ZERO,
                dispersion: MAX_DISPERSION,
                raw_delay: NtpDuration::ZERO,
            };
        };
        let mut dispersion = NtpDuration::ZERO;
        for (rank, &i) in order.iter().enumerate().skip(1) {
            let d = if regs[i].is_empty() {
                MAX_DISPERSION
            } else {
                (regs[i].short_offset() - best.short_offset())
                    .abs()
                    .min(MAX_DISPERSION)
            };
            dispersion = dispersion + to_short(NtpDuration::from_bits(d.to_bits() >> rank));
        }
        Filtered {
            delay: best.delay,
            offset: best.offset,
            dispersion,
            raw_delay: best.raw_delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpTimestamp;

    fn exchange(delay: f64, offset: f64) -> Exchange {
        let t1 = NtpTimestamp::from_unix(1_800_000_000, 0);
        let t2 = t1 + NtpDuration::from_secs_f64(delay / 2.0 + offset);
        Exchange {
            t1,
            t2,
            t3: t2,
            t4: t1 + NtpDuration::from_secs_f64(delay),
        }
    }

    #[test]
    fn loopback_delay_carries_classic_allowance() {
        // Tens of microseconds on the wire from a -23 precision server print as the
        // captures' 0.02565 .. 0.02568.
        let s = classic_sample(&exchange(0.000040, 0.0), -23);
        assert_eq!(crate::time::civil::fixed(s.delay, 5), "0.02565");
        let s = classic_sample(&exchange(0.000060, 0.0), -23);
        assert_eq!(crate::time::civil::fixed(s.delay, 5), "0.02567");
        // A coarse server adds its own precision.
        let s = classic_sample(&exchange(0.0, 0.0), -6);
        assert!((s.delay.to_secs_f64() - 0.041244).abs() < 1e-5);
    }

    #[test]
    fn negative_delays_make_empty_samples() {
        assert!(classic_sample(&exchange(-0.1, 0.0), -20).is_empty());
    }

    #[test]
    fn filter_picks_lowest_delay_and_sums_spread() {
        let mut f = Filter::new(4);
        f.push(classic_sample(&exchange(0.010, 0.5), -20));
        f.push(classic_sample(&exchange(0.002, 0.25), -20));
        f.push(Sample::EMPTY);
        f.push(classic_sample(&exchange(0.004, 0.25), -20));
        let r = f.evaluate();
        assert!((r.offset.to_secs_f64() - 0.25).abs() < 1e-6);
        assert!((r.raw_delay.to_secs_f64() - 0.002).abs() < 1e-6);
        // ranks: 0.004 (diff 0) /2, 0.010 (diff 0.25) /4, empty (64) /8
        assert!((r.dispersion.to_secs_f64() - (0.0625 + 8.0)).abs() < 1e-4);
    }

    #[test]
    fn empty_filter_has_max_dispersion() {
        let r = Filter::new(4).evaluate();
        assert_eq!((r.delay, r.dispersion), (NtpDuration::ZERO, MAX_DISPERSION));
    }
}
