//! Broadcast on the reference LAN (172.25.0.0/24): chronyd broadcasting and our
//! `broadcastclient` taking its time, cold and 50 ms off; our own broadcast server with a
//! key, heard by a client holding the key (synchronised) and by one without it (refused).
//! Measured from outside with NTPsec's ntpdig; our daemons run on virtual clocks.

mod common;

use common::{require_peer, LanLab, CLIENT, CLIENT2, SERVER};
use std::thread::sleep;
use std::time::{Duration, Instant};

const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");
/// The bound: a cold broadcast client serves within 10 ms in under 60 s.
const SERVE_WITHIN: Duration = Duration::from_secs(60);
/// The LAN's broadcast address.
const BROADCAST: &str = "172.25.0.255";
/// Long enough for chrony, which warns about MD5 keys under 10 octets.
const KEYS: &str = "1 md5 md5-secret-key\n";

/// ntpdig from `from` against `addr`: (stratum, offset), None while it serves no time.
/// Mobilisations are peer events, which classic (and so ours) logs only when asked: the
/// tests read them from the log.
const PEER_EVENTS: &str = "logconfig +peerevents\n";

fn dig(lab: &LanLab, from: &str, addr: &str) -> Option<(u8, f64)> {
    let bin = common::peer("ntpdig")?;
    let out = lab.host(from).run(
        &lab.tmp,
        &[bin.to_str()?, "-t", "1", addr],
        common::CLIENT_TIMEOUT,
    );
    let seen = common::parse_ntpdig(&out.stdout).filter(|_| out.code == Some(0))?;
    Some((seen.stratum, seen.offset))
}

fn ntpq(lab: &LanLab, at: &str, cmd: &str) -> String {
    lab.host(at)
        .run(
            &lab.tmp,
            &[NTPQ, "-n", "-c", cmd, "127.0.0.1"],
            common::CLIENT_TIMEOUT,
        )
        .stdout
}

/// Waits until the server host's daemon serves `stratum`.
fn server_ready(lab: &LanLab, stratum: u8) {
    let local = common::ntp_addr("127.0.0.1");
    common::wait_for_stratum(&lab.lan.server, local, stratum, common::STARTUP);
}

/// The time until the client (process `client` at [`CLIENT`]) serves `stratum` within
/// 10 ms of ntpdig's clock (asked from the server's host), printed as the figure of
/// `what` with the time it first heard a broadcast; fails past [`SERVE_WITHIN`].
fn client_serves(lab: &LanLab, client: usize, what: &str, stratum: u8) -> Duration {
    let started = Instant::now();
    let mut heard = None;
    let mut served = None;
    while served.is_none() && started.elapsed() < SERVE_WITHIN {
        if heard.is_none()
            && lab.procs[client]
                .describe()
                .contains("broadcast client association")
        {
            heard = Some(started.elapsed());
        }
        served = dig(lab, SERVER, CLIENT)
            .filter(|(s, offset)| *s == stratum && offset.abs() < 0.010)
            .map(|_| started.elapsed());
        if served.is_none() {
            sleep(Duration::from_millis(250));
        }
    }
    let secs =
        |d: Option<Duration>| d.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()));
    eprintln!(
        "{what}: serving s{stratum} within 10 ms after {} (first broadcast heard after {})",
        secs(served),
        secs(heard)
    );
    served.unwrap_or_else(|| {
        panic!(
            "{what}: never served s{stratum} within 10 ms\n{}",
            lab.outputs()
        )
    })
}

/// The association ID a log line "ADDR broadcast client association ID: ..." names.
fn volley_done(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("volley done"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "association")?;
    Some(words.get(at + 1)?.trim_end_matches(':').to_string())
}

