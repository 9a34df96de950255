//! Per-association protocol state (RFC 5905 sections 9 and 13; classic `struct peer`):
//! the poll process with its reach register, bursts and back-off ([`poll`]), the packet
//! tests and kiss-o'-death handling ([`receive`]), the clock filter, and the peer tests
//! that decide whether the association may take part in selection. Sans-IO: the engine
//! owns the socket and the timers and passes monotonic and clock time in.

mod casting;
pub mod flash;
mod poll;
pub mod reason;
mod receive;
mod round;
#[cfg(test)]
mod start_tests;

pub use flash::Flash;
pub use poll::PollOutput;
pub use reason::Reason;
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

/// Exchanges in a burst (NTP_BURST) and the spacing between them (BURST_DELAY), which is
/// also the least time between any two requests to one server.
pub const BURST_COUNT: u8 = 8;
pub const BURST_INTERVAL: Duration = Duration::from_secs(2);
/// Samples a fresh association must hold before the empty stages of its clock filter stop
/// counting at MAXDISPERSE: two, so that the jitter measures something.
const START_SAMPLES: usize = 2;
/// Unanswered polls after which the poll interval backs off (NTP_UNREACH).
pub const UNREACH_LIMIT: u32 = 10;

/// How the association was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssocMode {
    /// `server` or `pool`: we send mode 3.
    Client,
    /// `peer`: we send mode 1.
    SymmetricActive,
    /// Mobilised by a mode-1 packet from an unknown peer: we send mode 2, at first only
    /// in answer to its packets (see [`Association::proven`]).
    SymmetricPassive,
    /// `broadcast ADDR`: we send mode 5 to a broadcast or multicast address every poll
    /// and never receive (classic MODE_BROADCAST).
    Broadcast,
    /// Mobilised by a mode-5 packet (`broadcastclient`): a volley of mode 3 requests to
    /// calibrate the delay, then we only listen (classic MODE_BCLIENT).
    BroadcastClient,
    /// `manycastclient ADDR`: we send mode 3 to a group address every poll; each server
    /// answering is mobilised as a client association of its own.
    ManycastClient,
}

impl AssocMode {
    pub fn wire_mode(self) -> Mode {
        match self {
            AssocMode::Client | AssocMode::BroadcastClient | AssocMode::ManycastClient => {
                Mode::Client
            }
            AssocMode::SymmetricActive => Mode::SymmetricActive,
            AssocMode::SymmetricPassive => Mode::SymmetricPassive,
            AssocMode::Broadcast => Mode::Broadcast,
        }
    }

    /// Sends to a group address and never hears from it: no reach, never a source.
    pub fn sends_to_group(self) -> bool {
        matches!(self, AssocMode::Broadcast | AssocMode::ManycastClient)
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
    /// Our last transmit timestamp, which a reply must echo (zero: none outstanding).
    xmt: NtpTimestamp,
    /// A packet has echoed one of our transmit timestamps: the peer really is at its
    /// address. Kept across [`Association::clear`], which forgets timing, not the peer.
    proven: bool,
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
    /// When the last request went out (kept across a clear, for the 2 s spacing).
    last_request: Option<Duration>,
    sent: u64,
    received: u64,
    /// Monotonic time of the last reply that reached us, refused or not (for the reason).
    last_reply: Option<Duration>,
    /// That reply was a kiss-o'-death RATE.
    rate_kissed: bool,
    /// Received packets refused by a packet test or authentication.
    rejected: u64,
    /// A broadcast client's one-way delay allowance; None while the volley calibrates it.
    broadcast_delay: Option<NtpDuration>,
    /// What a broadcast client falls back on when the volley got no answer.
    broadcast_delay_default: NtpDuration,
}

impl Association {
    /// A fresh association whose first poll is due at `now`.
    pub fn new(config: AssocConfig, now: Duration) -> Association {
        let mut assoc = Association {
            config,
            peer: Self::cleared_header(RefId::INIT),
            filter: ClockFilter::new(now),
            org: NtpTimestamp::ZERO,
            rec: NtpTimestamp::ZERO,
            xmt: NtpTimestamp::ZERO,
            proven: false,
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
            last_request: None,
            sent: 0,
            received: 0,
            last_reply: None,
            rate_kissed: false,
            rejected: 0,
            broadcast_delay: None,
            broadcast_delay_default: NtpDuration::ZERO,
        };
        assoc.clear(casting::initial_refid(&config), now);
        assoc
    }

