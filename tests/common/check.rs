//! `ntpd --check` on a file, and the reference folders the config tests read.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::skip;

/// What `ntpd --check` said about a file.
pub struct Checked {
    pub status: Option<i32>,
    /// Its printed lines (`FILE:LINE: message`).
    pub lines: Vec<String>,
}

/// Runs `ntpd --check -c FILE` in `dir` (so a relative FILE names lines as given).
pub fn ntpd_check(dir: &Path, file: &Path) -> Checked {
    let out = Command::new(env!("CARGO_BIN_EXE_ntpd"))
        .current_dir(dir)
        .args(["--check", "-c"])
        .arg(file)
        .output()
        .expect("run ntpd --check");
    let text = String::from_utf8_lossy(&out.stdout);
    Checked {
        status: out.status.code(),
        lines: text.lines().map(str::to_string).collect(),
    }
}

/// `../shared/reference/NAME` beside the crate. Third-party files are not committed, so
/// the folder may be absent: that fails the test under CI and is said plainly elsewhere
/// (None: the caller returns).
pub fn reference_dir(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    skip(
        &dir.display().to_string(),
        "the reference folder is not on this machine",
    );
    None
}