#[test]
fn chronyd_broadcasts_and_our_client_serves_within_10_ms() {
    let Some(mut lab) = LanLab::new() else { return };
    if require_peer("ntpdig").is_none() {
        return;
    }
    let extra = format!("broadcast 16 {BROADCAST}\n");
    if lab.chronyd_server_with(SERVER, &extra).is_none() {
        return;
    }
    server_ready(&lab, 10);
    let client = lab.ours(
        CLIENT,
        &format!("broadcastclient\ndisable auth\n{PEER_EVENTS}"),
        Some("0.05"),
    );
    client_serves(
        &lab,
        client,
        "broadcast client (chronyd broadcasting, cold, 50 ms off)",
        11,
    );
    let log = lab.procs[client].describe();
    assert!(
        log.contains(&format!("{SERVER} broadcast client association")),
        "{log}"
    );
    // After the volley the association only listens: what it receives now are chronyd's
    // broadcasts, and they keep it in time.
    let started = Instant::now();
    let id = loop {
        if let Some(id) = volley_done(&lab.procs[client].describe()) {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the volley never ended\n{}",
            lab.outputs()
        );
        sleep(Duration::from_millis(500));
    };
    let rec = |lab: &LanLab| ntpq(lab, CLIENT, &format!("rv {id} rec,hmode"));
    let before = rec(&lab);
    assert!(before.contains("hmode=6"), "{before}");
    let started = Instant::now();
    while rec(&lab) == before {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no broadcast taken after the volley: {before}\n{}",
            lab.outputs()
        );
        sleep(Duration::from_secs(1));
    }
    let (stratum, offset) = dig(&lab, SERVER, CLIENT).expect("still serving");
    eprintln!("after a broadcast: s{stratum} {offset:+.6} s");
    assert!(stratum == 11 && offset.abs() < 0.010, "s{stratum} {offset}");
    let peers = ntpq(&lab, CLIENT, "peers");
    eprintln!("{peers}");
    assert!(
        peers.lines().any(|l| l.starts_with(&format!("*{SERVER}"))),
        "{peers}"
    );
}

#[test]
fn our_broadcast_server_with_a_key_is_heard_only_with_the_key() {
    let Some(mut lab) = LanLab::new() else { return };
    if require_peer("ntpdig").is_none() {
        return;
    }
    let keys = lab.tmp.write("ntp.keys", KEYS);
    let server_conf = format!(
        "{}keys {keys}\ntrustedkey 1\nbroadcast {BROADCAST} key 1 minpoll 4\n",
        common::LOCAL_CONF
    );
    lab.ours(SERVER, &server_conf, None);
    server_ready(&lab, 11);
    let with_key = format!("keys {keys}\ntrustedkey 1\nbroadcastclient\n{PEER_EVENTS}");
    let client = lab.ours(CLIENT, &with_key, Some("0.05"));
    let without = lab.ours(
        CLIENT2,
        &format!("broadcastclient\n{PEER_EVENTS}"),
        Some("0.05"),
    );
    client_serves(
        &lab,
        client,
        "broadcast client with the key (our server, key 1)",
        12,
    );
    // By now the keyless client has heard several broadcasts (every 16 s) and refused
    // each: counted, no association, never synchronised.
    let started = Instant::now();
    let (stats, refused) = loop {
        let stats = ntpq(&lab, CLIENT2, "sysstats");
        let refused = stats
            .lines()
            .find(|l| l.starts_with("authentication failed:"))
            .and_then(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .unwrap_or(0);
        if refused > 0 || started.elapsed() > Duration::from_secs(20) {
            break (stats, refused);
        }
        sleep(Duration::from_secs(1));
    };
    eprintln!("client without the key: {refused} broadcasts refused\n{stats}");
    assert!(refused > 0, "{stats}");
    assert_eq!(
        dig(&lab, SERVER, CLIENT2),
        None,
        "the keyless client serves time"
    );
    let peers = ntpq(&lab, CLIENT2, "peers");
    assert!(!peers.contains(SERVER), "{peers}");
    assert!(
        !lab.procs[without].describe().contains("association"),
        "{}",
        lab.procs[without].describe()
    );
}

#[test]
fn our_multicast_server_and_multicastclient() {
    let Some(mut lab) = LanLab::new() else { return };
    if require_peer("ntpdig").is_none() {
        return;
    }
    lab.enable_multicast();
    let server_conf = format!("{}broadcast 224.0.1.1 minpoll 4\n", common::LOCAL_CONF);
    lab.ours(SERVER, &server_conf, None);
    server_ready(&lab, 11);
    let client = lab.ours(
        CLIENT,
        &format!("multicastclient 224.0.1.1\ndisable auth\n{PEER_EVENTS}"),
        Some("0.05"),
    );
    client_serves(
        &lab,
        client,
        "multicast client (our server sending to 224.0.1.1)",
        12,
    );
    let log = lab.procs[client].describe();
    assert!(log.contains("joined multicast group 224.0.1.1"), "{log}");
    let peers = ntpq(&lab, SERVER, "peers");
    assert!(
        peers
            .lines()
            .any(|l| l[1..].starts_with("224.0.1.1") && l.contains(".MCST.")),
        "{peers}"
    );
}
