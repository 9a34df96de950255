//! What the restrict flags mean for one received packet, in classic 4.2.6p5 order
//! (ntp_proto.c `receive()`):
//!
//! 1. Source port below 123: dropped ("bogus port"; classic checks this before anything).
//! 2. `ignore`: everything dropped.
//! 3. Mode 7 (ntpdc): dropped with `noquery`; otherwise handed to the read-only mode 7
//!    handler, which answers only this host unless `enable mode7` (see `crate::mode7`).
//! 4. Mode 6 (ntpq): dropped with `noquery`; otherwise handed to the control handler with
//!    `nomodify` (no writes / `:config`), `notrap` (no trap set) and `lowpriotrap`.
//!    Mode 6 and 7 never reach the monitor, so ntpq traffic is not rate limited and not
//!    in the MRU list (as in the classic captures).
//! 5. `noserve`: every other mode dropped, including replies from our own servers.
//! 6. Version: 4 always passes; 1-3 pass unless `version` is set; 0 never.
//! 7. Mode 0 is client mode for version 1 and an error otherwise.
//! 8. `notrust`: packets without a MAC dropped (the MAC itself is checked later).
//! 9. The monitor records the packet; if `limited` applies, client (mode 3) and symmetric
//!    (modes 1, 2) packets get a RATE kiss when `kod` is set and the KoD rate allows it,
//!    and everything else is dropped. Classic 4.2.6p5 sends no DENY/RSTR kisses: denied
//!    packets are dropped silently.
//! 10. Otherwise the packet proceeds, and [`Grant`] answers the later, per-association
//!     questions (`notrust`, `nopeer`) once the MAC has been checked.

use super::flags::{RestrictFlag, RestrictFlags};
use super::list::RestrictList;
use super::mru::{Arrival, Monitor, Observation, RateLimits};
use crate::wire::ntp::{Header, KissCode, Leap, Mode};
use std::time::Duration;

/// Packets from ports below this are dropped.
const NTP_PORT: u16 = 123;

/// The version this daemon speaks; `restrict ... version` admits only it.
const NTP_VERSION: u8 = 4;

/// Outcome of the MAC check (classic AUTH_NONE / AUTH_OK / AUTH_ERROR / AUTH_CRYPTO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStatus {
    /// No MAC.
    None,
    /// MAC present and valid for a trusted key.
    Ok,
    /// MAC present but wrong, or its key unknown or untrusted.
    Failed,
    /// A 4-octet crypto-NAK (key ID only).
    CryptoNak,
}

impl AuthStatus {
    /// Classic `AUTH(required, status)`: with `required` only a valid MAC will do,
    /// otherwise a missing one is fine too.
    fn acceptable(self, required: bool) -> bool {
        match self {
            AuthStatus::Ok => true,
            AuthStatus::None => !required,
            AuthStatus::Failed | AuthStatus::CryptoNak => false,
        }
    }
}

/// Why a packet was dropped without reply (for counters and debug logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    BogusPort,
    Ignore,
    NoQuery,
    /// Mode 7 from another host without `enable mode7` (decided by `crate::mode7`).
    Private,
    NoServe,
    Version,
    BadMode,
    NoTrust,
    RateLimited,
}

impl Denied {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    pub const ALL: [Denied; 9] = [
        Denied::BogusPort,
        Denied::Ignore,
        Denied::NoQuery,
        Denied::Private,
        Denied::NoServe,
        Denied::Version,
        Denied::BadMode,
        Denied::NoTrust,
        Denied::RateLimited,
    ];

    /// The reason in a word: the restrict flag that dropped the packet, or what else did.
    pub fn name(self) -> &'static str {
        match self {
            Denied::BogusPort => "bogus_port",
            Denied::Ignore => "ignore",
            Denied::NoQuery => "noquery",
            Denied::Private => "mode7",
            Denied::NoServe => "noserve",
            Denied::Version => "version",
            Denied::BadMode => "bad_mode",
            Denied::NoTrust => "notrust",
            Denied::RateLimited => "limited",
        }
    }
}