    fn cleared_header(refid: RefId) -> PeerHeader {
        PeerHeader::cleared(STRATUM_UNSPEC, refid)
    }

    /// Classic `peer_clear`: forget everything learned (after a step, refid "STEP"),
    /// so the association starts over, with a new iburst if configured. Where classic
    /// polls one second later, the first request goes out as soon as the last one is
    /// [`BURST_INTERVAL`] old: at once for a new association.
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
        self.rate_kissed = false;
        self.last_poll = now;
        self.schedule(now);
    }

    /// The peer dispersion (epsilon) that root distance and the served root dispersion
    /// use. Classic counts the stages a fresh filter has not filled yet at MAXDISPERSE,
    /// which keeps a new association unfit for its first four samples (seven seconds of
    /// iburst). Those stages say nothing about the peer, so once the filter holds
    /// [`START_SAMPLES`] (a jitter to go by) only the stages filled count: a "no answer"
    /// dummy still counts in full, and a full filter is classic's. Falsetickers are still
    /// caught: the intervals are still offset plus or minus root distance, which bounds
    /// the error of a correct server whatever its dispersion (half the delay).
    fn peer_dispersion(&self) -> NtpDuration {
        if self.filter.filled() >= START_SAMPLES {
            self.filter.held_dispersion()
        } else {
            self.filter.dispersion()
        }
    }

    /// Root distance (lambda) at `now`, floored at `tos mindist`.
    pub fn root_distance(&self, now: Duration, tos: &TosParams) -> NtpDuration {
        let age = now.saturating_sub(self.filter.last_update()).as_secs_f64();
        let d = (self.peer.root_delay.to_duration().to_secs_f64()
            + self.filter.delay().to_secs_f64())
            / 2.0
            + self.peer.root_dispersion.to_duration().to_secs_f64()
            + self.peer_dispersion().to_secs_f64()
            + PHI * age
            + self.filter.jitter().to_secs_f64();
        NtpDuration::from_secs_f64(d).max(tos.min_dist)
    }

    /// Classic `peer_unfit`: the peer test bits (TEST10-13) at `now`. `own_refids` are
    /// the refids of our own addresses.
    pub fn unfit(
        &self,
        now: Duration,
        sys: &SystemVars,
        tos: &TosParams,
        own_refids: &[RefId],
    ) -> u16 {
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
        // Our refid names a server only at stratum 2-15; unsynchronised it is a code
        // (INIT, STEP) that a dead server's INIT matches without any loop (classic shows
        // such a server as 1600, not 1e00).
        let sys_refid_is_address = sys.stratum > 1 && sys.stratum < STRATUM_UNSPEC;
        if p.stratum > 1
            && p.refid != loopback
            && ((sys_refid_is_address && p.refid == sys.refid) || own_refids.contains(&p.refid))
        {
            bits |= Flash::PEER_LOOP;
        }
        if self.reach == 0 || self.config.noselect {
            bits |= Flash::PEER_UNREACH;
        }
        bits
    }

    /// Sets the peer flash bits ([`Association::unfit`]) and returns the candidate if
    /// none is set.
    pub fn evaluate(
        &mut self,
        now: Duration,
        sys: &SystemVars,
        tos: &TosParams,
        own_refids: &[RefId],
    ) -> Option<Candidate> {
        let bits = self.unfit(now, sys, tos, own_refids);
        let distance = self.root_distance(now, tos);
        let p = &self.peer;
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

    /// Whether the peer has answered one of our packets (its reply echoed our transmit
    /// timestamp), which proves the address is not spoofed. Until then a passive
    /// association only answers packets and never polls: an address that has not
    /// completed an exchange with us is never sent anything unasked.
    pub fn proven(&self) -> bool {
        self.proven
    }

    /// A passive association still waiting for that proof.
    fn awaits_proof(&self) -> bool {
        self.config.mode == AssocMode::SymmetricPassive && !self.proven
    }

    /// Packets refused by a packet test (flash TEST1-TEST9) or authentication.
    pub fn packets_rejected(&self) -> u64 {
        self.rejected
    }

    /// Counts a received packet the engine or [`Association::on_packet`] refused.
    pub fn count_rejected(&mut self) {
        self.rejected += 1;
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
                dispersion: self.peer_dispersion(),
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
