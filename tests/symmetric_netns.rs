//! Symmetric mode with a real peer on the reference LAN: chronyd on the client host with
//! `peer 172.25.0.11` (symmetric active), our daemon on the server host mobilising the
//! passive association, unauthenticated under `disable auth` and with a trusted MD5 key
//! under the default `enable auth`. Our passive association answers chronyd's first
//! packet, is proven by its next one, then polls on its own at chronyd's rate: it becomes
//! reachable, and chronyd's measurements from us pass all its tests. Every daemon runs without
//! CAP_SYS_TIME; ours on a virtual clock, chronyd with -x.

mod common;

use common::{require_peer, LanLab, CLIENT, SERVER, STARTUP};
use std::os::unix::fs::PermissionsExt;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long the passive association may take to become reachable (chronyd polls every
/// 8 s here: its first packet is answered, its second proves the address, and it must
/// select us before its packets pass our tests).
const REACH_WITHIN: Duration = Duration::from_secs(60);

const MD5: &str = "md5-secret-key";

/// Our `ntpq -pn` row for `remote` on the server host.
fn our_row(lab: &LanLab, remote: &str) -> Option<String> {
    let argv = [env!("CARGO_BIN_EXE_ntpq"), "-pn", "127.0.0.1"];
    let out = lab.lan.server.run(&lab.tmp, &argv, Duration::from_secs(10));
    out.stdout
        .lines()
        .find(|l| l.get(1..).is_some_and(|r| r.starts_with(remote)))
        .map(str::to_string)
}

/// The reach field (octal) of an `ntpq -pn` row.
fn reach(row: &str) -> u32 {
    row[1..]
        .split_whitespace()
        .nth(6)
        .and_then(|r| u32::from_str_radix(r, 8).ok())
        .unwrap_or(0)
}

/// Our server with LOCAL(0) and `extra` config; chronyd on the client host as its
/// symmetric peer with `peer_options` (and `chrony_extra` config). Once our passive
/// association is reachable, chronyd must have a measurement from us passing all its
/// tests, and our log the association's mobilisation (a peer event: classic logs only the
/// sync class unless `logconfig` asks for more).
fn symmetric_with_chronyd(extra: &str, peer_options: &str, chrony_extra: &str) {
    if require_peer("chronyd").is_none() {
        return;
    }
    let Some(mut lab) = LanLab::new() else { return };
    let conf = lab.tmp.write(
        "server.conf",
        &format!("{}logconfig +peerevents\n{extra}", common::LOCAL_CONF),
    );
    let argv = [
        env!("CARGO_BIN_EXE_ntpd"),
        "-n",
        "-c",
        &conf,
        "--virtual-clock",
        "0",
    ];
    let server = lab.lan.server.spawn(&lab.tmp, &argv);
    lab.procs.push(server);
    common::wait_for_stratum(&lab.lan.server, common::ntp_addr("127.0.0.1"), 11, STARTUP);

    let dir = lab.tmp.path().join("chrony");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let chrony_conf = lab.tmp.write(
        "chrony.conf",
        &format!(
            "peer {SERVER} minpoll 3 maxpoll 3 {peer_options}\n{chrony_extra}logdir {d}\n\
             log measurements\npidfile {d}/chronyd.pid\ncmdport 0\nbindcmdaddress /\n"
        ),
    );
    let Some(chrony) = common::spawn_chronyd(&lab.lan.client, &lab.tmp, &chrony_conf) else {
        return;
    };
    lab.procs.push(chrony);

    let started = Instant::now();
    let row = loop {
        match our_row(&lab, CLIENT) {
            Some(r) if reach(&r) != 0 => break r,
            _ if started.elapsed() > REACH_WITHIN => {
                let procs: Vec<String> = lab.procs.iter().map(|p| p.describe()).collect();
                panic!(
                    "no reachable passive association for {CLIENT}\n{}",
                    procs.join("\n")
                );
            }
            _ => sleep(Duration::from_secs(2)),
        }
    };
    eprintln!(
        "passive association reachable after {:?}: {row}",
        started.elapsed()
    );
    let log = std::fs::read_to_string(dir.join("measurements.log")).unwrap_or_default();
    eprintln!("chronyd measurements:\n{log}");
    // A measurement from us whose tests all passed (`... 111 111 1111 ...`; with `key`
    // configured, test 5 passes only for a reply authenticated with it).
    let good = log
        .lines()
        .filter(|l| l.contains(SERVER) && l.contains(" 111 111 1111 "))
        .collect::<Vec<_>>();
    assert!(
        !good.is_empty(),
        "chronyd has no valid measurement from us:\n{log}"
    );
    let ours = lab.procs[0].describe();
    assert!(ours.contains("passive association"), "{ours}");
}

#[test]
fn chronyd_peer_with_disable_auth() {
    symmetric_with_chronyd("disable auth\n", "", "");
}

#[test]
fn chronyd_peer_with_a_trusted_key() {
    let tmp = common::TempDir::new();
    let keys = tmp.write("server.keys", &format!("1 M {MD5}\n"));
    let chrony_keys = tmp.write("chrony.keys", &format!("1 MD5 {MD5}\n"));
    for path in [&keys, &chrony_keys] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    symmetric_with_chronyd(
        &format!("keys {keys}\ntrustedkey 1\n"),
        "key 1",
        &format!("keyfile {chrony_keys}\n"),
    );
}
