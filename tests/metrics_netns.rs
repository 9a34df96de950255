//! Observability from outside, in network namespaces: a real Prometheus (Debian's) scrapes
//! `ntpd --metrics` on the RHEL6 LOCAL(0) config and its query API returns what ntpq
//! says; `promtool check metrics` accepts the page; a client whose only server is
//! unreachable shows ntp_sync_status 0 and why; under a NOTIFY_SOCKET listener, `ntpd -n`
//! says READY=1, STATUS= and STOPPING=1 (and WATCHDOG=1 when asked); ntp-wait returns 0
//! against a synchronised daemon and 1 after its tries against an unsynchronised one; the
//! endpoint bounds connections (a 17th closes the oldest), request heads (431) and time (a
//! slow connection is closed after 5 s); the example alert rules (dist/prometheus) pass
//! `promtool test rules`.

mod common;

use common::{http_get, require_peer, setup, wait_for_stratum, Netns, Proc, TempDir, STARTUP};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

const NTPD: &str = env!("CARGO_BIN_EXE_ntpd");
const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");
const NTP_WAIT: &str = env!("CARGO_BIN_EXE_ntp-wait");

fn metrics_addr() -> SocketAddr {
    "127.0.0.1:9975".parse().unwrap()
}

/// The shipped RHEL6 config (LOCAL(0) at stratum 10) with its drift file in `tmp`.
fn rhel6_conf(tmp: &TempDir) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/ntp.conf"))
        .expect("conf/ntp.conf");
    let drift = tmp.path().join("drift");
    tmp.write(
        "ntp.conf",
        &text.replace("/var/lib/ntp/drift", drift.to_str().unwrap()),
    )
}

/// Our ntpd in `ns` on the virtual clock, with `extra` arguments.
fn ntpd(ns: &Netns, tmp: &TempDir, conf: &str, extra: &[&str]) -> Proc {
    let mut argv = vec![NTPD, "-n", "-c", conf, "--virtual-clock", "0"];
    argv.extend_from_slice(extra);
    ns.spawn(tmp, &argv)
}

/// The metrics page, once the endpoint answers and `ready` holds for it.
fn page_when(ns: &Netns, ready: impl Fn(&str) -> bool, d: &mut Proc) -> String {
    let deadline = Instant::now() + STARTUP;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok((200, body)) = http_get(ns, metrics_addr(), "/metrics") {
            if ready(&body) {
                return body;
            }
            last = body;
        }
        sleep(Duration::from_millis(200));
    }
    panic!(
        "metrics never ready (alive: {})\n{}\n--- last page ---\n{last}",
        d.is_alive(),
        d.describe()
    );
}

/// The value of the unlabelled sample `name` on `page`.
fn value<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
}

/// `promtool check metrics` on `page`: (success, what it said).
fn promtool(page: &str) -> Option<(bool, String)> {
    let bin = require_peer("promtool")?;
    let out = common::fed(Command::new(bin).args(["check", "metrics"]), page);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), said))
}

/// Prometheus in `ns`, scraping the metrics endpoint every second.
fn prometheus(ns: &Netns, tmp: &TempDir) -> Option<Proc> {
    let bin = require_peer("prometheus")?;
    let config = tmp.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ntpd\n    static_configs:\n      - targets: ['{}']\n",
            metrics_addr()
        ),
    );
    let data = tmp.path().join("prometheus-data");
    Some(ns.spawn(
        tmp,
        &[
            bin.to_str().unwrap(),
            &format!("--config.file={config}"),
            &format!("--storage.tsdb.path={}", data.display()),
            "--web.listen-address=127.0.0.1:9090",
        ],
    ))
}

/// Prometheus' instant query API: the JSON answer once it has a result, None after 30 s.
fn query(ns: &Netns, expr: &str) -> Option<String> {
    let api: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let path = format!("/api/v1/query?query={expr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, body)) = http_get(ns, api, &path) {
            if !body.contains("\"result\":[]") {
                return Some(body);
            }
        }
        sleep(Duration::from_millis(250));
    }
    None
}

/// The sample values in a query answer (`"value":[TIME,"V"]`).
fn values(json: &str) -> Vec<&str> {
    json.split("\"value\":[")
        .skip(1)
        .filter_map(|v| v.split('"').nth(1))
        .collect()
}

