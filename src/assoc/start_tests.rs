//! Start-up selection: how soon fresh associations become fit, and what keeps that safe
//! (falsetickers caught at the first selection, `tos minsane`, the 2 s request spacing).
//! A few associations talk to servers on a 1 ms LAN in hand-driven monotonic time; the
//! client's clock is true time.

use super::*;
use crate::discipline::loopfilter::{LoopConfig, Outcome};
use crate::discipline::system::SystemProcess;
use crate::wire::ntp::Header;

/// A server `offset` seconds from true time, `delay` seconds away each way.
#[derive(Clone, Copy)]
struct Server {
    offset: f64,
    delay: f64,
}

const GOOD: Server = Server {
    offset: 0.0,
    delay: 0.001,
};

fn at(t: Duration, offset: f64) -> NtpTimestamp {
    NtpTimestamp::from_unix(1_700_000_000, 0) + NtpDuration::from_secs_f64(t.as_secs_f64() + offset)
}

/// Associations with `iburst` to `servers`, the system process, and what happened.
struct Start {
    system: SystemProcess,
    assocs: Vec<Association>,
    servers: Vec<Server>,
    in_flight: Vec<(Duration, usize, Header)>,
    requests: Vec<Vec<Duration>>,
    synced_at: Option<Duration>,
    stepped: bool,
}

impl Start {
    fn new(servers: &[Server], tos: TosParams) -> Start {
        let (system, _) = SystemProcess::new(LoopConfig::default(), None, -20, tos, Duration::ZERO);
        let assocs = (0..servers.len())
            .map(|i| {
                let mut cfg = AssocConfig::server(i as u32 + 1, RefId([10, 0, 0, i as u8 + 1]));
                cfg.iburst = true;
                Association::new(cfg, Duration::ZERO)
            })
            .collect();
        Start {
            system,
            assocs,
            servers: servers.to_vec(),
            in_flight: Vec::new(),
            requests: vec![Vec::new(); servers.len()],
            synced_at: None,
            stepped: false,
        }
    }

    /// Server `i`'s answer to `req` sent at `sent` (the crate's own server code, as a
    /// stratum 1 server), and when it arrives.
    fn reply(&self, i: usize, req: &Header, sent: Duration) -> (Duration, usize, Header) {
        let s = self.servers[i];
        let arrives = sent + secs(s.delay);
        let vars = SystemVars {
            leap: Leap::NoWarning,
            stratum: 1,
            refid: RefId::from_ascii("GPS"),
            reference_time: at(sent, s.offset - 1.0),
            ..SystemVars::initial(-20)
        };
        let served = at(arrives, s.offset);
        let header = crate::server::reply(req, &vars, served, served);
        (arrives + secs(s.delay), i, header)
    }

    fn select(&mut self, now: Duration) {
        let mut assocs: Vec<&mut Association> = self.assocs.iter_mut().collect();
        let update = select_round(&mut self.system, &mut assocs, &[], &[], now);
        self.stepped |= update.outcome == Some(Outcome::Stepped);
        if self.synced_at.is_none() && self.system.vars.synchronized() {
            self.synced_at = Some(now);
        }
    }

