//! Time newtypes: timestamps wrap (era arithmetic just works), durations saturate (two huge
//! values can never cancel out and slip past a sanity check), and the 16.16 "short" format
//! exists only for the wire's root delay and root dispersion. `f64` seconds appear only
//! inside formulas, through the explicit `*_secs_f64` conversions.

pub mod civil;

use std::fmt;
use std::ops::{Add, Neg, Sub};

/// Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch.
pub const UNIX_EPOCH_NTP_SECS: u64 = 2_208_988_800;

const FRAC_PER_SEC: f64 = 4_294_967_296.0;

/// A 64-bit NTP timestamp (32.32 fixed point, seconds since 1900 modulo 2^32 s).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    pub const fn from_bits(bits: u64) -> NtpTimestamp {
        NtpTimestamp(bits)
    }

    pub const fn to_bits(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// Unix time (seconds may be negative, nanos in 0..1e9) to the wire format; eras fold.
    pub fn from_unix(secs: i64, nanos: u32) -> NtpTimestamp {
        let ntp_secs = secs.wrapping_add(UNIX_EPOCH_NTP_SECS as i64) as u64;
        let frac = ((u64::from(nanos) << 32) / 1_000_000_000) & 0xffff_ffff;
        NtpTimestamp((ntp_secs << 32) | frac)
    }

    /// Unix time of this timestamp in the era that puts it nearest to `pivot_unix_secs`
    /// (within ±68 years), so the answer is right across the 2036 rollover.
    pub fn to_unix_near(self, pivot_unix_secs: i64) -> (i64, u32) {
        let pivot = NtpTimestamp::from_unix(pivot_unix_secs, 0);
        let delta = self - pivot; // wrapping difference, in range ±2^31 s
        let whole = delta.0 >> 32; // floor seconds
        let frac = (delta.0 as u64) & 0xffff_ffff;
        let nanos = ((frac * 1_000_000_000) >> 32) as u32;
        (pivot_unix_secs.saturating_add(whole), nanos)
    }

    /// Unix time assuming the era window classic ntpd uses: 1968-01-20 .. 2104-02-26.
    pub fn to_unix(self) -> (i64, u32) {
        // 2036-02-07 (the era 0/1 boundary) pivots the window to its middle.
        self.to_unix_near(2_085_978_496)
    }

    /// Adds a signed duration, wrapping at the era boundary as the wire format does.
    pub fn add_duration(self, d: NtpDuration) -> NtpTimestamp {
        NtpTimestamp(self.0.wrapping_add(d.0 as u64))
    }
}

impl Sub for NtpTimestamp {
    type Output = NtpDuration;
    /// The signed difference, valid while the two are within 68 years of each other.
    fn sub(self, rhs: NtpTimestamp) -> NtpDuration {
        NtpDuration(self.0.wrapping_sub(rhs.0) as i64)
    }
}

impl Add<NtpDuration> for NtpTimestamp {
    type Output = NtpTimestamp;
    fn add(self, rhs: NtpDuration) -> NtpTimestamp {
        self.add_duration(rhs)
    }
}

impl fmt::Debug for NtpTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}.{:08x}", self.seconds(), self.fraction())
    }
}

/// A signed duration in units of 2^-32 s; arithmetic saturates instead of wrapping.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpDuration(i64);

impl NtpDuration {
    pub const ZERO: NtpDuration = NtpDuration(0);
    pub const MAX: NtpDuration = NtpDuration(i64::MAX);
    pub const MIN: NtpDuration = NtpDuration(i64::MIN);
    pub const ONE_SECOND: NtpDuration = NtpDuration(1 << 32);

    pub const fn from_bits(bits: i64) -> NtpDuration {
        NtpDuration(bits)
    }

    pub const fn to_bits(self) -> i64 {
        self.0
    }

    pub fn from_secs_f64(secs: f64) -> NtpDuration {
        // `as` saturates for out-of-range floats and maps NaN to 0.
        NtpDuration((secs * FRAC_PER_SEC) as i64)
    }

    pub fn to_secs_f64(self) -> f64 {
        self.0 as f64 / FRAC_PER_SEC
    }

    pub const fn from_secs(secs: i32) -> NtpDuration {
        NtpDuration((secs as i64) << 32)
    }

    pub fn from_nanos(nanos: i64) -> NtpDuration {
        // Sub-second values (receive ages, every packet) stay in 64-bit arithmetic.
        if nanos.unsigned_abs() < 1 << 31 {
            return NtpDuration((nanos << 32) / 1_000_000_000);
        }
        NtpDuration(((i128::from(nanos) << 32) / 1_000_000_000) as i64)
    }

    pub fn to_nanos(self) -> i64 {
        ((i128::from(self.0) * 1_000_000_000) >> 32) as i64
    }

    pub fn abs(self) -> NtpDuration {
        NtpDuration(self.0.saturating_abs())
    }

    /// Scales by a factor, saturating (used for PPM rates and filter weights).
    pub fn mul_f64(self, factor: f64) -> NtpDuration {
        NtpDuration::from_secs_f64(self.to_secs_f64() * factor)
    }

