//! Off-path attacks with spoofed source addresses, sent from raw sockets on a third host
//! of the reference LAN (network namespaces; our daemons without CAP_SYS_TIME, the client
//! on a virtual clock):
//! - forged kiss-o'-death packets "from" a client's server (CVE-2015-7704/7705): DENY,
//!   RSTR and RATE with a guessed origin timestamp leave the client polling its server at
//!   the usual interval, still its system peer, and are counted, not logged as kisses;
//! - 50,000 spoofed symmetric active sources against a server under `disable auth`: its
//!   memory stays small, a legitimate client's answer rate holds, and the spoofed
//!   addresses get one answer per packet they "sent" and never a poll.
mod common;

use common::{ntp_addr, LanLab, Netns, Proc, Spoofer, CLIENT, SERVER, STARTUP};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

const NTPD: &str = env!("CARGO_BIN_EXE_ntpd");

fn ntpq(ns: &Netns, lab: &LanLab, command: &str) -> String {
    let argv = [env!("CARGO_BIN_EXE_ntpq"), "-n", "-c", command, "127.0.0.1"];
    ns.run(&lab.tmp, &argv, Duration::from_secs(10)).stdout
}

/// Starts our ntpd with config text `conf` (file `name`) in `ns`.
fn ours(lab: &LanLab, ns: &Netns, name: &str, conf: &str, extra: &[&str]) -> Proc {
    let path = lab.tmp.write(name, conf);
    let mut argv = vec![NTPD, "-n", "-c", &path];
    argv.extend_from_slice(extra);
    ns.spawn(&lab.tmp, &argv)
}

/// One row of `ntpq -pn`: tally code, refid, poll and when (seconds).
#[derive(Debug)]
struct Row {
    tally: char,
    refid: String,
    when: u64,
    poll: u64,
}

fn seconds(field: &str) -> Option<u64> {
    let (num, unit) = match field.chars().last()? {
        'm' => (&field[..field.len() - 1], 60),
        'h' => (&field[..field.len() - 1], 3600),
        'd' => (&field[..field.len() - 1], 86400),
        _ => (field, 1),
    };
    num.parse::<u64>().ok().map(|n| n * unit)
}

fn row(table: &str, remote: &str) -> Option<Row> {
    let line = table
        .lines()
        .find(|l| l.get(1..).is_some_and(|r| r.starts_with(remote)))?;
    let fields: Vec<&str> = line[1..].split_whitespace().collect();
    Some(Row {
        tally: line.chars().next()?,
        refid: fields.get(1)?.to_string(),
        when: fields.get(4).and_then(|w| seconds(w)).unwrap_or(0),
        poll: seconds(fields.get(5)?)?,
    })
}

/// `ss_declined` from the daemon in `ns` (packets it refused as not answering it, among
/// others).
fn declined(ns: &Netns, lab: &LanLab) -> u64 {
    let out = ntpq(ns, lab, "rv 0 ss_declined");
    out.split("ss_declined=")
        .nth(1)
        .and_then(|v| v.trim().split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ss_declined in {out:?}"))
}

/// A kiss-o'-death as a server would send it, with an origin timestamp that is a guess.
fn forged_kiss(code: &[u8; 4], guess: u64) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[0] = 0xe4; // leap 3 (unsynchronised), version 4, mode 4
    b[2] = 17; // "poll at 2^17 s"
    b[12..16].copy_from_slice(code);
    for at in [24, 32, 40] {
        b[at..at + 8].copy_from_slice(&guess.to_be_bytes());
    }
    b
}

