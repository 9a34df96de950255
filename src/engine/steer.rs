//! Carrying out what the discipline decided: clock commands through the [`Clock`] trait
//! (only with `enable ntp`), classic's log lines for steps and panics, the -q exit, and the
//! kernel status word. A kernel refusal (no CAP_SYS_TIME) is said once; serving goes on.

use super::{Action, Engine};
use crate::clock::{Clock, ClockError, ClockStatus};
use crate::discipline::loopfilter::{ClockCommand, Outcome};
use crate::discipline::system::SystemUpdate;
use crate::time::{NtpDuration, Ppm};

impl<C: Clock> Engine<C> {
    /// Applies one clock command, unless `disable ntp` forbids steering.
    pub(super) fn apply(&mut self, cmd: ClockCommand) {
        if !self.settings.steer_clock {
            return;
        }
        let result = match cmd {
            ClockCommand::Step(d) => self.clock.step(d),
            ClockCommand::Slew(d) => self.clock.slew(d),
            ClockCommand::SetFrequency(f) => self.clock.set_frequency(f),
            ClockCommand::SetSlewRate(r) => self.clock.set_slew_rate(r),
        };
        self.note_clock_result(result);
    }

    /// At a clean stop: ends a slew in progress, which the kernel would otherwise go on
    /// applying (up to 8% fast) after the daemon is gone; the frequency correction stays,
    /// as classic leaves it. At most a second's worth of phase is left unslewed.
    pub fn stop(&mut self) {
        if self.system.discipline.slewed().rate != Ppm::ZERO {
            let end = ClockCommand::SetSlewRate(Ppm::ZERO);
            self.apply(end);
            self.steered(&[end]);
        }
    }

    /// The commands of a selection round, then what its outcome means for the daemon.
    pub(super) fn carry_out(&mut self, update: &SystemUpdate) {
        for cmd in &update.commands {
            self.apply(*cmd);
        }
        let correction = update.commands.iter().find_map(|c| match c {
            ClockCommand::Step(d) => Some((true, *d)),
            ClockCommand::Slew(d) => Some((false, *d)),
            ClockCommand::SetFrequency(_) | ClockCommand::SetSlewRate(_) => None,
        });
        match update.outcome {
            Some(Outcome::Stepped) => {
                let step = correction.map_or(NtpDuration::ZERO, |c| c.1);
                log::info!(target: crate::logclass::SYNC_EVENTS, "time reset {:+.6} s", step.to_secs_f64());
            }
            Some(Outcome::Panic { offset, limit }) => {
                log::error!(
                    "time correction of {:.0} seconds exceeds sanity limit ({:.0}); set clock manually to the correct UTC time.",
                    offset.to_secs_f64().abs(),
                    limit.to_secs_f64()
                );
                self.actions.push(Action::Exit {
                    status: 1,
                    message: None,
                });
            }
            Some(Outcome::Exit) => {
                let (stepped, d) = correction.unwrap_or((false, NtpDuration::ZERO));
                let how = if stepped { "set" } else { "slew" };
                let message = format!("ntpd: time {how} {:+.6}s", d.to_secs_f64());
                log::info!("{message}");
                self.actions.push(Action::Exit {
                    status: 0,
                    message: Some(message),
                });
            }
            _ => {}
        }
    }

    /// Tells the kernel whether we are synchronised (when allowed to steer the clock), so
    /// it keeps its error estimates, its leap flag and the RTC (11-minute mode) in step.
    pub(super) fn report_status(&mut self) {
        if !self.settings.steer_clock {
            return;
        }
        self.kernel_leap = self.kernel_leap_now();
        let sys = &self.system.vars;
        let status = ClockStatus {
            leap: self.kernel_leap,
            synchronized: sys.synchronized(),
            estimated_error: sys.jitter,
            maximum_error: sys.root_delay + sys.root_dispersion,
        };
        let result = self.clock.set_status(status);
        self.note_clock_result(result);
    }

    /// Logs a refused clock operation once; the daemon goes on serving time either way.
    fn note_clock_result(&mut self, result: Result<(), ClockError>) {
        if let Err(err) = result {
            if !self.clock_refused {
                log::warn!("kernel refused a clock adjustment: {err}; continuing without steering the clock");
                self.clock_refused = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::control_view::View;
    use super::super::tests::{ask, engine, request};
    use super::super::{Engine, Settings};
    use crate::clock::Clock;
    use crate::control::ControlState;
    use crate::wire::ntp::{Leap, RefId};
    use std::time::Duration;

    /// `disable ntp` as classic (local.txt): LOCAL(0) is the system peer and sets stratum
    /// and refid, but the clock is never stepped or slewed, so leap stays 11 in replies
    /// and in `rv`, and nothing says "synchronized" or "time reset".
    #[test]
    fn disable_ntp_stays_unsynchronised_at_leap_11() {
        let (mono, e) = engine(&[], &[], 0.2);
        let settings = Settings {
            steer_clock: false,
            ..e.settings.clone()
        };
        let mut e = Engine::new(e.clock.clone(), settings);
        for _ in 0..200 {
            mono.advance(Duration::from_secs(1));
            e.handle_timer(&mut |_, _| {});
        }
        assert!(!e.system().synchronized());
        assert!(
            e.system.vars.peer.is_some(),
            "LOCAL(0) stays the system peer"
        );
        let reply = ask(
            &mut e,
            "127.0.0.1:40000",
            &request(0xe3, Default::default()),
        )[0];
        assert_eq!(
            (reply.leap, reply.stratum, reply.reference_id),
            (Leap::Unsync, 11, RefId([127, 127, 1, 0]))
        );
        let view = View {
            engine: &e,
            now: e.clock.now(),
        };
        assert_eq!(
            view.system().status.word(),
            0xc511,
            "leap_alarm, sync_local, 1 event, freq_not_set"
        );
        assert_eq!(view.system().peer, view.associations()[0].0);
    }
}
