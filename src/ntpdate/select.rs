//! Classic ntpdate's choice among servers (`clock_select`) and what to do with the winner
//! (`clock_adjust`): sanity checks drop servers (each with the reason `-d` prints), the
//! best five of the lowest two strata are kept, falsetickers are cast out until the rest
//! agree within the precision bound, and the first survivor's offset decides step or slew.

use super::filter::{short_power, to_short, Filtered, MAX_SKEW};
use super::options::Adjust;
use super::session::{ServerState, REQUEST_PRECISION};
use crate::time::NtpDuration;
use crate::wire::ntp::Leap;

/// Servers whose reference time is a day older than their clock are not trusted.
const MAX_AGE_SECS: u32 = 86_400;
/// At most this many candidates survive the first pass.
const MAX_LIST: usize = 5;
/// Above this (stratum) a server is unusable.
const MAX_STRATUM: u8 = 15;
/// Above this filtered delay a server is too far away.
const MAX_DELAY: NtpDuration = NtpDuration::from_secs(8);
/// From this offset up the clock is stepped rather than slewed.
pub const STEP_THRESHOLD: NtpDuration = NtpDuration::from_bits(1 << 31);

/// Why a server was not a candidate; the text is classic's `-d` wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    NoData,
    StrataTooHigh,
    TooFarAway,
    LeapNotInSync,
    VeryBroken,
    TooLongWithoutSync,
    /// With `-a`: a recent reply was not signed with our key.
    Untrusted,
}

impl Dropped {
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::NoData => "no data",
            Dropped::StrataTooHigh => "strata too high",
            Dropped::TooFarAway => "server too far away",
            Dropped::LeapNotInSync => "Leap not in sync",
            Dropped::VeryBroken => "server is very broken",
            Dropped::TooLongWithoutSync => "Server has gone too long without sync",
            Dropped::Untrusted => "Server is untrusted",
        }
    }
}

/// The sanity checks of classic's first pass, in its order.
pub fn check(server: &ServerState, f: &Filtered) -> Result<(), Dropped> {
    if f.delay == NtpDuration::ZERO {
        return Err(Dropped::NoData);
    }
    if server.peer.stratum > MAX_STRATUM {
        return Err(Dropped::StrataTooHigh);
    }
    if f.delay > MAX_DELAY {
        return Err(Dropped::TooFarAway);
    }
    if server.peer.leap == Leap::Unsync {
        return Err(Dropped::LeapNotInSync);
    }
    if server.last_server_time < server.peer.reference_time {
        return Err(Dropped::VeryBroken);
    }
    let age = server
        .last_server_time
        .seconds()
        .wrapping_sub(server.peer.reference_time.seconds());
    if age >= MAX_AGE_SECS {
        return Err(Dropped::TooLongWithoutSync);
    }
    if server.trust != 0 {
        return Err(Dropped::Untrusted);
    }
    Ok(())
}

/// A server as selection sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub index: usize,
    pub stratum: u8,
    pub precision: i8,
    pub filtered: Filtered,
}

/// Classic's `clock_select` over servers that passed [`check`], in command-line order.
/// Returns the index of the chosen server.
pub fn select(candidates: &[Candidate]) -> Option<usize> {
    // Insertion by stratum, then by twice the dispersion, keeping the best MAX_LIST.
    let mut list: Vec<(Candidate, NtpDuration)> = Vec::new();
    for c in candidates {
        let badness = c.filtered.dispersion + c.filtered.dispersion;
        let mut i = list
            .iter()
            .position(|(o, _)| c.stratum <= o.stratum)
            .unwrap_or(list.len());
        while i < list.len() && c.stratum >= list[i].0.stratum && badness >= list[i].1 {
            i += 1;
        }
        if i >= MAX_LIST {
            continue;
        }
        list.insert(i, (*c, badness));
        list.truncate(MAX_LIST);
    }
    // Keep at most two strata.
    let mut changes = 0;
    if let Some(cut) = (1..list.len()).find(|&i| {
        if list[i].0.stratum > list[i - 1].0.stratum {
            changes += 1;
        }
        changes == 2
    }) {
        list.truncate(cut);
    }
    let mut list: Vec<Candidate> = list.into_iter().map(|(c, _)| c).collect();
    if list.len() > 1 {
        sort_by_stratum_then_delay(&mut list);
        cast_out_falsetickers(&mut list);
    }
    list.first().map(|c| c.index)
}

