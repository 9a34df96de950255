//! How the engine handles what happens behind its back, within seconds, saying so in the
//! log ([`Event`]): after a suspend or a clock jump every source is polled anew and the
//! next offset above the step threshold is stepped at once (no stepout wait, no panic
//! limit: we saw the clock move); another program's frequency is replaced by ours; the
//! loss of every source and a source's return are said; a sudden change of the
//! oscillator's frequency restarts its measurement at the shortest poll; a source that
//! turns unsynchronised (a server restarting) is polled at its shortest interval so it is
//! back within a minute of having synchronised again.

use super::events::{Event, Reading};
use super::{Action, AssocId, Engine};
use crate::assoc::{Flash, Received};
use crate::clock::Clock;
use crate::discipline::loopfilter::{ClockCommand, ClockState, LoopConfig, LoopFilter, Outcome};
use crate::discipline::system::SystemUpdate;
use crate::time::{NtpDuration, Ppm};
use crate::wire::ntp::{Leap, RefId};
use std::time::Duration;

/// An offset within this many clock jitters of what the discipline expects is on its
/// line.
const ON_LINE_JITTERS: f64 = 4.0;
/// An offset this many clock jitters off the discipline's line, in SYNC, right after one
/// on it, means the oscillator's frequency changed.
const FREQUENCY_CHANGE_JITTERS: f64 = 10.0;
/// ... and at least this large (seconds): smaller ones the discipline follows anyway.
const FREQUENCY_CHANGE_FLOOR: f64 = 0.001;
/// ... over at least the shortest poll interval (so the rate is a measure, not noise).
const MIN_FREQUENCY_SPAN: Duration = Duration::from_secs(64);

/// The discipline's last update, for telling a frequency change from its own settling.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LastUpdate {
    at: Option<Duration>,
    on_line: bool,
}

/// What the discipline looked like before a selection round.
#[derive(Clone, Copy, Debug)]
pub(super) struct Before {
    peer: Option<u32>,
    state: ClockState,
    jitter: NtpDuration,
    expected: NtpDuration,
}

impl<C: Clock> Engine<C> {
    fn event(&mut self, event: Event) {
        self.actions.push(Action::Event(event));
    }

    fn reading(&self) -> Reading {
        Reading {
            mono: self.clock.mono(),
            boot: self.clock.boottime(),
            now: self.clock.now(),
        }
    }

    /// After clock commands of our own: the watch takes the clock as we left it.
    pub(super) fn steered(&mut self, commands: &[ClockCommand]) {
        if commands.iter().any(|c| matches!(c, ClockCommand::Step(_))) {
            self.watch.rebase(self.reading());
        }
        if let Ok(freq) = self.clock.frequency() {
            self.watch.expect_frequency(freq);
        }
    }

    /// Once a second, before our own slice: what happened to the clock since the last
    /// look.
    pub(super) fn watch_clock(&mut self, now: Duration) {
        let reading = self.reading();
        if let Some(event) = self.watch.check_time(reading, self.kernel_leap) {
            self.event(event);
            self.resynchronise(now);
        }
        if !self.settings.steer_clock || self.clock_refused {
            return;
        }
        let Ok(found) = self.clock.frequency() else {
            return;
        };
        if let Some((ours, event)) = self.watch.check_frequency(found, now) {
            if let Some(event) = event {
                self.event(event);
            }
            self.apply(ClockCommand::SetFrequency(ours));
            self.steered(&[]);
        }
    }

    /// After a resume or a jump: every association starts over (a new burst where
    /// iburst is configured), and the discipline keeps a learned frequency but forgets
    /// phase and trend, so it steps the next offset above the step threshold at once.
    fn resynchronise(&mut self, now: Duration) {
        for assoc in self.sources.network_mut().assocs_mut() {
            assoc.clear(RefId::from_ascii("STEP"), now);
        }
        let config = LoopConfig {
            allow_panic: true,
            ..self.settings.loop_config
        };
        self.restart_discipline(config, now);
    }

    /// A new discipline with the learned frequency (if it was learned), at the shortest
    /// time constant.
    fn restart_discipline(&mut self, config: LoopConfig, now: Duration) {
        let old = &self.system.discipline;
        let learned = !matches!(old.state(), ClockState::Nset | ClockState::Freq);
        let (fresh, command) = LoopFilter::new(
            config,
            learned.then(|| old.frequency()),
            self.clock.precision(),
            now,
        );
        self.system.vars.poll = fresh.poll();
        self.system.discipline = fresh;
        self.apply(command);
        self.steered(&[command]);
    }