/// Restrictions the mode 6 handler enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlRights {
    /// Refuse writes (writevar, `:config`, ...).
    pub nomodify: bool,
    /// Refuse trap set requests.
    pub notrap: bool,
    /// Traps set from here may be taken over by others.
    pub lowpriotrap: bool,
}

/// The access decision for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Drop silently.
    Drop(Denied),
    /// Mode 6: hand to the control handler.
    Control(ControlRights),
    /// Mode 7: hand to the read-only mode 7 handler.
    Private,
    /// Rate exceeded: answer with this kiss (see [`kiss_header`]) and nothing else.
    /// `reply_mode` is server for client requests and symmetric active otherwise.
    Kiss { code: KissCode, reply_mode: Mode },
    /// Passed; continue with association matching.
    Proceed(Grant),
}

/// A packet that passed access control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Its restrict flags (`limited` and `kod` removed: they have been dealt with).
    pub flags: RestrictFlags,
    /// Its mode; mode 0 of version 1 is reported as client.
    pub mode: Mode,
}

/// Reply to a client request that matches no association (classic AM_FXMIT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientReply {
    /// A normal server reply, with a MAC of the request's key if it carried one.
    Serve,
    /// A normal server reply followed by a crypto-NAK (bad MAC from the client).
    ServeCryptoNak,
    Drop,
}

/// What to do with a symmetric active packet that matches no association (AM_NEWPASS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewSymmetric {
    /// Mobilise a symmetric passive association.
    Mobilize,
    /// Answer with a symmetric passive packet but keep no state (classic does this for
    /// unauthenticated peers, "for drat broken Windows clients").
    ReplyOnly,
    /// Answer with a symmetric active crypto-NAK. Classic then went on to mobilise
    /// anyway; we stop here.
    CryptoNak,
    Drop,
}

impl Grant {
    fn has(&self, flag: RestrictFlag) -> bool {
        self.flags.contains(flag)
    }

    /// `notrust`: only authenticated requests are served.
    pub fn client_reply(&self, auth: AuthStatus) -> ClientReply {
        if auth.acceptable(self.has(RestrictFlag::NoTrust)) {
            ClientReply::Serve
        } else if auth == AuthStatus::Failed {
            ClientReply::ServeCryptoNak
        } else {
            ClientReply::Drop
        }
    }

    /// `nopeer` (and `notrust`, and `enable auth` = `sys_authenticate`, on by default):
    /// a new symmetric association needs an authenticated packet.
    pub fn new_symmetric(&self, auth: AuthStatus, sys_authenticate: bool) -> NewSymmetric {
        if self.may_mobilize(auth, sys_authenticate) {
            NewSymmetric::Mobilize
        } else if auth.acceptable(self.has(RestrictFlag::NoTrust)) {
            NewSymmetric::ReplyOnly
        } else if auth == AuthStatus::Failed {
            NewSymmetric::CryptoNak
        } else {
            NewSymmetric::Drop
        }
    }

    /// Whether a broadcast or manycast server packet may mobilise a client association.
    pub fn may_mobilize(&self, auth: AuthStatus, sys_authenticate: bool) -> bool {
        let required =
            sys_authenticate || self.has(RestrictFlag::NoPeer) || self.has(RestrictFlag::NoTrust);
        auth.acceptable(required)
    }

    /// Whether a packet for an existing association passes the digest test: a present MAC
    /// must be valid, and `notrust` requires one.
    pub fn association_auth_ok(&self, auth: AuthStatus) -> bool {
        auth.acceptable(auth != AuthStatus::None || self.has(RestrictFlag::NoTrust))
    }
}

