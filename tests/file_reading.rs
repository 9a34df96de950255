//! The files ntpd reads (ntp.conf and its includes, keys, leap seconds, drift) as a careless
//! admin or an attacker leaves them (issue 16): comments in Latin-1 or GBK keep the whole
//! config (LOCAL(0) and `noquery` with it), a foreign byte in a directive names its line,
//! /dev/zero, a FIFO or a directory as any of them is refused at once with the path named,
//! an include cycle stops the daemon, and a 200,000-line keys file loads in linear time.

mod common;

use common::{LanLab, Netns, Proc, TempDir, CLIENT_TIMEOUT, SERVER};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The bound: a refused file is reported within a second, never a hang.
const REFUSED_WITHIN: Duration = Duration::from_secs(1);

/// Peak resident memory a daemon may reach after refusing a file (/dev/zero read to the
/// end took 1.05 GB before).
const MAX_RSS_KB: u64 = 64 * 1024;

/// A French admin's comment in Latin-1 and a Chinese one in GBK, as real configs carry.
fn foreign_comments() -> Vec<u8> {
    let mut b = b"# Serveur de temps du r\xe9seau local (\xe9quipe syst\xe8me)\n".to_vec();
    // "# 本地时钟：网络不可用时提供时间" in GBK.
    b.extend_from_slice(
        b"# \xb1\xbe\xb5\xd8\xca\xb1\xd6\xd3\xa3\xba\xcd\xf8\xc2\xe7\xb2\xbb\xbf\xc9\
          \xd3\xc3\xca\xb1\xcc\xe1\xb9\xa9\xca\xb1\xbc\xe4\n",
    );
    b
}

/// The shipped RHEL6 config (restrict default ... noquery, LOCAL(0) at stratum 10) with
/// both foreign comment lines before its restrict lines and its drift file in `tmp`.
fn rhel6_with_foreign_comments(tmp: &TempDir) -> PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/ntp.conf"))
        .expect("conf/ntp.conf");
    let drift = tmp.path().join("drift");
    let text = text.replace("/var/lib/ntp/drift", drift.to_str().expect("utf-8"));
    let at = text
        .find("# Permit time synchronization")
        .expect("restrict comment");
    let (head, tail) = text.as_bytes().split_at(at);
    let mut bytes = head.to_vec();
    bytes.extend(foreign_comments());
    bytes.extend_from_slice(tail);
    let path = tmp.path().join("ntp.conf");
    std::fs::write(&path, bytes).expect("write config");
    path
}

/// `ntpd --check -c PATH`: exit code, what it printed, how long it took.
fn check(path: &Path) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ntpd"))
        .args(["--check", "-c"])
        .arg(path)
        .output()
        .expect("run ntpd --check");
    let took = start.elapsed();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        took,
    )
}

/// /dev/zero, a FIFO and a directory, each with a name for messages.
fn special_files(tmp: &TempDir) -> Vec<(&'static str, PathBuf)> {
    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).expect("mkdir");
    vec![
        ("/dev/zero", PathBuf::from("/dev/zero")),
        ("a FIFO", fifo),
        ("a directory", dir),
    ]
}

#[test]
fn check_accepts_foreign_comments_and_names_a_foreign_directive() {
    let tmp = TempDir::new();
    let conf = rhel6_with_foreign_comments(&tmp);
    let (code, text, _) = check(&conf);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("error") && !text.contains("byte"), "{text}");

    let mut bytes = std::fs::read(&conf).unwrap();
    bytes.extend_from_slice(b"restrict 172.25.0.0 mask 255.255.255.0 nomodify # r\xe9seau\n");
    bytes.extend_from_slice(b"server ntp.caf\xe9.example iburst\n");
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    std::fs::write(&conf, bytes).unwrap();
    let (code, text, _) = check(&conf);
    assert_eq!(code, Some(1), "{text}");
    let want = format!(
        "{}:{lines}: byte 0xE9 at column 15 is not UTF-8 (only comments may use another encoding)",
        conf.display()
    );
    assert!(text.lines().any(|l| l == want), "want {want}\n{text}");
    assert_eq!(text.matches("is not UTF-8").count(), 1, "{text}");
}

