//! The timekeeping table of issue 11, measured on real processes: every client is our
//! ntpd started cold (no drift file) on a virtual clock in its own network namespace on
//! the reference LAN, against real upstreams (our LOCAL(0) server, chronyd, a liar, a
//! scripted Windows-like server), and watched from outside with mode 3 queries every
//! 100 ms (our packets, stamped by the real clock, which the servers serve) and ntpdig.
//! All seven rows run at once in one lab, so the file takes about two minutes.
//!
//! Asserted: the rows this start-up work delivers (row 4: serving upstream stratum + 1
//! in under 4 s; a falseticker never selected, never stepping the clock; no server ever
//! sent two requests less than 2 s apart) and, for the other rows, that the client serves
//! its upstream's stratum + 1 within a generous bound. Every figure is printed beside its
//! goal; the rows that also need the fast discipline (no 900 s wait after a start-up step,
//! fast slewing) say whether they meet their goal without failing the test.
mod common;

use common::{
    ntp_addr, query, require_peer, socket_for, Advertised, LanLab, Netns, Scripted, CLIENT,
    CLIENT2, SERVER,
};
use ntp6::time::NtpDuration;
use ntp6::wire::ntp::{Leap, RefId};
use std::time::{Duration, Instant};

/// Our LOCAL(0) server: stratum 10, so it serves 11, from the host's (true) clock.
/// `enable ntp` on a virtual clock (`--virtual-clock 0`): with `disable ntp` it would stay
/// unsynchronised (leap 11), as classic does, and serve no one.
const LOCAL_SERVER: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";
const OURS_STRATUM: u8 = 11;
const CHRONY_STRATUM: u8 = 10;
/// What the scripted Windows-like server claims: stratum 3 with 3 s of root dispersion
/// (the right time otherwise, as w32time answers).
const WINDOWS_STRATUM: u8 = 3;
fn windows_like() -> Advertised {
    Advertised {
        stratum: WINDOWS_STRATUM,
        precision: -23,
        root_delay: NtpDuration::from_secs_f64(0.0005),
        root_dispersion: NtpDuration::from_secs_f64(3.0),
        refid: RefId([192, 0, 2, 1]),
        reference_age: NtpDuration::from_secs_f64(30.0),
    }
}
/// How often the watchers query a client.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// "Serves eventually": the bound asserted for rows whose goal is not this work's.
const EVENTUALLY: Duration = Duration::from_secs(60);
/// Row 3 keeps watching this long after the client first got it right.
const STAYS_RIGHT_FOR: Duration = Duration::from_secs(30);
/// Row 6 samples the offset with ntpdig for this long.
const RMS_WINDOW: Duration = Duration::from_secs(60);
/// Tolerance on the 2 s request spacing (network and timer jitter on the LAN).
const SPACING_SLACK: Duration = Duration::from_millis(50);

/// One query's view of a client: what it serves and how far its clock is from true time.
#[derive(Clone, Copy, Debug)]
struct Probe {
    at: Duration,
    stratum: u8,
    synchronised: bool,
    /// Client clock minus true time (s).
    offset: f64,
}

impl Probe {
    fn serves(&self, stratum: u8, within: f64) -> bool {
        self.synchronised && self.stratum == stratum && self.offset.abs() < within
    }
}

/// Queries our daemon on 127.0.0.1 in `ns` every [`PROBE_EVERY`] from `started` until
/// `done` says so or `limit` has passed since `started`.
fn watch(
    ns: &Netns,
    started: Instant,
    limit: Duration,
    mut done: impl FnMut(&[Probe]) -> bool,
) -> Vec<Probe> {
    let addr = ntp_addr("127.0.0.1");
    let sock = socket_for(ns, addr);
    let mut probes = Vec::new();
    while started.elapsed() < limit && !done(&probes) {
        let asked = Instant::now();
        if let Some(r) = query(&sock, addr, Duration::from_millis(80)) {
            probes.push(Probe {
                at: started.elapsed(),
                stratum: r.header.stratum,
                synchronised: r.header.leap != Leap::Unsync,
                offset: r.offset().to_secs_f64(),
            });
        }
        std::thread::sleep(PROBE_EVERY.saturating_sub(asked.elapsed()));
    }
    probes
}

/// When the client first served `stratum` within `within` of true time.
fn first_serving(probes: &[Probe], stratum: u8, within: f64) -> Option<Duration> {
    probes
        .iter()
        .find(|p| p.serves(stratum, within))
        .map(|p| p.at)
}

