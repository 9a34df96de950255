//! Scripted servers: true time plus their own offset, answering mode 3 requests as a
//! server would, but as the scenario dictates: liars (an offset), Windows-like hosts
//! (seconds of root dispersion), kiss-o'-death senders, servers that are down or answer
//! unsynchronised (a restart).

use ntp6::time::{NtpDuration, NtpShort, NtpTimestamp};
use ntp6::wire::ntp::{Header, KissCode, Leap, Mode, RefId, HEADER_LEN};

/// A scripted server and its network path (the client side of the path is ideal).
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// How far the server's clock is from true time (seconds).
    pub offset: f64,
    pub stratum: u8,
    /// One-way base delays (seconds): towards the server, and back; unequal values make
    /// an asymmetric path.
    pub delay_out: f64,
    pub delay_back: f64,
    /// Standard deviation of the extra (queueing) delay per leg.
    pub jitter: f64,
    /// Probability that a datagram to or from the server is lost.
    pub loss: f64,
    /// Root delay and dispersion the server advertises (seconds).
    pub root_delay: f64,
    pub root_dispersion: f64,
    /// Down: requests get no answer.
    pub alive: bool,
    /// Answers as an unsynchronised server (leap 3, stratum 16), as one just restarted.
    pub unsynchronised: bool,
    /// Answers every request with this kiss-o'-death.
    pub kiss: Option<KissCode>,
    /// Leap warning it passes on.
    pub leap: Leap,
}

impl Server {
    /// A stratum-1 server on a 1 ms path each way, with `jitter` of queueing per leg.
    pub fn good(jitter: f64) -> Server {
        Server {
            offset: 0.0,
            stratum: 1,
            delay_out: 0.001,
            delay_back: 0.001,
            jitter,
            loss: 0.0,
            root_delay: 0.0,
            root_dispersion: 0.0001,
            alive: true,
            unsynchronised: false,
            kiss: None,
            leap: Leap::NoWarning,
        }
    }

    /// A Windows-like host: stratum 2 with the 3 s of root dispersion w32time advertises.
    pub fn windows_like(jitter: f64) -> Server {
        Server {
            stratum: 2,
            root_dispersion: 3.0,
            ..Server::good(jitter)
        }
    }

    /// The reply to `request`, which arrived at true time `arrived` (`base` is true time
    /// at world time zero); it leaves `PROCESSING` seconds later.
    pub fn answer(&self, request: &[u8], base: NtpTimestamp, arrived: f64) -> Option<Vec<u8>> {
        let req = Header::decode(request).ok()?;
        if !self.alive || req.mode != Mode::Client {
            return None;
        }
        let time = |secs: f64| base + NtpDuration::from_secs_f64(secs + self.offset);
        let mut reply = Header {
            leap: self.leap,
            version: req.version,
            mode: Mode::Server,
            stratum: self.stratum,
            poll: req.poll,
            precision: -20,
            root_delay: NtpShort::from_duration(NtpDuration::from_secs_f64(self.root_delay)),
            root_dispersion: NtpShort::from_duration(NtpDuration::from_secs_f64(
                self.root_dispersion,
            )),
            reference_id: RefId::from_ascii("GPS"),
            reference_time: time(arrived - 8.0),
            origin_time: req.transmit_time,
            receive_time: time(arrived),
            transmit_time: time(arrived + PROCESSING),
        };
        if self.unsynchronised {
            reply.leap = Leap::Unsync;
            reply.stratum = 0;
            reply.reference_id = RefId::INIT;
            reply.reference_time = NtpTimestamp::ZERO;
        }
        if let Some(code) = self.kiss {
            reply = ntp6::restrict::kiss_header(&req, Mode::Server, code, 0);
        }
        let mut out = [0u8; HEADER_LEN];
        let len = reply.encode(&mut out);
        Some(out[..len].to_vec())
    }
}

/// How long a scripted server takes to answer (seconds).
pub const PROCESSING: f64 = 0.00005;