#[test]
fn prometheus_scrapes_the_rhel6_local_clock_server() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = rhel6_conf(&tmp);
    let mut d = ntpd(&ns, &tmp, &conf, &["--metrics", "127.0.0.1:9975"]);
    wait_for_stratum(&ns, "127.0.0.1:123".parse().unwrap(), 11, STARTUP);
    let page = page_when(&ns, |p| value(p, "ntp_sync_status") == Some("1"), &mut d);
    assert_eq!(value(&page, "ntp_stratum"), Some("11"), "{page}");
    assert!(page.contains(
        "ntp_source_reason_info{source=\"LOCAL(0)\",refid=\"LOCL\",reason=\"system peer\"} 1"
    ));

    // The page agrees with ntpq.
    let rv = ns.run(
        &tmp,
        &[NTPQ, "-c", "rv 0 stratum,leap", "127.0.0.1"],
        STARTUP,
    );
    assert!(rv.stdout.contains("stratum=11"), "{rv:?}");
    let peers = ns.run(&tmp, &[NTPQ, "-p", "127.0.0.1"], STARTUP);
    let row = peers
        .stdout
        .lines()
        .find(|l| l.contains("LOCAL(0)"))
        .unwrap();
    let reach = u64::from_str_radix(row.split_whitespace().nth(6).unwrap(), 8).unwrap();
    let page_reach: u64 = page
        .lines()
        .find_map(|l| l.strip_prefix("ntp_source_reach{source=\"LOCAL(0)\",refid=\"LOCL\"} "))
        .unwrap()
        .parse()
        .unwrap();
    // The register may shift between the two reads (one poll every 64 s).
    assert!(
        page_reach == reach || page_reach * 2 + 1 == reach,
        "{row} vs {page_reach}"
    );

    let Some((ok, said)) = promtool(&page) else {
        return;
    };
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{page}"
    );

    let Some(_prom) = prometheus(&ns, &tmp) else {
        return;
    };
    let started = Instant::now();
    let stratum = query(&ns, "ntp_stratum").expect("Prometheus never had ntp_stratum");
    eprintln!(
        "Prometheus had the first scrape after {:?}",
        started.elapsed()
    );
    assert!(stratum.contains("\"job\":\"ntpd\""), "{stratum}");
    assert_eq!(values(&stratum), ["11"], "{stratum}");
    let sync = query(&ns, "ntp_sync_status").unwrap();
    assert_eq!(values(&sync), ["1"], "{sync}");
    let selected = query(&ns, "ntp_source_selected").unwrap();
    assert!(selected.contains("\"source\":\"LOCAL(0)\""), "{selected}");
    assert_eq!(values(&selected), ["1"], "{selected}");
    let reason = query(&ns, "ntp_source_reason_info").unwrap();
    assert!(reason.contains("\"reason\":\"system peer\""), "{reason}");
    assert!(d.is_alive(), "ntpd died under scraping\n{}", d.describe());
}

#[test]
fn an_unreachable_only_server_shows_unsynchronised_and_why() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    // Nothing listens on 127.0.0.2:123 in the namespace: every request is refused.
    let conf = tmp.write("ntp.conf", "server 127.0.0.2 iburst\nrestrict 127.0.0.1\n");
    let mut d = ntpd(&ns, &tmp, &conf, &["--metrics", "9975"]);
    let page = page_when(&ns, |p| p.contains("reason=\"unreachable"), &mut d);
    assert_eq!(value(&page, "ntp_sync_status"), Some("0"), "{page}");
    assert_eq!(value(&page, "ntp_stratum"), Some("16"), "{page}");
    let reason = page
        .lines()
        .find(|l| l.starts_with("ntp_source_reason_info{source=\"127.0.0.2\""))
        .unwrap();
    assert!(
        reason.contains("refid=\"INIT\",reason=\"unreachable: no reply to any of its "),
        "{reason}"
    );
    assert!(page.contains("ntp_source_selectable{source=\"127.0.0.2\",refid=\"INIT\"} 0"));
    if let Some((ok, said)) = promtool(&page) {
        assert!(ok, "promtool check metrics:\n{said}");
    }

    // ntp-wait gives up after its tries.
    let started = Instant::now();
    let out = ns.run(&tmp, &[NTP_WAIT, "-v", "-n", "2", "-s", "1"], STARTUP);
    eprintln!(
        "ntp-wait -n 2 -s 1 on an unsynchronised daemon: {:?}",
        started.elapsed()
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout.ends_with("No!\nntpd did not synchronize.\n"),
        "{out:?}"
    );
}

#[test]
fn ntp_wait_returns_once_synchronised() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let out = ns.run(&tmp, &[NTP_WAIT, "-n", "3", "-s", "1"], STARTUP);
    assert_eq!(out.code, Some(1), "no daemon: {out:?}");
    let conf = tmp.write("ntp.conf", common::LOCAL_CONF);
    let _d = ntpd(&ns, &tmp, &conf, &[]);
    wait_for_stratum(&ns, "127.0.0.1:123".parse().unwrap(), 11, STARTUP);
    let started = Instant::now();
    let out = ns.run(&tmp, &[NTP_WAIT, "-v", "-n", "5", "-s", "1"], STARTUP);
    eprintln!("ntp-wait on a synchronised daemon: {:?}", started.elapsed());
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "Waiting for ntpd to synchronize...  \x08OK!\n");
}