type Lab = LanLab;

impl Lab {
    /// Waits until the server at `addr` serves `stratum` (asked from its own namespace).
    fn server_ready(&self, addr: &str, stratum: u8) {
        common::wait_for_stratum(
            self.host(addr),
            ntp_addr("127.0.0.1"),
            stratum,
            Duration::from_secs(20),
        );
    }

    fn log(&self, index: usize) -> String {
        self.procs[index].describe()
    }

    /// ntpdig run from the LAN server's namespace against `addr`: (stratum, offset), or
    /// None while the daemon serves no time (ntpdig refuses an unsynchronised answer).
    fn dig(&self, addr: &str) -> Option<(u8, f64)> {
        let bin = common::peer("ntpdig")?;
        let out = self
            .lan
            .server
            .run(&self.tmp, &[bin.to_str()?, addr], common::CLIENT_TIMEOUT);
        let seen = common::parse_ntpdig(&out.stdout).filter(|_| out.code == Some(0))?;
        Some((seen.stratum, seen.offset))
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn rms(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some((values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64).sqrt())
}

/// Whom a row's client asks.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    Ours,
    Chronyd,
    /// Our two LOCAL(0) servers, chronyd and the liar.
    FourWithLiar,
    Windows,
}

/// One client row of the table (row 6 continues row 5's client).
struct Row {
    row: usize,
    what: &'static str,
    goal: Duration,
    upstream: Upstream,
    conf: &'static str,
    vclock: &'static str,
    /// The stratum the client serves once synchronised.
    stratum: u8,
    /// How close to true time counts as there (s).
    within: f64,
    /// How long to keep watching once there.
    then: Duration,
}

const fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

const ROWS: [Row; 6] = [
    Row {
        row: 1,
        what: "0.5 s slow, chronyd: stepped, serving s11 within 10 ms",
        goal: s(12),
        upstream: Upstream::Chronyd,
        conf: "",
        vclock: "-0.5",
        stratum: CHRONY_STRATUM + 1,
        within: 0.010,
        then: s(0),
    },
    Row {
        row: 2,
        what: "3 s fast, +20 PPM, our LOCAL(0) server: s12 within 10 ms",
        goal: s(15),
        upstream: Upstream::Ours,
        conf: "",
        vclock: "3.0,20",
        stratum: OURS_STRATUM + 1,
        within: 0.010,
        then: s(0),
    },
    Row {
        row: 3,
        what: "four servers, one 2 s wrong, 0.3 s fast: right, stays right",
        goal: s(20),
        upstream: Upstream::FourWithLiar,
        conf: "",
        vclock: "0.3",
        // chronyd's stratum is the lowest of the three good servers.
        stratum: CHRONY_STRATUM + 1,
        within: 0.010,
        then: STAYS_RIGHT_FOR,
    },
    Row {
        row: 4,
        what: "on time, iburst: serving stratum + 1",
        goal: s(4),
        upstream: Upstream::Ours,
        conf: "",
        vclock: "0.0",
        stratum: OURS_STRATUM + 1,
        within: 0.010,
        then: s(0),
    },
    Row {
        row: 5,
        what: "50 ms fast, +20 PPM, slew only: |offset| < 1 ms",
        goal: s(60),
        upstream: Upstream::Ours,
        conf: "",
        vclock: "0.05,20",
        stratum: OURS_STRATUM + 1,
        within: 0.001,
        then: s(0),
    },
    Row {
        row: 7,
        what: "Windows-like upstream (3 s root disp), maxdist 16, 50 ms off",
        goal: s(40),
        upstream: Upstream::Windows,
        conf: "tos maxdist 16\n",
        vclock: "0.05",
        stratum: WINDOWS_STRATUM + 1,
        within: 0.010,
        then: s(0),
    },
];

/// The upstream servers, running.
struct Servers {
    second: String,
    liar: String,
    windows: String,
    scripted: Scripted,
}

impl Servers {
    fn start(lab: &mut Lab) -> Option<Servers> {
        lab.ours(SERVER, LOCAL_SERVER, Some("0"));
        lab.chronyd_server(CLIENT2)?;
        let second = lab.add_host();
        lab.ours(&second, LOCAL_SERVER, Some("0"));
        let liar = lab.add_host();
        lab.ours(&liar, LOCAL_SERVER, Some("2.0"));
        let windows = lab.add_host();
        let windows_sock = lab
            .host(&windows)
            .udp_socket(format!("{windows}:123").parse().expect("address"));
        lab.server_ready(SERVER, OURS_STRATUM);
        lab.server_ready(CLIENT2, CHRONY_STRATUM);
        lab.server_ready(&second, OURS_STRATUM);
        lab.server_ready(&liar, OURS_STRATUM);
        Some(Servers {
            second,
            liar,
            windows,
            // Answering from now on; no client asks it before the rows start.
            scripted: Scripted::start(windows_sock, windows_like()),
        })
    }

