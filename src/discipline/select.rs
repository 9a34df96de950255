//! Selection: the intersection of correctness intervals of RFC 5905 section 11.2.1 (A.5.5.1
//! `clock_select`), as classic 4.2.6p5 runs it. Each candidate's interval is its offset
//! plus or minus its root distance; the largest interval shared by a majority holds the
//! truechimers and everything outside it is a falseticker. The LOCAL clock driver takes
//! part only with `prefer`; otherwise it is kept aside and nominated only if nothing else
//! survives, so an isolated server keeps serving but never outvotes real sources.

use crate::time::NtpDuration;
use crate::wire::ntp::Leap;

/// Everything selection, clustering and combining need from one association.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// The engine's association id, handed back in the results.
    pub id: u32,
    pub offset: NtpDuration,
    /// Root distance (lambda): half the total delay plus all dispersions and the jitter.
    pub root_distance: NtpDuration,
    pub jitter: NtpDuration,
    pub stratum: u8,
    pub leap: Leap,
    /// `prefer`: immune to clustering, chosen as system peer when it survives.
    pub prefer: bool,
    /// `true`: never declared a falseticker.
    pub truechimer: bool,
    /// The LOCAL(0) driver: a fallback only.
    pub local_clock: bool,
}

/// Classic's selection status codes (CTL_PST_SEL_*), the tally character of `ntpq -p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SelectStatus {
    /// ' ': unfit or not considered.
    Reject = 0,
    /// 'x': outside the intersection (falseticker).
    Falseticker = 1,
    /// '.': beyond the cluster limit.
    Excess = 2,
    /// '-': discarded by clustering (outlier).
    Outlier = 3,
    /// '+': a survivor, used by the combining algorithm.
    Candidate = 4,
    /// '#': a survivor not among the best `minclock` (backup).
    Backup = 5,
    /// '*': the system peer.
    SystemPeer = 6,
    /// 'o': the PPS peer.
    PpsPeer = 7,
}

/// Maximum number of candidates that enter clustering (NTP_MAXCLOCK).
pub const MAX_CLOCKS: usize = 10;

/// The outcome of the intersection step.
#[derive(Clone, Debug, PartialEq)]
pub struct Intersection {
    /// Indices (into the input) of the truechimers, best (stratum, distance) first.
    pub truechimers: Vec<usize>,
    /// Indices of the falsetickers.
    pub falsetickers: Vec<usize>,
    /// Index of the LOCAL fallback nominated because nothing else survived.
    pub fallback: Option<usize>,
}

/// Finds the interval containing the most candidates' intervals; `None` when there is no
/// majority (the "Albanians have won" case). Offsets and distances in seconds.
pub fn find_interval(intervals: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = intervals.len();
    // (value, type): -1 lower end, 0 midpoint, +1 upper end; sorted by value.
    let mut ends: Vec<(f64, i32)> = Vec::with_capacity(3 * n);
    for &(offset, dist) in intervals {
        ends.extend([(offset - dist, -1), (offset, 0), (offset + dist, 1)]);
    }
    ends.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut allow = 0;
    while 2 * allow < n {
        let need = (n - allow) as i32;
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut found = 0;
        let mut count = 0;
        for &(value, kind) in &ends {
            low = value;
            count -= kind;
            if count >= need {
                break;
            }
            found += usize::from(kind == 0);
        }
        count = 0;
        for &(value, kind) in ends.iter().rev() {
            high = value;
            count += kind;
            if count >= need {
                break;
            }
            found += usize::from(kind == 0);
        }
        if found <= allow && high > low {
            return Some((low, high));
        }
        allow += 1;
    }
    None
}

