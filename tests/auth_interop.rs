//! Symmetric-key authentication against real implementations on the reference LAN
//! (tests/common/netns.rs): NTPsec's ntpd and chronyd as clients of our server and as
//! servers for our client, MD5 and SHA1 keys, a wrong key left unusable, ntpdate -a/-k,
//! `restrict default notrust` with ntpdig, and ntpq writes with the controlkey.
//!
//! Our server runs at 172.25.0.11 (LAN) and 172.26.0.11 (outsider side); clients run in
//! the client, client2 and outsider namespaces. Every process runs under `setpriv
//! --bounding-set -sys_time`; our daemons run on a virtual clock, NTPsec with
//! `disable ntp`, chronyd with -x or -Q, ntpdate with -q.

mod common;

use common::{LanLab, Netns, Output, Proc, TempDir, CLIENT_TIMEOUT, SERVER, SERVER_OUTSIDE};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Long enough for chrony, which warns about MD5 keys under 10 octets.
const MD5: &str = "md5-secret-key";
/// 20 octets as 40 hex digits: the same key for classic, NTPsec and chrony (`HEX:`).
const SHA1_HEX: &str = "0123456789abcdef0123456789abcdef01234567";

/// Keys 1 (MD5) and 2 (SHA1) in classic format, which NTPsec reads too.
fn classic_keys(md5: &str) -> String {
    format!("1 md5 {md5}\n2 sha1 {SHA1_HEX}\n")
}

/// How long an association may take to become reachable and authentic.
const SYNC: Duration = Duration::from_secs(40);
/// How long a wrong-key association is watched (iburst sends 8 requests in ~14 s).
const WATCH: Duration = Duration::from_secs(12);

type Lab = LanLab;

impl Lab {
    /// A private file (mode 600) in the lab's directory.
    fn secret_file(&self, name: &str, text: &str) -> String {
        let path = self.tmp.write(name, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
        path
    }

    /// Our server on the server host: LOCAL(0), keys 1 and 2 trusted, controlkey 1.
    fn our_server(&mut self, restrict: &str) {
        let keys = self.secret_file("server.keys", &classic_keys(MD5));
        let conf = format!(
            "{}{restrict}keys {keys}\ntrustedkey 1 2\ncontrolkey 1\n",
            common::LOCAL_CONF
        );
        let p = ours(&self.tmp, &self.lan.server, "server.conf", &conf);
        self.procs.push(p);
        let local = common::ntp_addr("127.0.0.1");
        common::wait_for_stratum(&self.lan.server, local, 11, common::STARTUP);
    }

    /// Every process's output and the NTPsec logs, for assertion messages.
    fn describe(&self) -> String {
        let mut text: Vec<String> = self.procs.iter().map(Proc::describe).collect();
        for entry in std::fs::read_dir(self.tmp.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                text.push(format!("--- {} ---\n{log}", path.display()));
            }
        }
        text.join("\n")
    }
}

/// Our ntpd in `ns` with ntp.conf `conf` (named `name`), on a virtual clock.
fn ours(tmp: &TempDir, ns: &Netns, name: &str, conf: &str) -> Proc {
    common::spawn_ours(ns, tmp, name, conf, Some("0"))
}

/// NTPsec's ntpd in `ns`, never steering the clock; None = skipped.
fn ntpsec(tmp: &TempDir, ns: &Netns, conf: &str) -> Option<Proc> {
    // Without restrict lines NTPsec 1.2 answers no mode 6 queries.
    let conf = format!(
        "restrict default nomodify\nrestrict 127.0.0.1\n{conf}disable ntp\ndisable kernel\n"
    );
    common::spawn_ntpsec(ns, tmp, &conf)
}

/// `reach` and `auth` of the first row of `ntpq -n -c associations` (classic layout).
fn association(ntpq: &str, ns: &Netns, tmp: &TempDir) -> Option<(String, String)> {
    let out = ns.run(
        tmp,
        &[ntpq, "-n", "-c", "associations", "127.0.0.1"],
        CLIENT_TIMEOUT,
    );
    let mut lines = out.stdout.lines();
    lines.find(|l| l.starts_with("===="))?;
    let row = lines.next()?;
    let words: Vec<&str> = row.split_whitespace().collect();
    Some((words.get(4)?.to_string(), words.get(5)?.to_string()))
}

