//! `--metrics-load`: does a hostile scraper of `ntpd --metrics` delay time service? Our
//! ntpd serves LOCAL(0) with `--metrics 127.0.0.1:9975`; mode 3 latency at a fixed rate
//! is measured idle, under a slow loris (64 connections, four times the server's limit,
//! each trickling one header octet every 100 ms and never ending its request, reconnecting
//! when closed) and under a flood of 10,000 complete `GET /metrics` requests from four
//! threads as fast as they go. The attackers run on the server's core at nice 19: they
//! get every cycle the server leaves, while the server (nice -20) preempts them, so what
//! is measured is the daemon's own handling of them. Every loop is bounded in count and
//! time; all traffic stays on loopback in the bench's namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::loadgen::{LoadGen, PhaseStats};
use crate::procfs;
use crate::report::percentile_us;

pub const METRICS: &str = "127.0.0.1:9975";
const LORIS_CONNECTIONS: usize = 64;
const LORIS_INTERVAL: Duration = Duration::from_millis(100);
const FLOOD_REQUESTS: u64 = 10_000;
const FLOOD_THREADS: usize = 4;
/// A flood never lasts longer than this, done or not.
const FLOOD_LIMIT: Duration = Duration::from_secs(60);
/// Latency is sampled in slices while the flood runs.
const SLICE: Duration = Duration::from_millis(250);

/// One condition's latencies over all rounds, and what the attack achieved.
#[derive(Default)]
struct Condition {
    latencies_ns: Vec<u64>,
    sent: u64,
    answered: u64,
    per_round: Vec<(f64, f64)>,
    attack: Vec<String>,
}

impl Condition {
    fn add(&mut self, mut stats: PhaseStats) {
        self.sent += stats.sent;
        self.answered += stats.answered;
        stats.latencies_ns.sort_unstable();
        self.per_round.push((
            percentile_us(&stats.latencies_ns, 50),
            percentile_us(&stats.latencies_ns, 99),
        ));
        self.latencies_ns.extend(stats.latencies_ns);
    }
}

/// Moves the calling thread to `core` at nice 19.
fn demote(core: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity/setpriority affect only the
    // calling thread (pid/who 0 and its own tid).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(1))).ok()?;
    Some(s)
}

/// `GET /metrics`: the status code, or None.
fn scrape(addr: SocketAddr) -> Option<u16> {
    let mut s = connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        .ok()?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response[..response.len().min(16)]).into_owned();
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The slow loris, until `stop`: returns how often the server closed one of its
/// connections.
fn slow_loris(addr: SocketAddr, core: usize, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    thread::spawn(move || {
        demote(core);
        let head = b"GET /metrics HTTP/1.1\r\nHost: loris\r\nX-Loris: ";
        let mut conns: Vec<(Option<TcpStream>, usize)> =
            (0..LORIS_CONNECTIONS).map(|_| (connect(addr), 0)).collect();
        let mut closed = 0;
        while !stop.load(Ordering::Relaxed) {
            for (conn, sent) in &mut conns {
                let byte = head.get(*sent).copied().unwrap_or(b'a');
                let alive = conn.as_mut().is_some_and(|s| s.write_all(&[byte]).is_ok());
                if alive {
                    *sent += 1;
                } else {
                    closed += 1;
                    *conn = connect(addr);
                    *sent = 0;
                }
            }
            thread::sleep(LORIS_INTERVAL);
        }
        closed
    })
}

/// The flood: `FLOOD_REQUESTS` scrapes over `FLOOD_THREADS` threads; `done` counts those
/// answered 200.
fn flood(addr: SocketAddr, core: usize, done: Arc<AtomicU64>) -> Vec<JoinHandle<u64>> {
    let issued = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    (0..FLOOD_THREADS)
        .map(|_| {
            let (issued, done) = (issued.clone(), done.clone());
            thread::spawn(move || {
                demote(core);
                let mut failed = 0;
                while issued.fetch_add(1, Ordering::Relaxed) < FLOOD_REQUESTS
                    && began.elapsed() < FLOOD_LIMIT
                {
                    if scrape(addr) == Some(200) {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed += 1;
                    }
                }
                failed
            })
        })
        .collect()
}

