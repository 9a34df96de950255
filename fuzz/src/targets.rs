//! The fuzz target bodies, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/`) and
//! the stable-toolchain smoke test (`tests/fuzz_smoke.rs`). Each takes arbitrary bytes,
//! must never panic, and asserts the properties a user relies on (bounded replies,
//! consistent lookups, round trips).

use crate::harness;
use ntp6::auth::{keys, mac, KeyRing, MAX_KEY_ID, MIN_KEY_ID};
use ntp6::config;
use ntp6::discipline::drift;
use ntp6::leap::{ntp_seconds, LeapTable};
use ntp6::lines;
use ntp6::restrict::{RestrictEntry, RestrictFlag, RestrictFlags, RestrictList};
use ntp6::time::{NtpTimestamp, Ppm};
use ntp6::wire::control::ControlPacket;
use ntp6::wire::ntp::{peek_mode, Mode, Packet, HEADER_LEN};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

/// A target body.
pub type Target = fn(&[u8]);

/// Every target by name (the names of the cargo-fuzz binaries and corpus directories).
pub const TARGETS: &[(&str, Target)] = &[
    ("packet", packet),
    ("mode6", mode6),
    ("mode7", mode7),
    ("restrict", restrict),
    ("ntp_conf", ntp_conf),
    ("keys", keys_file),
    ("drift", drift_file),
    ("leap", leap_file),
];

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(harness::key_ring)
}

fn client() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 40123))
}

/// NTP packet decoding and the server path behind it: the trailer lies inside the
/// datagram, the MAC check never panics, and no reply is larger than its request. The
/// input also goes in signed with a trusted key, so the authenticated paths are reached.
pub fn packet(data: &[u8]) {
    packet_once(data);
    let mut signed = data.to_vec();
    let key = if data.first().is_some_and(|b| b & 0x40 != 0) {
        2
    } else {
        1
    };
    ring().sign(key, &mut signed);
    packet_once(&signed);
}

fn packet_once(data: &[u8]) {
    let _ = peek_mode(data);
    if let Ok(p) = Packet::decode(data) {
        let t = p.trailer;
        assert!(HEADER_LEN + t.extension_len <= data.len());
        if let Some(at) = t.mac_offset {
            assert!(at + 4 <= data.len() && at >= HEADER_LEN + t.extension_len);
        }
        let _ = ring().check_packet(data, &t);
    }
    let mut e = harness::engine(RestrictList::new());
    let replies = harness::exchange(&mut e, client(), data);
    if peek_mode(data).0 != Mode::Control {
        let out: usize = replies.iter().map(Vec::len).sum();
        assert!(out <= data.len(), "{out} octets out for {} in", data.len());
    }
}

/// The mode 6 handler behind the engine: every reply is a well-formed response to the
/// request's opcode and sequence. With the top bit of the first octet set the request
/// is signed with the controlkey, so writes get past the authentication gate.
pub fn mode6(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut request = vec![(first & 0x3f & !7) | 6];
    request.extend_from_slice(rest);
    if first & 0x80 != 0 {
        if let Some(signed) = ring().sign_control(harness::CONTROL_KEY, &request) {
            request = signed;
        }
    }
    let mut e = harness::engine(RestrictList::new());
    for reply in harness::exchange(&mut e, client(), &request) {
        let r = ControlPacket::decode(&reply).expect("reply decodes");
        assert!(r.header.response);
        assert_eq!(reply[1] & 0x1f, request.get(1).map_or(0, |b| b & 0x1f));
        assert_eq!(reply[2..4], request[2..4]);
    }
}

