//! Our mode 6 server answers the captured classic ntpq requests with the captured classic
//! ntpd 4.2.6p5 replies, byte for byte, given the same state (wire-mode6-local.txt).

#[path = "control_fixture.rs"]
mod fixture;

use fixture::{section, LocalServer, CLOCK_TIME};
use ntp6::control::{handle, Context, NonceKey, Outcome, QueryAccess};
use ntp6::time::NtpTimestamp;
use ntp6::wire::control::{cerr, ControlPacket};

fn ctx<'a>(state: &'a LocalServer, key: &'a NonceKey) -> Context<'a> {
    Context {
        state,
        mru: None,
        nonce: key,
        client: "127.0.0.1:38011".parse().unwrap(),
        now: NtpTimestamp::from_bits(CLOCK_TIME),
    }
}

fn replies(request: &[u8], access: QueryAccess) -> (Outcome, Vec<Vec<u8>>) {
    let key = NonceKey::new([7, 9]);
    let state = LocalServer;
    let mut out = Vec::new();
    let outcome = handle(request, access, &ctx(&state, &key), &mut |d| {
        out.push(d.to_vec())
    });
    (outcome, out)
}

/// Every request in the section gets exactly the replies that followed it.
fn check_section(label: &str) {
    let packets = section("wire-mode6-local.txt", label);
    assert!(!packets.is_empty(), "{label}: no packets parsed");
    let mut i = 0;
    while i < packets.len() {
        assert!(packets[i].to_server);
        let expected: Vec<&[u8]> = packets[i + 1..]
            .iter()
            .take_while(|p| !p.to_server)
            .map(|p| &p.bytes[..])
            .collect();
        let (_, got) = replies(&packets[i].bytes, QueryAccess::default());
        assert_eq!(got.len(), expected.len(), "{label}: fragment count");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(e),
                "{label}"
            );
            assert_eq!(&g[..], *e, "{label}");
        }
        i += 1 + expected.len();
    }
}

#[test]
fn readstat_and_peer_readvar_match_classic() {
    check_section("[ntpq-p]");
}

#[test]
fn system_readvar_matches_classic() {
    check_section("[ntpq-rv]");
}

#[test]
fn readclock_matches_classic() {
    check_section("[ntpq-cv]");
}

fn request(op: u8, assoc: u16, data: &[u8]) -> Vec<u8> {
    let mut r = vec![0x16, op, 0, 7, 0, 0];
    r.extend_from_slice(&assoc.to_be_bytes());
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&(data.len() as u16).to_be_bytes());
    r.extend_from_slice(data);
    while r.len() % 4 != 0 {
        r.push(0);
    }
    r
}

fn error_code(reply: &[u8]) -> u8 {
    let p = ControlPacket::decode(reply).unwrap();
    assert!(p.header.error && p.header.response);
    assert_eq!(p.header.sequence, 7);
    (p.header.status >> 8) as u8
}

#[test]
fn named_variables_come_in_server_order() {
    let (_, out) = replies(
        &request(2, 0, b"stratum,offset,refid"),
        QueryAccess::default(),
    );
    let p = ControlPacket::decode(&out[0]).unwrap();
    assert_eq!(p.data, b"stratum=11, refid=127.127.1.0, offset=0.000\r\n");
}

#[test]
fn unknown_things_get_classic_errors() {
    let q = QueryAccess::default();
    let (o, out) = replies(&request(2, 0, b"nosuchvar"), q);
    assert_eq!(
        (o, error_code(&out[0])),
        (Outcome::Error(5), cerr::UNKNOWNVAR)
    );
    let (_, out) = replies(&request(2, 12345, b""), q);
    assert_eq!(error_code(&out[0]), cerr::BADASSOC);
    let (_, out) = replies(&request(4, 12345, b""), q);
    assert_eq!(error_code(&out[0]), cerr::BADASSOC);
    let (_, out) = replies(&request(29, 0, b""), q);
    assert_eq!(error_code(&out[0]), cerr::BADOP);
    assert_eq!(out[0].len(), 12);
}

#[test]
fn writevar_is_refused() {
    for access in [
        QueryAccess::default(),
        QueryAccess {
            nomodify: true,
            authenticated: true,
            ..QueryAccess::default()
        },
    ] {
        let (_, out) = replies(&request(3, 0, b"leap=0"), access);
        assert_eq!(error_code(&out[0]), cerr::PERMISSION);
    }
}

#[test]
fn responses_and_malformed_requests_are_dropped() {
    let q = QueryAccess::default();
    let mut resp = request(1, 0, b"");
    resp[1] |= 0x80;
    assert_eq!(replies(&resp, q).0, Outcome::Dropped);
    let mut frag = request(2, 0, b"");
    frag[1] |= 0x20;
    assert_eq!(replies(&frag, q).0, Outcome::Dropped);
    assert_eq!(replies(&resp[..5], q).0, Outcome::Dropped);
}

/// 10,000 random requests: never a panic, never more than a bounded answer. Classic's
/// biggest unauthenticated answer here is the peer READVAR: 2 datagrams, 564 octets for a
/// 12-octet request.
#[test]
fn random_requests_never_crash_or_amplify_much() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut worst = 0usize;
    for _ in 0..10_000 {
        let len = (next() % 80) as usize;
        let mut r: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len > 1 && next() % 2 == 0 {
            r[0] = 0x16;
            r[1] &= 0x1f;
        }
        let (_, out) = replies(&r, QueryAccess::default());
        worst = worst.max(out.iter().map(Vec::len).sum());
    }
    assert!(worst <= 564 + 12, "largest answer {worst} octets");
}
