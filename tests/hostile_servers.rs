//! Our ntpq and ntpdate against lying servers (issue 16). Each server is a thread of this
//! test answering on 127.0.0.1:123 in a fresh network namespace where the client runs:
//! a mode 6 server that trickles duplicate fragments, one that answers with 200 replies
//! to other requests first, one whose values carry ESC, BEL, NUL and CR LF, and an NTP
//! server that sends every reply four times.

mod common;

use common::{Netns, Output, Serial, TempDir};
use ntp6::time::{NtpDuration, NtpShort};
use ntp6::wire::control::{encode, opcode, ControlHeader, ControlPacket, HEADER_LEN, MAX_DATA};
use ntp6::wire::ntp::{Header, Leap, Mode, RefId};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// No server thread runs longer than this, whatever the client does.
const SERVER_CAP: Duration = Duration::from_secs(60);
/// The client is killed after this (a hang is a failure, not a wait).
const CLIENT_CAP: Duration = Duration::from_secs(40);

/// A namespace, its files and the serial lock (dropped last).
struct Lab {
    ns: Netns,
    tmp: TempDir,
    _lock: Serial,
}

impl Lab {
    /// None = skipped (no root).
    fn new() -> Option<Lab> {
        let lock = common::setup()?;
        Some(Lab {
            ns: Netns::new(),
            tmp: TempDir::new(),
            _lock: lock,
        })
    }

    /// Runs `serve(socket, stop)` on 127.0.0.1:123 in a thread while `argv` runs in the
    /// namespace; returns the client's output, how long it ran, and what `serve` returned.
    fn run<T: Send>(
        &self,
        argv: &[&str],
        serve: impl FnOnce(&UdpSocket, &AtomicBool) -> T + Send,
    ) -> (Output, Duration, T) {
        let sock = self.ns.udp_socket("127.0.0.1:123".parse().expect("addr"));
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let server = s.spawn(|| serve(&sock, &stop));
            let start = Instant::now();
            let out = self.ns.run(&self.tmp, argv, CLIENT_CAP);
            let took = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            (out, took, server.join().expect("server thread"))
        })
    }
}

/// Receives the next request within the server's time, or None once told to stop.
fn next_request(
    sock: &UdpSocket,
    stop: &AtomicBool,
    start: Instant,
) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) && start.elapsed() < SERVER_CAP {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), from));
        }
    }
    None
}

/// A mode 6 response fragment to `req` (status word 0).
fn fragment(req: &ControlHeader, sequence: u16, offset: u16, data: &[u8], more: bool) -> Vec<u8> {
    let h = ControlHeader {
        version: req.version,
        response: true,
        more,
        opcode: req.opcode,
        sequence,
        assoc_id: req.assoc_id,
        offset,
        ..ControlHeader::default()
    };
    let mut buf = [0u8; HEADER_LEN + MAX_DATA];
    let n = encode(&h, data, &mut buf).expect("encode");
    buf[..n].to_vec()
}

/// `ntpq -n -c C1 -c C2 ... 127.0.0.1`.
fn ntpq<'a>(commands: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![env!("CARGO_BIN_EXE_ntpq"), "-n"];
    for c in commands {
        argv.extend(["-c", c]);
    }
    argv.push("127.0.0.1");
    argv
}

