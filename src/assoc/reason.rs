//! Why a source is, or is not, the system peer, in words an operator can act on: the one
//! current [`Reason`] of each source, naming the limit that was hit and the directive that
//! changes it (`root distance 3.03 s exceeds maxdist 1.50 s (raise it with 'tos maxdist')`).
//! Computed from the association's own state (selection status, flash bits, reach
//! register, the last reply) and a [`Context`] of the last selection round, so the log,
//! ntpq and the metrics all say the same thing.

use super::{Association, Flash};
use crate::discipline::select::SelectStatus;
use crate::discipline::system::{SystemVars, TosParams, STRATUM_UNSPEC};
use crate::time::{NtpDuration, PollInterval};
use crate::wire::ntp::RefId;
use std::fmt;
use std::time::Duration;

/// Polls a reply stays news for: a refused reply older than this no longer explains
/// anything, the silence since does (the reach register's length).
const REPLY_NEWS_POLLS: u64 = 8;

/// What the reasons of network sources depend on beyond the source itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Context<'a> {
    /// Monotonic time now.
    pub now: Duration,
    pub tos: TosParams,
    /// The system variables and our own addresses' refids, for the peer tests.
    pub sys: SystemVars,
    pub own_refids: &'a [RefId],
    /// Network sources that passed the peer tests (fit for selection).
    pub fit: usize,
    /// Network sources with a non-zero reach register.
    pub answering: usize,
    /// A network source is the system peer (the start-up majority guard is off).
    pub network_peer: bool,
}

/// The one current reason of a source.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// The system peer.
    SystemPeer,
    /// A survivor of clustering whose offset is combined into the system offset.
    Candidate,
    /// A survivor kept as a backup.
    Backup,
    /// A reference clock (LOCAL) that is used only when nothing else survives.
    Fallback,
    /// Configured with `noselect`.
    NoSelect,
    /// A `broadcast` or `manycastclient` line: it sends to a group address and is never
    /// a source itself.
    GroupSender,
    /// The first poll has not been sent yet.
    Waiting,
    /// Requests went out, none was answered yet (start-up; becomes `Unreachable`).
    NoReplyYet { sent: u64 },
    /// No usable reply to the last `polls` polls (`ever`: it answered before), or to any
    /// of its `polls` requests.
    Unreachable { polls: u64, ever: bool },
    /// A kiss-o'-death DENY or RSTR (`code`) stopped the association.
    Denied { code: RefId },
    /// The last reply failed the digest test, or (no reply) the key cannot sign.
    AuthFailed { key: Option<u32>, replied: bool },
    /// The server answers, unsynchronised (leap 3 or stratum 0/16).
    Unsynchronised,
    /// The server's reply claims a root distance of 16 s or more.
    BadHeader,
    /// A kiss-o'-death RATE raised our poll interval to `poll`.
    RateKiss { poll: PollInterval },
    /// The server's stratum is at or above `tos ceiling`.
    StratumCeiling { stratum: u8, ceiling: u8 },
    /// The server's stratum is below `tos floor`.
    StratumFloor { stratum: u8, floor: u8 },
    /// Root distance above `tos maxdist`.
    Distance {
        distance: NtpDuration,
        max: NtpDuration,
    },
    /// The server is synchronised to us (or to one of our addresses).
    Loop { refid: RefId },
    /// Outside the interval the majority agrees on.
    Falseticker { others: usize },
    /// Dropped by clustering.
    Outlier,
    /// Beyond the `tos maxclock` best.
    Excess,
    /// Fewer fit sources than `tos minsane` asks for.
    TooFew { fit: usize, min_sane: usize },
    /// Start-up guard: until a network source is the system peer, the fit sources must be
    /// a majority of those answering.
    Majority { fit: usize, answering: usize },
    /// Fit; the next selection round decides.
    Pending,
}

