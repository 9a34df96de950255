//! The engine's host-facing extras: statistics records for the shell to write (loopstats
//! after each clock update, peerstats after each new sample of a source, LOCAL drivers
//! included, as classic's `clock_filter` does), and the `leapfile`: announcing a coming
//! leap second in the leap indicator, arming the kernel during its last day, and saying
//! once when the list expires.

use super::control_view::View;
use super::{Action, AssocId, Engine};
use crate::clock::Clock;
use crate::control::ControlState;
use crate::discipline::loopfilter::Outcome;
use crate::discipline::system::SystemUpdate;
use crate::leap::{self, LeapTable};
use crate::stats::{LoopStats, PeerStats, Record};
use crate::time::NtpTimestamp;
use crate::wire::ntp::Leap;

/// What the kernel is told about a leap at `t`: from the leap file, the coming leap during
/// its last day; without one, the upstream's warning, but only on the last day of a month
/// (leaps happen only at a month's end, and the kernel acts at the end of the current day).
pub fn kernel_leap(table: Option<&LeapTable>, upstream: Leap, t: NtpTimestamp) -> Leap {
    match (table, upstream) {
        (Some(table), _) => table.kernel_at(t),
        (None, Leap::AddSecond | Leap::DelSecond) if last_day_of_month(t) => upstream,
        _ => Leap::NoWarning,
    }
}

fn last_day_of_month(t: NtpTimestamp) -> bool {
    let (unix, _) = t.to_unix();
    crate::time::civil::Civil::from_unix(unix + 86_400).day == 1
}

impl<C: Clock> Engine<C> {
    /// After a selection round: the loopstats record of a clock update, and the leap
    /// file's say over the leap indicator (the round may have taken the upstream's).
    pub(super) fn after_update(&mut self, update: &SystemUpdate) {
        if self.settings.stats && matches!(update.outcome, Some(Outcome::Slewed | Outcome::Stepped))
        {
            let d = &self.system.discipline;
            let record = Record::Loop(LoopStats {
                offset: d.offset(),
                frequency: d.frequency(),
                jitter: d.jitter(),
                wander: d.wander(),
                poll: self.system.vars.poll.0,
            });
            self.actions.push(Action::Stats(record));
        }
        self.announce_leap();
    }

    /// A peerstats record for association `assoc_id` after a new sample.
    pub(super) fn record_peer(&mut self, assoc_id: AssocId) {
        if !self.settings.stats {
            return;
        }
        let view = View {
            engine: self,
            now: self.clock.now(),
        };
        let Some(vars) = view.peer(assoc_id.0) else {
            return;
        };
        self.actions.push(Action::Stats(Record::Peer(PeerStats {
            addr: vars.srcadr.ip(),
            status: vars.status.word(),
            offset: vars.offset,
            delay: vars.delay,
            dispersion: vars.dispersion,
            jitter: vars.jitter,
        })));
    }

    /// Once a second: keep the indicator and the kernel in step with the clock's progress
    /// towards a leap, and note an expiring list.
    pub(super) fn leap_tick(&mut self) {
        self.announce_leap();
        let now = self.clock.now();
        if let Some(table) = &self.settings.leap_table {
            if !self.leap_expired && table.expired_at(now) {
                self.leap_expired = true;
                let days = (leap::ntp_seconds(now) - table.expires) / 86_400;
                log::warn!("leapsecond file expired {days} days ago; it may be missing a leap second, install a current leap-seconds.list");
            }
        }
        if self.system.vars.synchronized() && self.kernel_leap_now() != self.kernel_leap {
            self.report_status();
        }
    }

    /// While synchronised, a leap the file says is less than 28 days away is announced.
    fn announce_leap(&mut self) {
        let Some(table) = &self.settings.leap_table else {
            return;
        };
        if !self.system.vars.synchronized() {
            return;
        }
        let indicator = table.indicator_at(self.clock.now());
        if indicator != Leap::NoWarning {
            self.system.vars.leap = indicator;
        }
    }

    /// The leap the kernel should be armed with now.
    pub(super) fn kernel_leap_now(&self) -> Leap {
        kernel_leap(
            self.settings.leap_table.as_ref(),
            self.system.vars.leap,
            self.clock.now(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::UNIX_EPOCH_NTP_SECS;

    fn at(ntp: i64) -> NtpTimestamp {
        NtpTimestamp::from_unix(ntp - UNIX_EPOCH_NTP_SECS as i64, 0)
    }

    #[test]
    fn kernel_is_armed_only_on_the_last_day() {
        // 2017-01-01 00:00 UTC was a leap (3692217600).
        let table = LeapTable::parse(b"#@ 3800000000\n3644697600 36\n3692217600 37\n").unwrap();
        let leap = 3_692_217_600;
        assert_eq!(
            kernel_leap(Some(&table), Leap::NoWarning, at(leap - 3600)),
            Leap::AddSecond
        );
        assert_eq!(
            kernel_leap(Some(&table), Leap::AddSecond, at(leap - 86_400 * 3)),
            Leap::NoWarning
        );
        // Without a file: the upstream's word, on 2016-12-31 but not on 2016-12-30.
        assert_eq!(
            kernel_leap(None, Leap::AddSecond, at(leap - 3600)),
            Leap::AddSecond
        );
        assert_eq!(
            kernel_leap(None, Leap::AddSecond, at(leap - 86_400 - 3600)),
            Leap::NoWarning
        );
        assert_eq!(
            kernel_leap(None, Leap::NoWarning, at(leap - 3600)),
            Leap::NoWarning
        );
    }
}
