//! The daemon's sans-IO core: one [`Engine`] owns the clock, the system process, access
//! control and the sources (network associations, LOCAL clock drivers, orphan mode: one
//! table, [`Sources`]). It keeps the read-only [`Settings`] apart from what changes as it
//! runs. The shell feeds it datagrams and timer ticks, sends what it hands back and
//! carries out its [`Action`]s.
//! One packet reads top to bottom in [`Engine::handle_datagram`]: decode -> restrict ->
//! handler (serve, association, mode 6) -> encode.

mod casting;
pub mod control_view;
mod events;
mod metrics_view;
mod mode7_view;
pub mod peers;
pub mod reasons;
mod records;
mod recover;
#[cfg(test)]
mod refclock_tests;
#[cfg(test)]
mod rv_tests;
pub mod sources;
mod steer;

use crate::assoc::{select_round, AssocMode, Flash, Received};
use crate::auth::KeyRing;
use crate::clock::Clock;
use crate::control::{self, Context, NonceKey, QueryAccess};
use crate::discipline::loopfilter::{LoopConfig, Outcome};
use crate::discipline::system::{SystemProcess, SystemVars, TosParams};
use crate::leap::LeapTable;
use crate::refclock::driver::{Input, Notice, RefClock};
use crate::refclock::local::LocalClock;
use crate::restrict::{
    kiss_header, Access, AccessControl, Arrival, AuthStatus, ClientReply, ControlRights, Denied,
    Grant, Monitor, NewSymmetric, RestrictList,
};
use crate::server;
use crate::stats::Record;
use crate::time::{NtpTimestamp, Ppm};
use crate::wire::ntp::{peek_mode, Header, Leap, Mode, Packet, RefId, HEADER_LEN};
pub use casting::Casting;
use control_view::{MruView, View};
use events::ClockWatch;
pub use events::Event;
use peers::{refid_of, PeerSpec, PeerTable};
use sources::ORPHAN_ID;
pub use sources::{AssocId, Source, Sources};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How often the drift file is written (classic: hourly).
const DRIFT_WRITE_INTERVAL: Duration = Duration::from_secs(3600);
/// The system clock housekeeping interval (classic's one-second timer).
const TICK: Duration = Duration::from_secs(1);

/// Settings the engine runs with, resolved from ntp.conf and the command line. The engine
/// never changes them: what changes as it runs (the MRU monitor, the sources' state)
/// starts from them and lives in the engine.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The LOCAL drivers (`server 127.127.1.u` with their `fudge`s), as configured.
    pub local_clocks: Vec<LocalClock>,
    /// The device reference clocks (SHM, NMEA, PPS) with their fudges.
    pub refclocks: Vec<RefClock>,
    /// The restrict list, and the monitor as configured (empty). `Engine::new` moves it into
    /// the engine and leaves an empty one here.
    pub access: AccessControl,
    /// `enable ntp` (the default): the daemon may steer the clock.
    pub steer_clock: bool,
    /// `enable auth` (the default): unauthenticated symmetric peers are not mobilised.
    pub authenticate: bool,
    /// Frequency read from the drift file, if any.
    pub initial_frequency: Option<Ppm>,
    /// A drift file is configured, so the engine asks for it to be written.
    pub drift_file: bool,
    /// First association ID (classic picks it at random at start).
    pub assoc_base: u16,
    /// Secret for mrulist nonces, random per start.
    pub nonce: NonceKey,
    /// `tinker` and the -g/-x/-q options.
    pub loop_config: LoopConfig,
    pub tos: TosParams,
    /// Network sources known at start (address literals); names arrive later through
    /// [`Engine::mobilize`].
    pub sources: Vec<PeerSpec>,
    /// Our own addresses: a source synchronised to one of them is a timing loop.
    pub own_addresses: Vec<IpAddr>,
    /// `tos orphan N [orphanwait W]`: with no source left after W, serve at stratum N.
    pub orphan: Option<Orphan>,
    /// Statistics files are enabled: emit [`Action::Stats`] records.
    pub stats: bool,
    /// The `leapfile` list, when one was loaded.
    pub leap_table: Option<LeapTable>,
    /// The keys file with `trustedkey` applied.
    pub keys: KeyRing,
    /// `controlkey`: mode 6 writes need a MAC by this (trusted) key.
    pub control_key: Option<u32>,
    /// `enable mode7`: answer mode 7 from other hosts too (this host always is).
    pub mode7: bool,
    /// Broadcast client, manycast server.
    pub casting: Casting,
    /// The `system` variable: the kernel's name and release as classic builds it from
    /// uname (`Linux/6.1.0-18-amd64`); the shell reads it, the engine only shows it.
    pub system_name: String,
}

/// What follows a reply header: nothing, a MAC by the request's key, or a crypto-NAK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplyMac {
    None,
    Key(u32),
    CryptoNak,
}

