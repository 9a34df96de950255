//! Broadcast and manycast associations (classic 4.2.6p5's MODE_BROADCAST, MODE_BCLIENT and
//! manycast client). A broadcast server association sends mode 5 to its group address
//! every minpoll and never hears back; a manycast client association sends mode 3 there
//! and the engine mobilises each server that answers. Neither is ever a source, and as in
//! classic their refid says what they are (BCST, MCST, ACST).
//!
//! A broadcast client association starts with classic's volley: an `iburst` of ordinary
//! client exchanges, which measure the round-trip delay (and already give samples). When
//! it ends, the association only listens: each mode 5 packet gives the offset
//! T3 - T4 + delay / 2, where the delay is the volley's (or `broadcastdelay` when the
//! volley got no answer, or with `novolley`). Nothing proves that a broadcast comes from
//! its claimed source, which is why the engine requires a trusted key unless `disable
//! auth`; and the volley goes on past its first request only once that is answered, so a
//! forged broadcast costs its claimed source at most one request.

use super::receive::header_tests;
use super::{AssocConfig, AssocMode, Association, Flash, PollOutput, Received};
use crate::discipline::sample::Exchange;
use crate::discipline::system::SystemVars;
use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ntp::{Header, Mode, RefId};
use std::time::Duration;

/// The refid an association shows before it hears anything: classic's "INIT", or for
/// the group senders "BCST" (broadcast address), "MCST" (multicast group) or "ACST"
/// (manycast).
pub(super) fn initial_refid(config: &AssocConfig) -> RefId {
    let multicast = (224..=239).contains(&config.addr_refid.0[0]);
    match config.mode {
        AssocMode::Broadcast if multicast => RefId::from_ascii("MCST"),
        AssocMode::Broadcast => RefId::from_ascii("BCST"),
        AssocMode::ManycastClient => RefId::from_ascii("ACST"),
        _ => RefId::INIT,
    }
}

impl Association {
    /// Makes a freshly mobilised broadcast client listen: at once with `delay` as the
    /// round trip, or (`volley`) after an iburst of client exchanges has measured it,
    /// `delay` then being the fallback when none is answered.
    pub fn start_listening(&mut self, volley: bool, delay: NtpDuration) {
        self.broadcast_delay_default = delay;
        self.broadcast_delay = (!volley).then_some(delay);
    }

    /// A broadcast client past its volley: it sends nothing any more.
    pub(super) fn listening(&self) -> bool {
        self.config.mode == AssocMode::BroadcastClient && self.broadcast_delay.is_some()
    }

    /// The round-trip delay broadcasts are corrected by, once known (ntpq shows it as the
    /// association's delay anyway; this is for the log and tests).
    pub fn broadcast_delay(&self) -> Option<NtpDuration> {
        self.broadcast_delay
    }

    /// A volley whose first request went unanswered: nothing shows the broadcast's source
    /// is at its address (with `disable auth` anyone may have sent it), so it gets no
    /// more requests; the broadcasts are taken with the fallback delay.
    pub(super) fn volley_unanswered(&self) -> bool {
        self.config.mode == AssocMode::BroadcastClient
            && self.broadcast_delay.is_none()
            && !self.proven
    }

    /// The volley's burst is over: the filter's delay (its best exchange) calibrates the
    /// broadcasts, or the fallback when no exchange was answered.
    pub(super) fn end_volley(&mut self) {
        if self.config.mode != AssocMode::BroadcastClient || self.broadcast_delay.is_some() {
            return;
        }
        let delay = if self.filter.filled() > 0 {
            self.filter.delay()
        } else {
            self.broadcast_delay_default
        };
        self.broadcast_delay = Some(delay);
    }

    /// The poll of a broadcast server or manycast client association: one packet to the
    /// group every minpoll, no reach kept.
    pub(super) fn group_poll(
        &mut self,
        now: Duration,
        clock_now: NtpTimestamp,
        sys: &SystemVars,
    ) -> PollOutput {
        self.last_poll = now;
        self.hpoll = self.config.min_poll;
        let send = Some(self.request(clock_now, sys));
        self.last_request = Some(now);
        self.next_poll = now + Duration::from_secs(self.config.min_poll.seconds());
        PollOutput {
            send,
            reselect: false,
            demobilize: false,
        }
    }