/// The mode 7 handler behind the engine (`enable mode7`): from this host and from another,
/// every reply is a response to the request's code and implementation, within one
/// classic packet, and from another host (one association here) never larger than the
/// request or one `showpeer` answer (276 octets; each association is answered once,
/// however often a request names it). The first octet is forced to mode 7.
pub fn mode7(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut request = vec![first | 7];
    request.extend_from_slice(rest);
    let (_, mut e) = harness::engine_with(RestrictList::new(), |s| s.mode7 = true);
    let local = SocketAddr::from(([127, 0, 0, 1], 40123));
    for from in [local, client()] {
        let replies = harness::exchange(&mut e, from, &request);
        for reply in &replies {
            let h = ntp6::wire::mode7::Header::decode(reply).expect("reply decodes");
            assert!(h.response && reply.len() <= 8 + 500);
            assert_eq!(reply[2..4], request[2..4]);
        }
        if from == client() {
            let out: usize = replies.iter().map(Vec::len).sum();
            let showpeer = 8 + ntp6::wire::mode7::PeerInfo::SIZE;
            assert!(
                out <= request.len().max(showpeer),
                "{out} octets out for {}",
                request.len()
            );
        }
    }
}

/// Consumes bytes from the front of the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte()?;
        }
        Some(out)
    }

    fn addr(&mut self, v6: bool) -> Option<IpAddr> {
        Some(if v6 {
            IpAddr::V6(Ipv6Addr::from(self.bytes::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.bytes::<4>()?))
        })
    }
}

fn flags_from(bits: u16) -> RestrictFlags {
    RestrictFlag::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, f)| f)
        .collect()
}

fn prefix_mask(v6: bool, len: u8) -> IpAddr {
    if v6 {
        let len = u32::from(len % 129);
        IpAddr::V6(Ipv6Addr::from(
            u128::MAX.checked_shl(128 - len).unwrap_or(0),
        ))
    } else {
        let len = u32::from(len % 33);
        IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0)))
    }
}

