//! Combining and the system peer: RFC 5905 section 11.2.3 (A.5.5.4 `clock_combine`) and
//! classic 4.2.6p5's mitigation rules. The system offset is the survivors' offsets
//! weighted by the inverse of their root distances; the system peer is the prefer peer if
//! it survived (its offset alone is then used), else the previous system peer if it is
//! still at the best stratum (no clock hopping), else the best survivor. The samples of
//! the same peers (the prefer peer's alone, if it survived) go to the discipline's line,
//! each at its own time.

use super::select::Candidate;
use crate::time::NtpDuration;
use crate::wire::ntp::Leap;

/// The mitigated system estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Combined {
    /// Index (into the candidates) of the system peer.
    pub system_peer: usize,
    /// System offset (Theta).
    pub offset: NtpDuration,
    /// System jitter (Psi): peer jitter and selection jitter combined.
    pub jitter: NtpDuration,
    /// Leap bits of the survivors ORed, as classic's `leap_consensus`.
    pub leap: Leap,
    /// The candidates whose measurements count: every survivor, or the prefer peer alone.
    pub counted: Vec<usize>,
}

/// Weighted average of the survivors' offsets (weights 1 / root distance).
pub fn combine_offsets(cands: &[Candidate], survivors: &[usize]) -> NtpDuration {
    let (mut weights, mut sum) = (0.0, 0.0);
    for &i in survivors {
        let weight = weight(&cands[i]);
        weights += weight;
        sum += cands[i].offset.to_secs_f64() * weight;
    }
    if weights > 0.0 {
        NtpDuration::from_secs_f64(sum / weights)
    } else {
        NtpDuration::ZERO
    }
}

fn weight(c: &Candidate) -> f64 {
    1.0 / c.root_distance.to_secs_f64().max(1e-9)
}

/// Picks the system peer among `survivors` (best first, non-empty) and forms the system
/// offset and jitter. `previous` is the old system peer's id.
pub fn choose(
    cands: &[Candidate],
    survivors: &[usize],
    previous: Option<u32>,
    select_jitter: NtpDuration,
) -> Option<Combined> {
    let head = *survivors.first()?;
    let leap_bits = survivors
        .iter()
        .fold(0u8, |acc, &i| acc | cands[i].leap.to_bits());
    let leap = Leap::from_bits(leap_bits);
    if let Some(&prefer) = survivors.iter().find(|&&i| cands[i].prefer) {
        return Some(Combined {
            system_peer: prefer,
            offset: cands[prefer].offset,
            jitter: cands[prefer].jitter,
            leap,
            counted: vec![prefer],
        });
    }
    let system_peer = survivors
        .iter()
        .copied()
        .find(|&i| Some(cands[i].id) == previous && cands[i].stratum == cands[head].stratum)
        .unwrap_or(head);
    let peer_jitter = cands[system_peer].jitter.to_secs_f64();
    let sel = select_jitter.to_secs_f64();
    Some(Combined {
        system_peer,
        offset: combine_offsets(cands, survivors),
        jitter: NtpDuration::from_secs_f64((peer_jitter * peer_jitter + sel * sel).sqrt()),
        leap,
        counted: survivors.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: u32, offset_ms: f64, dist_ms: f64, stratum: u8) -> Candidate {
        Candidate {
            id,
            offset: NtpDuration::from_secs_f64(offset_ms / 1e3),
            root_distance: NtpDuration::from_secs_f64(dist_ms / 1e3),
            jitter: NtpDuration::from_secs_f64(1e-4),
            stratum,
            leap: Leap::NoWarning,
            prefer: false,
            truechimer: false,
            local_clock: false,
        }
    }

    #[test]
    fn weights_favour_short_distance() {
        let cands = [cand(1, 0.0, 10.0, 2), cand(2, 3.0, 20.0, 2)];
        let off = combine_offsets(&cands, &[0, 1]).to_secs_f64() * 1e3;
        assert!((off - 1.0).abs() < 1e-6, "{off}");
        let c = choose(&cands, &[0, 1], None, NtpDuration::ZERO).unwrap();
        assert_eq!(c.counted, [0, 1]);
    }

    #[test]
    fn prefer_peer_wins_and_its_offset_is_used() {
        let mut p = cand(2, 3.0, 20.0, 2);
        p.prefer = true;
        let cands = [cand(1, 0.0, 10.0, 2), p];
        let c = choose(&cands, &[0, 1], None, NtpDuration::ZERO).unwrap();
        assert_eq!(c.system_peer, 1);
        assert_eq!(c.counted, [1]);
        assert!((c.offset.to_secs_f64() - 0.003).abs() < 1e-9);
    }

    #[test]
    fn old_system_peer_kept_at_same_stratum() {
        let cands = [cand(1, 0.0, 10.0, 2), cand(2, 0.0, 20.0, 2)];
        let c = choose(&cands, &[0, 1], Some(2), NtpDuration::ZERO).unwrap();
        assert_eq!(c.system_peer, 1);
        let lower = [cand(1, 0.0, 10.0, 1), cand(2, 0.0, 20.0, 2)];
        let c = choose(&lower, &[0, 1], Some(2), NtpDuration::ZERO).unwrap();
        assert_eq!(c.system_peer, 0);
    }
}