    /// The discipline before a selection round, for [`Engine::after_round`].
    pub(super) fn before_round(&self) -> Before {
        Before {
            peer: self.system.vars.peer,
            state: self.system.discipline.state(),
            jitter: self.system.discipline.jitter(),
            expected: self.system.discipline.expected_offset(),
        }
    }

    /// After a selection round: holdover begins (no source is fit any more) or ends; an
    /// update far off the line means the oscillator's frequency changed.
    pub(super) fn after_round(&mut self, before: Before, update: &SystemUpdate, now: Duration) {
        let vars = self.system.vars;
        let none_fit = update.status.is_empty();
        if before.peer.is_some() && vars.peer.is_none() && vars.synchronized() && none_fit {
            self.holdover_since = Some(now);
            let frequency = self.system.discipline.frequency();
            self.event(Event::Holdover { frequency });
        }
        if vars.peer.is_some() {
            if let Some(since) = self.holdover_since.take() {
                let lasted = now.saturating_sub(since);
                self.event(Event::HoldoverEnded { lasted });
            }
        }
        if update.outcome == Some(Outcome::Slewed) {
            self.frequency_change(before, now);
        }
    }

    /// An update off the discipline's line right after one on it, in SYNC with little
    /// phase left to amortise, over at least a minimum poll: the oscillator's frequency
    /// changed.
    fn frequency_change(&mut self, before: Before, now: Duration) {
        let last = self.last_update;
        let surprise = (self.system.vars.offset - before.expected).to_secs_f64();
        let jitter = before.jitter.to_secs_f64();
        self.last_update = LastUpdate {
            at: Some(now),
            on_line: surprise.abs() <= ON_LINE_JITTERS * jitter,
        };
        let Some(elapsed) = last.at.map(|t| now.saturating_sub(t)) else {
            return;
        };
        let limit = (FREQUENCY_CHANGE_JITTERS * jitter).max(FREQUENCY_CHANGE_FLOOR);
        let settled = before.expected.to_secs_f64().abs() < limit;
        if before.state == ClockState::Sync
            && settled
            && last.on_line
            && surprise.abs() > limit
            && elapsed >= MIN_FREQUENCY_SPAN
        {
            let by = Ppm(-surprise / elapsed.as_secs_f64() * 1e6);
            self.event(Event::FrequencyChanged { by });
            self.remeasure_frequency(now);
        }
    }

    /// The discipline starts over from its frequency, and every association polls at
    /// its shortest interval until the new frequency is known.
    fn remeasure_frequency(&mut self, now: Duration) {
        self.restart_discipline(self.settings.loop_config, now);
        let poll = self.system.vars.poll;
        for assoc in self.sources.network_mut().assocs_mut() {
            assoc.set_poll(poll, now);
        }
    }

    /// Before a packet reaches association `id`: whether its source served
    /// synchronised time so far.
    pub(super) fn source_synchronised(&self, id: AssocId) -> bool {
        self.sources.network().by_id(id).is_some_and(|p| {
            let h = p.assoc.peer_header();
            p.assoc.reach() != 0 && h.leap != Leap::Unsync && h.stratum < 16
        })
    }

    /// After it: a synchronised source that answers unsynchronised restarted or lost its
    /// sources. Its earlier samples stay; it is polled at its shortest interval until it
    /// answers synchronised again, so it is back within a minute instead of a poll of up
    /// to 17 minutes. Said once per episode.
    pub(super) fn after_packet(&mut self, id: AssocId, was_synchronised: bool, got: Received) {
        let now = self.clock.mono();
        let Some(peer) = self.sources.network_mut().get_mut(id) else {
            return;
        };
        match got {
            Received::Sample { .. } => self.unsynchronised.retain(|u| *u != id),
            Received::Refused(flash) if was_synchronised && flash.has(Flash::PKT_STRATUM) => {
                let min_poll = peer.assoc.config().min_poll;
                peer.assoc.set_poll(min_poll, now);
                let addr = peer.addr.ip();
                if !self.unsynchronised.contains(&id) {
                    self.unsynchronised.push(id);
                    self.event(Event::SourceUnsynchronised { addr });
                }
            }
            _ => {}
        }
    }
}
