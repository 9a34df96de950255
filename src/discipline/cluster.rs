//! Clustering: RFC 5905 section 11.2.2 (A.5.5.3), classic 4.2.6p5's variant. Survivors of
//! the intersection are pruned one at a time, dropping the one whose selection jitter
//! (RMS offset difference to the others) weighted by its distance metric is largest, while
//! more than `minclock` remain and that jitter exceeds the smallest peer jitter. A `true` or
//! `prefer` candidate ends the pruning, so it is never dropped (RFC 5905's rule; classic
//! compares the last candidate's jitter instead, a quirk not kept).

use super::select::Candidate;
use crate::time::NtpDuration;

/// The clustering result.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// Indices of the survivors, in the input's (best-first) order.
    pub survivors: Vec<usize>,
    /// Indices dropped as outliers.
    pub outliers: Vec<usize>,
    /// The selection jitter of the worst remaining candidate (classic `sys_selerr`).
    pub select_jitter: NtpDuration,
}

/// Prunes `order` (indices into `cands`, best first) down towards `min_clock`.
pub fn cluster(cands: &[Candidate], order: &[usize], min_clock: usize, precision: i8) -> Cluster {
    let floor = NtpDuration::from_log2(precision).to_secs_f64();
    let mut list: Vec<usize> = order.to_vec();
    let mut outliers = Vec::new();
    let metric = |i: usize| super::select::metric(&cands[i]);
    let offset = |i: usize| cands[i].offset.to_secs_f64();
    let mut select_jitter = 0.0;
    loop {
        let min_peer_jitter = list
            .iter()
            .map(|&i| cands[i].jitter.to_secs_f64())
            .fold(f64::INFINITY, f64::min);
        let mut worst = (f64::NEG_INFINITY, 0usize);
        for (k, &i) in list.iter().enumerate() {
            let jitter = if list.len() > 1 {
                let sum: f64 = list.iter().map(|&j| (offset(j) - offset(i)).powi(2)).sum();
                (sum / (list.len() - 1) as f64).sqrt()
            } else {
                0.0
            };
            if jitter * metric(i) > worst.0 {
                worst = (jitter * metric(i), k);
                select_jitter = jitter;
            }
        }
        let victim = list.get(worst.1).copied();
        let stop = list.len() <= min_clock
            || select_jitter.max(floor) <= min_peer_jitter
            || victim.is_none_or(|v| cands[v].truechimer || cands[v].prefer);
        if stop {
            break;
        }
        outliers.push(list.remove(worst.1));
    }
    Cluster {
        survivors: list,
        outliers,
        select_jitter: NtpDuration::from_secs_f64(select_jitter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ntp::Leap;

    fn cand(offset_ms: f64, jitter_ms: f64) -> Candidate {
        Candidate {
            id: 0,
            offset: NtpDuration::from_secs_f64(offset_ms / 1e3),
            root_distance: NtpDuration::from_secs_f64(0.02),
            jitter: NtpDuration::from_secs_f64(jitter_ms / 1e3),
            stratum: 2,
            leap: Leap::NoWarning,
            prefer: false,
            truechimer: false,
            local_clock: false,
        }
    }

    #[test]
    fn cluster_algorithm_outlier_is_discarded_first() {
        let cands = [
            cand(0.0, 0.1),
            cand(0.2, 0.1),
            cand(-0.1, 0.1),
            cand(30.0, 0.1),
        ];
        let r = cluster(&cands, &[0, 1, 2, 3], 1, -20);
        assert_eq!(r.outliers.first(), Some(&3));
    }

    #[test]
    fn keeps_minclock() {
        let cands = [cand(0.0, 0.01), cand(10.0, 0.01), cand(-10.0, 0.01)];
        let r = cluster(&cands, &[0, 1, 2], 3, -20);
        assert_eq!(r.survivors.len(), 3);
    }

    #[test]
    fn stops_when_jitter_dominates() {
        let cands = [cand(0.0, 5.0), cand(1.0, 5.0), cand(-1.0, 5.0)];
        let r = cluster(&cands, &[0, 1, 2], 1, -20);
        assert!(r.outliers.is_empty());
    }
}
