//! Symmetric-key authentication through the daemon core (no sockets): the server side
//! (same-key replies, crypto-NAKs, `notrust`), mode 6 writes with the controlkey, and the
//! client side (`server X key N`: signed polls, TEST5 for a wrong key).

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::{exchange, key_ring};
use ntp6::assoc::Flash;
use ntp6::auth::mac;
use ntp6::engine::peers::PeerSpec;
use ntp6::restrict::{Family, RestrictFlag, RestrictFlags, RestrictList};
use ntp6::time::{NtpShort, NtpTimestamp};
use ntp6::wire::control::{cerr, ControlPacket};
use ntp6::wire::ntp::{Header, Leap, Mode, Packet, PeerHeader, RefId, HEADER_LEN};
use std::net::SocketAddr;
use std::time::Duration;

fn client() -> SocketAddr {
    "192.0.2.10:40123".parse().unwrap()
}

fn request() -> Vec<u8> {
    let mut b = vec![0u8; HEADER_LEN];
    b[0] = 0x23;
    b[40..48].copy_from_slice(&0xeeab_8600_1234_5678u64.to_be_bytes());
    b
}

fn signed(key: u32) -> Vec<u8> {
    let mut b = request();
    key_ring().sign(key, &mut b).unwrap();
    b
}

fn list(flags: &[RestrictFlag]) -> RestrictList {
    let mut l = RestrictList::new();
    l.add_default(Family::V4, flags.iter().copied().collect::<RestrictFlags>());
    l
}

/// The reply's MAC: (key id, digest verifies under that key).
fn reply_mac(reply: &[u8]) -> Option<(u32, bool)> {
    let p = Packet::decode(reply).unwrap();
    let at = p.trailer.mac_offset?;
    let ok = key_ring()
        .key(p.trailer.key_id)
        .is_some_and(|k| mac::verify(k, &reply[..at], &reply[at + 4..]));
    Some((p.trailer.key_id, ok))
}

#[test]
fn signed_requests_get_replies_signed_with_the_same_key() {
    let mut e = harness::engine(list(&[]));
    for key in [1, 2] {
        let replies = exchange(&mut e, client(), &signed(key));
        assert_eq!(replies.len(), 1);
        assert_eq!(reply_mac(&replies[0]), Some((key, true)), "key {key}");
        assert_eq!(Header::decode(&replies[0]).unwrap().stratum, 11);
    }
    let plain = exchange(&mut e, client(), &request());
    assert_eq!(plain[0].len(), HEADER_LEN);
}

#[test]
fn unknown_untrusted_or_forged_macs_get_a_crypto_nak() {
    let mut e = harness::engine(list(&[]));
    let mut forged = signed(1);
    forged[60] ^= 1;
    let mut unknown = request();
    unknown.extend_from_slice(&99u32.to_be_bytes());
    unknown.extend_from_slice(&[0u8; 16]);
    for bad in [signed(3), forged, unknown] {
        let replies = exchange(&mut e, client(), &bad);
        assert_eq!(replies.len(), 1);
        let r = &replies[0];
        assert_eq!(r.len(), HEADER_LEN + 4, "crypto-NAK: header + key ID 0");
        assert_eq!(r[HEADER_LEN..], [0, 0, 0, 0]);
    }
}

#[test]
fn notrust_serves_only_authenticated_clients() {
    let mut e = harness::engine(list(&[RestrictFlag::NoTrust]));
    assert!(exchange(&mut e, client(), &request()).is_empty());
    let replies = exchange(&mut e, client(), &signed(2));
    assert_eq!(reply_mac(&replies[0]), Some((2, true)));
    let replies = exchange(&mut e, client(), &signed(3));
    assert_eq!(replies[0].len(), HEADER_LEN + 4);
}

fn writevar(data: &[u8], key: Option<u32>) -> Vec<u8> {
    let mut b = vec![0x16, 0x03, 0, 7, 0, 0, 0, 0, 0, 0, 0, data.len() as u8];
    b.extend_from_slice(data);
    b.resize(b.len().div_ceil(4) * 4, 0);
    match key {
        Some(k) => key_ring().sign_control(k, &b).unwrap(),
        None => b,
    }
}

/// (error code or None, response signed by key)
fn control_answer(e: &mut harness::TestEngine, req: &[u8]) -> (Option<u8>, Option<u32>) {
    let replies = exchange(e, client(), req);
    assert_eq!(replies.len(), 1);
    let p = ControlPacket::decode(&replies[0]).unwrap();
    let code = p.header.error.then_some((p.header.status >> 8) as u8);
    (code, p.mac.map(|m| m.key_id))
}

