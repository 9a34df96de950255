//! `ntpq -c rv` after a cold start (no drift file), through the whole engine: one server
//! answering every request, the client's virtual clock off by a slewable or a steppable
//! amount. Classic 4.2.6p5 refreshes reftime, stratum, refid and peer at every clock
//! update; ours must too from the first sample on, without the FREQ state's 900 s in which
//! classic's (and our earlier) variables stood still at stratum 16 and refid STEP.

use super::control_view::View;
use super::*;
use crate::clock::{ManualMono, MonoSource, VirtualClock, VirtualClockSpec};
use crate::control::ControlState;
use crate::restrict::{Family, Monitor, RestrictList};
use crate::time::{NtpDuration, NtpShort, NtpTimestamp};
use crate::wire::ntp::{Header, Leap, Mode};

const TRUE_START: u64 = 0xeeab_8600_0000_0000;
pub(super) const SERVER: &str = "192.0.2.10:123";
/// Classic's freq_mode and clock_sync events in the system status word.
const FREQ_MODE: u8 = 4;
const CLOCK_SYNC: u8 = 5;

type TestEngine = Engine<VirtualClock<ManualMono>>;

/// A cold client of one iburst server, `offset` seconds off true time.
fn cold_client(offset: f64) -> (ManualMono, TestEngine) {
    let mut list = RestrictList::new();
    list.add_default(Family::V4, Default::default());
    let mono = ManualMono::default();
    let spec = VirtualClockSpec {
        offset: NtpDuration::from_secs_f64(offset),
        drift: Ppm(10.0),
    };
    let clock = VirtualClock::new(mono.clone(), NtpTimestamp::from_bits(TRUE_START), spec);
    let mut server = PeerSpec::server(SERVER.parse().unwrap());
    server.config.iburst = true;
    let settings = Settings {
        steer_clock: true,
        sources: vec![server],
        ..Settings::new(
            AccessControl::new(list, Monitor::new(64)),
            NonceKey::new([1, 2]),
            100,
        )
    };
    (mono, Engine::new(clock, settings))
}

/// The server's answer to `request`, on true time, 1 ms each way.
fn answer(request: &[u8], mono: &ManualMono) -> Vec<u8> {
    let req = Header::decode(request).unwrap();
    let true_now = NtpTimestamp::from_bits(TRUE_START)
        + NtpDuration::from_secs_f64(mono.mono().as_secs_f64() + 0.001);
    let reply = Header {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 1,
        poll: req.poll,
        precision: -20,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::from_duration(NtpDuration::from_secs_f64(0.0001)),
        reference_id: RefId::from_ascii("GPS"),
        reference_time: true_now + NtpDuration::from_secs(-8),
        origin_time: req.transmit_time,
        receive_time: true_now,
        transmit_time: true_now,
    };
    let mut out = [0u8; HEADER_LEN];
    let len = reply.encode(&mut out);
    out[..len].to_vec()
}

/// One second of the daemon's life; returns whether a reply came in.
pub(super) fn second(mono: &ManualMono, e: &mut TestEngine) -> bool {
    mono.advance(Duration::from_secs(1));
    let mut requests = Vec::new();
    e.handle_timer(&mut |_, bytes| requests.push(bytes.to_vec()));
    for request in &requests {
        let reply = answer(request, mono);
        mono.advance(Duration::from_millis(2));
        let dgram = Datagram {
            bytes: &reply,
            source: SERVER.parse().unwrap(),
            local: None,
            received: None,
        };
        e.handle_datagram(&dgram, &mut |_| {});
    }
    !requests.is_empty()
}

fn rv(e: &TestEngine) -> crate::control::SystemVars {
    View {
        engine: e,
        now: e.clock().now(),
    }
    .system()
}

/// Runs until the first clock update serves the server's time; returns its time.
fn until_served(mono: &ManualMono, e: &mut TestEngine) -> Duration {
    for _ in 0..60 {
        second(mono, e);
        if rv(e).leap == 0 {
            return mono.mono();
        }
    }
    panic!("not synchronised within a minute: {:?}", rv(e));
}

/// The next twenty samples: each one the server's clock filter hands on (classic's
/// clock update) refreshes reftime, and stratum, refid and peer stay the server's, while
/// the frequency is measured and after.
fn follows_every_sample(mono: &ManualMono, e: &mut TestEngine) {
    let peer = e.peers().iter().next().unwrap();
    let (id, mut epoch) = (peer.assoc_id, peer.assoc.filter().epoch());
    let mut reftime = rv(e).reftime;
    let (mut samples, mut updates) = (0, 0);
    while samples < 20 {
        if !second(mono, e) {
            continue;
        }
        samples += 1;
        let vars = rv(e);
        assert_eq!(vars.leap, 0, "{vars:?}");
        assert_eq!(vars.stratum, 2, "{vars:?}");
        assert_eq!(vars.refid, RefId([192, 0, 2, 10]), "{vars:?}");
        assert_eq!(vars.peer, id.0, "{vars:?}");
        assert!(
            [FREQ_MODE, CLOCK_SYNC].contains(&vars.status.last_event),
            "{vars:?}"
        );
        let handed_on = e.peers().iter().next().unwrap().assoc.filter().epoch();
        if handed_on > epoch {
            assert!(vars.reftime > reftime, "reftime stood at {reftime:?}");
            (epoch, reftime) = (handed_on, vars.reftime);
            updates += 1;
        }
    }
    assert!(updates >= 10, "{updates} clock updates in 20 samples");
}

#[test]
fn a_cold_slew_start_serves_and_refreshes_rv_from_the_first_sample() {
    let (mono, mut e) = cold_client(0.05);
    assert_eq!((rv(&e).stratum, rv(&e).refid), (16, RefId::INIT));
    let served = until_served(&mono, &mut e);
    let vars = rv(&e);
    assert_eq!(vars.status.last_event, FREQ_MODE, "{vars:?}");
    assert!(served < Duration::from_secs(12), "{served:?}");
    follows_every_sample(&mono, &mut e);
}

/// The client's clock against true time (seconds).
fn true_offset(mono: &ManualMono, e: &TestEngine) -> f64 {
    let true_now =
        NtpTimestamp::from_bits(TRUE_START) + NtpDuration::from_secs_f64(mono.mono().as_secs_f64());
    (e.clock().now() - true_now).to_secs_f64()
}

#[test]
fn a_cold_step_start_serves_after_the_step_and_refreshes_rv() {
    let (mono, mut e) = cold_client(-0.5);
    let served = until_served(&mono, &mut e);
    assert!(
        true_offset(&mono, &e).abs() < 0.005,
        "{}",
        true_offset(&mono, &e)
    );
    assert!(served < Duration::from_secs(20), "{served:?}");
    follows_every_sample(&mono, &mut e);
}

#[test]
fn a_stop_mid_slew_leaves_the_clock_at_its_frequency() {
    let (mono, mut e) = cold_client(0.1);
    until_served(&mono, &mut e);
    // The first update slews 100 ms at 83 333 PPM: still slewing a moment later.
    assert_ne!(e.system_process().discipline.slewed().rate, Ppm::ZERO);
    e.stop();
    let before = true_offset(&mono, &e);
    mono.advance(Duration::from_secs(10));
    let drift = true_offset(&mono, &e) - before;
    // Only the oscillator's 10 PPM (less what the discipline learned) remains.
    assert!(drift.abs() < 200e-6, "{drift}");
}
