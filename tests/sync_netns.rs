//! Our ntpd as a client of real servers, and real clients of ours, on the reference LAN
//! (network namespaces; every daemon without CAP_SYS_TIME, our client on a virtual clock):
//! it steps a 3 s error away and serves upstream stratum + 1 within 30 s, whatever the
//! upstream (our own LOCAL server, NTPsec, chronyd); chronyd and NTPsec select it; and a
//! server 2 s wrong among three good ones is a falseticker that never moves the clock.
mod common;

use common::{ntpdig, require_peer, LanLab, Seen, CLIENT, CLIENT2, SERVER};
use std::time::{Duration, Instant};

/// The bound on the time from start to a stepped, serving client.
const SYNC_WITHIN: Duration = Duration::from_secs(30);

/// `enable ntp` on a virtual clock (`--virtual-clock 0`): with `disable ntp` it would stay
/// unsynchronised (leap 11), as classic does, and serve no one.
const LOCAL_SERVER: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

type Lab = LanLab;

impl Lab {
    /// NTPsec's ntpd in orphan mode (stratum 10) at `addr`; None = skipped.
    fn ntpsec_server(&mut self, addr: &str) -> Option<()> {
        let conf = "tos orphan 10 orphanwait 1\ndisable ntp\ndisable kernel\n";
        let p = common::spawn_ntpsec(self.host(addr), &self.tmp, conf)?;
        self.procs.push(p);
        Some(())
    }

    /// Our ntpd on the client host, 3 s fast and drifting 20 PPM (virtual clock), with a
    /// drift file as any running RHEL6 box has.
    fn client(&mut self, servers: &[&str], vclock: &str) -> usize {
        let drift = self.tmp.write("client.drift", "0.000\n");
        let mut conf = format!("driftfile {drift}\n");
        for s in servers {
            conf.push_str(&format!("server {s} iburst\n"));
        }
        self.ours(CLIENT, &conf, Some(vclock))
    }

