//! Per-association protocol state (RFC 5905 sections 9 and 13; classic `struct peer`):
//! the poll process with its reach register, bursts and back-off ([`poll`]), the packet
//! tests and kiss-o'-death handling ([`receive`]), the clock filter, and the peer tests
//! that decide whether the association may take part in selection. Sans-IO: the engine
//! owns the socket and the timers and passes monotonic and clock time in.

pub mod flash;
mod poll;
mod receive;
mod round;

pub use flash::Flash;
pub use poll::PollOutput;
pub use receive::Received;
pub use round::select_round;

use crate::discipline::filter::ClockFilter;
use crate::discipline::sample::PHI;
use crate::discipline::select::{Candidate, SelectStatus};
use crate::discipline::system::{SystemVars, TosParams, STRATUM_UNSPEC};
use crate::time::{NtpDuration, NtpTimestamp, PollInterval};
pub use crate::wire::ntp::PeerHeader;
use crate::wire::ntp::{Leap, Mode, RefId};
use std::time::Duration;

/// Exchanges in a burst (NTP_BURST) and the spacing between them (BURST_DELAY).
pub const BURST_COUNT: u8 = 8;
pub const BURST_INTERVAL: Duration = Duration::from_secs(2);
/// Unanswered polls after which the poll interval backs off (NTP_UNREACH).
pub const UNREACH_LIMIT: u32 = 10;

/// How the association was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssocMode {
    /// `server` or `pool`: we send mode 3.
    Client,
    /// `peer`: we send mode 1.
    SymmetricActive,
    /// Mobilised by a mode-1 packet from an unknown peer: we send mode 2.
    SymmetricPassive,
}

impl AssocMode {
    pub fn wire_mode(self) -> Mode {
        match self {
            AssocMode::Client => Mode::Client,
            AssocMode::SymmetricActive => Mode::SymmetricActive,
            AssocMode::SymmetricPassive => Mode::SymmetricPassive,
        }
    }
}

/// Configuration of one association (`server X iburst minpoll 4 ...`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AssocConfig {
    pub id: u32,
    pub mode: AssocMode,
    pub version: u8,
    pub min_poll: PollInterval,
    pub max_poll: PollInterval,
    pub iburst: bool,
    pub burst: bool,
    pub prefer: bool,
    pub noselect: bool,
    /// `true`: never a falseticker.
    pub truechimer: bool,
    /// From a `server`/`peer` line (kept when unreachable or denied); false for pool
    /// servers and passive peers, which are demobilised instead.
    pub configured: bool,
    /// The refid that names this peer when it is our system peer (its IPv4 address).
    pub addr_refid: RefId,
    /// `key N`: requests carry a MAC by key N and only replies signed with it are used.
    pub key: Option<u32>,
}

impl AssocConfig {
    /// Classic defaults for a `server` line: version 4, minpoll 6, maxpoll 10.
    pub fn server(id: u32, addr_refid: RefId) -> AssocConfig {
        AssocConfig {
            id,
            mode: AssocMode::Client,
            version: 4,
            min_poll: PollInterval::DEFAULT_MIN,
            max_poll: PollInterval::DEFAULT_MAX,
            iburst: false,
            burst: false,
            prefer: false,
            noselect: false,
            truechimer: false,
            configured: true,
            addr_refid,
            key: None,
        }
    }
}

/// One association.
#[derive(Clone, Debug)]
pub struct Association {
    config: AssocConfig,
    peer: PeerHeader,
    filter: ClockFilter,
    /// Peer's last transmit timestamp and our receive time of it (sent back as org/rec).
    org: NtpTimestamp,
    rec: NtpTimestamp,
    /// Our last transmit timestamp, which a reply must echo.
    xmt: NtpTimestamp,
    reach: u8,
    unreach: u32,
    burst: u8,
    hpoll: PollInterval,
    ppoll: PollInterval,
    flash: Flash,
    /// The last packet carried a valid MAC by a trusted key (classic FLAG_AUTHENTIC).
    authentic: bool,
    status: SelectStatus,
    next_poll: Duration,
    last_poll: Duration,
    sent: u64,
    received: u64,
}

impl Association {
    /// A fresh association whose first poll is one second from `now`.
    pub fn new(config: AssocConfig, now: Duration) -> Association {
        let mut assoc = Association {
            config,
            peer: Self::cleared_header(RefId::INIT),
            filter: ClockFilter::new(now),
            org: NtpTimestamp::ZERO,
            rec: NtpTimestamp::ZERO,
            xmt: NtpTimestamp::ZERO,
            reach: 0,
            unreach: 0,
            burst: 0,
            hpoll: config.min_poll,
            ppoll: config.max_poll,
            flash: Flash::default(),
            authentic: false,
            status: SelectStatus::Reject,
            next_poll: now,
            last_poll: now,
            sent: 0,
            received: 0,
        };
        assoc.clear(RefId::INIT, now);
        assoc
    }

    fn cleared_header(refid: RefId) -> PeerHeader {
        PeerHeader::cleared(STRATUM_UNSPEC, refid)
    }

    /// Classic `peer_clear`: forget everything learned (after a step, refid "STEP"),
    /// so the association starts over, with a new iburst if configured.
    pub fn clear(&mut self, refid: RefId, now: Duration) {
        self.peer = Self::cleared_header(refid);
        self.filter = ClockFilter::new(now);
        self.org = NtpTimestamp::ZERO;
        self.rec = NtpTimestamp::ZERO;
        self.xmt = NtpTimestamp::ZERO;
        self.reach = 0;
        self.unreach = 0;
        self.burst = 0;
        self.hpoll = self.config.min_poll;
        self.ppoll = self.config.max_poll;
        self.flash = Flash::default();
        self.last_poll = now;
        self.next_poll = now + Duration::from_secs(1);
    }