/// The first fragment of a two-fragment answer, sent again every 0.9 s for as long as the
/// client listens: ntpq must give up after its two 5 s attempts, not wait for ever.
#[test]
fn trickled_duplicate_fragments_cannot_hold_ntpq() {
    let Some(lab) = Lab::new() else { return };
    let (out, took, requests) = lab.run(&ntpq(&["rv"]), |sock, stop| {
        let start = Instant::now();
        let mut requests = 0;
        // The fragment, where it goes, and when it last went.
        let mut trickle: Option<(Vec<u8>, SocketAddr, Option<Instant>)> = None;
        while !stop.load(Ordering::Relaxed) && start.elapsed() < SERVER_CAP {
            let mut buf = [0u8; 2048];
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                if let Ok(p) = ControlPacket::decode(&buf[..n]) {
                    requests += 1;
                    let h = p.header;
                    let frag = fragment(&h, h.sequence, 0, b"version=\"x\", ", true);
                    trickle = Some((frag, from, None));
                }
            }
            if let Some((frag, to, last)) = &mut trickle {
                if last.is_none_or(|t| t.elapsed() >= Duration::from_millis(900)) {
                    let _ = sock.send_to(frag, *to);
                    *last = Some(Instant::now());
                }
            }
        }
        requests
    });
    eprintln!(
        "ntpq -c rv against a trickling server: gave up after {took:?}, {requests} requests\n{}",
        out.stderr
    );
    assert!(!out.timed_out, "ntpq still waiting after {CLIENT_CAP:?}");
    assert!(took < Duration::from_secs(12), "ntpq took {took:?}");
    assert_eq!(requests, 2, "the request and one retransmission");
    assert!(
        out.stderr
            .contains("***Response from server was incomplete"),
        "{out:?}"
    );
}

/// 200 complete replies carrying other sequence numbers, then the right reply 1 s later:
/// ntpq ignores the 200 and prints the right one.
#[test]
fn wrong_sequence_replies_are_ignored_until_the_right_one() {
    let Some(lab) = Lab::new() else { return };
    let (out, took, ()) = lab.run(&ntpq(&["rv 0 stratum"]), |sock, stop| {
        let start = Instant::now();
        while let Some((req, from)) = next_request(sock, stop, start) {
            let Ok(p) = ControlPacket::decode(&req) else {
                continue;
            };
            let h = p.header;
            for i in 1..=200u16 {
                let wrong = fragment(&h, h.sequence.wrapping_add(i), 0, b"stratum=666\r\n", false);
                let _ = sock.send_to(&wrong, from);
            }
            std::thread::sleep(Duration::from_secs(1));
            let _ = sock.send_to(&fragment(&h, h.sequence, 0, b"stratum=3\r\n", false), from);
        }
    });
    eprintln!("ntpq after 200 wrong-sequence replies: {took:?}\n{out:?}");
    assert_eq!(out.stdout, "stratum=3\n", "{out:?}");
    assert_eq!(out.stderr, "");
    assert!(
        took >= Duration::from_secs(1),
        "answered before the right reply: {took:?}"
    );
}

/// Values with terminal escapes, BEL, NUL, backspaces and CR LF followed by what would
/// pass for ntpq's own lines (a status line, a peer row).
const EVIL_VARS: &[u8] = b"version=\"ntpd 4.2.6p5\x1b]0;pwned\x07\", \
processor=\"x86_64\r\nassocid=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,\", \
system=\"Linux\0hidden\", srcadr=192.0.2.1, dstadr=127.0.0.1, \
refid=\r\n*10.9.9.9\x1b[31m, stratum=2, hmode=3, reach=0377, hpoll=6, ppoll=6, \
delay=1.000, offset=0.500, jitter=0.100, peeradr=192.0.2.1:123, \
rootdelay=1.000\x08\x08\x08\x089.999, precision=-20\x7f\r\n";

const MRU_REPLY: &[u8] = b"nonce=0123456789abcdef01234567, addr.0=192.0.2.7:123, \
last.0=0xeeab8432.00000000, first.0=0xeeab8400.00000000, ct.0=5, mv.0=35, rs.0=0x0, \
evil=\"\x1b[2J\x07\r\nassocid=0 status=0615 FORGED\", now=0xeeab8500.00000000, \
last.newest=0xeeab8432.00000000\r\n";

/// What a lying mode 6 server answers to `h`.
fn evil_answer(h: &ControlHeader) -> Vec<u8> {
    match h.opcode {
        opcode::READSTAT if h.assoc_id == 0 => vec![0, 1, 0x96, 0x14],
        opcode::REQ_NONCE => b"nonce=0123456789abcdef01234567\r\n".to_vec(),
        opcode::READ_MRU => MRU_REPLY.to_vec(),
        _ => EVIL_VARS.to_vec(),
    }
}