#[test]
fn check_refuses_special_files_and_include_cycles_at_once() {
    let tmp = TempDir::new();
    for (what, path) in special_files(&tmp) {
        let shown = path.display().to_string();
        let (code, text, took) = check(&path);
        eprintln!("--check -c {what}: {took:?}");
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(took < REFUSED_WITHIN, "{what}: {took:?}");
        assert!(
            text.starts_with(&format!("{shown}: cannot read the configuration: ")),
            "{what}: {text}"
        );
        assert!(text.contains("not a regular file"), "{what}: {text}");

        let conf = tmp.write(
            "include.conf",
            &format!("server 127.127.1.0\nincludefile {shown}\n"),
        );
        let (code, text, took) = check(Path::new(&conf));
        eprintln!("--check includefile {what}: {took:?}");
        assert_eq!(code, Some(1), "{what}: {text}");
        assert!(took < REFUSED_WITHIN, "{what}: {took:?}");
        let want = format!("{conf}:2: cannot read includefile <{shown}>: ");
        assert!(text.starts_with(&want), "{what}: {text}");
    }

    let a = tmp.path().join("a.conf");
    let b = tmp.write("b.conf", &format!("# b\nincludefile {}\n", a.display()));
    std::fs::write(&a, format!("server 127.127.1.0\nincludefile {b}\n")).unwrap();
    let (code, text, _) = check(&a);
    assert_eq!(code, Some(1), "{text}");
    let want = format!(
        "{b}:2: includefile <{}> is already being read: an include cycle",
        a.display()
    );
    assert!(text.contains(&want), "{text}");
}

/// Our ntpd started in `ns` with `-c conf`.
fn ntpd(ns: &Netns, tmp: &TempDir, conf: &Path) -> Proc {
    ns.spawn(
        tmp,
        &[
            env!("CARGO_BIN_EXE_ntpd"),
            "-n",
            "-c",
            conf.to_str().unwrap(),
        ],
    )
}

#[test]
fn daemon_exits_on_a_config_it_cannot_read_whole() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let cycle = tmp.path().join("cycle.conf");
    std::fs::write(
        &cycle,
        format!("server 127.127.1.0\nincludefile {}\n", cycle.display()),
    )
    .unwrap();
    let mut cases = vec![(
        "an include cycle",
        cycle.clone(),
        format!("{}:2: ", cycle.display()),
    )];
    for (what, path) in special_files(&tmp) {
        let shown = path.display().to_string();
        let conf = tmp.path().join(format!("include-{}.conf", cases.len()));
        std::fs::write(
            &conf,
            format!("restrict default noquery\nincludefile {shown}\n"),
        )
        .unwrap();
        let located = format!("{}:2: cannot read includefile <{shown}>", conf.display());
        cases.push((
            what,
            path,
            format!("{shown}: cannot read the configuration"),
        ));
        cases.push((what, conf, located));
    }
    for (what, conf, message) in cases {
        let start = Instant::now();
        let mut p = ntpd(&ns, &tmp, &conf);
        let status = p.wait_timeout(Duration::from_secs(5));
        let took = start.elapsed();
        eprintln!("ntpd -c {}: exited after {took:?}", conf.display());
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{what}\n{}",
            p.describe()
        );
        assert!(took < REFUSED_WITHIN, "{what}: {took:?}");
        let log = p.stderr();
        assert!(
            log.contains(&message),
            "{what}: want {message}\n{}",
            p.describe()
        );
        assert!(
            log.contains("configuration not read whole; exiting"),
            "{log}"
        );
    }
}

/// The daemon's peak resident set in KB.
fn peak_rss_kb(p: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:"));
    let kb = line.and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    kb.unwrap_or_else(|| panic!("no VmHWM in /proc/{}/status", p.pid()))
}

#[test]
fn special_keys_leap_and_drift_files_are_refused_and_the_daemon_serves() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let special = special_files(&tmp);
    // The drift file is never /dev/zero itself (the daemon writes its drift file at stop):
    // a symbolic link to it, as in the issue.
    let zero_link = tmp.path().join("drift-link");
    std::os::unix::fs::symlink("/dev/zero", &zero_link).unwrap();
    let drift_of = |path: &PathBuf| match path.to_str() {
        Some("/dev/zero") => zero_link.clone(),
        _ => path.clone(),
    };
    // Each file kind in each role once: (keys, leapfile, driftfile) rotate.
    for round in 0..special.len() {
        let keys = &special[round].1;
        let leap = &special[(round + 1) % special.len()].1;
        let drift = drift_of(&special[(round + 2) % special.len()].1);
        let conf = tmp.path().join(format!("special-{round}.conf"));
        std::fs::write(
            &conf,
            format!(
                "{}keys {}\nleapfile {}\ndriftfile {}\n",
                common::LOCAL_CONF,
                keys.display(),
                leap.display(),
                drift.display()
            ),
        )
        .unwrap();
        let ns = Netns::new();
        let mut p = ntpd(&ns, &tmp, &conf);
        let wanted = [
            format!("keys file {}: ", keys.display()),
            format!("leapsecond file ('{}'): cannot read: ", leap.display()),
            format!("{}: ", drift.display()),
        ];
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let took = p.wait_for_stderr(&wanted, Duration::from_secs(10));
        eprintln!(
            "keys {}, leapfile {}, driftfile {}: refusals logged after {took:?}",
            keys.display(),
            leap.display(),
            drift.display()
        );
        let log = p.stderr();
        assert!(took.is_some_and(|t| t < REFUSED_WITHIN), "{}", p.describe());
        assert_eq!(log.matches("not a regular file").count(), 3, "{log}");
        common::wait_for_stratum(&ns, common::ntp_addr("127.0.0.1"), 11, common::STARTUP);
        let rss = peak_rss_kb(&p);
        eprintln!("  peak RSS {rss} KB");
        assert!(rss < MAX_RSS_KB, "{rss} KB");
        assert!(p.is_alive(), "{}", p.describe());
        p.stop();
        let kind = std::fs::symlink_metadata(&drift).unwrap().file_type();
        if drift != zero_link {
            assert!(!kind.is_file(), "{} was replaced", drift.display());
            let temp = format!("{}.TEMP", drift.display());
            assert!(!Path::new(&temp).exists(), "{temp} left behind");
        }
    }
    let zero = std::fs::metadata("/dev/zero").unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&zero));
}

