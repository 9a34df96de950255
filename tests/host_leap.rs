//! `leapfile` end to end: our ntpd serving LOCAL(0) with a leap-seconds.list (hash and
//! all) that announces a leap second 11 days ahead advertises it: the leap indicator of
//! its replies is 1, `ntpq -c rv` shows `leap=01` and NTPsec's ntpdig says `add-leap`.
//! An expired list is reported in the log, a tampered one rejected.

mod common;

use common::{Netns, Proc, TempDir};
use ntp6::leap::ntp_seconds;
use ntp6::wire::ntp::Leap;
use sha1::{Digest, Sha1};
use std::time::Duration;

/// A leap-seconds.list: the 2017 leap, then `leap` (NTP seconds) adding one more second,
/// expiring at `expires`; hashed as NIST does unless `hash` is false.
fn leap_list(leap: i64, expires: i64, hash: bool) -> String {
    let updated = "3960835200";
    let data = [("3692217600", "37"), (&leap.to_string()[..], "38")];
    let mut text = format!("# test list\n#$\t{updated}\n#@\t{expires}\n");
    let mut digest = Sha1::new();
    digest.update(updated);
    digest.update(expires.to_string());
    for (at, offset) in data {
        text.push_str(&format!("{at}\t{offset}\t# a leap\n"));
        digest.update(at);
        digest.update(offset);
    }
    if hash {
        let words: Vec<String> = digest
            .finalize()
            .chunks(4)
            .map(|c| format!("{:x}", u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        text.push_str(&format!("#h\t{}\n", words.join(" ")));
    }
    text
}

fn today() -> i64 {
    ntp_seconds(common::now()) / 86_400 * 86_400
}

/// Our ntpd in `ns` with LOCAL(0) and `leapfile`, waited for until it serves time.
fn start(ns: &Netns, tmp: &TempDir, name: &str, list: &str) -> Proc {
    let leapfile = tmp.write(&format!("{name}.list"), list);
    let conf = tmp.write(
        &format!("{name}.conf"),
        &format!("{}leapfile {leapfile}\n", common::LOCAL_CONF),
    );
    let proc = ns.spawn(tmp, &[env!("CARGO_BIN_EXE_ntpd"), "-n", "-c", &conf]);
    common::wait_for_stratum(ns, common::ntp_addr("127.0.0.1"), 11, common::STARTUP);
    proc
}

fn wait_for_log(proc: &Proc, text: &str) -> bool {
    proc.wait_for_stderr(&[text], Duration::from_secs(10))
        .is_some()
}

#[test]
fn announced_leap_reaches_clients() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let leap = today() + 11 * 86_400;
    let daemon = start(
        &ns,
        &tmp,
        "coming",
        &leap_list(leap, leap + 100 * 86_400, true),
    );
    assert!(
        wait_for_log(&daemon, "): loaded, expire="),
        "{}",
        daemon.describe()
    );
    assert!(
        !daemon.stderr().contains("no hash"),
        "{}",
        daemon.describe()
    );

    let reply = common::wait_for_stratum(&ns, common::ntp_addr("127.0.0.1"), 11, common::STARTUP);
    assert_eq!(reply.header.leap, Leap::AddSecond);

    let ntpq = ns.run(
        &tmp,
        &[env!("CARGO_BIN_EXE_ntpq"), "-c", "rv", "127.0.0.1"],
        common::CLIENT_TIMEOUT,
    );
    assert!(ntpq.stdout.contains("leap=01"), "{ntpq:?}");
    assert!(
        ntpq.stdout.contains("status=4"),
        "status word leap bits 01: {ntpq:?}"
    );

    if let Some(ntpdig) = common::require_peer("ntpdig") {
        let out = ns.run(
            &tmp,
            &[ntpdig.to_str().unwrap(), "127.0.0.1"],
            common::CLIENT_TIMEOUT,
        );
        assert!(out.stdout.contains(" s11 add-leap"), "{out:?}");
    }
}

#[test]
fn expired_and_tampered_lists_are_reported() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    // Expired ten days and an hour ago; its leaps are all in the past.
    let expired = leap_list(
        3_700_000_000,
        ntp_seconds(common::now()) - 10 * 86_400 - 3600,
        false,
    );
    let daemon = start(&ns, &tmp, "expired", &expired);
    assert!(
        wait_for_log(&daemon, "leapsecond file expired 10 days ago"),
        "{}",
        daemon.describe()
    );
    assert!(daemon.stderr().contains("no hash"), "{}", daemon.describe());
    let reply = common::wait_for_stratum(&ns, common::ntp_addr("127.0.0.1"), 11, common::STARTUP);
    assert_eq!(reply.header.leap, Leap::NoWarning);
    drop(daemon);

    let leap = today() + 11 * 86_400;
    // A deleted instead of an inserted second: still a consistent table, but not the one
    // the hash was made for.
    let tampered = leap_list(leap, leap + 86_400, true).replace("\t38\t", "\t36\t");
    let ns2 = Netns::new();
    let daemon = start(&ns2, &tmp, "tampered", &tampered);
    assert!(
        wait_for_log(
            &daemon,
            "rejected: hash ('#h' line) does not match the contents"
        ),
        "{}",
        daemon.describe()
    );
}