    /// Whether a server reply with origin timestamp `origin` answers this manycast client
    /// association's last solicitation (every server answering it may, so it stays valid
    /// until the next one).
    pub fn solicited(&self, origin: NtpTimestamp) -> bool {
        self.config.mode == AssocMode::ManycastClient && !self.xmt.is_zero() && origin == self.xmt
    }

    /// A mode 5 packet for a broadcast client association, received at clock time `rx`.
    pub fn on_broadcast(
        &mut self,
        pkt: &Header,
        rx: NtpTimestamp,
        now: Duration,
        sys: &SystemVars,
    ) -> Received {
        self.count_packet();
        if self.config.mode != AssocMode::BroadcastClient || pkt.mode != Mode::Broadcast {
            self.flash.set(Flash::BOGUS);
            return Received::Refused(self.flash);
        }
        let Some(delay) = self.broadcast_delay else {
            return Received::Calibrating;
        };
        if pkt.transmit_time.is_zero() || pkt.transmit_time == self.org {
            self.flash.set(Flash::DUPLICATE);
            return Received::Refused(self.flash);
        }
        self.note_peer(pkt, rx);
        self.flash.set(header_tests(pkt));
        if self.flash.0 != 0 {
            return Received::Refused(self.flash);
        }
        // Our "request" left one round trip before we received the broadcast; the server
        // received and sent at T3: offset T3 - T4 + delay / 2, delay as calibrated.
        let exchange = Exchange {
            t1: rx + -delay,
            t2: pkt.transmit_time,
            t3: pkt.transmit_time,
            t4: rx,
        };
        let sample = exchange.sample(sys.precision, pkt.precision);
        self.take_sample(pkt, &sample, now, sys)
    }
}

#[cfg(test)]
mod tests {
    use super::super::receive::tests::{secs, sys, ts};
    use super::*;
    use crate::time::{NtpShort, PollInterval};
    use crate::wire::ntp::Leap;

    fn config(mode: AssocMode, addr: [u8; 4]) -> AssocConfig {
        let mut c = AssocConfig::server(5, RefId(addr));
        c.mode = mode;
        c.configured = mode != AssocMode::BroadcastClient;
        c.iburst = mode == AssocMode::BroadcastClient;
        c
    }

    /// A server at true time `server` whose clock says `server + ahead`.
    fn broadcast(server: f64) -> Header {
        Header {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Broadcast,
            stratum: 10,
            poll: 4,
            precision: -20,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            reference_id: RefId::from_ascii("LOCL"),
            reference_time: ts(server - 1.0),
            origin_time: NtpTimestamp::ZERO,
            receive_time: NtpTimestamp::ZERO,
            transmit_time: ts(server),
        }
    }

    #[test]
    fn group_senders_send_every_minpoll_with_their_refid() {
        let mut cfg = config(AssocMode::Broadcast, [172, 25, 0, 255]);
        cfg.min_poll = PollInterval(4);
        let mut a = Association::new(cfg, secs(0));
        assert_eq!(a.peer_header().refid, RefId::from_ascii("BCST"));
        let mut sent = Vec::new();
        while a.next_deadline() < secs(60) {
            let t = a.next_deadline();
            let out = a.on_timer(t, ts(t.as_secs_f64()), &sys());
            let h = out.send.expect("a broadcast each poll");
            assert_eq!(
                (h.mode, h.poll, h.origin_time),
                (Mode::Broadcast, 4, NtpTimestamp::ZERO)
            );
            sent.push(t.as_secs());
        }
        assert_eq!(sent, [0, 16, 32, 48]);
        assert_eq!(a.reach(), 0);
        let mcast = Association::new(config(AssocMode::Broadcast, [224, 0, 1, 1]), secs(0));
        assert_eq!(mcast.peer_header().refid, RefId::from_ascii("MCST"));
        let mut many = Association::new(config(AssocMode::ManycastClient, [224, 0, 1, 1]), secs(0));
        assert_eq!(many.peer_header().refid, RefId::from_ascii("ACST"));
        let h = many.on_timer(secs(0), ts(0.0), &sys()).send.unwrap();
        assert_eq!(h.mode, Mode::Client);
        assert!(many.solicited(h.transmit_time));
        assert!(!many.solicited(ts(9.0)));
    }

