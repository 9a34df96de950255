//! PPS reference clock (127.127.22.0) against a real RFC 2783 device, when this machine
//! has one (/dev/pps0: a GPS receiver's pulse through pps-gpio or pps-ldisc, or the
//! pps-ktimer test module). Most machines, this one and CI's among them, have none, so the
//! test is ignored unless asked for (`cargo test --test refclock_pps -- --ignored`), and
//! then fails without the device rather than pass by skipping. docs/refclocks.md has the
//! manual check; the decoding and edge selection are unit-tested in src/refclock.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");

#[test]
#[ignore = "needs /dev/pps0 (a GPS pulse or the pps-ktimer module); see docs/refclocks.md"]
fn the_daemon_reads_dev_pps0() {
    assert!(
        Path::new("/dev/pps0").exists(),
        "no /dev/pps0 on this machine (manual check: docs/refclocks.md)"
    );
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = "server 127.127.22.0 minpoll 4 maxpoll 4\n";
    let ours = spawn_ours(&ns, &tmp, "ntp.conf", conf, Some("0"));
    let opened = ours.wait_for_stderr(&["PPS(0): reading /dev/pps0"], Duration::from_secs(5));
    assert!(opened.is_some(), "{}", ours.describe());
    // Two polls: pulses arrive (a timecode with the sequence number) or the log says why
    // there are none.
    std::thread::sleep(Duration::from_secs(34));
    let cv = ns
        .run(
            &tmp,
            &[NTPQ, "-c", "cv &1", "127.0.0.1"],
            Duration::from_secs(5),
        )
        .stdout;
    eprintln!("ntpq -c cv:\n{cv}\nlog:\n{}", ours.stderr());
    assert!(cv.contains("PPS Clock Discipline"), "{cv}");
    let pulses = !cv.contains("timecode=\"\"");
    assert!(
        pulses || ours.stderr().contains("PPS(0): no samples:"),
        "{cv}\n{}",
        ours.describe()
    );
}
