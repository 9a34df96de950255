//! The clock is a trait, so that the daemon, ntpdate and every test run the same code on
//! either the system clock ([`SystemClock`]) or a virtual one ([`VirtualClock`]).

mod system;
mod virtual_clock;

pub use system::SystemClock;
pub use virtual_clock::{ManualMono, MonoSource, StdMono, VirtualClock, VirtualClockSpec};

use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use crate::wire::ntp::Leap;
use std::fmt;

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

/// Reading and steering a clock. Implementations behave like the Linux kernel clock:
/// `slew` is adjtime(2)-like (applied gradually, at most 500 PPM), `set_frequency` is
/// ntp_adjtime's ADJ_FREQUENCY.
pub trait Clock {
    /// The current time of this clock.
    fn now(&self) -> NtpTimestamp;
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
    /// Sets the frequency correction (positive: the clock is made faster).
    fn set_frequency(&mut self, freq: Ppm) -> Result<(), ClockError>;
    /// The frequency correction in force.
    fn frequency(&self) -> Result<Ppm, ClockError>;
    /// Reports synchronisation status, leap warning and error estimates to the kernel.
    fn set_status(&mut self, status: ClockStatus) -> Result<(), ClockError>;
}
