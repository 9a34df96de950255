//! Abuse the daemon core must shrug off: a flood from spoofed sources (the MRU table stays
//! at its capacity, legitimate clients are still served, memory does not grow with the
//! flood) and spoofed replies to our own polls (wrong origin timestamp, wrong source,
//! replayed) which the client side must never take as samples.

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use ntp6::assoc::Flash;
use ntp6::engine::peers::PeerSpec;
use ntp6::restrict::{Family, RestrictFlag, RestrictFlags, RestrictList};
use ntp6::time::{NtpDuration, NtpShort, NtpTimestamp};
use ntp6::wire::ntp::{Header, Leap, Mode, RefId, HEADER_LEN};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

fn limited() -> RestrictList {
    let mut l = RestrictList::new();
    let flags: RestrictFlags = [RestrictFlag::Limited, RestrictFlag::Kod]
        .into_iter()
        .collect();
    l.add_default(Family::V4, flags);
    l
}

fn client_request() -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0] = 0x23;
    b[40..48].copy_from_slice(&0xeeab_8600_0000_0001u64.to_be_bytes());
    b
}

#[test]
fn spoofed_flood_keeps_the_mru_bounded_and_serves_the_legitimate() {
    let (mono, mut e) = harness::engine_and_clock(limited());
    let mut x = 0x2545_f491u32;
    let mut answered = 0usize;
    for i in 0..50_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let src = SocketAddr::from((Ipv4Addr::from(x), 1024 + (i % 60_000) as u16));
        answered += harness::exchange(&mut e, src, &client_request()).len();
        if i % 1000 == 0 {
            mono.advance(Duration::from_millis(10));
        }
        assert!(e.access().monitor().len() <= e.access().monitor().capacity());
    }
    // Each spoofed address is new, so each gets its (single) answer: 1.0x, no more.
    assert!(answered <= 50_000);
    assert_eq!(e.access().monitor().len(), e.access().monitor().capacity());
    mono.advance(Duration::from_secs(64));
    let legit: SocketAddr = "192.0.2.200:40000".parse().unwrap();
    let replies = harness::exchange(&mut e, legit, &client_request());
    assert_eq!(replies.len(), 1);
    assert_eq!(Header::decode(&replies[0]).unwrap().stratum, 11);
}

const SERVER: &str = "192.0.2.50:123";

fn polled() -> (harness::TestEngine, Header) {
    let (mono, mut e) = harness::engine_and_clock(RestrictList::new());
    e.mobilize(PeerSpec::server(SERVER.parse().unwrap()));
    mono.advance(Duration::from_secs(2));
    let mut sent = Vec::new();
    e.handle_timer(&mut |_, b| sent.push(b.to_vec()));
    let req = Header::decode(&sent[0]).unwrap();
    (e, req)
}

fn reply(origin: NtpTimestamp, transmit: NtpTimestamp) -> Vec<u8> {
    let h = Header {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 1,
        poll: 6,
        precision: -20,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: RefId::from_ascii("GPS"),
        reference_time: NtpTimestamp::from_bits(transmit.to_bits() - (16 << 32)),
        origin_time: origin,
        receive_time: transmit,
        transmit_time: transmit,
    };
    let mut out = [0u8; HEADER_LEN];
    h.encode(&mut out);
    out.to_vec()
}

fn reach(e: &harness::TestEngine) -> (u8, Flash) {
    let p = e.peers().iter().next().unwrap();
    (p.assoc.reach(), p.assoc.flash())
}

#[test]
fn spoofed_replies_are_never_samples() {
    let server: SocketAddr = SERVER.parse().unwrap();
    let (mut e, req) = polled();
    let t = req.transmit_time + NtpDuration::from_secs_f64(0.001);
    // Wrong origin timestamp (an off-path guess).
    let bogus = NtpTimestamp::from_bits(req.transmit_time.to_bits() ^ 0x1234);
    let other_t = t + NtpDuration::from_secs_f64(0.0005);
    harness::exchange(&mut e, server, &reply(bogus, other_t));
    assert_eq!(reach(&e).0, 0);
    assert!(reach(&e).1.has(Flash::BOGUS));
    // The right origin from the wrong source address or port.
    for spoofed in ["192.0.2.51:123", "192.0.2.50:124"] {
        harness::exchange(
            &mut e,
            spoofed.parse().unwrap(),
            &reply(req.transmit_time, t),
        );
        assert_eq!(reach(&e).0, 0, "{spoofed}");
    }
    // The genuine reply counts once; its replay is a duplicate.
    let genuine = reply(req.transmit_time, t);
    harness::exchange(&mut e, server, &genuine);
    assert_eq!(reach(&e).0, 1);
    harness::exchange(&mut e, server, &genuine);
    assert!(reach(&e).1.has(Flash::DUPLICATE));
    assert_eq!(e.peers().iter().next().unwrap().assoc.packets_received(), 3);
}

