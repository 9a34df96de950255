//! Issue 4's "done when" checks, live: our ntpq, NTPsec's ntpq and the monitoring plugins
//! against our ntpd (LOCAL(0), fudge stratum 10) in fresh namespaces. Layouts are compared
//! with the classic 4.2.6p5 captures in tests/fixtures/classic-4.2.6p5 (local.txt, lan.txt): headers
//! exactly, rows column by column; only live figures (when, reach, association IDs,
//! timestamps) may differ.

mod common;
#[path = "control_fixture.rs"]
mod fixture;

use common::{ntp_addr, Bench, Lan, Netns, Output, TempDir, RESTRICTIVE, SERVER, SERVER_OUTSIDE};
use fixture::captured;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(30);

/// The restrict lines of the classic capture's config (local.txt): ntpq's default host
/// `localhost` may resolve to ::1.
const CLASSIC: &str = "restrict default kod nomodify notrap nopeer noquery\n\
                       restrict -6 default kod nomodify notrap nopeer noquery\n\
                       restrict 127.0.0.1\n\
                       restrict -6 ::1\n";

/// Our ntpd on LOCAL(0) behind `restrict` lines `restrict`.
fn bench<N: common::Topology>(restrict: &str) -> Option<Bench<N>> {
    common::bench(&format!("{restrict}{}", common::LOCAL_CONF), None)
}

/// Runs `argv[0]` with the rest of `argv` in `ns` (under setpriv, as everything).
fn run(ns: &Netns, tmp: &TempDir, argv: &[&str]) -> Output {
    ns.run(tmp, argv, RUN)
}

/// Our ntpq with `args`; it must exit 0.
fn ntpq(ns: &Netns, tmp: &TempDir, args: &[&str]) -> Output {
    let mut argv = vec![env!("CARGO_BIN_EXE_ntpq")];
    argv.extend_from_slice(args);
    let out = run(ns, tmp, &argv);
    assert_eq!(out.code, Some(0), "ntpq {args:?}: {out:?}");
    out
}

/// (start, end) of each whitespace-separated word.
fn spans(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        match (c == ' ', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// How to compare a table with its classic capture.
struct Layout {
    /// Lines before the rows, which must match exactly.
    header: usize,
    /// Leading words that are left-aligned (they start, not end, in fixed columns).
    left: usize,
    /// Indexes of words that are no live figure and must match exactly.
    fixed: &'static [usize],
}

/// Peer rows: remote and refid/local left-aligned; tally+remote, refid, st, t, poll,
/// delay and offset (LOCAL(0) is always 0.000) fixed.
const PEERS: Layout = Layout {
    header: 2,
    left: 2,
    fixed: &[0, 1, 2, 3, 5, 7, 8],
};

/// Association rows: everything but the association ID is fixed.
const ASSOCS: Layout = Layout {
    header: 3,
    left: 0,
    fixed: &[0, 2, 3, 4, 5, 6, 7, 8],
};

/// A row has the classic's layout: same length, the same words at the fixed indexes,
/// left-aligned words starting and the others ending in the same columns.
fn assert_row_like(ours: &str, classic: &str, layout: &Layout) {
    let (a, b) = (spans(ours), spans(classic));
    let ctx = format!("\nours:    {ours:?}\nclassic: {classic:?}");
    assert_eq!(ours.len(), classic.len(), "row length{ctx}");
    assert_eq!(a.len(), b.len(), "word count{ctx}");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if i < layout.left {
            assert_eq!(x.0, y.0, "word {i} starts elsewhere{ctx}");
        } else {
            assert_eq!(x.1, y.1, "word {i} ends elsewhere{ctx}");
        }
        if layout.fixed.contains(&i) {
            assert_eq!(ours[x.0..x.1], classic[y.0..y.1], "word {i}{ctx}");
        }
    }
}

/// Our table `out` is laid out as the capture of `$ command` in `file`.
fn assert_table_like(out: &str, file: &str, command: &str, layout: &Layout) {
    let classic = captured(file, command);
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (out.lines().collect(), classic.lines().collect());
    let ctx = format!("{command}:\n{out}\nclassic:\n{classic}");
    assert_eq!(ours.len(), theirs.len(), "{ctx}");
    assert_eq!(ours[..layout.header], theirs[..layout.header], "{ctx}");
    for (o, c) in ours[layout.header..].iter().zip(&theirs[layout.header..]) {
        assert_row_like(o, c, layout);
    }
}

/// `name=` in order of appearance in rv/cv output.
fn names(text: &str) -> Vec<String> {
    let body: String = text.lines().skip(1).collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    let mut quoted = false;
    let mut word = String::new();
    for c in body.chars() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => out.push(std::mem::take(&mut word).trim().to_string()),
            ',' if !quoted => word.clear(),
            _ => word.push(c),
        }
    }
    out
}

