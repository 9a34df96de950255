//! Hostile input: malformed and random datagrams must never crash or wedge the daemon,
//! and mode 7's monlist (the amplification vector) never lists a client, even to this
//! host (other hosts get no mode 7 answer at all: tests/mode7_netns.rs).

mod common;

use common::{Bench, Netns, XorShift};
use std::net::{SocketAddr, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant};

const DATAGRAMS: usize = 10_000;

/// One malformed datagram: random length 0..=1500 (biased towards the lengths the parsers
/// branch on), random bytes, and a first octet covering every leap/version/mode.
fn datagram(rng: &mut XorShift) -> Vec<u8> {
    const EDGES: [usize; 12] = [0, 1, 11, 12, 47, 48, 49, 52, 68, 72, 80, 480];
    let len = match rng.below(4) {
        0 => EDGES[rng.below(EDGES.len())],
        1 => 48 + 4 * rng.below(64),
        _ => rng.below(1501),
    };
    let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if let Some(first) = d.first_mut() {
        *first = rng.next() as u8; // LI, VN 0-7 and mode 0-7 all occur
        if rng.below(3) == 0 {
            // Plausible mode 6 header with a random count field: exercises bounds checks.
            *first = 0x16;
        }
    }
    d
}

fn server_addr() -> SocketAddr {
    "127.0.0.1:123".parse().expect("addr")
}

fn bench() -> Option<Bench<Netns>> {
    common::bench(
        &format!("{}{}", common::RESTRICTIVE, common::LOCAL_CONF),
        None,
    )
}

fn assert_still_serves(b: &mut Bench<Netns>) {
    let r = common::wait_for_ntp(&b.net, server_addr(), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", b.srv.proc.describe()));
    assert_eq!(r.header.stratum, b.srv.stratum, "{r:?}");
    b.srv.assert_alive();
}

#[test]
fn random_datagrams_neither_crash_nor_wedge_the_daemon() {
    let Some(mut b) = bench() else { return };
    let sock = common::socket_for(&b.net, server_addr());
    sock.set_nonblocking(true).expect("nonblocking");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 2048];
    for i in 0..DATAGRAMS {
        let d = datagram(&mut rng);
        // A full socket buffer just drops the datagram; that is fine here.
        let _ = sock.send_to(&d, server_addr());
        while sock.recv_from(&mut buf).is_ok() {}
        if i % 10 == 9 {
            sleep(Duration::from_millis(1)); // bounded rate: at most ~10k/s
        }
        if i % 1000 == 999 {
            assert!(
                b.srv.proc.is_alive(),
                "died after {} datagrams\n{}",
                i + 1,
                b.srv.proc.describe()
            );
        }
    }
    assert_still_serves(&mut b);
}

/// Waits `wait` for any datagram on `sock`.
fn any_reply(sock: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    let left = deadline.checked_duration_since(Instant::now())?;
    sock.set_read_timeout(Some(left)).ok()?;
    let (len, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..len].to_vec())
}

#[test]
fn monlist_gets_only_an_error_even_from_this_host() {
    let Some(mut b) = bench() else { return };
    let sock = common::socket_for(&b.net, server_addr());
    // ntpdc monlist (REQ_MON_GETLIST and _1, implementation XNTPD) as versions 2, 3 and
    // 4, bare (the amplification-attack form) and padded to ntpdc's request size.
    let mut requests = Vec::new();
    for first in [0x17u8, 0x1f, 0x27] {
        for code in [0x14, 0x2a] {
            let head = [first, 0x00, 0x03, code];
            let mut short = head.to_vec();
            short.extend([0u8; 4]);
            let mut padded = head.to_vec();
            padded.resize(192, 0);
            requests.extend([short, padded]);
        }
    }
    for r in &requests {
        sock.send_to(r, server_addr()).expect("send mode 7");
    }
    let mut replies = Vec::new();
    while let Some(reply) = any_reply(&sock, Duration::from_secs(1)) {
        replies.push(reply);
    }
    assert_eq!(replies.len(), requests.len(), "one error each: {replies:?}");
    for r in &replies {
        // Response, no more; INFO_ERR_NODATA (4) and no items: 8 octets, no address.
        assert_eq!((r.len(), r[0] & 0xc7, r[4]), (8, 0x87, 0x40), "{r:?}");
    }
    assert_still_serves(&mut b);
}
