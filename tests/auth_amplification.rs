//! Amplification: octets out per octet in for a request of every mode from a source under
//! each `restrict` flag, through the daemon core (a fresh engine per cell, so one cell's
//! rate limiting never leaks into another).
//!
//! Octets out are the replies plus whatever the daemon sends the source unasked over the
//! next 20 minutes (a passive association's polls would be that). Promises checked:
//! nothing but mode 6 ever answers with more than it received (mode 7 included, with one
//! association as here: its peer lists grow with the associations); nothing is ever sent
//! unasked to a source that has not completed an exchange; a source without query rights
//! (`noquery`, `ignore`) gets at most 1.0x for anything; mrulist without a nonce gets no
//! list. The table in docs/amplification.md is this test's output:
//! `AMPLIFICATION_TABLE=docs/amplification.table cargo test --test auth_amplification`.

#[path = "../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use ntp6::clock::ManualMono;
use ntp6::restrict::{Family, RestrictFlag, RestrictFlags, RestrictList};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// A request (name, octets), and whether the daemon runs with `disable auth` (which lets
/// an unauthenticated symmetric active packet mobilise a passive association) or
/// `enable mode7` (which answers mode 7 from other hosts).
struct Request {
    name: &'static str,
    bytes: Vec<u8>,
    disable_auth: bool,
    enable_mode7: bool,
}

/// ntpdc's `showpeer 127.127.1.0`, naming the harness's association twice (classic
/// answered each naming; we answer each association once).
fn showpeer_local() -> Vec<u8> {
    use ntp6::wire::mode7::{request, PeerListItem, IMPL_XNTPD};
    let item = PeerListItem {
        addr: "127.127.1.0".parse().unwrap(),
        port: 123,
        hmode: 0,
        flags: 0,
    }
    .encode(true);
    request(IMPL_XNTPD, 2, item.len() as u16, &[item.clone(), item])
}

/// A mode 7 request as ntpdc sends it (192 octets), or only its 8-octet header.
fn private(request: u8, bare: bool) -> Vec<u8> {
    let mut b = ntp6::wire::mode7::request(ntp6::wire::mode7::IMPL_XNTPD, request, 0, &[]);
    if bare {
        b.truncate(ntp6::wire::mode7::HEADER_LEN);
    }
    b
}

fn ntp(first: u8) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0] = first;
    b[40..48].copy_from_slice(&0xeeab_8600_0000_0001u64.to_be_bytes());
    b
}

fn control(opcode: u8, assoc: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0x16, opcode, 0, 1, 0, 0];
    b.extend_from_slice(&assoc.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&(data.len() as u16).to_be_bytes());
    b.extend_from_slice(data);
    b.resize(b.len().div_ceil(4) * 4, 0);
    b
}

fn requests() -> Vec<Request> {
    let mut signed = ntp(0x23);
    harness::key_ring().sign(1, &mut signed).unwrap();
    let r = |name, bytes| Request {
        name,
        bytes,
        disable_auth: false,
        enable_mode7: false,
    };
    let m7 = |name, bytes| Request {
        enable_mode7: true,
        ..r(name, bytes)
    };
    let mut signed_active = ntp(0x21);
    harness::key_ring().sign(1, &mut signed_active).unwrap();
    vec![
        r("0 (v1 client)", ntp(0x08)),
        r("0 (v4 reserved)", ntp(0x20)),
        r("1 sym. active", ntp(0x21)),
        Request {
            disable_auth: true,
            ..r("1 sym. active, `disable auth`", ntp(0x21))
        },
        r("1 sym. active, MD5 MAC", signed_active),
        r("2 sym. passive", ntp(0x22)),
        r("3 client", ntp(0x23)),
        r("3 client, MD5 MAC", signed),
        r("4 server", ntp(0x24)),
        r("5 broadcast", ntp(0x25)),
        r("6 readstat", control(1, 0, b"")),
        r("6 readvar", control(2, 0, b"")),
        r(
            "6 mrulist, no nonce",
            control(10, 0, b"frags=32, limit=500"),
        ),
        r(
            "6 mrulist, forged nonce",
            control(10, 0, b"nonce=0123456789abcdef01234567, frags=32"),
        ),
        r("6 req_nonce", control(12, 0, b"")),
        r("6 writevar", control(3, 0, b"leap=0")),
        // ntpdc's monlist (the CVE-2013-5211 amplifier) as sent by attack tools.
        r("7 monlist", vec![0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0]),
        r("7 sysinfo", private(4, false)),
        m7("7 monlist, `enable mode7`", private(42, false)),
        m7("7 monlist header only, `enable mode7`", private(42, true)),
        m7("7 sysinfo, `enable mode7`", private(4, false)),
        m7("7 sysinfo header only, `enable mode7`", private(4, true)),
        m7("7 peer summary, `enable mode7`", private(1, false)),
        m7("7 peer list, `enable mode7`", private(0, false)),
        m7("7 memstats, `enable mode7`", private(7, false)),
        m7("7 showpeer LOCAL(0), `enable mode7`", showpeer_local()),
        m7("7 kerninfo, `enable mode7`", private(38, false)),
        m7("7 config (write), `enable mode7`", private(10, false)),
    ]
}

