//! Packet processing for an association: RFC 5905 section 8 and A.5.1 (`receive`,
//! `packet`), classic 4.2.6p5's tests and their flash bits, with the order classic 4.2.8p4
//! adopted after CVE-2015-7704/7705: nothing in a packet is believed before the packet
//! proves it answers our request. It must carry a new transmit timestamp (TEST1, else a
//! duplicate or a replay) and echo our last transmit timestamp as origin (TEST2, else bogus:
//! an off-path forger cannot know it; a zero origin never passes, CVE-2015-8138). Only
//! then may a kiss-o'-death act: RATE raises the poll, never beyond maxpoll; DENY and RSTR
//! stop the association (TEST4). A kiss failing those tests is a forgery, reported as
//! such and otherwise ignored. A symmetric peer that never heard from us sends zero origin
//! and receive (TEST3): we keep its transmit timestamp so our next packet answers it,
//! nothing more. A bogus packet changes nothing. An unsynchronised header (TEST6) or absurd
//! root distance (TEST7) is not sampled. Whatever passes goes through the clock filter.
//!
//! A passive association that no packet has proven yet ([`Association::proven`]) answers
//! each symmetric active packet once ([`Received::Answer`]), as classic's stateless reply
//! does: no more octets out than in, and the only way its peer can prove itself.

use super::{Association, Flash, PeerHeader};
use crate::discipline::filter::FilterVerdict;
use crate::discipline::sample::{Exchange, Sample};
use crate::discipline::system::{SystemVars, STRATUM_UNSPEC};
use crate::time::{NtpTimestamp, PollInterval};
use crate::wire::ntp::{Header, KissCode, Leap, Mode};
use std::time::Duration;

/// What a packet did to the association.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Refused by a packet test; the flash bits say which.
    Refused(Flash),
    /// A kiss-o'-death that does not answer our request (TEST1-3 failed: forged or
    /// replayed): ignored, the flash bits say why.
    ForgedKiss(Flash),
    /// A passive association awaiting proof: send [`Association::answer`] back.
    Answer,
    /// Valid, but the clock filter did not produce a new estimate.
    Filtered(FilterVerdict),
    /// A new estimate: run the system process if `select` (classic does so unless in a
    /// burst while synchronised).
    Sample { select: bool },
    /// Kiss-o'-death RATE: the poll interval was raised.
    RateKiss,
    /// Kiss-o'-death DENY or RSTR: the association stops; remove it if `demobilize`.
    Denied { demobilize: bool },
    /// A broadcast that arrived while the volley still calibrates the delay: not used.
    Calibrating,
}

/// TEST6 (unsynchronised server, or a reference time after its transmit time) and TEST7
/// (absurd root distance) of a packet's header: its flash bits, 0 if it passes.
pub(super) fn header_tests(pkt: &Header) -> u16 {
    let mut bits = 0;
    if pkt.leap == Leap::Unsync
        || pkt.stratum == 0
        || pkt.stratum >= STRATUM_UNSPEC
        || pkt.transmit_time < pkt.reference_time
    {
        bits |= Flash::PKT_STRATUM;
    }
    let distance = pkt.root_delay.to_duration().to_secs_f64() / 2.0
        + pkt.root_dispersion.to_duration().to_secs_f64();
    if distance >= MAX_HEADER_DISTANCE {
        bits |= Flash::PKT_HEADER;
    }
    bits
}

/// Maximum root distance a header may claim (MAXDISPERSE).
const MAX_HEADER_DISTANCE: f64 = 16.0;