#[test]
fn forged_kisses_from_a_third_host_leave_the_client_polling() {
    let Some(mut lab) = LanLab::new() else { return };
    lab.add_host();
    let mut server = ours(
        &lab,
        &lab.lan.server,
        "server.conf",
        common::LOCAL_CONF,
        &[],
    );
    common::wait_for_stratum(&lab.lan.server, ntp_addr("127.0.0.1"), 11, STARTUP);
    let client_conf = format!("server {SERVER} iburst minpoll 4\n");
    let vclock = ["--virtual-clock", "0.0"];
    let client = ours(&lab, &lab.lan.client, "client.conf", &client_conf, &vclock);
    let started = Instant::now();
    let before = loop {
        let table = ntpq(&lab.lan.client, &lab, "pe");
        match row(&table, SERVER) {
            Some(r) if r.tally == '*' => break r,
            _ if started.elapsed() > Duration::from_secs(60) => {
                panic!(
                    "client never selected {SERVER}:\n{table}\n{}",
                    client.describe()
                )
            }
            _ => sleep(Duration::from_secs(1)),
        }
    };
    eprintln!(
        "client selected its server after {:?}: {before:?}",
        started.elapsed()
    );
    let declined_before = declined(&lab.lan.client, &lab);
    let spoofer = Spoofer::new(&lab.extra[0]);
    let from = SocketAddrV4::new(SERVER.parse().unwrap(), 123);
    let to = SocketAddrV4::new(CLIENT.parse().unwrap(), 123);
    let mut guess = 0x9e37_79b9_7f4a_7c15u64;
    let mut forged = 0;
    for _ in 0..3 {
        for code in [b"DENY", b"RSTR", b"RATE"] {
            guess = guess.rotate_left(13) ^ 0x2545_f491_4f6c_dd1d;
            assert!(spoofer.send(from, to, &forged_kiss(code, guess)));
            forged += 1;
            sleep(Duration::from_millis(50));
        }
    }
    // One and a half poll intervals: a stopped or slowed client shows in `when`, a
    // believed RATE in `poll`, a believed DENY in the tally and refid.
    sleep(Duration::from_secs(before.poll * 3 / 2));
    let table = ntpq(&lab.lan.client, &lab, "pe");
    let after = row(&table, SERVER).expect("server row");
    let counted = declined(&lab.lan.client, &lab) - declined_before;
    let log = client.describe();
    eprintln!("after {forged} forged kisses: {after:?}; counted as declined: {counted}");
    assert_eq!(after.tally, '*', "{table}\n{log}");
    assert_eq!(after.poll, before.poll, "{table}");
    assert!(
        after.when <= after.poll + 2,
        "no poll for {} s\n{table}",
        after.when
    );
    assert!(
        !["DENY", "RSTR"].iter().any(|k| after.refid.contains(k)),
        "{table}"
    );
    assert!(
        counted >= forged,
        "{counted} of {forged} forged kisses counted"
    );
    assert!(!log.contains("kiss"), "forged kisses logged:\n{log}");
    assert!(server.is_alive(), "{}", server.describe());
}

/// Spoofed source `i` of the flood: 10.99.0.0/16, port 123 (a symmetric peer's).
fn spoofed(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(0x0a63_0000 | i), 123)
}

const FLOOD: u32 = 50_000;
/// Transmit timestamps of the flood's packets: this plus the source's index.
const FLOOD_XMT: u64 = 0xe000_0000_0000_0000;

/// A symmetric active peer's first packet (origin and receive zero).
fn symmetric_active(i: u32) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[0] = 0x21;
    (b[1], b[2], b[3]) = (3, 6, 0xec);
    b[40..48].copy_from_slice(&(FLOOD_XMT + u64::from(i)).to_be_bytes());
    b
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"))
}

/// Mode 3 answers per second a client with 32 requests in flight gets in `span`.
fn answer_rate(sock: &UdpSocket, to: SocketAddr, span: Duration) -> f64 {
    const WINDOW: usize = 32;
    let mut request = common::client_request(common::now());
    let mut buf = [0u8; 512];
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while sock.recv_from(&mut buf).is_ok() {} // leftovers of the last round
    let start = Instant::now();
    let mut answers = 0u64;
    let send_window = |request: &mut [u8; 48], n: usize| {
        for _ in 0..n {
            request[47] = request[47].wrapping_add(1);
            let _ = sock.send_to(&request[..], to);
        }
    };
    send_window(&mut request, WINDOW);
    while start.elapsed() < span {
        match sock.recv_from(&mut buf) {
            Ok(_) => {
                answers += 1;
                send_window(&mut request, 1);
            }
            // Lost in a full queue somewhere: refill the window.
            Err(_) => send_window(&mut request, WINDOW),
        }
    }
    answers as f64 / start.elapsed().as_secs_f64()
}

/// Answer rates of `a` and of `b`, best of five rounds of half a second each, measured
/// alternately: the machine is shared, and interleaving lets both see the same weather.
fn interleaved_rates(sock: &UdpSocket, a: SocketAddr, b: SocketAddr) -> (f64, f64) {
    let round = Duration::from_millis(500);
    (0..5).fold((0.0, 0.0), |(best_a, best_b), _| {
        let ra = answer_rate(sock, a, round);
        let rb = answer_rate(sock, b, round);
        (f64::max(best_a, ra), f64::max(best_b, rb))
    })
}

/// What arrives at the spoofed addresses: a socket on the attacker's host, which owns
/// 10.99.0.0/16, records each datagram's origin timestamp and arrival time.
fn listen_spoofed(
    ns: &Netns,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<(Instant, u64)>> {
    ns.ip(&["route", "add", "local", "10.99.0.0/16", "dev", "lo"]);
    let sock = ns.udp_socket("0.0.0.0:123".parse().unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                let origin = buf
                    .get(24..32)
                    .filter(|_| len >= 48)
                    .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()));
                seen.push((Instant::now(), origin));
            }
        }
        seen
    })
}

