//! SHM reference clock (127.127.28.0) end to end, in a private IPC namespace (the segment
//! key 0x4E545030 is machine-wide otherwise): real gpsd fed NMEA sentences of the current
//! time writes the segment, our ntpd selects SHM(0) and serves stratum 1 with refid GPS; then a writer of
//! our own in the documented shmTime layout, and the stale and invalid segments it can
//! leave, ignored and counted.

mod common;

use common::*;
use ntp6::refclock::shm::{ShmTime, SEGMENT_LEN};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NTPQ: &str = env!("CARGO_BIN_EXE_ntpq");

const CONF: &str = "\
    server 127.127.28.0 minpoll 4 maxpoll 4\n\
    fudge 127.127.28.0 refid GPS\n";

/// Our ntpd on a virtual clock at true time, in its own IPC namespace inside `ns`, with
/// `extra` arguments.
fn spawn_ntpd(ns: &Netns, tmp: &TempDir, conf: &str, extra: &[&str]) -> Proc {
    spawn_ours_with(ns, tmp, conf, &["unshare", "--ipc"], extra)
}

/// `ntpq ARGS 127.0.0.1` in `ns`.
fn ntpq(ns: &Netns, tmp: &TempDir, args: &[&str]) -> String {
    let mut argv = vec![NTPQ];
    argv.extend_from_slice(args);
    argv.push("127.0.0.1");
    ns.run(tmp, &argv, Duration::from_secs(5)).stdout
}

/// Waits until `ntpq -p` shows the `*` (or `o`) tally on `name`; how long that took.
fn wait_selected(ns: &Netns, tmp: &TempDir, name: &str, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let peers = ntpq(ns, tmp, &["-p"]);
        if peers
            .lines()
            .any(|l| l.starts_with(&format!("*{name}")) || l.starts_with(&format!("o{name}")))
        {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(500));
    }
    None
}

/// A `name=value` of `ntpq -c cv` output, as a number.
fn cv_number(cv: &str, name: &str) -> Option<u64> {
    cv.split([',', '\n'])
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.trim().parse().ok())
}

/// Checks stratum 1 and refid GPS as a client sees them, with NTPsec's ntpdig as well.
fn assert_serves_stratum_1_gps(ns: &Netns, tmp: &TempDir) {
    let reply = wait_for_stratum(ns, ntp_addr("127.0.0.1"), 1, Duration::from_secs(10));
    assert_eq!(&reply.header.reference_id.0, b"GPS\0");
    if let Some(seen) = ntpdig(ns, tmp, "127.0.0.1") {
        assert_eq!(seen.stratum, 1);
        eprintln!("ntpdig: stratum 1, offset {:+.6} s", seen.offset);
    }
}