/// Poll intervals of its peer an unproven passive association waits for the packet
/// that proves it, before it goes.
const PROOF_POLLS: u32 = 2;

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
        self.count_packet();
        let answers_us = self.answer_tests(pkt);
        self.flash.set(answers_us);
        if let Some(code) = kiss_code(pkt) {
            if answers_us != 0 {
                return Received::ForgedKiss(self.flash);
            }
            return self.kiss(code, pkt, now);
        }
        if answers_us == Flash::DUPLICATE {
            return Received::Refused(self.flash);
        }
        if answers_us != 0 && self.awaits_proof() && pkt.mode == Mode::SymmetricActive {
            self.note_peer(pkt, rx);
            let wait = self.ppoll.clamp(self.config.min_poll, self.config.max_poll);
            self.next_poll = now + Duration::from_secs(wait.seconds()) * PROOF_POLLS;
            return Received::Answer;
        }
        if answers_us == Flash::BOGUS {
            return Received::Refused(self.flash);
        }
        self.note_peer(pkt, rx);
        if answers_us != 0 {
            // TEST3: a symmetric peer's first packet, kept only to be answered.
            return Received::Refused(self.flash);
        }
        if self.awaits_proof() {
            // Proven now: the passive association starts polling, its peer waits for it.
            self.update_poll(self.hpoll, now, false);
        }
        self.proven = true;
        if self.config.mode.wire_mode() == Mode::Client {
            // A server answers a request once: a second "answer" is not believed.
            self.xmt = NtpTimestamp::ZERO;
        }
        // Classic records the header (leap, stratum, refid, root figures) before the
        // synchronisation tests, so ntpq shows what an unsynchronised server claims.
        self.peer = PeerHeader::of(pkt);
        self.flash.set(header_tests(pkt));
        if self.flash.0 != 0 {
            return Received::Refused(self.flash);
        }
        let sample = Exchange::from_reply(pkt, rx).sample(sys.precision, pkt.precision);
        self.take_sample(pkt, &sample, now, sys)
    }

    /// A packet that passed every test: its header becomes the peer's, it counts for
    /// reach and its sample goes through the clock filter.
    pub(super) fn take_sample(
        &mut self,
        pkt: &Header,
        sample: &Sample,
        now: Duration,
        sys: &SystemVars,
    ) -> Received {
        self.peer = PeerHeader::of(pkt);
        self.update_poll(self.hpoll, now, false);
        self.reach |= 1;
        match self.filter.add(sample, now, sys.filter_context()) {
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

    /// Counts a packet received; as classic, a packet starts from a clean slate: only the
    /// DENY jail persists.
    pub(super) fn count_packet(&mut self) {
        self.received += 1;
        self.flash = Flash(self.flash.0 & Flash::DENIED);
    }

    /// TEST1-3, the proof that `pkt` answers our last packet: the flash bits of the
    /// first that fails (DUPLICATE, UNSYNC or BOGUS), 0 if it does.
    fn answer_tests(&self, pkt: &Header) -> u16 {
        if pkt.transmit_time.is_zero() || pkt.transmit_time == self.org {
            return Flash::DUPLICATE;
        }
        let (org_zero, rec_zero) = (pkt.origin_time.is_zero(), pkt.receive_time.is_zero());
        if org_zero && rec_zero && self.config.mode.wire_mode() != Mode::Client {
            return Flash::UNSYNC;
        }
        if org_zero || rec_zero || self.xmt.is_zero() || pkt.origin_time != self.xmt {
            return Flash::BOGUS;
        }
        0
    }

    /// Keeps the peer's transmit timestamp and our receive time of it, to send back as
    /// origin and receive, and its poll interval.
    pub(super) fn note_peer(&mut self, pkt: &Header, rx: NtpTimestamp) {
        self.org = pkt.transmit_time;
        self.rec = rx;
        self.ppoll = PollInterval(pkt.poll);
    }

    /// A kiss-o'-death that answers our request: RATE raises the poll (within maxpoll);
    /// DENY and RSTR jail the association (TEST4). Either answers one request only.
    fn kiss(&mut self, code: KissCode, pkt: &Header, now: Duration) -> Received {
        self.xmt = NtpTimestamp::ZERO;
        match code {
            KissCode::Deny | KissCode::Rstr => {
                self.clear(pkt.reference_id, now);
                self.flash.set(Flash::DENIED);
                Received::Denied {
                    demobilize: !self.config.configured,
                }
            }
            _ => {
                self.burst = 0;
                let raised = PollInterval(self.hpoll.0.max(pkt.poll).saturating_add(1));
                self.update_poll(raised, now, false);
                Received::RateKiss
            }
        }
    }

    /// The answer of a passive association awaiting proof to the packet it just took
    /// ([`Received::Answer`]): mode 2, echoing that packet, built at clock time
    /// `clock_now`. Its transmit timestamp is what the peer's next packet must echo.
    pub fn answer(&mut self, clock_now: NtpTimestamp, sys: &SystemVars) -> Header {
        self.request(clock_now, sys)
    }
}

/// The kiss code of a kiss-o'-death that demands something of us (stratum 0, leap
/// unsynchronised, RATE, DENY or RSTR); other codes are informational and fall through to
/// the stratum test.
fn kiss_code(pkt: &Header) -> Option<KissCode> {
    if pkt.stratum != 0 || pkt.leap != Leap::Unsync {
        return None;
    }
    match pkt.reference_id.kiss_code() {
        KissCode::Other(_) => None,
        code => Some(code),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{AssocConfig, AssocMode};
    use super::*;
    use crate::time::{NtpDuration, NtpShort};
    use crate::wire::ntp::{Mode, RefId};

    pub(in crate::assoc) fn sys() -> SystemVars {
        SystemVars::initial(-20)
    }

    pub(in crate::assoc) fn ts(s: f64) -> NtpTimestamp {
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

    fn kiss_of(req: &Header, code: &str, origin: NtpTimestamp, poll: i8) -> Header {
        // As classic's fast_xmit builds it: every timestamp is the request's transmit.
        Header {
            leap: Leap::Unsync,
            stratum: 0,
            poll,
            reference_id: RefId::from_ascii(code),
            origin_time: origin,
            receive_time: origin,
            transmit_time: origin,
            ..reply(req, 1.5)
        }
    }

    #[test]
    fn forged_kisses_change_nothing() {
        for code in ["DENY", "RSTR", "RATE"] {
            let (mut a, req) = polled();
            let deadline = a.next_deadline();
            let hpoll = a.hpoll();
            let wrong = NtpTimestamp::from_bits(0x1234_5678_9abc_def0);
            for origin in [wrong, NtpTimestamp::ZERO] {
                let kiss = Header {
                    transmit_time: ts(1.6),
                    ..kiss_of(&req, code, origin, 17)
                };
                let got = a.on_packet(&kiss, ts(1.02), secs(1), &sys());
                assert!(
                    matches!(got, Received::ForgedKiss(f) if f.has(Flash::BOGUS)),
                    "{code} {got:?}"
                );
            }
            assert!(!a.denied(), "{code}");
            assert_eq!((a.hpoll(), a.next_deadline()), (hpoll, deadline), "{code}");
            // The genuine reply still counts, and the next poll goes out as usual.
            assert_eq!(
                a.on_packet(&reply(&req, 1.5), ts(1.03), secs(1), &sys()),
                Received::Sample { select: true }
            );
            let out = a.on_timer(a.next_deadline(), ts(70.0), &sys());
            assert!(out.send.is_some(), "{code}");
        }
    }

    #[test]
    fn a_genuine_rate_kiss_raises_the_poll_up_to_maxpoll_once() {
        let (mut a, req) = polled();
        let kiss = kiss_of(&req, "RATE", req.transmit_time, 17);
        assert_eq!(
            a.on_packet(&kiss, ts(1.02), secs(1), &sys()),
            Received::RateKiss
        );
        assert_eq!(a.hpoll(), a.config().max_poll);
        // Its replay no longer answers an outstanding request.
        let (mut a, req) = polled();
        let kiss = kiss_of(&req, "RATE", req.transmit_time, 7);
        assert_eq!(
            a.on_packet(&kiss, ts(1.02), secs(1), &sys()),
            Received::RateKiss
        );
        assert_eq!(a.hpoll(), PollInterval(8));
        let replay = Header {
            transmit_time: ts(1.7),
            ..kiss
        };
        assert!(matches!(
            a.on_packet(&replay, ts(1.03), secs(1), &sys()),
            Received::ForgedKiss(_)
        ));
        assert_eq!(a.hpoll(), PollInterval(8));
    }

    #[test]
    fn a_bogus_reply_changes_no_state() {
        let (mut a, req) = polled();
        let mut forged = reply(&req, 1.5);
        forged.origin_time = ts(99.0);
        forged.poll = 0;
        a.on_packet(&forged, ts(1.02), secs(1), &sys());
        let next = a.on_timer(a.next_deadline(), ts(3.0), &sys()).send.unwrap();
        // Our next request still echoes nothing the forger sent.
        assert_eq!(
            (next.origin_time, next.receive_time),
            (NtpTimestamp::ZERO, NtpTimestamp::ZERO)
        );
        assert_eq!(a.ppoll(), a.config().max_poll);
        // A server reply with a zero origin is bogus too (CVE-2015-8138).
        let mut zero = reply(&next, 3.5);
        zero.origin_time = NtpTimestamp::ZERO;
        zero.receive_time = NtpTimestamp::ZERO;
        assert_eq!(
            a.on_packet(&zero, ts(3.02), secs(3), &sys()),
            Received::Refused(Flash(Flash::BOGUS))
        );
        // A request is answered once: a second reply to it is not believed.
        a.on_packet(&reply(&next, 3.5), ts(3.02), secs(3), &sys());
        assert_eq!(a.reach(), 1);
        assert_eq!(
            a.on_packet(&reply(&next, 3.6), ts(3.12), secs(3), &sys()),
            Received::Refused(Flash(Flash::BOGUS))
        );
    }

    pub(in crate::assoc) fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn active_packet(xmt: f64, answered: Option<&Header>) -> Header {
        let (origin, receive) = match answered {
            Some(h) => (
                h.transmit_time,
                h.transmit_time + NtpDuration::from_secs_f64(0.001),
            ),
            None => (NtpTimestamp::ZERO, NtpTimestamp::ZERO),
        };
        Header {
            mode: Mode::SymmetricActive,
            stratum: 2,
            poll: 6,
            origin_time: origin,
            receive_time: receive,
            transmit_time: ts(xmt),
            ..reply(&Header::decode(&[0x23; 48]).unwrap(), xmt)
        }
    }

    fn passive() -> Association {
        let mut cfg = AssocConfig::server(9, RefId::from_ascii("x"));
        cfg.mode = AssocMode::SymmetricPassive;
        cfg.configured = false;
        Association::new(cfg, Duration::ZERO)
    }

    #[test]
    fn passive_answers_until_proven_then_polls() {
        let mut a = passive();
        let first = active_packet(0.5, None);
        assert_eq!(
            a.on_packet(&first, ts(0.501), secs(0), &sys()),
            Received::Answer
        );
        let answer = a.answer(ts(0.502), &sys());
        assert_eq!(answer.mode, Mode::SymmetricPassive);
        assert_eq!(
            (answer.origin_time, answer.receive_time),
            (first.transmit_time, ts(0.501))
        );
        assert!(!a.proven());
        // A packet with someone else's origin is answered too (the peer may have lost us).
        let mut lost = active_packet(2.5, None);
        lost.origin_time = ts(-50.0);
        lost.receive_time = ts(-50.0);
        assert_eq!(
            a.on_packet(&lost, ts(2.501), secs(2), &sys()),
            Received::Answer
        );
        let answer = a.answer(ts(2.502), &sys());
        // The packet echoing our answer proves the address: a sample, no answer, and our
        // first poll a second later (the peer polls at 64 s and waits for us).
        let second = active_packet(66.5, Some(&answer));
        assert_eq!(
            a.on_packet(&second, ts(66.501), secs(66), &sys()),
            Received::Sample { select: true }
        );
        assert!(a.proven());
        assert_eq!(a.next_deadline(), secs(67));
        let out = a.on_timer(a.next_deadline(), ts(67.0), &sys());
        assert_eq!(out.send.map(|h| h.mode), Some(Mode::SymmetricPassive));
    }

    #[test]
    fn unproven_passive_never_polls_and_goes() {
        let mut a = passive();
        assert_eq!(
            a.on_packet(&active_packet(0.5, None), ts(0.501), secs(0), &sys()),
            Received::Answer
        );
        a.answer(ts(0.502), &sys());
        // Two of the peer's poll intervals (64 s) later, without proof, it goes unheard.
        assert_eq!(a.next_deadline(), secs(128));
        let out = a.on_timer(a.next_deadline(), ts(128.0), &sys());
        assert!(out.demobilize && out.send.is_none());
    }

    #[test]
    fn symmetric_first_contact_is_kept_only_to_be_answered() {
        let mut cfg = AssocConfig::server(3, RefId::from_ascii("x"));
        cfg.mode = AssocMode::SymmetricActive;
        let mut a = Association::new(cfg, Duration::ZERO);
        let first = active_packet(0.5, None);
        assert_eq!(
            a.on_packet(&first, ts(0.501), secs(0), &sys()),
            Received::Refused(Flash(Flash::UNSYNC))
        );
        assert_eq!(a.reach(), 0);
        let ours = a.on_timer(a.next_deadline(), ts(1.0), &sys()).send.unwrap();
        assert_eq!(ours.origin_time, first.transmit_time);
        let back = active_packet(1.5, Some(&ours));
        assert_eq!(
            a.on_packet(&back, ts(1.501), secs(1), &sys()),
            Received::Sample { select: true }
        );
    }
}
