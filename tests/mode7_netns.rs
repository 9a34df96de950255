//! Mode 7 from outside, in network namespaces. Debian's collectd (its real ntpd plugin)
//! records the loop offset, the loop frequency and LOCAL(0)'s dispersion from our daemon;
//! our ntpdc's `sysinfo`, `peers`, `kerninfo`, `loopinfo`, `iostats`, `sysstats` have the
//! layouts of classic 4.2.6p5's captures (labels and widths; values of the same shape).
//! A LAN host sending every mode 7 request code gets nothing back without `enable mode7`
//! (while it is still served time), answers with it, and `monlist` and the write requests
//! only ever get an 8-octet error; `restrict ... noquery` silences mode 7 again.

mod common;
#[path = "control_fixture.rs"]
mod control_fixture;

use common::{
    ntp_addr, query, require_peer, setup, socket_for, spawn_ours, wait_for_stratum, LanLab, Netns,
    TempDir, CLIENT, LOCAL_CONF, SERVER, STARTUP,
};
use control_fixture::captured;
use ntp6::wire::mode7::{self, code, Header, IMPL_UNIV, IMPL_XNTPD, IMPL_XNTPD_OLD};
use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

const NTPDC: &str = env!("CARGO_BIN_EXE_ntpdc");

/// How long collectd gets to write all three series (it reads every second).
const COLLECTD_WAIT: Duration = Duration::from_secs(20);

/// The series the issue names, as collectd's csv plugin names their files.
const SERIES: [&str; 3] = [
    "frequency_offset-loop",
    "time_offset-loop",
    "time_dispersion-LOCAL-0",
];

fn collectd_conf(tmp: &TempDir) -> String {
    let dir = tmp.path().display();
    tmp.write(
        "collectd.conf",
        &format!(
            "Interval 1\nBaseDir \"{dir}\"\nPIDFile \"{dir}/collectd.pid\"\n\
             PluginDir \"/usr/lib/collectd\"\nTypesDB \"/usr/share/collectd/types.db\"\n\
             Hostname \"mode7\"\nFQDNLookup false\nLoadPlugin ntpd\nLoadPlugin csv\n\
             <Plugin ntpd>\n  Host \"127.0.0.1\"\n  Port \"123\"\n  ReverseLookups false\n\
             \x20 IncludeUnitID true\n</Plugin>\n\
             <Plugin csv>\n  DataDir \"{dir}/csv\"\n  StoreRates false\n</Plugin>\n"
        ),
    )
}

/// The values collectd's csv plugin wrote for `series` (files `SERIES-DATE`, rows
/// `epoch,value` after a header).
fn csv_values(dir: &Path, series: &str) -> Vec<f64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{series}-"))
        })
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|l| l.split(',').nth(1)?.parse().ok())
        .collect()
}

/// A value with its numbers replaced by `N` (`0.01787 s` and `7.94778 s` both `N s`).
fn shape(value: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = value.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || chars[i] == '.'
                || chars[i] == 'e'
                || (matches!(chars[i], '-' | '+') && chars[i - 1] == 'e'))
        {
            i += 1;
        }
        out.push('N');
    }
    out
}

/// `label:   value` split where the value starts.
fn split_label(line: &str) -> (&str, &str) {
    let colon = line.find(':').map_or(0, |i| i + 1);
    let start = line[colon..]
        .find(|ch: char| ch != ' ')
        .map_or(line.len(), |i| colon + i);
    line.split_at(start)
}

/// `label:   value` lines: the same labels at the same widths, values of the same shape.
fn assert_same_layout(command: &str, ours: &str, classic: &str) {
    let (o, c): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), classic.lines().collect());
    assert_eq!(
        o.len(),
        c.len(),
        "{command}: line count\n{ours}\n--- classic ---\n{classic}"
    );
    for (a, b) in o.iter().zip(&c) {
        let ((la, va), (lb, vb)) = (split_label(a), split_label(b));
        assert_eq!(la, lb, "{command}: label\n{ours}");
        match la.trim_end() {
            // A date of fixed width; flag words.
            "reference time:" => assert_eq!(va.len(), vb.len(), "{command}: {a}"),
            "system flags:" => assert!(va.ends_with(' '), "{command}: {a}"),
            "status:" => assert_eq!(shape(&va[..6]), shape(&vb[..6]), "{command}: {a}"),
            _ => assert_eq!(shape(va), shape(vb), "{command}: {a} vs {b}"),
        }
    }
}

