//! The packaging files: every man page renders without a single groff warning (through
//! groff directly and through `man -l`), `systemd-analyze verify` accepts every unit as
//! installed (the forking and the notify ntpd, ntpdate, ntp-wait), and the init scripts parse as POSIX shell. groff, man-db and systemd come
//! from scripts/install-test-deps.sh; without them these tests fail in CI and skip
//! elsewhere.

mod common;

use common::{install_staged as install, skip, TempDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip(tool, "install it with scripts/install-test-deps.sh");
    }
    found
}

fn man_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(repo().join("man"))
        .expect("man/")
        .flatten()
        .map(|e| e.path())
        .collect();
    pages.sort();
    pages
}

#[test]
fn every_man_page_renders_without_warnings() {
    if !have("groff") || !have("man") {
        return;
    }
    let pages = man_pages();
    let names: Vec<_> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "ntp-wait.8",
            "ntp.conf.5",
            "ntpd.8",
            "ntpdate.8",
            "ntpdc.8",
            "ntpq.8",
            "ntptime.8"
        ]
    );
    for page in &pages {
        let groff = Command::new("groff")
            .args(["-ww", "-man", "-z"])
            .arg(page)
            .output()
            .expect("groff");
        let stderr = String::from_utf8_lossy(&groff.stderr);
        assert!(
            groff.status.success() && stderr.is_empty(),
            "{page:?}: {stderr}"
        );
        let man = Command::new("man")
            .args(["--warnings=w", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .output()
            .expect("man");
        let stderr = String::from_utf8_lossy(&man.stderr);
        let text = String::from_utf8_lossy(&man.stdout);
        assert!(
            man.status.success() && stderr.is_empty(),
            "{page:?}: {stderr}"
        );
        assert!(
            text.contains("ntpd-rs6") && text.contains("SEE ALSO"),
            "{page:?}"
        );
    }
}

#[test]
fn systemd_accepts_the_units() {
    if !have("systemd-analyze") {
        return;
    }
    let tmp = TempDir::new();
    let root = install(&tmp);
    // Verify the installed units with their programs pointed at the staging root, so
    // systemd checks our binaries (and our man pages for Documentation=), not the host's.
    let units = tmp.path().join("units");
    fs::create_dir_all(&units).unwrap();
    let staged = root.to_string_lossy();
    let mut paths = Vec::new();
    let names = [
        "ntpd.service",
        "ntpdate.service",
        "ntpd-notify.service",
        "ntp-wait.service",
    ];
    for name in names {
        let text = fs::read_to_string(root.join("usr/lib/systemd/system").join(name)).unwrap();
        let text = text
            .replace("/usr/sbin/", &format!("{staged}/usr/sbin/"))
            .replace("/usr/libexec/", &format!("{staged}/usr/libexec/"));
        fs::write(units.join(name), text).unwrap();
        paths.push(units.join(name));
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .env("MANPATH", root.join("usr/share/man"))
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| names.iter().any(|n| l.contains(n)))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
    let unit = fs::read_to_string(&paths[0]).unwrap();
    for line in [
        "Type=forking",
        "EnvironmentFile=-/etc/sysconfig/ntpd",
        "PIDFile=/run/ntpd.pid",
    ] {
        assert!(unit.contains(line), "{line}");
    }
    let notify = fs::read_to_string(&paths[2]).unwrap();
    for line in [
        "Type=notify",
        "EnvironmentFile=-/etc/sysconfig/ntpd",
        "ntpd -n -u ntp:ntp $OPTIONS",
        "WatchdogSec=",
    ] {
        assert!(notify.contains(line), "{line}");
    }
    let list = root.join("usr/lib/systemd/ntp-units.d/60-ntpd.list");
    assert_eq!(fs::read_to_string(list).unwrap(), "ntpd.service\n");
}

#[test]
fn scripts_parse_and_config_files_are_installed_with_their_modes() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TempDir::new();
    let root = install(&tmp);
    for script in [
        "etc/init.d/ntpd",
        "etc/init.d/ntpdate",
        "usr/libexec/ntpdate-wrapper",
    ] {
        let path = root.join(script);
        let out = Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "{script}: {:?}", out);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{script}");
    }
    let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("etc/ntp/keys"), 0o600);
    assert_eq!(mode("etc/ntp.conf"), 0o644);
    for bin in [
        "usr/sbin/ntpd",
        "usr/sbin/ntpdate",
        "usr/sbin/ntpq",
        "usr/bin/ntpq",
        "usr/sbin/ntpdc",
        "usr/sbin/ntptime",
        "usr/sbin/ntp-wait",
    ] {
        assert!(root.join(bin).is_file(), "{bin}");
    }
    let sysconfig = fs::read_to_string(root.join("etc/sysconfig/ntpd")).unwrap();
    assert!(sysconfig.contains("OPTIONS=\"-u ntp:ntp -p /var/run/ntpd.pid -g\""));
    // A second install keeps an edited configuration and puts the new one beside it.
    fs::write(root.join("etc/ntp.conf"), "server 192.0.2.1\n").unwrap();
    install(&tmp);
    assert_eq!(
        fs::read_to_string(root.join("etc/ntp.conf")).unwrap(),
        "server 192.0.2.1\n"
    );
    assert!(root.join("etc/ntp.conf.new").is_file());
}
