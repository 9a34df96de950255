//! Our ntpd and the signals classic 4.2.6p5 handles, against the real daemon in a fresh
//! network namespace: SIGUSR1/SIGUSR2 raise and lower the debug level, SIGHUP, SIGALRM
//! and SIGPIPE are ignored (the daemon keeps answering), and SIGTERM and SIGQUIT end it
//! cleanly, drift file written and pid file removed, within 100 ms even while a flood of
//! requests keeps its socket full.

mod common;

use common::{Netns, Proc, Serial, TempDir, LOCAL_CONF, STARTUP};
use std::fs;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The drift file's value at start; a clean stop writes it back.
const DRIFT: &str = "7.250";
/// How long termination may take (issue 16).
const STOP_BOUND: Duration = Duration::from_millis(100);
/// The flood never runs longer than this, nor sends more than [`FLOOD_MAX`] requests.
const FLOOD_TIME: Duration = Duration::from_secs(4);
const FLOOD_MAX: usize = 2_000_000;
/// Requests per second: the flood of issue 16.
const FLOOD_RATE: f64 = 180_000.0;
/// Flooding before the signal, so the daemon's socket is full when it comes.
const FLOOD_LEAD: Duration = Duration::from_millis(700);

fn server() -> SocketAddr {
    "127.0.0.1:123".parse().expect("addr")
}

/// Our ntpd serving LOCAL(0) on a virtual clock, with a drift file, a pid file and a log
/// file. Fields drop in order: the daemon stops, the namespace and files go, the serial
/// lock is released last.
struct Daemon {
    proc: Proc,
    ns: Netns,
    tmp: TempDir,
    pid_file: PathBuf,
    drift_file: PathBuf,
    log_file: PathBuf,
    _lock: Serial,
}

impl Daemon {
    /// None = skipped (no root).
    fn start() -> Option<Daemon> {
        let lock = common::setup()?;
        let tmp = TempDir::new();
        let ns = Netns::new();
        let drift_file = PathBuf::from(tmp.write("ntp.drift", &format!("{DRIFT}\n")));
        let pid_file = tmp.path().join("ntpd.pid");
        let log_file = tmp.path().join("ntpd.log");
        let conf = tmp.write(
            "ntp.conf",
            &format!("{LOCAL_CONF}driftfile {}\n", drift_file.display()),
        );
        let argv = [
            env!("CARGO_BIN_EXE_ntpd"),
            "-n",
            "-c",
            &conf,
            "-p",
            pid_file.to_str().expect("utf-8 path"),
            "-l",
            log_file.to_str().expect("utf-8 path"),
            "--virtual-clock",
            "0",
        ];
        let proc = ns.spawn(&tmp, &argv);
        let mut d = Daemon {
            proc,
            ns,
            tmp,
            pid_file,
            drift_file,
            log_file,
            _lock: lock,
        };
        if let Err(e) = common::wait_for_ntp(&d.ns, server(), STARTUP) {
            panic!("{e}\n{}", d.describe());
        }
        d.assert_alive("at start");
        let pid = fs::read_to_string(&d.pid_file).expect("pid file written at start");
        assert_eq!(pid.trim(), d.proc.pid().to_string());
        Some(d)
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!("{}--- log ---\n{}", self.proc.describe(), self.log())
    }

    fn assert_alive(&mut self, when: &str) {
        assert!(self.proc.is_alive(), "died {when}\n{}", self.describe());
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own unreaped child, so the PID cannot have been reused.
        let rc = unsafe { libc::kill(self.proc.pid() as i32, sig) };
        assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
    }

    /// One mode 3 request from inside the namespace gets its answer.
    fn assert_serves(&mut self, when: &str) {
        let sock = common::socket_for(&self.ns, server());
        let reply = common::query(&sock, server(), Duration::from_secs(2));
        assert!(reply.is_some(), "no answer {when}\n{}", self.describe());
    }
}

/// Waits up to `timeout` for process `pid` to exit, without polling delays: a pidfd
/// becomes readable the moment the process ends. Returns how long it took.
fn wait_exit(pid: u32, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    // SAFETY: pidfd_open on our own unreaped child; the descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    assert!(fd >= 0, "pidfd_open: {}", io::Error::last_os_error());
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis() as i32;
    // SAFETY: one valid pollfd; then the descriptor we opened is closed.
    let ready = unsafe {
        let n = libc::poll(&mut pfd, 1, ms);
        libc::close(fd);
        n
    };
    (ready == 1).then(|| start.elapsed())
}

#[test]
fn debug_and_ignored_signals_leave_it_serving() {
    let Some(mut d) = Daemon::start() else { return };
    // SIGPIPE is ignored without a word (see src/sys/signals.rs).
    let steps = [
        (libc::SIGUSR1, Some("debug raised to 1")),
        (libc::SIGUSR1, Some("debug raised to 2")),
        (libc::SIGUSR2, Some("debug lowered to 1")),
        (libc::SIGALRM, Some("signal 14 ignored")),
        (libc::SIGPIPE, None),
        (libc::SIGHUP, Some("signal 1 ignored")),
        (libc::SIGUSR2, Some("debug lowered to 0")),
    ];
    for (sig, logged) in steps {
        d.signal(sig);
        let when = format!("after signal {sig}");
        let logged_yet = |d: &Daemon| logged.is_none_or(|text| d.log().contains(text));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !logged_yet(&d) && Instant::now() < deadline {
            sleep(Duration::from_millis(20));
        }
        d.assert_alive(&when);
        assert!(logged_yet(&d), "{logged:?} not logged\n{}", d.describe());
        d.assert_serves(&when);
    }
    assert!(d.pid_file.exists(), "pid file gone while running");
}

