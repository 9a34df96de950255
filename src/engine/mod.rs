//! The daemon's sans-IO core: one [`Engine`] owns the clock, the system variables, access
//! control and the sources. The shell feeds it datagrams and timer ticks and carries out
//! what it returns; one packet reads top to bottom in [`Engine::handle_datagram`]:
//! decode -> restrict -> handler -> encode.

pub mod control_view;

use crate::clock::{Clock, ClockError, ClockStatus};
use crate::control::{self, Context, NonceKey, QueryAccess};
use crate::refclock::local::{LocalClock, PRECISION as LOCAL_PRECISION};
use crate::restrict::{
    kiss_header, Access, AccessControl, Arrival, AuthStatus, ClientReply, NewSymmetric,
};
use crate::server;
use crate::system::SystemVars;
use crate::time::{NtpDuration, Ppm};
use crate::wire::ntp::{peek_mode, Header, Leap, Mode, Packet, RefId, HEADER_LEN};
use control_view::{MruView, View};
use std::net::SocketAddr;
use std::time::Duration;

/// How often the drift file is written (classic: hourly).
const DRIFT_WRITE_INTERVAL: Duration = Duration::from_secs(3600);

/// Settings the engine runs with, resolved from ntp.conf and the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub local_clocks: Vec<LocalClock>,
    pub access: AccessControl,
    /// `enable ntp` (the default): the daemon may steer the clock.
    pub steer_clock: bool,
    /// Frequency read from the drift file, if any.
    pub initial_frequency: Option<Ppm>,
    /// A drift file is configured, so the engine asks for it to be written.
    pub drift_file: bool,
    /// First association ID (classic picks it at random at start).
    pub assoc_base: u16,
    /// Secret for mrulist nonces, random per start.
    pub nonce: NonceKey,
}

/// One received datagram, as the shell hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub bytes: &'a [u8],
    pub source: SocketAddr,
    /// How long ago the kernel received it.
    pub age: Duration,
}

/// Work for the shell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Write this frequency to the drift file.
    WriteDrift(Ppm),
}

/// Packet counters (the basis of ntpq's sysstats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    pub bad_format: u64,
    pub dropped: u64,
    pub served: u64,
    pub kissed: u64,
}

/// The daemon core.
#[derive(Debug)]
pub struct Engine<C: Clock> {
    clock: C,
    settings: Settings,
    sys: SystemVars,
    counters: Counters,
    next_local_poll: Duration,
    next_drift_write: Duration,
    /// The kernel refused a clock operation once; it has been logged and is not retried.
    clock_refused: bool,
    assoc_base: u16,
}

