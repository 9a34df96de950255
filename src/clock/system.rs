//! The system clock: read with clock_gettime, steered with clock_adjtime (adjtime-like
//! offset, frequency and tick length, status) and stepped with clock_settime. The syscalls
//! sit behind [`Kernel`] so the translation from trait calls to `timex` fields is
//! unit-tested without touching the machine's clock; only read-only calls ever run for
//! real in tests.
//!
//! The rate the clock runs at is the frequency correction plus the slew rate. The kernel
//! takes it in two parts, as chrony's Linux driver does: the tick length (microseconds
//! added per 1/USER_HZ second, so one microsecond is USER_HZ PPM, within +-10% of
//! nominal) carries the bulk, ADJ_FREQUENCY the remainder (under USER_HZ / 2 PPM).
//!
//! While the daemon says it is synchronised, the kernel is kept saying so too (what
//! `timedatectl`, `adjtimex -p` and node_exporter's `node_timex_*` read): the kernel
//! grows `maxerror` by 500 us every second and sets STA_UNSYNC once it passes 16 s, and
//! clock_settime sets STA_UNSYNC at once, so the last status is asserted again after a
//! step and, with `maxerror` aged at PHI from when it was given, every
//! [`STATUS_REFRESH`] on the calls the discipline makes anyway.
#![allow(unsafe_code)]

use super::{Clock, ClockError, ClockStatus, FREQUENCY_LIMIT, SLEW_RATE_LIMIT};
use crate::discipline::sample::PHI;
use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use crate::wire::ntp::Leap;
use std::time::Duration;

/// The three syscalls the system clock needs.
pub trait Kernel {
    /// Clock ticks per second as timex.tick counts them (USER_HZ, 100 on Linux).
    fn user_hz(&self) -> i64;
    fn gettime(&self, clock: libc::clockid_t) -> libc::timespec;
    fn settime(&mut self, ts: &libc::timespec) -> Result<(), ClockError>;
    /// clock_adjtime(CLOCK_REALTIME, tx); returns the clock state.
    fn adjtime(&mut self, tx: &mut libc::timex) -> Result<i32, ClockError>;
    /// clock_adjtime with modes = 0: reads the kernel's discipline state, changes nothing.
    fn read(&self) -> Result<libc::timex, ClockError>;
}

/// The real Linux syscalls.
#[derive(Debug, Default)]
pub struct LinuxKernel;

fn last_error() -> ClockError {
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EPERM) => ClockError::NotPermitted,
        _ => ClockError::System(err.to_string()),
    }
}

impl Kernel for LinuxKernel {
    fn user_hz(&self) -> i64 {
        // SAFETY: sysconf only reads a constant of the system.
        match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            hz if hz > 0 => hz,
            _ => 100,
        }
    }

    fn gettime(&self, clock: libc::clockid_t) -> libc::timespec {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid, writable timespec; CLOCK_REALTIME/MONOTONIC always exist.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts
    }

    fn settime(&mut self, ts: &libc::timespec) -> Result<(), ClockError> {
        // SAFETY: ts points to a valid timespec.
        match unsafe { libc::clock_settime(libc::CLOCK_REALTIME, ts) } {
            0 => Ok(()),
            _ => Err(last_error()),
        }
    }

    fn adjtime(&mut self, tx: &mut libc::timex) -> Result<i32, ClockError> {
        // SAFETY: tx is a valid, writable timex.
        match unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) } {
            -1 => Err(last_error()),
            state => Ok(state),
        }
    }

    fn read(&self) -> Result<libc::timex, ClockError> {
        let mut tx = zeroed_timex();
        // SAFETY: tx is a valid, writable timex; modes = 0 only reads kernel state.
        match unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut tx) } {
            -1 => Err(last_error()),
            _ => Ok(tx),
        }
    }
}

