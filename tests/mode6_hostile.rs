//! Malformed and random mode 6 (control) requests: our ntpd must neither crash nor
//! amplify. Every request carries its own sequence number, which responses echo, so each
//! response is charged to the request that caused it; the test prints the largest
//! response per request size (the amplification an attacker gets) and checks it against
//! the classic limits: no datagram over 12 + 468 octets, no answer to a nonce-less
//! request larger than a legitimate full `ntpq -c rv`.

mod common;

use common::{ntp_addr, Bench, Netns, XorShift};
use ntp6::wire::control::{opcode, HEADER_LEN, MAX_DATA};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::thread::sleep;
use std::time::{Duration, Instant};

const RANDOM: usize = 10_000;

/// A mode 6 request: version 2 (as ntpq sends), any flags in the second octet.
fn request(flags_op: u8, seq: u16, assoc: u16, offset: u16, count: u16, data: &[u8]) -> Vec<u8> {
    let mut d = vec![0x16, flags_op];
    for v in [seq, 0, assoc, offset, count] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend_from_slice(data);
    d
}

/// Hand-made malformed requests (the sequence field is set later).
fn crafted() -> Vec<(&'static str, Vec<u8>)> {
    let rv = |assoc, data: &[u8]| request(opcode::READVAR, 0, assoc, 0, data.len() as u16, data);
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let full = rv(0, b"stratum");
    for len in 4..full.len() {
        out.push(("truncated", full[..len].to_vec()));
    }
    out.push(("count past the end", request(2, 0, 0, 0, 400, b"stratum")));
    out.push(("count 0xffff", request(2, 0, 0, 0, 0xffff, &[])));
    out.push(("count over 468", request(2, 0, 0, 0, 500, &[b'x'; 500])));
    out.push(("offset 468", request(2, 0, 0, 468, 7, b"stratum")));
    out.push(("offset 0xfff0", request(2, 0, 0, 0xfff0, 0, &[])));
    for assoc in [0x7fff, 0x8000, 0xfffe, 0xffff] {
        for op in [opcode::READSTAT, opcode::READVAR, opcode::READCLOCK] {
            out.push(("huge association ID", request(op, 0, assoc, 0, 0, &[])));
        }
    }
    // More-fragments, response and error bits: requests are never fragmented.
    for flags in [0x20, 0x80, 0x40, 0xe0] {
        out.push((
            "fragment/response bits",
            request(flags | 2, 0, 0, 0, 0, &[]),
        ));
        out.push((
            "fragment out of range",
            request(flags | 2, 0, 0, 9000, 4, b"x=1,"),
        ));
    }
    for op in (0..32u8).filter(|op| ![1, 2, 4].contains(op)) {
        out.push(("other opcode", request(op, 0, 0, 0, 0, &[])));
    }
    // Not errors, necessarily, but never more than a legitimate answer.
    out.push(("odd variable list", rv(0, b",,,=,=\"\"\"=,\r\n\0")));
    out.push(("every name twice", rv(0, b"stratum,stratum,offset,offset")));
    out.push(("long variable name", rv(0, &[b'a'; 468])));
    let mru = b"nonce=000000000000000000000000, frags=1000, limit=100000";
    out.push((
        "mrulist, forged nonce",
        request(10, 0, 0, 0, mru.len() as u16, mru),
    ));
    out
}

/// A random 12-500 octet datagram whose first octet says mode 6 (any LI, version 0-7).
fn random_request(rng: &mut XorShift) -> Vec<u8> {
    let len = 12 + rng.below(489);
    let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    d[0] = (d[0] & 0xf8) | 6;
    if rng.coin() {
        // A well-formed request (version 2, no flags, offset 0, data padded to 4 octets),
        // so the association ID and the data are actually looked at.
        d[0] = 0x16;
        d[1] &= 0x1f;
        d[8..10].fill(0);
        let count = (rng.next() % (len as u64 - 11)).min(MAX_DATA as u64) as u16;
        d[10..12].copy_from_slice(&count.to_be_bytes());
        d.truncate(HEADER_LEN + usize::from(count).next_multiple_of(4));
        if rng.coin() {
            d[6..8].fill(0); // the system variables
        }
    }
    d
}

/// What came back for one request.
#[derive(Clone, Copy, Debug, Default)]
struct Answer {
    datagrams: usize,
    octets: usize,
    largest: usize,
}

/// Sends every request (sequence = index + 1) at a bounded rate and charges each response
/// to its request by sequence number. Responses with an unknown sequence fail the test.
fn exchange(sock: &UdpSocket, requests: &mut [Vec<u8>]) -> Vec<Answer> {
    let to = ntp_addr("127.0.0.1");
    let mut answers = vec![Answer::default(); requests.len()];
    sock.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 2048];
    let mut drain = |answers: &mut Vec<Answer>| {
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            assert!(len >= 4, "a {len}-octet response");
            let seq = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            let a = seq
                .checked_sub(1)
                .and_then(|i| answers.get_mut(i))
                .unwrap_or_else(|| panic!("response to no request: {:02x?}", &buf[..len]));
            a.datagrams += 1;
            a.octets += len;
            a.largest = a.largest.max(len);
        }
    };
    for (i, r) in requests.iter_mut().enumerate() {
        if r.len() >= 4 {
            r[2..4].copy_from_slice(&(i as u16 + 1).to_be_bytes());
        }
        // A full socket buffer just drops the datagram; that is fine here.
        let _ = sock.send_to(r, to);
        if i % 10 == 9 {
            sleep(Duration::from_millis(1)); // at most ~10k/s
        }
        drain(&mut answers);
    }
    let quiet = Instant::now() + Duration::from_secs(1);
    while Instant::now() < quiet {
        sleep(Duration::from_millis(50));
        drain(&mut answers);
    }
    answers
}