/// What the flood sent and got back.
#[derive(Debug, Default)]
struct Flood {
    sent: usize,
    answers: usize,
    seconds: f64,
}

/// Requests per sendmmsg(2) call.
const BURST: usize = 64;

/// Sends `BURST` copies of `request` on the connected `sock` in one system call; returns
/// how many left.
fn send_burst(sock: &UdpSocket, request: &[u8]) -> usize {
    let mut iov = libc::iovec {
        iov_base: request.as_ptr() as *mut libc::c_void,
        iov_len: request.len(),
    };
    // SAFETY: mmsghdr is plain data; every entry points at the one live iovec above.
    let mut msgs: [libc::mmsghdr; BURST] = unsafe { std::mem::zeroed() };
    for m in &mut msgs {
        m.msg_hdr.msg_iov = &mut iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: valid socket and BURST initialised headers.
    let n = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            msgs.as_mut_ptr(),
            BURST as u32,
            libc::MSG_DONTWAIT,
        )
    };
    n.max(0) as usize
}

/// Sends mode 3 requests to the daemon from inside `ns` at [`FLOOD_RATE`] (more than a
/// debug build answers, so its socket never runs dry) until `stop` is set,
/// [`FLOOD_TIME`] has passed or [`FLOOD_MAX`] requests have left.
fn flood(ns: &Netns, stop: &AtomicBool) -> Flood {
    let sock = common::socket_for(ns, server());
    sock.connect(server()).expect("connect");
    sock.set_nonblocking(true).expect("nonblocking");
    let request = common::client_request(common::now());
    let start = Instant::now();
    let mut f = Flood::default();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) && f.sent < FLOOD_MAX && start.elapsed() < FLOOD_TIME {
        f.sent += send_burst(&sock, &request);
        while sock.recv(&mut buf).is_ok() {
            f.answers += 1;
        }
        let due = Duration::from_secs_f64(f.sent as f64 / FLOOD_RATE);
        if let Some(ahead) = due.checked_sub(start.elapsed()) {
            sleep(ahead);
        }
    }
    f.seconds = start.elapsed().as_secs_f64();
    f
}

/// Octets waiting in the daemon's port 123 receive queue (/proc/net/udp, hex).
fn rx_queue(d: &Daemon) -> Option<u64> {
    let out =
        d.ns.run(&d.tmp, &["cat", "/proc/net/udp"], Duration::from_secs(5));
    out.stdout.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local = f.get(1)?;
        if !local.ends_with(":007B") {
            return None;
        }
        let (_, rx) = f.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// Sends `sig` in the middle of a flood; returns how long the daemon took to exit.
fn stop_under_flood(sig: i32) -> Option<()> {
    let mut d = Daemon::start()?;
    fs::remove_file(&d.drift_file).expect("remove drift file");
    let stop = AtomicBool::new(false);
    let (flood, took, queued) = std::thread::scope(|s| {
        let flooder = s.spawn(|| flood(&d.ns, &stop));
        sleep(FLOOD_LEAD);
        let queued = rx_queue(&d);
        d.signal(sig);
        let took = wait_exit(d.proc.pid(), Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        (flooder.join().expect("flood thread"), took, queued)
    });
    eprintln!(
        "signal {sig}: exit after {took:?} under a flood of {:.0} requests/s \
         ({} sent, {} answers received, {queued:?} octets queued at the daemon's socket when the signal left)",
        flood.sent as f64 / flood.seconds,
        flood.sent,
        flood.answers,
    );
    let took = took.unwrap_or_else(|| panic!("still running 5 s after signal {sig}"));
    assert!(!d.proc.is_alive(), "pidfd readable but the daemon runs");
    let status = d.proc.wait_timeout(Duration::ZERO).expect("reaped");
    assert_eq!(status.code(), Some(0), "{}", d.describe());
    assert!(
        took <= STOP_BOUND,
        "signal {sig} took {took:?} to end the daemon\n{}",
        d.describe()
    );
    let drift = fs::read_to_string(&d.drift_file).unwrap_or_default();
    assert_eq!(drift.trim(), DRIFT, "drift file at exit\n{}", d.describe());
    assert!(!d.pid_file.exists(), "pid file left behind");
    assert!(
        d.log().contains(&format!("ntpd exiting on signal {sig}")),
        "{}",
        d.describe()
    );
    Some(())
}

#[test]
fn term_under_flood_ends_it_cleanly_within_100_ms() {
    stop_under_flood(libc::SIGTERM);
}

#[test]
fn quit_under_flood_ends_it_cleanly_within_100_ms() {
    stop_under_flood(libc::SIGQUIT);
}
