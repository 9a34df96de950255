//! How the engine handles what happens behind its back, within seconds, saying so in the
//! log ([`Event`]): after a suspend or a clock jump every source is polled anew and the
//! next offset above the step threshold is stepped at once (no stepout wait, no panic
//! limit: we saw the clock move); another program's frequency is replaced by ours; the
//! loss of every source and a source's return are said; a sudden change of the
//! oscillator's frequency, which the discipline follows by itself, is said; a source that
//! turns unsynchronised (a server restarting) is polled at its shortest interval so it is
//! back within a minute of having synchronised again.

use super::events::{Event, Reading};
use super::{Action, AssocId, Engine};
use crate::assoc::{Flash, Received};
use crate::clock::{Clock, FREQUENCY_LIMIT};
use crate::discipline::loopfilter::{ClockCommand, ClockState, LoopConfig, LoopFilter};
use crate::discipline::system::SystemUpdate;
use crate::time::Ppm;
use crate::wire::ntp::{Leap, RefId};
use std::time::Duration;

/// A frequency correction this far (PPM) from where it stood is a change of the
/// oscillator, not its wander (0.1 PPM/sqrt(h) would take about 100 h to get there).
const FREQUENCY_JUMP: f64 = 1.0;
/// How slowly the reference follows the frequency while no jump is seen: a drift this
/// long is wander.
const FREQUENCY_MEMORY: Duration = Duration::from_secs(3600);
/// After a jump is said, the discipline's settling on the new frequency is the same
/// episode for this long.
const FREQUENCY_EPISODE: Duration = Duration::from_secs(3600);

/// Where the discipline's frequency stood, for telling a jump of the oscillator from its
/// wander.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FrequencyWatch {
    /// The reference (PPM) and when it was last moved.
    reference: Option<(f64, Duration)>,
    /// A jump was said; until then the reference simply follows.
    episode_until: Option<Duration>,
}

/// What the discipline looked like before a selection round.
#[derive(Clone, Copy, Debug)]
pub(super) struct Before {
    peer: Option<u32>,
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
        // The frequency we asked for, not the kernel's now: another program's setting
        // made just before one of our (frequent) slew-rate commands is still interference.
        let ours = commands.iter().rev().find_map(|c| match c {
            ClockCommand::SetFrequency(f) => Some(*f),
            _ => None,
        });
        if let Some(freq) = ours {
            let limit = FREQUENCY_LIMIT.0;
            self.watch
                .expect_frequency(Ppm(freq.0.clamp(-limit, limit)));
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
            let restore = ClockCommand::SetFrequency(ours);
            self.apply(restore);
            self.steered(&[restore]);
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
        self.frequency_watch = FrequencyWatch::default();
        self.apply(command);
        self.steered(&[command]);
    }

    /// The discipline before a selection round, for [`Engine::after_round`].
    pub(super) fn before_round(&self) -> Before {
        Before {
            peer: self.system.vars.peer,
        }
    }

    /// After a selection round: holdover begins (no source is fit any more) or ends; the
    /// discipline's frequency far from where it stood means the oscillator's changed.
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
        if vars.peer.is_some() {
            self.frequency_change(now);
        }
    }

    /// The discipline's frequency far from where it stood: the oscillator's frequency
    /// changed (a VM moved, a temperature jump). The discipline follows by itself (its
    /// fastest-wandering filter takes over); this says it once per episode.
    fn frequency_change(&mut self, now: Duration) {
        if self.system.discipline.state() != ClockState::Sync {
            return;
        }
        let freq = self.system.discipline.frequency().0;
        let watch = &mut self.frequency_watch;
        let Some((reference, at)) = watch.reference else {
            watch.reference = Some((freq, now));
            return;
        };
        if watch.episode_until.is_some_and(|until| now < until) {
            watch.reference = Some((freq, now));
            return;
        }
        if (freq - reference).abs() > FREQUENCY_JUMP {
            watch.reference = Some((freq, now));
            watch.episode_until = Some(now + FREQUENCY_EPISODE);
            // The correction moved against the oscillator.
            let by = Ppm(reference - freq);
            self.event(Event::FrequencyChanged { by });
            return;
        }
        let weight =
            (now.saturating_sub(at).as_secs_f64() / FREQUENCY_MEMORY.as_secs_f64()).min(1.0);
        watch.reference = Some((reference + (freq - reference) * weight, now));
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