const FLAGS: [(&str, &[RestrictFlag]); 9] = [
    ("default", &[]),
    ("noquery", &[RestrictFlag::NoQuery]),
    ("nomodify", &[RestrictFlag::NoModify]),
    ("notrap", &[RestrictFlag::NoTrap]),
    ("limited kod", &[RestrictFlag::Limited, RestrictFlag::Kod]),
    ("ignore", &[RestrictFlag::Ignore]),
    ("noserve", &[RestrictFlag::NoServe]),
    ("notrust", &[RestrictFlag::NoTrust]),
    ("nopeer", &[RestrictFlag::NoPeer]),
];

/// Without query rights: mode 6 is not answered at all under these.
fn denies_queries(flags: &[RestrictFlag]) -> bool {
    flags
        .iter()
        .any(|f| matches!(f, RestrictFlag::NoQuery | RestrictFlag::Ignore))
}

fn source() -> SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

/// A fresh engine under `restrict default FLAGS`, with `disable auth` if the request says.
fn engine(flags: &[RestrictFlag], req: &Request) -> (ManualMono, harness::TestEngine) {
    let mut list = RestrictList::new();
    list.add_default(Family::V4, flags.iter().copied().collect::<RestrictFlags>());
    harness::engine_with(list, |s| {
        s.authenticate = !req.disable_auth;
        s.mode7 = req.enable_mode7;
    })
}

/// Octets the engine sends the source on its own while 20 minutes pass.
fn unasked(mono: &ManualMono, e: &mut harness::TestEngine) -> usize {
    let mut out = 0;
    for _ in 0..1200 {
        mono.advance(Duration::from_secs(1));
        e.handle_timer(&mut |to, bytes| {
            if to == source() {
                out += bytes.len();
            }
        });
    }
    out
}

/// Sends one request as the first packet from the source; returns octets out, replies
/// and then unasked.
fn octets_out(flags: &[RestrictFlag], req: &Request) -> (usize, usize) {
    let (mono, mut e) = engine(flags, req);
    let replies = harness::exchange(&mut e, source(), &req.bytes);
    (replies.iter().map(Vec::len).sum(), unasked(&mono, &mut e))
}

/// Under `limited kod`, a burst: the worst of 20 back-to-back copies.
fn worst_in_burst(flags: &[RestrictFlag], req: &Request) -> usize {
    let (_, mut e) = engine(flags, req);
    (0..20)
        .map(|_| {
            harness::exchange(&mut e, source(), &req.bytes)
                .iter()
                .map(Vec::len)
                .sum()
        })
        .max()
        .unwrap_or(0)
}

fn cell(out: usize, inp: usize) -> String {
    if out == 0 {
        "0".to_string()
    } else {
        format!("{:.2}", out as f64 / inp as f64)
    }
}

#[test]
fn amplification_table() {
    let reqs = requests();
    let mut table = String::from("| mode / request (octets in) |");
    for (name, _) in FLAGS {
        let _ = write!(table, " {name} |");
    }
    table.push_str("\n|---|");
    table.push_str(&"---:|".repeat(FLAGS.len()));
    table.push('\n');
    for req in &reqs {
        let inp = req.bytes.len();
        let _ = write!(table, "| {} ({inp}) |", req.name);
        for (_, flags) in FLAGS {
            let (replies, unasked) = octets_out(flags, req);
            assert_eq!(unasked, 0, "{} under {flags:?}: sent unasked", req.name);
            let out = replies.max(worst_in_burst(flags, req));
            let ratio = out as f64 / inp as f64;
            // `showpeer` answers 268 octets per association named (classic: per naming).
            let per_association = req.name.starts_with("7 showpeer") && out <= 8 + 268;
            if !(req.name.starts_with('6') || per_association) || denies_queries(flags) {
                assert!(
                    ratio <= 1.0,
                    "{} under {flags:?}: {out} out for {inp}",
                    req.name
                );
            }
            if req.name.starts_with("6 mrulist") {
                // An error or a nonce, never the list: at most a header and one short line.
                assert!(
                    out <= 12 + 48,
                    "{}: {out} octets without a valid nonce",
                    req.name
                );
            }
            if req.name.starts_with('7') && !req.enable_mode7 {
                assert_eq!(out, 0, "mode 7 from another host without enable mode7");
            }
            if req.name.starts_with("7 monlist") || req.name.starts_with("7 config") {
                assert!(out <= 8, "{}: only an error, never data", req.name);
            }
            let _ = write!(table, " {} |", cell(out, inp));
        }
        table.push('\n');
    }
    println!("{table}");
    if let Ok(path) = std::env::var("AMPLIFICATION_TABLE") {
        std::fs::write(path, &table).expect("write table");
    }
}
