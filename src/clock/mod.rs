//! The clock is a trait, so that the daemon, ntpdate and every test run the same code on
//! either the system clock ([`SystemClock`]) or a virtual one ([`VirtualClock`]).

mod system;
mod virtual_clock;

pub use system::{ntp_adjtime, KernelAdjust, KernelTimex, SystemClock};
pub use virtual_clock::{ManualMono, MonoSource, StdMono, VirtualClock, VirtualClockSpec};

use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use crate::wire::ntp::Leap;
use std::fmt;

/// `ago` if it is a plausible age of a datagram (0 to 1 s), else zero.
fn recent(ago: NtpDuration) -> NtpDuration {
    if (NtpDuration::ZERO..NtpDuration::ONE_SECOND).contains(&ago) {
        ago
    } else {
        NtpDuration::ZERO
    }
}

/// Why the clock refused an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// The kernel said EPERM: we lack CAP_SYS_TIME. The daemon keeps serving and says so once.
    NotPermitted,
    /// Any other system error, with its errno text.
    System(String),
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::NotPermitted => f.write_str("operation not permitted (no CAP_SYS_TIME)"),
            ClockError::System(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ClockError {}

/// What the discipline tells the kernel about its state (ntp_adjtime's status and errors).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockStatus {
    pub leap: Leap,
    pub synchronized: bool,
    pub estimated_error: NtpDuration,
    pub maximum_error: NtpDuration,
}

/// The largest slew rate any clock accepts: what Linux reaches by changing the tick length
/// (`ADJ_TICK`, 9000..11000 us per 1/100 s, i.e. +-10%), less the 500 PPM the frequency
/// correction may take.
pub const SLEW_RATE_LIMIT: Ppm = Ppm(99_500.0);

/// The largest frequency correction (the kernel's ADJ_FREQUENCY range, NTP_MAXFREQ).
pub const FREQUENCY_LIMIT: Ppm = Ppm(500.0);

/// Reading and steering a clock. Implementations behave like the Linux kernel clock:
/// `slew` is adjtime(2)-like (applied gradually, at most 500 PPM), `set_frequency` is
/// ntp_adjtime's ADJ_FREQUENCY, and `set_slew_rate` adds a larger, temporary rate on top
/// of it (ADJ_TICK) for the discipline to remove an offset in seconds.
pub trait Clock {
    /// The current time of this clock.
    fn now(&self) -> NtpTimestamp;
    /// This clock's reading at the moment the system's real-time clock read `realtime`:
    /// how a kernel receive timestamp (SO_TIMESTAMPNS, always CLOCK_REALTIME) becomes a
    /// receive time in this clock's time base without reading any clock per datagram
    /// where the two are the same. The default goes through how long ago that moment was
    /// (one CLOCK_REALTIME read), right for any clock running at about the real rate; a
    /// moment in the future or over a second ago (the real clock was stepped) counts as
    /// now.
    fn at_realtime(&self, realtime: NtpTimestamp) -> NtpTimestamp {
        let now = self.now();
        now + -recent(system::realtime_now() - realtime)
    }
    /// Monotonic time, immune to steps, for timers and intervals.
    fn mono(&self) -> std::time::Duration;
    /// Monotonic time including time spent suspended (CLOCK_BOOTTIME): when it runs ahead
    /// of [`Clock::mono`], the system was asleep. A clock that cannot tell returns `mono`.
    fn boottime(&self) -> std::time::Duration {
        self.mono()
    }
    /// log2 of the clock's reading precision in seconds (classic ntpd measures -20 or so).
    fn precision(&self) -> i8;
    /// Jumps the clock by `offset` (positive: forward).
    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError>;
    /// Starts a gradual correction by `offset`, replacing any correction still in progress.
    fn slew(&mut self, offset: NtpDuration) -> Result<(), ClockError>;
    /// Sets the frequency correction (positive: the clock is made faster), clamped to
    /// [`FREQUENCY_LIMIT`].
    fn set_frequency(&mut self, freq: Ppm) -> Result<(), ClockError>;
    /// Sets the slew rate: an extra rate on top of the frequency correction that moves the
    /// phase (positive: the clock gains), in force until changed; clamped to
    /// [`SLEW_RATE_LIMIT`]. The caller times it (rate times duration is the correction),
    /// so the clock never has to end a slew by itself.
    fn set_slew_rate(&mut self, rate: Ppm) -> Result<(), ClockError>;
    /// The frequency correction in force, without the slew rate.
    fn frequency(&self) -> Result<Ppm, ClockError>;
    /// Reports synchronisation status, leap warning and error estimates to the kernel.
    fn set_status(&mut self, status: ClockStatus) -> Result<(), ClockError>;
}
