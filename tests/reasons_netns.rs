//! The seed's Windows-like upstream, end to end: a server reporting 3 s of root
//! dispersion (as w32time does) is never used under the default `tos maxdist` 1.5 s, and
//! both the daemon's log and `ntpq --json -p` say so in words, naming `tos maxdist`; with
//! `tos maxdist 16` the same server becomes the system peer. Our ntpd runs on the
//! reference LAN's client host (virtual clock); the upstream is a scripted responder on
//! the server host's 172.25.0.11.
mod common;

use common::{python, Advertised, LanLab, Scripted, SERVER};
use ntp6::time::NtpDuration;
use ntp6::wire::ntp::RefId;
use std::time::{Duration, Instant};

/// What w32time on a domain controller reports: stratum 3, seconds of root dispersion.
fn windows_like() -> Advertised {
    Advertised {
        stratum: 3,
        precision: -20,
        root_delay: NtpDuration::from_secs_f64(0.03),
        root_dispersion: NtpDuration::from_secs_f64(3.0),
        refid: RefId([10, 1, 2, 3]),
        reference_age: NtpDuration::from_secs_f64(10.0),
    }
}

/// Our ntpd on the client host with `conf`, on a virtual clock with no error.
fn start_client(lab: &mut LanLab, name: &str, conf: &str) -> usize {
    let p = common::spawn_ours(&lab.lan.client, &lab.tmp, name, conf, Some("0.0"));
    lab.procs.push(p);
    lab.procs.len() - 1
}

/// `ntpq --json ARGS 127.0.0.1` on the client host: its stdout.
fn ntpq_json(lab: &LanLab, args: &[&str]) -> String {
    let mut argv = vec![env!("CARGO_BIN_EXE_ntpq"), "--json"];
    argv.extend_from_slice(args);
    argv.push("127.0.0.1");
    let out = lab.lan.client.run(&lab.tmp, &argv, Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
}

/// Polls `ntpq --json -p` until the upstream's reason satisfies `done`; the reason and
/// how long it took (None after `within`).
fn wait_reason(
    lab: &LanLab,
    within: Duration,
    done: impl Fn(&str) -> bool,
) -> (String, Option<Duration>) {
    let start = Instant::now();
    let mut reason = String::new();
    while start.elapsed() < within {
        let doc = ntpq_json(lab, &["-p"]);
        let got = python(
            &doc,
            // A daemon still starting answers with an error document.
            &["next((p['reason'] for p in docs[0].get('peers', []) \
               if p['address'] == '172.25.0.11'), docs[0].get('error'))"],
        );
        reason = got[0].trim_matches(['\'', '"']).to_string();
        if done(&reason) {
            return (reason, Some(start.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    (reason, None)
}

#[test]
fn windows_like_upstream_is_explained_until_maxdist_is_raised() {
    let Some(mut lab) = LanLab::new() else { return };
    let sock = lab
        .lan
        .server
        .udp_socket(format!("{SERVER}:123").parse().unwrap());
    let mut upstream = Scripted::start(sock, windows_like());

    // Default maxdist: rejected, and the log and ntpq both say why.
    let started = Instant::now();
    let client = start_client(
        &mut lab,
        "default.conf",
        &format!("server {SERVER} iburst\n"),
    );
    let said = lab.procs[client].wait_for_stderr(
        &[
            &format!("{SERVER}: root distance "),
            "exceeds maxdist 1.50 s (raise it with 'tos maxdist')",
        ],
        Duration::from_secs(40),
    );
    let log = lab.procs[client].describe();
    let Some(said) = said else {
        panic!("the log never named tos maxdist\n{log}");
    };
    eprintln!("log named 'tos maxdist' {said:?} after start");
    // The distance falls towards the server's 3 s as the iburst fills the clock filter.
    let (reason, took) = wait_reason(&lab, Duration::from_secs(40), |r| {
        r.starts_with("root distance 3.")
    });
    assert!(took.is_some(), "ntpq said: {reason}\n{log}");
    assert!(
        reason.ends_with(" s exceeds maxdist 1.50 s (raise it with 'tos maxdist')"),
        "{reason}"
    );
    eprintln!("ntpq --json -p: {reason}");
    let peers = ntpq_json(&lab, &["-p"]);
    let got = python(
        &peers,
        &[
            "docs[0]['peers'][0]['tally']",
            "docs[0]['peers'][0]['stratum']",
        ],
    );
    assert_eq!(got, ["' '", "3"], "{peers}");
    let rv = ntpq_json(&lab, &["-c", "rv"]);
    let got = python(
        &rv,
        &[
            "docs[0]['status']['leap']",
            "docs[0]['variables']['stratum']",
        ],
    );
    assert_eq!(got, ["'leap_alarm'", "16"], "never synchronised: {rv}");
    eprintln!("rejected for distance, {:?} after start", started.elapsed());
    lab.procs[client].stop();

    // tos maxdist 16: the same server becomes the system peer.
    let started = Instant::now();
    let conf = format!("server {SERVER} iburst\ntos maxdist 16\n");
    let client = start_client(&mut lab, "maxdist16.conf", &conf);
    let (reason, took) = wait_reason(&lab, Duration::from_secs(60), |r| r == "system peer");
    let log = lab.procs[client].describe();
    let Some(took) = took else {
        panic!("never the system peer: {reason}\n{log}");
    };
    eprintln!("with tos maxdist 16: system peer after {took:?}");
    assert!(
        lab.procs[client]
            .wait_for_stderr(&[&format!("{SERVER}: system peer")], Duration::from_secs(5))
            .is_some(),
        "{log}"
    );
    assert!(
        !lab.procs[client].stderr().contains("tos maxdist'"),
        "{log}"
    );
    let rv = ntpq_json(&lab, &["-c", "rv"]);
    let got = python(&rv, &["docs[0]['variables']['peer'] > 0"]);
    assert_eq!(got, ["True"], "{rv}");
    eprintln!("whole test {:?}", started.elapsed());
    upstream.stop();
    let answered = upstream.arrivals().len();
    eprintln!("the upstream answered {answered} requests");
}