/// Steps 1-8 of the module doc: `Ok(mode)` means "on to the monitor".
fn screen(arrival: &Arrival, has_mac: bool, flags: RestrictFlags) -> Result<Mode, Access> {
    let has = |f| flags.contains(f);
    if arrival.src.port() < NTP_PORT {
        return Err(Access::Drop(Denied::BogusPort));
    }
    if has(RestrictFlag::Ignore) {
        return Err(Access::Drop(Denied::Ignore));
    }
    match arrival.mode {
        Mode::Private if has(RestrictFlag::NoQuery) => return Err(Access::Drop(Denied::NoQuery)),
        Mode::Private => return Err(Access::Private),
        Mode::Control if has(RestrictFlag::NoQuery) => return Err(Access::Drop(Denied::NoQuery)),
        Mode::Control => {
            return Err(Access::Control(ControlRights {
                nomodify: has(RestrictFlag::NoModify),
                notrap: has(RestrictFlag::NoTrap),
                lowpriotrap: has(RestrictFlag::LowPrioTrap),
            }))
        }
        _ => {}
    }
    if has(RestrictFlag::NoServe) {
        return Err(Access::Drop(Denied::NoServe));
    }
    let version = arrival.version;
    if version != NTP_VERSION && (has(RestrictFlag::Version) || version == 0) {
        return Err(Access::Drop(Denied::Version));
    }
    let mode = match arrival.mode {
        Mode::Reserved if version == 1 => Mode::Client,
        Mode::Reserved => return Err(Access::Drop(Denied::BadMode)),
        mode => mode,
    };
    if has(RestrictFlag::NoTrust) && !has_mac {
        return Err(Access::Drop(Denied::NoTrust));
    }
    Ok(mode)
}

/// The full decision for one packet whose source has `flags`. Records it in `monitor`
/// if it gets that far. `has_mac`: whether anything MAC-like (including a crypto-NAK)
/// follows the header; the MAC itself is verified later, and only for packets that
/// proceed, so a flood costs no digests. `now` (monotonic time) is asked only when the
/// monitor runs: with it off, a packet costs no clock read.
pub fn decide(
    arrival: &Arrival,
    has_mac: bool,
    flags: RestrictFlags,
    monitor: &mut Monitor,
    now: impl FnOnce() -> Duration,
) -> Access {
    let mode = match screen(arrival, has_mac, flags) {
        Ok(mode) => mode,
        Err(access) => return access,
    };
    let seen = if monitor.is_active() {
        monitor.observe(now(), arrival, flags)
    } else {
        Observation::default()
    };
    if seen.limited {
        return match mode {
            Mode::Client if seen.kod_allowed => Access::Kiss {
                code: KissCode::Rate,
                reply_mode: Mode::Server,
            },
            Mode::SymmetricActive | Mode::SymmetricPassive if seen.kod_allowed => Access::Kiss {
                code: KissCode::Rate,
                reply_mode: Mode::SymmetricActive,
            },
            _ => Access::Drop(Denied::RateLimited),
        };
    }
    let flags = flags
        .without(RestrictFlag::Limited)
        .without(RestrictFlag::Kod);
    Access::Proceed(Grant { flags, mode })
}

/// The kiss-o'-death reply to `request`, as classic builds it: unsynchronised, stratum 0,
/// the code as refid, the request's version, poll at least `poll_floor` (`discard
/// average`), and all three timestamps equal to the request's transmit time, so it
/// reveals nothing of our clock. The other fields echo the request. It is a bare 48-octet
/// header (plus a MAC of the request's key, if any): never larger than the request.
pub fn kiss_header(request: &Header, reply_mode: Mode, code: KissCode, poll_floor: i8) -> Header {
    Header {
        leap: Leap::Unsync,
        version: request.version,
        mode: reply_mode,
        stratum: 0,
        poll: request.poll.max(poll_floor),
        precision: request.precision,
        root_delay: request.root_delay,
        root_dispersion: request.root_dispersion,
        reference_id: code.refid(),
        reference_time: request.reference_time,
        origin_time: request.transmit_time,
        receive_time: request.transmit_time,
        transmit_time: request.transmit_time,
    }
}

