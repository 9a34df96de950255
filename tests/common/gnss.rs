//! A fake GNSS receiver for the reference clock tests: a pseudo-terminal whose master side
//! a thread feeds with NMEA sentences of the current time, one burst a second, `lag` after
//! each second begins (the receiver's serial delay). Readers open [`NmeaPty::path`].

use ntp6::time::civil::Civil;
use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `$BODY*hh\r\n`.
pub fn sentence(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |x, b| x ^ b);
    format!("${body}*{sum:02X}\r\n")
}

/// GPRMC and GPGGA sentences for Unix second `secs`.
pub fn fix_at(secs: i64) -> [String; 2] {
    let c = Civil::from_unix(secs);
    let hms = format!("{:02}{:02}{:02}.00", c.hour, c.minute, c.second);
    [
        sentence(&format!(
            "GPRMC,{hms},A,4807.038,N,01131.000,E,0.0,0.0,{:02}{:02}{:02},,",
            c.day,
            c.month + 1,
            c.year % 100
        )),
        sentence(&format!(
            "GPGGA,{hms},4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"
        )),
    ]
}

/// Writes a burst of sentences `lag` after each second until `stop`; every
/// `corrupt_every`-th burst (0: none) has a wrong checksum on its first sentence.
fn feed(
    mut out: impl Write,
    lag: Duration,
    corrupt_every: u32,
    stop: &AtomicBool,
    corrupted: &AtomicU32,
) {
    let mut burst = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let next = now.as_secs() + 1;
        thread::sleep(Duration::from_secs(next) + lag - now);
        let [mut rmc, gga] = fix_at(next as i64);
        burst += 1;
        if corrupt_every > 0 && burst.is_multiple_of(corrupt_every) {
            let at = rmc.len() - 3;
            let wrong = if &rmc[at..at + 1] == "0" { "1" } else { "0" };
            rmc.replace_range(at..at + 1, wrong);
            corrupted.fetch_add(1, Ordering::Relaxed);
        }
        // A pty's master is non-blocking: with no reader its buffer fills and bursts are
        // lost, as a real receiver's are.
        let _ = out.write_all(format!("{rmc}{gga}").as_bytes());
    }
}

/// A receiver on a TCP socket in a namespace, as gpsd reads a network source
/// (`tcp://127.0.0.1:PORT`); one client. Drop stops it.
pub struct NmeaTcp {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl NmeaTcp {
    pub fn start(ns: &super::Netns, lag: Duration) -> NmeaTcp {
        let listener = ns
            .inside(|| std::net::TcpListener::bind("127.0.0.1:0"))
            .expect("tcp listener");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        thread::spawn(move || {
            if let Ok((conn, _)) = listener.accept() {
                feed(conn, lag, 0, &stop2, &AtomicU32::new(0));
            }
        });
        NmeaTcp { port, stop }
    }
}

impl Drop for NmeaTcp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The running fake receiver; Drop stops it.
pub struct NmeaPty {
    pub path: String,
    stop: Arc<AtomicBool>,
    /// Every Nth burst gets a broken checksum (0: never); counts the broken ones sent.
    pub corrupted: Arc<AtomicU32>,
    writer: Option<JoinHandle<()>>,
    _slave: File,
}

impl NmeaPty {
    /// Starts writing `lag` after each second; every `corrupt_every`-th burst (0: none)
    /// carries a wrong checksum on its first sentence.
    pub fn start(lag: Duration, corrupt_every: u32) -> NmeaPty {
        // SAFETY: plain libc pty calls on descriptors we own; File takes ownership.
        let (master, path, slave) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
            assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            let mut name = [0 as libc::c_char; 64];
            assert_eq!(libc::ptsname_r(fd, name.as_mut_ptr(), name.len()), 0);
            let path = std::ffi::CStr::from_ptr(name.as_ptr())
                .to_string_lossy()
                .into_owned();
            // Held open (raw, no echo) so the line exists before and between readers.
            let sfd = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(sfd >= 0, "open {path}: {}", std::io::Error::last_os_error());
            let mut tio: libc::termios = std::mem::zeroed();
            libc::tcgetattr(sfd, &mut tio);
            libc::cfmakeraw(&mut tio);
            libc::tcsetattr(sfd, libc::TCSANOW, &tio);
            (File::from_raw_fd(fd), path, File::from_raw_fd(sfd))
        };
        let stop = Arc::new(AtomicBool::new(false));
        let corrupted = Arc::new(AtomicU32::new(0));
        let (stop2, corrupted2) = (stop.clone(), corrupted.clone());
        let writer = thread::spawn(move || feed(master, lag, corrupt_every, &stop2, &corrupted2));
        NmeaPty {
            path,
            stop,
            corrupted,
            writer: Some(writer),
            _slave: slave,
        }
    }
}

impl Drop for NmeaPty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
