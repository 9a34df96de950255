//! Events the daemon handles on its own and explains in the log, in words: a resume from
//! suspend or a clock jump it did not make (both: poll every source anew and step at
//! once), another program steering the clock, the loss of every source (holdover on the
//! learned frequency), a sudden change of the oscillator's frequency, and a server that
//! restarted. The engine hands them to the shell as [`super::Action::Event`]; the
//! [`ClockWatch`] notices the first three from the clock's own readings.

use crate::assoc::Reason;
use crate::time::{NtpDuration, NtpTimestamp, Ppm};
use crate::wire::ntp::Leap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Boot time running this much ahead of monotonic time means the system was suspended.
const MIN_SUSPEND: f64 = 1.0;
/// How fast the clock may run off monotonic time under our own steering: the frequency
/// correction plus the fastest slew (Linux's frequency and tick adjustments reach 10%).
const MAX_STEERING_RATE: f64 = 0.1;
/// Reading noise allowed on top of that (seconds).
const JUMP_FLOOR: f64 = 0.01;
/// A kernel frequency this far from ours (PPM) was set by someone else.
const FREQUENCY_TOLERANCE: f64 = 0.01;
/// Interference is reported at most this often while it goes on.
const INTERFERENCE_REPEAT: Duration = Duration::from_secs(3600);

/// Something the daemon noticed and acted on.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// CLOCK_BOOTTIME ran `slept` ahead of CLOCK_MONOTONIC: the system was suspended.
    Resumed { slept: Duration },
    /// The clock moved `by` against monotonic time beyond what our steering can do.
    ClockJumped { by: NtpDuration },
    /// The kernel's frequency is not the one we set: another program steers the clock.
    Interference { ours: Ppm, found: Ppm },
    /// No source survives selection any more; the clock keeps the learned frequency.
    Holdover { frequency: Ppm },
    /// A source was selected again after `lasted` of holdover.
    HoldoverEnded { lasted: Duration },
    /// The discipline's frequency left where it stood within minutes: the oscillator's
    /// frequency changed, by `by` or more (said as soon as it shows); the discipline
    /// follows it.
    FrequencyChanged { by: Ppm },
    /// A source that served synchronised time answers unsynchronised (it restarted or
    /// lost its own sources); it is polled at its shortest interval until it is back.
    SourceUnsynchronised { addr: IpAddr },
    /// The reason a source is (or is not) the system peer changed.
    SourceReason { source: String, reason: Reason },
}

