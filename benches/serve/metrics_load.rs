//! `--metrics-load`: does a hostile scraper of `ntpd --metrics` delay time service? Our
//! ntpd serves LOCAL(0) with `--metrics 127.0.0.1:9975`; mode 3 latency at a fixed rate
//! is measured idle, under a slow loris (64 connections, four times the server's limit,
//! each trickling one header octet every 100 ms and never ending its request, reconnecting
//! when closed) and under a flood of 10,000 complete `GET /metrics` requests from 200
//! threads as fast as they go, each given up after 0.5 s (40 s in all at most).
//!
//! The attackers run on the server's core under SCHED_IDLE: they get every cycle the
//! server leaves, and the server preempts them at once, so what is measured is the
//! daemon's own handling of them. An attacker that keeps the core busy shortens the
//! server's wake-ups by itself, so each attack is compared with two baselines: the port
//! idle, and the same core kept busy by a spinning SCHED_IDLE thread, no HTTP. Every loop
//! is bounded in count and time; all traffic stays on loopback in the bench's namespace.

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
const FLOOD_THREADS: usize = 200;
/// A flood never lasts longer than this, done or not.
const FLOOD_LIMIT: Duration = Duration::from_secs(40);
/// A flood request gives up after this (connect, then the answer).
const FLOOD_PATIENCE: Duration = Duration::from_millis(500);
/// A normal scrape's patience.
const PATIENCE: Duration = Duration::from_secs(2);
/// Latency is sampled in slices while the flood runs.
const SLICE: Duration = Duration::from_millis(250);

/// One condition's latencies over all rounds, and what the attack achieved.
#[derive(Default)]
struct Condition {
    latencies_ns: Vec<u64>,
    sent: u64,
    answered: u64,
    per_round: Vec<(f64, f64)>,
    /// The server's share of its core, per round.
    cpu_percent: Vec<f64>,
    attack: Vec<String>,
}

impl Condition {
    /// Runs `phase` and adds its latencies and the server's CPU share meanwhile.
    fn add(&mut self, pid: u32, phase: impl FnOnce() -> PhaseStats) -> Result<(), String> {
        let before = procfs::cpu_time(pid)?;
        let began = Instant::now();
        let mut stats = phase();
        let cpu = procfs::cpu_time(pid)?.since(before);
        self.cpu_percent
            .push(cpu.total() * 100.0 / began.elapsed().as_secs_f64());
        self.sent += stats.sent;
        self.answered += stats.answered;
        stats.latencies_ns.sort_unstable();
        self.per_round.push((
            percentile_us(&stats.latencies_ns, 50),
            percentile_us(&stats.latencies_ns, 99),
        ));
        self.latencies_ns.extend(stats.latencies_ns);
        Ok(())
    }
}

/// Moves the calling thread to `core` under SCHED_IDLE: it runs only when nothing else
/// there wants the core, so the server always preempts it at once.
fn demote(core: usize) {
    // SAFETY: cpu_set_t and sched_param are plain data; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

fn connect(addr: SocketAddr, patience: Duration) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, patience).ok()?;
    s.set_read_timeout(Some(patience)).ok()?;
    s.set_write_timeout(Some(patience)).ok()?;
    Some(s)
}

/// The control for the attacks: a thread spinning on `core` under SCHED_IDLE until `stop`.
fn spinner(core: usize, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    thread::spawn(move || {
        demote(core);
        let mut turns = 0u64;
        while !stop.load(Ordering::Relaxed) {
            turns = std::hint::black_box(turns + 1);
        }
        turns
    })
}

/// `GET /metrics`: the status code, or None.
fn scrape(addr: SocketAddr, patience: Duration) -> Option<u16> {
    let mut s = connect(addr, patience)?;
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
        let mut conns: Vec<(Option<TcpStream>, usize)> = (0..LORIS_CONNECTIONS)
            .map(|_| (connect(addr, PATIENCE), 0))
            .collect();
        let mut closed = 0;
        while !stop.load(Ordering::Relaxed) {
            for (conn, sent) in &mut conns {
                let byte = head.get(*sent).copied().unwrap_or(b'a');
                let alive = conn.as_mut().is_some_and(|s| s.write_all(&[byte]).is_ok());
                if alive {
                    *sent += 1;
                } else {
                    closed += 1;
                    *conn = connect(addr, PATIENCE);
                    *sent = 0;
                }
            }
            thread::sleep(LORIS_INTERVAL);
        }
        closed
    })
}