    /// Root distance (lambda) at `now`, floored at `tos mindist`.
    pub fn root_distance(&self, now: Duration, tos: &TosParams) -> NtpDuration {
        let age = now.saturating_sub(self.filter.last_update()).as_secs_f64();
        let d = (self.peer.root_delay.to_duration().to_secs_f64()
            + self.filter.delay().to_secs_f64())
            / 2.0
            + self.peer.root_dispersion.to_duration().to_secs_f64()
            + self.filter.dispersion().to_secs_f64()
            + PHI * age
            + self.filter.jitter().to_secs_f64();
        NtpDuration::from_secs_f64(d).max(tos.min_dist)
    }

    /// Classic `peer_unfit`: sets the peer flash bits (TEST10-13) and returns the
    /// candidate if none is set. `own_refids` are the refids of our own addresses.
    pub fn evaluate(
        &mut self,
        now: Duration,
        sys: &SystemVars,
        tos: &TosParams,
        own_refids: &[RefId],
    ) -> Option<Candidate> {
        let mut bits = 0;
        let p = &self.peer;
        if p.leap == Leap::Unsync || p.stratum < tos.floor || p.stratum >= tos.ceiling {
            bits |= Flash::PEER_STRATUM;
        }
        let distance = self.root_distance(now, tos);
        let limit = tos.max_dist + NtpDuration::from_secs_f64(PHI * self.hpoll.seconds() as f64);
        if distance >= limit {
            bits |= Flash::PEER_DIST;
        }
        let loopback = RefId([127, 0, 0, 1]);
        if p.stratum > 1
            && p.refid != loopback
            && (p.refid == sys.refid || own_refids.contains(&p.refid))
        {
            bits |= Flash::PEER_LOOP;
        }
        if self.reach == 0 || self.config.noselect {
            bits |= Flash::PEER_UNREACH;
        }
        self.flash = Flash((self.flash.0 & !Flash::PEER_MASK) | bits);
        if bits != 0 {
            self.status = SelectStatus::Reject;
            return None;
        }
        Some(Candidate {
            id: self.config.id,
            offset: self.filter.offset(),
            root_distance: distance,
            jitter: self.filter.jitter(),
            stratum: p.stratum,
            leap: p.leap,
            prefer: self.config.prefer,
            truechimer: self.config.truechimer,
            local_clock: false,
        })
    }

    /// Records the selection status the system process gave this association.
    pub fn set_status(&mut self, status: SelectStatus) {
        self.status = status;
    }

    pub fn config(&self) -> &AssocConfig {
        &self.config
    }

    pub fn id(&self) -> u32 {
        self.config.id
    }

    pub fn peer_header(&self) -> &PeerHeader {
        &self.peer
    }

    pub fn filter(&self) -> &ClockFilter {
        &self.filter
    }

    /// The 8-bit reach register (ntpq `reach`, printed in octal).
    pub fn reach(&self) -> u8 {
        self.reach
    }

    /// Polls without an answer since reachability was lost (ntpq `unreach`).
    pub fn unreach(&self) -> u32 {
        self.unreach
    }

    /// Our poll exponent (ntpq `hpoll`) and the peer's (ntpq `ppoll`).
    pub fn hpoll(&self) -> PollInterval {
        self.hpoll
    }

    pub fn ppoll(&self) -> PollInterval {
        self.ppoll
    }

    pub fn flash(&self) -> Flash {
        self.flash
    }

    pub fn status(&self) -> SelectStatus {
        self.status
    }

    /// Our receive time of the peer's last packet (classic `peer->rec`, the reference
    /// time we serve while it is the system peer).
    pub fn last_received(&self) -> NtpTimestamp {
        self.rec
    }

    /// Monotonic time of the last poll sent (for ntpq `when`).
    pub fn last_poll(&self) -> Duration {
        self.last_poll
    }

    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    pub fn packets_received(&self) -> u64 {
        self.received
    }

    /// Whether a DENY/RSTR kiss put the association in "jail" (it never sends again).
    pub fn denied(&self) -> bool {
        self.flash.has(Flash::DENIED)
    }

    /// Whether the last packet was authentic (ntpq's `auth` column: ok / bad).
    pub fn authentic(&self) -> bool {
        self.authentic
    }

    /// Records the MAC check of a packet about to be processed.
    pub fn set_authentic(&mut self, authentic: bool) {
        self.authentic = authentic;
    }

    /// A packet that failed the digest test (classic TEST5, "bad auth"), or a request we
    /// could not sign: shown in `flash`, otherwise ignored, so the peer never becomes
    /// reachable with a wrong key.
    pub fn auth_failed(&mut self) {
        self.authentic = false;
        self.flash = Flash((self.flash.0 & Flash::DENIED) | Flash::AUTH);
    }
}

impl Association {
    /// Pairs a candidate from [`Association::evaluate`] with what the system process
    /// needs to serve this peer's time.
    pub fn contender(&self, candidate: Candidate) -> crate::discipline::system::Contender {
        crate::discipline::system::Contender {
            candidate,
            details: crate::discipline::system::PeerDetails {
                addr_refid: self.config.addr_refid,
                refid: self.peer.refid,
                root_delay: self.peer.root_delay.to_duration(),
                root_dispersion: self.peer.root_dispersion.to_duration(),
                delay: self.filter.delay(),
                dispersion: self.filter.dispersion(),
                epoch: self.filter.epoch(),
                measurements: self.filter.measurements(),
                received: self.rec,
                min_poll: self.config.min_poll,
                max_poll: self.config.max_poll,
                is_refclock: false,
            },
        }
    }
}