impl<C: Clock> Engine<C> {
    pub fn new(clock: C, settings: Settings) -> Engine<C> {
        let now = clock.mono();
        let assoc_base = settings.assoc_base.max(1);
        let sys = SystemVars {
            frequency: settings.initial_frequency.unwrap_or_default(),
            ..SystemVars::unsynchronized(clock.precision())
        };
        Engine {
            clock,
            settings,
            sys,
            counters: Counters::default(),
            next_local_poll: now,
            next_drift_write: now + DRIFT_WRITE_INTERVAL,
            clock_refused: false,
            assoc_base,
        }
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn system(&self) -> &SystemVars {
        &self.sys
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn local_clocks(&self) -> &[LocalClock] {
        &self.settings.local_clocks
    }

    pub fn access(&self) -> &AccessControl {
        &self.settings.access
    }

    /// When [`Engine::handle_timer`] wants to run next (monotonic time).
    pub fn next_deadline(&self) -> Duration {
        let drift = if self.settings.drift_file {
            self.next_drift_write
        } else {
            Duration::MAX
        };
        let local = if self.settings.local_clocks.is_empty() {
            Duration::MAX
        } else {
            self.next_local_poll
        };
        drift.min(local)
    }

    /// Runs what is due; returns actions for the shell.
    pub fn handle_timer(&mut self) -> Option<Action> {
        let now = self.clock.mono();
        if now >= self.next_local_poll && !self.settings.local_clocks.is_empty() {
            self.poll_local_clocks();
            let poll = self.settings.local_clocks[0].poll().seconds();
            self.next_local_poll = now + Duration::from_secs(poll);
        }
        if self.settings.drift_file && now >= self.next_drift_write {
            self.next_drift_write = now + DRIFT_WRITE_INTERVAL;
            return Some(Action::WriteDrift(self.sys.frequency));
        }
        None
    }

    /// The frequency to save at a clean stop.
    pub fn final_drift(&self) -> Option<Ppm> {
        self.settings.drift_file.then_some(self.sys.frequency)
    }

    /// Samples the local clock drivers. Without network sources, the lowest-stratum one is
    /// the system peer at once: the daemon synchronises at its stratum + 1 on the first
    /// sample, so clients can use it immediately.
    fn poll_local_clocks(&mut self) {
        let now = self.clock.now();
        for local in &mut self.settings.local_clocks {
            local.sample(now);
        }
        let Some(best) = self
            .settings
            .local_clocks
            .iter()
            .min_by_key(|l| l.fudge.stratum)
        else {
            return;
        };
        let Some(sample) = best.last_sample else {
            return;
        };
        let was_synced = self.sys.is_synchronized();
        self.sys = SystemVars {
            leap: Leap::NoWarning,
            stratum: best
                .fudge
                .stratum
                .saturating_add(1)
                .min(crate::system::STRATUM_UNSYNC),
            precision: self.sys.precision,
            root_delay: sample.delay,
            root_dispersion: sample.dispersion + NtpDuration::from_log2(LOCAL_PRECISION),
            reference_id: RefId::from_ipv4(best.address()),
            reference_time: now,
            offset: sample.offset,
            frequency: self.sys.frequency,
            jitter: NtpDuration::ZERO,
        };
        if !was_synced {
            log::info!(
                "synchronized to LOCAL({}), stratum {}",
                best.unit,
                best.fudge.stratum
            );
            self.report_status();
        }
    }

    /// Tells the kernel we are synchronised (when allowed to steer the clock), so it keeps
    /// its error estimates and the RTC in step.
    fn report_status(&mut self) {
        if !self.settings.steer_clock {
            return;
        }
        let status = ClockStatus {
            leap: self.sys.leap,
            synchronized: self.sys.is_synchronized(),
            estimated_error: self.sys.jitter,
            maximum_error: self.sys.root_delay + self.sys.root_dispersion,
        };
        let result = self.clock.set_status(status);
        self.note_clock_result(result);
    }

    /// Logs a refused clock operation once; the daemon goes on serving time either way.
    fn note_clock_result(&mut self, result: Result<(), ClockError>) {
        if let Err(err) = result {
            if !self.clock_refused {
                log::warn!("kernel refused a clock adjustment: {err}; continuing without steering the clock");
                self.clock_refused = true;
            }
        }
    }

    /// Handles one datagram, handing each reply datagram to `send`.
    pub fn handle_datagram(&mut self, dgram: &Datagram, send: &mut dyn FnMut(&[u8])) {
        self.counters.received += 1;
        let (mode, version) = peek_mode(dgram.bytes);
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
        let has_mac = packet.is_some_and(|p| p.trailer.mac_offset.is_some());
        let arrival = Arrival {
            src: dgram.source,
            local: None,
            mode,
            version,
        };
        let access = self
            .settings
            .access
            .check(self.clock.mono(), &arrival, has_mac);
        let reply = match (access, packet) {
            (Access::Control(rights), _) => {
                let access = QueryAccess {
                    nomodify: rights.nomodify,
                    notrap: rights.notrap,
                    authenticated: false,
                };
                self.control(dgram, access, send);
                return;
            }
            (Access::Kiss { code, reply_mode }, Some(p)) => {
                self.counters.kissed += 1;
                let floor = self.settings.access.monitor().limits().average_log2 as i8;
                kiss_header(&p.header, reply_mode, code, floor)
            }
            (Access::Proceed(grant), Some(p)) => {
                let answer = match grant.mode {
                    Mode::Client => grant.client_reply(AuthStatus::None) == ClientReply::Serve,
                    // Until symmetric associations exist, an allowed peer gets a passive reply.
                    Mode::SymmetricActive => {
                        grant.new_symmetric(AuthStatus::None, false) != NewSymmetric::Drop
                    }
                    _ => false,
                };
                if !answer {
                    self.counters.dropped += 1;
                    return;
                }
                self.serve(&p.header, dgram.age)
            }
            _ => {
                self.counters.dropped += 1;
                return;
            }
        };
        let mut out = [0u8; HEADER_LEN];
        let len = reply.encode(&mut out);
        send(&out[..len]);
    }

    /// Answers a mode 6 request from a snapshot of the engine.
    fn control(&mut self, dgram: &Datagram, access: QueryAccess, send: &mut dyn FnMut(&[u8])) {
        let now = self.clock.now();
        let view = View { engine: self, now };
        let mru = MruView {
            monitor: self.settings.access.monitor(),
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

    /// The server reply, with the receive time pushed back by how long the datagram waited.
    fn serve(&mut self, request: &Header, age: Duration) -> Header {
        let now = self.clock.now();
        let waited = NtpDuration::from_nanos(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX));
        self.counters.served += 1;
        server::reply(request, &self.sys, now + -waited, self.clock.now())
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
    use crate::time::NtpTimestamp;
    use crate::wire::ntp::{Header, KissCode};

    const TRUE_START: u64 = 0xeeab_8600_0000_0000;

    type TestEngine = Engine<VirtualClock<ManualMono>>;

    fn flags(list: &[RestrictFlag]) -> RestrictFlags {
        list.iter().copied().collect()
    }

    /// `restrict default DEFAULT` plus `restrict HOST HOST_FLAGS` entries.
    fn engine(
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
        let settings = Settings {
            local_clocks: vec![LocalClock::new(
                0,
                LocalFudge {
                    stratum: 10,
                    ..LocalFudge::default()
                },
            )],
            access: AccessControl::new(list, Monitor::new(64)),
            steer_clock: false,
            initial_frequency: None,
            drift_file: false,
            assoc_base: 3495,
            nonce: NonceKey::new([1, 2]),
        };
        let mut e = Engine::new(clock, settings);
        e.handle_timer();
        (mono, e)
    }

    fn request(first_octet: u8, transmit: NtpTimestamp) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0] = first_octet;
        b[40..48].copy_from_slice(&transmit.to_bits().to_be_bytes());
        b
    }

    fn ask(e: &mut TestEngine, from: &str, bytes: &[u8]) -> Vec<Header> {
        let dgram = Datagram {
            bytes,
            source: from.parse().unwrap(),
            age: Duration::ZERO,
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

    #[test]
    fn reference_time_follows_local_polls() {
        let (mono, mut e) = engine(&[], &[], 0.0);
        let first = e.system().reference_time;
        mono.advance(Duration::from_secs(64));
        assert!(e.clock().mono() >= e.next_deadline());
        e.handle_timer();
        assert_eq!(
            (e.system().reference_time - first).to_secs_f64().round(),
            64.0
        );
    }

    #[test]
    fn ignore_and_mode7_are_silent() {
        let (_, mut e) = engine(&[RestrictFlag::Ignore], &[("127.0.0.1", &[])], 0.0);
        let t1 = NtpTimestamp::from_bits(TRUE_START);
        assert!(ask(&mut e, "192.0.2.1:123", &request(0x23, t1)).is_empty());
        assert_eq!(ask(&mut e, "127.0.0.1:123", &request(0x23, t1)).len(), 1);
        let monlist = [0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0];
        assert!(ask(&mut e, "127.0.0.1:123", &monlist).is_empty());
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
