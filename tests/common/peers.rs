//! Third-party NTP programs the interop tests talk to (installed by
//! scripts/install-test-deps.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

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
/// `ntpsec-ntpd`, `chronyd` (unpacked into .peers), `check_ntp_peer`, `check_ntp_time`,
/// `python3-ntplib` (Debian's /usr/bin/python3, which has the ntplib module).
pub fn find_peer(name: &str) -> Result<PathBuf, String> {
    let found = match name {
        "ntpdig" => existing("/usr/bin/ntpdig"),
        "ntpq" => existing("/usr/bin/ntpq"),
        "ntpsec-ntpd" => existing("/usr/sbin/ntpd"),
        "chronyd" => existing(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.peers/chrony/usr/sbin/chronyd"
        )),
        "check_ntp_peer" | "check_ntp_time" => existing(&format!("/usr/lib/nagios/plugins/{name}")),
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