/// The first `name=value` of a line; values may hold `, ` (dates), names never.
fn first_item(line: &str) -> &str {
    let line = line.strip_suffix(',').unwrap_or(line);
    let is_name = |t: &str| {
        t.split_once('=').is_some_and(|(n, _)| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    };
    let mut from = 0;
    while let Some(at) = line[from..].find(", ") {
        let end = from + at;
        if is_name(&line[end + 2..]) {
            return &line[..end];
        }
        from = end + 2;
    }
    line
}

/// Classic's variable list folding (ntpq's `output()`): items joined by `, `; an item
/// that would take the line past 72 columns starts a new line after `,`.
fn assert_classic_folding(text: &str) {
    let lines: Vec<&str> = text.lines().skip(1).collect();
    for pair in lines.windows(2) {
        let line = pair[0]
            .strip_suffix(',')
            .unwrap_or_else(|| panic!("{text}"));
        let next = first_item(pair[1]);
        assert!(
            line.len() <= 72 || !line.contains(", "),
            "too long: {line:?}"
        );
        assert!(
            line.len() + 2 + next.len() > 72,
            "{next:?} fits after {line:?}"
        );
    }
}

#[test]
fn our_ntpq_against_our_ntpd_matches_classic_layout() {
    let Some(b) = bench::<Netns>(CLASSIC) else {
        return;
    };
    let (ns, tmp) = (&b.net, &b.tmp);
    for (args, command) in [
        (&["-p"][..], "ntpq -p"),
        (&["-pn"][..], "ntpq -pn"),
        (&["-c", "lpeers"][..], "ntpq -c lpeers"),
    ] {
        let out = ntpq(ns, tmp, args).stdout;
        assert_table_like(&out, "local.txt", command, &PEERS);
        assert!(
            out.lines().nth(2).is_some_and(|r| {
                r.starts_with("*LOCAL(0)        .LOCL.          10 l")
                    || r.starts_with("*127.127.1.0     .LOCL.          10 l")
            }),
            "{out}"
        );
    }
    // opeers: the local address (numeric, as classic) instead of the refid.
    let out = ntpq(ns, tmp, &["-c", "opeers"]).stdout;
    assert_table_like(&out, "local.txt", "ntpq -c opeers", &PEERS);

    let out = ntpq(ns, tmp, &["-c", "as"]).stdout;
    assert_table_like(&out, "local.txt", "ntpq -c as", &ASSOCS);
    let assoc = out.lines().nth(3).and_then(|r| r.split_whitespace().nth(1));
    let assoc = assoc.expect("association row").to_string();

    let rv = ntpq(ns, tmp, &["-c", "rv"]).stdout;
    let first = rv.lines().next().unwrap_or("");
    assert!(
        first.starts_with("associd=0 status=05") && first.contains(" leap_none, sync_local, "),
        "{rv}"
    );
    assert!(first.ends_with(','), "{rv}");
    let classic = captured("local.txt", "ntpq -c rv");
    assert_eq!(names(&rv), names(&classic), "rv variables\n{rv}");
    for want in [
        ", leap=00, ",
        "stratum=11,",
        "refid=LOCAL(0),",
        "offset=0.000,",
    ] {
        assert!(rv.replace('\n', " ").contains(want), "{want} in\n{rv}");
    }
    assert_classic_folding(&classic);
    assert_classic_folding(&rv);
    // system= is uname's sysname "/" release, as classic builds it (the capture's machine
    // ran another kernel build, so only the shape of its value carries over).
    let system = |text: &str| {
        let at = text.find("system=\"").expect("system=") + "system=\"".len();
        text[at..].split('"').next().unwrap_or("").to_string()
    };
    let uname = |flag: &str| {
        let out = std::process::Command::new("uname")
            .arg(flag)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(system(&rv), format!("{}/{}", uname("-s"), uname("-r")));
    assert!(system(&classic).starts_with("Linux/6."), "{classic}");

    let out = ntpq(ns, tmp, &["-c", "rv 0 stratum,offset,refid"]).stdout;
    assert_eq!(
        out,
        captured("local.txt", "ntpq -c 'rv 0 stratum,offset,refid'")
    );
    let out = ntpq(ns, tmp, &["-c", "rv 0 stratum,offset"]).stdout;
    assert_eq!(out, "stratum=11, offset=0.000\n");

    // cv: the same text as classic's but for the association ID and the poll count.
    let out = ntpq(ns, tmp, &["-c", &format!("cv {assoc}")]).stdout;
    let classic = captured("local.txt", "ntpq -c 'cv 3495'").replace("3495", &assoc);
    let poll = |t: &str| {
        t.replacen("poll=1,", "poll=N,", 1)
            .replacen("poll=2,", "poll=N,", 1)
    };
    assert_eq!(poll(&out), poll(&classic));
}

/// `ntpq -p HOST` from another namespace, over the veth and the bridge.
#[test]
fn lan_client_reads_the_server_and_the_outsider_times_out() {
    let Some(b) = bench::<Lan>(&format!(
        "{RESTRICTIVE}restrict 172.25.0.0 mask 255.255.255.0 nomodify\n"
    )) else {
        return;
    };
    let (lan, tmp) = (&b.net, &b.tmp);
    let out = ntpq(&lan.client, tmp, &["-p", SERVER]).stdout;
    assert_table_like(&out, "lan.txt", "ntpq -p 172.25.0.11", &PEERS);
    let out = ntpq(&lan.client, tmp, &["-c", "as", SERVER]).stdout;
    assert_table_like(&out, "lan.txt", "ntpq -c as 172.25.0.11", &ASSOCS);

    // noquery for everyone outside the LAN: classic's message after 2 x 5 s.
    let start = Instant::now();
    let out = ntpq(&lan.outsider, tmp, &["-p", SERVER_OUTSIDE]);
    let wall = start.elapsed();
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!("{SERVER_OUTSIDE}: timed out, nothing received\n***Request timed out\n")
    );
    assert!(
        wall > Duration::from_secs(9) && wall < Duration::from_secs(12),
        "{wall:?}"
    );
}

#[test]
fn ntpsec_ntpq_reads_peers_rv_and_mrulist() {
    let Some(b) = bench::<Netns>(RESTRICTIVE) else {
        return;
    };
    let Some(ntpq) = common::require_peer("ntpq") else {
        return;
    };
    let (ns, tmp) = (&b.net, &b.tmp);
    let ntpq = ntpq.to_str().expect("utf-8 path");
    let out = run(ns, tmp, &[ntpq, "-p", "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let row = out.stdout.lines().nth(2).unwrap_or("");
    // NTPsec shows the refclock by number and its own `t`; tally, refid and st are ours.
    assert!(
        row.starts_with("*127.127.1.0     .LOCL.          10 "),
        "{out:?}"
    );

    let out = run(ns, tmp, &[ntpq, "-c", "rv", "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = out.stdout.replace('\n', " ");
    assert!(text.starts_with("associd=0 status=05"), "{out:?}");
    for want in [" leap=00,", " stratum=11,", " offset=0.0,"] {
        assert!(text.contains(want), "{want} in {out:?}");
    }

    // One mode 3 client exchange, then the MRU list shows it (mode 6 is never recorded).
    let addr = ntp_addr("127.0.0.1");
    let sock = common::socket_for(ns, addr);
    let port = sock.local_addr().expect("local addr").port();
    common::query(&sock, addr, Duration::from_secs(2)).expect("no time from our ntpd");
    let out = run(ns, tmp, &[ntpq, "-c", "mrulist", "127.0.0.1"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("remote address"))
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| w.len() == 11)
        .collect();
    // lstint avgint rstr r m v count score drop rport remote (the last port seen)
    let ours = rows.iter().find(|w| w[9] == port.to_string());
    let ours = ours.unwrap_or_else(|| panic!("port {port} not in mrulist: {out:?}"));
    assert_eq!((ours[4], ours[5]), ("3", "4"), "mode 3, version 4: {out:?}");
    assert!(["localhost", "127.0.0.1"].contains(&ours[10]), "{out:?}");
    assert!(
        rows.iter().all(|w| w[4] != "6"),
        "mode 6 in the MRU list: {out:?}"
    );
}

/// Runs a monitoring plugin; it must exit 0 (OK) and say `NTP OK: Offset`.
fn plugin(b: &Bench<Netns>, name: &str, args: &[&str]) -> Option<String> {
    let bin = common::require_peer(name)?;
    let mut argv = vec![bin.to_str().expect("utf-8 path"), "-H", "127.0.0.1"];
    argv.extend_from_slice(args);
    let out = run(&b.net, &b.tmp, &argv);
    assert_eq!(out.code, Some(0), "{name} {args:?}: {out:?}");
    assert!(out.stdout.starts_with("NTP OK: Offset "), "{out:?}");
    Some(out.stdout)
}

#[test]
fn monitoring_plugins_report_ok() {
    let Some(b) = bench::<Netns>(RESTRICTIVE) else {
        return;
    };
    let Some(out) = plugin(&b, "check_ntp_peer", &["-w", "0.5", "-c", "1"]) else {
        return;
    };
    assert!(
        out.contains("|offset=0.000000s;0.500000;1.000000;"),
        "{out}"
    );
    // With stratum thresholds it reports the sync peer's stratum: LOCAL(0) fudged to 10.
    let args = ["-w", "0.5", "-c", "1", "-W", "12", "-C", "14"];
    let Some(out) = plugin(&b, "check_ntp_peer", &args) else {
        return;
    };
    assert!(
        out.contains(", stratum=10|") && out.contains(" stratum=10;12;14;"),
        "{out}"
    );
    plugin(&b, "check_ntp_time", &[]);
}

#[test]
fn check_ntp_time_sees_a_server_ahead() {
    let conf = format!("{RESTRICTIVE}{}", common::LOCAL_CONF);
    let Some(b) = common::bench::<Netns>(&conf, Some("2.5")) else {
        return;
    };
    let Some(out) = plugin(&b, "check_ntp_time", &["-w", "3", "-c", "4"]) else {
        return;
    };
    // `NTP OK: Offset 2.500123 secs|...`: the server is 2.5 s ahead of this host.
    let offset: f64 = out
        .split_whitespace()
        .nth(3)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {out}"));
    assert!((offset.abs() - 2.5).abs() < 0.01, "{out}");
}

#[test]
fn noquery_gets_silence() {
    let Some(b) = bench::<Netns>("restrict default noquery\nrestrict 127.0.0.1 noquery\n") else {
        return;
    };
    let out = ntpq(
        &b.net,
        &b.tmp,
        &["-c", "timeout 500", "-c", "peers", "127.0.0.1"],
    );
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "127.0.0.1: timed out, nothing received\n***Request timed out\n"
    );
}

/// WRITEVAR without a key is not even sent, whether or not `nomodify` applies: nothing
/// is writable without the controlkey.
#[test]
fn writevar_is_refused_with_the_classic_error() {
    for restrict in [
        RESTRICTIVE,
        "restrict default nomodify\nrestrict 127.0.0.1 nomodify\n",
    ] {
        let Some(b) = bench::<Netns>(restrict) else {
            return;
        };
        let out = ntpq(&b.net, &b.tmp, &["-c", "writevar 0 foo=1", "127.0.0.1"]);
        assert_eq!(out.stdout, "", "{restrict}");
        // Writes are signed: without a key ntpq asks for one (classic prompts on stderr)
        // and, at end of input, sends nothing. tests/auth_interop.rs covers the keys.
        assert_eq!(out.stderr, "Keyid: Invalid key identifier\n", "{restrict}");
    }
}

/// Interactive mode on a pseudo-terminal (util-linux `script`): the prompt, a command, its
/// table, the prompt again, and `quit`.
#[test]
fn interactive_mode_under_a_pty() {
    let Some(b) = bench::<Netns>(CLASSIC) else {
        return;
    };
    let mut pty = common::Pty::spawn(&b.net, &[env!("CARGO_BIN_EXE_ntpq")]);
    pty.expect("ntpq> ");
    pty.send("peers\n");
    let seen = pty.expect("ntpq> ");
    let lines: Vec<&str> = seen.lines().map(|l| l.trim_end_matches('\r')).collect();
    let header = "     remote           refid      st t when poll reach   delay   offset  jitter";
    let at = lines.iter().position(|l| *l == header);
    let at = at.unwrap_or_else(|| panic!("no peer table in {seen:?}"));
    assert_eq!(lines[at + 1], "=".repeat(78), "{seen:?}");
    assert!(
        lines[at + 2].starts_with("*LOCAL(0)        .LOCL.          10 l"),
        "{seen:?}"
    );
    pty.send("quit\n");
    assert_eq!(pty.wait(), Some(0), "ntpq did not quit");
}
