//! The system process: RFC 5905 sections 11.2 and 11.3 (A.5.5 `clock_select`,
//! `clock_update`) as classic 4.2.6p5 runs them. Given every association's candidate, it
//! selects, clusters and combines, feeds the loop filter when the system peer has a new
//! sample, and derives the system variables we serve: stratum (system peer's + 1), root
//! delay and dispersion, refid, reference time and leap.

use super::cluster::cluster;
use super::combine::{choose, Combined};
use super::filter::{FilterContext, Measurement, STAGES};
use super::loopfilter::{ClockCommand, ClockState, LoopConfig, LoopFilter, Outcome, Slewed};
use super::sample::PHI;
use super::select::{intersect, Candidate, SelectStatus};
use crate::time::{NtpDuration, NtpShort, NtpTimestamp, PollInterval, Ppm};
use crate::wire::ntp::{Leap, RefId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Classic's floor on the dispersion a network peer adds (MINDISPERSE).
const MIN_DISPERSION: f64 = 0.005;
/// Unsynchronised stratum as classic keeps it internally (STRATUM_UNSPEC).
pub const STRATUM_UNSPEC: u8 = 16;
/// The system peer ID while orphan mode is the time source (no association, as classic).
pub const ORPHAN_ID: u32 = 0;

/// `tos` parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TosParams {
    /// `tos minsane`: survivors needed to set the clock (1).
    pub min_sane: usize,
    /// `tos minclock`: survivors clustering keeps (3).
    pub min_clock: usize,
    /// `tos maxdist`: root distance above which a peer is unfit (1.5 s).
    pub max_dist: NtpDuration,
    /// `tos floor` / `tos ceiling`: accepted peer strata (0 / 15).
    pub floor: u8,
    pub ceiling: u8,
    /// `tos mindist`: floor of every root distance (1 ms).
    pub min_dist: NtpDuration,
}

impl Default for TosParams {
    fn default() -> Self {
        TosParams {
            min_sane: 1,
            min_clock: 3,
            max_dist: NtpDuration::from_secs_f64(1.5),
            floor: 0,
            ceiling: 15,
            min_dist: NtpDuration::from_secs_f64(0.001),
        }
    }
}

/// What we advertise and what the peers' filters need to know about us.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SystemVars {
    pub leap: Leap,
    /// 16 when unsynchronised (sent as 0 on the wire).
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    pub refid: RefId,
    pub reference_time: NtpTimestamp,
    /// The system poll exponent (the loop's time constant).
    pub poll: PollInterval,
    /// The system peer's association id.
    pub peer: Option<u32>,
    pub offset: NtpDuration,
    pub jitter: NtpDuration,
    /// Synchronised with the frequency known (state SYNC): the clock filters rank samples
    /// by delay and a burst's samples wait for its end (classic ties both to being
    /// synchronised, which it is not before then; we serve from the first offset).
    pub settled: bool,
    /// The phase the discipline has slewed, for the clock filters.
    pub slewed: Slewed,
}

impl SystemVars {
    /// The start-up state: unsynchronised, refid INIT.
    pub fn initial(precision: i8) -> SystemVars {
        SystemVars {
            leap: Leap::Unsync,
            stratum: STRATUM_UNSPEC,
            precision,
            root_delay: NtpDuration::ZERO,
            root_dispersion: NtpDuration::ZERO,
            refid: RefId::INIT,
            reference_time: NtpTimestamp::ZERO,
            poll: PollInterval(3),
            peer: None,
            offset: NtpDuration::ZERO,
            jitter: NtpDuration::ZERO,
            settled: false,
            slewed: Slewed::default(),
        }
    }

    /// What the associations' clock filters need to know of the system.
    pub fn filter_context(&self) -> FilterContext {
        FilterContext {
            precision: self.precision,
            poll: self.poll,
            settled: self.settled,
            slewed: self.slewed,
        }
    }

    pub fn synchronized(&self) -> bool {
        self.leap != Leap::Unsync
    }

    /// Root dispersion as of `now`: the value at the last update, grown by PHI since
    /// (RFC 5905 A.5.5.2), in the wire's 16.16 format.
    pub fn root_dispersion_at(&self, now: NtpTimestamp) -> NtpShort {
        if self.reference_time.is_zero() {
            return NtpShort::from_duration(self.root_dispersion);
        }
        let age = (now - self.reference_time).abs().to_secs_f64();
        NtpShort::from_duration(self.root_dispersion + NtpDuration::from_secs_f64(age * PHI))
    }

    /// The stratum as sent on the wire (16 becomes 0).
    pub fn wire_stratum(&self) -> u8 {
        if self.stratum >= STRATUM_UNSPEC {
            0
        } else {
            self.stratum
        }
    }
}