/// The flood: `FLOOD_REQUESTS` scrapes over `FLOOD_THREADS` threads, each given up after
/// `FLOOD_PATIENCE`, for `FLOOD_LIMIT` at most; `done` counts those answered 200.
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
                    if scrape(addr, FLOOD_PATIENCE) == Some(200) {
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
    if scrape(addr, PATIENCE) != Some(200) {
        return Err(format!("no metrics page on {METRICS}"));
    }
    let mut idle = Condition::default();
    let mut busy = Condition::default();
    let mut loris = Condition::default();
    let mut flooded = Condition::default();
    for round in 1..=rounds {
        eprintln!("== metrics load, round {round} of {rounds}");
        thread::sleep(Duration::from_millis(200));
        idle.add(server_pid, || gen.paced(phase, rate))?;

        let stop = Arc::new(AtomicBool::new(false));
        let spinning = spinner(server_core, stop.clone());
        busy.add(server_pid, || gen.paced(phase, rate))?;
        stop.store(true, Ordering::Relaxed);
        let _ = spinning.join();

        thread::sleep(Duration::from_millis(200));
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = slow_loris(addr, server_core, stop.clone());
        thread::sleep(Duration::from_millis(500));
        let scrape_began = Instant::now();
        let code = scrape(addr, PATIENCE);
        let scrape_took = scrape_began.elapsed();
        loris.add(server_pid, || gen.paced(phase, rate))?;
        stop.store(true, Ordering::Relaxed);
        let closed = attacker.join().unwrap_or(0);
        loris.attack.push(format!(
            "round {round}: the server closed {closed} loris connections; a scrape meanwhile got {code:?} in {:.1} ms",
            scrape_took.as_secs_f64() * 1e3
        ));

        thread::sleep(Duration::from_millis(200));
        let done = Arc::new(AtomicU64::new(0));
        let began = Instant::now();
        let threads = flood(addr, server_core, done.clone());
        flooded.add(server_pid, || {
            let mut stats = PhaseStats::default();
            while !threads.iter().all(JoinHandle::is_finished) {
                let slice = gen.paced(SLICE, rate);
                stats.sent += slice.sent;
                stats.answered += slice.answered;
                stats.latencies_ns.extend(slice.latencies_ns);
            }
            stats
        })?;
        let took = began.elapsed();
        let failed: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        let served = done.load(Ordering::Relaxed);
        flooded.attack.push(format!(
            "round {round}: {} requests in {:.1} s: {served} answered ({:.0}/s), {failed} given up",
            served + failed,
            took.as_secs_f64(),
            served as f64 / took.as_secs_f64(),
        ));
    }
    let mut rows = [
        ("idle", false, idle),
        ("core kept busy (control)", false, busy),
        ("slow loris", true, loris),
        ("10k-scrape flood", true, flooded),
    ];
    Ok(report(&mut rows, rate))
}

/// The table; an attack's change is given against both baselines (the first two rows).
fn report(rows: &mut [(&str, bool, Condition)], rate: u32) -> String {
    let mut out = format!(
        "## Mode 3 latency under a hostile metrics scraper\n\n\
         | metrics port | p50 us @{rate}/s | p99 us @{rate}/s | p50 / p99 vs idle | p50 / p99 vs busy core | per round (p50/p99) | server CPU % | answered |\n\
         |---|---:|---:|---|---|---|---:|---:|\n"
    );
    let mut baselines: Vec<(f64, f64)> = Vec::new();
    let mut notes = Vec::new();
    for (name, attack, c) in rows.iter_mut() {
        c.latencies_ns.sort_unstable();
        let p50 = percentile_us(&c.latencies_ns, 50);
        let p99 = percentile_us(&c.latencies_ns, 99);
        let change = |(b50, b99): (f64, f64)| {
            format!(
                "{:+.1}% / {:+.1}%",
                (p50 / b50 - 1.0) * 100.0,
                (p99 / b99 - 1.0) * 100.0
            )
        };
        let changes: Vec<String> = if *attack {
            baselines.iter().map(|b| change(*b)).collect()
        } else {
            baselines.push((p50, p99));
            vec![String::new(), String::new()]
        };
        let rounds: Vec<String> = c
            .per_round
            .iter()
            .map(|(a, b)| format!("{a:.1}/{b:.1}"))
            .collect();
        let cpu = c.cpu_percent.iter().sum::<f64>() / c.cpu_percent.len().max(1) as f64;
        out += &format!(
            "| {name} | {p50:.1} | {p99:.1} | {} | {} | {} | {cpu:.1} | {}/{} |\n",
            changes.first().map_or("", String::as_str),
            changes.get(1).map_or("", String::as_str),
            rounds.join(", "),
            c.answered,
            c.sent
        );
        notes.extend(c.attack.iter().map(|a| format!("- {name}, {a}")));
    }
    out + "\n" + &notes.join("\n") + "\n"
}
