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
