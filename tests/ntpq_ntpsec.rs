//! Our ntpq against NTPsec's ntpd in a fresh network namespace. ntpd runs with
//! `disable ntp kernel` and without CAP_SYS_TIME, so the machine's clock cannot change.

mod common;

use common::{ntp_addr, Netns, TempDir};
use std::time::Duration;

#[test]
fn peer_table_and_rv_against_ntpsec() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = "restrict default nomodify\nrestrict 127.0.0.1\ntos orphan 10 orphanwait 1\n\
                disable ntp kernel\nserver 127.127.1.0\n";
    let Some(_ntpsec) = common::spawn_ntpsec(&ns, &tmp, conf) else {
        return;
    };
    common::wait_for_stratum(&ns, ntp_addr("127.0.0.1"), 10, common::STARTUP);
    let argv = [env!("CARGO_BIN_EXE_ntpq"), "-p", "-c", "rv", "127.0.0.1"];
    let out = ns.run(&tmp, &argv, Duration::from_secs(30));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.len() > 3, "{out:?}");
    assert_eq!(
        lines[0],
        "     remote           refid      st t when poll reach   delay   offset  jitter"
    );
    assert_eq!(lines[1], "=".repeat(78));
    assert!(
        lines[2].starts_with(" LOCAL(0)        .LOCL.  ") || lines[2].starts_with("*LOCAL(0)"),
        "{out:?}"
    );
    assert_eq!(lines[2].len(), lines[0].len(), "{}", lines[2]);
    assert!(out.stdout.contains("version=\"ntpd ntpsec-"), "{out:?}");
    assert!(out.stdout.contains("stratum=10"), "{out:?}");

    // Our mrulist (nonce handshake, READ_MRU) against NTPsec's implementation of it.
    // NTPsec keeps one entry per address, so our mode 3 query and ntpq's own mode 6
    // requests share the row of 127.0.0.1.
    let addr = ntp_addr("127.0.0.1");
    let sock = common::socket_for(&ns, addr);
    common::query(&sock, addr, Duration::from_secs(2)).expect("no time from NTPsec");
    let argv = [
        env!("CARGO_BIN_EXE_ntpq"),
        "-n",
        "-c",
        "mrulist",
        "127.0.0.1",
    ];
    let out = ns.run(&tmp, &argv, Duration::from_secs(30));
    assert!(
        out.stderr
            .ends_with("\rRetrieved 1 unique MRU entries and 0 updates.\n"),
        "{out:?}"
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "lstint avgint rstr r m v  count rport remote address"
    );
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(row.len(), 9, "{out:?}");
    assert_eq!(row[8], "127.0.0.1", "{out:?}");
    assert!(row[6].parse::<u32>().unwrap_or(0) > 1, "count: {out:?}");

    // --json against a server that reports no reasons: the documents parse, the peer
    // rows carry reason null, and `reasons` says why it has none.
    let argv = [
        env!("CARGO_BIN_EXE_ntpq"),
        "--json",
        "-p",
        "-c",
        "rv",
        "-c",
        "reasons",
        "127.0.0.1",
    ];
    let out = ns.run(&tmp, &argv, Duration::from_secs(30));
    let got = common::python(
        &out.stdout,
        &[
            "docs[0]['peers'][0]['remote'], docs[0]['peers'][0]['reason']",
            "docs[1]['variables']['stratum'], docs[1]['variables']['version'][:12]",
            "docs[2]['error']",
        ],
    );
    assert_eq!(
        got,
        [
            "('LOCAL(0)', None)",
            "(10, 'ntpd ntpsec-')",
            "'The server does not report reasons (not an ntpd-rs6 ntpd)'"
        ],
        "{out:?}"
    );
}