/// Every output path that shows server text: nothing but printable characters and the
/// line ends ntpq itself writes.
#[test]
fn server_values_cannot_put_control_characters_or_lines_on_ntpq_output() {
    let Some(lab) = Lab::new() else { return };
    let commands = [
        "rv",
        "peers",
        "opeers",
        "rv 1",
        "cv 1",
        "pstatus 1",
        "sysinfo",
        "mrulist",
        "raw",
        "rv",
        "mrulist",
    ];
    let (out, took, ()) = lab.run(&ntpq(&commands), |sock, stop| {
        let start = Instant::now();
        while let Some((req, from)) = next_request(sock, stop, start) {
            let Ok(p) = ControlPacket::decode(&req) else {
                continue;
            };
            let data = evil_answer(&p.header);
            let _ = sock.send_to(
                &fragment(&p.header, p.header.sequence, 0, &data, false),
                from,
            );
        }
    });
    eprintln!(
        "ntpq {commands:?} against a lying server ({took:?}):\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(!out.timed_out);
    // ntpq's own "\rRetrieved N unique MRU entries" (classic's) is the one CR allowed.
    let stderr = out.stderr.replace("\rRetrieved", "Retrieved");
    for (name, text) in [("stdout", &out.stdout), ("stderr", &stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || !c.is_ascii())
            .collect();
        assert!(bad.is_empty(), "{name} holds {bad:?}:\n{text}");
        for line in text.lines() {
            assert!(
                !line.starts_with("associd=0 status=0615") && !line.starts_with("*10.9.9.9"),
                "forged line on {name}: {line:?}"
            );
        }
    }
    // The values are shown, escaped as classic does (cat -v).
    for shown in [
        "^[]0;pwned^G",
        "x86_64^M^Jassocid=0 status=0615",
        "Linux^@hidden",
        "^?",
        "^[[2J^G",
    ] {
        assert!(
            out.stdout.contains(shown),
            "{shown:?} not in\n{}",
            out.stdout
        );
    }
}

/// An NTP server that sends every reply four times: each copy after the first is the
/// same reply again, so ntpdate still takes one sample per request.
#[test]
fn ntpdate_counts_one_reply_once() {
    let Some(lab) = Lab::new() else { return };
    let argv = [env!("CARGO_BIN_EXE_ntpdate"), "-d", "127.0.0.1"];
    let (out, took, requests) = lab.run(&argv, |sock, stop| {
        let start = Instant::now();
        let mut requests = 0;
        while let Some((req, from)) = next_request(sock, stop, start) {
            let Ok(asked) = Header::decode(&req) else {
                continue;
            };
            requests += 1;
            let now = common::now();
            let reply = Header {
                leap: Leap::NoWarning,
                version: asked.version,
                mode: Mode::Server,
                stratum: 2,
                poll: asked.poll,
                precision: -20,
                root_delay: NtpShort::ZERO,
                root_dispersion: NtpShort::ZERO,
                reference_id: RefId([192, 0, 2, 1]),
                reference_time: now + NtpDuration::from_secs(-60),
                origin_time: asked.transmit_time,
                receive_time: now,
                transmit_time: now,
            };
            let mut bytes = [0u8; 48];
            reply.encode(&mut bytes);
            for _ in 0..4 {
                let _ = sock.send_to(&bytes, from);
            }
        }
        requests
    });
    eprintln!(
        "ntpdate -d against a server answering 4 times: {took:?}, {requests} requests\n{}",
        out.stdout
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(requests, 4, "{out:?}");
    assert!(
        out.stdout.contains("transmitted 4, in filter 4"),
        "{}",
        out.stdout
    );
    // Copies of the last reply may come after the run has ended.
    let received = out.stdout.matches("receive(127.0.0.1)").count();
    assert!(received >= 13, "{received} datagrams seen\n{}", out.stdout);
}
