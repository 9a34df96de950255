//! Manycast on a LAN of three namespaces: two of our servers (LOCAL(0)) with
//! `manycastserver 224.0.1.1`, and our client with `manycastclient 224.0.1.1`, which
//! must find both and select one.

mod common;

use common::{LanLab, CLIENT, CLIENT2, SERVER};
use std::thread::sleep;
use std::time::{Duration, Instant};

const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");
const GROUP: &str = "224.0.1.1";
/// How long the client may take to find and select the servers.
const FIND_WITHIN: Duration = Duration::from_secs(40);

#[test]
fn manycast_client_finds_and_selects_both_servers() {
    let Some(mut lab) = LanLab::new() else { return };
    lab.enable_multicast();
    let server_conf = format!("{}manycastserver {GROUP}\n", common::LOCAL_CONF);
    for addr in [SERVER, CLIENT2] {
        lab.ours(addr, &server_conf, None);
        common::wait_for_stratum(
            lab.host(addr),
            common::ntp_addr("127.0.0.1"),
            11,
            common::STARTUP,
        );
    }
    let client = lab.ours(
        CLIENT,
        &format!("manycastclient {GROUP} minpoll 4 iburst\nlogconfig +peerevents\n"),
        Some("0.05"),
    );
    let started = Instant::now();
    let peers = loop {
        let out = lab.lan.client.run(
            &lab.tmp,
            &[NTPQ, "-n", "-c", "peers", "127.0.0.1"],
            common::CLIENT_TIMEOUT,
        );
        let rows: Vec<&str> = out.stdout.lines().collect();
        let found = [SERVER, CLIENT2]
            .iter()
            .all(|s| rows.iter().any(|r| r[1..].starts_with(s)));
        let selected = rows
            .iter()
            .any(|r| r.starts_with(&format!("*{SERVER}")) || r.starts_with(&format!("*{CLIENT2}")));
        if found && selected {
            break out.stdout;
        }
        assert!(
            started.elapsed() < FIND_WITHIN,
            "servers not found and selected:\n{}\n{}",
            out.stdout,
            lab.outputs()
        );
        sleep(Duration::from_secs(1));
    };
    eprintln!(
        "manycast client found and selected a server after {:.1} s:\n{peers}",
        started.elapsed().as_secs_f64()
    );
    // The solicitation's own row: the group address, refid ACST.
    assert!(
        peers
            .lines()
            .any(|r| r[1..].starts_with(GROUP) && r.contains(".ACST.")),
        "{peers}"
    );
    let log = lab.procs[client].describe();
    for s in [SERVER, CLIENT2] {
        assert!(
            log.contains(&format!("{s} manycast server association")),
            "{log}"
        );
    }
}
