//! The poll process: RFC 5905 section 13 (A.5.4 `poll`, `poll_update`) with classic
//! 4.2.6p5's behaviour but for the start: the first request goes out at once (classic
//! waits a second), and no server ever gets two requests less than two seconds apart, not
//! even right after a step clears the association (classic re-polls a second later).
//! Each poll shifts the reach register; an association that was never
//! reachable sends an `iburst` of eight requests two seconds apart; one unreachable for
//! more than ten polls backs its interval off; a reachable one silent for three polls
//! gets a maximum-dispersion dummy sample; `burst` sends eight per poll while reachable.
//! A passive association polls only once its peer has proven its address; until then
//! its timer is the deadline for that proof, and it goes when the deadline passes.

use super::{Association, Flash, BURST_COUNT, BURST_INTERVAL, UNREACH_LIMIT};
use crate::discipline::system::SystemVars;
use crate::time::{NtpShort, NtpTimestamp, PollInterval};
use crate::wire::ntp::Header;
use std::time::Duration;

/// What a poll produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PollOutput {
    /// The request to send to the peer, if any.
    pub send: Option<Header>,
    /// The peer's statistics changed (burst over, dummy sample): run the system process.
    pub reselect: bool,
    /// An ephemeral association became useless: remove it.
    pub demobilize: bool,
}

impl Association {
    /// When `on_timer` is next due.
    pub fn next_deadline(&self) -> Duration {
        self.next_poll
    }

    /// The poll process, run when [`Association::next_deadline`] has come. `clock_now` is
    /// the clock's reading, which becomes the request's transmit timestamp.
    pub fn on_timer(
        &mut self,
        now: Duration,
        clock_now: NtpTimestamp,
        sys: &SystemVars,
    ) -> PollOutput {
        let mut out = PollOutput {
            send: None,
            reselect: false,
            demobilize: false,
        };
        if self.awaits_proof() {
            out.demobilize = true;
            return out;
        }
        if self.config.mode.sends_to_group() {
            return self.group_poll(now, clock_now, sys);
        }
        let mut hpoll = self.hpoll;
        if self.burst == 0 {
            let was_reachable = self.reach != 0;
            self.last_poll = now;
            self.reach <<= 1;
            if self.reach == 0 {
                if was_reachable && !self.config.configured {
                    out.demobilize = true;
                    return out;
                }
                if self.config.iburst && self.unreach == 0 && !self.listening() {
                    self.burst = BURST_COUNT;
                } else if self.unreach > UNREACH_LIMIT {
                    if !self.config.configured {
                        out.demobilize = true;
                        return out;
                    }
                    hpoll = PollInterval(hpoll.0.saturating_add(1));
                }
                self.unreach += 1;
            } else {
                self.unreach = 0;
                if self.reach & 0x07 == 0 {
                    self.filter.add_missing(now, sys.filter_context());
                    out.reselect = true;
                }
                hpoll = sys.poll;
                if self.config.burst && self.flash.0 & Flash::PEER_MASK == 0 {
                    self.burst = BURST_COUNT;
                }
            }
        } else {
            self.burst -= 1;
            if self.burst == 0 || self.volley_unanswered() {
                self.burst = 0;
                self.end_volley();
                out.reselect = true;
                self.update_poll(hpoll, now, true);
                return out;
            }
        }
        if self.denied() {
            out.demobilize = !self.config.configured;
        } else if !self.listening() {
            out.send = Some(self.request(clock_now, sys));
            self.last_request = Some(now);
        }
        self.update_poll(hpoll, now, true);
        out
    }

    /// Builds our request (mode 3, 1 or 2) carrying our system variables and, as classic
    /// does, the peer's last transmit and our receive time of it as origin and receive.
    pub(super) fn request(&mut self, clock_now: NtpTimestamp, sys: &SystemVars) -> Header {
        self.xmt = clock_now;
        self.sent += 1;
        Header {
            leap: sys.leap,
            version: self.config.version,
            mode: self.config.mode.wire_mode(),
            stratum: sys.wire_stratum(),
            poll: self.hpoll.0,
            precision: sys.precision,
            root_delay: NtpShort::from_duration(sys.root_delay),
            root_dispersion: NtpShort::from_duration(sys.root_dispersion),
            reference_id: sys.refid,
            reference_time: sys.reference_time,
            origin_time: self.org,
            receive_time: self.rec,
            transmit_time: clock_now,
        }
    }

    /// Sets the poll exponent to `poll` (clamped to minpoll..maxpoll) and schedules the
    /// next poll: two seconds on within a burst, else a poll interval after the last one
    /// (the smaller of ours and the peer's, never below minpoll).
    pub(super) fn update_poll(&mut self, poll: PollInterval, now: Duration, from_timer: bool) {
        self.hpoll = poll.clamp(self.config.min_poll, self.config.max_poll);
        if self.burst > 0 {
            if from_timer {
                self.schedule(now + BURST_INTERVAL);
            }
            return;
        }
        let interval = self.ppoll.min(self.hpoll).max(self.config.min_poll);
        let next = self.last_poll + Duration::from_secs(interval.seconds());
        self.schedule(if next <= now {
            now + Duration::from_secs(1)
        } else {
            next
        });
    }

    /// Sets the next poll to `at`, or later if the last request would be less than
    /// [`BURST_INTERVAL`] old: no server ever gets two requests closer than that.
    pub(super) fn schedule(&mut self, at: Duration) {
        self.next_poll = match self.last_request {
            Some(sent) => at.max(sent + BURST_INTERVAL),
            None => at,
        };
    }

    /// Classic `poll_update(sys_peer, sys_poll)`: the system peer follows the loop's time
    /// constant.
    pub fn set_poll(&mut self, poll: PollInterval, now: Duration) {
        self.update_poll(poll, now, false);
    }
}

#[cfg(test)]
mod tests {
    use super::super::AssocConfig;
    use super::*;
    use crate::wire::ntp::{Mode, RefId};

    fn sys() -> SystemVars {
        SystemVars::initial(-20)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn iburst_sends_eight_two_seconds_apart() {
        let mut cfg = AssocConfig::server(1, RefId::from_ascii("x"));
        cfg.iburst = true;
        let mut a = Association::new(cfg, secs(0));
        let mut sends = Vec::new();
        let mut t = a.next_deadline();
        while t < secs(40) {
            let out = a.on_timer(t, NtpTimestamp::ZERO, &sys());
            if let Some(h) = out.send {
                assert_eq!(h.mode, Mode::Client);
                sends.push(t.as_secs());
            }
            t = a.next_deadline();
        }
        assert_eq!(sends, vec![0, 2, 4, 6, 8, 10, 12, 14]);
    }

    #[test]
    fn unreachable_server_backs_off() {
        let a0 = Association::new(AssocConfig::server(1, RefId::from_ascii("x")), secs(0));
        let mut a = a0.clone();
        for _ in 0..14 {
            let t = a.next_deadline();
            a.on_timer(t, NtpTimestamp::ZERO, &sys());
        }
        assert!(a.hpoll() > PollInterval(6));
        assert_eq!(a.reach(), 0);
        assert!(a.unreach() > 10);
    }

    #[test]
    fn pool_server_demobilised_when_never_answering() {
        let mut cfg = AssocConfig::server(1, RefId::from_ascii("x"));
        cfg.configured = false;
        let mut a = Association::new(cfg, secs(0));
        let mut gone = false;
        for _ in 0..20 {
            let t = a.next_deadline();
            gone |= a.on_timer(t, NtpTimestamp::ZERO, &sys()).demobilize;
        }
        assert!(gone);
    }
}