/// The restrict list and the monitor together: one call per received packet.
#[derive(Clone, Debug)]
pub struct AccessControl {
    list: RestrictList,
    monitor: Monitor,
}

impl AccessControl {
    /// Keeps the monitor running for `limited` entries whatever `enable/disable monitor`
    /// says, as classic does.
    pub fn new(list: RestrictList, mut monitor: Monitor) -> AccessControl {
        monitor.set_limited_in_use(list.uses_limited());
        AccessControl { list, monitor }
    }

    /// Decides about a packet (see [`decide`]).
    pub fn check(
        &mut self,
        now: impl FnOnce() -> Duration,
        arrival: &Arrival,
        has_mac: bool,
    ) -> Access {
        let flags = self.list.lookup(arrival.src);
        decide(arrival, has_mac, flags, &mut self.monitor, now)
    }

    pub fn list(&self) -> &RestrictList {
        &self.list
    }

    /// Replaces the list (runtime reconfiguration, interface changes).
    pub fn set_list(&mut self, list: RestrictList) {
        self.monitor.set_limited_in_use(list.uses_limited());
        self.list = list;
    }

    /// The MRU table, most recent first via [`Monitor::iter`].
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// `enable/disable monitor`.
    pub fn set_monitor_enabled(&mut self, on: bool) {
        self.monitor.set_enabled(on);
    }