impl Settings {
    /// An isolated server under `access` with classic's defaults: no sources, no drift
    /// file, no keys, and hands off the clock (`disable ntp`) until told otherwise.
    pub fn new(access: AccessControl, nonce: NonceKey, assoc_base: u16) -> Settings {
        Settings {
            local_clocks: Vec::new(),
            refclocks: Vec::new(),
            access,
            steer_clock: false,
            authenticate: true,
            initial_frequency: None,
            drift_file: false,
            assoc_base,
            nonce,
            loop_config: LoopConfig::default(),
            tos: TosParams::default(),
            sources: Vec::new(),
            own_addresses: Vec::new(),
            orphan: None,
            stats: false,
            leap_table: None,
            keys: KeyRing::default(),
            control_key: None,
            mode7: false,
            casting: Casting::default(),
            system_name: "Linux".into(),
        }
    }
}

/// Orphan mode (classic `tos orphan`): an isolated network keeps a common time by letting
/// the daemon stand in as a source of stratum N once no real source is left.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orphan {
    pub stratum: u8,
    /// `orphanwait`: how long after start real sources get to appear (classic: 300 s).
    pub wait: Duration,
}

/// One received datagram, as the shell hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub bytes: &'a [u8],
    pub source: SocketAddr,
    /// Our address it arrived on (the interface socket's), if known.
    pub local: Option<SocketAddr>,
    /// When the kernel received it, by CLOCK_REALTIME (its SO_TIMESTAMPNS stamp), if it
    /// said; mapped into the clock's time base by [`Clock::at_realtime`].
    pub received: Option<NtpTimestamp>,
}

/// Work for the shell.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Write this frequency to the drift file.
    WriteDrift(Ppm),
    /// Stop the daemon with this status (-q done, or a panic-size offset), printing
    /// `message` on standard output as classic does for -q.
    Exit {
        status: i32,
        message: Option<String>,
    },
    /// Append this statistics record (loopstats, peerstats) to its file.
    Stats(Record),
    /// Log this event (see [`Event::log`]).
    Event(Event),
}

/// The NTP version `ss_thisver` counts; the others count as `ss_oldver`.
const CURRENT_VERSION: u8 = 4;

/// Packet counters (the basis of ntpq's sysstats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub bad_format: u64,
    /// Packets refused for a missing or bad MAC (classic `sys_badauth`).
    pub bad_auth: u64,
    pub dropped: u64,
    pub served: u64,
    pub kissed: u64,
    /// Monotonic time the engine started (for `ss_uptime`).
    pub started: Duration,
    /// Packets of NTP version 4, and of older versions.
    pub this_version: u64,
    pub old_version: u64,
    /// Dropped by `restrict`, and over the `limited` rate (KoD or not).
    pub restricted: u64,
    pub rate_limited: u64,
    /// Packets handed to an association that answered its request (or opened an exchange).
    pub to_associations: u64,
    /// Packets an association refused as not answering its request: duplicates, replays,
    /// a wrong or zero origin timestamp (TEST1/TEST2, classic's `bogusorg` and `oldpkt`).
    pub bogus: u64,
    /// Of those, kiss-o'-death packets (RATE, DENY, RSTR): forgeries, never acted on.
    pub forged_kisses: u64,
    /// Packets `restrict` dropped, by reason (indexed by `Denied as usize`).
    pub restrict_drops: [u64; Denied::ALL.len()],
}

impl Counters {
    /// Counts a packet `restrict` or the rate limiter turned away.
    fn denied(&mut self, access: &Access) {
        if let Access::Drop(reason) = access {
            self.restrict_drops[*reason as usize] += 1;
        }
        match access {
            Access::Drop(crate::restrict::Denied::RateLimited) | Access::Kiss { .. } => {
                self.rate_limited += 1
            }
            Access::Drop(_) => self.restricted += 1,
            _ => {}
        }
    }
}

/// The daemon core.
#[derive(Debug)]
pub struct Engine<C: Clock> {
    clock: C,
    settings: Settings,
    system: SystemProcess,
    /// The restrict list and the MRU monitor, which every packet updates.
    access: AccessControl,
    sources: Sources,
    counters: Counters,
    next_tick: Duration,
    next_drift_write: Duration,
    /// The kernel refused a clock operation once; it has been logged and is not retried.
    clock_refused: bool,
    own_refids: Vec<RefId>,
    actions: Vec<Action>,
    /// -q: associations still in their first burst; when none is left unset, give up.
    quit_waiting: usize,
    started: Duration,
    /// The leap the kernel was last armed with.
    kernel_leap: Leap,
    /// The expiry of the leap file has been logged.
    leap_expired: bool,
    /// What happens to the clock behind our back.
    watch: ClockWatch,
    /// Since when no source survives selection (holdover).
    holdover_since: Option<Duration>,
    /// The discipline's last update.
    frequency_watch: recover::FrequencyWatch,
    /// Sources said to answer unsynchronised, until they answer synchronised again.
    unsynchronised: Vec<AssocId>,
    /// The reasons said in the log.
    reason_log: reasons::ReasonLog,
    /// Client associations our manycast solicitations mobilised.
    manycast_found: Vec<AssocId>,
}