#[test]
fn writes_need_the_control_key_and_no_nomodify() {
    let mut e = harness::engine(list(&[]));
    assert_eq!(
        control_answer(&mut e, &writevar(b"", None)),
        (Some(cerr::PERMISSION), None)
    );
    // Trusted, but not the controlkey: refused, the answer still signed with its key.
    assert_eq!(
        control_answer(&mut e, &writevar(b"", Some(2))),
        (Some(cerr::PERMISSION), Some(2))
    );
    assert_eq!(
        control_answer(&mut e, &writevar(b"", Some(harness::CONTROL_KEY))),
        (None, Some(1))
    );
    assert_eq!(
        control_answer(&mut e, &writevar(b"leap=0", Some(1))).0,
        Some(cerr::UNSPEC)
    );
    let mut ro = harness::engine(list(&[RestrictFlag::NoModify]));
    assert_eq!(
        control_answer(&mut ro, &writevar(b"", Some(1))).0,
        Some(cerr::PERMISSION)
    );
}

const SERVER: &str = "192.0.2.50:123";

/// An engine with `server 192.0.2.50 key KEY`, polled once; returns the request it sent.
fn keyed_client(key: u32) -> (ntp6::clock::ManualMono, harness::TestEngine, Vec<u8>) {
    let (mono, mut e) = harness::engine_and_clock(list(&[]));
    let mut spec = PeerSpec::server(SERVER.parse().unwrap());
    spec.config.key = Some(key);
    e.mobilize(spec);
    mono.advance(Duration::from_secs(2));
    let mut sent = Vec::new();
    e.handle_timer(&mut |to, bytes| {
        assert_eq!(to, SERVER.parse().unwrap());
        sent.push(bytes.to_vec());
    });
    assert_eq!(sent.len(), 1);
    (mono, e, sent.remove(0))
}

/// A stratum 1 server's answer to `request`, signed with `key` (None: unsigned).
fn server_reply(request: &[u8], key: Option<u32>) -> Vec<u8> {
    let req = Header::decode(request).unwrap();
    let t = req.transmit_time + ntp6::time::NtpDuration::from_secs_f64(0.001);
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
        reference_time: NtpTimestamp::from_bits(t.to_bits() - (16 << 32)),
        origin_time: req.transmit_time,
        receive_time: t,
        transmit_time: t,
    };
    let mut out = [0u8; HEADER_LEN];
    h.encode(&mut out);
    let mut b = out.to_vec();
    if let Some(k) = key {
        key_ring().sign(k, &mut b).unwrap();
    }
    b
}

fn peer_state(e: &harness::TestEngine) -> (u8, Flash, PeerHeader) {
    let p = e.peers().iter().next().unwrap();
    (p.assoc.reach(), p.assoc.flash(), *p.assoc.peer_header())
}

#[test]
fn keyed_server_association_signs_and_needs_its_key() {
    let (_, mut e, req) = keyed_client(2);
    assert_eq!(req.len(), HEADER_LEN + 4 + 20);
    assert_eq!(reply_mac(&req), Some((2, true)));
    assert!(exchange(
        &mut e,
        SERVER.parse().unwrap(),
        &server_reply(&req, Some(2))
    )
    .is_empty());
    let (reach, flash, peer) = peer_state(&e);
    assert_eq!((reach, flash.has(Flash::AUTH), peer.stratum), (1, false, 1));
    let p = e.peers().iter().next().unwrap();
    assert!(p.assoc.authentic());

    for wrong in [None, Some(1), Some(3)] {
        let (_, mut e, req) = keyed_client(2);
        exchange(&mut e, SERVER.parse().unwrap(), &server_reply(&req, wrong));
        let (reach, flash, _) = peer_state(&e);
        assert_eq!((reach, flash.has(Flash::AUTH)), (0, true), "{wrong:?}");
    }
}

#[test]
fn key_missing_from_the_file_sends_nothing() {
    let (mono, mut e) = harness::engine_and_clock(list(&[]));
    let mut spec = PeerSpec::server(SERVER.parse().unwrap());
    spec.config.key = Some(42);
    e.mobilize(spec);
    mono.advance(Duration::from_secs(2));
    let mut sent = 0;
    e.handle_timer(&mut |_, _| sent += 1);
    assert_eq!(sent, 0);
    assert!(peer_state(&e).1.has(Flash::AUTH));
}