impl Reason {
    /// A short stable name of the reason's kind (a label value for metrics; the words
    /// carry numbers that change).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::SystemPeer => "system_peer",
            Reason::Candidate => "candidate",
            Reason::Backup => "backup",
            Reason::Fallback => "fallback",
            Reason::NoSelect => "noselect",
            Reason::GroupSender => "group_sender",
            Reason::Waiting => "waiting",
            Reason::NoReplyYet { .. } => "no_reply_yet",
            Reason::Unreachable { .. } => "unreachable",
            Reason::Denied { .. } => "kod_deny",
            Reason::AuthFailed { .. } => "auth_failed",
            Reason::Unsynchronised => "unsynchronised",
            Reason::BadHeader => "bad_header",
            Reason::RateKiss { .. } => "kod_rate",
            Reason::StratumCeiling { .. } => "stratum_ceiling",
            Reason::StratumFloor { .. } => "stratum_floor",
            Reason::Distance { .. } => "max_distance",
            Reason::Loop { .. } => "loop",
            Reason::Falseticker { .. } => "falseticker",
            Reason::Outlier => "outlier",
            Reason::Excess => "excess",
            Reason::TooFew { .. } => "minsane",
            Reason::Majority { .. } => "startup_majority",
            Reason::Pending => "pending",
        }
    }

    /// Whether the source's time is used now (system peer or combined).
    pub fn is_used(&self) -> bool {
        matches!(
            self,
            Reason::SystemPeer | Reason::Candidate | Reason::Backup
        )
    }

    /// Passing states of a starting source, not worth a log line.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Reason::Waiting | Reason::NoReplyYet { .. } | Reason::Pending | Reason::GroupSender
        )
    }
}

fn secs(d: NtpDuration) -> f64 {
    d.to_secs_f64()
}

/// A kiss code as its letters (anything unprintable left out: it came off the network).
fn kiss_text(code: RefId) -> String {
    code.0
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| char::from(*b))
        .collect()
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::SystemPeer => f.write_str("system peer"),
            Reason::Candidate => f.write_str("candidate (combined)"),
            Reason::Backup => f.write_str("backup: a survivor beyond 'tos minclock'"),
            Reason::Fallback => f.write_str(
                "fallback: a local clock is used only when no other source survives",
            ),
            Reason::NoSelect => {
                f.write_str("noselect: never selected (remove 'noselect' from its server line)")
            }
            Reason::GroupSender => f.write_str(
                "sends to a group address (broadcast or manycast); not a time source itself",
            ),
            Reason::Waiting => f.write_str("waiting for the first poll"),
            Reason::NoReplyYet { sent } => write!(f, "no reply yet to {sent} requests"),
            Reason::Unreachable { polls, ever: true } => {
                write!(f, "unreachable: no reply to the last {polls} polls")
            }
            Reason::Unreachable { polls, ever: false } => {
                write!(f, "unreachable: no reply to any of its {polls} requests")
            }
            Reason::Denied { code } => write!(
                f,
                "KoD {}: the server refuses us; association stopped (its restrict lines deny this host)",
                kiss_text(*code)
            ),
            Reason::AuthFailed {
                key: Some(k),
                replied: true,
            } => write!(
                f,
                "authentication failed: key {k} digest mismatch (the server's key {k} differs from ours)"
            ),
            Reason::AuthFailed {
                key: Some(k),
                replied: false,
            } => write!(
                f,
                "authentication failed: key {k} cannot sign our requests (add it to the keys file and to 'trustedkey')"
            ),
            Reason::AuthFailed { key: None, .. } => f.write_str(
                "authentication failed: its reply carried a bad MAC, or none where 'restrict notrust' wants one",
            ),
            Reason::Unsynchronised => write!(f, "stratum {STRATUM_UNSPEC}: server not synchronised"),
            Reason::BadHeader => {
                f.write_str("bad header: the server claims a root distance of 16 s or more")
            }
            Reason::RateKiss { poll } => {
                write!(f, "KoD RATE: poll raised to {} s", poll.seconds())
            }
            Reason::StratumCeiling { stratum, ceiling } => write!(
                f,
                "stratum {stratum} is not below ceiling {ceiling} (raise it with 'tos ceiling')"
            ),
            Reason::StratumFloor { stratum, floor } => write!(
                f,
                "stratum {stratum} is below floor {floor} (lower it with 'tos floor')"
            ),
            Reason::Distance { distance, max } => write!(
                f,
                "root distance {:.2} s exceeds maxdist {:.2} s (raise it with 'tos maxdist')",
                secs(*distance),
                secs(*max)
            ),
            Reason::Loop { refid } => write!(
                f,
                "timing loop: the server is synchronised to this host (refid {})",
                std::net::Ipv4Addr::from(refid.0)
            ),
            Reason::Falseticker { others } => {
                let s = if *others == 1 { "" } else { "s" };
                write!(f, "falseticker: no intersection with the {others} other{s}")
            }
            Reason::Outlier => f.write_str("outlier: discarded by clustering (its jitter)"),
            Reason::Excess => f.write_str("excess: beyond the best 'tos maxclock' sources"),
            Reason::TooFew { fit, min_sane } => write!(
                f,
                "too few sources: {fit} fit, 'tos minsane' wants {min_sane}"
            ),
            Reason::Majority { fit, answering } => write!(
                f,
                "start-up: {fit} of {answering} answering sources fit, waiting for a majority"
            ),
            Reason::Pending => f.write_str("fit: the next selection round decides"),
        }
    }
}