impl<C: Clock> Engine<C> {
    pub fn new(clock: C, mut settings: Settings) -> Engine<C> {
        let now = clock.mono();
        let (mut system, first) = SystemProcess::new(
            settings.loop_config,
            settings.initial_frequency,
            clock.precision(),
            settings.tos,
            now,
        );
        system.ntp = settings.steer_clock;
        let sources = Sources::new(
            settings.assoc_base,
            &settings.local_clocks,
            &settings.refclocks,
            settings.orphan,
            now,
        );
        let own_refids = settings
            .own_addresses
            .iter()
            .map(|a| refid_of(*a))
            .collect();
        // Moved, not cloned: a clone would reserve the monitor's memory twice and copy
        // its whole (empty) index, touching 60 kB of pages the idle daemon never uses.
        let access = std::mem::replace(
            &mut settings.access,
            AccessControl::new(RestrictList::new(), Monitor::new(0)),
        );
        let mut engine = Engine {
            clock,
            access,
            settings,
            system,
            sources,
            counters: Counters {
                started: now,
                ..Counters::default()
            },
            next_tick: now + TICK,
            next_drift_write: now + DRIFT_WRITE_INTERVAL,
            clock_refused: false,
            own_refids,
            actions: Vec::new(),
            quit_waiting: 0,
            started: now,
            kernel_leap: Leap::NoWarning,
            leap_expired: false,
            watch: ClockWatch::default(),
            holdover_since: None,
            frequency_watch: recover::FrequencyWatch::default(),
            unsynchronised: Vec::new(),
            reason_log: reasons::ReasonLog::default(),
            manycast_found: Vec::new(),
        };
        engine.apply(first);
        engine.steered(&[first]);
        for spec in engine.settings.sources.clone() {
            engine.mobilize(spec);
        }
        engine
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn system(&self) -> &SystemVars {
        &self.system.vars
    }

    pub fn system_process(&self) -> &SystemProcess {
        &self.system
    }

    /// The network associations.
    pub fn peers(&self) -> &PeerTable {
        self.sources.network()
    }

    /// See [`PeerTable::note_routes`]: the shell asks the kernel, the engine keeps the
    /// answer.
    pub fn note_routes(&mut self, route: impl Fn(SocketAddr) -> Option<IpAddr>) {
        self.sources.network_mut().note_routes(route);
    }

    /// Every source: network associations, reference clocks, orphan mode.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn access(&self) -> &AccessControl {
        &self.access
    }

    /// Our answering addresses changed (an interface rescan): the `ignore ntpport` entries
    /// that keep us from talking to ourselves, and the refids that betray a timing loop,
    /// follow them.
    pub fn own_addresses_changed(&mut self, removed: &[IpAddr], added: &[IpAddr]) {
        if removed.is_empty() && added.is_empty() {
            return;
        }
        let mut list = self.access.list().clone();
        for addr in removed {
            list.remove_interface(*addr);
        }
        for addr in added {
            list.add_interface(*addr);
        }
        self.access.set_list(list);
        let own = &mut self.settings.own_addresses;
        own.retain(|a| !removed.contains(a));
        own.extend(added);
        self.own_refids = own.iter().map(|a| refid_of(*a)).collect();
    }

    /// Adds a network association (a resolved `server`/`peer` name, a `pool` address);
    /// returns its association ID, or None if that address is already a source.
    pub fn mobilize(&mut self, mut spec: PeerSpec) -> Option<AssocId> {
        if self.settings.loop_config.once {
            // Classic -q bursts every source so the clock is set within seconds.
            spec.config.iburst = true;
        }
        // A group sender never answers, so -q does not wait for it.
        let answers = !spec.config.mode.sends_to_group();
        let id = self.sources.mobilize(spec, self.clock.mono())?;
        if self.settings.loop_config.once && answers {
            self.quit_waiting += 1;
        }
        Some(id)
    }

    /// Actions produced since the last call, for the shell to carry out.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// When [`Engine::handle_timer`] wants to run next (monotonic time).
    pub fn next_deadline(&self) -> Duration {
        let drift = if self.settings.drift_file {
            self.next_drift_write
        } else {
            Duration::MAX
        };
        drift.min(self.next_tick).min(self.sources.next_deadline())
    }

