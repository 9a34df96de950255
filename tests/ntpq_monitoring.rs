//! ntpq's 4.2.8 monitoring commands (mrulist, sysinfo, sysstats, ...) and classic's
//! multi-host peer table, against our mode 6 server through an in-memory transport.

#[path = "control_fixture.rs"]
mod fixture;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use fixture::{captured, LocalServer, CLOCK_TIME};
use ntp6::control::{
    handle, ClockVars, Context, ControlState, MruEntry, MruSource, NonceKey, PeerStatus, PeerVars,
    QueryAccess, ServerStats, SystemVars,
};
use ntp6::ntpq::commands::{Ntpq, Out};
use ntp6::ntpq::display::{Numeric, Resolver};
use ntp6::ntpq::session::Transport;
use ntp6::time::{NtpDuration, NtpTimestamp};

/// The fixture server with some statistics.
struct Busy;

impl ControlState for Busy {
    fn system(&self) -> SystemVars {
        LocalServer.system()
    }
    fn associations(&self) -> Vec<(u16, PeerStatus)> {
        LocalServer.associations()
    }
    fn peer(&self, id: u16) -> Option<PeerVars> {
        LocalServer.peer(id)
    }
    fn clock(&self, id: u16) -> Option<ClockVars> {
        LocalServer.clock(id)
    }
    fn stats(&self) -> ServerStats {
        let mut s = ServerStats {
            uptime: 7200,
            since_reset: 7200,
            ..ServerStats::default()
        };
        s.packets.received = 1234;
        s.packets.this_version = 1200;
        s.packets.old_version = 34;
        s.packets.kod_sent = 2;
        s
    }
}

/// A monitor list of `n` clients, one second apart, the newest seen at `now`.
struct Clients(Vec<MruEntry>);

impl Clients {
    fn new(n: usize) -> Clients {
        let now = NtpTimestamp::from_bits(CLOCK_TIME);
        Clients(
            (0..n)
                .map(|i| {
                    let ago = NtpDuration::from_secs((n - i) as i32);
                    MruEntry {
                        addr: SocketAddr::new(IpAddr::from([192, 0, 2, 0]), 1024 + i as u16),
                        first: now + -ago + -NtpDuration::from_secs(100),
                        last: now + -ago,
                        count: 11,
                        mode: 3,
                        version: 4,
                        restrict: if i == 0 { 0x420 } else { 0 },
                    }
                })
                .collect(),
        )
    }
}

impl MruSource for Clients {
    fn visit(&self, after: Option<NtpTimestamp>, visit: &mut dyn FnMut(&MruEntry) -> bool) {
        for e in &self.0 {
            if after.is_some_and(|a| (e.last - a).to_bits() <= 0) {
                continue;
            }
            if !visit(e) {
                return;
            }
        }
    }
}

/// Answers each request with our server over `Busy` and the client list.
struct Loopback {
    queue: VecDeque<Vec<u8>>,
    clients: Clients,
    requests: RefCell<Vec<String>>,
}

impl Transport for Loopback {
    fn send(&mut self, d: &[u8]) -> io::Result<()> {
        let key = NonceKey::new([1, 2]);
        let ctx = Context {
            state: &Busy,
            mru: Some(&self.clients),
            nonce: &key,
            client: "127.0.0.1:40000".parse().unwrap(),
            now: NtpTimestamp::from_bits(CLOCK_TIME),
        };
        self.requests
            .borrow_mut()
            .push(String::from_utf8_lossy(&d[12..]).into_owned());
        let queue = &mut self.queue;
        handle(d, QueryAccess::default(), &ctx, &mut |r| {
            queue.push_back(r.to_vec())
        });
        Ok(())
    }

    fn recv(&mut self, _: Duration) -> io::Result<Option<Vec<u8>>> {
        Ok(self.queue.pop_front())
    }

    /// Answers are queued at once: no time passes.
    fn mono(&self) -> Duration {
        Duration::ZERO
    }
}

/// Resolves 127.0.0.1 to `localhost`, as /etc/hosts does.
struct Hosts;

impl Resolver for Hosts {
    fn name_of(&self, addr: IpAddr) -> Option<String> {
        (addr == IpAddr::from([127, 0, 0, 1])).then(|| "localhost".into())
    }
}

/// Runs `commands`; returns stdout, stderr and the request texts sent.
fn run(
    commands: &[&str],
    clients: usize,
    resolver: &dyn Resolver,
    width: Option<usize>,
) -> (String, String, Vec<String>) {
    let mut t = Loopback {
        queue: VecDeque::new(),
        clients: Clients::new(clients),
        requests: RefCell::new(Vec::new()),
    };
    let now = || 0xeeab8432_fbbb1d05u64 + (59 << 32);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    {
        let mut q = Ntpq::new(&mut t, resolver, "localhost", &now);
        q.hosts_width = width;
        let mut o = Out {
            out: &mut out,
            err: &mut err,
        };
        for c in commands {
            q.run(c, &mut o).unwrap();
        }
    }
    let sent = t.requests.into_inner();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        sent,
    )
}