/// Where each word of a table row ends: equal for rows of the same column layout.
fn word_ends(row: &str) -> BTreeSet<usize> {
    let b = row.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] != b' ' && b.get(i + 1).is_none_or(|&n| n == b' '))
        .collect()
}

#[test]
fn collectd_and_ntpdc_read_our_daemon() {
    let Some(_lock) = setup() else { return };
    let Some(collectd) = require_peer("collectd") else {
        return;
    };
    let ns = Netns::new();
    let tmp = TempDir::new();
    let mut daemon = spawn_ours(&ns, &tmp, "ntp.conf", LOCAL_CONF, Some("0"));
    wait_for_stratum(&ns, ntp_addr("127.0.0.1"), 11, STARTUP);

    let conf = collectd_conf(&tmp);
    let start = Instant::now();
    let mut c = ns.spawn(&tmp, &[collectd.to_str().unwrap(), "-f", "-C", &conf]);
    let csv = tmp.path().join("csv/mode7/ntpd");
    let all_written = || SERIES.iter().all(|s| !csv_values(&csv, s).is_empty());
    while !all_written() && start.elapsed() < COLLECTD_WAIT && c.is_alive() {
        sleep(Duration::from_millis(100));
    }
    let took = start.elapsed();
    c.stop();
    for series in SERIES {
        let values = csv_values(&csv, series);
        assert!(
            !values.is_empty() && values.iter().all(|v| v.is_finite()),
            "collectd wrote no {series} in {took:?}\n{}\n{}",
            c.describe(),
            daemon.describe()
        );
        eprintln!("collectd {series}: {values:?}");
    }
    eprintln!("collectd: all three series within {took:.1?}");
    // On a virtual clock without drift the loop is at rest; LOCAL(0)'s dispersion is the
    // clock filter's (16 s per empty stage), under 16 s.
    assert_eq!(csv_values(&csv, "frequency_offset-loop")[0], 0.0);
    let dispersion = csv_values(&csv, "time_dispersion-LOCAL-0")[0];
    assert!(dispersion > 0.0 && dispersion < 16.0, "{dispersion}");
    assert!(!c.stderr().contains("unexpected data"), "{}", c.describe());

    for command in [
        "sysinfo", "peers", "kerninfo", "loopinfo", "iostats", "sysstats",
    ] {
        let t = Instant::now();
        let out = ns.run(
            &tmp,
            &[NTPDC, "-c", command, "127.0.0.1"],
            Duration::from_secs(10),
        );
        eprintln!("ntpdc -c {command}: {:.1?}", t.elapsed());
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:?}");
        let classic = captured("local.txt", &format!("ntpdc -c {command}"));
        if command == "peers" {
            let (o, c): (Vec<&str>, Vec<&str>) =
                (out.stdout.lines().collect(), classic.lines().collect());
            assert_eq!(o[..2], c[..2], "peers header");
            assert_eq!(o.len(), 3, "{}", out.stdout);
            assert!(o[2].starts_with("*LOCAL(0)        127.0.0.1       10   64 "));
            assert_eq!(word_ends(o[2]), word_ends(c[2]), "{}\n{}", o[2], c[2]);
        } else {
            assert_same_layout(command, &out.stdout, &classic);
        }
    }
    assert!(daemon.is_alive(), "daemon died\n{}", daemon.describe());
}

/// Every request a mode 7 client could send: each code under each implementation, as
/// ntpdc sends it (192 octets) and as a bare header (8 octets, the amplifier's favourite).
fn every_request() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for implementation in [IMPL_XNTPD, IMPL_XNTPD_OLD, IMPL_UNIV] {
        for request in 0..=45 {
            let full = mode7::request(implementation, request, 0, &[]);
            out.push(full[..mode7::HEADER_LEN].to_vec());
            out.push(full);
        }
    }
    out
}

/// Everything that arrives on `sock` within `wait`, or until nothing more came for
/// `quiet` after the last datagram.
fn drain(sock: &UdpSocket, wait: Duration, quiet: Duration) -> Vec<Vec<u8>> {
    let mut deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                out.push(buf[..n].to_vec());
                deadline = deadline.min(Instant::now() + quiet);
            }
            Err(_) => break,
        }
    }
    out
}

