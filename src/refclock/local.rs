//! The local clock driver, 127.127.1.0 ("LOCAL(0)", classic refclock_local.c): a source that
//! always agrees with the system clock, offset by `fudge time1`. Classic defaults: stratum 5,
//! refid LOCL, precision -7, dispersion 10 ms, polled every 64 s.

use crate::discipline::sample::{Sample, PHI};
use crate::discipline::select::Candidate;
use crate::discipline::system::Contender;
use crate::time::{NtpDuration, NtpTimestamp, PollInterval};
use crate::wire::ntp::{Leap, RefId};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Classic refclock_local.c's stratum when no `fudge ... stratum` is given.
pub const DEFAULT_STRATUM: u8 = 5;
/// log2 s precision the driver claims.
pub const PRECISION: i8 = -7;
/// Dispersion of each sample (10 ms).
pub const DISPERSION_SECS: f64 = 0.01;

/// `fudge 127.127.1.U ...` settings for the driver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalFudge {
    pub stratum: u8,
    pub refid: RefId,
    /// `time1`: added to every sample's offset, so as system peer it moves the clock.
    pub time1: NtpDuration,
}

impl Default for LocalFudge {
    fn default() -> Self {
        LocalFudge {
            stratum: DEFAULT_STRATUM,
            refid: RefId::LOCL,
            time1: NtpDuration::ZERO,
        }
    }
}

/// The driver's state: unit number, fudge and an 8-bit reach register.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalClock {
    pub unit: u8,
    pub fudge: LocalFudge,
    pub reach: u8,
    pub last_sample: Option<Sample>,
    /// Monotonic time of the last sample (classic `peer->epoch`), so the system process
    /// knows each poll brings a new sample.
    pub epoch: Duration,
}

impl LocalClock {
    pub fn new(unit: u8, fudge: LocalFudge) -> LocalClock {
        LocalClock {
            unit,
            fudge,
            reach: 0,
            last_sample: None,
            epoch: Duration::ZERO,
        }
    }

    /// The pseudo address 127.127.1.U that names the driver (and is the system refid when it
    /// is the system peer).
    pub fn address(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, 127, 1, self.unit)
    }

    /// The polling interval (classic polls refclocks at minpoll, 64 s).
    pub fn poll(&self) -> PollInterval {
        PollInterval::DEFAULT_MIN
    }

    /// Takes a sample at `now`: the local clock is always right but for `time1`.
    pub fn sample(&mut self, now: NtpTimestamp, mono: Duration) -> Sample {
        self.reach = (self.reach << 1) | 1;
        self.epoch = mono;
        let sample = Sample {
            offset: self.fudge.time1,
            delay: NtpDuration::ZERO,
            dispersion: NtpDuration::from_secs_f64(DISPERSION_SECS),
            time: now,
        };
        self.last_sample = Some(sample);
        sample
    }

    /// The driver as the system process sees it, once it has a sample: a reference clock
    /// that selection keeps aside as a fallback (classic LOCAL(0) without `prefer`).
    pub fn contender(&self, id: u32, prefer: bool, now: Duration) -> Option<Contender> {
        let sample = self.last_sample?;
        let age = now.saturating_sub(self.epoch).as_secs_f64();
        let dispersion = sample.dispersion + NtpDuration::from_log2(PRECISION);
        // The driver reads the system clock itself: no jitter beyond a reading's.
        let reading_jitter = NtpDuration::from_log2(-20);
        Some(Contender {
            candidate: Candidate {
                id,
                offset: sample.offset,
                root_distance: dispersion + NtpDuration::from_secs_f64(PHI * age),
                jitter: reading_jitter,
                stratum: self.fudge.stratum,
                leap: Leap::NoWarning,
                prefer,
                truechimer: false,
                local_clock: true,
            },
            details: super::peer_details(
                self.address(),
                self.fudge.refid,
                sample,
                dispersion,
                self.epoch,
                self.poll(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_fill_the_reach_register() {
        let mut local = LocalClock::new(
            0,
            LocalFudge {
                stratum: 10,
                ..LocalFudge::default()
            },
        );
        assert_eq!(local.address(), Ipv4Addr::new(127, 127, 1, 0));
        local.sample(NtpTimestamp::ZERO, Duration::ZERO);
        local.sample(NtpTimestamp::ZERO, Duration::ZERO);
        local.sample(NtpTimestamp::ZERO, Duration::ZERO);
        assert_eq!(local.reach, 0o7);
    }

    #[test]
    fn time1_is_the_offset() {
        let fudge = LocalFudge {
            time1: NtpDuration::from_secs_f64(0.5),
            ..LocalFudge::default()
        };
        let s = LocalClock::new(0, fudge).sample(NtpTimestamp::ZERO, Duration::ZERO);
        assert_eq!(s.offset, NtpDuration::from_secs_f64(0.5));
        assert_eq!(s.dispersion, NtpDuration::from_secs_f64(0.01));
    }
}