    /// Runs what is due: the one-second discipline tick, reference clock polls, association
    /// polls (requests go out through `send`) and the hourly drift write.
    pub fn handle_timer(&mut self, send: &mut dyn FnMut(SocketAddr, &[u8])) {
        let now = self.clock.mono();
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.watch_clock(now);
            if let Some(cmd) = self.system.tick(now) {
                self.apply(cmd);
                self.steered(&[cmd]);
            }
            self.leap_tick();
            self.say_reasons(now);
        }
        if let Some(sampled) = self.sources.poll_refclocks(self.clock.now(), now) {
            // Without network sources a reference clock (or orphan mode) becomes the
            // system peer, so an isolated server serves at its stratum + 1.
            for id in sampled {
                self.record_peer(id);
            }
            self.select(now);
        }
        if let Some((sampled, records)) = self.sources.poll_devices(self.clock.now(), now) {
            for id in &sampled {
                self.record_peer(*id);
            }
            if self.settings.stats {
                self.actions.extend(records.into_iter().map(Action::Stats));
            }
            self.say_device_notices();
            if !sampled.is_empty() {
                self.select(now);
            }
        }
        while let Some(id) = self.sources.network().due(now) {
            self.poll_peer(id, now, send);
        }
        if self.settings.drift_file && now >= self.next_drift_write {
            self.next_drift_write = now + DRIFT_WRITE_INTERVAL;
            self.actions
                .push(Action::WriteDrift(self.system.discipline.frequency()));
        }
    }

    /// The frequency to save at a clean stop.
    pub fn final_drift(&self) -> Option<Ppm> {
        self.settings
            .drift_file
            .then(|| self.system.discipline.frequency())
    }

    /// One association's poll: send its request, forget it if it is useless now.
    fn poll_peer(&mut self, id: AssocId, now: Duration, send: &mut dyn FnMut(SocketAddr, &[u8])) {
        let clock_now = self.clock.now();
        let vars = self.system.vars;
        let satisfied = self.manycast_satisfied();
        let Some(peer) = self.sources.network_mut().get_mut(id) else {
            return;
        };
        let bursting = peer.assoc.reach() == 0 && peer.assoc.packets_received() == 0;
        let calibrating = peer.assoc.broadcast_delay().is_none();
        let mut out = peer.assoc.on_timer(now, clock_now, &vars);
        if satisfied && peer.assoc.config().mode == AssocMode::ManycastClient {
            out.send = None;
        }
        casting::note_volley(peer, calibrating);
        if let Some(request) = out.send {
            let mut buf = [0u8; HEADER_LEN];
            let len = request.encode(&mut buf);
            let mut bytes = buf[..len].to_vec();
            match peer.assoc.config().key {
                None => send(peer.addr, &bytes),
                Some(key) if self.settings.keys.sign(key, &mut bytes).is_some() => {
                    send(peer.addr, &bytes)
                }
                Some(key) => {
                    log::warn!("{}: key {key} not in the keys file; not sent", peer.addr);
                    peer.assoc.auth_failed();
                }
            }
        }
        if out.demobilize {
            if let Some(gone) = self.sources.network_mut().remove(id) {
                // A passive association never proven is what spoofed sources leave behind:
                // not worth a line each.
                let level = if gone.assoc.proven() {
                    log::Level::Info
                } else {
                    log::Level::Debug
                };
                log::log!(
                    level,
                    "{} association {} demobilized",
                    gone.addr.ip(),
                    gone.assoc_id
                );
            }
        }
        if out.reselect {
            if bursting && out.send.is_none() {
                self.burst_done_without_answer();
            }
            self.select(now);
        }
    }

    /// -q: a source ended its burst without setting the clock; when all have, give up as
    /// classic does.
    fn burst_done_without_answer(&mut self) {
        if !self.settings.loop_config.once || self.quit_waiting == 0 {
            return;
        }
        self.quit_waiting -= 1;
        if self.quit_waiting == 0 {
            log::info!("no reply; clock not set");
            self.actions.push(Action::Exit {
                status: 0,
                message: Some("ntpd: no servers found".into()),
            });
        }
    }

    /// What a device clock's driver read (the device module calls this as it reads).
    pub fn refclock_input(&mut self, id: AssocId, input: Input) {
        let now = self.clock.now();
        if let Some(device) = self.sources.device_mut(id) {
            device.input(input, now);
        }
        self.say_device_notices();
    }

    /// Logs what the device clocks have to say: each reason once, when it changes.
    fn say_device_notices(&mut self) {
        let ids: Vec<AssocId> = self.sources.devices().map(|(id, _)| id).collect();
        for id in ids {
            let Some(device) = self.sources.device_mut(id) else {
                continue;
            };
            let name = device.name();
            for notice in device.take_notices() {
                match notice {
                    Notice::Silent(why) => log::warn!("{name}: no samples: {why}"),
                    Notice::Refused(why) => log::warn!("{name}: reading refused: {why}"),
                    Notice::Recovered => log::info!("{name}: samples again"),
                }
            }
        }
    }

    /// Classic `clock_select` + `clock_update` over every source, then the clock commands.
    fn select(&mut self, now: Duration) {
        let extra = self.sources.fallback_contenders(
            self.clock.now(),
            now,
            self.started,
            self.system.vars.precision,
        );
        let before = (self.system.vars.peer, self.system.vars.synchronized());
        let discipline = self.before_round();
        let mut assocs = self.sources.network_mut().assocs_mut();
        let update = select_round(&mut self.system, &mut assocs, &extra, &self.own_refids, now);
        self.sources
            .device_round(&update.status, self.system.vars.peer);
        self.carry_out(&update);
        self.steered(&update.commands);
        self.after_update(&update);
        self.after_round(discipline, &update, now);
        let after = (self.system.vars.peer, self.system.vars.synchronized());
        if after != before && after.1 {
            self.log_sync();
        }
        // As classic's local_clock, every clock update gives the kernel fresh error
        // estimates (what timedatectl and node_exporter show).
        let updated = matches!(update.outcome, Some(Outcome::Slewed | Outcome::Stepped));
        if after.1 != before.1 || (after.1 && updated) {
            self.report_status();
        }
    }

    /// "synchronized to X, stratum N", as classic logs a new system peer.
    fn log_sync(&self) {
        let Some(id) = self.system.vars.peer else {
            return;
        };
        if id == ORPHAN_ID {
            log::info!(target: crate::logclass::SYNC_STATUS, "orphan mode: serving stratum {}", self.system.vars.stratum);
            return;
        }
        let Some(name) = self.sources.name(id) else {
            return;
        };
        let stratum = self.system.vars.stratum.saturating_sub(1);
        log::info!(target: crate::logclass::SYNC_STATUS, "synchronized to {name}, stratum {stratum}");
    }

    /// Handles one datagram, handing each reply datagram to `send`.
    pub fn handle_datagram(&mut self, dgram: &Datagram, send: &mut dyn FnMut(&[u8])) {
        self.counters.received += 1;
        let (mode, version) = peek_mode(dgram.bytes);
        if version == CURRENT_VERSION {
            self.counters.this_version += 1;
        } else {
            self.counters.old_version += 1;
        }
        let packet = match mode {
            Mode::Control | Mode::Private => None,
            _ => match Packet::decode(dgram.bytes) {
                Ok(p) => Some(p),
                Err(_) => {
                    self.counters.bad_format += 1;
                    return;
                }
            },
        };
        if casting::to_group(dgram) && !self.group_accepts(mode) {
            self.counters.dropped += 1;
            return;
        }
        let has_mac = packet.is_some_and(|p| p.trailer.mac_offset.is_some());
        let arrival = Arrival {
            src: dgram.source,
            local: dgram.local.map(|a| a.ip()),
            mode,
            version,
        };
        let clock = &self.clock;
        let access = self.access.check(|| clock.mono(), &arrival, has_mac);
        self.counters.denied(&access);
        let reply = match (access, packet) {
            (Access::Control(rights), _) => {
                self.control_request(dgram, rights, send);
                return;
            }
            (Access::Private, _) => return self.private_request(dgram, send),
            (Access::Kiss { code, reply_mode }, Some(p)) => {
                self.counters.kissed += 1;
                let floor = self.access.monitor().limits().average_log2 as i8;
                (
                    kiss_header(&p.header, reply_mode, code, floor),
                    ReplyMac::None,
                )
            }
            (Access::Proceed(grant), Some(p)) => {
                // The MAC is checked only for packets restrict lets through.
                let auth = self.settings.keys.check_packet(dgram.bytes, &p.trailer);
                match self.dispatch(&grant, &p, auth, dgram) {
                    Some(reply) => reply,
                    None => return,
                }
            }
            _ => {
                self.counters.dropped += 1;
                return;
            }
        };
        self.send_reply(reply, send);
    }

    /// Encodes a reply header with its MAC (the common unsigned case never allocates).
    fn send_reply(&self, (header, mac): (Header, ReplyMac), send: &mut dyn FnMut(&[u8])) {
        let mut out = [0u8; HEADER_LEN];
        let len = header.encode(&mut out);
        if mac == ReplyMac::None {
            return send(&out[..len]);
        }
        let mut bytes = out[..len].to_vec();
        match mac {
            ReplyMac::Key(key) if self.settings.keys.sign(key, &mut bytes).is_none() => return,
            ReplyMac::CryptoNak => crate::auth::mac::append_crypto_nak(&mut bytes),
            _ => {}
        }
        send(&bytes);
    }

    /// A mode 6 request: writes need a MAC by the controlkey; the answer to a request
    /// with a valid MAC by any trusted key is signed with that key, as classic does.
    fn control_request(
        &mut self,
        dgram: &Datagram,
        rights: ControlRights,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let signer = self.settings.keys.control_signer(dgram.bytes).cloned();
        let access = QueryAccess {
            nomodify: rights.nomodify,
            notrap: rights.notrap,
            authenticated: signer.is_some()
                && signer.as_ref().map(|k| k.id) == self.settings.control_key,
        };
        match signer {
            Some(key) => self.control(dgram, access, &mut |d: &[u8]| {
                send(&crate::auth::mac::sign_control(&key, d))
            }),
            None => self.control(dgram, access, send),
        }
    }

    /// Allowed packets by mode: clients are served, replies and symmetric packets go to
    /// their association (an unknown symmetric peer gets classic's stateless answer). A
    /// reply carries the request's key when the request was authentic, a crypto-NAK when
    /// its MAC failed.
    fn dispatch(
        &mut self,
        grant: &Grant,
        packet: &Packet,
        auth: AuthStatus,
        dgram: &Datagram,
    ) -> Option<(Header, ReplyMac)> {
        let header = &packet.header;
        // Client requests, the bulk of the traffic, never belong to an association.
        let known = match grant.mode {
            Mode::Client => None,
            _ => self.sources.network().find(dgram.source),
        };
        let same_key = match auth {
            AuthStatus::Ok => ReplyMac::Key(packet.trailer.key_id),
            _ => ReplyMac::None,
        };
        match (grant.mode, known) {
            (Mode::Client, _) if casting::to_group(dgram) && !self.answers_manycast(header) => {}
            (Mode::Client, _) => match grant.client_reply(auth) {
                ClientReply::Serve => return Some((self.serve(header, dgram), same_key)),
                ClientReply::ServeCryptoNak => {
                    return Some((self.serve(header, dgram), ReplyMac::CryptoNak))
                }
                ClientReply::Drop => {}
            },
            (Mode::Server | Mode::SymmetricActive | Mode::SymmetricPassive, Some(id)) => {
                return self.receive(id, grant, packet, auth, dgram);
            }
            (Mode::Broadcast, known) => {
                return self.broadcast_packet(known, grant, packet, auth, dgram);
            }
            (Mode::Server, None) => {
                self.manycast_reply(grant, packet, auth, dgram.source);
                return None;
            }
            (Mode::SymmetricActive, None) => {
                match grant.new_symmetric(auth, self.settings.authenticate) {
                    NewSymmetric::Mobilize => {
                        let key = (auth == AuthStatus::Ok).then_some(packet.trailer.key_id);
                        return match self.mobilize_passive(dgram.source, header, key) {
                            Some(id) => self.receive(id, grant, packet, auth, dgram),
                            // Every passive slot holds a reachable peer: answer, keep nothing.
                            None => Some((self.serve(header, dgram), same_key)),
                        };
                    }
                    NewSymmetric::ReplyOnly => return Some((self.serve(header, dgram), same_key)),
                    NewSymmetric::CryptoNak => {
                        return Some((self.serve(header, dgram), ReplyMac::CryptoNak))
                    }
                    NewSymmetric::Drop => {}
                }
            }
            _ => {}
        }
        self.counters.dropped += 1;
        None
    }

    /// A symmetric active peer we allow: a passive association, which answers its
    /// packets until one proves the address (then it polls at its own interval). None
    /// when every passive slot holds a reachable peer.
    fn mobilize_passive(
        &mut self,
        addr: SocketAddr,
        header: &Header,
        key: Option<u32>,
    ) -> Option<AssocId> {
        let spec = PeerSpec::ephemeral(
            addr,
            AssocMode::SymmetricPassive,
            header.version,
            header.poll,
            key,
        );
        let id = self.sources.mobilize(spec, self.clock.mono())?;
        // Debug only: any spoofed source gets this far (see `receive` for the info line).
        log::debug!("{} passive association {id} awaits proof", addr.ip());
        Some(id)
    }

    /// A packet for association `id`, timestamped when the kernel received it; returns
    /// the answer of a passive association awaiting proof. With `key N` only a packet
    /// signed by trusted key N passes; without, a MAC present must verify and `notrust`
    /// requires one. A failure lights TEST5 and ends here.
    fn receive(
        &mut self,
        id: AssocId,
        grant: &Grant,
        packet: &Packet,
        auth: AuthStatus,
        dgram: &Datagram,
    ) -> Option<(Header, ReplyMac)> {
        let header = &packet.header;
        let now = self.clock.mono();
        let rx = self.receive_time(dgram, self.clock.now());
        let vars = self.system.vars;
        let was_synchronised = self.source_synchronised(id);
        let peer = self.sources.network_mut().get_mut(id)?;
        let passes = match peer.assoc.config().key {
            Some(key) => auth == AuthStatus::Ok && packet.trailer.key_id == key,
            None => grant.association_auth_ok(auth),
        };
        if !passes {
            // It reached us, even if it cannot be used: the reason says so, not "no reply".
            peer.assoc.note_reply(now, false);
            peer.assoc.auth_failed();
            peer.assoc.count_rejected();
            self.counters.bad_auth += 1;
            self.counters.dropped += 1;
            return None;
        }
        peer.assoc.set_authentic(auth == AuthStatus::Ok);
        // A broadcast names the wildcard socket, not the address we are known by.
        peer.local = dgram
            .local
            .filter(|a| !a.ip().is_unspecified())
            .or(peer.local);
        let was_proven = peer.assoc.proven();
        let received = match header.mode {
            Mode::Broadcast => peer.assoc.on_broadcast(header, rx, now, &vars),
            _ => peer.assoc.on_packet(header, rx, now, &vars),
        };
        if !was_proven
            && peer.assoc.proven()
            && peer.assoc.config().mode == AssocMode::SymmetricPassive
        {
            // Logged only now: before, the "peer" may be any spoofed source.
            log::info!(target: crate::logclass::PEER_EVENTS, "{} passive association {id} mobilized", peer.addr.ip());
        }
        if matches!(received, Received::Refused(_) | Received::ForgedKiss(_)) {
            peer.assoc.count_rejected();
        }
        let bogus = match received {
            Received::ForgedKiss(flash) | Received::Refused(flash) => {
                flash.has(Flash::DUPLICATE | Flash::BOGUS)
            }
            _ => false,
        };
        if bogus {
            self.counters.bogus += 1;
        } else {
            self.counters.to_associations += 1;
            peer.assoc
                .note_reply(now, matches!(received, Received::RateKiss));
        }
        let reply = match received {
            Received::Sample { select } => {
                self.record_peer(id);
                if select {
                    self.select(now);
                }
                None
            }
            Received::Answer => {
                let answer = peer.assoc.answer(self.clock.now(), &vars);
                let mac = peer
                    .assoc
                    .config()
                    .key
                    .map_or(ReplyMac::None, ReplyMac::Key);
                Some((answer, mac))
            }
            Received::ForgedKiss(flash) => {
                // Anyone can send these "from" a server: counted, not believed, and not
                // logged as a kiss (a log line each would be the attacker's to write).
                self.counters.forged_kisses += 1;
                log::debug!(
                    "{}: kiss code {} not answering our request ({:?}); ignored",
                    peer.addr,
                    String::from_utf8_lossy(&header.reference_id.0),
                    flash.names()
                );
                None
            }
            Received::Denied { demobilize } => {
                log::warn!(
                    "{} sent kiss code {}; association stopped",
                    peer.addr.ip(),
                    String::from_utf8_lossy(&header.reference_id.0)
                );
                if demobilize {
                    self.sources.network_mut().remove(id);
                }
                None
            }
            _ => None,
        };
        self.after_packet(id, was_synchronised, received);
        reply
    }

    /// Answers a mode 6 request from a snapshot of the engine.
    fn control(&mut self, dgram: &Datagram, access: QueryAccess, send: &mut dyn FnMut(&[u8])) {
        let now = self.clock.now();
        let view = View { engine: self, now };
        let mru = MruView {
            monitor: self.access.monitor(),
            now,
            now_mono: self.clock.mono(),
        };
        let ctx = Context {
            state: &view,
            mru: Some(&mru),
            nonce: &self.settings.nonce,
            client: dgram.source,
            now,
        };
        if control::handle(dgram.bytes, access, &ctx, send) == control::Outcome::Dropped {
            self.counters.dropped += 1;
        }
    }

    /// The server reply: received when the kernel says, sent now (on the system clock
    /// the one clock read per answer).
    fn serve(&mut self, request: &Header, dgram: &Datagram) -> Header {
        let now = self.clock.now();
        self.counters.served += 1;
        server::reply(
            request,
            &self.system.vars,
            self.receive_time(dgram, now),
            now,
        )
    }

    /// When `dgram` arrived in the clock's time base: the kernel's timestamp, or `now`
    /// when it gave none.
    fn receive_time(&self, dgram: &Datagram, now: NtpTimestamp) -> NtpTimestamp {
        dgram
            .received
            .map_or(now, |realtime| self.clock.at_realtime(realtime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMono, VirtualClock, VirtualClockSpec};
    use crate::refclock::local::LocalFudge;
    use crate::restrict::{
        Family, Monitor, RestrictEntry, RestrictFlag, RestrictFlags, RestrictList,
    };
    use crate::time::{NtpDuration, NtpTimestamp};
    use crate::wire::ntp::{Header, KissCode, Leap};

    const TRUE_START: u64 = 0xeeab_8600_0000_0000;

    pub(super) type TestEngine = Engine<VirtualClock<ManualMono>>;

    fn flags(list: &[RestrictFlag]) -> RestrictFlags {
        list.iter().copied().collect()
    }

    /// `restrict default DEFAULT` plus `restrict HOST HOST_FLAGS` entries.
    pub(super) fn engine(
        default: &[RestrictFlag],
        hosts: &[(&str, &[RestrictFlag])],
        offset: f64,
    ) -> (ManualMono, TestEngine) {
        let mut list = RestrictList::new();
        list.add_default(Family::V4, flags(default));
        for (addr, f) in hosts {
            list.add(RestrictEntry {
                addr: addr.parse().unwrap(),
                mask: None,
                flags: flags(f),
            })
            .unwrap();
        }
        let mono = ManualMono::default();
        let spec = VirtualClockSpec {
            offset: NtpDuration::from_secs_f64(offset),
            drift: Ppm::ZERO,
        };
        let clock = VirtualClock::new(mono.clone(), NtpTimestamp::from_bits(TRUE_START), spec);
        // `enable ntp`: an isolated LOCAL(0) server synchronises (the virtual clock is the
        // one steered); `disable ntp` keeps it at leap 11 (steer.rs's tests).
        let settings = Settings {
            steer_clock: true,
            local_clocks: vec![LocalClock::new(
                0,
                LocalFudge {
                    stratum: 10,
                    ..LocalFudge::default()
                },
            )],
            ..Settings::new(
                AccessControl::new(list, Monitor::new(64)),
                NonceKey::new([1, 2]),
                3495,
            )
        };
        let mut e = Engine::new(clock, settings);
        e.handle_timer(&mut |_, _| {});
        (mono, e)
    }

    pub(super) fn request(first_octet: u8, transmit: NtpTimestamp) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0] = first_octet;
        b[40..48].copy_from_slice(&transmit.to_bits().to_be_bytes());
        b
    }

    pub(super) fn ask(e: &mut TestEngine, from: &str, bytes: &[u8]) -> Vec<Header> {
        let dgram = Datagram {
            bytes,
            source: from.parse().unwrap(),
            local: None,
            received: None,
        };
        let mut replies = Vec::new();
        e.handle_datagram(&dgram, &mut |r| replies.push(Header::decode(r).unwrap()));
        replies
    }

    #[test]
    fn local_clock_serves_stratum_11_at_once() {
        let (_, mut e) = engine(&[], &[], 2.5);
        let t1 = NtpTimestamp::from_bits(TRUE_START);
        let reply = ask(&mut e, "127.0.0.1:40000", &request(0xe3, t1))[0];
        assert_eq!(
            (reply.leap, reply.stratum, reply.mode),
            (Leap::NoWarning, 11, Mode::Server)
        );
        assert_eq!(reply.reference_id, RefId([127, 127, 1, 0]));
        assert_eq!(reply.origin_time, t1);
        let offset = (reply.receive_time - t1).to_secs_f64();
        assert!((offset - 2.5).abs() < 1e-6, "{offset}");
        assert!(reply.root_dispersion.to_duration().to_secs_f64() < 0.02);
    }

    /// An address bound after the start is one of ours: requests from it on port 123 (our
    /// own packets looping back) are ignored, until the address goes again.
    #[test]
    fn own_addresses_follow_interface_rescans() {
        let (_, mut e) = engine(&[], &[], 0.0);
        let t1 = NtpTimestamp::from_bits(TRUE_START);
        let ours: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ask(&mut e, "192.0.2.7:123", &request(0xe3, t1)).len(), 1);
        e.own_addresses_changed(&[], &[ours]);
        assert!(ask(&mut e, "192.0.2.7:123", &request(0xe3, t1)).is_empty());
        assert_eq!(ask(&mut e, "192.0.2.7:40000", &request(0xe3, t1)).len(), 1);
        assert_eq!(e.own_refids, [refid_of(ours)]);
        e.own_addresses_changed(&[ours], &[]);
        assert_eq!(ask(&mut e, "192.0.2.7:123", &request(0xe3, t1)).len(), 1);
        assert!(e.own_refids.is_empty());
    }

    #[test]
    fn local_clock_is_polled_every_64_s() {
        let (mono, mut e) = engine(&[], &[], 0.0);
        for _ in 0..64 {
            mono.advance(Duration::from_secs(1));
            assert!(e.clock().mono() >= e.next_deadline());
            e.handle_timer(&mut |_, _| {});
        }
        let (_, local) = e.sources().refclocks().next().unwrap();
        assert_eq!(local.reach, 0b11);
        assert!(e.system().synchronized());
    }

    #[test]
    fn orphan_mode_serves_its_stratum_after_orphanwait() {
        let (mono, mut e) = engine(&[], &[], 0.0);
        e.settings.local_clocks.clear();
        e.settings.orphan = Some(Orphan {
            stratum: 10,
            wait: Duration::from_secs(30),
        });
        let mut e = Engine::new(e.clock.clone(), e.settings.clone());
        let t1 = NtpTimestamp::from_bits(TRUE_START);
        let tick = |e: &mut TestEngine, secs| {
            for _ in 0..secs {
                mono.advance(Duration::from_secs(1));
                e.handle_timer(&mut |_, _| {});
            }
        };
        tick(&mut e, 10);
        assert_eq!(
            ask(&mut e, "127.0.0.1:40000", &request(0xe3, t1))[0].stratum,
            0
        );
        tick(&mut e, 64);
        let reply = ask(&mut e, "127.0.0.1:40000", &request(0xe3, t1))[0];
        assert_eq!((reply.stratum, reply.leap), (10, Leap::NoWarning));
        assert_eq!(reply.reference_id, RefId([127, 0, 0, 1]));
    }

    #[test]
    fn ignore_is_silent() {
        let (_, mut e) = engine(&[RestrictFlag::Ignore], &[("127.0.0.1", &[])], 0.0);
        let t1 = NtpTimestamp::from_bits(TRUE_START);
        assert!(ask(&mut e, "192.0.2.1:123", &request(0x23, t1)).is_empty());
        assert_eq!(ask(&mut e, "127.0.0.1:123", &request(0x23, t1)).len(), 1);
        let monlist = [0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0];
        assert!(ask(&mut e, "192.0.2.1:123", &monlist).is_empty());
    }

    #[test]
    fn noserve_drops_time_requests() {
        let (_, mut e) = engine(&[RestrictFlag::NoServe], &[], 0.0);
        assert!(ask(&mut e, "192.0.2.1:5000", &request(0x23, NtpTimestamp::ZERO)).is_empty());
        assert_eq!(e.counters().dropped, 1);
    }

    #[test]
    fn flood_under_limited_kod_gets_few_rate_kisses() {
        let (mono, mut e) = engine(&[RestrictFlag::Limited, RestrictFlag::Kod], &[], 0.0);
        let (mut served, mut kisses) = (0, 0);
        for _ in 0..1000 {
            for reply in ask(
                &mut e,
                "192.0.2.7:40000",
                &request(0x23, NtpTimestamp::ZERO),
            ) {
                if reply.stratum == 0 {
                    assert_eq!(reply.reference_id.kiss_code(), KissCode::Rate);
                    kisses += 1;
                } else {
                    served += 1;
                }
            }
            mono.advance(Duration::from_millis(10));
        }
        assert!((1..10).contains(&served), "served {served}");
        assert!((1..10).contains(&kisses), "kisses {kisses}");
        assert_eq!(
            ask(
                &mut e,
                "192.0.2.8:40000",
                &request(0x23, NtpTimestamp::ZERO)
            )[0]
            .stratum,
            11
        );
    }

    #[test]
    fn garbage_never_panics() {
        let (_, mut e) = engine(&[], &[], 0.0);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut buf = [0u8; 1500];
        for len in 0..1500 {
            for b in buf.iter_mut().take(len) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            for reply in ask(&mut e, "192.0.2.9:999", &buf[..len]) {
                assert!(matches!(
                    reply.mode,
                    Mode::Server | Mode::SymmetricPassive | Mode::SymmetricActive
                ));
            }
        }
        assert_eq!(e.counters().received, 1500);
    }
}
