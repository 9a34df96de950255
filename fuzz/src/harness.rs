//! A daemon core on a virtual clock, for the fuzz targets and the amplification test: a
//! LOCAL(0) clock at stratum 10 (so the engine serves time at stratum 11 at once), the
//! given restrict list, and a key ring with trusted keys 1 (MD5) and 2 (SHA1).

use ntp6::auth::{keys, KeyRing};
use ntp6::clock::{ManualMono, VirtualClock, VirtualClockSpec};
use ntp6::control::NonceKey;
use ntp6::engine::{Datagram, Engine, Settings};
use ntp6::refclock::local::{LocalClock, LocalFudge};
use ntp6::restrict::{AccessControl, Monitor, RestrictList};
use ntp6::time::{NtpDuration, NtpTimestamp, Ppm};
use std::net::SocketAddr;

/// The engine type the harness builds.
pub type TestEngine = Engine<VirtualClock<ManualMono>>;

/// The keys file every harness engine (and its clients) use.
pub const KEYS: &str = "1 M md5secret\n2 SHA1 sha1secret\n3 M untrusted\n";

/// The `controlkey` of harness engines.
pub const CONTROL_KEY: u32 = 1;

/// Trusted keys 1 and 2; key 3 is known but untrusted.
pub fn key_ring() -> KeyRing {
    let mut ring = KeyRing::new(keys::parse(KEYS.as_bytes()).keys);
    ring.trust(1);
    ring.trust(2);
    ring
}

/// An engine serving time from LOCAL(0) under `list`, with the harness keys
/// (controlkey 1).
pub fn engine(list: RestrictList) -> TestEngine {
    engine_and_clock(list).1
}

/// [`engine`], with the hand that moves its monotonic clock.
pub fn engine_and_clock(list: RestrictList) -> (ManualMono, TestEngine) {
    engine_with(list, |_| {})
}

/// [`engine_and_clock`] with the settings changed by `adjust` (`disable auth`, sources).
pub fn engine_with(
    list: RestrictList,
    adjust: impl FnOnce(&mut Settings),
) -> (ManualMono, TestEngine) {
    let mono = ManualMono::default();
    let spec = VirtualClockSpec {
        offset: NtpDuration::ZERO,
        drift: Ppm::ZERO,
    };
    let clock = VirtualClock::new(
        mono.clone(),
        NtpTimestamp::from_bits(0xeeab_8600_0000_0000),
        spec,
    );
    // `enable ntp` on the virtual clock, so the LOCAL(0) server is synchronised and serves
    // leap 00 as a real one does (`disable ntp` keeps classic at leap 11 for good).
    let mut settings = Settings {
        steer_clock: true,
        local_clocks: vec![LocalClock::new(
            0,
            LocalFudge {
                stratum: 10,
                ..LocalFudge::default()
            },
        )],
        keys: key_ring(),
        control_key: Some(CONTROL_KEY),
        ..Settings::new(
            AccessControl::new(list, Monitor::new(64)),
            NonceKey::new([1, 2]),
            3495,
        )
    };
    adjust(&mut settings);
    let mut e = Engine::new(clock, settings);
    e.handle_timer(&mut |_, _| {});
    (mono, e)
}

/// Hands `bytes` from `from` to the engine and collects the replies.
pub fn exchange(e: &mut TestEngine, from: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    exchange_at(e, from, None, bytes)
}

/// [`exchange`] for a datagram that arrived on the socket bound to `local` (the wildcard
/// 0.0.0.0:123 for one sent to a broadcast or multicast address).
pub fn exchange_at(
    e: &mut TestEngine,
    from: SocketAddr,
    local: Option<SocketAddr>,
    bytes: &[u8],
) -> Vec<Vec<u8>> {
    let dgram = Datagram {
        bytes,
        source: from,
        local,
        received: None,
    };
    let mut replies = Vec::new();
    e.handle_datagram(&dgram, &mut |r| replies.push(r.to_vec()));
    replies
}