#[test]
fn gpsd_feeds_shm0_and_we_serve_stratum_1_refid_gps() {
    let Some(_lock) = setup() else { return };
    let Some(gpsd) = peer("gpsd").or_else(|| {
        std::path::Path::new("/usr/sbin/gpsd")
            .exists()
            .then(|| "/usr/sbin/gpsd".into())
    }) else {
        skip("gpsd", "not installed");
        assert!(!in_ci(), "gpsd is required under CI");
        return;
    };
    let tmp = TempDir::new();
    let ns = Netns::new();
    // gpsd never feeds NTP from a pty (its own test harness runs on ptys: "don't talk to
    // NTP when we're running inside the test harness"), so it reads the sentences from a
    // network source, as it does from receivers on a LAN.
    let receiver = NmeaTcp::start(&ns, Duration::from_millis(20));
    let source = format!("tcp://127.0.0.1:{}", receiver.port);
    let mut ours = spawn_ntpd(&ns, &tmp, CONF, &[]);
    // ntpd has created the segment (owner root, 0600) by its first tick.
    assert!(
        ours.wait_for_stderr(&["SHM(0): reading"], Duration::from_secs(5))
            .is_some(),
        "{}",
        ours.describe()
    );
    let ipc = format!("--ipc=/proc/{}/ns/ipc", ours.pid());
    let gpsd = gpsd.to_string_lossy().into_owned();
    let mut gps = ns.spawn(&tmp, &["nsenter", &ipc, &gpsd, "-N", "-n", &source]);
    let took = wait_selected(&ns, &tmp, "SHM(0)", Duration::from_secs(60));
    let peers = ntpq(&ns, &tmp, &["-p"]);
    let cv = ntpq(&ns, &tmp, &["-c", "cv &1"]);
    eprintln!("ntpq -p:\n{peers}\nntpq -c cv:\n{cv}");
    assert!(
        took.is_some(),
        "SHM(0) never selected\n{}\n{}",
        ours.describe(),
        gps.describe()
    );
    eprintln!(
        "gpsd -> SHM(0) selected after {:.1} s",
        took.unwrap().as_secs_f64()
    );
    assert!(peers.contains(".GPS."), "{peers}");
    assert!(cv.contains("SHM/Shared memory interface"), "{cv}");
    assert_serves_stratum_1_gps(&ns, &tmp);
    assert!(ours.is_alive(), "{}", ours.describe());
    gps.stop();
}