impl Association {
    /// Records a reply from the peer that reached this association (whatever its fate)
    /// at monotonic `now`; `rate_kiss`: it was a kiss-o'-death RATE.
    pub fn note_reply(&mut self, now: Duration, rate_kiss: bool) {
        self.last_reply = Some(now);
        self.rate_kissed = rate_kiss;
    }

    /// This association's current reason.
    pub fn reason(&self, ctx: &Context<'_>) -> Reason {
        if let Some(selected) = selected(self.status) {
            return selected;
        }
        if self.config.noselect {
            return Reason::NoSelect;
        }
        if self.config.mode.sends_to_group() {
            return Reason::GroupSender;
        }
        if self.flash.has(Flash::DENIED) {
            return Reason::Denied {
                code: self.peer.refid,
            };
        }
        if self.flash.has(Flash::AUTH) {
            return Reason::AuthFailed {
                key: self.config.key,
                replied: self.last_reply.is_some(),
            };
        }
        let news = self.last_reply.is_some_and(|at| {
            let window = self.hpoll.seconds().saturating_mul(REPLY_NEWS_POLLS);
            ctx.now.saturating_sub(at) <= Duration::from_secs(window)
        });
        if news {
            if let Some(refused) = self.refused_reply() {
                return refused;
            }
        }
        if self.reach == 0 {
            return self.silence();
        }
        self.peer_tests(ctx).unwrap_or_else(|| self.selection(ctx))
    }

    /// The last reply's own failure: unsynchronised, absurd header, rate kiss.
    fn refused_reply(&self) -> Option<Reason> {
        if self.flash.has(Flash::PKT_STRATUM) {
            Some(Reason::Unsynchronised)
        } else if self.flash.has(Flash::PKT_HEADER) {
            Some(Reason::BadHeader)
        } else if self.rate_kissed {
            Some(Reason::RateKiss { poll: self.hpoll })
        } else {
            None
        }
    }

    /// No usable reply within the reach register.
    fn silence(&self) -> Reason {
        if self.sent == 0 {
            return Reason::Waiting;
        }
        if self.received == 0 && self.sent < REPLY_NEWS_POLLS {
            return Reason::NoReplyYet { sent: self.sent };
        }
        // The register emptied after 8 silent polls; `unreach` counts those since.
        let polls = if self.received == 0 {
            self.sent
        } else {
            REPLY_NEWS_POLLS + u64::from(self.unreach.saturating_sub(1))
        };
        Reason::Unreachable {
            polls,
            ever: self.received > 0,
        }
    }

    /// The peer tests (classic `peer_unfit`), as they stand now.
    fn peer_tests(&self, ctx: &Context<'_>) -> Option<Reason> {
        let p = &self.peer;
        let unfit = Flash(self.unfit(ctx.now, &ctx.sys, &ctx.tos, ctx.own_refids));
        if unfit.has(Flash::PEER_STRATUM) {
            return Some(if p.stratum >= STRATUM_UNSPEC || p.stratum == 0 {
                Reason::Unsynchronised
            } else if p.stratum < ctx.tos.floor {
                Reason::StratumFloor {
                    stratum: p.stratum,
                    floor: ctx.tos.floor,
                }
            } else {
                Reason::StratumCeiling {
                    stratum: p.stratum,
                    ceiling: ctx.tos.ceiling,
                }
            });
        }
        if unfit.has(Flash::PEER_DIST) {
            return Some(Reason::Distance {
                distance: self.root_distance(ctx.now, &ctx.tos),
                max: ctx.tos.max_dist,
            });
        }
        unfit
            .has(Flash::PEER_LOOP)
            .then_some(Reason::Loop { refid: p.refid })
    }