impl Event {
    /// Writes the event to the log, at warning level for what needs an operator's eye;
    /// the others in classic's `logconfig` classes: why a source is (or is not) followed
    /// is `sync` status (as "synchronized to"), a source's own news a `peer` event, the
    /// clock's a `sync` event.
    pub fn log(&self) {
        use crate::logclass::{PEER_EVENTS, SYNC_EVENTS, SYNC_STATUS};
        match self {
            Event::Interference { .. } | Event::Holdover { .. } => log::warn!("{self}"),
            Event::SourceReason { reason, .. } if !reason.is_used() => log::warn!("{self}"),
            Event::SourceReason { .. } => log::info!(target: SYNC_STATUS, "{self}"),
            Event::SourceUnsynchronised { .. } => log::info!(target: PEER_EVENTS, "{self}"),
            _ => log::info!(target: SYNC_EVENTS, "{self}"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ANEW: &str = "polling every source anew, stepping at once if needed";
        match self {
            Event::Resumed { slept } => write!(
                f,
                "system resumed after {:.0} s asleep (boot time ran ahead of monotonic time); {ANEW}",
                slept.as_secs_f64()
            ),
            Event::ClockJumped { by } => write!(
                f,
                "clock jumped {:+.6} s without ntpd doing it (virtual machine resumed, or set by another program); {ANEW}",
                by.to_secs_f64()
            ),
            Event::Interference { ours, found } => write!(
                f,
                "clock interference: the kernel frequency is {:+.3} PPM, not ours {:+.3} PPM; another program is steering the clock; restoring ours",
                found.0, ours.0
            ),
            Event::Holdover { frequency } => write!(
                f,
                "all sources lost; holding the clock on its learned frequency {:+.3} PPM",
                frequency.0
            ),
            Event::HoldoverEnded { lasted } => write!(
                f,
                "holdover ended after {:.0} s: a source is selected again",
                lasted.as_secs_f64()
            ),
            Event::FrequencyChanged { by } => write!(
                f,
                "clock frequency changed by {:+.1} PPM or more (oscillator); following it",
                by.0
            ),
            Event::SourceUnsynchronised { addr } => write!(
                f,
                "{addr} answers unsynchronised (restarted, or lost its sources); polling it every minpoll until it is synchronised again"
            ),
            Event::SourceReason { source, reason } => write!(f, "{source}: {reason}"),
        }
    }
}

/// One reading of the clock against monotonic and boot time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub mono: Duration,
    pub boot: Duration,
    pub now: NtpTimestamp,
}

/// Notices, from successive readings, what happened to the clock behind our back.
#[derive(Clone, Debug, Default)]
pub struct ClockWatch {
    last: Option<Reading>,
    /// The kernel frequency as our own last command left it.
    frequency: Option<Ppm>,
    interference_said: Option<Duration>,
}

impl ClockWatch {
    /// Compares `r` with the last reading: a suspend, or a jump our steering cannot
    /// explain. The kernel inserting or deleting the leap second it was armed with
    /// (`leap`) is no such jump.
    pub fn check_time(&mut self, r: Reading, leap: Leap) -> Option<Event> {
        let last = self.last.replace(r)?;
        let mono = r.mono.saturating_sub(last.mono);
        let boot = r.boot.saturating_sub(last.boot);
        let slept = boot.saturating_sub(mono);
        if slept.as_secs_f64() >= MIN_SUSPEND {
            return Some(Event::Resumed { slept });
        }
        let elapsed = boot.as_secs_f64();
        let tolerance = elapsed * MAX_STEERING_RATE + JUMP_FLOOR;
        let jump = (r.now - last.now).to_secs_f64() - elapsed;
        let leap_second = match leap {
            Leap::AddSecond => -1.0,
            Leap::DelSecond => 1.0,
            Leap::NoWarning | Leap::Unsync => 0.0,
        };
        let explained = [0.0, leap_second]
            .iter()
            .any(|ours| (jump - ours).abs() <= tolerance);
        (!explained).then(|| Event::ClockJumped {
            by: NtpDuration::from_secs_f64(jump),
        })
    }

    /// Takes `r` as the new reference after we stepped the clock ourselves.
    pub fn rebase(&mut self, r: Reading) {
        self.last = Some(r);
    }

    /// Records the kernel frequency our own command left.
    pub fn expect_frequency(&mut self, freq: Ppm) {
        self.frequency = Some(freq);
    }