/// The replies to one request.
fn ask(sock: &UdpSocket, to: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
    sock.send_to(bytes, to).unwrap();
    drain(sock, Duration::from_millis(500), Duration::from_millis(50))
}

fn restart(lab: &mut LanLab, conf: &str) {
    for p in &mut lab.procs {
        p.stop();
    }
    lab.procs.clear();
    lab.ours(SERVER, conf, Some("0"));
    wait_for_stratum(lab.host(CLIENT), ntp_addr(SERVER), 11, STARTUP);
}

#[test]
fn lan_hosts_get_nothing_without_enable_mode7() {
    let Some(mut lab) = LanLab::new() else { return };
    let started = Instant::now();
    let server = ntp_addr(SERVER);
    restart(&mut lab, LOCAL_CONF);
    let sock = socket_for(lab.host(CLIENT), server);
    sock.connect(server).unwrap();
    let requests = every_request();
    for r in &requests {
        sock.send(r).unwrap();
    }
    let got = drain(&sock, Duration::from_secs(1), Duration::from_secs(1));
    assert!(
        got.is_empty(),
        "{} replies to {} requests",
        got.len(),
        requests.len()
    );
    eprintln!(
        "no enable mode7: {} requests from the LAN, 0 replies",
        requests.len()
    );
    assert!(
        query(&sock, server, Duration::from_secs(2)).is_some(),
        "time still served"
    );
    // Our ntpdc from there says what classic's says, after its timeout.
    let out = lab.host(CLIENT).run(
        &lab.tmp,
        &[NTPDC, "-c", "timeout 1000", "-c", "sysinfo", SERVER],
        Duration::from_secs(10),
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (
            Some(0),
            "",
            "172.25.0.11: timed out, nothing received\n***Request timed out\n"
        ),
        "{out:?}"
    );
    // This host is answered: the daemon's own loopback.
    let local = socket_for(lab.host(SERVER), ntp_addr("127.0.0.1"));
    let sysinfo = ask(
        &local,
        ntp_addr("127.0.0.1"),
        &mode7::request(IMPL_XNTPD, code::SYS_INFO, 0, &[]),
    );
    assert_eq!(sysinfo.iter().map(Vec::len).collect::<Vec<_>>(), [88]);

    restart(&mut lab, &format!("{LOCAL_CONF}enable mode7\n"));
    let sock = socket_for(lab.host(CLIENT), server);
    eprintln!("enable mode7, from the LAN: request (octets in) -> octets out");
    for request in 0..=45u8 {
        let bytes = mode7::request(IMPL_XNTPD, request, 0, &[]);
        let replies = ask(&sock, server, &bytes);
        let out: usize = replies.iter().map(Vec::len).sum();
        let h = replies.first().and_then(|r| Header::decode(r));
        if mode7::is_write(request) || matches!(request, code::MON_GETLIST | code::MON_GETLIST_1) {
            assert_eq!(out, 8, "request {request}: only an error");
            let want = if mode7::is_write(request) { 7 } else { 4 };
            assert_eq!(h.map(|h| h.error), Some(want), "request {request}");
        }
        assert!(out <= 508, "request {request}: {out} octets");
        eprintln!(
            "  {request:2} ({}) -> {out} ({:.2}x)",
            bytes.len(),
            out as f64 / bytes.len() as f64
        );
    }
    let out = lab.host(CLIENT).run(
        &lab.tmp,
        &[NTPDC, "-c", "sysinfo", SERVER],
        Duration::from_secs(10),
    );
    assert!(out.stdout.contains("stratum:              11\n"), "{out:?}");
    let out = lab.host(CLIENT).run(
        &lab.tmp,
        &[NTPDC, "-c", "monlist", SERVER],
        Duration::from_secs(10),
    );
    assert!(
        out.stderr.contains("ntpq -c mrulist") && out.stdout.is_empty(),
        "{out:?}"
    );

    restart(
        &mut lab,
        &format!("{LOCAL_CONF}enable mode7\nrestrict {CLIENT} noquery\n"),
    );
    let sock = socket_for(lab.host(CLIENT), server);
    sock.connect(server).unwrap();
    for r in &requests {
        sock.send(r).unwrap();
    }
    assert!(
        drain(&sock, Duration::from_secs(1), Duration::from_secs(1)).is_empty(),
        "noquery answered"
    );
    eprintln!("LAN test, after the lock: {:.1?}", started.elapsed());
}
