//! Statistics files during a real run: our ntpd on the reference LAN's client
//! (172.25.0.12, virtual clock) syncs to our ntpd serving LOCAL(0) on the server
//! (172.25.0.11), with `statistics loopstats peerstats`; the lines it writes must have
//! classic 4.2.6p5's layouts (`record_loop_stats`: `MJD SECS %.9f %.3f %.9f %.6f %d`;
//! `record_peer_stats`: `MJD SECS ADDR %x %.9f %.9f %.9f %.9f`), in day files named
//! `NAME.YYYYMMDD` with the plain name linked to the current one.

mod common;

use common::{Lan, TempDir, LOCAL_CONF, SERVER};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// `digits` then `.` then exactly `decimals` digits, with an optional minus sign.
fn fixed(word: &str, decimals: usize, signed: bool) -> bool {
    let body = if signed {
        word.strip_prefix('-').unwrap_or(word)
    } else {
        word
    };
    let Some((int, frac)) = body.split_once('.') else {
        return false;
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() == decimals
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The MJD and seconds past midnight of the real clock now.
fn mjd_now() -> (u64, f64) {
    let t = common::now();
    let (day, into_day) = ntp6::time::civil::mjd(t);
    let secs = into_day as f64 + f64::from(t.to_unix().1) * 1e-9;
    (day as u64, secs)
}

fn check_stamp(fields: &[&str], line: &str) {
    let (day, secs) = mjd_now();
    assert_eq!(fields[0].parse::<u64>().ok(), Some(day), "MJD in {line:?}");
    assert!(fixed(fields[1], 3, false), "seconds in {line:?}");
    let at: f64 = fields[1].parse().unwrap();
    // Written within the last minute (the virtual clock is 0.2 s ahead); not across midnight.
    assert!(
        secs < 60.0 || (secs - at).abs() < 90.0,
        "time {at} vs now {secs}: {line:?}"
    );
}

fn check_loopstats(line: &str) {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 7, "{line:?}");
    check_stamp(&f, line);
    assert!(fixed(f[2], 9, true), "offset in {line:?}");
    assert!(fixed(f[3], 3, true), "frequency in {line:?}");
    assert!(fixed(f[4], 9, false), "jitter in {line:?}");
    assert!(fixed(f[5], 6, false), "wander in {line:?}");
    assert!(
        f[6].parse::<i8>().is_ok_and(|p| (3..=17).contains(&p)),
        "poll in {line:?}"
    );
}

fn check_peerstats(line: &str) {
    let f: Vec<&str> = line.split(' ').collect();
    assert_eq!(f.len(), 8, "{line:?}");
    check_stamp(&f, line);
    assert_eq!(f[2], SERVER, "{line:?}");
    let status = u16::from_str_radix(f[3], 16).expect("hex status");
    assert_eq!(
        format!("{status:x}"),
        f[3],
        "status printed as %x: {line:?}"
    );
    assert_ne!(status & 0x1000, 0, "reachable bit in {line:?}");
    assert!(fixed(f[4], 9, true), "offset in {line:?}");
    for (i, what) in [(5, "delay"), (6, "dispersion"), (7, "jitter")] {
        assert!(fixed(f[i], 9, false), "{what} in {line:?}");
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn loopstats_and_peerstats_in_classic_format() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let lan = Lan::new();
    let Some(mut server) = common::start_ntpd(&lan.server, &tmp, LOCAL_CONF, None) else {
        return;
    };
    let stats = tmp.path().join("stats");
    fs::create_dir_all(&stats).unwrap();
    let conf = tmp.write(
        "client.conf",
        &format!(
            "server {SERVER} iburst minpoll 4 maxpoll 4\n\
             statsdir {}/\n\
             statistics loopstats peerstats\n\
             filegen peerstats file peerstats type day link enable\n\
             driftfile {}/drift\n",
            stats.display(),
            tmp.path().display()
        ),
    );
    let ntpd = env!("CARGO_BIN_EXE_ntpd");
    let mut client = lan
        .client
        .spawn(&tmp, &[ntpd, "-n", "-c", &conf, "--virtual-clock", "0.2"]);
    let (loop_file, peer_file) = (stats.join("loopstats"), stats.join("peerstats"));
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && (lines(&loop_file).is_empty() || lines(&peer_file).len() < 3)
    {
        assert!(client.is_alive(), "client died\n{}", client.describe());
        std::thread::sleep(Duration::from_millis(500));
    }
    server.assert_alive();
    let (loops, peers) = (lines(&loop_file), lines(&peer_file));
    assert!(
        !loops.is_empty() && peers.len() >= 3,
        "no statistics within {WAIT:?}: loopstats {loops:?} peerstats {peers:?}\n{}",
        client.describe()
    );
    loops.iter().for_each(|l| check_loopstats(l));
    peers.iter().for_each(|l| check_peerstats(l));

    // Day files: NAME.YYYYMMDD, the plain name a hard link to it.
    let t = common::now().to_unix().0;
    let c = ntp6::time::civil::Civil::from_unix(t);
    let suffix = format!("{:04}{:02}{:02}", c.year, c.month + 1, c.day);
    let day_file = stats.join(format!("loopstats.{suffix}"));
    let (a, b) = (fs::metadata(&day_file), fs::metadata(&loop_file));
    assert!(
        a.is_ok() && b.is_ok() && a.unwrap().ino() == b.unwrap().ino(),
        "loopstats is not a link to {day_file:?}: {:?}",
        fs::read_dir(&stats)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
}