    /// Runs polls and replies, selecting after each new sample as the engine does.
    fn run_until(&mut self, until: Duration) {
        loop {
            let poll = self.assocs.iter().map(Association::next_deadline).min();
            let reply = self.in_flight.iter().map(|r| r.0).min();
            let now = poll.into_iter().chain(reply).min().unwrap_or(Duration::MAX);
            if now > until {
                return;
            }
            let vars = self.system.vars;
            if let Some(k) = self.in_flight.iter().position(|r| r.0 == now) {
                let (_, i, header) = self.in_flight.swap_remove(k);
                let got = self.assocs[i].on_packet(&header, at(now, 0.0), now, &vars);
                if got == (Received::Sample { select: true }) {
                    self.select(now);
                }
                continue;
            }
            let Some(i) = self.assocs.iter().position(|a| a.next_deadline() == now) else {
                return;
            };
            let out = self.assocs[i].on_timer(now, at(now, 0.0), &vars);
            if let Some(req) = out.send {
                self.requests[i].push(now);
                let reply = self.reply(i, &req, now);
                self.in_flight.push(reply);
            }
            if out.reselect {
                self.select(now);
            }
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn one_server_is_selected_after_its_second_answer() {
    let mut start = Start::new(&[GOOD], TosParams::default());
    start.run_until(secs(1.9));
    // One sample says nothing about jitter: the empty stages still count.
    assert_eq!(start.synced_at, None);
    assert!(start.assocs[0].flash().has(Flash::PEER_DIST));
    start.run_until(secs(3.0));
    let synced = start.synced_at.expect("synchronised");
    assert!(synced < secs(2.01), "{synced:?}");
    assert_eq!(start.requests[0], vec![secs(0.0), secs(2.0)]);
    assert!(
        start.assocs[0].root_distance(synced, &TosParams::default())
            < NtpDuration::from_secs_f64(0.01)
    );
}

#[test]
fn falseticker_answering_first_is_caught_at_the_first_selection() {
    let liar = Server {
        offset: 2.0,
        delay: 0.0002,
    };
    let mut start = Start::new(&[GOOD, GOOD, GOOD, liar], TosParams::default());
    start.run_until(secs(20.0));
    assert!(
        start.synced_at.is_some_and(|t| t < secs(2.1)),
        "{:?}",
        start.synced_at
    );
    assert!(!start.stepped, "the liar stepped the clock");
    assert_eq!(start.assocs[3].status(), SelectStatus::Falseticker);
    assert!(matches!(start.system.vars.peer, Some(1..=3)));
    assert!(start.system.vars.offset.to_secs_f64().abs() < 0.001);
}

#[test]
fn tos_minsane_still_holds_off_a_lone_server() {
    let tos = TosParams {
        min_sane: 2,
        ..TosParams::default()
    };
    let mut alone = Start::new(&[GOOD], tos);
    alone.run_until(secs(20.0));
    assert_eq!(alone.synced_at, None);
    let mut two = Start::new(&[GOOD, GOOD], tos);
    two.run_until(secs(20.0));
    assert!(
        two.synced_at.is_some_and(|t| t < secs(2.1)),
        "{:?}",
        two.synced_at
    );
}

#[test]
fn a_server_missing_answers_is_not_fit_on_old_samples() {
    let mut start = Start::new(&[GOOD], TosParams::default());
    start.run_until(secs(3.0));
    assert!(start.synced_at.is_some());
    // The server goes silent: after three unanswered polls the dummy sample counts in
    // full and the association is unfit again.
    start.servers[0].delay = 1e6;
    start.run_until(secs(200.0));
    let now = secs(200.0);
    let vars = start.system.vars;
    let tos = start.system.tos;
    assert_ne!(start.assocs[0].reach(), 0);
    assert_eq!(start.assocs[0].evaluate(now, &vars, &tos, &[]), None);
    assert!(start.assocs[0].flash().has(Flash::PEER_DIST));
}

#[test]
fn no_two_requests_less_than_two_seconds_apart_even_across_a_step() {
    let mut start = Start::new(&[GOOD], TosParams::default());
    start.run_until(secs(2.5));
    // A step clears the association 0.5 s after its last request: classic would poll
    // again a second later; the next request waits until the last one is 2 s old.
    start.assocs[0].clear(RefId::from_ascii("STEP"), secs(2.5));
    assert_eq!(start.assocs[0].next_deadline(), secs(4.0));
    start.run_until(secs(300.0));
    let sent = &start.requests[0];
    assert!(sent.len() > 10, "{sent:?}");
    assert!(
        sent.windows(2).all(|w| w[1] - w[0] >= BURST_INTERVAL),
        "{sent:?}"
    );
}