/// Waits until the association is reachable and authentic.
fn wait_authentic(ntpq: &str, ns: &Netns, lab: &Lab) {
    let deadline = Instant::now() + SYNC;
    let mut last = None;
    while Instant::now() < deadline {
        last = association(ntpq, ns, &lab.tmp);
        if last.as_ref().is_some_and(|(r, a)| r == "yes" && a == "ok") {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!(
        "never reachable and authentic: {last:?}\n{}",
        lab.describe()
    );
}

/// Watches a wrong-key association: never reachable, `auth` bad.
fn assert_unusable(ntpq: &str, ns: &Netns, lab: &Lab) {
    let start = Instant::now();
    while start.elapsed() < WATCH {
        let seen = association(ntpq, ns, &lab.tmp);
        assert_ne!(
            seen.as_ref().map(|s| s.0.as_str()),
            Some("yes"),
            "{}",
            lab.describe()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let seen = association(ntpq, ns, &lab.tmp);
    assert_eq!(
        seen,
        Some(("no".to_string(), "bad".to_string())),
        "{}",
        lab.describe()
    );
}

const OUR_NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");

/// NTPsec clients of our server: MD5 on the LAN, SHA1 from the outsider side, and a wrong
/// MD5 key from client2, which never gets time.
#[test]
fn ntpsec_authenticates_to_our_server() {
    let Some(mut lab) = Lab::new() else { return };
    lab.our_server("");
    let good = lab.secret_file("client.keys", &classic_keys(MD5));
    let bad = lab.secret_file("wrong.keys", &classic_keys("not-the-key"));
    let lan = &lab.lan;
    let runs = [
        (&lan.client, SERVER, 1, &good),
        (&lan.outsider, SERVER_OUTSIDE, 2, &good),
        (&lan.client2, SERVER, 1, &bad),
    ];
    for (ns, server, key, keys) in runs {
        let conf = format!(
            "server {server} key {key} iburst minpoll 3 maxpoll 4\nkeys {keys}\ntrustedkey 1 2\n"
        );
        let Some(p) = ntpsec(&lab.tmp, ns, &conf) else {
            return;
        };
        lab.procs.push(p);
    }
    // Our ntpq reads NTPsec's associations (NTPsec's own ntpq times out in these
    // namespaces, against its own daemon too).
    wait_authentic(OUR_NTPQ, &lab.lan.client, &lab);
    wait_authentic(OUR_NTPQ, &lab.lan.outsider, &lab);
    assert_unusable(OUR_NTPQ, &lab.lan.client2, &lab);
}

/// Our client of NTPsec's server: MD5, SHA1 and a wrong key (TEST5, `flash` pkt_auth).
#[test]
fn our_client_authenticates_to_ntpsec() {
    let Some(mut lab) = Lab::new() else { return };
    let server_keys = lab.secret_file("server.keys", &classic_keys(MD5));
    let conf = format!("tos orphan 10 orphanwait 1\nkeys {server_keys}\ntrustedkey 1 2\n");
    let Some(p) = ntpsec(&lab.tmp, &lab.lan.server, &conf) else {
        return;
    };
    lab.procs.push(p);
    let local = common::ntp_addr("127.0.0.1");
    common::wait_for_stratum(&lab.lan.server, local, 10, common::STARTUP);
    our_clients_against(&mut lab);
}

/// Our three client daemons (MD5 on the LAN, SHA1 from outside, wrong MD5 key) against
/// whatever authenticating server the lab runs.
fn our_clients_against(lab: &mut Lab) {
    let good = lab.secret_file("client.keys", &classic_keys(MD5));
    let bad = lab.secret_file("wrong.keys", &classic_keys("not-the-key"));
    let lan = &lab.lan;
    let runs = [
        (&lan.client, SERVER, 1, &good),
        (&lan.outsider, SERVER_OUTSIDE, 2, &good),
        (&lan.client2, SERVER, 1, &bad),
    ];
    for (ns, server, key, keys) in runs {
        let conf =
            format!("server {server} key {key} iburst minpoll 4\nkeys {keys}\ntrustedkey 1 2\n");
        let p = ours(&lab.tmp, ns, &format!("client-{}.conf", ns.name), &conf);
        lab.procs.push(p);
    }
    wait_authentic(OUR_NTPQ, &lab.lan.client, lab);
    wait_authentic(OUR_NTPQ, &lab.lan.outsider, lab);
    assert_unusable(OUR_NTPQ, &lab.lan.client2, lab);
    let argv = [OUR_NTPQ, "-n", "-c", "rv 0 stratum", "127.0.0.1"];
    let out = lab.lan.client2.run(&lab.tmp, &argv, CLIENT_TIMEOUT);
    assert!(out.stdout.contains("stratum=16"), "{out:?}");
}

/// chrony's keys: `ID TYPE ASCII-or-HEX:`.
fn chrony_keys(md5: &str) -> String {
    format!("1 MD5 {md5}\n2 SHA1 HEX:{SHA1_HEX}\n")
}

/// `chronyd -Q` with one keyed source: its measurement, or None when nothing usable
/// came back within its 15 s.
fn chrony_measures(lab: &Lab, ns: &Netns, server: &str, key: u32, keys_text: &str) -> Option<u8> {
    let bin = common::require_peer("chronyd")?;
    let dir = lab.tmp.path().join(format!("chrony-{}-{key}", ns.name));
    // A fresh directory: an earlier run's measurements must not count.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let d = dir.to_str()?;
    let keys = lab.secret_file(&format!("chrony-{}-{key}.keys", ns.name), keys_text);
    let conf = lab.tmp.write(
        &format!("chrony-{}-{key}.conf", ns.name),
        &format!(
            "server {server} iburst key {key} maxsamples 1\nkeyfile {keys}\nlogdir {d}\n\
             log measurements\npidfile {d}/chronyd.pid\ncmdport 0\nbindcmdaddress /\n"
        ),
    );
    let argv = [bin.to_str()?, "-Q", "-u", "root", "-f", &conf, "-t", "15"];
    let out = ns.run(&lab.tmp, &argv, CLIENT_TIMEOUT);
    let log = std::fs::read_to_string(dir.join("measurements.log")).unwrap_or_default();
    // A row whose tests all passed (`... L St 111 111 1111 ...`) for a request and reply
    // both authenticated with a symmetric key (MTxRx `K K`).
    let row = log.lines().find(|l| {
        l.contains(server) && l.contains(" 111 111 1111 ") && l.trim_end().ends_with("K K")
    });
    let stratum = row.and_then(|r| r.split_whitespace().nth(4)?.parse().ok());
    eprintln!("chronyd {server} key {key}: {stratum:?}\n{log}\n{out:?}");
    stratum
}

#[test]
fn chronyd_authenticates_to_our_server() {
    let Some(mut lab) = Lab::new() else { return };
    lab.our_server("");
    if common::require_peer("chronyd").is_none() {
        return;
    }
    let (client, outsider) = (&lab.lan.client, &lab.lan.outsider);
    let md5 = chrony_keys(MD5);
    assert_eq!(chrony_measures(&lab, client, SERVER, 1, &md5), Some(11));
    assert_eq!(
        chrony_measures(&lab, outsider, SERVER_OUTSIDE, 2, &md5),
        Some(11)
    );
    let wrong = chrony_keys("not-the-key");
    assert_eq!(chrony_measures(&lab, client, SERVER, 1, &wrong), None);
}

#[test]
fn our_client_authenticates_to_chronyd() {
    let Some(mut lab) = Lab::new() else { return };
    let Some(bin) = common::require_peer("chronyd") else {
        return;
    };
    let dir = lab.tmp.path().join("chrony-server");
    std::fs::create_dir_all(&dir).expect("dir");
    let d = dir.to_str().expect("utf-8");
    let keys = lab.secret_file("chrony-server.keys", &chrony_keys(MD5));
    let conf = lab.tmp.write(
        "chrony-server.conf",
        &format!(
            "local stratum 10\nallow all\nkeyfile {keys}\npidfile {d}/chronyd.pid\n\
             cmdport 0\nbindcmdaddress /\n"
        ),
    );
    // -x: never touch the clock; -d: stay in the foreground.
    let argv = [
        bin.to_str().expect("utf-8"),
        "-x",
        "-d",
        "-u",
        "root",
        "-f",
        &conf,
    ];
    let p = lab.lan.server.spawn(&lab.tmp, &argv);
    lab.procs.push(p);
    let local = common::ntp_addr("127.0.0.1");
    common::wait_for_stratum(&lab.lan.server, local, 10, common::STARTUP);
    our_clients_against(&mut lab);
}

fn ntpdate(lab: &Lab, args: &[&str]) -> Output {
    let mut argv = vec![env!("CARGO_BIN_EXE_ntpdate")];
    argv.extend_from_slice(args);
    lab.lan.client.run(&lab.tmp, &argv, CLIENT_TIMEOUT)
}

#[test]
fn ntpdate_with_a_key_against_our_server() {
    let Some(mut lab) = Lab::new() else { return };
    lab.our_server("");
    let good = lab.secret_file("ntpdate.keys", &classic_keys(MD5));
    let bad = lab.secret_file("ntpdate-wrong.keys", &classic_keys("not-the-key"));
    for key in ["1", "2"] {
        let out = ntpdate(&lab, &["-q", "-p", "1", "-a", key, "-k", &good, SERVER]);
        assert_eq!(out.code, Some(0), "key {key}: {out:?}");
        assert!(
            out.stdout.contains(&format!("server {SERVER}, stratum 11")),
            "{out:?}"
        );
    }
    let out = ntpdate(&lab, &["-d", "-p", "1", "-a", "1", "-k", &bad, SERVER]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout.contains("Server dropped: Server is untrusted"),
        "{out:?}"
    );
    assert!(out.stdout.contains("trust 001"), "{out:?}");
    assert!(
        out.stderr
            .contains("no server suitable for synchronization found"),
        "{out:?}"
    );
}

#[test]
fn notrust_serves_only_authenticated_ntpdig() {
    let Some(mut lab) = Lab::new() else { return };
    lab.our_server("restrict default notrust\nrestrict 127.0.0.1\n");
    let Some(ntpdig) = common::require_peer("ntpdig") else {
        return;
    };
    let ntpdig = ntpdig.to_str().expect("utf-8").to_string();
    let keys = lab.secret_file("ntpdig.keys", &classic_keys(MD5));
    let client = &lab.lan.client;
    let plain = client.run(&lab.tmp, &[&ntpdig, "-t", "2", SERVER], CLIENT_TIMEOUT);
    assert!(common::parse_ntpdig(&plain.stdout).is_none(), "{plain:?}");
    assert_ne!(plain.code, Some(0), "{plain:?}");
    for key in ["1", "2"] {
        let out = client.run(
            &lab.tmp,
            &[&ntpdig, "-t", "2", "-a", key, "-k", &keys, SERVER],
            CLIENT_TIMEOUT,
        );
        let seen = common::parse_ntpdig(&out.stdout);
        assert_eq!(seen.map(|s| s.stratum), Some(11), "key {key}: {out:?}");
    }
}

/// ntpq writes (an empty `writelist`): refused without a key and with a trusted key that is not the controlkey,
/// done with the controlkey.
#[test]
fn ntpq_writevar_needs_the_controlkey() {
    let Some(mut lab) = Lab::new() else { return };
    lab.our_server("");
    let server = &lab.lan.server;
    let ntpq = |cmds: &[&str]| {
        let mut argv = vec![OUR_NTPQ];
        for c in cmds {
            argv.extend(["-c", c]);
        }
        argv.push("127.0.0.1");
        server.run(&lab.tmp, &argv, CLIENT_TIMEOUT)
    };
    let none = ntpq(&["writelist"]);
    assert_eq!(none.stderr, "Keyid: Invalid key identifier\n", "{none:?}");
    // A password on the command line is ignored, as classic's (it is read from the
    // terminal): without one, nothing signed is sent.
    let ignored = ntpq(&["keyid 1", &format!("passwd {MD5}"), "writelist"]);
    assert_eq!(ignored.stdout, "Password unchanged\n", "{ignored:?}");
    assert_eq!(
        ignored.stderr, "MD5 Password: MD5 Password: Invalid password\n",
        "{ignored:?}"
    );
    // Typed at the terminal's prompt: `ntpq -c 'keyid N' -c passwd -c writelist` (an empty
    // write, as `writevar 0` was before a command short of arguments printed its usage).
    let typed = |cmds: &[&str], password: &str, outcome: &str| {
        let mut argv = vec![OUR_NTPQ];
        for c in cmds.iter().chain(&["passwd", "writelist"]) {
            argv.extend(["-c", c]);
        }
        argv.push("127.0.0.1");
        let mut pty = common::Pty::spawn(server, &argv);
        pty.expect("Password: ");
        pty.send(&format!("{password}\n"));
        pty.expect(outcome);
        assert_eq!(pty.wait(), Some(0), "{cmds:?}");
    };
    let refused = "***Server disallowed request (authentication?)";
    typed(&["keyid 2", "keytype sha1"], SHA1_HEX, refused);
    typed(&["keyid 1"], "guess", refused);
    typed(&["keyid 1"], MD5, "done! (no data returned)");
}
