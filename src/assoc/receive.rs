//! Packet processing for an association: RFC 5905 section 8 and A.5.1 (`receive`,
//! `packet`), classic 4.2.6p5's tests and their flash bits. A reply must carry a new
//! transmit timestamp (TEST1) and echo ours as origin (TEST2); a peer that never heard
//! from us sends zero origin and receive (TEST3); kiss-o'-death RATE lengthens the poll,
//! DENY and RSTR stop the association (TEST4); an unsynchronised header (TEST6) or absurd
//! root distance (TEST7) is not sampled. Whatever passes goes through the clock filter.

use super::{Association, Flash, PeerHeader};
use crate::discipline::filter::FilterVerdict;
use crate::discipline::sample::Exchange;
use crate::discipline::system::{SystemVars, STRATUM_UNSPEC};
use crate::time::{NtpTimestamp, PollInterval};
use crate::wire::ntp::{Header, KissCode, Leap};
use std::time::Duration;

/// What a packet did to the association.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Refused by a packet test; the flash bits say which.
    Refused(Flash),
    /// Valid, but the clock filter did not produce a new estimate.
    Filtered(FilterVerdict),
    /// A new estimate: run the system process if `select` (classic does so unless in a
    /// burst while synchronised).
    Sample { select: bool },
    /// Kiss-o'-death RATE: the poll interval was raised.
    RateKiss,
    /// Kiss-o'-death DENY or RSTR: the association stops; remove it if `demobilize`.
    Denied { demobilize: bool },
}

/// Maximum root distance a header may claim (MAXDISPERSE).
const MAX_HEADER_DISTANCE: f64 = 16.0;

impl Association {
    /// Processes a packet from this association's peer, received at clock time `rx` and
    /// monotonic time `now`.
    pub fn on_packet(
        &mut self,
        pkt: &Header,
        rx: NtpTimestamp,
        now: Duration,
        sys: &SystemVars,
    ) -> Received {
        self.received += 1;
        // As classic, a packet starts from a clean slate; only the DENY jail persists.
        self.flash = Flash(self.flash.0 & Flash::DENIED);
        if pkt.transmit_time.is_zero() || pkt.transmit_time == self.org {
            self.flash.set(Flash::DUPLICATE);
            return Received::Refused(self.flash);
        }
        let (org_zero, rec_zero) = (pkt.origin_time.is_zero(), pkt.receive_time.is_zero());
        if org_zero && rec_zero {
            self.flash.set(Flash::UNSYNC);
        } else if org_zero || rec_zero {
            return Received::Refused(self.flash);
        } else if pkt.origin_time != self.xmt {
            self.flash.set(Flash::BOGUS);
        }
        if let Some(kiss) = self.kiss(pkt, now) {
            return kiss;
        }
        self.org = pkt.transmit_time;
        self.rec = rx;
        self.ppoll = PollInterval(pkt.poll);
        if self.flash.0 != 0 {
            return Received::Refused(self.flash);
        }
        if pkt.leap == Leap::Unsync
            || pkt.stratum == 0
            || pkt.stratum >= STRATUM_UNSPEC
            || pkt.transmit_time < pkt.reference_time
        {
            self.flash.set(Flash::PKT_STRATUM);
        }
        let distance = pkt.root_delay.to_duration().to_secs_f64() / 2.0
            + pkt.root_dispersion.to_duration().to_secs_f64();
        if distance >= MAX_HEADER_DISTANCE {
            self.flash.set(Flash::PKT_HEADER);
        }
        if self.flash.0 != 0 {
            return Received::Refused(self.flash);
        }
        self.peer = PeerHeader::of(pkt);
        self.update_poll(self.hpoll, now, false);
        self.reach |= 1;
        let sample = Exchange::from_reply(pkt, rx).sample(sys.precision, pkt.precision);
        match self.filter.add(&sample, now, sys.filter_context()) {
            // A sample the filter does not hand on as the peer's estimate still counts for
            // the discipline's line (classic runs the system process only for new ones).
            FilterVerdict::New | FilterVerdict::Stale | FilterVerdict::Popcorn => {
                Received::Sample {
                    select: self.burst == 0 || !sys.settled,
                }
            }
            verdict => Received::Filtered(verdict),
        }
    }