/// What the system process needs about the system peer beyond its candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerDetails {
    /// The refid to serve when this peer is the system peer above stratum 1: its address
    /// (IPv4, or the classic hash of an IPv6 one).
    pub addr_refid: RefId,
    /// The peer's own refid (served when we are stratum 1, i.e. the peer is a refclock).
    pub refid: RefId,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    pub delay: NtpDuration,
    pub dispersion: NtpDuration,
    /// When the peer's filter last produced a sample (classic `peer->epoch`).
    pub epoch: Duration,
    /// The samples its filter holds, newest first, for the discipline's line.
    pub measurements: [Option<Measurement>; STAGES],
    /// Our receive time of its last packet (the reference time we serve).
    pub received: NtpTimestamp,
    pub min_poll: PollInterval,
    pub max_poll: PollInterval,
    pub is_refclock: bool,
}

/// One association as the system process sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Contender {
    pub candidate: Candidate,
    pub details: PeerDetails,
}

/// The result of one run of the system process.
#[derive(Clone, Debug, PartialEq)]
pub struct SystemUpdate {
    /// Selection status per association id (for ntpq's tally codes and peer status).
    pub status: Vec<(u32, SelectStatus)>,
    /// Clock commands to apply, in order.
    pub commands: Vec<ClockCommand>,
    /// What the loop filter did (None: it was not run).
    pub outcome: Option<Outcome>,
    /// The system poll to apply to the system peer (classic `poll_update(sys_peer, sys_poll)`).
    pub poll: PollInterval,
}

/// System variables plus the discipline.
#[derive(Clone, Debug)]
pub struct SystemProcess {
    pub vars: SystemVars,
    pub tos: TosParams,
    pub discipline: LoopFilter,
    /// `enable ntp` (the default). With `disable ntp` classic's `local_clock` returns at
    /// once: nothing is stepped or slewed, and since only a slew clears the leap bits the
    /// system stays unsynchronised (leap 11) for good, though stratum, refid, reference
    /// time and root figures follow the system peer. Orphan mode clears them anyway.
    pub ntp: bool,
    /// Epoch of the sample last handed to the loop filter (classic `sys_clocktime`).
    last_used: Option<Duration>,
    /// Time of each survivor's newest sample the loop filter has observed.
    observed: BTreeMap<u32, Duration>,
}

impl SystemProcess {
    /// Starts unsynchronised; the returned command installs the drift file's frequency.
    pub fn new(
        config: LoopConfig,
        drift: Option<Ppm>,
        precision: i8,
        tos: TosParams,
        now: Duration,
    ) -> (SystemProcess, ClockCommand) {
        let (discipline, command) = LoopFilter::new(config, drift, precision, now);
        let process = SystemProcess {
            vars: SystemVars::initial(precision),
            tos,
            discipline,
            ntp: true,
            last_used: None,
            observed: BTreeMap::new(),
        };
        (process, command)
    }

    /// Selects among the fit contenders (the engine passes only those whose evaluation
    /// produced a candidate) and disciplines the clock.
    pub fn run(&mut self, contenders: &[Contender], now: Duration) -> SystemUpdate {
        let cands: Vec<Candidate> = contenders.iter().map(|c| c.candidate).collect();
        let mut status: Vec<(u32, SelectStatus)> =
            cands.iter().map(|c| (c.id, SelectStatus::Reject)).collect();
        let mut update = SystemUpdate {
            status: Vec::new(),
            commands: Vec::new(),
            outcome: None,
            poll: self.vars.poll,
        };
        let inter = intersect(&cands);
        for &i in &inter.falsetickers {
            status[i].1 = SelectStatus::Falseticker;
        }
        let order: Vec<usize> = match inter.fallback {
            Some(local) => vec![local],
            None => inter.truechimers.clone(),
        };
        if order.is_empty() || order.len() < self.tos.min_sane {
            if order.is_empty() {
                self.vars.peer = None;
            }
            update.status = status;
            return update;
        }
        let clustered = cluster(&cands, &order, self.tos.min_clock, self.vars.precision);
        for &i in &clustered.outliers {
            status[i].1 = SelectStatus::Outlier;
        }
        for &i in &clustered.survivors {
            status[i].1 = SelectStatus::Candidate;
        }
        let Some(combined) = choose(
            &cands,
            &clustered.survivors,
            self.vars.peer,
            clustered.select_jitter,
        ) else {
            update.status = status;
            return update;
        };
        let mut observed = false;
        for &i in &combined.counted {
            observed |= self.observe(&contenders[i], now);
        }
        let peer = &contenders[combined.system_peer];
        status[combined.system_peer].1 = SelectStatus::SystemPeer;
        update.status = status;
        self.vars.peer = Some(peer.candidate.id);
        self.vars.offset = combined.offset;
        self.vars.jitter = combined.jitter;
        let poll = self
            .vars
            .poll
            .clamp(peer.details.min_poll, peer.details.max_poll);
        self.discipline.set_poll(poll);
        self.vars.poll = poll;
        if self.last_used.is_none_or(|used| peer.details.epoch > used) {
            self.last_used = Some(peer.details.epoch);
            self.clock_update(peer, &combined, now, &mut update);
        } else if observed {
            let d = &peer.details;
            update.commands = self.discipline.refresh(now, d.min_poll, d.max_poll);
            self.vars.poll = self.discipline.poll();
        }
        update.poll = self.vars.poll;
        self.vars.slewed = self.discipline.slewed();
        update
    }

