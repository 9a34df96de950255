//! Each source's current [`Reason`] (why it is, or is not, the system peer), as mode 6,
//! the metrics and the log read it, and the log's side: a change is said once, at most
//! [`SAY_BURST`] times per source in [`SAY_WINDOW`], so a source flapping between two
//! reasons cannot flood the log.

use super::{AssocId, Engine, Event, Source};
use crate::assoc::reason::{refclock_reason, Context};
use crate::assoc::Reason;
use crate::clock::Clock;
use std::time::Duration;

/// Lines about one source allowed per window.
pub const SAY_BURST: u32 = 4;
pub const SAY_WINDOW: Duration = Duration::from_secs(600);

/// What was said about one source.
#[derive(Clone, Debug, PartialEq)]
struct Said {
    id: AssocId,
    /// The reason's kind last said ([`Reason::code`]): numbers may change, kinds are news.
    code: &'static str,
    window_start: Duration,
    lines: u32,
}

/// The log's memory of the reasons said, per source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasonLog {
    said: Vec<Said>,
}

impl ReasonLog {
    /// Whether `reason` of source `id` is to be said at monotonic `now` (and notes it).
    /// Transient start-up states are never said; a kind already said is not said again;
    /// a change over the budget waits for the next window.
    pub fn should_say(&mut self, id: AssocId, reason: &Reason, now: Duration) -> bool {
        if reason.is_transient() {
            return false;
        }
        let code = reason.code();
        let entry = match self.said.iter().position(|s| s.id == id) {
            Some(i) => &mut self.said[i],
            None => {
                self.said.push(Said {
                    id,
                    code,
                    window_start: now,
                    lines: 1,
                });
                return true;
            }
        };
        if entry.code == code {
            return false;
        }
        if now.saturating_sub(entry.window_start) >= SAY_WINDOW {
            entry.window_start = now;
            entry.lines = 0;
        }
        if entry.lines >= SAY_BURST {
            return false;
        }
        entry.lines += 1;
        entry.code = code;
        true
    }

    /// Forgets sources that are gone.
    pub fn retain(&mut self, alive: &[AssocId]) {
        self.said.retain(|s| alive.contains(&s.id));
    }
}

impl<C: Clock> Engine<C> {
    /// What a network source's reason depends on besides itself, as of now.
    fn reason_context(&self) -> Context<'_> {
        let now = self.clock.mono();
        let sys = self.system.vars;
        let tos = self.system.tos;
        let peers = self.sources.network();
        let fit = peers
            .iter()
            .filter(|p| p.assoc.unfit(now, &sys, &tos, &self.own_refids) == 0)
            .count();
        let answering = peers.iter().filter(|p| p.assoc.reach() != 0).count();
        let network_peer = sys
            .peer
            .is_some_and(|id| peers.iter().any(|p| p.assoc.id() == id));
        Context {
            now,
            tos,
            sys,
            own_refids: &self.own_refids,
            fit,
            answering,
            network_peer,
        }
    }

    /// The reason of `source` (`id`) in context `ctx`.
    fn reason_of(&self, id: AssocId, source: Source<'_>, ctx: &Context<'_>) -> Reason {
        match source {
            Source::Network(p) => p.assoc.reason(ctx),
            Source::Local(l) => {
                let synced = self.system.vars.synchronized();
                let peer = synced && self.system.vars.peer == Some(id.selection_id());
                refclock_reason(peer, l.reach != 0)
            }
            Source::Device(d) => {
                let synced = self.system.vars.synchronized();
                let peer = synced && self.system.vars.peer == Some(id.selection_id());
                refclock_reason(peer, d.reach != 0)
            }
        }
    }

    /// Every source's current reason, in ntpq's order.
    pub fn reasons(&self) -> Vec<(AssocId, Reason)> {
        let ctx = self.reason_context();
        self.sources
            .iter()
            .map(|(id, s)| (id, self.reason_of(id, s, &ctx)))
            .collect()
    }

    /// The current reason of source `id`.
    pub fn reason(&self, id: AssocId) -> Option<Reason> {
        let source = self.sources.get(id)?;
        Some(self.reason_of(id, source, &self.reason_context()))
    }

    /// Once a second: says each source's reason that changed (within the log's budget).
    pub(super) fn say_reasons(&mut self, now: Duration) {
        let reasons = self.reasons();
        let alive: Vec<AssocId> = reasons.iter().map(|(id, _)| *id).collect();
        self.reason_log.retain(&alive);
        for (id, reason) in reasons {
            if !self.reason_log.should_say(id, &reason, now) {
                continue;
            }
            let source = self
                .sources
                .name(id.selection_id())
                .unwrap_or_else(|| id.to_string());
            self.actions
                .push(super::Action::Event(Event::SourceReason { source, reason }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpDuration;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_change_of_kind_is_said_once() {
        let mut log = ReasonLog::default();
        let id = AssocId(7);
        let far = |d: f64| Reason::Distance {
            distance: NtpDuration::from_secs_f64(d),
            max: NtpDuration::from_secs_f64(1.5),
        };
        assert!(!log.should_say(id, &Reason::Waiting, secs(0)));
        assert!(log.should_say(id, &far(3.03), secs(2)));
        assert!(!log.should_say(id, &far(3.04), secs(3)), "same kind");
        assert!(!log.should_say(id, &Reason::Pending, secs(4)), "transient");
        assert!(log.should_say(id, &Reason::SystemPeer, secs(70)));
        assert!(!log.should_say(id, &Reason::SystemPeer, secs(71)));
        assert!(log.should_say(AssocId(8), &Reason::SystemPeer, secs(71)));
    }

    #[test]
    fn flapping_is_bounded_per_window() {
        let mut log = ReasonLog::default();
        let id = AssocId(7);
        let flap = [Reason::SystemPeer, Reason::Outlier];
        let said = (0..100u64)
            .filter(|t| log.should_say(id, &flap[(*t % 2) as usize], secs(*t)))
            .count();
        assert_eq!(said, SAY_BURST as usize);
        // The last said was Outlier (t = 3); the next window says the change at once.
        assert!(log.should_say(id, &Reason::SystemPeer, secs(700)));
        log.retain(&[]);
        assert!(log.should_say(id, &Reason::SystemPeer, secs(701)));
    }
}