#[test]
fn rhel6_config_with_latin1_and_gbk_comments_keeps_local_clock_and_noquery() {
    let Some(mut lab) = LanLab::new() else { return };
    let conf = rhel6_with_foreign_comments(&lab.tmp);
    let p = ntpd(&lab.lan.server, &lab.tmp, &conf);
    lab.procs.push(p);
    let addr = common::ntp_addr(SERVER);
    common::wait_for_stratum(&lab.lan.client, addr, 11, common::STARTUP);
    let log = lab.procs[0].stderr();
    assert!(
        !log.contains("running with defaults") && !log.contains("byte 0x"),
        "{log}"
    );
    if let Some(seen) = common::ntpdig(&lab.lan.client, &lab.tmp, SERVER) {
        assert_eq!(
            seen.stratum, 11,
            "LOCAL(0) at stratum 10 serves 11: {seen:?}"
        );
    }
    // noquery for everyone but localhost: ntpq from the LAN gets nothing...
    let ntpq = env!("CARGO_BIN_EXE_ntpq");
    let start = Instant::now();
    // A 2 s primary timeout instead of 5: silence is silence.
    let argv = [ntpq, "-c", "timeout 2000", "-c", "peers", SERVER];
    let out = lab.lan.client.run(&lab.tmp, &argv, CLIENT_TIMEOUT);
    eprintln!("ntpq peers from the LAN: {:?}, {out:?}", start.elapsed());
    assert!(!out.timed_out, "{out:?}");
    assert!(out.stderr.contains("timed out"), "{out:?}");
    assert!(!out.stdout.contains("LOCAL(0)"), "{out:?}");
    // ...while on the server itself `restrict 127.0.0.1` lets it see LOCAL(0).
    let out = lab
        .lan
        .server
        .run(&lab.tmp, &[ntpq, "-pn", "127.0.0.1"], CLIENT_TIMEOUT);
    assert!(out.stdout.contains("127.127.1.0"), "{out:?}");
}

/// 200,000 key lines (IDs cycle through 1..65534, so later lines replace earlier ones).
fn big_keys_file() -> String {
    let mut text = String::from("# generated\n");
    for n in 0..200_000u32 {
        let id = n % 65_534 + 1;
        if n % 2 == 0 {
            let hex = u128::from(n) * 0x9e37_79b9_7f4a_7c15;
            writeln!(text, "{id} SHA1 {hex:040x}").unwrap();
        } else {
            writeln!(text, "{id} M pw{n:08}").unwrap();
        }
    }
    text
}

#[test]
fn two_hundred_thousand_keys_load_in_linear_time() {
    let tmp = TempDir::new();
    let text = big_keys_file();
    let path = tmp.write("keys", &text);
    let start = Instant::now();
    let loaded = ntp6::auth::load::load(Path::new(&path)).expect("keys load");
    let took = start.elapsed();
    eprintln!(
        "200000 key lines ({} bytes): {} keys in {took:?}",
        text.len(),
        loaded.keys.len()
    );
    assert_eq!(loaded.keys.len(), 65_534);
    assert!(loaded
        .diagnostics
        .iter()
        .all(|d| d.contains("world-readable")));
    // Generous even for a debug build on a loaded machine; the quadratic load took 7.4 s
    // in a release build.
    assert!(took < Duration::from_secs(5), "{took:?}");
}