    /// Hands the loop filter the samples of a survivor it has not seen, each with how much
    /// more delay it had than the best of them (the error an asymmetric path can hide in
    /// it is up to half that).
    fn observe(&mut self, contender: &Contender, now: Duration) -> bool {
        let held = contender.details.measurements.iter().flatten();
        let Some(best) = held.clone().map(|m| m.delay).min() else {
            return false;
        };
        let id = contender.candidate.id;
        let seen = self.observed.get(&id).copied();
        let mut newest = None;
        for m in held.rev().filter(|m| seen.is_none_or(|seen| m.time > seen)) {
            // The offset is the clock's at the middle of the exchange, half a round trip
            // before the reply came (which matters while the clock slews fast).
            let middle = m.time.saturating_sub(m.delay.to_std() / 2);
            self.discipline
                .observe(m.offset, middle, m.delay - best, now);
            newest = Some(m.time);
        }
        if let Some(newest) = newest {
            self.observed.insert(id, newest);
        }
        newest.is_some()
    }

    fn clock_update(
        &mut self,
        peer: &Contender,
        combined: &Combined,
        now: Duration,
        update: &mut SystemUpdate,
    ) {
        let d = &peer.details;
        if !self.ntp {
            self.follow(peer, now);
            if peer.candidate.id == ORPHAN_ID {
                self.vars.leap = combined.leap;
            }
            self.vars.settled = false;
            return;
        }
        let result = self
            .discipline
            .update(combined.offset, now, d.min_poll, d.max_poll);
        update.commands = result.commands;
        update.outcome = Some(result.outcome);
        match result.outcome {
            Outcome::Slewed => {
                self.follow(peer, now);
                self.vars.leap = combined.leap;
                self.vars.poll = self.discipline.poll();
            }
            Outcome::Stepped => {
                // Classic clock_update after a step: unsynchronised until the next update.
                self.vars.peer = None;
                self.vars.leap = Leap::Unsync;
                self.vars.stratum = STRATUM_UNSPEC;
                self.vars.refid = RefId::from_ascii("STEP");
                self.vars.root_delay = NtpDuration::ZERO;
                self.vars.root_dispersion = NtpDuration::ZERO;
                self.vars.reference_time = NtpTimestamp::ZERO;
                self.vars.jitter = NtpDuration::from_log2(self.vars.precision);
                self.vars.poll = self.discipline.poll();
            }
            Outcome::Ignored | Outcome::Panic { .. } | Outcome::Exit => {}
        }
        // Classic's filters rank by delay and wait for a burst's end once synchronised,
        // which there happens with the frequency known; here we serve before, so both are
        // asked for (after a step the clock is unsynchronised again, whatever it knows).
        self.vars.settled = self.vars.synchronized()
            && matches!(self.discipline.state(), ClockState::Sync | ClockState::Spik);
    }

    /// Stratum, refid, reference time and root figures from the system peer (classic
    /// sets them in `clock_update` whatever the discipline then does).
    fn follow(&mut self, peer: &Contender, now: Duration) {
        let (c, d) = (&peer.candidate, &peer.details);
        self.vars.stratum = c.stratum.saturating_add(1).min(STRATUM_UNSPEC);
        self.vars.refid = if self.vars.stratum == 1 || self.vars.stratum == STRATUM_UNSPEC {
            d.refid
        } else {
            d.addr_refid
        };
        self.vars.reference_time = d.received;
        self.vars.root_delay = d.root_delay + d.delay;
        let age = now.saturating_sub(d.epoch).as_secs_f64();
        let mut disp = d.dispersion.to_secs_f64()
            + PHI * age
            + c.jitter.to_secs_f64()
            + c.offset.to_secs_f64().abs();
        if !d.is_refclock {
            disp = disp.max(MIN_DISPERSION);
        }
        self.vars.root_dispersion = d.root_dispersion + NtpDuration::from_secs_f64(disp);
    }

    /// The once-a-second housekeeping: the daemon discipline's phase slice, and root
    /// dispersion growing at PHI while nothing refreshes it.
    pub fn tick(&mut self, now: Duration) -> Option<ClockCommand> {
        self.vars.root_dispersion = self.vars.root_dispersion + NtpDuration::from_secs_f64(PHI);
        let command = self.discipline.tick(now);
        self.vars.slewed = self.discipline.slewed();
        command
    }
}