    #[test]
    fn volley_calibrates_then_broadcasts_give_the_offset() {
        // We are 50 ms behind; the path is 2 ms each way.
        let ahead = 0.05;
        let mut a = Association::new(
            config(AssocMode::BroadcastClient, [172, 25, 0, 10]),
            secs(0),
        );
        a.start_listening(true, NtpDuration::from_secs_f64(0.004));
        let mut t = a.next_deadline();
        let mut requests = 0;
        while a.broadcast_delay().is_none() && t < secs(30) {
            let out = a.on_timer(t, ts(t.as_secs_f64()), &sys());
            if let Some(req) = out.send {
                assert_eq!(req.mode, Mode::Client);
                requests += 1;
                let at = t.as_secs_f64();
                // A broadcast during the volley is not used.
                assert_eq!(
                    a.on_broadcast(&broadcast(at + ahead), ts(at), t, &sys()),
                    Received::Calibrating
                );
                let reply = Header {
                    mode: Mode::Server,
                    origin_time: req.transmit_time,
                    receive_time: ts(at + 0.002 + ahead),
                    transmit_time: ts(at + 0.002 + ahead),
                    ..broadcast(at)
                };
                a.on_packet(&reply, ts(at + 0.004), t, &sys());
            }
            t = a.next_deadline();
        }
        assert_eq!(requests, 8);
        let delay = a.broadcast_delay().unwrap().to_secs_f64();
        assert!((delay - 0.004).abs() < 1e-5, "{delay}");
        // Listening: no more requests, broadcasts give the offset.
        let out = a.on_timer(a.next_deadline(), ts(40.0), &sys());
        assert!(out.send.is_none());
        let got = a.on_broadcast(&broadcast(41.0 + ahead), ts(41.002), secs(41), &sys());
        assert!(matches!(got, Received::Sample { .. }), "{got:?}");
        let offset = a.filter().offset().to_secs_f64();
        assert!((offset - ahead).abs() < 1e-4, "{offset}");
        // The same broadcast again is a duplicate.
        let again = a.on_broadcast(&broadcast(41.0 + ahead), ts(41.003), secs(41), &sys());
        assert_eq!(again, Received::Refused(Flash(Flash::DUPLICATE)));
    }

    #[test]
    fn an_unanswered_volley_stops_after_one_request() {
        let mut a = Association::new(config(AssocMode::BroadcastClient, [192, 0, 2, 1]), secs(0));
        a.start_listening(true, NtpDuration::from_secs_f64(0.004));
        let mut sent = 0;
        while a.next_deadline() < secs(600) {
            let t = a.next_deadline();
            sent += usize::from(a.on_timer(t, ts(t.as_secs_f64()), &sys()).send.is_some());
        }
        assert_eq!(sent, 1);
        assert_eq!(a.broadcast_delay(), Some(NtpDuration::from_secs_f64(0.004)));
    }

    #[test]
    fn novolley_listens_at_once_with_broadcastdelay() {
        let mut cfg = config(AssocMode::BroadcastClient, [172, 25, 0, 10]);
        cfg.iburst = false;
        let mut a = Association::new(cfg, secs(0));
        a.start_listening(false, NtpDuration::from_secs_f64(0.008));
        assert!(a.on_timer(secs(0), ts(0.0), &sys()).send.is_none());
        let got = a.on_broadcast(&broadcast(1.0), ts(1.004), secs(1), &sys());
        assert!(matches!(got, Received::Sample { .. }), "{got:?}");
        assert!(a.filter().offset().to_secs_f64().abs() < 1e-4);
        let mut unsync = broadcast(2.0);
        (unsync.leap, unsync.stratum) = (Leap::Unsync, 16);
        assert_eq!(
            a.on_broadcast(&unsync, ts(2.004), secs(2), &sys()),
            Received::Refused(Flash(Flash::PKT_STRATUM))
        );
    }
}