    /// Polls the client until it serves `stratum` (or time is up), then asks ntpdig what
    /// it sees; also returns when the stratum was first served.
    fn wait_client_stratum(&self, stratum: u8, started: Instant) -> Option<(Seen, Duration)> {
        let addr = common::ntp_addr("127.0.0.1");
        let took = loop {
            let served = common::wait_for_ntp(&self.lan.client, addr, Duration::from_secs(2))
                .is_ok_and(|r| r.header.stratum == stratum);
            if served || started.elapsed() > SYNC_WITHIN * 2 {
                break started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let seen = ntpdig(&self.lan.client, &self.tmp, "127.0.0.1")?;
        Some((seen, took))
    }

    fn log(&self, index: usize) -> String {
        self.procs[index].describe()
    }

    /// Our ntpq -pn against the client's daemon.
    fn peers_table(&self) -> String {
        let out = self.lan.client.run(
            &self.tmp,
            &[env!("CARGO_BIN_EXE_ntpq"), "-pn", "127.0.0.1"],
            Duration::from_secs(10),
        );
        out.stdout
    }
}

/// Starts our client against `upstream` (already running) and checks the bound.
fn steps_and_serves(lab: &mut Lab, upstream_stratum: u8) {
    let started = Instant::now();
    let client = lab.client(&[SERVER], "3.0,20");
    let Some((seen, took)) = lab.wait_client_stratum(upstream_stratum + 1, started) else {
        return;
    };
    let log = lab.log(client);
    eprintln!(
        "client served stratum {} after {took:?}, offset {:+.6} s",
        seen.stratum, seen.offset
    );
    assert_eq!(seen.stratum, upstream_stratum + 1, "{log}");
    assert!(took <= SYNC_WITHIN, "took {took:?}\n{log}");
    assert!(seen.offset.abs() < 0.010, "offset {}\n{log}", seen.offset);
    // One step of the 3 s error ("time reset -2.999982 s": the sample it acted on may be
    // off by the LAN's tens of microseconds).
    let steps = common::logged_steps(&log);
    assert_eq!(steps.len(), 1, "not one step\n{log}");
    assert!((steps[0] + 3.0).abs() < 0.01, "stepped {}\n{log}", steps[0]);
}

#[test]
fn client_of_our_local_server() {
    let Some(mut lab) = Lab::new() else { return };
    lab.ours(SERVER, LOCAL_SERVER, Some("0"));
    steps_and_serves(&mut lab, 11);
}

#[test]
fn client_of_ntpsec() {
    let Some(mut lab) = Lab::new() else { return };
    if lab.ntpsec_server(SERVER).is_none() {
        return;
    }
    steps_and_serves(&mut lab, 10);
}

#[test]
fn client_of_chronyd() {
    let Some(mut lab) = Lab::new() else { return };
    if lab.chronyd_server(SERVER).is_none() {
        return;
    }
    steps_and_serves(&mut lab, 10);
}

#[test]
fn chronyd_and_ntpsec_select_our_server() {
    let Some(mut lab) = Lab::new() else { return };
    lab.ours(SERVER, LOCAL_SERVER, Some("0"));
    let Some(chronyd) = require_peer("chronyd") else {
        return;
    };
    let dir = lab.tmp.path().join("chrony-client");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = lab.tmp.write(
        "chrony-client.conf",
        &format!(
            "server {SERVER} iburst\ncmdport 0\nbindcmdaddress /\npidfile {}/pid\n",
            dir.display()
        ),
    );
    let argv = [
        chronyd.to_str().unwrap(),
        "-d",
        "-x",
        "-u",
        "root",
        "-f",
        &conf,
    ];
    let p = lab.lan.client.spawn(&lab.tmp, &argv);
    lab.procs.push(p);
    let chrony = lab.procs.len() - 1;
    // NTPsec answers ntpq on loopback only with an explicit restrict line.
    let conf = format!(
        "restrict default nomodify\nrestrict 127.0.0.1\nserver {SERVER} iburst\n\
         disable ntp\ndisable kernel\n"
    );
    if common::spawn_ntpsec(&lab.lan.client2, &lab.tmp, &conf)
        .map(|p| lab.procs.push(p))
        .is_none()
    {
        return;
    }
    let deadline = Instant::now() + SYNC_WITHIN * 2;
    let (mut chrony_ok, mut ntpsec_ok, mut table) = (false, false, String::new());
    while Instant::now() < deadline && !(chrony_ok && ntpsec_ok) {
        std::thread::sleep(Duration::from_secs(1));
        chrony_ok |= lab
            .log(chrony)
            .contains(&format!("Selected source {SERVER}"));
        let out = lab.lan.client2.run(
            &lab.tmp,
            &[env!("CARGO_BIN_EXE_ntpq"), "-pn", "127.0.0.1"],
            Duration::from_secs(10),
        );
        table = format!("{}{}", out.stdout, out.stderr);
        ntpsec_ok |= table.lines().any(|l| l.starts_with(&format!("*{SERVER}")));
    }
    assert!(chrony_ok, "chronyd never selected us\n{}", lab.log(chrony));
    let ntpsec = lab.log(lab.procs.len() - 1);
    assert!(ntpsec_ok, "NTPsec never selected us:\n{table}\n{ntpsec}");
}

#[test]
fn server_two_seconds_wrong_is_a_falseticker() {
    let Some(mut lab) = Lab::new() else { return };
    lab.ours(SERVER, LOCAL_SERVER, Some("0"));
    if lab.ntpsec_server(CLIENT2).is_none() {
        return;
    }
    let third = lab.add_host();
    if lab.chronyd_server(&third).is_none() {
        return;
    }
    let liar = lab.add_host();
    lab.ours(&liar, LOCAL_SERVER, Some("2.0"));
    let started = Instant::now();
    let client = lab.client(&[SERVER, CLIENT2, &third, &liar], "0.0");
    let deadline = started + SYNC_WITHIN * 2;
    let mut table = String::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        table = lab.peers_table();
        let liar_row = table.lines().find(|l| l[1..].starts_with(liar.as_str()));
        let sys_peer = table.lines().any(|l| l.starts_with('*'));
        if liar_row.is_some_and(|l| l.starts_with('x')) && sys_peer {
            break;
        }
    }
    let log = lab.log(client);
    eprintln!("{table}");
    let liar_row = table
        .lines()
        .find(|l| l.len() > 1 && l[1..].starts_with(liar.as_str()));
    assert!(
        liar_row.is_some_and(|l| l.starts_with('x')),
        "the liar is not a falseticker:\n{table}\n{log}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with('*') && !l.contains(liar.as_str())),
        "no system peer among the good servers:\n{table}"
    );
    let seen = ntpdig(&lab.lan.client, &lab.tmp, "127.0.0.1").unwrap();
    assert!(
        seen.offset.abs() < 0.010,
        "the clock moved: {seen:?}\n{log}"
    );
    assert!(
        !log.contains("time reset"),
        "the liar stepped the clock\n{log}"
    );
}