    /// A fit source the system process did not use.
    fn selection(&self, ctx: &Context<'_>) -> Reason {
        match self.status {
            SelectStatus::Falseticker => Reason::Falseticker {
                others: ctx.fit.saturating_sub(1),
            },
            SelectStatus::Outlier => Reason::Outlier,
            SelectStatus::Excess => Reason::Excess,
            _ if ctx.fit < ctx.tos.min_sane => Reason::TooFew {
                fit: ctx.fit,
                min_sane: ctx.tos.min_sane,
            },
            _ if !ctx.network_peer && ctx.fit * 2 <= ctx.answering => Reason::Majority {
                fit: ctx.fit,
                answering: ctx.answering,
            },
            _ => Reason::Pending,
        }
    }
}

/// The reason of a selection status that means "used".
fn selected(status: SelectStatus) -> Option<Reason> {
    match status {
        SelectStatus::SystemPeer | SelectStatus::PpsPeer => Some(Reason::SystemPeer),
        SelectStatus::Candidate => Some(Reason::Candidate),
        SelectStatus::Backup => Some(Reason::Backup),
        _ => None,
    }
}

/// The reason of a reference clock (LOCAL): the system peer, a fallback, or not polled yet.
pub fn refclock_reason(system_peer: bool, polled: bool) -> Reason {
    match (system_peer, polled) {
        (true, _) => Reason::SystemPeer,
        (false, true) => Reason::Fallback,
        (false, false) => Reason::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::super::AssocConfig;
    use super::*;
    use crate::time::{NtpShort, NtpTimestamp};
    use crate::wire::ntp::{Header, Leap, Mode};

    const T0: u64 = 1_700_000_000;

    fn at(s: u64) -> (Duration, NtpTimestamp) {
        (
            Duration::from_secs(s),
            NtpTimestamp::from_unix((T0 + s) as i64, 0),
        )
    }

    fn sys() -> SystemVars {
        SystemVars::initial(-20)
    }

    fn ctx(now: Duration, tos: TosParams, fit: usize, answering: usize) -> Context<'static> {
        Context {
            now,
            tos,
            sys: sys(),
            own_refids: &[],
            fit,
            answering,
            network_peer: false,
        }
    }

    /// A server association after its first poll at 1 s, and the request it sent.
    fn polled(config: AssocConfig) -> (Association, Header) {
        let mut a = Association::new(config, Duration::ZERO);
        let (mono, clock) = at(1);
        let request = a.on_timer(mono, clock, &sys()).send.expect("request");
        (a, request)
    }

    /// The server's answer to `request` at `secs`, root dispersion `disp_s`.
    fn answer(request: &Header, secs: u64, disp_s: f64) -> Header {
        let (_, t) = at(secs);
        Header {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: request.poll,
            precision: -20,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_duration(NtpDuration::from_secs_f64(disp_s)),
            reference_id: RefId::from_ascii("GPS"),
            reference_time: t,
            origin_time: request.transmit_time,
            receive_time: t,
            transmit_time: t,
        }
    }

    fn received(a: &mut Association, reply: &Header, secs: u64) {
        let (mono, clock) = at(secs);
        let got = a.on_packet(reply, clock, mono, &sys());
        a.note_reply(mono, got == super::super::Received::RateKiss);
    }

    /// A server that answered the whole iburst with dispersion `disp_s`; returns the
    /// association and the time of the last answer.
    fn answered(config: AssocConfig, disp_s: f64) -> (Association, Duration) {
        let (mut a, mut req) = polled(config);
        let mut t = 1;
        for _ in 0..8 {
            received(&mut a, &answer(&req, t, disp_s), t);
            t = a.next_deadline().as_secs();
            let (mono, clock) = at(t);
            match a.on_timer(mono, clock, &sys()).send {
                Some(r) => req = r,
                None => break,
            }
        }
        (a, Duration::from_secs(t))
    }

    fn server() -> AssocConfig {
        AssocConfig::server(7, RefId([192, 0, 2, 1]))
    }

    #[test]
    fn windows_like_dispersion_names_tos_maxdist_until_raised() {
        let (mut a, now) = answered(server(), 3.0);
        let reason = a.reason(&ctx(now, TosParams::default(), 0, 1));
        assert_eq!(reason.code(), "max_distance");
        let text = reason.to_string();
        assert!(text.starts_with("root distance 3.0"), "{text}");
        assert!(
            text.ends_with(" s exceeds maxdist 1.50 s (raise it with 'tos maxdist')"),
            "{text}"
        );
        let raised = TosParams {
            max_dist: NtpDuration::from_secs_f64(16.0),
            ..TosParams::default()
        };
        assert_eq!(a.reason(&ctx(now, raised, 1, 1)), Reason::Pending);
        a.set_status(SelectStatus::SystemPeer);
        assert_eq!(a.reason(&ctx(now, raised, 1, 1)).to_string(), "system peer");
        a.set_status(SelectStatus::Candidate);
        assert_eq!(
            a.reason(&ctx(now, raised, 2, 2)).to_string(),
            "candidate (combined)"
        );
    }

    #[test]
    fn silence_is_unreachable_after_eight_polls() {
        let mut a = Association::new(server(), Duration::ZERO);
        let quiet = ctx(Duration::ZERO, TosParams::default(), 0, 0);
        assert_eq!(a.reason(&quiet), Reason::Waiting);
        let mut t = 1;
        for sent in 1..=8u64 {
            let (mono, clock) = at(t);
            a.on_timer(mono, clock, &sys());
            t = a.next_deadline().as_secs();
            let r = a.reason(&ctx(mono, TosParams::default(), 0, 0));
            if sent < 8 {
                assert_eq!(r, Reason::NoReplyYet { sent });
            } else {
                assert_eq!(
                    r.to_string(),
                    "unreachable: no reply to any of its 8 requests",
                    "{r:?}"
                );
            }
        }
        // A server that answered, then fell silent: the reach register empties.
        let (mut a, mut now) = answered(server(), 0.0);
        let mut reason = Reason::Waiting;
        while !matches!(reason, Reason::Unreachable { .. }) && now < Duration::from_secs(3600) {
            now = a.next_deadline();
            let (mono, clock) = at(now.as_secs());
            a.on_timer(mono, clock, &sys());
            reason = a.reason(&ctx(mono, TosParams::default(), 0, 0));
        }
        assert_eq!(
            reason.to_string(),
            "unreachable: no reply to the last 8 polls"
        );
    }

    #[test]
    fn refused_replies_say_why() {
        let now = Duration::from_secs(2);
        let c = ctx(now, TosParams::default(), 0, 0);
        let (mut a, req) = polled(server());
        let mut unsync = answer(&req, 1, 0.0);
        unsync.leap = Leap::Unsync;
        unsync.stratum = 16;
        received(&mut a, &unsync, 1);
        assert_eq!(
            a.reason(&c).to_string(),
            "stratum 16: server not synchronised"
        );

        let (mut a, req) = polled(server());
        let mut kiss = answer(&req, 1, 0.0);
        (kiss.leap, kiss.stratum) = (Leap::Unsync, 0);
        kiss.reference_id = RefId::from_ascii("RATE");
        kiss.poll = 9;
        received(&mut a, &kiss, 1);
        assert_eq!(a.reason(&c).to_string(), "KoD RATE: poll raised to 1024 s");

        kiss.reference_id = RefId::from_ascii("DENY");
        let (mut a, req) = polled(server());
        kiss.origin_time = req.transmit_time;
        received(&mut a, &kiss, 1);
        assert_eq!(a.reason(&c).code(), "kod_deny");
        assert!(a.reason(&c).to_string().starts_with("KoD DENY: "));

        let (mut a, _) = polled(AssocConfig {
            key: Some(1),
            ..server()
        });
        a.note_reply(now, false);
        a.auth_failed();
        assert_eq!(
            a.reason(&c).to_string(),
            "authentication failed: key 1 digest mismatch (the server's key 1 differs from ours)"
        );
    }

    #[test]
    fn selection_outcomes_in_words() {
        let (mut a, now) = answered(server(), 0.0);
        a.set_status(SelectStatus::Falseticker);
        assert_eq!(
            a.reason(&ctx(now, TosParams::default(), 4, 4)).to_string(),
            "falseticker: no intersection with the 3 others"
        );
        a.set_status(SelectStatus::Reject);
        assert_eq!(
            a.reason(&ctx(now, TosParams::default(), 1, 3)),
            Reason::Majority {
                fit: 1,
                answering: 3
            }
        );
        let minsane = TosParams {
            min_sane: 3,
            ..TosParams::default()
        };
        assert_eq!(
            a.reason(&ctx(now, minsane, 2, 2)).to_string(),
            "too few sources: 2 fit, 'tos minsane' wants 3"
        );
        let (n, _) = answered(
            AssocConfig {
                noselect: true,
                ..server()
            },
            0.0,
        );
        assert_eq!(
            n.reason(&ctx(now, TosParams::default(), 0, 1)).code(),
            "noselect"
        );
        assert_eq!(refclock_reason(false, true).code(), "fallback");
    }
}
