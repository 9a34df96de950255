//! One selection round (classic `clock_select` followed by `clock_update`): every
//! association is judged fit or unfit, the fit ones plus any reference clocks go through
//! the system process, each association learns its selection status, the system peer
//! follows the loop's poll interval, and a step clears every association as classic's
//! `peer_clear("STEP")` does. The daemon and the simulator both run exactly this.
//! One guard goes beyond classic: until a network source is the system peer, the fit
//! sources must be a majority of those answering, so the fastest of several servers
//! cannot set the clock on its own.

use super::Association;
use crate::discipline::loopfilter::Outcome;
use crate::discipline::select::SelectStatus;
use crate::discipline::system::{Contender, SystemProcess, SystemUpdate};
use crate::wire::ntp::RefId;
use std::time::Duration;

/// Runs a round at monotonic time `now`. `extra` are reference-clock contenders (LOCAL);
/// `own_refids` name our own addresses for the loop test. The returned update carries
/// the clock commands for the caller to apply.
pub fn select_round(
    system: &mut SystemProcess,
    assocs: &mut [&mut Association],
    extra: &[Contender],
    own_refids: &[RefId],
    now: Duration,
) -> SystemUpdate {
    let vars = system.vars;
    let tos = system.tos;
    let mut contenders: Vec<Contender> = assocs
        .iter_mut()
        .filter_map(|a| {
            let candidate = a.evaluate(now, &vars, &tos, own_refids)?;
            Some(a.contender(candidate))
        })
        .collect();
    let reachable = assocs.iter().filter(|a| a.reach() != 0).count();
    let on_network = vars
        .peer
        .is_some_and(|id| assocs.iter().any(|a| a.id() == id));
    if !on_network && contenders.len() * 2 <= reachable {
        // Start-up guard: the first network source to fill its clock filter must not set
        // the clock alone while most answering sources are still filling theirs (a
        // falseticker that answers fastest would otherwise step the clock).
        contenders.clear();
    }
    contenders.extend_from_slice(extra);
    let update = system.run(&contenders, now);
    for a in assocs.iter_mut() {
        let status = update
            .status
            .iter()
            .find(|(id, _)| *id == a.id())
            .map_or(SelectStatus::Reject, |s| s.1);
        a.set_status(status);
        if Some(a.id()) == system.vars.peer {
            a.set_poll(update.poll, now);
        }
    }
    if update.outcome == Some(Outcome::Stepped) {
        for a in assocs.iter_mut() {
            a.clear(RefId::from_ascii("STEP"), now);
        }
    }
    update
}