/// The kernel's discipline state as ntp_adjtime(2) returns it: what `ntptime` shows.
/// Units are the kernel's: offset and `time_frac` in microseconds, or nanoseconds with
/// STA_NANO; `freq`, `tolerance`, `ppsfreq` and `stabil` in PPM * 2^16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelTimex {
    /// The call's return value: TIME_OK, TIME_INS, ... TIME_ERROR.
    pub state: i32,
    /// The fields ntp_adjtime can set, as the kernel now holds them (`modes`: as asked).
    pub settable: KernelAdjust,
    pub precision: i64,
    pub tolerance: i64,
    pub time_sec: i64,
    pub time_frac: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i32,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i32,
}

/// What ntp_adjtime(2) is asked to set: only the fields `modes` names (ADJ_* bits).
/// `modes == 0` reads and changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelAdjust {
    pub modes: u32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i32,
    pub constant: i64,
}

/// An i64 into timex's `long` (the same type on 64-bit Linux; saturated on 32-bit).
#[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
fn long(v: i64) -> libc::c_long {
    libc::c_long::try_from(v).unwrap_or(if v < 0 {
        libc::c_long::MIN
    } else {
        libc::c_long::MAX
    })
}

impl KernelAdjust {
    fn to_timex(self) -> libc::timex {
        let mut tx = zeroed_timex();
        tx.modes = self.modes;
        tx.offset = long(self.offset);
        tx.freq = long(self.freq);
        tx.maxerror = long(self.maxerror);
        tx.esterror = long(self.esterror);
        tx.status = self.status;
        tx.constant = long(self.constant);
        tx
    }
}

impl KernelTimex {
    /// `i64::from` keeps this right where timex's `long` is 32 bits wide.
    #[allow(clippy::useless_conversion)]
    fn from_timex(state: i32, tx: &libc::timex) -> KernelTimex {
        KernelTimex {
            state,
            settable: KernelAdjust {
                modes: tx.modes,
                offset: i64::from(tx.offset),
                freq: i64::from(tx.freq),
                maxerror: i64::from(tx.maxerror),
                esterror: i64::from(tx.esterror),
                status: tx.status,
                constant: i64::from(tx.constant),
            },
            precision: i64::from(tx.precision),
            tolerance: i64::from(tx.tolerance),
            time_sec: i64::from(tx.time.tv_sec),
            time_frac: i64::from(tx.time.tv_usec),
            tick: i64::from(tx.tick),
            ppsfreq: i64::from(tx.ppsfreq),
            jitter: i64::from(tx.jitter),
            shift: tx.shift,
            stabil: i64::from(tx.stabil),
            jitcnt: i64::from(tx.jitcnt),
            calcnt: i64::from(tx.calcnt),
            errcnt: i64::from(tx.errcnt),
            stbcnt: i64::from(tx.stbcnt),
            tai: tx.tai,
        }
    }
}

/// ntp_adjtime(2) on the system clock (`ntptime`). With `adjust.modes == 0` (ntptime without
/// options) it only reads; any other mode needs CAP_SYS_TIME and changes the machine's
/// clock discipline, so nothing but the `ntptime` binary run by an administrator asks for it.
pub fn ntp_adjtime(adjust: &KernelAdjust) -> Result<KernelTimex, ClockError> {
    let mut tx = adjust.to_timex();
    // SAFETY: tx is a valid, writable timex.
    match unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut tx) } {
        -1 => Err(last_error()),
        state => Ok(KernelTimex::from_timex(state, &tx)),
    }
}

/// The kernel's scaled-PPM unit for timex.freq: PPM * 2^16.
const SCALED_PPM: f64 = 65_536.0;

/// How often a synchronised status is asserted again (the kernel's own maxerror has then
/// grown 8 ms past ours at most).
pub const STATUS_REFRESH: Duration = Duration::from_secs(16);

/// The status last reported, when (monotonic) and when last asserted again.
#[derive(Clone, Copy, Debug)]
struct Reported {
    status: ClockStatus,
    given: Duration,
    asserted: Duration,
}