/// Runs the intersection over fit candidates and orders the truechimers by
/// stratum * MAXDISTANCE + root distance, keeping at most [`MAX_CLOCKS`].
pub fn intersect(cands: &[Candidate]) -> Intersection {
    let mut fallback = None;
    let mut voters = Vec::new();
    for (i, c) in cands.iter().enumerate() {
        if c.local_clock && !c.prefer {
            let better = fallback.is_none_or(|f: usize| c.stratum < cands[f].stratum);
            if better {
                fallback = Some(i);
            }
        } else {
            voters.push(i);
        }
    }
    let intervals: Vec<(f64, f64)> = voters
        .iter()
        .map(|&i| {
            (
                cands[i].offset.to_secs_f64(),
                cands[i].root_distance.to_secs_f64(),
            )
        })
        .collect();
    let (low, high) = find_interval(&intervals).unwrap_or((f64::INFINITY, f64::NEG_INFINITY));
    let mut truechimers = Vec::new();
    let mut falsetickers = Vec::new();
    for &i in &voters {
        let c = &cands[i];
        let offset = c.offset.to_secs_f64();
        let outside = offset <= low || offset >= high;
        if voters.len() > 1 && outside && !(c.truechimer || c.prefer) {
            falsetickers.push(i);
        } else {
            truechimers.push(i);
        }
    }
    truechimers.sort_by(|&a, &b| metric(&cands[a]).total_cmp(&metric(&cands[b])));
    falsetickers.extend(truechimers.iter().skip(MAX_CLOCKS));
    truechimers.truncate(MAX_CLOCKS);
    let fallback = if truechimers.is_empty() {
        fallback
    } else {
        None
    };
    Intersection {
        truechimers,
        falsetickers,
        fallback,
    }
}

/// The order metric: stratum dominates, root distance breaks ties.
pub fn metric(c: &Candidate) -> f64 {
    f64::from(c.stratum) * super::filter::MAX_DISTANCE + c.root_distance.to_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cand(id: u32, offset_ms: f64, dist_ms: f64) -> Candidate {
        Candidate {
            id,
            offset: NtpDuration::from_secs_f64(offset_ms / 1e3),
            root_distance: NtpDuration::from_secs_f64(dist_ms / 1e3),
            jitter: NtpDuration::from_secs_f64(1e-4),
            stratum: 2,
            leap: Leap::NoWarning,
            prefer: false,
            truechimer: false,
            local_clock: false,
        }
    }

    #[test]
    fn find_interval_no_consensus() {
        assert_eq!(find_interval(&[(0.0, 0.01), (1.0, 0.01)]), None);
    }

    #[test]
    fn falseticker_outside_majority_interval() {
        let cands = [
            cand(1, 0.0, 20.0),
            cand(2, 1.0, 20.0),
            cand(3, -1.0, 20.0),
            cand(4, 2000.0, 20.0),
        ];
        let r = intersect(&cands);
        assert_eq!(r.falsetickers, vec![3]);
        assert_eq!(r.truechimers.len(), 3);
    }

    #[test]
    fn true_flag_is_never_a_falseticker() {
        let mut liar = cand(4, 2000.0, 20.0);
        liar.truechimer = true;
        let cands = [
            cand(1, 0.0, 20.0),
            cand(2, 1.0, 20.0),
            cand(3, -1.0, 20.0),
            liar,
        ];
        assert!(intersect(&cands).falsetickers.is_empty());
    }

    #[test]
    fn local_clock_only_when_nothing_else_survives() {
        let mut local = cand(9, 0.0, 10.0);
        local.local_clock = true;
        local.stratum = 10;
        let with_server = intersect(&[cand(1, 50.0, 20.0), local]);
        assert_eq!(with_server.truechimers, vec![0]);
        assert_eq!(with_server.fallback, None);
        let alone = intersect(&[local]);
        assert!(alone.truechimers.is_empty());
        assert_eq!(alone.fallback, Some(0));
    }

    #[test]
    fn lower_stratum_ranks_first() {
        let mut s1 = cand(1, 0.0, 400.0);
        s1.stratum = 1;
        let r = intersect(&[cand(2, 0.0, 10.0), s1]);
        assert_eq!(r.truechimers, vec![1, 0]);
    }
}
