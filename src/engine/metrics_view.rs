//! The engine as the metrics page and the systemd status see it: the mode 6 view
//! ([`View`], what ntpq reads) plus what mode 6 has no variable for (packet counts, the
//! root distance as of now, the counters by restrict reason), so every number agrees with
//! ntpq's.

use super::control_view::View;
use super::{Engine, Source};
use crate::clock::Clock;
use crate::control::{ControlState, PeerVars};
use crate::metrics::{PacketCounts, ServerCounters, Snapshot, SourceSample};
use crate::restrict::Denied;
use crate::time::NtpDuration;

/// Root distance from what mode 6 shows (classic's formula without the ageing term): for
/// the reference clocks, whose samples are always fresh.
fn distance(v: &PeerVars) -> NtpDuration {
    let d = (v.root_delay.to_secs_f64() + v.delay.to_secs_f64()) / 2.0
        + v.root_dispersion.to_secs_f64()
        + v.dispersion.to_secs_f64()
        + v.jitter.to_secs_f64();
    NtpDuration::from_secs_f64(d)
}

impl<C: Clock> Engine<C> {
    /// The state at this instant, for [`crate::metrics::render`] and
    /// [`crate::metrics::status_line`].
    pub fn metrics(&self) -> Snapshot {
        let view = View {
            engine: self,
            now: self.clock.now(),
        };
        let mono = self.clock.mono();
        let max_dist = self.settings.tos.max_dist;
        let sources = self
            .sources
            .iter()
            .filter_map(|(id, source)| {
                let vars = view.peer(id.0)?;
                let (packets, root_distance) = match source {
                    Source::Network(p) => (
                        Some(PacketCounts {
                            sent: p.assoc.packets_sent(),
                            received: p.assoc.packets_received(),
                            rejected: p.assoc.packets_rejected(),
                        }),
                        p.assoc.root_distance(mono, &self.settings.tos),
                    ),
                    Source::Local(_) | Source::Device(_) => (None, distance(&vars)),
                };
                Some(SourceSample {
                    name: self.sources.name(id.selection_id())?,
                    reason: vars.reason.clone(),
                    vars,
                    packets,
                    root_distance,
                })
            })
            .collect();
        Snapshot {
            system: view.system(),
            max_dist,
            sources,
            server: self.server_counters(),
        }
    }

    fn server_counters(&self) -> ServerCounters {
        let c = &self.counters;
        let monitor = self.access.monitor();
        let restrict_drops: Vec<(&'static str, u64)> = Denied::ALL
            .iter()
            .map(|d| (d.name(), c.restrict_drops[*d as usize]))
            .collect();
        let by_restrict: u64 = restrict_drops.iter().map(|(_, n)| n).sum();
        ServerCounters {
            received: c.received,
            served: c.served,
            kod_sent: c.kissed,
            bad_format: c.bad_format,
            declined: c.dropped.saturating_sub(by_restrict),
            restrict_drops,
            mru_entries: monitor.len() as u64,
            mru_capacity: monitor.capacity() as u64,
            uptime_secs: self.clock.mono().saturating_sub(c.started).as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ask, engine, request};
    use crate::control::ControlState;
    use crate::restrict::RestrictFlag;
    use crate::time::NtpTimestamp;

    #[test]
    fn local_clock_as_ntpq_sees_it() {
        let (_, mut e) = engine(&[RestrictFlag::NoServe], &[("127.0.0.1", &[])], 0.0);
        ask(&mut e, "192.0.2.1:4000", &request(0x23, NtpTimestamp::ZERO));
        ask(&mut e, "127.0.0.1:4000", &request(0x23, NtpTimestamp::ZERO));
        let s = e.metrics();
        let view = super::View {
            engine: &e,
            now: s.system.clock,
        };
        assert_eq!(s.system, view.system());
        assert!(s.synchronised());
        assert_eq!(s.system.stratum, 11);
        assert_eq!(s.system_peer(), Some("LOCAL(0)"));
        assert_eq!(s.sources.len(), 1);
        assert_eq!(s.sources[0].reason, "system peer");
        assert_eq!(s.sources[0].packets, None);
        assert_eq!((s.server.received, s.server.served), (2, 1));
        let noserve = s
            .server
            .restrict_drops
            .iter()
            .find(|(r, _)| *r == "noserve");
        assert_eq!(noserve, Some(&("noserve", 1)));
        assert_eq!(s.server.declined, 0);
        assert_eq!(s.server.mru_entries, 1);
    }
}
