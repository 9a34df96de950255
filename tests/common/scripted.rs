//! A scripted NTP server: a UDP socket answering mode 3 requests through the crate's own
//! server code with a header the test chooses (e.g. a Windows-like server advertising
//! seconds of root dispersion), on the real clock. It records when each request arrived.
use ntp6::discipline::system::SystemVars;
use ntp6::time::{NtpDuration, NtpTimestamp};
use ntp6::wire::ntp::{Header, Leap, Mode, RefId, HEADER_LEN};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::now;

/// What a scripted server advertises in its replies (always leap "no warning").
#[derive(Clone, Copy, Debug)]
pub struct Advertised {
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpDuration,
    pub root_dispersion: NtpDuration,
    pub refid: RefId,
    /// How long before each request the server claims its clock was last set.
    pub reference_age: NtpDuration,
}

impl Advertised {
    /// The system variables a real server with these figures would answer from at `rx`.
    fn vars(&self, rx: NtpTimestamp) -> SystemVars {
        SystemVars {
            leap: Leap::NoWarning,
            stratum: self.stratum,
            root_delay: self.root_delay,
            root_dispersion: self.root_dispersion,
            refid: self.refid,
            reference_time: rx + -self.reference_age,
            ..SystemVars::initial(self.precision)
        }
    }
}

/// A scripted server answering on its own thread until stopped (or dropped).
pub struct Scripted {
    stop: Arc<AtomicBool>,
    arrivals: Arc<Mutex<Vec<(SocketAddr, Instant)>>>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    /// Starts answering mode 3 requests on `sock` with `advertised`.
    pub fn start(sock: UdpSocket, advertised: Advertised) -> Scripted {
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, arrivals) = (stop.clone(), arrivals.clone());
            std::thread::spawn(move || serve(&sock, &advertised, &stop, &arrivals))
        };
        Scripted {
            stop,
            arrivals,
            thread: Some(thread),
        }
    }

    /// Stops answering (at most one read timeout later); later requests go unheard.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let died = self.thread.take().is_some_and(|t| t.join().is_err());
        // Not a second panic while a failing test unwinds (that would abort the run).
        if died && !std::thread::panicking() {
            panic!("the scripted server's thread panicked");
        }
    }

    /// Every mode 3 request heard so far: who sent it and when it arrived.
    pub fn arrivals(&self) -> Vec<(SocketAddr, Instant)> {
        self.arrivals.lock().expect("arrivals").clone()
    }

    /// The shortest gap between two requests from `addr`, and how many it sent.
    pub fn min_spacing(&self, addr: &str) -> Option<(Duration, usize)> {
        let times: Vec<Instant> = self
            .arrivals()
            .into_iter()
            .filter(|(from, _)| from.ip().to_string() == addr)
            .map(|(_, at)| at)
            .collect();
        let gap = times.windows(2).map(|w| w[1] - w[0]).min()?;
        Some((gap, times.len()))
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    sock: &UdpSocket,
    advertised: &Advertised,
    stop: &AtomicBool,
    arrivals: &Mutex<Vec<(SocketAddr, Instant)>>,
) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let rx = now();
        let Ok(req) = Header::decode(&buf[..len]) else {
            continue;
        };
        if req.mode != Mode::Client {
            continue;
        }
        arrivals
            .lock()
            .expect("arrivals")
            .push((from, Instant::now()));
        let reply = ntp6::server::reply(&req, &advertised.vars(rx), rx, now());
        let mut out = [0u8; HEADER_LEN];
        let n = reply.encode(&mut out);
        let _ = sock.send_to(&out[..n], from);
    }
}
