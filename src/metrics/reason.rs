//! Why a source is (or is not) the system peer, in words, derived from what mode 6
//! already shows: the selection status (ntpq's tally character) and the flash bits.
//!
//! A stand-in until the engine carries a reason of its own for every source; the page and
//! the systemd status take whatever string the engine's view hands them.

use super::SourceSample;
use crate::assoc::Flash;
use crate::time::NtpDuration;

/// Polls the reach register remembers.
const REACH_BITS: u64 = 8;

/// One line: the verdict first, then what it rests on and, where there is one, the remedy.
pub fn describe(source: &SourceSample, max_dist: NtpDuration) -> String {
    let v = &source.vars;
    match v.status.select {
        7 => return "pps peer".into(),
        6 => return "system peer".into(),
        5 => return "backup: a survivor beyond the best 'tos minclock'".into(),
        4 => return "candidate: combined with the system peer".into(),
        3 => return "outlier: discarded by the cluster algorithm".into(),
        2 => return "excess: beyond the survivors the cluster algorithm keeps".into(),
        1 => return "falseticker: outside the interval the other sources agree on".into(),
        _ => {}
    }
    let flash = Flash(v.flash);
    let stratum_text = || {
        if v.leap == 3 || v.stratum == 0 || v.stratum >= 16 {
            format!("stratum {}: server not synchronised", v.stratum)
        } else {
            format!(
                "stratum {} outside 'tos floor'/'tos ceiling' (raise them or remove the source)",
                v.stratum
            )
        }
    };
    if flash.has(Flash::DENIED) {
        let code = String::from_utf8_lossy(&v.refid.0)
            .trim_end_matches('\0')
            .to_string();
        return format!("kiss-o'-death {code}: the server refuses us; polling stopped");
    }
    if flash.has(Flash::AUTH) {
        return match v.keyid {
            0 => "authentication failed".into(),
            key => format!("authentication failed with key {key}"),
        };
    }
    if flash.has(Flash::PEER_UNREACH) {
        if v.reach != 0 {
            return "noselect: configured never to be selected".into();
        }
        return match source.packets.map_or(0, |p| p.sent) {
            0 => "not polled yet".into(),
            sent => format!(
                "unreachable: no reply to the last {} polls",
                sent.min(REACH_BITS)
            ),
        };
    }
    if flash.has(Flash::PEER_STRATUM) || flash.has(Flash::PKT_STRATUM) {
        return stratum_text();
    }
    if flash.has(Flash::PEER_DIST) {
        return format!(
            "root distance {:.2} s exceeds maxdist {:.2} s (raise it with 'tos maxdist')",
            source.root_distance.to_secs_f64(),
            max_dist.to_secs_f64()
        );
    }
    if flash.has(Flash::PEER_LOOP) {
        return "timing loop: the source is synchronised to us".into();
    }
    if flash.has(Flash::PKT_HEADER) {
        return "root distance in its packets is over 16 s".into();
    }
    if v.reach == 0 {
        return "not reached yet".into();
    }
    "not selected".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::PeerVars;
    use crate::metrics::{tests::peer_vars, PacketCounts};

    fn sample(vars: PeerVars, sent: u64) -> SourceSample {
        SourceSample {
            name: "192.0.2.1".into(),
            vars,
            packets: Some(PacketCounts {
                sent,
                received: 0,
                rejected: 0,
            }),
            root_distance: NtpDuration::from_secs_f64(3.03),
            reason: String::new(),
        }
    }

    #[test]
    fn every_verdict_names_its_cause() {
        let max = NtpDuration::from_secs_f64(1.5);
        let mut v = peer_vars();
        v.status.select = 6;
        assert_eq!(describe(&sample(v.clone(), 9), max), "system peer");
        v.status.select = 1;
        assert!(describe(&sample(v.clone(), 9), max).starts_with("falseticker"));
        v.status.select = 0;
        v.flash = Flash::PEER_DIST;
        assert_eq!(
            describe(&sample(v.clone(), 9), max),
            "root distance 3.03 s exceeds maxdist 1.50 s (raise it with 'tos maxdist')"
        );
        v.flash = Flash::PEER_UNREACH;
        v.reach = 0;
        assert_eq!(
            describe(&sample(v.clone(), 3), max),
            "unreachable: no reply to the last 3 polls"
        );
        assert_eq!(
            describe(&sample(v.clone(), 30), max),
            "unreachable: no reply to the last 8 polls"
        );
        assert_eq!(describe(&sample(v.clone(), 0), max), "not polled yet");
        v.flash = Flash::PEER_STRATUM | Flash::PEER_DIST;
        v.reach = 1;
        v.stratum = 16;
        v.leap = 3;
        assert_eq!(
            describe(&sample(v.clone(), 3), max),
            "stratum 16: server not synchronised"
        );
        v.flash = Flash::DENIED;
        v.refid = crate::wire::ntp::RefId(*b"DENY");
        assert!(describe(&sample(v, 3), max).starts_with("kiss-o'-death DENY"));
    }
}
