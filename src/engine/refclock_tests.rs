//! Device reference clocks through the whole engine: what the device module reads goes in
//! as [`Input`]s, ntpq's view comes out. An NMEA receiver numbers the seconds (`prefer`);
//! a PPS clock on the same seconds takes over as the `o` peer only while it does, the
//! receiver staying `*` as in classic's `ntpq -p`.

use super::control_view::View;
use super::rv_tests;
use super::*;
use crate::clock::{ManualMono, VirtualClock, VirtualClockSpec};
use crate::control::ControlState;
use crate::discipline::select::SelectStatus;
use crate::refclock::driver::{Fudge, Kind};
use crate::refclock::pps::{KTime, PpsInfo};
use crate::restrict::{Family, Monitor, RestrictList};
use crate::time::{NtpDuration, NtpTimestamp, PollInterval};
use crate::wire::mode7::{self, peer_flag, PeerSummary};
use std::net::IpAddr;

/// 2026-12-06 00:00:00 UTC as NTP seconds.
const TRUE_START_SECS: u64 = 0xeeab_8600;
const UNIX_OFFSET: i64 = 2_208_988_800;

type TestEngine = Engine<VirtualClock<ManualMono>>;

/// An engine `offset` s ahead of true time with the given device clocks.
fn engine(offset: f64, clocks: Vec<RefClock>) -> (ManualMono, TestEngine) {
    let mut list = RestrictList::new();
    list.add_default(Family::V4, Default::default());
    let mono = ManualMono::default();
    let spec = VirtualClockSpec {
        offset: NtpDuration::from_secs_f64(offset),
        drift: Ppm::ZERO,
    };
    let clock = VirtualClock::new(
        mono.clone(),
        NtpTimestamp::from_bits(TRUE_START_SECS << 32),
        spec,
    );
    let settings = Settings {
        refclocks: clocks,
        steer_clock: true,
        ..Settings::new(
            AccessControl::new(list, Monitor::new(64)),
            NonceKey::new([1, 2]),
            100,
        )
    };
    (mono, Engine::new(clock, settings))
}

fn clock(kind: Kind, prefer: bool) -> RefClock {
    let mut c = RefClock::new(kind, 0, Fudge::default(), 0, None);
    c.poll = PollInterval(4);
    c.prefer = prefer;
    c
}