    /// Kiss-o'-death (stratum 0, leap unsynchronised): RATE raises the poll; DENY and RSTR
    /// jail the association (TEST4). Other codes fall through to the stratum test.
    fn kiss(&mut self, pkt: &Header, now: Duration) -> Option<Received> {
        if pkt.stratum != 0 || pkt.leap != Leap::Unsync {
            return None;
        }
        match pkt.reference_id.kiss_code() {
            KissCode::Rate => {
                self.burst = 0;
                let raised = PollInterval(self.hpoll.0.max(pkt.poll).saturating_add(1));
                self.update_poll(raised, now, false);
                Some(Received::RateKiss)
            }
            KissCode::Deny | KissCode::Rstr => {
                let code = pkt.reference_id;
                self.clear(code, now);
                self.flash.set(Flash::DENIED);
                Some(Received::Denied {
                    demobilize: !self.config.configured,
                })
            }
            KissCode::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::AssocConfig;
    use super::*;
    use crate::time::{NtpDuration, NtpShort};
    use crate::wire::ntp::{Mode, RefId};

    fn sys() -> SystemVars {
        SystemVars::initial(-20)
    }

    fn ts(s: f64) -> NtpTimestamp {
        NtpTimestamp::from_unix(1_700_000_000, 0) + NtpDuration::from_secs_f64(s)
    }

    fn reply(req: &Header, server_time: f64) -> Header {
        Header {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: req.poll,
            precision: -20,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            reference_id: RefId::from_ascii("GPS"),
            reference_time: ts(server_time - 10.0),
            origin_time: req.transmit_time,
            receive_time: ts(server_time),
            transmit_time: ts(server_time + 0.0001),
        }
    }

    fn polled() -> (Association, Header) {
        let mut a = Association::new(
            AssocConfig::server(7, RefId::from_ascii("x")),
            Duration::ZERO,
        );
        let out = a.on_timer(Duration::from_secs(1), ts(1.0), &sys());
        (a, out.send.expect("request"))
    }

    #[test]
    fn reply_sets_reach_and_feeds_filter() {
        let (mut a, req) = polled();
        let r = a.on_packet(&reply(&req, 1.5), ts(1.02), Duration::from_secs(1), &sys());
        // As classic, an empty filter's first sample is used (its dispersion is insane,
        // so the popcorn gate does not apply).
        assert_eq!(r, Received::Sample { select: true });
        assert_eq!(a.reach(), 1);
        assert_eq!(a.flash(), Flash(0));
    }

    #[test]
    fn duplicate_and_bogus_are_flagged() {
        let (mut a, req) = polled();
        let good = reply(&req, 1.5);
        a.on_packet(&good, ts(1.02), Duration::from_secs(1), &sys());
        let again = a.on_packet(&good, ts(1.03), Duration::from_secs(1), &sys());
        assert_eq!(again, Received::Refused(Flash(Flash::DUPLICATE)));
        let mut forged = reply(&req, 1.6);
        forged.origin_time = ts(99.0);
        assert_eq!(
            a.on_packet(&forged, ts(1.04), Duration::from_secs(1), &sys()),
            Received::Refused(Flash(Flash::BOGUS))
        );
    }

    #[test]
    fn unsynchronised_server_is_not_sampled() {
        let (mut a, req) = polled();
        let mut r = reply(&req, 1.5);
        r.leap = Leap::Unsync;
        r.stratum = 16;
        assert_eq!(
            a.on_packet(&r, ts(1.02), Duration::from_secs(1), &sys()),
            Received::Refused(Flash(Flash::PKT_STRATUM))
        );
        assert_eq!(a.reach(), 0);
    }

    #[test]
    fn kiss_codes() {
        let (mut a, req) = polled();
        let mut r = reply(&req, 1.5);
        r.leap = Leap::Unsync;
        r.stratum = 0;
        r.reference_id = RefId::from_ascii("RATE");
        assert_eq!(
            a.on_packet(&r, ts(1.02), Duration::from_secs(1), &sys()),
            Received::RateKiss
        );
        assert!(a.hpoll() > PollInterval(6));
        let (mut a, req) = polled();
        let mut r = reply(&req, 1.5);
        r.leap = Leap::Unsync;
        r.stratum = 0;
        r.reference_id = RefId::from_ascii("DENY");
        assert_eq!(
            a.on_packet(&r, ts(1.02), Duration::from_secs(1), &sys()),
            Received::Denied { demobilize: false }
        );
        assert!(a.denied());
        let out = a.on_timer(a.next_deadline(), ts(70.0), &sys());
        assert!(out.send.is_none());
    }

    #[test]
    fn server_synchronised_to_us_is_a_loop() {
        let (mut a, req) = polled();
        let mut s = sys();
        s.refid = RefId([10, 0, 0, 1]);
        let mut r = reply(&req, 1.5);
        r.stratum = 3;
        r.reference_id = RefId([10, 0, 0, 9]);
        a.on_packet(&r, ts(1.02), Duration::from_secs(1), &s);
        let tos = Default::default();
        a.evaluate(Duration::from_secs(2), &s, &tos, &[RefId([10, 0, 0, 9])]);
        assert!(a.flash().has(Flash::PEER_LOOP));
    }
}
