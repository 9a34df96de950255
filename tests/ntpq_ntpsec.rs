//! Our ntpq against NTPsec's ntpd in a fresh network namespace (skipped unless root with
//! `unshare`, `setpriv` and /usr/sbin/ntpd present). ntpd runs with `disable ntp kernel`
//! and without CAP_SYS_TIME, so the machine's clock cannot change.

use std::process::Command;

#[test]
fn peer_table_and_rv_against_ntpsec() {
    let root = is_root();
    if !root || !std::path::Path::new("/usr/sbin/ntpd").exists() {
        eprintln!("skipped: needs root and /usr/sbin/ntpd (ntpsec)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ntpq-ntpsec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("ntp.conf");
    std::fs::write(
        &conf,
        "restrict default nomodify\nrestrict 127.0.0.1\ntos orphan 10 orphanwait 1\n\
         disable ntp kernel\nserver 127.127.1.0\n",
    )
    .unwrap();
    let ntpq = env!("CARGO_BIN_EXE_ntpq");
    let script = format!(
        "ip link set lo up; setpriv --bounding-set -sys_time /usr/sbin/ntpd -n -c {conf} -l {log} >/dev/null 2>&1 & \
         P=$!; sleep 4; setpriv --bounding-set -sys_time {ntpq} -p -c rv 127.0.0.1; kill $P; wait $P",
        conf = conf.display(),
        log = dir.join("log").display(),
    );
    let out = Command::new("timeout")
        .args(["30", "unshare", "-n", "sh", "-c", &script])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "     remote           refid      st t when poll reach   delay   offset  jitter"
    );
    assert_eq!(lines[1], "=".repeat(78));
    assert!(lines[2].starts_with(" LOCAL(0)        .LOCL.  ") || lines[2].starts_with("*LOCAL(0)"));
    assert_eq!(lines[2].len(), lines[0].len(), "{}", lines[2]);
    assert!(text.contains("version=\"ntpd ntpsec-"), "{text}");
    assert!(text.contains("stratum=10"), "{text}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}