/// A GPGGA sentence for true second `elapsed` after the start.
fn gga(elapsed: u64) -> String {
    let tod = (TRUE_START_SECS + elapsed) % 86_400;
    let body = format!(
        "GPGGA,{:02}{:02}{:02}.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    );
    let sum = body.bytes().fold(0u8, |x, b| x ^ b);
    format!("${body}*{sum:02X}")
}

/// `seconds` of a receiver whose sentences and pulses arrive on true seconds, with the
/// timer run after each.
fn run(mono: &ManualMono, e: &mut TestEngine, from: u64, seconds: u64, pps: bool) {
    for s in from..from + seconds {
        set(mono, e, s);
        e.refclock_input(AssocId(100), Input::Line(&gga(s)));
        if pps {
            pulse(e, 101, s);
        }
        e.handle_timer(&mut |_, _| {});
    }
}

/// A pulse on the true second `s` after the start, fetched at once, to the PPS clock `id`.
fn pulse(e: &mut TestEngine, id: u16, s: u64) {
    let info = PpsInfo {
        assert_sequence: s as u32 + 1,
        assert: KTime {
            sec: (TRUE_START_SECS + s) as i64 - UNIX_OFFSET,
            nsec: 0,
        },
        ..PpsInfo::default()
    };
    let true_now = NtpTimestamp::from_bits((TRUE_START_SECS + s) << 32);
    e.refclock_input(AssocId(id), Input::Pps(info, true_now));
}

/// Moves monotonic time to `s` seconds after the start.
fn set(mono: &ManualMono, e: &TestEngine, s: u64) {
    mono.advance(Duration::from_secs(s).saturating_sub(e.clock.mono()));
}

/// ntpdc's `peers` request, from this host.
fn peer_list_sum(e: &mut TestEngine) -> Vec<PeerSummary> {
    let request = mode7::request(mode7::IMPL_XNTPD, mode7::code::PEER_LIST_SUM, 0, &[]);
    let dgram = Datagram {
        bytes: &request,
        source: "127.0.0.1:40000".parse().unwrap(),
        local: None,
        received: None,
    };
    let mut out = Vec::new();
    e.handle_datagram(&dgram, &mut |r| out.push(r.to_vec()));
    out.iter()
        .flat_map(|r| {
            r[8..]
                .chunks(72)
                .filter_map(PeerSummary::decode)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn tally(e: &TestEngine, id: u16) -> u8 {
    let view = View {
        engine: e,
        now: e.clock.now(),
    };
    view.peer(id).unwrap().status.select
}

#[test]
fn nmea_is_selected_and_served_at_stratum_1_refid_gps() {
    let (mono, mut e) = engine(0.003, vec![clock(Kind::Nmea, false)]);
    run(&mono, &mut e, 0, 17, false);
    assert_eq!(e.system().peer, Some(100));
    assert_eq!(e.system().stratum, 1);
    assert_eq!(e.system().refid, RefId::from_ascii("GPS"));
    assert_eq!(tally(&e, 100), SelectStatus::SystemPeer as u8);
    let view = View {
        engine: &e,
        now: e.clock.now(),
    };
    let p = view.peer(100).unwrap();
    assert!(
        (p.offset.to_secs_f64() + 0.003).abs() < 1e-4,
        "{:?}",
        p.offset
    );
    // The system status word names a UHF radio as the source (ntpq: sync_uhf_radio).
    assert_eq!(view.system().status.source, 4);
    let cv = view.clock(100).unwrap();
    assert_eq!(
        (cv.poll, cv.noreply, cv.device.as_str()),
        (1, 0, "NMEA GPS Clock")
    );
    assert_eq!(e.sources().name(100).as_deref(), Some("GPS_NMEA(0)"));
}

#[test]
fn pps_waits_for_the_prefer_peer_then_is_the_o_peer() {
    let clocks = vec![clock(Kind::Nmea, true), clock(Kind::Pps, false)];
    let (mono, mut e) = engine(0.003, clocks);
    // PPS alone cannot number the seconds: without the receiver it is never used.
    run(&mono, &mut e, 0, 17, false);
    assert_eq!(e.system().peer, Some(100));
    run(&mono, &mut e, 17, 32, true);
    assert_eq!(e.system().peer, Some(101), "{:?}", e.system());
    assert_eq!(tally(&e, 101), SelectStatus::PpsPeer as u8);
    // As classic (`*GPS_NMEA(0)` over `oPPS(0)`): the prefer peer numbering the seconds
    // keeps the sys.peer status while the system peer variable names the PPS peer.
    assert_eq!(tally(&e, 100), SelectStatus::SystemPeer as u8);
    assert_eq!(e.system().refid, RefId::from_ascii("PPS"));
    // ntpdc marks the system peer itself (classic `pp == sys_peer`): `*PPS(0)` only.
    let system_peer_flags: Vec<(IpAddr, bool)> = peer_list_sum(&mut e)
        .iter()
        .map(|p| (p.srcadr, p.flags & peer_flag::SYSPEER != 0))
        .collect();
    assert_eq!(
        system_peer_flags,
        [
            ("127.127.20.0".parse().unwrap(), false),
            ("127.127.22.0".parse().unwrap(), true)
        ]
    );
    // The receiver goes silent: once it is unreachable (8 polls) no prefer peer numbers
    // the seconds and PPS is dropped.
    for s in 49..49 + 9 * 16 {
        set(&mono, &e, s);
        pulse(&mut e, 101, s);
        e.handle_timer(&mut |_, _| {});
    }
    assert_ne!(tally(&e, 101), SelectStatus::PpsPeer as u8);
}

#[test]
fn a_network_prefer_peer_numbering_the_seconds_keeps_its_star() {
    let (mono, mut e) = engine(0.003, vec![clock(Kind::Pps, false)]);
    let mut server = PeerSpec::server(rv_tests::SERVER.parse().unwrap());
    server.config.iburst = true;
    server.config.prefer = true;
    let server_id = e.mobilize(server).unwrap();
    // Each second a pulse, then the timer and the server's answers (rv_tests' server on
    // true time).
    for s in 0..80 {
        pulse(&mut e, 100, s);
        rv_tests::second(&mono, &mut e);
    }
    assert_eq!(e.system().peer, Some(100), "{:?}", e.system());
    assert_eq!(tally(&e, 100), SelectStatus::PpsPeer as u8);
    assert_eq!(tally(&e, server_id.0), SelectStatus::SystemPeer as u8);
}