/// The whole scenario; returns the report (markdown).
pub fn run(
    gen: &mut LoadGen,
    server_pid: u32,
    server_core: usize,
    phase: Duration,
    rate: u32,
    rounds: usize,
) -> Result<String, String> {
    let addr: SocketAddr = METRICS.parse().map_err(|e| format!("{e}"))?;
    if scrape(addr) != Some(200) {
        return Err(format!("no metrics page on {METRICS}"));
    }
    let mut idle = Condition::default();
    let mut loris = Condition::default();
    let mut flooded = Condition::default();
    for round in 1..=rounds {
        eprintln!("== metrics load, round {round} of {rounds}");
        thread::sleep(Duration::from_millis(200));
        idle.add(gen.paced(phase, rate));

        thread::sleep(Duration::from_millis(200));
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = slow_loris(addr, server_core, stop.clone());
        thread::sleep(Duration::from_millis(500));
        let scrape_began = Instant::now();
        let code = scrape(addr);
        let scrape_took = scrape_began.elapsed();
        loris.add(gen.paced(phase, rate));
        stop.store(true, Ordering::Relaxed);
        let closed = attacker.join().unwrap_or(0);
        loris.attack.push(format!(
            "round {round}: the server closed {closed} loris connections; a scrape meanwhile got {code:?} in {:.1} ms",
            scrape_took.as_secs_f64() * 1e3
        ));

        thread::sleep(Duration::from_millis(200));
        let cpu_before = procfs::cpu_time(server_pid)?;
        let done = Arc::new(AtomicU64::new(0));
        let began = Instant::now();
        let threads = flood(addr, server_core, done.clone());
        let mut stats = PhaseStats::default();
        while !threads.iter().all(JoinHandle::is_finished) {
            let slice = gen.paced(SLICE, rate);
            stats.sent += slice.sent;
            stats.answered += slice.answered;
            stats.latencies_ns.extend(slice.latencies_ns);
        }
        let took = began.elapsed();
        let failed: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        let cpu = procfs::cpu_time(server_pid)?.since(cpu_before);
        flooded.add(stats);
        let served = done.load(Ordering::Relaxed);
        flooded.attack.push(format!(
            "round {round}: {served} scrapes answered, {failed} failed, in {:.2} s ({:.0}/s); server CPU {:.0} us per scrape ({:.0} us user)",
            took.as_secs_f64(),
            served as f64 / took.as_secs_f64(),
            cpu.total() * 1e6 / served.max(1) as f64,
            cpu.user * 1e6 / served.max(1) as f64,
        ));
    }
    Ok(report(
        &mut [
            ("idle", idle),
            ("slow loris", loris),
            ("10k-scrape flood", flooded),
        ],
        rate,
    ))
}

fn report(conditions: &mut [(&str, Condition)], rate: u32) -> String {
    let mut out = format!(
        "## Mode 3 latency under a hostile metrics scraper\n\n\
         | metrics port | p50 us @{rate}/s | p99 us @{rate}/s | per round (p50/p99) | answered |\n|---|---:|---:|---|---:|\n"
    );
    let (mut base50, mut base99) = (0.0, 0.0);
    let mut notes = Vec::new();
    for (name, c) in conditions.iter_mut() {
        c.latencies_ns.sort_unstable();
        let p50 = percentile_us(&c.latencies_ns, 50);
        let p99 = percentile_us(&c.latencies_ns, 99);
        if base50 == 0.0 {
            (base50, base99) = (p50, p99);
        }
        let rounds: Vec<String> = c
            .per_round
            .iter()
            .map(|(a, b)| format!("{a:.1}/{b:.1}"))
            .collect();
        out += &format!(
            "| {name} | {p50:.1} ({:+.1}%) | {p99:.1} ({:+.1}%) | {} | {}/{} |\n",
            (p50 / base50 - 1.0) * 100.0,
            (p99 / base99 - 1.0) * 100.0,
            rounds.join(", "),
            c.answered,
            c.sent
        );
        notes.extend(c.attack.iter().map(|a| format!("- {name}, {a}")));
    }
    out + "\n" + &notes.join("\n") + "\n"
}
