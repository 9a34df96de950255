//! A staged installation: scripts/install.sh run with DESTDIR under a test's temp dir and
//! the binaries of this test build.

use super::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs into `TMP/root` and returns that root.
pub fn install_staged(tmp: &TempDir) -> PathBuf {
    let bindir = Path::new(env!("CARGO_BIN_EXE_ntpd"))
        .parent()
        .expect("bin dir");
    let root = tmp.path().join("root");
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install.sh"))
        .arg("--bindir")
        .arg(bindir)
        .env("DESTDIR", &root)
        .output()
        .expect("cannot run scripts/install.sh");
    assert!(
        out.status.success(),
        "install.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root
}