/// Moves this thread into the IPC namespace of process `pid`.
fn join_ipc(pid: u32) {
    let ns = File::open(format!("/proc/{pid}/ns/ipc")).expect("ipc ns");
    // SAFETY: setns on a namespace file we opened; it changes this thread only.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWIPC) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// Our own writer of the documented layout, in ntpd's IPC namespace (a thread that joined
/// it: System V IPC namespaces are per thread).
struct Writer {
    /// What the writer does each second.
    behaviour: Arc<AtomicI32>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Writer behaviours.
const GOOD: i32 = 0;
/// Valid set, count frozen, the same old timestamps: a writer stuck.
const STUCK: i32 = 1;
/// An unknown mode word.
const BAD_MODE: i32 = 2;
/// Nothing written: valid stays 0.
const SILENT: i32 = 3;

impl Writer {
    fn start(ntpd_pid: u32) -> Writer {
        let behaviour = Arc::new(AtomicI32::new(GOOD));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, s) = (behaviour.clone(), stop.clone());
        let thread = thread::spawn(move || {
            join_ipc(ntpd_pid);
            // SAFETY: shmget/shmat in this thread's namespace; the segment stays attached
            // for the thread's life and is written within its 96 bytes.
            let base = unsafe {
                let id = libc::shmget(0x4E54_5030, SEGMENT_LEN, 0);
                assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
                let base = libc::shmat(id, std::ptr::null(), 0);
                assert_ne!(base as isize, -1);
                base.cast::<u8>()
            };
            let mut count = 0;
            let mut frozen = None;
            while !s.load(Ordering::Relaxed) {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                let mut t = ShmTime {
                    mode: 1,
                    count,
                    clock_sec: now.as_secs() as i64,
                    clock_usec: now.subsec_micros() as i32,
                    clock_nsec: now.subsec_nanos(),
                    receive_sec: now.as_secs() as i64,
                    receive_usec: now.subsec_micros() as i32,
                    receive_nsec: now.subsec_nanos(),
                    precision: -20,
                    valid: 1,
                    ..ShmTime::default()
                };
                match b.load(Ordering::Relaxed) {
                    GOOD => {
                        count += 2;
                        t.count = count;
                        frozen = Some(t);
                    }
                    STUCK => t = frozen.unwrap_or(t),
                    BAD_MODE => t.mode = 7,
                    _ => t.valid = 0,
                }
                if t.valid != 0 {
                    for (i, byte) in t.encode().iter().enumerate() {
                        // SAFETY: i < SEGMENT_LEN inside the attached segment.
                        unsafe { std::ptr::write_volatile(base.add(i), *byte) };
                    }
                }
                thread::sleep(Duration::from_millis(500));
            }
        });
        Writer {
            behaviour,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, behaviour: i32) {
        self.behaviour.store(behaviour, Ordering::Relaxed);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_writer_of_the_documented_layout_and_its_stale_and_invalid_segments() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    // As RHEL6 runs it (-u ntp): the segment, root's and 0600 as classic makes unit 0, is
    // attached before root is dropped and read after.
    let ours = spawn_ntpd(&ns, &tmp, CONF, &["-u", "nobody"]);
    assert!(
        ours.wait_for_stderr(&["SHM(0): reading"], Duration::from_secs(5))
            .is_some(),
        "{}",
        ours.describe()
    );
    let writer = Writer::start(ours.pid());
    let took = wait_selected(&ns, &tmp, "SHM(0)", Duration::from_secs(60));
    assert!(took.is_some(), "SHM(0) never selected\n{}", ours.describe());
    assert!(
        ours.stderr().contains("now user nobody"),
        "{}",
        ours.describe()
    );
    eprintln!(
        "own writer -> SHM(0) selected after {:.1} s",
        took.unwrap().as_secs_f64()
    );
    assert_serves_stratum_1_gps(&ns, &tmp);
    let rv = ntpq(&ns, &tmp, &["-c", "rv 0 offset"]);
    eprintln!("system offset while on SHM(0): {rv}");

    writer.set(BAD_MODE);
    thread::sleep(Duration::from_secs(3));
    writer.set(STUCK);
    thread::sleep(Duration::from_secs(3));
    writer.set(SILENT);
    let said = ours.wait_for_stderr(
        &[
            "SHM(0): reading refused: unknown mode 7",
            "SHM(0): reading refused: stale data (count unchanged)",
            "SHM(0): no samples:",
        ],
        Duration::from_secs(40),
    );
    let cv = ntpq(&ns, &tmp, &["-c", "cv &1"]);
    eprintln!("ntpq -c cv:\n{cv}");
    assert!(said.is_some(), "{}", ours.describe());
    assert!(cv_number(&cv, "badformat").unwrap_or(0) >= 2, "{cv}");
    assert!(cv_number(&cv, "baddata").unwrap_or(0) >= 2, "{cv}");
    assert!(cv_number(&cv, "noreply").unwrap_or(0) >= 1, "{cv}");
    // Each reason is said once, however often it recurs.
    let log = ours.stderr();
    assert_eq!(log.matches("unknown mode 7").count(), 1, "{log}");
    drop(writer);
}

#[test]
fn a_segment_of_another_size_is_named_in_the_log() {
    let Some(_lock) = setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    // An IPC namespace that exists before ntpd, holding a 16-byte segment at unit 2's key.
    let holder = ns.spawn(&tmp, &["unshare", "--ipc", "sleep", "60"]);
    thread::sleep(Duration::from_millis(300));
    let pid = holder.pid();
    thread::spawn(move || {
        join_ipc(pid);
        // SAFETY: creates a segment in the holder's namespace; nothing is attached.
        let id = unsafe { libc::shmget(0x4E54_5032, 16, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "shmget: {}", std::io::Error::last_os_error());
    })
    .join()
    .unwrap();
    let path = tmp.write("ntp.conf", "server 127.127.28.2 minpoll 4\n");
    let ipc = format!("--ipc=/proc/{pid}/ns/ipc");
    let ours = ns.spawn(
        &tmp,
        &[
            "nsenter",
            &ipc,
            env!("CARGO_BIN_EXE_ntpd"),
            "-n",
            "-c",
            &path,
            "--virtual-clock",
            "0",
        ],
    );
    let said = ours.wait_for_stderr(
        &["SHM(2): no samples: segment 0x4e545032 exists with another size"],
        Duration::from_secs(5),
    );
    assert!(said.is_some(), "{}", ours.describe());
}