/// Sends one request and collects its fragments until one without the More bit.
fn ask(sock: &UdpSocket, req: &[u8]) -> Vec<Vec<u8>> {
    sock.set_nonblocking(false).expect("blocking");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    sock.send_to(req, ntp_addr("127.0.0.1")).expect("send");
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(len) = sock.recv(&mut buf) {
        out.push(buf[..len].to_vec());
        if buf[1] & 0x20 == 0 {
            break;
        }
    }
    out
}

/// The largest answer to a legitimate request: ntpq's `rv`, `rv ASSOC` and `cv ASSOC`.
fn legitimate_max(sock: &UdpSocket) -> usize {
    let status = ask(sock, &request(opcode::READSTAT, 1, 0, 0, 0, &[]));
    let first = status.first().expect("no READSTAT answer");
    let assoc = u16::from_be_bytes([first[HEADER_LEN], first[HEADER_LEN + 1]]);
    let sizes: Vec<usize> = [opcode::READVAR, opcode::READVAR, opcode::READCLOCK]
        .into_iter()
        .zip([0, assoc, assoc])
        .map(|(op, id)| {
            ask(sock, &request(op, 2, id, 0, 0, &[]))
                .iter()
                .map(Vec::len)
                .sum()
        })
        .collect();
    eprintln!("legitimate answers (rv, rv {assoc}, cv {assoc}): {sizes:?} octets");
    sizes.into_iter().max().unwrap_or(0)
}

fn bench() -> Option<Bench<Netns>> {
    common::bench(
        &format!("{}{}", common::RESTRICTIVE, common::LOCAL_CONF),
        None,
    )
}

#[test]
fn malformed_and_random_mode6_neither_crash_nor_amplify() {
    let Some(mut b) = bench() else { return };
    let sock = common::socket_for(&b.net, ntp_addr("127.0.0.1"));
    let bound = legitimate_max(&sock);

    let crafted = crafted();
    let mut requests: Vec<Vec<u8>> = crafted.iter().map(|(_, r)| r.clone()).collect();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    requests.extend((0..RANDOM).map(|_| random_request(&mut rng)));
    let answers = exchange(&sock, &mut requests);
    b.srv.assert_alive();

    // Amplification per request size, for the record.
    let mut by_size: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (r, a) in requests.iter().zip(&answers) {
        let bucket = match r.len() {
            n @ 0..=12 => n,
            n => n.div_ceil(50) * 50,
        };
        let e = by_size.entry(bucket).or_default();
        *e = (e.0.max(a.octets), e.1.max(a.datagrams));
    }
    eprintln!("request octets (up to) -> largest total response octets, datagrams, factor");
    for (size, (octets, datagrams)) in &by_size {
        let factor = *octets as f64 / (*size).max(1) as f64;
        eprintln!("  {size:>4} -> {octets:>5} octets in {datagrams} datagram(s), x{factor:.1}");
    }
    let answered = answers.iter().filter(|a| a.datagrams > 0).count();
    eprintln!("{answered} of {} requests answered", requests.len());

    for (i, (r, a)) in requests.iter().zip(&answers).enumerate() {
        let label = crafted.get(i).map_or("random", |c| c.0);
        let what = format!(
            "{label} request {i} ({} octets {:02x?}): {a:?}",
            r.len(),
            &r[..r.len().min(16)]
        );
        assert!(
            a.largest <= HEADER_LEN + MAX_DATA,
            "datagram too large: {what}"
        );
        assert!(
            a.octets <= bound,
            "more than a legitimate rv ({bound}): {what}"
        );
        let may_answer = [
            "random",
            "other opcode",
            "odd variable list",
            "every name twice",
        ];
        if !may_answer.contains(&label) {
            // Malformed requests get at most a 12-octet error.
            assert!(a.octets <= HEADER_LEN, "{what}");
        }
    }
    // Still serving time and answering ntpq.
    let r = common::wait_for_ntp(&b.net, ntp_addr("127.0.0.1"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", b.srv.proc.describe()));
    assert_eq!(r.header.stratum, b.srv.stratum);
    let out = b.net.run(
        &b.tmp,
        &[
            env!("CARGO_BIN_EXE_ntpq"),
            "-c",
            "rv 0 stratum",
            "127.0.0.1",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        out.stdout,
        format!("stratum={}\n", b.srv.stratum),
        "{out:?}"
    );
    b.srv.assert_alive();
}