/// Our daemon with LOCAL(0) and `disable auth` on a new LAN host; returns it and its address.
fn flood_target(lab: &mut LanLab) -> (Proc, SocketAddr) {
    let ip = lab.add_host();
    let host = lab.extra.last().unwrap();
    let conf = format!("{}disable auth\n", common::LOCAL_CONF);
    let p = ours(lab, host, &format!("ntp-{ip}.conf"), &conf, &[]);
    common::wait_for_stratum(host, ntp_addr("127.0.0.1"), 11, STARTUP);
    (p, ntp_addr(&ip))
}

/// The done-when of issue 16: 50,000 spoofed symmetric active sources under `disable auth`
/// leave RSS under 10 MB, answers to a legitimate client within 10% of the undisturbed rate
/// (a twin daemon nobody floods, measured alternately), and nothing sent to a spoofed
/// address but one answer to each packet it "sent" (no poll, no second answer).
#[test]
fn spoofed_symmetric_flood_under_disable_auth() {
    let Some(mut lab) = LanLab::new() else { return };
    let attacker = lab.add_host();
    let (mut target, to) = flood_target(&mut lab);
    let (mut twin, twin_addr) = flood_target(&mut lab);
    let target_ns = &lab.extra[1];
    // Answers to the spoofed addresses are routed to the attacker's host, which counts them.
    target_ns.ip(&["route", "add", "10.99.0.0/16", "via", &attacker]);
    let stop = Arc::new(AtomicBool::new(false));
    let listener = listen_spoofed(&lab.extra[0], stop.clone());
    let legit = common::socket_for(&lab.lan.client, to);
    let before = interleaved_rates(&legit, to, twin_addr);
    let rss_before = rss_kb(target.pid());

    let spoofer = Spoofer::new(&lab.extra[0]);
    let dst = match to {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(_) => unreachable!("the LAN is IPv4"),
    };
    let flood_start = Instant::now();
    let mut sent_at = Vec::with_capacity(FLOOD as usize);
    for i in 0..FLOOD {
        while !spoofer.send(spoofed(i), dst, &symmetric_active(i)) {
            sleep(Duration::from_millis(1));
        }
        sent_at.push(Instant::now());
        if i % 250 == 249 {
            sleep(Duration::from_millis(10)); // about 25,000 packets a second
        }
    }
    let flood_took = flood_start.elapsed();
    sleep(Duration::from_millis(500)); // answers still in flight
    let quiet_from = Instant::now();
    let quiet = Duration::from_secs(6);

    let after = interleaved_rates(&legit, to, twin_addr);
    let rss_after = rss_kb(target.pid());
    let received = ntpq(target_ns, &lab, "rv 0 ss_received");
    let assocs = ntpq(target_ns, &lab, "as")
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|f| f.parse::<u32>().is_ok())
        })
        .count();
    sleep(quiet.saturating_sub(quiet_from.elapsed()));
    stop.store(true, Ordering::Relaxed);
    let seen = listener.join().unwrap();

    let mut answered = HashSet::new();
    let mut strays = 0;
    let mut late = 0;
    for (at, origin) in &seen {
        let i = origin.wrapping_sub(FLOOD_XMT);
        // An answer echoes its spoofed packet and comes at once; a poll comes a second or
        // more later (even one echoing the spoofed packet), a repeat is a second copy.
        let prompt = usize::try_from(i)
            .ok()
            .and_then(|i| sent_at.get(i))
            .is_some_and(|sent| at.duration_since(*sent) < Duration::from_millis(500));
        if !prompt || !answered.insert(i) {
            strays += 1;
        }
        if *at >= quiet_from {
            late += 1;
        }
    }
    eprintln!(
        "flood of {FLOOD} spoofed sources sent in {flood_took:?} ({}); {assocs} associations; \
         RSS {rss_before} kB -> {rss_after} kB",
        received.trim()
    );
    eprintln!(
        "legitimate client, answers/s: flooded daemon {:.0} before, {:.0} after; undisturbed \
         twin {:.0} before, {:.0} after; after the flood {:+.1}% of the twin",
        before.0,
        after.0,
        before.1,
        after.1,
        (after.0 / after.1 - 1.0) * 100.0
    );
    eprintln!(
        "to spoofed addresses: {} answers (each echoing one spoofed packet), {strays} other \
         packets, {late} in the {quiet:?} after the flood",
        answered.len()
    );
    assert!(target.is_alive(), "{}", target.describe());
    assert!(twin.is_alive(), "{}", twin.describe());
    assert!(rss_after < 10 * 1024, "RSS {rss_after} kB");
    assert!(
        after.0 >= 0.9 * after.1,
        "{:.0}/s from the flooded daemon, {:.0}/s from its twin",
        after.0,
        after.1
    );
    assert!(
        assocs <= ntp6::engine::peers::MAX_PASSIVE + 1,
        "{assocs} associations"
    );
    assert!(!answered.is_empty(), "the flood never reached the daemon");
    assert_eq!(
        (strays, late),
        (0, 0),
        "packets sent to spoofed addresses unasked"
    );
}