/// The kernel's rate settings for a total rate of `ppm` (frequency plus slew): the tick
/// length in microseconds and timex.freq in scaled PPM.
pub fn tick_and_freq(ppm: f64, user_hz: i64) -> (i64, i64) {
    let hz = user_hz.max(1);
    let nominal = 1_000_000 / hz;
    // One microsecond more per tick makes the clock `hz` PPM faster.
    let delta = (ppm / hz as f64).round() as i64;
    let delta = delta.clamp(-nominal / 10, nominal / 10);
    let rest = (ppm - (delta * hz) as f64).clamp(-FREQUENCY_LIMIT.0, FREQUENCY_LIMIT.0);
    (nominal + delta, (rest * SCALED_PPM).round() as i64)
}

/// The machine's clock, steered through a [`Kernel`].
#[derive(Debug)]
pub struct SystemClock<K: Kernel = LinuxKernel> {
    kernel: K,
    reported: Option<Reported>,
    /// The frequency correction last set (None: not yet, the kernel's is kept).
    frequency: Option<f64>,
    /// The slew rate in force (PPM).
    slew_rate: f64,
}

impl SystemClock<LinuxKernel> {
    pub fn new() -> SystemClock<LinuxKernel> {
        SystemClock::with_kernel(LinuxKernel)
    }
}

impl Default for SystemClock<LinuxKernel> {
    fn default() -> Self {
        SystemClock::new()
    }
}

fn zeroed_timex() -> libc::timex {
    // SAFETY: timex is a plain C struct of integers, for which all-zero is valid.
    unsafe { std::mem::zeroed() }
}

impl<K: Kernel> SystemClock<K> {
    pub fn with_kernel(kernel: K) -> SystemClock<K> {
        SystemClock {
            kernel,
            reported: None,
            frequency: None,
            slew_rate: 0.0,
        }
    }

    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Sets the kernel's tick and frequency for `freq` plus `slew` PPM; remembers both once
    /// the kernel took them.
    fn set_rate(&mut self, freq: f64, slew: f64) -> Result<(), ClockError> {
        let (tick, scaled) = tick_and_freq(freq + slew, self.kernel.user_hz());
        self.adjust(|tx| {
            tx.modes = libc::ADJ_FREQUENCY | libc::ADJ_TICK;
            tx.freq = scaled;
            tx.tick = tick;
        })?;
        self.frequency = Some(freq);
        self.slew_rate = slew;
        self.keep_status(false);
        Ok(())
    }

    fn adjust(&mut self, fill: impl FnOnce(&mut libc::timex)) -> Result<libc::timex, ClockError> {
        let mut tx = zeroed_timex();
        fill(&mut tx);
        self.kernel.adjtime(&mut tx)?;
        Ok(tx)
    }

    /// Status word, leap bits and error estimates, as ntp_adjtime takes them.
    fn write_status(&mut self, status: ClockStatus) -> Result<(), ClockError> {
        // STA_PLL stays clear: the daemon disciplines the clock itself.
        let mut bits = libc::STA_NANO;
        if !status.synchronized {
            bits |= libc::STA_UNSYNC;
        }
        match status.leap {
            Leap::AddSecond => bits |= libc::STA_INS,
            Leap::DelSecond => bits |= libc::STA_DEL,
            Leap::NoWarning | Leap::Unsync => {}
        }
        let micros = |d: NtpDuration| ((d.to_nanos() + 500) / 1000).clamp(0, 16_000_000);
        self.adjust(|tx| {
            tx.modes = libc::ADJ_STATUS | libc::ADJ_ESTERROR | libc::ADJ_MAXERROR;
            tx.status = bits;
            tx.esterror = micros(status.estimated_error);
            tx.maxerror = micros(status.maximum_error);
        })
        .map(drop)
    }

    /// Asserts a synchronised status again, its maxerror aged since it was given: at
    /// once when `now` (after a step), else when [`STATUS_REFRESH`] has passed.
    fn keep_status(&mut self, now: bool) {
        let Some(r) = self.reported.filter(|r| r.status.synchronized) else {
            return;
        };
        let mono = self.mono();
        if !now && mono < r.asserted + STATUS_REFRESH {
            return;
        }
        let age = mono.saturating_sub(r.given).as_secs_f64();
        let aged = ClockStatus {
            maximum_error: r.status.maximum_error + NtpDuration::from_secs_f64(PHI * age),
            ..r.status
        };
        // A refusal here was already met (and reported) by the call that brought us here.
        if self.write_status(aged).is_ok() {
            self.reported = Some(Reported {
                asserted: mono,
                ..r
            });
        }
    }
}