/// The restrict matcher against a naive model: the entry with the largest
/// (address, mask, ntpport) key among those matching wins (classic's sorted list), else
/// the family default; insertion order never matters.
pub fn restrict(data: &[u8]) {
    let mut input = Input(data);
    let mut entries = Vec::new();
    let count = input.byte().unwrap_or(0) % 24;
    for _ in 0..count {
        let Some(kind) = input.byte() else { break };
        let v6 = kind & 1 != 0;
        let Some(addr) = input.addr(v6) else { break };
        let mask = (kind & 2 != 0).then(|| prefix_mask(v6, kind >> 2));
        let Some(bits) = input.bytes::<2>() else {
            break;
        };
        let flags = flags_from(u16::from_be_bytes(bits));
        entries.push(RestrictEntry { addr, mask, flags });
    }
    let build = |order: &mut dyn Iterator<Item = &RestrictEntry>| {
        let mut list = RestrictList::new();
        for e in order {
            list.add(*e).expect("prefix masks match their family");
        }
        list
    };
    let forward = build(&mut entries.iter());
    let backward = build(&mut entries.iter().rev());
    while let Some(kind) = input.byte() {
        let Some(ip) = input.addr(kind & 1 != 0) else {
            break;
        };
        let port = if kind & 2 != 0 { 123 } else { 40000 };
        let src = SocketAddr::new(ip, port);
        let got = forward.lookup(src);
        assert_eq!(got, backward.lookup(src), "{src}");
        assert_eq!(got, model_lookup(&entries, src), "{src} in {entries:?}");
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn model_lookup(entries: &[RestrictEntry], src: SocketAddr) -> RestrictFlags {
    let ip = match src.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(src.ip(), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_multicast() {
        return RestrictFlags::NONE.with(RestrictFlag::Ignore);
    }
    let family: Vec<_> = entries
        .iter()
        .filter(|e| e.addr.is_ipv4() == ip.is_ipv4())
        .map(|e| {
            let host = if ip.is_ipv4() {
                u128::from(u32::MAX)
            } else {
                u128::MAX
            };
            let mask = e.mask.map_or(host, to_bits);
            let ntp = e.flags.contains(RestrictFlag::NtpPort);
            ((to_bits(e.addr) & mask, mask, ntp), e.flags)
        })
        .collect();
    let union = |key| {
        family
            .iter()
            .filter(|(k, _)| *k == key)
            .flat_map(|(_, f)| f.iter())
            .collect::<RestrictFlags>()
    };
    let addr = to_bits(ip);
    let best = family
        .iter()
        .map(|(k, _)| *k)
        .filter(|&(a, m, ntp)| (a, m, ntp) != (0, 0, false))
        .filter(|&(a, m, ntp)| addr & m == a && (!ntp || src.port() == 123))
        .max();
    union(best.unwrap_or((0, 0, false)))
}

/// A comment in a legacy encoding (Latin-1 "café", GBK "本地时钟"), appended to every line
/// by the byte-level checks below: comments may hold any bytes.
const FOREIGN_COMMENT: &[u8] = b" # caf\xe9 \xb1\xbe\xb5\xd8\xca\xb1\xd6\xd3";

/// `data` with [`FOREIGN_COMMENT`] at the end of every line.
fn with_foreign_comments(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2);
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(FOREIGN_COMMENT);
    }
    out
}

/// The ntp.conf parser on bytes: diagnostics name lines that exist, at most one statement
/// per line, and a comment in another encoding on every line changes no statement.
pub fn ntp_conf(data: &[u8]) {
    let (statements, diags) = config::parse_bytes(data, "fuzz.conf");
    let lines = lines::numbered(data).count();
    for d in &diags {
        assert!(d.to_string().starts_with("fuzz.conf:"), "{d}");
        assert!((1..=lines).contains(&(d.location.line as usize)), "{d}");
    }
    assert!(statements.len() <= lines);
    let (commented, _) = config::parse_bytes(&with_foreign_comments(data), "fuzz.conf");
    assert_eq!(statements, commented);
}

/// The keys file on bytes: IDs in range, bad lines named in order, the same result with a
/// foreign comment on every line, and every key signs packets that verify under it and
/// under nothing after a flipped bit.
pub fn keys_file(data: &[u8]) {
    let parsed = keys::parse(data);
    let lines = lines::numbered(data).count();
    assert!(parsed.errors.windows(2).all(|w| w[0].line < w[1].line));
    assert!(parsed.errors.iter().all(|e| (1..=lines).contains(&e.line)));
    assert_eq!(keys::parse(&with_foreign_comments(data)), parsed);
    for key in parsed.keys.iter().take(4) {
        assert!((MIN_KEY_ID..=MAX_KEY_ID).contains(&key.id));
        let mut pkt = data.iter().take(64).copied().collect::<Vec<u8>>();
        let covered = pkt.len();
        let n = mac::sign(key, &mut pkt);
        assert_eq!(n, 4 + key.kind.digest_len());
        assert!(mac::verify(key, &pkt[..covered], &pkt[covered + 4..]));
        pkt[covered + 4] ^= 0x80;
        assert!(!mac::verify(key, &pkt[..covered], &pkt[covered + 4..]));
    }
}

/// The drift file: accepted values are within classic's limit and survive a write/read.
pub fn drift_file(data: &[u8]) {
    if let Ok(Ppm(v)) = drift::parse(data) {
        assert!(v.is_finite() && v.abs() <= drift::MAX_PPM);
        let again = drift::parse(drift::format(Ppm(v)).as_bytes()).expect("own output parses");
        assert!((again.0 - v).abs() <= 0.0005 + 1e-9);
    }
}

/// The leap-seconds file: an accepted table is in time order with offsets one apart, and
/// every question about it is answered for times across the NTP era, the next leap
/// always lying in the future.
pub fn leap_file(data: &[u8]) {
    let Ok(table) = LeapTable::parse(data) else {
        return;
    };
    assert!(!table.entries.is_empty());
    for pair in table.entries.windows(2) {
        assert!(pair[0].at < pair[1].at, "{pair:?}");
        assert_eq!(
            (pair[1].tai_offset - pair[0].tai_offset).abs(),
            1,
            "{pair:?}"
        );
    }
    for secs in [
        0u64,
        0x8000_0000,
        0xd000_0000,
        0xeeab_8600,
        u64::from(u32::MAX),
    ] {
        let t = NtpTimestamp::from_bits(secs << 32);
        if let Some((at, _)) = table.next_leap(t) {
            assert!(at > ntp_seconds(t));
        }
        let _ = (
            table.expired_at(t),
            table.indicator_at(t),
            table.kernel_at(t),
        );
        let _ = table.tai_offset_at(t);
    }
}
