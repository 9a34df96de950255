//! Classic's refclock median filter (`refclock_sample`): a driver adds one offset per
//! timecode; each poll the offsets gathered since the last are sorted, the ones furthest
//! from the median are dropped until about 60% remain, and the rest are averaged. A burst
//! of late timecodes (a busy serial line, a writer preempted) thus never moves the clock.

use crate::time::NtpDuration;

/// Offsets kept between polls (classic MAXSTAGE): a writer faster than one sample a second
/// over a 1024 s poll loses its oldest.
pub const MAX_STAGES: usize = 60;

/// The offsets gathered since the last poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MedianFilter {
    offsets: Vec<NtpDuration>,
}

/// What one poll's offsets reduce to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reduced {
    pub offset: NtpDuration,
    /// RMS of the differences between neighbours of the kept offsets.
    pub jitter: NtpDuration,
}

impl MedianFilter {
    pub fn push(&mut self, offset: NtpDuration) {
        if self.offsets.len() == MAX_STAGES {
            self.offsets.remove(0);
        }
        self.offsets.push(offset);
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Reduces and empties the filter; None when nothing arrived since the last poll.
    pub fn reduce(&mut self) -> Option<Reduced> {
        let mut off = std::mem::take(&mut self.offsets);
        let n = off.len();
        if n == 0 {
            return None;
        }
        off.sort();
        let (mut i, mut j) = (0, n);
        let m = n - (n * 4) / 10;
        while j - i > m {
            let median = off[(j + i) / 2];
            if off[j - 1] - median < median - off[i] {
                i += 1;
            } else {
                j -= 1;
            }
        }
        let kept = &off[i..j];
        let sum: f64 = kept.iter().map(|d| d.to_secs_f64()).sum();
        let squares: f64 = kept
            .windows(2)
            .map(|w| (w[1] - w[0]).to_secs_f64().powi(2))
            .sum();
        Some(Reduced {
            offset: NtpDuration::from_secs_f64(sum / m as f64),
            jitter: NtpDuration::from_secs_f64((squares / m as f64).sqrt()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> NtpDuration {
        NtpDuration::from_secs_f64(v / 1000.0)
    }

    #[test]
    fn outliers_are_dropped_down_to_sixty_percent() {
        let mut f = MedianFilter::default();
        for v in [1.0, 1.1, 0.9, 1.0, 250.0, 1.0, -300.0, 1.05, 0.95, 1.0] {
            f.push(ms(v));
        }
        let r = f.reduce().unwrap();
        assert!(
            (r.offset.to_secs_f64() * 1000.0 - 1.0).abs() < 0.05,
            "{r:?}"
        );
        assert!(r.jitter.to_secs_f64() < 0.0001);
        assert!(f.is_empty());
        assert_eq!(f.reduce(), None);
    }

    #[test]
    fn one_sample_is_its_own_offset() {
        let mut f = MedianFilter::default();
        f.push(ms(-3.0));
        let r = f.reduce().unwrap();
        assert_eq!((r.offset, r.jitter), (ms(-3.0), NtpDuration::ZERO));
    }

    #[test]
    fn the_oldest_offset_goes_when_full() {
        let mut f = MedianFilter::default();
        for i in 0..MAX_STAGES + 5 {
            f.push(ms(i as f64));
        }
        assert_eq!(f.len(), MAX_STAGES);
        assert_eq!(f.offsets[0], ms(5.0));
    }
}
