//! Issue 13's byte-exact points, live: our ntpd with the configuration of classic's
//! "local" scenario (local.txt: LOCAL(0) at stratum 10, `disable ntp`, `disable kernel`)
//! in a fresh namespace, read with our ntpq and ntpdate, compared with what classic
//! 4.2.6p5 printed in the same scenario (../shared/reference/classic-4.2.6p5/).

mod common;
#[path = "control_fixture.rs"]
mod fixture;

use common::{ntp_addr, Netns, Output, Proc, TempDir};
use fixture::{captured, reference};
use ntp6::wire::ntp::Leap;
use std::time::Duration;

const RUN: Duration = Duration::from_secs(30);

/// The configuration of classic's local scenario, from the capture's header (without its
/// drift file, which only names a path of the capture run).
fn classic_local_conf() -> String {
    let text = reference("local.txt");
    let header = text
        .split("# Config file:\n")
        .nth(1)
        .expect("config header");
    header
        .lines()
        .map_while(|l| l.strip_prefix("#   "))
        .filter(|l| !l.starts_with("driftfile"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Our ntpd on the local scenario's configuration, answering on 127.0.0.1.
struct Local {
    _lock: common::Serial,
    tmp: TempDir,
    ns: Netns,
    ntpd: Proc,
}

impl Local {
    fn start() -> Option<Local> {
        let lock = common::setup()?;
        let tmp = TempDir::new();
        let ns = Netns::new();
        let conf = classic_local_conf();
        assert!(conf.contains("disable ntp\n"), "{conf}");
        // The real clock, as classic ran: `disable ntp` must not touch it (and the
        // namespace's processes lack CAP_SYS_TIME anyway).
        let ntpd = common::spawn_ours(&ns, &tmp, "ntp.conf", &conf, None);
        Some(Local {
            _lock: lock,
            tmp,
            ns,
            ntpd,
        })
    }

    fn run(&self, argv: &[&str]) -> Output {
        self.ns.run(&self.tmp, argv, RUN)
    }

    /// Our ntpq with `args`; classic's exit status is always 0.
    fn ntpq(&self, args: &[&str]) -> Output {
        let mut argv = vec![env!("CARGO_BIN_EXE_ntpq")];
        argv.extend_from_slice(args);
        let out = self.run(&argv);
        assert_eq!(out.code, Some(0), "ntpq {args:?}: {out:?}");
        out
    }
}

/// `disable ntp` as classic: LOCAL(0) is selected and sets stratum 11 and refid
/// LOCAL(0), but the system stays unsynchronised (leap 11) on the wire and in `rv`, no
/// client takes its time, and nothing claims a step or synchronisation.
#[test]
fn disable_ntp_stays_unsynchronised_as_classic() {
    let Some(l) = Local::start() else { return };
    let reply = common::wait_for_stratum(&l.ns, ntp_addr("127.0.0.1"), 11, common::STARTUP);
    assert_eq!(reply.header.leap, Leap::Unsync, "{:?}", reply.header);

    let rv = l.ntpq(&["-c", "rv"]).stdout;
    let classic = captured("local.txt", "ntpq -c rv");
    assert_eq!(rv.lines().next(), classic.lines().next(), "{rv}");
    let flat = rv.replace('\n', " ");
    for want in [" leap=11, stratum=11,", " refid=LOCAL(0),"] {
        assert!(flat.contains(want), "{want} in\n{rv}");
        assert!(
            classic.replace('\n', " ").contains(want),
            "{want} in\n{classic}"
        );
    }
    let peers = l.ntpq(&["-p"]).stdout;
    let row = |t: &str| t.lines().nth(2).unwrap_or("")[..35].to_string();
    assert_eq!(
        row(&peers),
        row(&captured("local.txt", "ntpq -p")),
        "{peers}"
    );

    // ntpdate.txt: "no server suitable for synchronization found", exit 1.
    let out = l.run(&[env!("CARGO_BIN_EXE_ntpdate"), "-q", "127.0.0.1"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .ends_with("no server suitable for synchronization found\n"),
        "{out:?}"
    );
    assert!(
        out.stdout.starts_with("server 127.0.0.1, stratum 11, "),
        "{out:?}"
    );

    // ntpdate -d against it (ntpdate.txt): dropped for its leap bits, and classic's eight
    // filter registers over two lines, the four unused ones zero.
    let out = l.run(&[env!("CARGO_BIN_EXE_ntpdate"), "-d", "127.0.0.1"]);
    let classic =
        captured("ntpdate.txt", "ntpdate -d 172.25.0.11").replace("172.25.0.11", "127.0.0.1");
    let lines: Vec<&str> = out.stdout.lines().collect();
    for want in [
        "127.0.0.1: Server dropped: Leap not in sync",
        "server 127.0.0.1, port 123",
        "transmitted 4, in filter 4",
        "         0.00000  0.00000  0.00000  0.00000 ",
        "         0.000000 0.000000 0.000000 0.000000",
    ] {
        assert!(classic.lines().any(|l| l == want), "{want:?} in {classic}");
        assert!(lines.contains(&want), "{want:?} in {out:?}");
    }
    // Column layout: every value 8 characters (classic's %-8.8s, a minus sign included).
    let shape = |text: &str, label: &str| {
        let at = text
            .lines()
            .position(|l| l.starts_with(label))
            .expect(label);
        let rows: Vec<String> = text
            .lines()
            .skip(at)
            .take(2)
            .map(|l| l.replace(|c: char| c != ' ', "x"))
            .collect();
        rows
    };
    for label in ["filter delay:", "filter offset:"] {
        assert_eq!(shape(&out.stdout, label), shape(&classic, label), "{out:?}");
    }

    // `host` as classic words it (local.txt shows `current host is localhost`).
    let out = l.ntpq(&["-c", "host", "-c", "host 127.0.0.1", "-c", "rv 0 stratum"]);
    assert_eq!(
        out.stdout,
        "current host is localhost\ncurrent host set to 127.0.0.1\nstratum=11\n"
    );

    let log = l.ntpd.stderr();
    for never in ["synchronized", "time reset", "kernel refused"] {
        assert!(!log.contains(never), "{never:?} in the log:\n{log}");
    }
}

/// lan.txt/lan-orphan.txt's client: a server that answers at leap 11 (classic's SRV
/// under `disable ntp`) and a dead one (172.25.0.99, nothing there), as the peer table and
/// `rv` show them at about 10 s.
#[test]
fn unsynchronised_and_dead_servers_as_classic() {
    use common::{LanLab, CLIENT, SERVER};
    let Some(mut lab) = LanLab::new() else { return };
    lab.ours(SERVER, &classic_local_conf(), None);
    let dead = "172.25.0.99";
    let conf =
        format!("server {SERVER} iburst\nserver {dead} iburst\ndisable ntp\ndisable kernel\n");
    lab.ours(CLIENT, &conf, None);
    std::thread::sleep(Duration::from_secs(10));
    let ntpq = |args: &[&str]| {
        let mut argv = vec![env!("CARGO_BIN_EXE_ntpq"), "-n"];
        argv.extend_from_slice(args);
        lab.host(CLIENT).run(&lab.tmp, &argv, RUN).stdout
    };
    let peers = ntpq(&["-p"]);
    let rv = |n: &str| ntpq(&["-c", &format!("rv &{n}")]).replace('\n', " ");
    let (answering, silent) = (rv("1"), rv("2"));
    eprintln!("{peers}\n{answering}\n{silent}");

    // Rows as classic's, word by word, but for `when` (seconds since the last packet).
    let words = |row: &str| -> Vec<String> { row.split_whitespace().map(String::from).collect() };
    let row_of = |text: &str, host: &str| {
        let line = text.lines().find(|l| l.starts_with(&format!(" {host} ")));
        words(line.unwrap_or_else(|| panic!("{host} in\n{text}")))
    };
    let mut ours = row_of(&peers, SERVER);
    let mut classic = row_of(&captured("lan.txt", "ntpq -pn"), SERVER);
    ours[4] = "WHEN".into();
    classic[4] = "WHEN".into();
    assert_eq!(ours, classic, "{peers}");
    // The dead server: refid .INIT., stratum 16, no when, jitter 0.000 (never 4000), and
    // `t` is `u` though nothing was ever heard from it: the local address comes from the
    // route at start, as classic's does (not dstadr 0.0.0.0, which shows as `-`).
    let ours = row_of(&peers, dead);
    let classic = row_of(&reference("lan-orphan.txt"), dead);
    assert_eq!(ours, classic, "{peers}");
    assert!(silent.contains("dstadr=172.25.0.12"), "{silent}");

    // What the leap-11 server claims is recorded though its packets are refused, and the
    // peer tests show as classic's flash words.
    let both = |ours: &str, classic: &str, wanted: &[&str]| {
        let classic = classic.replace('\n', " ");
        for want in wanted {
            assert!(classic.contains(want), "{want} in {classic}");
            assert!(ours.contains(want), "{want} in {ours}");
        }
    };
    both(
        &answering,
        &captured("lan.txt", "ntpq -c 'rv 10893'"),
        &[
            " leap=11, stratum=11,",
            " refid=LOCAL(0),",
            " reach=000,",
            " flash=1620 pkt_stratum, peer_stratum, peer_dist, peer_unreach,",
            " jitter=0.000,",
        ],
    );
    both(
        &silent,
        &captured("lan-orphan.txt", "ntpq -c 'rv 14934'"),
        &[
            " leap=11, stratum=16,",
            " refid=INIT,",
            " flash=1600 peer_stratum, peer_dist, peer_unreach,",
            " jitter=0.000,",
        ],
    );
}