    fn of(&self, upstream: Upstream) -> Vec<&str> {
        match upstream {
            Upstream::Ours => vec![SERVER],
            Upstream::Chronyd => vec![CLIENT2],
            Upstream::FourWithLiar => vec![SERVER, CLIENT2, &self.second, &self.liar],
            Upstream::Windows => vec![&self.windows],
        }
    }
}

/// A row's client and what was seen of it.
struct Client {
    row: &'static Row,
    addr: String,
    proc: usize,
    started: Instant,
    probes: Vec<Probe>,
}

impl Client {
    /// When it first served its stratum within the row's limit.
    fn reached(&self) -> Option<Duration> {
        first_serving(&self.probes, self.row.stratum, self.row.within)
    }

    /// When it first served its stratum at all.
    fn served(&self) -> Option<Duration> {
        first_serving(&self.probes, self.row.stratum, f64::INFINITY)
    }

    /// The first offset of 10 ms or more after it was first right.
    fn wrong_after(&self) -> Option<f64> {
        let t = self.reached()?;
        self.probes
            .iter()
            .filter(|p| p.at > t)
            .map(|p| p.offset)
            .find(|o| o.abs() >= 0.010)
    }

    /// Watches until the row's goal is reached (and then for `then`) or time is up.
    fn watch(&mut self, lab: &Lab) {
        let (row, started) = (self.row, self.started);
        self.probes =
            watch(
                lab.host(&self.addr),
                started,
                EVENTUALLY + row.then,
                |p| match first_serving(p, row.stratum, row.within) {
                    Some(t) => p.last().is_some_and(|l| l.at >= t + row.then),
                    None => started.elapsed() >= EVENTUALLY,
                },
            );
    }
}

/// Row 6: the offset as ntpdig sees it from the server's side, once a second.
fn offsets_from_server(lab: &Lab, addr: &str) -> Vec<f64> {
    let from = Instant::now();
    let mut offsets = Vec::new();
    while from.elapsed() < RMS_WINDOW {
        let asked = Instant::now();
        if let Some((_, offset)) = lab.dig(addr) {
            offsets.push(offset);
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(asked.elapsed()));
    }
    offsets
}

/// Starts every row's client (cold: no drift file), each on its own host, row 4 on the
/// LAN's client host, and watches them all at once; returns the row 6 offsets too.
fn run_rows(lab: &mut Lab, servers: &mut Servers) -> (Vec<Client>, Vec<f64>) {
    let mut clients: Vec<Client> = ROWS
        .iter()
        .map(|row| {
            let addr = if row.row == 4 {
                CLIENT.to_string()
            } else {
                lab.add_host()
            };
            Client {
                row,
                addr,
                proc: 0,
                started: Instant::now(),
                probes: Vec::new(),
            }
        })
        .collect();
    for c in &mut clients {
        let conf: String = servers
            .of(c.row.upstream)
            .iter()
            .map(|s| format!("server {s} iburst\n"))
            .chain([c.row.conf.to_string()])
            .collect();
        c.proc = lab.ours(&c.addr, &conf, Some(c.row.vclock));
        c.started = Instant::now();
    }
    let lab = &*lab;
    let rms_offsets = std::thread::scope(|s| {
        let watchers: Vec<_> = clients
            .iter_mut()
            .map(|c| {
                s.spawn(move || {
                    c.watch(lab);
                    if c.row.row == 5 {
                        offsets_from_server(lab, &c.addr)
                    } else {
                        Vec::new()
                    }
                })
            })
            .collect();
        watchers
            .into_iter()
            .flat_map(|w| w.join().expect("watcher"))
            .collect()
    });
    servers.scripted.stop();
    (clients, rms_offsets)
}

/// One printed line of the table.
fn print_row(row: usize, what: &str, goal: &str, measured: &str, met: bool) {
    let verdict = if met { "meets" } else { "misses" };
    eprintln!("row {row}: {what:<62} goal {goal:<9} measured {measured:<34} {verdict}");
}

fn print_table(lab: &Lab, clients: &[Client], rms_offsets: &[f64], liar_selected: bool) {
    eprintln!("issue 11 timekeeping table (cold clients, network namespaces):");
    for c in clients {
        let reached = c.reached();
        let mut met = reached.is_some_and(|t| t < c.row.goal);
        let mut measured = secs(reached);
        let log = lab.log(c.proc);
        match c.row.row {
            1 | 2 => measured += &format!(" ({} step)", common::logged_steps(&log).len()),
            3 => {
                let wrong = c.wrong_after();
                met &= wrong.is_none() && !liar_selected;
                measured += &match wrong {
                    Some(o) => format!(", then {o:+.4} s off"),
                    None if reached.is_some() => ", then stays right".into(),
                    None => String::new(),
                };
            }
            5 => {
                let last = c.probes.last().map_or(f64::NAN, |p| p.offset);
                measured += &format!(" ({last:+.4} s at the end)");
            }
            _ => {}
        }
        let goal = format!("< {} s", c.row.goal.as_secs());
        print_row(c.row.row, c.row.what, &goal, &measured, met);
        if c.row.row == 5 {
            let rms = rms(rms_offsets);
            let measured = rms.map_or("no answers".into(), |r| {
                format!("{:.1} us ({} samples)", r * 1e6, rms_offsets.len())
            });
            let what = "then offset RMS over 60 s (ntpdig from the server)";
            print_row(
                6,
                what,
                "< 100 us",
                &measured,
                rms.is_some_and(|r| r < 100e-6),
            );
        }
    }
    for c in clients {
        if let Some((stratum, offset)) = lab.dig(&c.addr) {
            let row = c.row.row;
            eprintln!(
                "row {row}: ntpdig from the server's side at the end: s{stratum} {offset:+.6} s"
            );
        }
    }
}

#[test]
fn issue_11_table() {
    let Some(mut lab) = Lab::new() else { return };
    if require_peer("ntpdig").is_none() {
        return;
    }
    let Some(mut servers) = Servers::start(&mut lab) else {
        return;
    };
    let (clients, rms_offsets) = run_rows(&mut lab, &mut servers);
    let log = |row: usize| lab.log(clients.iter().find(|c| c.row.row == row).unwrap().proc);
    let row3 = log(3);
    let liar_selected = row3.contains(&format!("synchronized to {},", servers.liar));
    print_table(&lab, &clients, &rms_offsets, liar_selected);
    let windows = clients.iter().find(|c| c.row.row == 7).unwrap();
    let spacing = servers.scripted.min_spacing(&windows.addr);
    if let Some((gap, n)) = spacing {
        eprintln!("row 7: {n} requests reached the scripted server, at least {gap:?} apart");
    }

    // This work's goal: a client on time serves within 4 s of a cold start.
    let row4 = clients.iter().find(|c| c.row.row == 4).unwrap();
    assert!(
        row4.reached().is_some_and(|t| t < row4.row.goal),
        "row 4 took {}\n{}",
        secs(row4.reached()),
        log(4)
    );
    // Never two requests to one server less than 2 s apart.
    let (gap, _) = spacing.expect("the scripted server heard the client");
    assert!(
        gap + SPACING_SLACK >= Duration::from_secs(2),
        "requests {gap:?} apart"
    );
    // The falseticker never takes over and never steps the clock.
    assert!(!liar_selected, "the liar was selected\n{row3}");
    assert!(
        common::logged_steps(&row3).iter().all(|s| s.abs() < 1.0),
        "{row3}"
    );
    for c in &clients {
        let (row, log) = (c.row.row, lab.log(c.proc));
        // Slews below the step threshold; at most one step above it.
        let most = if ["0.0", "0.05", "0.05,20"].contains(&c.row.vclock) {
            0
        } else {
            1
        };
        assert!(
            common::logged_steps(&log).len() <= most,
            "row {row}: stepped too often\n{log}"
        );
        // Serves eventually, and once right stays right.
        assert!(
            c.served().is_some(),
            "row {row}: never served stratum {} in {EVENTUALLY:?}\n{log}",
            c.row.stratum
        );
        assert_eq!(c.wrong_after(), None, "row {row}: went wrong\n{log}");
    }
}
