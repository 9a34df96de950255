//! System variables (RFC 5905 section 11.2.3, "sys.*"): what the daemon advertises to its
//! clients and reports to ntpq. Updated by the engine when the system peer changes.

use crate::time::{NtpDuration, NtpShort, NtpTimestamp, Ppm};
use crate::wire::ntp::{Leap, RefId};

/// The stratum an unsynchronised server advertises.
pub const STRATUM_UNSYNC: u8 = 16;

/// The frequency tolerance PHI (15 PPM): how fast root dispersion grows between updates.
pub const PHI: f64 = 15e-6;

/// The system variables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SystemVars {
    pub leap: Leap,
    pub stratum: u8,
    /// log2 seconds of the clock's reading precision.
    pub precision: i8,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    pub reference_id: RefId,
    /// When the clock was last updated from the system peer.
    pub reference_time: NtpTimestamp,
    /// Offset of the last update (for ntpq's `offset`).
    pub offset: NtpDuration,
    /// Frequency correction in force.
    pub frequency: Ppm,
    pub jitter: NtpDuration,
}

impl SystemVars {
    /// A daemon that has not synchronised yet: leap 3, stratum 16, refid INIT.
    pub fn unsynchronized(precision: i8) -> SystemVars {
        SystemVars {
            leap: Leap::Unsync,
            stratum: STRATUM_UNSYNC,
            precision,
            root_delay: NtpDuration::ZERO,
            root_dispersion: NtpDuration::ZERO,
            reference_id: RefId::INIT,
            reference_time: NtpTimestamp::ZERO,
            offset: NtpDuration::ZERO,
            frequency: Ppm::ZERO,
            jitter: NtpDuration::ZERO,
        }
    }

    pub fn is_synchronized(&self) -> bool {
        self.leap != Leap::Unsync && self.stratum < STRATUM_UNSYNC
    }

    /// Root dispersion as of `now`: the value at the last update, grown by PHI since
    /// (RFC 5905 A.5.5.2), in the wire's 16.16 format.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> NtpShort {
        if self.reference_time.is_zero() {
            return NtpShort::from_duration(self.root_dispersion);
        }
        let age = (now - self.reference_time).abs().to_secs_f64();
        NtpShort::from_duration(self.root_dispersion + NtpDuration::from_secs_f64(age * PHI))
    }
}
