//! One selection round (classic `clock_select` followed by `clock_update`): every
//! association is judged fit or unfit, the fit ones plus any reference clocks go through
//! the system process, each association learns its selection status, the system peer
//! follows the loop's poll interval, and a step clears every association as classic's
//! `peer_clear("STEP")` does. The daemon and the simulator both run exactly this.

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