    /// Compares the kernel frequency `found` at monotonic time `now` with ours; on
    /// interference, ours to restore and the event to log (once an hour while it goes on).
    pub fn check_frequency(&mut self, found: Ppm, now: Duration) -> Option<(Ppm, Option<Event>)> {
        let ours = self.frequency?;
        if (found.0 - ours.0).abs() <= FREQUENCY_TOLERANCE {
            return None;
        }
        let quiet = self
            .interference_said
            .is_some_and(|said| now < said + INTERFERENCE_REPEAT);
        if !quiet {
            self.interference_said = Some(now);
        }
        Some((
            ours,
            (!quiet).then_some(Event::Interference { ours, found }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(mono: f64, boot: f64, now: f64) -> Reading {
        Reading {
            mono: Duration::from_secs_f64(mono),
            boot: Duration::from_secs_f64(boot),
            now: NtpTimestamp::from_unix(1_700_000_000, 0) + NtpDuration::from_secs_f64(now),
        }
    }

    #[test]
    fn a_suspend_shows_as_boot_time_running_ahead() {
        let mut w = ClockWatch::default();
        assert_eq!(
            w.check_time(reading(10.0, 10.0, 10.0), Leap::NoWarning),
            None
        );
        assert_eq!(
            w.check_time(reading(11.0, 11.0, 11.0), Leap::NoWarning),
            None
        );
        let resumed = w.check_time(reading(12.0, 3612.0, 3612.4), Leap::NoWarning);
        assert_eq!(
            resumed,
            Some(Event::Resumed {
                slept: Duration::from_secs(3600)
            })
        );
        assert_eq!(
            w.check_time(reading(13.0, 3613.0, 3613.4), Leap::NoWarning),
            None
        );
    }

    #[test]
    fn a_jump_beyond_our_steering_is_noticed() {
        let mut w = ClockWatch::default();
        w.check_time(reading(10.0, 10.0, 10.0), Leap::NoWarning);
        // 500 PPM of slew and a fast slew of 50 ms/s are our own doing.
        assert_eq!(
            w.check_time(reading(11.0, 11.0, 11.0005), Leap::NoWarning),
            None
        );
        assert_eq!(
            w.check_time(reading(12.0, 12.0, 12.0505), Leap::NoWarning),
            None
        );
        let Some(Event::ClockJumped { by }) =
            w.check_time(reading(13.0, 13.0, 12.7505), Leap::NoWarning)
        else {
            panic!("jump not seen");
        };
        assert!((by.to_secs_f64() + 0.3).abs() < 1e-6);
        // After our own step, the new reading is the reference.
        w.rebase(reading(13.5, 13.5, 20.0));
        assert_eq!(
            w.check_time(reading(14.0, 14.0, 20.5), Leap::NoWarning),
            None
        );
    }

    #[test]
    fn the_armed_leap_second_is_no_jump() {
        let mut w = ClockWatch::default();
        w.check_time(reading(10.0, 10.0, 10.0), Leap::AddSecond);
        assert_eq!(
            w.check_time(reading(11.0, 11.0, 10.0), Leap::AddSecond),
            None
        );
        assert!(w
            .check_time(reading(12.0, 12.0, 10.0), Leap::NoWarning)
            .is_some());
    }

    #[test]
    fn interference_is_said_once_an_hour() {
        let mut w = ClockWatch::default();
        assert_eq!(w.check_frequency(Ppm(3.0), Duration::ZERO), None);
        w.expect_frequency(Ppm(-12.5));
        assert_eq!(w.check_frequency(Ppm(-12.505), Duration::ZERO), None);
        let t = Duration::from_secs(100);
        let said = Event::Interference {
            ours: Ppm(-12.5),
            found: Ppm(40.0),
        };
        assert_eq!(
            w.check_frequency(Ppm(40.0), t),
            Some((Ppm(-12.5), Some(said.clone())))
        );
        let again = t + Duration::from_secs(5);
        assert_eq!(
            w.check_frequency(Ppm(40.0), again),
            Some((Ppm(-12.5), None))
        );
        let later = t + Duration::from_secs(3601);
        assert_eq!(
            w.check_frequency(Ppm(40.0), later),
            Some((Ppm(-12.5), Some(said)))
        );
    }

    #[test]
    fn events_read_as_sentences() {
        let said = [
            (
                Event::Resumed {
                    slept: Duration::from_secs(3600),
                },
                "system resumed after 3600 s asleep (boot time ran ahead of monotonic time); \
                 polling every source anew, stepping at once if needed",
            ),
            (
                Event::ClockJumped {
                    by: NtpDuration::from_secs_f64(-0.5),
                },
                "clock jumped -0.500000 s without ntpd doing it (virtual machine resumed, or \
                 set by another program); polling every source anew, stepping at once if needed",
            ),
            (
                Event::Interference {
                    ours: Ppm(-12.5),
                    found: Ppm(40.0),
                },
                "clock interference: the kernel frequency is +40.000 PPM, not ours -12.500 \
                 PPM; another program is steering the clock; restoring ours",
            ),
            (
                Event::Holdover {
                    frequency: Ppm(-20.0),
                },
                "all sources lost; holding the clock on its learned frequency -20.000 PPM",
            ),
            (
                Event::HoldoverEnded {
                    lasted: Duration::from_secs(600),
                },
                "holdover ended after 600 s: a source is selected again",
            ),
            (
                Event::FrequencyChanged { by: Ppm(1.04) },
                "clock frequency changed by +1.0 PPM or more (oscillator); following it",
            ),
            (
                Event::SourceUnsynchronised {
                    addr: "192.0.2.1".parse().unwrap(),
                },
                "192.0.2.1 answers unsynchronised (restarted, or lost its sources); polling it \
                 every minpoll until it is synchronised again",
            ),
            (
                Event::SourceReason {
                    source: "192.0.2.1".into(),
                    reason: Reason::Distance {
                        distance: NtpDuration::from_secs_f64(3.034),
                        max: NtpDuration::from_secs_f64(1.5),
                    },
                },
                "192.0.2.1: root distance 3.03 s exceeds maxdist 1.50 s (raise it with 'tos maxdist')",
            ),
        ];
        for (event, text) in said {
            assert_eq!(event.to_string(), text);
        }
    }
}
