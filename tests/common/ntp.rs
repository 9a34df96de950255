//! The test's own NTP client packets, built and parsed with the crate's wire codec.

use std::net::{SocketAddr, UdpSocket};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ntp6::time::{NtpDuration, NtpShort, NtpTimestamp};
use ntp6::wire::ntp::{Header, Leap, Mode, RefId, HEADER_LEN};

use super::Netns;

/// The real clock as an NTP timestamp (read only; tests never set it).
pub fn now() -> NtpTimestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970");
    NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos())
}

/// Unix seconds of a `YYYY-MM-DD HH:MM:SS` text (UTC; what an RTC stand-in file holds).
pub fn utc_text_unix(text: &str) -> i64 {
    let n: Vec<i64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let days = ntp6::time::civil::days_from_civil(n[0], (n[1] - 1) as usize, n[2] as u32);
    days * 86_400 + n[3] * 3600 + n[4] * 60 + n[5]
}

/// A plain NTPv4 mode 3 request carrying `transmit` (what ntpdig/sntp send).
pub fn client_request(transmit: NtpTimestamp) -> [u8; HEADER_LEN] {
    let h = Header {
        leap: Leap::Unsync,
        version: 4,
        mode: Mode::Client,
        stratum: 0,
        poll: 6,
        precision: -20,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: RefId([0; 4]),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: transmit,
    };
    let mut buf = [0u8; HEADER_LEN];
    h.encode(&mut buf);
    buf
}

/// A server's answer to one request, with our own send/receive times.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub header: Header,
    pub len: usize,
    pub t1: NtpTimestamp,
    pub t4: NtpTimestamp,
}

impl Reply {
    /// Clock offset (server minus us), RFC 5905 on-wire formula.
    pub fn offset(&self) -> NtpDuration {
        let h = &self.header;
        let a = h.receive_time - self.t1;
        let b = h.transmit_time - self.t4;
        NtpDuration::from_bits(a.to_bits() / 2 + b.to_bits() / 2)
    }

    pub fn is_kod(&self, code: &[u8; 4]) -> bool {
        self.header.stratum == 0 && self.header.reference_id.0 == *code
    }
}

/// Sends one mode 3 request from `sock` and waits up to `timeout` for the matching reply.
pub fn query(sock: &UdpSocket, to: SocketAddr, timeout: Duration) -> Option<Reply> {
    let t1 = now();
    sock.send_to(&client_request(t1), to).ok()?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        let Ok((len, from)) = sock.recv_from(&mut buf) else {
            return None;
        };
        let t4 = now();
        let Ok(header) = Header::decode(&buf[..len]) else {
            continue;
        };
        if from == to && header.mode == Mode::Server && header.origin_time == t1 {
            return Some(Reply {
                header,
                len,
                t1,
                t4,
            });
        }
    }
}

/// An unbound-address socket in `ns` suitable for talking to `to`.
pub fn socket_for(ns: &Netns, to: SocketAddr) -> UdpSocket {
    let any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().expect("addr")
    } else {
        "[::]:0".parse().expect("addr")
    };
    ns.udp_socket(any)
}

/// Polls `addr` from inside `ns` until a mode 4 reply arrives (daemon startup), so tests
/// never sleep blindly. Err describes the timeout.
pub fn wait_for_ntp(ns: &Netns, addr: SocketAddr, timeout: Duration) -> Result<Reply, String> {
    let sock = socket_for(ns, addr);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(r) = query(&sock, addr, Duration::from_millis(300)) {
            return Ok(r);
        }
        sleep(Duration::from_millis(100));
    }
    Err(format!("no NTP reply from {addr} within {timeout:?}"))
}

/// `IP:123`.
pub fn ntp_addr(ip: &str) -> SocketAddr {
    format!("{ip}:123").parse().expect("address")
}

/// Polls `addr` from `ns` until it serves `stratum`; panics after `timeout` with what it
/// last saw (a peer that never gets there is a test failure, not a skip).
pub fn wait_for_stratum(ns: &Netns, addr: SocketAddr, stratum: u8, timeout: Duration) -> Reply {
    let sock = socket_for(ns, addr);
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        match query(&sock, addr, Duration::from_millis(300)) {
            Some(r) if r.header.stratum == stratum => return r,
            Some(r) => last = Some(r.header),
            None => {}
        }
        sleep(Duration::from_millis(200));
    }
    panic!("{addr} never served stratum {stratum} within {timeout:?} (last reply: {last:?})");
}
