//! Third-party NTP programs the interop tests talk to (installed by
//! scripts/install-test-deps.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Netns, TempDir};

/// True when running in CI, where a missing prerequisite is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Fails the test under CI; elsewhere prints `SKIP: ...` so the caller can return early.
pub fn skip(what: &str, reason: &str) {
    if in_ci() {
        panic!("{what} not found ({reason})");
    }
    eprintln!("SKIP: {what} not found ({reason})");
}

fn existing(path: &str) -> Option<PathBuf> {
    Path::new(path).is_file().then(|| PathBuf::from(path))
}

/// Where `name` lives, or why it is unusable. Names: `ntpdig`, `ntpq` (NTPsec),
/// `ntpsec-ntpd`, `chronyd` (both unpacked into .peers), `check_ntp_peer`, `check_ntp_time`,
/// `prometheus`, `promtool` (Debian's prometheus), `python3-ntplib` (Debian's
/// /usr/bin/python3, which has the ntplib module), `collectd` (Debian's collectd-core,
/// with its ntpd plugin).
pub fn find_peer(name: &str) -> Result<PathBuf, String> {
    let found = match name {
        "ntpdig" => existing("/usr/bin/ntpdig"),
        "ntpq" => existing(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.peers/ntpsec/usr/bin/ntpq"
        )),
        "ntpsec-ntpd" => existing(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.peers/ntpsec/usr/sbin/ntpd"
        )),
        "chronyd" => existing(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.peers/chrony/usr/sbin/chronyd"
        )),
        "check_ntp_peer" | "check_ntp_time" => existing(&format!("/usr/lib/nagios/plugins/{name}")),
        "prometheus" | "promtool" => existing(&format!("/usr/bin/{name}")),
        "collectd" => existing("/usr/lib/collectd/ntpd.so").and(existing("/usr/sbin/collectd")),
        "python3-ntplib" => {
            let ok = Command::new("/usr/bin/python3")
                .args(["-c", "import ntplib"])
                .output()
                .is_ok_and(|o| o.status.success());
            return if ok {
                Ok(PathBuf::from("/usr/bin/python3"))
            } else {
                Err(
                    "/usr/bin/python3 cannot import ntplib; run scripts/install-test-deps.sh"
                        .into(),
                )
            };
        }
        _ => return Err(format!("unknown peer name '{name}'")),
    };
    found.ok_or_else(|| "not installed; run scripts/install-test-deps.sh".into())
}

/// The peer's path if present (so do not forget to check `None`: the test must return).
pub fn peer(name: &str) -> Option<PathBuf> {
    find_peer(name).ok()
}

/// The peer's path; a missing peer fails the test under CI and skips it elsewhere.
pub fn require_peer(name: &str) -> Option<PathBuf> {
    match find_peer(name) {
        Ok(p) => Some(p),
        Err(reason) => {
            skip(name, &reason);
            None
        }
    }
}

/// How long one run of a client tool may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a client tool saw: the server's stratum and its offset (server minus us, s).
#[derive(Debug)]
pub struct Seen {
    pub stratum: u8,
    pub offset: f64,
}

/// Runs NTPsec's `ntpdig HOST` in `ns`; None = skipped. Panics if it gets no time.
pub fn ntpdig(ns: &Netns, tmp: &TempDir, host: &str) -> Option<Seen> {
    let bin = require_peer("ntpdig")?;
    let out = ns.run(tmp, &[bin.to_str()?, host], CLIENT_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out:?}");
    Some(parse_ntpdig(&out.stdout).unwrap_or_else(|| panic!("unparsable ntpdig output {out:?}")))
}

/// ntpdig prints e.g.
/// `2026-11-21 03:09:06.841296 (+0000) +0.000105 +/- 0.000256 127.0.0.1 s11 no-leap`.
pub fn parse_ntpdig(text: &str) -> Option<Seen> {
    let line = text.lines().find(|l| l.contains("+/-"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "+/-")?;
    let offset = words.get(at.checked_sub(1)?)?.parse().ok()?;
    let stratum = words
        .iter()
        .find_map(|w| w.strip_prefix('s').and_then(|n| n.parse().ok()))?;
    Some(Seen { stratum, offset })
}

/// Starts chronyd in `ns` in the foreground with config file `conf`, as root and never
/// touching the clock (-x); None = skipped.
pub fn spawn_chronyd(ns: &Netns, tmp: &TempDir, conf: &str) -> Option<super::Proc> {
    let bin = require_peer("chronyd")?;
    let argv = [bin.to_str()?, "-d", "-x", "-u", "root", "-f", conf];
    Some(ns.spawn(tmp, &argv))
}
