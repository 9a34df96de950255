//! NMEA reference clock (127.127.20.0) over a pseudo-terminal: a fake receiver writes
//! GPRMC/GPGGA sentences of the current time 50 ms after each second, some with a broken
//! checksum; `fudge time2 0.050` names that serial delay. Our ntpd (virtual clock at true
//! time) must select GPS_NMEA(0), see it within 10 ms of the writer's clock, count and
//! ignore the bad checksums, and write clockstats lines as classic.

mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant};

const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");

fn ntpq(ns: &Netns, tmp: &TempDir, args: &[&str]) -> String {
    let mut argv = vec![NTPQ];
    argv.extend_from_slice(args);
    argv.push("127.0.0.1");
    ns.run(tmp, &argv, Duration::from_secs(5)).stdout
}

/// The offset column (ms) of `ntpq -p`'s row for `name` if it has the `*` tally.
fn selected_offset(peers: &str, name: &str) -> Option<f64> {
    let row = peers.lines().find(|l| l.starts_with(&format!("*{name}")))?;
    row.split_whitespace().nth(8)?.parse().ok()
}

fn cv_number(cv: &str, name: &str) -> Option<u64> {
    cv.split([',', '\n'])
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn nmea_over_a_pty_is_selected_within_10_ms_and_bad_checksums_are_counted() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let receiver = NmeaPty::start(Duration::from_millis(50), 4);
    let stats = tmp.path().join("stats");
    std::fs::create_dir_all(&stats).unwrap();
    let conf = format!(
        "server 127.127.20.0 minpoll 4 maxpoll 4 mode 1 path {}\n\
         fudge 127.127.20.0 time2 0.050 flag1 1\n\
         server 127.127.20.1 path /nonexistent/gps1\n\
         server 127.127.8.0 mode 5\n\
         statsdir {}/\n\
         statistics clockstats\n",
        receiver.path,
        stats.display()
    );
    let ours = spawn_ours(&ns, &tmp, "ntp.conf", &conf, Some("0"));
    let start = Instant::now();
    let mut offset = None;
    let mut peers = String::new();
    while start.elapsed() < Duration::from_secs(60) && offset.is_none() {
        thread::sleep(Duration::from_millis(500));
        peers = ntpq(&ns, &tmp, &["-p"]);
        offset = selected_offset(&peers, "GPS_NMEA(0)");
    }
    let cv = ntpq(&ns, &tmp, &["-c", "cv &1"]);
    eprintln!("ntpq -p:\n{peers}\nntpq -c cv:\n{cv}");
    let offset =
        offset.unwrap_or_else(|| panic!("GPS_NMEA(0) never selected\n{}", ours.describe()));
    eprintln!(
        "GPS_NMEA(0) selected after {:.1} s, offset {offset:+.3} ms after time2",
        start.elapsed().as_secs_f64()
    );
    assert!(offset.abs() < 10.0, "offset {offset} ms\n{peers}");
    assert!(peers.contains(".GPS."), "{peers}");
    // Our clock (served to a client) agrees with the writer's (this machine's) clock.
    let reply = wait_for_stratum(&ns, ntp_addr("127.0.0.1"), 1, Duration::from_secs(5));
    let served = reply.offset().to_secs_f64() * 1000.0;
    eprintln!("served stratum 1, our clock {served:+.3} ms from the writer's");
    assert!(served.abs() < 10.0, "{served} ms");
    // Bad checksums: counted, said once, never a sample.
    assert!(
        receiver
            .corrupted
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    assert!(cv_number(&cv, "badformat").unwrap_or(0) >= 2, "{cv}");
    assert!(cv.contains("timecode=\"$GPRMC,"), "{cv}");
    assert!(cv.contains("device=\"NMEA GPS Clock\""), "{cv}");
    let log = ours.stderr();
    assert_eq!(
        log.matches("GPS_NMEA(0): reading refused: bad checksum")
            .count(),
        1,
        "{log}"
    );
    // flag1 asks for the pulse of the receiver's line; a pty has none, so the log says so
    // once and the serial time is used alone (as classic when its PPSAPI fails).
    assert_eq!(
        log.matches("GPS_NMEA(0): flag1: no /dev/gpspps0 and no PPS device on /dev/pts/")
            .count(),
        1,
        "{log}"
    );
    // A driver type the daemon does not run is said once at start, naming the driver.
    let unsupported: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not supported"))
        .collect();
    assert_eq!(unsupported.len(), 1, "{log}");
    assert!(
        unsupported[0].contains("ntp.conf:4: refclock type 8 (GENERIC) is not supported"),
        "{log}"
    );
    assert!(
        log.contains("GPS_NMEA(1): no samples: no device /nonexistent/gps1"),
        "{log}"
    );
    let clockstats: String = std::fs::read_dir(&stats)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("clockstats"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        clockstats
            .lines()
            .any(|l| l.contains(" 127.127.20.0 $GPRMC,")),
        "clockstats: {clockstats:?}"
    );
}
