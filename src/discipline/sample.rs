//! One on-wire exchange turned into a clock sample (RFC 5905 section 8, A.5.1.1).
//!
//! T1 = origin (our transmit), T2 = server receive, T3 = server transmit, T4 = our receive.
//! offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2). The sign convention
//! is classic's: the offset is the correction to apply to the local clock (positive: we are
//! behind).

use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ntp::Header;

/// The frequency tolerance PHI of RFC 5905 (15 PPM), the rate at which dispersion grows.
pub const PHI: f64 = 15e-6;

/// One measurement of a source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Correction to apply to the local clock (theta).
    pub offset: NtpDuration,
    /// Round-trip delay (delta), never below the precision floor.
    pub delay: NtpDuration,
    /// Error bound from precisions and the time the server held the request (epsilon).
    pub dispersion: NtpDuration,
    /// When the sample was taken (T4, local clock).
    pub time: NtpTimestamp,
}

/// The four timestamps of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub t1: NtpTimestamp,
    pub t2: NtpTimestamp,
    pub t3: NtpTimestamp,
    pub t4: NtpTimestamp,
}

impl Exchange {
    /// From a server's reply and our receive time: T1 is the reply's origin field.
    pub fn from_reply(reply: &Header, received: NtpTimestamp) -> Exchange {
        Exchange {
            t1: reply.origin_time,
            t2: reply.receive_time,
            t3: reply.transmit_time,
            t4: received,
        }
    }

    /// Computes the sample; `precision` is log2 s of ours plus the peer's (summed as
    /// 2^ours + 2^theirs, the sys.precision + p.precision of A.5.1.1).
    pub fn sample(&self, our_precision: i8, peer_precision: i8) -> Sample {
        let precision =
            NtpDuration::from_log2(our_precision) + NtpDuration::from_log2(peer_precision);
        let outbound = self.t2 - self.t1;
        let inbound = self.t3 - self.t4;
        let offset = NtpDuration::from_bits(outbound.to_bits() / 2 + inbound.to_bits() / 2);
        let delay = (self.t4 - self.t1) - (self.t3 - self.t2);
        let held = (self.t4 - self.t1).abs().to_secs_f64();
        let dispersion = precision + NtpDuration::from_secs_f64(PHI * held);
        Sample {
            offset,
            delay: if delay < precision { precision } else { delay },
            dispersion,
            time: self.t4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_700_000_000, 0) + NtpDuration::from_secs_f64(secs)
    }

    #[test]
    fn symmetric_paths_give_exact_offset() {
        // Server 2.5 s ahead, 10 ms each way, 1 ms processing.
        let ex = Exchange {
            t1: ts(0.0),
            t2: ts(2.51),
            t3: ts(2.511),
            t4: ts(0.021),
        };
        let s = ex.sample(-20, -20);
        assert!((s.offset.to_secs_f64() - 2.5).abs() < 1e-6);
        assert!((s.delay.to_secs_f64() - 0.020).abs() < 1e-6);
        assert_eq!(s.time, ts(0.021));
    }

    #[test]
    fn negative_offset_when_we_are_ahead() {
        let ex = Exchange {
            t1: ts(3.0),
            t2: ts(0.001),
            t3: ts(0.001),
            t4: ts(3.002),
        };
        let s = ex.sample(-20, -20);
        assert!((s.offset.to_secs_f64() + 3.0).abs() < 1e-6);
    }

    #[test]
    fn delay_never_below_precision() {
        let ex = Exchange {
            t1: ts(0.0),
            t2: ts(0.0),
            t3: ts(0.0),
            t4: ts(0.0),
        };
        let s = ex.sample(-6, -6);
        assert_eq!(s.delay, NtpDuration::from_log2(-5));
    }
}