#[test]
fn several_hosts_get_classics_server_column() {
    let (out, _, _) = run(&["peers"], 0, &Hosts, Some(26));
    let classic = captured("lan.txt", "ntpq -p 172.25.0.11 127.0.0.1");
    let classic: Vec<&str> = classic.lines().collect();
    let ours: Vec<&str> = out.lines().collect();
    assert_eq!(ours[..2], classic[..2], "{out}");
    // Same row as classic's first host (LOCAL(0) seen through 127.0.0.1) but for `when`.
    assert_eq!(ours[2][..70], classic[2][..70], "{out}");
    assert_eq!(ours[2].len(), classic[2].len());
}

#[test]
fn sysinfo_and_sysstats_print_4_2_8_layout() {
    let (out, err, sent) = run(&["sysinfo", "sysstats"], 0, &Numeric, None);
    assert_eq!(err, "");
    assert!(sent[0].starts_with("peeradr,peermode,leap,stratum,"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "associd=0 status=c511 leap_alarm, sync_local, 1 event, freq_not_set,",
            "system peer:        LOCAL(0)",
            "system peer mode:   client",
            "leap indicator:     11",
            "stratum:            11",
            "log2 precision:     -22",
        ]
    );
    assert!(out.contains("\nuptime:                 7200\n"), "{out}");
    assert!(out.contains("\npackets received:       1234\n"), "{out}");
    assert!(out.contains("\nolder version:          34\n"), "{out}");
    assert!(out.ends_with("\nprocessed for time:     0\n"), "{out}");
}

#[test]
fn kerninfo_monstats_iostats_authinfo_timerstats_answer() {
    let (out, err, _) = run(
        &["kerninfo", "monstats", "iostats", "authinfo", "timerstats"],
        0,
        &Numeric,
        None,
    );
    assert_eq!(err, "");
    for want in [
        "pll offset:            0\n",
        "kernel status:         \n",
        "calibration errors:    0\n",
        "reclaim older than:   0\n",
        "useful input wakeups:   0\n",
        "decryptions:       0\n",
        "calls to transmit:   0\n",
    ] {
        assert!(out.contains(want), "{want:?} in {out}");
    }
}

#[test]
fn mrulist_uses_a_nonce_and_lists_newest_first() {
    let (out, err, sent) = run(&["mrulist"], 3, &Numeric, None);
    assert_eq!(sent[0], "", "the nonce request carries no data");
    assert!(sent[1].starts_with("nonce="), "{sent:?}");
    assert_eq!(
        err,
        "Ctrl-C will stop MRU retrieval and display partial results.\n\
         \rRetrieved 3 unique MRU entries and 0 updates.\n"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "lstint avgint rstr r m v  count rport remote address"
    );
    assert_eq!(lines[1], "=".repeat(78));
    assert_eq!(lines[2], "     1      9    0 . 3 4     11  1026 192.0.2.0");
    assert_eq!(lines[4], "     3      9  420 K 3 4     11  1024 192.0.2.0");
}

#[test]
fn a_long_mrulist_comes_in_several_requests() {
    let (out, err, sent) = run(&["mrulist sort=-lstint"], 400, &Numeric, None);
    assert!(
        err.ends_with("Retrieved 400 unique MRU entries and 0 updates.\n"),
        "{err}"
    );
    let reads: Vec<&String> = sent.iter().filter(|s| s.starts_with("nonce=")).collect();
    assert!(reads.len() > 1, "{} READ_MRU requests", reads.len());
    assert!(reads[1].contains(", addr.0="), "{}", reads[1]);
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rows.len(), 400);
    assert!(
        rows[0].ends_with(" 1024 192.0.2.0"),
        "oldest first: {}",
        rows[0]
    );
}

#[test]
fn remote_configuration_needs_the_controlkey() {
    let (out, err, _) = run(
        &[":config server 192.0.2.1", "saveconfig ntp.conf"],
        0,
        &Numeric,
        None,
    );
    // Classic ntpq signs these requests; with no key ID given it says so and sends nothing.
    assert_eq!(out, "");
    assert_eq!(err, "Invalid key identifier\nInvalid key identifier\n");
}

#[test]
fn ifstats_needs_the_controlkey() {
    let (out, err, _) = run(&["ifstats"], 0, &Numeric, None);
    assert_eq!(out, "");
    assert_eq!(err, "***Server disallowed request (authentication?)\n");
}