/// Every datagram `listener` receives until `until` holds for the collection, or 10 s.
fn notifications(
    listener: &UnixDatagram,
    got: &mut Vec<(Duration, String)>,
    start: Instant,
    until: impl Fn(&[(Duration, String)]) -> bool,
) {
    let mut buf = [0u8; 4096];
    while !until(got) && start.elapsed() < Duration::from_secs(10) {
        if let Ok(n) = listener.recv(&mut buf) {
            got.push((
                start.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let socket = tmp.path().join("notify");
    let listener = UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let conf = tmp.write("ntp.conf", common::LOCAL_CONF);
    let notify = format!("NOTIFY_SOCKET={}", socket.display());
    let start = Instant::now();
    let mut d = ns.spawn(
        &tmp,
        &[
            "env",
            &notify,
            "WATCHDOG_USEC=1000000",
            NTPD,
            "-n",
            "-c",
            &conf,
            "--virtual-clock",
            "0",
        ],
    );
    let mut got = Vec::new();
    let has = |got: &[(Duration, String)], what: &str| got.iter().any(|(_, m)| m.contains(what));
    notifications(&listener, &mut got, start, |g| {
        has(g, "READY=1") && g.iter().filter(|(_, m)| m == "WATCHDOG=1").count() >= 3
    });
    let ready = got.iter().find(|(_, m)| m.starts_with("READY=1\n"));
    let (after, message) = ready.unwrap_or_else(|| panic!("no READY=1: {got:?}\n{}", d.describe()));
    eprintln!("READY=1 {after:?} after start: {message:?}");
    assert!(*after < Duration::from_secs(5), "READY=1 after {after:?}");
    assert!(
        message.contains(&format!("\nMAINPID={}\n", d.pid())),
        "{message:?}"
    );
    let watchdogs: Vec<Duration> = got
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(watchdogs.len() >= 3, "{got:?}");
    // LOCAL(0) is selected at once: the status names it (at READY or just after).
    notifications(&listener, &mut got, start, |g| {
        has(g, "STATUS=synchronised to LOCAL(0)")
    });
    assert!(
        has(
            &got,
            "STATUS=synchronised to LOCAL(0) at stratum 11, offset "
        ),
        "{got:?}"
    );
    d.stop();
    notifications(&listener, &mut got, start, |g| has(g, "STOPPING=1"));
    let stopping = got.iter().find(|(_, m)| m.starts_with("STOPPING=1"));
    assert_eq!(
        stopping.map(|(_, m)| m.as_str()),
        Some("STOPPING=1\nSTATUS=exiting on signal 15"),
        "{got:?}"
    );
}

#[test]
fn the_example_alert_rules_fire_when_meant() {
    let Some(bin) = require_peer("promtool") else {
        return;
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/prometheus");
    for args in [
        ["check", "rules", "ntp-alerts.yml"],
        ["test", "rules", "ntp-alerts.test.yml"],
    ] {
        let out = Command::new(&bin)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_endpoint_bounds_connections_requests_and_time() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = tmp.write("ntp.conf", common::LOCAL_CONF);
    let mut d = ntpd(&ns, &tmp, &conf, &["--metrics", "9975"]);
    page_when(&ns, |p| p.contains("ntp_stratum"), &mut d);
    let open = || common::tcp_connect(&ns, metrics_addr(), Duration::from_secs(7)).unwrap();
    // A slow loris: 17 connections that never finish their request. The 17th closes the
    // oldest; a real scrape still gets through, and closes another.
    let started = Instant::now();
    let mut loris: Vec<std::net::TcpStream> = (0..17).map(|_| open()).collect();
    for s in &mut loris {
        s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    }
    let mut buf = [0u8; 64];
    use std::io::Read;
    assert_eq!(loris[0].read(&mut buf).unwrap_or(0), 0, "oldest not closed");
    let (code, page) = http_get(&ns, metrics_addr(), "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("ntp_sync_status 1"));
    // The others are closed 5 s after they were accepted, however slowly they talk.
    let last = loris.last_mut().unwrap();
    let closed = last.read(&mut buf).unwrap_or(0) == 0;
    let after = started.elapsed();
    eprintln!("slow connection closed by the server after {after:?}");
    assert!(closed && after < Duration::from_secs(7), "{after:?}");
    // A head over 4 KiB gets 431; anything but /metrics 404.
    let mut big = open();
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(5000));
    let _ = big.write_all(huge.as_bytes());
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    assert_eq!(http_get(&ns, metrics_addr(), "/").unwrap().0, 404);
    assert!(d.is_alive());
}