fn kiss(code: &str, origin: NtpTimestamp, transmit: NtpTimestamp) -> Vec<u8> {
    let mut h = Header::decode(&reply(origin, transmit)).unwrap();
    (h.leap, h.stratum, h.poll) = (Leap::Unsync, 0, 17);
    h.reference_id = RefId::from_ascii(code);
    let mut out = [0u8; HEADER_LEN];
    h.encode(&mut out);
    out.to_vec()
}

/// Requests the engine sends to `to` while `secs` seconds pass, one second at a time.
fn polls_to(
    mono: &ntp6::clock::ManualMono,
    e: &mut harness::TestEngine,
    to: SocketAddr,
    secs: u64,
) -> usize {
    let mut sent = 0;
    for _ in 0..secs {
        mono.advance(Duration::from_secs(1));
        e.handle_timer(&mut |dst, _| sent += usize::from(dst == to));
    }
    sent
}

/// CVE-2015-7704/7705: kiss-o'-death packets "from" the server with an origin timestamp
/// the forger had to guess are counted and do nothing: no jail, no longer poll.
#[test]
fn forged_kisses_are_counted_and_ignored() {
    let server: SocketAddr = SERVER.parse().unwrap();
    let (mono, mut e) = harness::engine_and_clock(RestrictList::new());
    e.mobilize(PeerSpec::server(server));
    mono.advance(Duration::from_secs(2));
    let mut sent = Vec::new();
    e.handle_timer(&mut |_, b| sent.push(b.to_vec()));
    let req = Header::decode(&sent[0]).unwrap();
    let t = req.transmit_time + NtpDuration::from_secs_f64(0.001);
    harness::exchange(&mut e, server, &reply(req.transmit_time, t));
    assert_eq!(reach(&e).0, 1);
    let mut guess = 0x9e37_79b9_7f4a_7c15u64;
    for code in ["DENY", "RSTR", "RATE", "DENY", "RATE"] {
        guess = guess.rotate_left(17) ^ 0x2545_f491_4f6c_dd1d;
        let forged = kiss(
            code,
            NtpTimestamp::from_bits(guess),
            NtpTimestamp::from_bits(guess),
        );
        assert!(harness::exchange(&mut e, server, &forged).is_empty());
    }
    assert_eq!(e.counters().forged_kisses, 5);
    let p = e.peers().iter().next().unwrap();
    assert!(!p.assoc.denied());
    assert_eq!(p.assoc.hpoll(), p.assoc.config().min_poll);
    // Polling goes on at 64 s: about ten polls in ten minutes (a RATE kiss believed would
    // have made that one, a DENY none).
    let polls = polls_to(&mono, &mut e, server, 640);
    assert!(polls >= 9, "{polls} polls in 640 s");
}

fn symmetric_active(i: u32) -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0] = 0x21; // leap 0, version 4, mode 1
    b[1] = 2;
    b[2] = 6;
    b[40..48].copy_from_slice(&(0xeeab_8600_0000_0000u64 + u64::from(i)).to_be_bytes());
    b
}

/// `disable auth` without `nopeer`: 50,000 spoofed symmetric active sources. Each gets one
/// answer the size of its packet (as any server's), the passive associations stay within
/// their cap, and no packet ever goes to any of them unasked; they all expire.
#[test]
fn spoofed_symmetric_flood_is_bounded_and_never_polled() {
    let (mono, mut e) = harness::engine_with(RestrictList::new(), |s| s.authenticate = false);
    let max = ntp6::engine::peers::MAX_PASSIVE;
    let mut answered = 0;
    for i in 0..50_000u32 {
        let src = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | i), 123));
        let request = symmetric_active(i);
        for r in harness::exchange(&mut e, src, &request) {
            let h = Header::decode(&r).unwrap();
            assert_eq!((r.len(), h.mode), (HEADER_LEN, Mode::SymmetricPassive));
            assert_eq!(
                h.origin_time,
                Header::decode(&request).unwrap().transmit_time
            );
            answered += 1;
        }
        assert!(e.peers().passive_count() <= max);
        if i % 5000 == 0 {
            mono.advance(Duration::from_millis(100));
        }
    }
    assert_eq!(answered, 50_000);
    assert_eq!(e.peers().passive_count(), max);
    let mut unasked = 0;
    for _ in 0..1200 {
        mono.advance(Duration::from_secs(1));
        e.handle_timer(&mut |_, _| unasked += 1);
    }
    assert_eq!(unasked, 0, "polls sent to spoofed addresses");
    assert_eq!(
        e.peers().passive_count(),
        0,
        "unproven passive associations expire"
    );
}