    /// 2^log2 seconds, as used for poll intervals and precision.
    pub fn from_log2(log2: i8) -> NtpDuration {
        match log2 {
            l if l >= 31 => NtpDuration::MAX,
            l if l <= -32 => NtpDuration(1),
            l => NtpDuration(1i64 << (32 + i32::from(l))),
        }
    }

    /// To a `std::time::Duration`, clamping negatives to zero (for timers).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.to_nanos().max(0) as u64)
    }
}

impl Add for NtpDuration {
    type Output = NtpDuration;
    fn add(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for NtpDuration {
    type Output = NtpDuration;
    fn sub(self, rhs: NtpDuration) -> NtpDuration {
        NtpDuration(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for NtpDuration {
    type Output = NtpDuration;
    fn neg(self) -> NtpDuration {
        NtpDuration(self.0.saturating_neg())
    }
}

impl fmt::Debug for NtpDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.6}ms", self.to_secs_f64() * 1e3)
    }
}

impl fmt::Display for NtpDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:+.6}s", self.to_secs_f64())
    }
}

/// The 32-bit NTP short format (16.16 unsigned seconds): root delay and root dispersion.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpShort(u32);

impl NtpShort {
    pub const ZERO: NtpShort = NtpShort(0);

    pub const fn from_bits(bits: u32) -> NtpShort {
        NtpShort(bits)
    }

    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// From a duration, clamped to the format's range (negative values become zero).
    pub fn from_duration(d: NtpDuration) -> NtpShort {
        let bits = d.to_bits() >> 16;
        NtpShort(bits.clamp(0, i64::from(u32::MAX)) as u32)
    }

    pub fn to_duration(self) -> NtpDuration {
        NtpDuration::from_bits(i64::from(self.0) << 16)
    }
}

impl fmt::Debug for NtpShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_duration())
    }
}

/// A poll interval as log2 seconds, clamped to the protocol's range 3..=17 when built from
/// configuration (`minpoll`/`maxpoll`), but any wire value is representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PollInterval(pub i8);

impl PollInterval {
    /// Classic ntpd's limits (NTP_MINPOLL, NTP_MAXPOLL) and defaults (6 and 10).
    pub const MIN: PollInterval = PollInterval(3);
    pub const MAX: PollInterval = PollInterval(17);
    pub const DEFAULT_MIN: PollInterval = PollInterval(6);
    pub const DEFAULT_MAX: PollInterval = PollInterval(10);

    pub fn clamped(log2: i64) -> PollInterval {
        PollInterval(log2.clamp(i64::from(Self::MIN.0), i64::from(Self::MAX.0)) as i8)
    }

    pub fn as_duration(self) -> NtpDuration {
        NtpDuration::from_log2(self.0)
    }

    pub fn seconds(self) -> u64 {
        1u64 << self.0.clamp(0, 62)
    }
}

/// A frequency offset in parts per million (positive: the clock runs fast, as in the drift
/// file and `ntpq -c rv` frequency).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Ppm(pub f64);

impl Ppm {
    pub const ZERO: Ppm = Ppm(0.0);

    /// The fractional rate, e.g. 1e-6 for 1 PPM.
    pub fn as_ratio(self) -> f64 {
        self.0 * 1e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_round_trip_across_2036_rollover() {
        for secs in [
            0i64,
            1_700_000_000,
            2_085_978_495,
            2_085_978_496,
            2_085_978_497,
            3_000_000_000,
        ] {
            let ts = NtpTimestamp::from_unix(secs, 500_000_000);
            let (s, n) = ts.to_unix();
            assert_eq!(s, secs);
            assert!((i64::from(n) - 500_000_000).abs() <= 1);
        }
    }

    #[test]
    fn difference_across_era_boundary() {
        let before = NtpTimestamp::from_unix(2_085_978_495, 0);
        let after = NtpTimestamp::from_unix(2_085_978_497, 0);
        assert_eq!(after - before, NtpDuration::from_secs(2));
        assert_eq!(before - after, NtpDuration::from_secs(-2));
        assert_eq!(before + NtpDuration::from_secs(2), after);
    }

    #[test]
    fn durations_saturate() {
        assert_eq!(NtpDuration::MAX + NtpDuration::ONE_SECOND, NtpDuration::MAX);
        assert_eq!(NtpDuration::MIN - NtpDuration::ONE_SECOND, NtpDuration::MIN);
        assert_eq!(-NtpDuration::MIN, NtpDuration::MAX);
        assert_eq!(NtpDuration::MIN.abs(), NtpDuration::MAX);
    }

    #[test]
    fn nanos_and_seconds() {
        let d = NtpDuration::from_nanos(-1_500_000_000);
        assert!((d.to_secs_f64() + 1.5).abs() < 1e-9);
        assert!((d.to_nanos() + 1_500_000_000).abs() <= 1);
        assert_eq!(NtpDuration::from_log2(-1).to_secs_f64(), 0.5);
    }

    #[test]
    fn short_format() {
        let s = NtpShort::from_duration(NtpDuration::from_secs_f64(1.5));
        assert_eq!(s.to_bits(), 0x0001_8000);
        assert_eq!(
            NtpShort::from_duration(NtpDuration::from_secs(-1)),
            NtpShort::ZERO
        );
        assert_eq!(
            NtpShort::from_duration(NtpDuration::MAX).to_bits(),
            u32::MAX
        );
    }
}
