//! Shared by the control and ntpq golden tests: the captured classic 4.2.6p5 wire dumps and
//! a [`ControlState`] holding the values the captured LOCAL(0) server had.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ntp6::control::{
    handle, ClockVars, Context, ControlState, NonceKey, PeerStatus, PeerVars, QueryAccess,
    SystemStatus, SystemVars,
};
use ntp6::ntpq::commands::{Ntpq, Out};
use ntp6::ntpq::display::Numeric;
use ntp6::ntpq::session::Transport;
use ntp6::time::{NtpDuration, NtpTimestamp, Ppm};
use ntp6::wire::ntp::RefId;

/// Classic's program output, copied into the repository (see its README.md).
pub const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/classic-4.2.6p5/"
);

pub fn reference(file: &str) -> String {
    std::fs::read_to_string(format!("{REFERENCE}{file}")).unwrap_or_else(|e| {
        panic!(
            "{REFERENCE}{file}: {e} (copy the capture there from \
             ../shared/reference/classic-4.2.6p5/)"
        )
    })
}

/// The stdout block of the first capture of `$ command` in a reference file.
pub fn captured(file: &str, command: &str) -> String {
    let text = reference(file);
    let at = text
        .find(&format!("$ {command}\n"))
        .expect("command in reference");
    let body = &text[at..];
    let marker = ["--- stdout ---\n", "--- command output ---\n"]
        .into_iter()
        .find(|m| body.find(m).is_some_and(|i| i < 200))
        .unwrap();
    let start = body.find(marker).unwrap() + marker.len();
    let end = body[start..]
        .find("--- stderr ---")
        .or_else(|| body[start..].find("--- packets"))
        .unwrap();
    body[start..start + end].trim_end_matches('\n').to_string() + "\n"
}

/// One captured mode 6 datagram (UDP payload) and whether it went to port 123.
pub struct Captured {
    pub to_server: bool,
    pub bytes: Vec<u8>,
}

/// The datagrams of the section whose title contains `label` (e.g. `[ntpq-rv]`).
pub fn section(file: &str, label: &str) -> Vec<Captured> {
    let text = reference(file);
    let start = text.find(label).expect("section");
    let body = &text[start..];
    let end = body[1..].find("\n###").map_or(body.len(), |e| e + 1);
    let mut out: Vec<Captured> = Vec::new();
    let mut frame: Vec<u8> = Vec::new();
    let mut to_server = false;
    let flush = |frame: &mut Vec<u8>, to: bool, out: &mut Vec<Captured>| {
        if frame.len() > 42 {
            out.push(Captured {
                to_server: to,
                bytes: frame[42..].to_vec(),
            });
        }
        frame.clear();
    };
    for line in body[..end].lines() {
        if line.contains(" > ") && line.contains("NTPv") {
            flush(&mut frame, to_server, &mut out);
            let dst = line.split(" > ").nth(1).unwrap_or("");
            to_server = dst.split(':').next().unwrap_or("").ends_with(".123");
        } else if let Some(rest) = line.strip_prefix("\t0x") {
            let hex = rest.get(7..47.min(rest.len())).unwrap_or("");
            for tok in hex.split_whitespace() {
                for i in (0..tok.len()).step_by(2) {
                    frame.push(u8::from_str_radix(&tok[i..i + 2], 16).expect("hex"));
                }
            }
        }
    }
    flush(&mut frame, to_server, &mut out);
    out
}

fn ms(v: f64) -> NtpDuration {
    NtpDuration::from_secs_f64(v / 1e3)
}

pub const ASSOC: u16 = 3495;
pub const CLOCK_TIME: u64 = 0xeeab843f_d8899863;

/// The LOCAL(0) server of wire-mode6-local.txt.
pub struct LocalServer;

impl ControlState for LocalServer {
    fn system(&self) -> SystemVars {
        SystemVars {
            status: SystemStatus {
                leap: 3,
                source: 5,
                event_count: 1,
                last_event: 1,
            },
            version: "ntpd 4.2.6p5 Sat Nov 21 02:20:07 UTC 2026 (3)".into(),
            processor: "x86_64".into(),
            system: "Linux/6.18.44-fc-v657".into(),
            leap: 3,
            stratum: 11,
            precision: -22,
            root_delay: NtpDuration::ZERO,
            root_dispersion: ms(3947.92),
            refid: RefId([127, 127, 1, 0]),
            reftime: NtpTimestamp::from_bits(0xeeab8432_fbbb1d05),
            clock: NtpTimestamp::ZERO,
            peer: ASSOC,
            tc: 6,
            mintc: 3,
            offset: NtpDuration::ZERO,
            frequency: Ppm(0.0),
            sys_jitter: NtpDuration::ZERO,
            clk_jitter: NtpDuration::ZERO,
            clk_wander: Ppm(0.0),
        }
    }