/// CLOCK_REALTIME now, read directly: what kernel receive timestamps are compared with
/// (see [`Clock::at_realtime`]).
pub(super) fn realtime_now() -> NtpTimestamp {
    realtime(LinuxKernel.gettime(libc::CLOCK_REALTIME))
}

fn realtime(ts: libc::timespec) -> NtpTimestamp {
    NtpTimestamp::from_unix(ts.tv_sec, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// A CLOCK_MONOTONIC or CLOCK_BOOTTIME reading as a duration.
fn since_boot(ts: libc::timespec) -> Duration {
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl<K: Kernel> Clock for SystemClock<K> {
    fn now(&self) -> NtpTimestamp {
        realtime(self.kernel.gettime(libc::CLOCK_REALTIME))
    }

    /// This clock is CLOCK_REALTIME: a kernel timestamp is already a reading of it.
    fn at_realtime(&self, realtime: NtpTimestamp) -> NtpTimestamp {
        realtime
    }

    fn mono(&self) -> Duration {
        since_boot(self.kernel.gettime(libc::CLOCK_MONOTONIC))
    }

    fn boottime(&self) -> Duration {
        since_boot(self.kernel.gettime(libc::CLOCK_BOOTTIME))
    }

    fn precision(&self) -> i8 {
        // clock_gettime resolves nanoseconds; a read costs tens of ns, so ~2^-24 s.
        -24
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        let target = self.now() + offset;
        let (secs, nanos) = target.to_unix();
        let ts = libc::timespec {
            tv_sec: secs,
            tv_nsec: i64::from(nanos),
        };
        self.kernel.settime(&ts)?;
        self.keep_status(true);
        Ok(())
    }

    fn slew(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        // adjtime(2) semantics (the kernel's single-shot offset, in microseconds, slewed
        // at 500 PPM and replacing what is left of the previous one): the daemon's own
        // PLL hands over a slice every second, as classic's `adj_host_clock` does.
        let micros = ((offset.to_nanos() + offset.to_nanos().signum() * 500) / 1000)
            .clamp(-500_000_000, 500_000_000);
        self.adjust(|tx| {
            tx.modes = libc::ADJ_OFFSET_SINGLESHOT;
            tx.offset = micros;
        })?;
        self.keep_status(false);
        Ok(())
    }

    fn set_frequency(&mut self, freq: Ppm) -> Result<(), ClockError> {
        let freq = freq.0.clamp(-FREQUENCY_LIMIT.0, FREQUENCY_LIMIT.0);
        self.set_rate(freq, self.slew_rate)
    }

    fn set_slew_rate(&mut self, rate: Ppm) -> Result<(), ClockError> {
        let rate = rate.0.clamp(-SLEW_RATE_LIMIT.0, SLEW_RATE_LIMIT.0);
        let freq = match self.frequency {
            Some(f) => f,
            None => self.frequency()?.0,
        };
        self.set_rate(freq, rate)
    }

    fn frequency(&self) -> Result<Ppm, ClockError> {
        let tx = self.kernel.read()?;
        let hz = self.kernel.user_hz().max(1);
        let from_tick = (tx.tick - 1_000_000 / hz) * hz;
        Ok(Ppm(
            from_tick as f64 + tx.freq as f64 / SCALED_PPM - self.slew_rate
        ))
    }

    fn set_status(&mut self, status: ClockStatus) -> Result<(), ClockError> {
        self.write_status(status)?;
        let now = self.mono();
        self.reported = Some(Reported {
            status,
            given: now,
            asserted: now,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntptime_requests_and_answers_keep_their_fields() {
        let adjust = KernelAdjust {
            modes: 0x3,
            offset: -250,
            freq: 819_200,
            ..KernelAdjust::default()
        };
        let tx = adjust.to_timex();
        assert_eq!(
            (tx.modes, tx.offset, tx.freq, tx.status),
            (0x3, -250, 819_200, 0)
        );
        let mut answer = zeroed_timex();
        answer.status = 0x2001;
        answer.time.tv_usec = 71_129_000;
        answer.tai = 37;
        let k = KernelTimex::from_timex(5, &answer);
        assert_eq!(
            (k.state, k.settable.status, k.time_frac, k.tai),
            (5, 0x2001, 71_129_000, 37)
        );
    }

    /// The read ntptime makes without options (modes 0): it changes nothing.
    #[test]
    fn reading_the_kernel_state() {
        let k = ntp_adjtime(&KernelAdjust::default()).expect("read-only ntp_adjtime");
        assert!((0..=5).contains(&k.state), "{k:?}");
        assert_eq!(k.settable.modes, 0);
    }

    /// Records what would have been asked of the kernel and keeps the tick and frequency
    /// as the kernel would; the real clock is never touched.
    struct FakeKernel {
        now: i64,
        set: Vec<(i64, i64)>,
        adjusted: Vec<libc::timex>,
        deny: bool,
        /// The kernel's tick and frequency (scaled PPM).
        state: (i64, i64),
    }

    impl Default for FakeKernel {
        fn default() -> Self {
            FakeKernel {
                now: 0,
                set: Vec::new(),
                adjusted: Vec::new(),
                deny: false,
                // Left by an earlier daemon: -21 PPM.
                state: (10_000, -21 * 65_536),
            }
        }
    }

    impl Kernel for FakeKernel {
        fn user_hz(&self) -> i64 {
            100
        }
        fn gettime(&self, _clock: libc::clockid_t) -> libc::timespec {
            libc::timespec {
                tv_sec: self.now,
                tv_nsec: 250_000_000,
            }
        }
        fn settime(&mut self, ts: &libc::timespec) -> Result<(), ClockError> {
            if self.deny {
                return Err(ClockError::NotPermitted);
            }
            self.set.push((ts.tv_sec, ts.tv_nsec));
            Ok(())
        }
        fn adjtime(&mut self, tx: &mut libc::timex) -> Result<i32, ClockError> {
            if self.deny {
                return Err(ClockError::NotPermitted);
            }
            if tx.modes & libc::ADJ_TICK != 0 {
                assert!((9_000..=11_000).contains(&tx.tick), "tick {}", tx.tick);
                self.state.0 = tx.tick;
            }
            if tx.modes & libc::ADJ_FREQUENCY != 0 {
                assert!(tx.freq.abs() <= 500 * 65_536, "freq {}", tx.freq);
                self.state.1 = tx.freq;
            }
            self.adjusted.push(*tx);
            Ok(0)
        }
        fn read(&self) -> Result<libc::timex, ClockError> {
            let mut tx = zeroed_timex();
            (tx.tick, tx.freq) = self.state;
            Ok(tx)
        }
    }

    fn clock() -> SystemClock<FakeKernel> {
        SystemClock::with_kernel(FakeKernel {
            now: 1_700_000_000,
            ..Default::default()
        })
    }

    /// The rate the fake kernel's clock runs at, in PPM.
    fn kernel_rate(c: &SystemClock<FakeKernel>) -> f64 {
        let (tick, freq) = c.kernel().state;
        ((tick - 10_000) * 100) as f64 + freq as f64 / 65_536.0
    }

    #[test]
    fn step_sets_now_plus_offset() {
        let mut c = clock();
        c.step(NtpDuration::from_secs_f64(-0.75)).unwrap();
        let (secs, nanos) = c.kernel().set[0];
        assert_eq!(secs, 1_699_999_999);
        assert!((nanos - 500_000_000).abs() < 10);
    }

    #[test]
    fn slew_is_adjtime_single_shot_in_microseconds() {
        let mut c = clock();
        c.slew(NtpDuration::from_secs_f64(0.002)).unwrap();
        let tx = c.kernel().adjusted[0];
        assert_eq!(tx.modes, libc::ADJ_OFFSET_SINGLESHOT);
        assert_eq!(tx.offset, 2_000);
        c.slew(NtpDuration::from_secs_f64(-0.0000015)).unwrap();
        assert_eq!(c.kernel().adjusted[1].offset, -2);
    }

    #[test]
    fn frequency_in_scaled_ppm_with_the_nominal_tick() {
        let mut c = clock();
        c.set_frequency(Ppm(-12.5)).unwrap();
        let tx = c.kernel().adjusted[0];
        assert_eq!((tx.tick, tx.freq), (10_000, -125 * 65_536 / 10));
        assert_eq!(tx.modes, libc::ADJ_FREQUENCY | libc::ADJ_TICK);
        assert_eq!(c.frequency().unwrap(), Ppm(-12.5));
        c.set_frequency(Ppm(900.0)).unwrap();
        assert_eq!(c.frequency().unwrap(), Ppm(500.0));
    }

    #[test]
    fn slew_rate_goes_into_the_tick_and_leaves_the_frequency() {
        let mut c = clock();
        c.set_frequency(Ppm(-21.0)).unwrap();
        c.set_slew_rate(Ppm(83_333.0)).unwrap();
        // 83 312 PPM: 833 us more per 10 ms tick (83 300 PPM) and 12 PPM of frequency.
        assert_eq!(c.kernel().state, (10_833, 12 * 65_536));
        assert!((kernel_rate(&c) - 83_312.0).abs() < 1e-9);
        assert_eq!(c.frequency().unwrap(), Ppm(-21.0));
        // A new frequency keeps the slew going; ending the slew keeps the frequency.
        c.set_frequency(Ppm(-20.0)).unwrap();
        assert!((kernel_rate(&c) - 83_313.0).abs() < 1e-9);
        c.set_slew_rate(Ppm::ZERO).unwrap();
        assert_eq!(c.kernel().state, (10_000, -20 * 65_536));
    }

    #[test]
    fn slew_rate_is_bounded_by_the_tick_range() {
        let mut c = clock();
        c.set_frequency(Ppm(-500.0)).unwrap();
        c.set_slew_rate(Ppm(-1e6)).unwrap();
        assert!(
            (kernel_rate(&c) + 100_000.0).abs() < 1e-9,
            "{}",
            kernel_rate(&c)
        );
        c.set_frequency(Ppm(500.0)).unwrap();
        c.set_slew_rate(Ppm(1e6)).unwrap();
        assert!(
            (kernel_rate(&c) - 100_000.0).abs() < 1e-9,
            "{}",
            kernel_rate(&c)
        );
    }

    #[test]
    fn slew_before_any_frequency_keeps_the_kernels() {
        let mut c = clock();
        c.set_slew_rate(Ppm(-300.0)).unwrap();
        assert!((kernel_rate(&c) + 321.0).abs() < 1e-9);
        assert_eq!(c.frequency().unwrap(), Ppm(-21.0));
    }

    #[test]
    fn tick_split_for_other_tick_rates() {
        // USER_HZ 1024 (alpha): 976 us ticks, one microsecond is 1024 PPM.
        assert_eq!(tick_and_freq(2_100.0, 1024), (978, 52 * 65_536));
        assert_eq!(tick_and_freq(0.0, 100), (10_000, 0));
        assert_eq!(tick_and_freq(-49.0, 100), (10_000, -49 * 65_536));
        assert_eq!(tick_and_freq(-51.0, 100), (9_999, 49 * 65_536));
    }

    #[test]
    fn status_bits() {
        let mut c = clock();
        let status = ClockStatus {
            leap: Leap::AddSecond,
            synchronized: false,
            estimated_error: NtpDuration::from_secs_f64(0.001),
            maximum_error: NtpDuration::from_secs(20),
        };
        c.set_status(status).unwrap();
        let tx = c.kernel().adjusted[0];
        assert_ne!(tx.status & libc::STA_UNSYNC, 0);
        assert_ne!(tx.status & libc::STA_INS, 0);
        assert_eq!(tx.esterror, 1000);
        assert_eq!(tx.maxerror, 16_000_000);
    }

    fn synchronised(maxerror_ms: f64) -> ClockStatus {
        ClockStatus {
            leap: Leap::NoWarning,
            synchronized: true,
            estimated_error: NtpDuration::from_secs_f64(0.0002),
            maximum_error: NtpDuration::from_secs_f64(maxerror_ms / 1e3),
        }
    }

    /// The status calls the kernel saw, as (STA_UNSYNC set, esterror, maxerror).
    fn statuses(c: &SystemClock<FakeKernel>) -> Vec<(bool, i64, i64)> {
        c.kernel()
            .adjusted
            .iter()
            .filter(|tx| tx.modes & libc::ADJ_STATUS != 0)
            .map(|tx| (tx.status & libc::STA_UNSYNC != 0, tx.esterror, tx.maxerror))
            .collect()
    }

    #[test]
    fn synchronised_status_stays_fresh_while_the_discipline_runs() {
        let mut c = clock();
        c.set_status(synchronised(10.0)).unwrap();
        // Within the refresh interval the kernel hears nothing more about the status.
        c.kernel.now += 15;
        c.slew(NtpDuration::from_secs_f64(0.0001)).unwrap();
        assert_eq!(statuses(&c), [(false, 200, 10_000)]);
        // Later, the status is asserted again with maxerror grown at PHI (15 us/s) since
        // it was given, where the kernel's own would have grown 500 us/s.
        c.kernel.now += 85;
        c.set_frequency(Ppm(1.0)).unwrap();
        assert_eq!(statuses(&c)[1], (false, 200, 11_500));
        c.kernel.now += 20;
        c.slew(NtpDuration::ZERO).unwrap();
        assert_eq!(statuses(&c)[2], (false, 200, 11_800));
        // A day later, STA_UNSYNC is still clear and maxerror far from the 16 s limit.
        for _ in 0..5400 {
            c.kernel.now += 16;
            c.slew(NtpDuration::ZERO).unwrap();
        }
        let last = *statuses(&c).last().unwrap();
        assert_eq!(last, (false, 200, 10_000 + 15 * 86_520));
    }

    #[test]
    fn a_step_is_followed_by_the_status_the_kernel_cleared() {
        let mut c = clock();
        c.set_status(synchronised(5.0)).unwrap();
        c.kernel.now += 2;
        c.step(NtpDuration::from_secs_f64(0.2)).unwrap();
        assert_eq!(statuses(&c), [(false, 200, 5_000), (false, 200, 5_030)]);
    }

    #[test]
    fn unsynchronised_status_is_left_alone() {
        let mut c = clock();
        let unsync = ClockStatus {
            synchronized: false,
            ..synchronised(16_000.0)
        };
        c.set_status(unsync).unwrap();
        c.kernel.now += 1000;
        c.step(NtpDuration::ONE_SECOND).unwrap();
        c.slew(NtpDuration::ZERO).unwrap();
        assert_eq!(statuses(&c), [(true, 200, 16_000_000)]);
    }

    #[test]
    fn refusal_is_reported_not_fatal() {
        let mut c = SystemClock::with_kernel(FakeKernel {
            deny: true,
            ..Default::default()
        });
        assert_eq!(
            c.step(NtpDuration::ONE_SECOND),
            Err(ClockError::NotPermitted)
        );
        assert_eq!(
            c.slew(NtpDuration::ONE_SECOND),
            Err(ClockError::NotPermitted)
        );
    }

    #[test]
    fn kernel_timestamps_are_readings_of_the_system_clock() {
        let stamp = NtpTimestamp::from_unix(1_700_000_000, 123_456_789);
        assert_eq!(clock().at_realtime(stamp), stamp);
    }

    #[test]
    fn real_kernel_reads_only() {
        let c = SystemClock::new();
        let (secs, _) = c.now().to_unix();
        assert!(secs > 1_600_000_000);
        assert!(c.frequency().is_ok());
        assert!(c.kernel().user_hz() > 0);
        let mono = c.mono();
        assert!(mono > Duration::ZERO);
        assert!(c.boottime() >= mono);
    }
}
