//! The daemon's state in one line, for systemd's `STATUS=` (`systemctl status ntpd`):
//! what it is synchronised to, or why it is not.

use super::Snapshot;

/// Sources named in an unsynchronised status at most; the rest are counted.
const MAX_NAMED: usize = 3;

/// "synchronised to 192.0.2.1 at stratum 3, offset +0.250 ms", or "not synchronised:
/// 192.0.2.1: unreachable: no reply to the last 8 polls".
pub fn status_line(s: &Snapshot) -> String {
    if let Some(peer) = s.system_peer() {
        return format!(
            "synchronised to {peer} at stratum {}, offset {:+.3} ms",
            s.system.stratum,
            s.system.offset.to_secs_f64() * 1e3
        );
    }
    if s.sources.is_empty() {
        return "not synchronised: no sources".into();
    }
    let mut words: Vec<String> = s
        .sources
        .iter()
        .take(MAX_NAMED)
        .map(|src| format!("{}: {}", src.name, src.reason))
        .collect();
    if s.sources.len() > MAX_NAMED {
        words.push(format!("{} more", s.sources.len() - MAX_NAMED));
    }
    format!("not synchronised: {}", words.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::SystemVars;
    use crate::metrics::tests::peer_vars;
    use crate::metrics::{ServerCounters, SourceSample};
    use crate::time::NtpDuration;

    fn source(name: &str, id: u16, reason: &str) -> SourceSample {
        let mut vars = peer_vars();
        vars.assoc_id = id;
        SourceSample {
            name: name.into(),
            vars,
            packets: None,
            root_distance: NtpDuration::ZERO,
            reason: reason.into(),
        }
    }

    fn snapshot(leap: u8, peer: u16, sources: Vec<SourceSample>) -> Snapshot {
        Snapshot {
            system: SystemVars {
                leap,
                stratum: if leap == 3 { 16 } else { 11 },
                peer,
                offset: NtpDuration::from_secs_f64(-0.000_25),
                ..SystemVars::default()
            },
            max_dist: NtpDuration::from_secs_f64(1.5),
            sources,
            server: ServerCounters::default(),
        }
    }

    #[test]
    fn says_what_it_follows_or_why_not() {
        let local = || source("LOCAL(0)", 7, "system peer");
        assert_eq!(
            status_line(&snapshot(0, 7, vec![local()])),
            "synchronised to LOCAL(0) at stratum 11, offset -0.250 ms"
        );
        let far = source("192.0.2.1", 8, "unreachable: no reply to the last 8 polls");
        assert_eq!(
            status_line(&snapshot(3, 0, vec![far.clone()])),
            "not synchronised: 192.0.2.1: unreachable: no reply to the last 8 polls"
        );
        let many = vec![far.clone(), far.clone(), far.clone(), far.clone(), far];
        assert!(status_line(&snapshot(3, 0, many)).ends_with("; 2 more"));
        assert_eq!(
            status_line(&snapshot(3, 0, vec![])),
            "not synchronised: no sources"
        );
    }
}