    fn associations(&self) -> Vec<(u16, PeerStatus)> {
        vec![(ASSOC, peer_status())]
    }

    fn peer(&self, assoc_id: u16) -> Option<PeerVars> {
        (assoc_id == ASSOC).then(local_peer)
    }

    fn clock(&self, assoc_id: u16) -> Option<ClockVars> {
        (assoc_id == ASSOC).then(|| ClockVars {
            status: 0,
            device: "Undisciplined local clock".into(),
            timecode: String::new(),
            poll: 2,
            fudgetime1: Some(NtpDuration::ZERO),
            stratum: Some(10),
            refid: Some(RefId::LOCL),
            ..ClockVars::default()
        })
    }
}

pub fn peer_status() -> PeerStatus {
    PeerStatus {
        configured: true,
        reachable: true,
        select: 6,
        event_count: 3,
        last_event: 0xa,
        ..PeerStatus::default()
    }
}

pub fn local_peer() -> PeerVars {
    let mut filtdisp = [ms(16000.0); 8];
    filtdisp[0] = NtpDuration::ZERO;
    filtdisp[1] = ms(0.96);
    PeerVars {
        assoc_id: ASSOC,
        status: peer_status(),
        srcadr: "127.127.1.0:123".parse::<SocketAddr>().unwrap(),
        dstadr: Some("127.0.0.1:123".parse().unwrap()),
        is_refclock: true,
        leap: 0,
        stratum: 10,
        precision: -22,
        root_delay: NtpDuration::ZERO,
        root_dispersion: ms(10.0),
        refid: RefId::LOCL,
        reftime: NtpTimestamp::ZERO,
        rec: NtpTimestamp::from_bits(0xeeab8432_fbbb1d05),
        reach: 3,
        unreach: 0,
        hmode: 3,
        pmode: 4,
        hpoll: 6,
        ppoll: 6,
        headway: 0,
        flash: 0,
        keyid: 0,
        offset: NtpDuration::ZERO,
        delay: NtpDuration::ZERO,
        dispersion: ms(3937.74),
        jitter: NtpDuration::ZERO,
        xleave: None,
        filtdelay: [NtpDuration::ZERO; 8],
        filtoffset: [NtpDuration::ZERO; 8],
        filtdisp,
        reason: "system peer".into(),
    }
}

/// Answers each request with our control server over the fixture state.
pub struct Loopback {
    queue: VecDeque<Vec<u8>>,
    silent: bool,
    /// Requests sent.
    pub sent: usize,
}

impl Loopback {
    /// `silent`: requests are never answered.
    pub fn new(silent: bool) -> Loopback {
        Loopback {
            queue: VecDeque::new(),
            silent,
            sent: 0,
        }
    }
}

impl Transport for Loopback {
    fn send(&mut self, d: &[u8]) -> io::Result<()> {
        self.sent += 1;
        if self.silent {
            return Ok(());
        }
        let key = NonceKey::new([1, 2]);
        let ctx = Context {
            state: &LocalServer,
            mru: None,
            nonce: &key,
            client: "127.0.0.1:40000".parse().unwrap(),
            now: NtpTimestamp::from_bits(CLOCK_TIME),
        };
        handle(d, QueryAccess::default(), &ctx, &mut |r| {
            self.queue.push_back(r.to_vec())
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

/// Runs ntpq `commands` (set up by `setup`) against the fixture server over a
/// [`Loopback`] (`silent`: never answered), the client clock at NTP time `now`: stdout,
/// stderr and the number of requests sent.
pub fn ntpq_run(
    commands: &[&str],
    now: u64,
    silent: bool,
    setup: impl FnOnce(&mut Ntpq<'_>),
) -> (String, String, usize) {
    let mut t = Loopback::new(silent);
    let clock = move || now;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    {
        let mut q = Ntpq::new(&mut t, &Numeric, "localhost", &clock);
        setup(&mut q);
        let mut o = Out {
            out: &mut out,
            err: &mut err,
        };
        for c in commands {
            q.run(c, &mut o).unwrap();
        }
    }
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        t.sent,
    )
}