    /// `discard average A minimum M`.
    pub fn set_rate_limits(&mut self, limits: RateLimits) {
        self.monitor.set_limits(limits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restrict::{Family, RestrictEntry};
    use crate::time::{NtpShort, NtpTimestamp};
    use crate::wire::ntp::{RefId, HEADER_LEN};
    use std::net::SocketAddr;
    use RestrictFlag::*;

    fn flags(list: &[RestrictFlag]) -> RestrictFlags {
        list.iter().copied().collect()
    }

    fn arrival(mode: Mode, version: u8, port: u16) -> Arrival {
        Arrival {
            src: SocketAddr::new("192.0.2.10".parse().unwrap(), port),
            local: None,
            mode,
            version,
        }
    }

    fn proceed(f: &[RestrictFlag], mode: Mode) -> Access {
        Access::Proceed(Grant {
            flags: flags(f),
            mode,
        })
    }

    fn drop(why: Denied) -> Access {
        Access::Drop(why)
    }

    /// (name, flags, mode, version, source port, has MAC, expected decision)
    type Row = (
        &'static str,
        &'static [RestrictFlag],
        Mode,
        u8,
        u16,
        bool,
        Access,
    );

    /// One packet from a fresh source: every classic meaning except rate limiting.
    #[test]
    fn classic_meaning_of_each_flag() {
        use Mode::*;
        let control = |nomodify, notrap, lowpriotrap| {
            Access::Control(ControlRights {
                nomodify,
                notrap,
                lowpriotrap,
            })
        };
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("no flags serves",       &[],                 Client, 4, 40000, false, proceed(&[], Client)),
            ("port below 123",        &[],                 Client, 4, 122,   false, drop(Denied::BogusPort)),
            ("port 123 is fine",      &[],                 Client, 4, 123,   false, proceed(&[], Client)),
            ("ignore: time",          &[Ignore],           Client, 4, 40000, false, drop(Denied::Ignore)),
            ("ignore: ntpq",          &[Ignore],           Control, 2, 40000, false, drop(Denied::Ignore)),
            ("ignore: server reply",  &[Ignore],           Server, 4, 123,   false, drop(Denied::Ignore)),
            ("mode 7 to its handler", &[],                 Private, 2, 40000, false, Access::Private),
            ("mode 7 noquery",        &[NoQuery],          Private, 2, 40000, false, drop(Denied::NoQuery)),
            ("mode 7 ignore",         &[Ignore],           Private, 2, 40000, false, drop(Denied::Ignore)),
            ("mode 7 nomodify",       &[NoModify],         Private, 2, 40000, false, Access::Private),
            ("noquery: ntpq",         &[NoQuery],          Control, 2, 40000, false, drop(Denied::NoQuery)),
            ("noquery: time ok",      &[NoQuery],          Client, 4, 40000, false, proceed(&[NoQuery], Client)),
            ("ntpq allowed",          &[],                 Control, 2, 40000, false, control(false, false, false)),
            ("nomodify: ntpq r/o",    &[NoModify],         Control, 2, 40000, false, control(true, false, false)),
            ("notrap",                &[NoTrap, LowPrioTrap], Control, 2, 40000, false, control(false, true, true)),
            ("noserve: ntpq ok",      &[NoServe],          Control, 2, 40000, false, control(false, false, false)),
            ("noserve: client",       &[NoServe],          Client, 4, 40000, false, drop(Denied::NoServe)),
            ("noserve: sym active",   &[NoServe],          SymmetricActive, 4, 123, false, drop(Denied::NoServe)),
            ("noserve: broadcast",    &[NoServe],          Broadcast, 4, 123, false, drop(Denied::NoServe)),
            ("noserve: server reply", &[NoServe],          Server, 4, 123,   false, drop(Denied::NoServe)),
            ("v3 accepted",           &[],                 Client, 3, 40000, false, proceed(&[], Client)),
            ("v1 accepted",           &[],                 Client, 1, 40000, false, proceed(&[], Client)),
            ("v0 never",              &[],                 Client, 0, 40000, false, drop(Denied::Version)),
            ("version: v3 dropped",   &[Version],          Client, 3, 40000, false, drop(Denied::Version)),
            ("version: v4 ok",        &[Version],          Client, 4, 40000, false, proceed(&[Version], Client)),
            ("version: ntpq v2 ok",   &[Version],          Control, 2, 40000, false, control(false, false, false)),
            ("mode 0 v1 is client",   &[],                 Reserved, 1, 40000, false, proceed(&[], Client)),
            ("mode 0 v4 is bad",      &[],                 Reserved, 4, 40000, false, drop(Denied::BadMode)),
            ("notrust without MAC",   &[NoTrust],          Client, 4, 40000, false, drop(Denied::NoTrust)),
            ("notrust with MAC",      &[NoTrust],          Client, 4, 40000, true,  proceed(&[NoTrust], Client)),
            ("notrust: ntpq ok",      &[NoTrust],          Control, 2, 40000, false, control(false, false, false)),
            ("kod alone does nothing", &[Kod],             Client, 4, 40000, false, proceed(&[], Client)),
            ("first limited packet",  &[Limited, Kod],     Client, 4, 40000, false, proceed(&[], Client)),
            ("nopeer decided later",  &[NoPeer],           SymmetricActive, 4, 123, false, proceed(&[NoPeer], SymmetricActive)),
        ];
        for (name, f, mode, version, port, has_mac, want) in table {
            let mut monitor = Monitor::new(4);
            let got = decide(
                &arrival(mode, version, port),
                has_mac,
                flags(f),
                &mut monitor,
                || Duration::ZERO,
            );
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn grant_answers_the_authentication_questions() {
        use AuthStatus as A;
        let grant = |f: &[RestrictFlag]| Grant {
            flags: flags(f),
            mode: Mode::Client,
        };
        #[rustfmt::skip]
        let clients = [
            (&[][..],    A::None,      ClientReply::Serve),
            (&[][..],    A::Ok,        ClientReply::Serve),
            (&[][..],    A::Failed,    ClientReply::ServeCryptoNak),
            (&[][..],    A::CryptoNak, ClientReply::Drop),
            (&[NoTrust][..], A::Ok,    ClientReply::Serve),
            (&[NoTrust][..], A::Failed, ClientReply::ServeCryptoNak),
            (&[NoTrust][..], A::CryptoNak, ClientReply::Drop),
        ];
        for (f, auth, want) in clients {
            assert_eq!(grant(f).client_reply(auth), want, "{f:?} {auth:?}");
        }
        #[rustfmt::skip]
        let peers = [
            // (flags, auth, enable auth, outcome)
            (&[][..],       A::None,   false, NewSymmetric::Mobilize),
            (&[][..],       A::None,   true,  NewSymmetric::ReplyOnly),
            (&[][..],       A::Ok,     true,  NewSymmetric::Mobilize),
            (&[NoPeer][..], A::None,   false, NewSymmetric::ReplyOnly),
            (&[NoPeer][..], A::Ok,     false, NewSymmetric::Mobilize),
            (&[NoPeer][..], A::Failed, false, NewSymmetric::CryptoNak),
            (&[NoTrust][..], A::CryptoNak, false, NewSymmetric::Drop),
        ];
        for (f, auth, sys_auth, want) in peers {
            assert_eq!(
                grant(f).new_symmetric(auth, sys_auth),
                want,
                "{f:?} {auth:?} {sys_auth}"
            );
        }
        assert!(!grant(&[NoPeer]).may_mobilize(A::None, false));
        assert!(grant(&[]).may_mobilize(A::None, false));
        assert!(grant(&[]).association_auth_ok(A::None));
        assert!(!grant(&[]).association_auth_ok(A::Failed));
        assert!(!grant(&[NoTrust]).association_auth_ok(A::None));
        assert!(grant(&[NoTrust]).association_auth_ok(A::Ok));
    }

    fn rhel_server_list() -> RestrictList {
        let mut list = RestrictList::new();
        let default = flags(&[Kod, Limited, NoModify, NoTrap, NoPeer, NoQuery]);
        list.add_default(Family::V4, default);
        list.add_default(Family::V6, default);
        list.add(RestrictEntry {
            addr: "127.0.0.1".parse().unwrap(),
            mask: None,
            flags: RestrictFlags::NONE,
        })
        .unwrap();
        list
    }

    #[test]
    fn flood_gets_rate_kisses_at_a_bounded_rate_and_others_are_served() {
        let mut acl = AccessControl::new(rhel_server_list(), Monitor::new(600));
        let mut flooder = arrival(Mode::Client, 4, 40000);
        flooder.src.set_ip("198.51.100.66".parse().unwrap());
        let mut other = arrival(Mode::Client, 4, 40001);
        other.src.set_ip("203.0.113.5".parse().unwrap());
        let (mut kisses, mut served, mut dropped) = (0, 0, 0);
        for k in 0..1000u64 {
            let now = Duration::from_millis(10 * k);
            match acl.check(|| now, &flooder, false) {
                Access::Kiss { code, reply_mode } => {
                    assert_eq!((code, reply_mode), (KissCode::Rate, Mode::Server));
                    kisses += 1;
                }
                Access::Proceed(_) => served += 1,
                Access::Drop(why) => {
                    assert_eq!(why, Denied::RateLimited);
                    dropped += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
            if k % 250 == 0 {
                let got = acl.check(|| now, &other, false);
                assert!(
                    matches!(got, Access::Proceed(_)),
                    "other client got {got:?}"
                );
            }
        }
        assert_eq!(served, 1);
        assert!((1..=2).contains(&kisses), "{kisses} kisses");
        assert_eq!(served + kisses + dropped, 1000);
        // Localhost has its own unlimited entry.
        let mut local = arrival(Mode::Client, 4, 40000);
        local.src.set_ip("127.0.0.1".parse().unwrap());
        for k in 0..100 {
            let got = acl.check(|| Duration::from_millis(k), &local, false);
            assert!(matches!(got, Access::Proceed(_)));
        }
    }

    #[test]
    fn symmetric_floods_get_active_kisses_and_server_floods_are_dropped() {
        for (mode, first_kiss) in [
            (Mode::SymmetricActive, Some(Mode::SymmetricActive)),
            (Mode::SymmetricPassive, Some(Mode::SymmetricActive)),
            (Mode::Server, None),
            (Mode::Broadcast, None),
        ] {
            let mut acl = AccessControl::new(rhel_server_list(), Monitor::new(8));
            let a = arrival(mode, 4, 123);
            acl.check(|| Duration::ZERO, &a, false);
            let want = match first_kiss {
                Some(reply_mode) => Access::Kiss {
                    code: KissCode::Rate,
                    reply_mode,
                },
                None => Access::Drop(Denied::RateLimited),
            };
            assert_eq!(acl.check(|| Duration::ZERO, &a, false), want, "{mode:?}");
        }
    }

    #[test]
    fn queries_and_denied_packets_are_not_monitored() {
        let mut list = RestrictList::new();
        list.add(RestrictEntry {
            addr: "192.0.2.0".parse().unwrap(),
            mask: Some("255.255.255.0".parse().unwrap()),
            flags: flags(&[NoServe]),
        })
        .unwrap();
        let mut acl = AccessControl::new(list, Monitor::new(8));
        for mode in [Mode::Control, Mode::Private, Mode::Client] {
            acl.check(|| Duration::ZERO, &arrival(mode, 4, 40000), false);
        }
        assert!(acl.monitor().is_empty());
        let mut served = arrival(Mode::Client, 4, 40000);
        served.src.set_ip("198.51.100.1".parse().unwrap());
        acl.check(|| Duration::ZERO, &served, false);
        assert_eq!(acl.monitor().len(), 1);
    }

    #[test]
    fn limited_keeps_the_monitor_running_when_disabled() {
        let mut acl = AccessControl::new(rhel_server_list(), Monitor::new(8));
        acl.set_monitor_enabled(false);
        let a = arrival(Mode::Client, 4, 40000);
        acl.check(|| Duration::ZERO, &a, false);
        assert!(matches!(
            acl.check(|| Duration::ZERO, &a, false),
            Access::Kiss { .. }
        ));
        acl.set_list(RestrictList::new());
        assert!(acl.monitor().is_empty());
        assert!(matches!(
            acl.check(|| Duration::ZERO, &a, false),
            Access::Proceed(_)
        ));
    }

    #[test]
    fn kiss_reveals_nothing_and_is_never_larger_than_the_request() {
        let request = Header {
            leap: Leap::NoWarning,
            version: 3,
            mode: Mode::Client,
            stratum: 0,
            poll: 1,
            precision: -20,
            root_delay: NtpShort::from_bits(0x10),
            root_dispersion: NtpShort::from_bits(0x20),
            reference_id: RefId::INIT,
            reference_time: NtpTimestamp::from_bits(5),
            origin_time: NtpTimestamp::from_bits(6),
            receive_time: NtpTimestamp::from_bits(7),
            transmit_time: NtpTimestamp::from_bits(0xdead_beef),
        };
        let kiss = kiss_header(&request, Mode::Server, KissCode::Rate, 3);
        assert_eq!(
            (kiss.leap, kiss.stratum, kiss.version),
            (Leap::Unsync, 0, 3)
        );
        assert_eq!((kiss.mode, kiss.poll), (Mode::Server, 3));
        assert_eq!(kiss.reference_id.kiss_code(), KissCode::Rate);
        for t in [kiss.origin_time, kiss.receive_time, kiss.transmit_time] {
            assert_eq!(t, request.transmit_time);
        }
        let mut out = [0u8; HEADER_LEN];
        assert!(kiss.encode(&mut out) <= HEADER_LEN);
        let polled = kiss_header(
            &Header {
                poll: 10,
                ..request
            },
            Mode::Server,
            KissCode::Rate,
            3,
        );
        assert_eq!(polled.poll, 10);
    }
}