/// Classic's exchange sort: within a stratum, lower delay first.
fn sort_by_stratum_then_delay(list: &mut [Candidate]) {
    for i in 0..list.len() - 1 {
        for j in i + 1..list.len() {
            if list[i].stratum < list[j].stratum {
                break;
            }
            if list[i].filtered.delay < list[j].filtered.delay {
                continue;
            }
            list.swap(i, j);
        }
    }
}

/// Drops the server whose offset disagrees most with the others (differences weighted by
/// 3/4 per rank) until the worst disagreement is within ntpdate's precision, the skew
/// allowance and the coarsest server's precision.
fn cast_out_falsetickers(list: &mut Vec<Candidate>) {
    let threshold = short_power(REQUEST_PRECISION) + MAX_SKEW;
    while list.len() > 1 {
        let badness: Vec<i64> = (0..list.len())
            .map(|k| {
                (0..list.len())
                    .filter(|&j| j != k)
                    .map(|j| {
                        let diff =
                            to_short(list[j].filtered.offset) - to_short(list[k].filtered.offset);
                        let mut d = diff.abs().to_bits() >> 16;
                        for _ in 0..j {
                            d = (d >> 1) + (d >> 2);
                        }
                        d
                    })
                    .sum()
            })
            .collect();
        let mut worst = 0;
        let mut coarsest = list[0].precision;
        for j in 1..list.len() {
            if badness[j] >= badness[worst] {
                worst = j;
            }
            coarsest = coarsest.min(list[j].precision);
        }
        let limit = (threshold + short_power(coarsest)).to_bits() >> 16;
        if badness[worst] < limit {
            break;
        }
        list.remove(worst);
    }
}

/// What to do with the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub step: bool,
    pub offset: NtpDuration,
}

/// Step from 0.5 s up (compared on the 16.16 offset, saturating where classic's wrapped),
/// unless `-b`/`-B` force one.
pub fn decide(offset: NtpDuration, adjust: Adjust) -> Decision {
    let step = match adjust {
        Adjust::AlwaysStep => true,
        Adjust::NeverStep => false,
        Adjust::Auto => to_short(offset).abs() >= STEP_THRESHOLD,
    };
    Decision { step, offset }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(index: usize, stratum: u8, offset: f64, delay: f64, disp: f64) -> Candidate {
        Candidate {
            index,
            stratum,
            precision: -20,
            filtered: Filtered {
                delay: NtpDuration::from_secs_f64(delay),
                offset: NtpDuration::from_secs_f64(offset),
                dispersion: NtpDuration::from_secs_f64(disp),
                raw_delay: NtpDuration::ZERO,
            },
        }
    }

    #[test]
    fn single_server_wins() {
        assert_eq!(select(&[cand(3, 10, 0.1, 0.03, 0.0)]), Some(3));
        assert_eq!(select(&[]), None);
    }

    #[test]
    fn lower_stratum_preferred_then_delay() {
        let c = [
            cand(0, 3, 0.001, 0.026, 0.0),
            cand(1, 2, 0.001, 0.040, 0.0),
            cand(2, 2, 0.001, 0.030, 0.0),
        ];
        assert_eq!(select(&c), Some(2));
    }

    #[test]
    fn falseticker_is_cast_out() {
        let c = [
            cand(0, 2, 5.0, 0.026, 0.0),
            cand(1, 2, 0.001, 0.030, 0.0),
            cand(2, 2, 0.002, 0.031, 0.0),
        ];
        assert_eq!(select(&c), Some(1));
    }

    #[test]
    fn step_or_slew() {
        let d = |s| NtpDuration::from_secs_f64(s);
        assert!(decide(d(-3.0), Adjust::Auto).step);
        assert!(decide(d(0.5), Adjust::Auto).step);
        assert!(!decide(d(0.2), Adjust::Auto).step);
        assert!(decide(d(0.2), Adjust::AlwaysStep).step);
        assert!(!decide(d(-3.0), Adjust::NeverStep).step);
        assert!(decide(d(100_000.0), Adjust::Auto).step);
    }
}
