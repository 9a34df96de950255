//! Server benchmark: answers per second at saturation, server CPU per answer, latency at a
//! fixed rate and RSS, for our ntpd, a trivial UDP reflector (the floor), chrony and NTPsec.
//!
//! Run by hand (`bash scripts/bench.sh`), never as a test; see docs/benchmark.md. Needs
//! root: it re-executes itself inside a fresh network namespace (`unshare -n`), where all
//! traffic stays on loopback, with CAP_SYS_TIME dropped from the bounding set.

mod loadgen;
mod metrics_load;
mod procfs;
mod report;
mod servers;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use loadgen::LoadGen;
use report::{MemoryRow, Row};
use servers::{Binaries, Kind, Server};

/// Set in the environment of the re-executed bench, inside its namespace.
const IN_NETNS: &str = "NTP_BENCH_IN_NETNS";

const USAGE: &str = "usage: serve [--quick] [--only reflector,ours,chrony,ntpsec] [--seconds S] \
[--rate R] [--clients N] [--sockets N] [--window W] [--rounds N] [--sync-wait S] [--mru-clients N,N,...] \
[--ours PATH] [--chronyd PATH] [--ntpsec PATH] [--out FILE] [--server-core C] [--gen-core C] [--nice N] \
[--metrics-load]";

/// How long the memory phase may feed one server (at least 100k clients a second is
/// typical, so a million takes ten seconds or so).
const MEMORY_FEED_LIMIT: Duration = Duration::from_secs(40);

/// Requests in flight in the memory phase: fewer than a default socket buffer holds (about
/// 270 small datagrams in 208 kB), so that few are dropped before the server sees them:
/// a client counts only if it reached the server.
const MEMORY_WINDOW: usize = 128;

struct Options {
    kinds: Vec<Kind>,
    /// Length of the saturation phase and of the fixed-rate phase.
    seconds: f64,
    rate: u32,
    clients: usize,
    sockets: usize,
    window: usize,
    /// Each server is measured this many times, interleaved with the others; its row is the
    /// round with the most answers/s: other work on the machine can only lower throughput,
    /// so the best round is the least disturbed one.
    rounds: usize,
    /// How long to wait for a server to answer as synchronised before measuring anyway.
    sync_wait: f64,
    /// Distinct client addresses after which the memory phase reads each server's memory
    /// (cumulative, ascending); empty: no memory phase.
    mru_clients: Vec<u64>,
    bins: Binaries,
    out: PathBuf,
    server_core: usize,
    gen_core: usize,
    /// Niceness of generator and servers: keeps other work on the machine from taking their
    /// cores in the middle of a phase.
    nice: i32,
    /// Instead of the comparison: our ntpd's mode 3 latency while its metrics port is
    /// attacked (`metrics_load`).
    metrics_load: bool,
    /// The arguments as given, to pass on when re-executing.
    raw: Vec<String>,
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--reflector") {
        return match servers::run_reflector() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("reflector: {e}")),
        };
    }
    let options = match parse(raw) {
        Ok(options) => options,
        Err(e) => return fail(&format!("{e}\n{USAGE}")),
    };
    let result = if std::env::var_os(IN_NETNS).is_none() {
        reexec_in_netns(&options)
    } else {
        run(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("serve: {message}");
    ExitCode::FAILURE
}

fn parse(raw: Vec<String>) -> Result<Options, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options {
        kinds: Kind::ALL.to_vec(),
        seconds: 4.0,
        rate: 1000,
        clients: 64,
        sockets: 4,
        window: 512,
        rounds: 3,
        sync_wait: 60.0,
        mru_clients: vec![10_000, 100_000, 1_000_000],
        bins: Binaries::defaults(repo),
        out: repo.join("target/bench-results.md"),
        server_core: 0,
        gen_core: 1,
        nice: -20,
        metrics_load: false,
        raw: raw.clone(),
    };
    let mut args = raw.into_iter();
    while let Some(flag) = args.next() {
        if flag == "--bench" {
            continue; // added by `cargo bench`
        }
        if flag == "--quick" {
            // About a minute: one round, short phases, the memory phase up to 100k clients.
            options.rounds = 1;
            options.seconds = 2.0;
            options.sync_wait = 20.0;
            options.mru_clients = vec![10_000, 100_000];
            continue;
        }
        if flag == "--metrics-load" {
            options.metrics_load = true;
            options.out = repo.join("target/bench-metrics.md");
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag}: missing value"))?;
        let number = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: bad number '{v}'"))
        };
        match flag.as_str() {
            "--only" => {
                options.kinds = value
                    .split(',')
                    .map(|name| {
                        Kind::from_name(name)
                            .ok_or_else(|| format!("--only: unknown server '{name}'"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => options.seconds = number(&value)?,
            "--rate" => options.rate = number(&value)? as u32,
            "--clients" => options.clients = (number(&value)? as usize).clamp(1, 250),
            "--sockets" => options.sockets = (number(&value)? as usize).clamp(1, 64),
            "--rounds" => options.rounds = (number(&value)? as usize).max(1),
            "--window" => options.window = (number(&value)? as usize).max(32),
            "--sync-wait" => options.sync_wait = number(&value)?,
            "--mru-clients" => {
                options.mru_clients = value
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(|v| number(v).map(|n| n as u64))
                    .collect::<Result<_, _>>()?;
                options.mru_clients.sort_unstable();
            }
            "--ours" => options.bins.ours = value.into(),
            "--chronyd" => options.bins.chronyd = value.into(),
            "--ntpsec" => options.bins.ntpsec = value.into(),
            "--out" => options.out = value.into(),
            "--server-core" => options.server_core = number(&value)? as usize,
            "--gen-core" => options.gen_core = number(&value)? as usize,
            "--nice" => options.nice = number(&value)? as i32,
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    Ok(options)
}

/// Runs this binary again in a fresh network namespace, pinned to the generator's core, at
/// the chosen niceness (inherited by the servers) and without CAP_SYS_TIME, and waits.
fn reexec_in_netns(options: &Options) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(
            "needs root (for unshare -n and port 123); run via `sudo bash scripts/bench.sh`".into(),
        );
    }
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let status = Command::new("unshare")
        .args(["-n", "--", "nice", "-n"])
        .arg(options.nice.to_string())
        .args(["taskset", "-c"])
        .arg(options.gen_core.to_string())
        .args(["setpriv", "--bounding-set", "-sys_time"])
        .arg(me)
        .args(&options.raw)
        .env(IN_NETNS, "1")
        .status()
        .map_err(|e| format!("unshare: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("benchmark in namespace failed: {status}"))
    }
}

fn run(options: &Options) -> Result<(), String> {
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("ip link set lo up: {e}"))?;
    if !up.success() {
        return Err("ip link set lo up failed".into());
    }
    if options.metrics_load {
        return run_metrics_load(options);
    }
    let mut results: Vec<(Kind, Vec<Row>, Option<String>)> = options
        .kinds
        .iter()
        .map(|&kind| (kind, Vec::new(), None))
        .collect();
    // Ours first in every round: its first saturation sets the rate of the second latency
    // phase (half its maximum) for every server, kept for all rounds.
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|&i| results[i].0 != Kind::Ours);
    let mut half_rate = None;
    for round in 1..=options.rounds {
        for &i in &order {
            let (kind, rows, failure) = &mut results[i];
            if failure.is_some() {
                continue;
            }
            eprintln!("== {} (round {round} of {})", kind.name(), options.rounds);
            match measure(*kind, options, half_rate) {
                Ok(row) => {
                    eprintln!("   {row:?}");
                    half_rate.get_or_insert(row.half_rate);
                    rows.push(row);
                }
                Err(why) => {
                    eprintln!("   not measured: {why}");
                    *failure = Some(why);
                }
            }
        }
    }
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (kind, mut measured, failure) in results {
        match failure {
            Some(why) => failures.push((kind.name().to_string(), why)),
            None => {
                measured.sort_by(|a, b| a.answers_per_sec.total_cmp(&b.answers_per_sec));
                if let Some(mut best) = measured.pop() {
                    if best.generator_percent < 90.0 {
                        best.notes.push(format!(
                            "the generator used only {:.0}% of its core: other work took it, or its window \
                             was full of lost requests (see docs/benchmark.md)",
                            best.generator_percent
                        ));
                    }
                    rows.push(best);
                }
            }
        }
    }
    let mut memory = Vec::new();
    if !options.mru_clients.is_empty() {
        for &kind in &options.kinds {
            eprintln!("== {} (memory)", kind.name());
            match measure_memory(kind, options) {
                Ok(row) => {
                    eprintln!("   {row:?}");
                    memory.push(row);
                }
                Err(why) => {
                    eprintln!("   not measured: {why}");
                    failures.push((format!("{} (memory)", kind.name()), why));
                }
            }
        }
    }
    let mut table = report::render(&rows, &failures, &preamble(options, half_rate));
    table.push_str(&report::render_memory(&memory, &options.mru_clients));
    print!("{table}");
    if let Some(dir) = options.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&options.out, &table).map_err(|e| format!("{}: {e}", options.out.display()))?;
    eprintln!("written to {}", options.out.display());
    Ok(())
}

/// `--metrics-load`: our ntpd with its metrics port, latency idle and under attack.
fn run_metrics_load(options: &Options) -> Result<(), String> {
    let extra = ["--metrics", metrics_load::METRICS];
    let mut server = Server::start(
        Kind::Ours,
        &options.bins,
        options.server_core,
        &extra,
        false,
    )?;
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 123);
    let mut gen = LoadGen::new(options.sockets, options.clients, target)?;
    wait_until_synchronised(
        &mut gen,
        &mut server,
        options.sync_wait,
        &mut Row::default(),
    )?;
    let table = metrics_load::run(
        &mut gen,
        server.pid,
        options.server_core,
        Duration::from_secs_f64(options.seconds),
        options.rate,
        options.rounds,
    )?;
    if !server.running() {
        return Err(format!(
            "server exited during the run:\n{}",
            server.output()
        ));
    }
    print!("{table}");
    std::fs::write(&options.out, &table).map_err(|e| format!("{}: {e}", options.out.display()))?;
    eprintln!("written to {}", options.out.display());
    Ok(())
}

/// The measurement sequence for one server; see docs/benchmark.md. The second latency
/// phase runs at `half_rate` (half of ours' maximum), or at half of this server's own when
/// that is not known yet.
fn measure(kind: Kind, options: &Options, half_rate: Option<u32>) -> Result<Row, String> {
    let udp_before = procfs::udp_counters();
    let mut server = Server::start(kind, &options.bins, options.server_core, &[], false)?;
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 123);
    let mut gen = LoadGen::new(options.sockets, options.clients, target)?;
    let mut row = Row {
        name: kind.name().to_string(),
        ..Row::default()
    };
    wait_until_synchronised(&mut gen, &mut server, options.sync_wait, &mut row)?;
    std::thread::sleep(Duration::from_secs(1));
    row.rss_idle_mb = procfs::rss_kib(server.pid)? as f64 / 1024.0;
    row.private_idle_mb = procfs::private_kib(server.pid)? as f64 / 1024.0;

    let phase = Duration::from_secs_f64(options.seconds);
    gen.saturate(Duration::from_secs(1), options.window); // warm-up, not counted
    let cpu_before = procfs::cpu_time(server.pid)?;
    let gen_before = procfs::cpu_time(std::process::id())?;
    let saturated = gen.saturate(phase, options.window);
    let cpu = procfs::cpu_time(server.pid)?.since(cpu_before);
    let gen_cpu = procfs::cpu_time(std::process::id())?.since(gen_before);
    row.generator_percent = gen_cpu.total() * 100.0 / saturated.elapsed.as_secs_f64();
    let answers = saturated.answered.max(1) as f64;
    row.answers_per_sec = saturated.answered as f64 / saturated.elapsed.as_secs_f64();
    row.cpu_us_per_answer = cpu.total() * 1e6 / answers;
    row.user_us_per_answer = cpu.user * 1e6 / answers;
    row.busy_percent = cpu.total() * 100.0 / saturated.elapsed.as_secs_f64();
    note_losses(&mut row, "saturated", &saturated);

    std::thread::sleep(Duration::from_millis(200)); // let the saturation backlog drain
    let mut paced = gen.paced(phase, options.rate);
    paced.latencies_ns.sort_unstable();
    row.p50_us = report::percentile_us(&paced.latencies_ns, 50);
    row.p99_us = report::percentile_us(&paced.latencies_ns, 99);
    note_losses(&mut row, &format!("{}/s", options.rate), &paced);

    std::thread::sleep(Duration::from_millis(200));
    row.half_rate = half_rate
        .unwrap_or((row.answers_per_sec / 2.0) as u32)
        .max(1);
    let mut half = gen.paced(phase, row.half_rate);
    half.latencies_ns.sort_unstable();
    row.p50_half_us = report::percentile_us(&half.latencies_ns, 50);
    row.p99_half_us = report::percentile_us(&half.latencies_ns, 99);
    let phase_name = format!("{}/s", row.half_rate);
    note_losses(&mut row, &phase_name, &half);

    row.rss_loaded_mb = procfs::rss_kib(server.pid)? as f64 / 1024.0;
    row.private_loaded_mb = procfs::private_kib(server.pid)? as f64 / 1024.0;
    let udp_errors = procfs::udp_errors(&udp_before, &procfs::udp_counters());
    if !udp_errors.is_empty() {
        row.notes
            .push(format!("UDP errors in the run: {}", udp_errors.join(", ")));
    }
    if !server.running() {
        return Err(format!(
            "server exited during the run:\n{}",
            server.output()
        ));
    }
    Ok(row)
}

/// The memory phase for one server: started afresh (our ntpd with its MRU monitor on, as
/// by default), fed requests from ever new client addresses, its memory read idle and
/// after each step of `mru_clients`.
fn measure_memory(kind: Kind, options: &Options) -> Result<MemoryRow, String> {
    let mut server = Server::start(kind, &options.bins, options.server_core, &[], true)?;
    let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 123);
    let mut row = MemoryRow {
        name: kind.name().to_string(),
        ..MemoryRow::default()
    };
    let mut probe = LoadGen::new(1, 1, target)?;
    let mut unused = Row::default();
    wait_until_synchronised(&mut probe, &mut server, options.sync_wait, &mut unused)?;
    std::thread::sleep(Duration::from_secs(1));
    let memory = |pid| -> Result<(f64, f64), String> {
        Ok((
            procfs::rss_kib(pid)? as f64 / 1024.0,
            procfs::private_kib(pid)? as f64 / 1024.0,
        ))
    };
    row.idle = memory(server.pid)?;
    let total = options.mru_clients.last().copied().unwrap_or(0);
    let mut gen = LoadGen::distinct(options.sockets, total as usize, target)?;
    let mut fed = 0;
    for &clients in &options.mru_clients {
        let stats = gen.feed(clients - fed, MEMORY_WINDOW, MEMORY_FEED_LIMIT);
        fed += stats.sent;
        if fed < clients || stats.answered < stats.sent * 9 / 10 {
            row.notes.push(format!(
                "step {clients}: {} sent, {} answered, {} lost, {} kiss-o'-death in {:.1} s",
                stats.sent,
                stats.answered,
                stats.lost,
                stats.kod,
                stats.elapsed.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
        row.steps.push(memory(server.pid)?);
    }
    if !server.running() {
        return Err(format!("server exited:\n{}", server.output()));
    }
    Ok(row)
}

/// Waits for a first answer (30 s at most), then up to `patience` seconds for one that is
/// synchronised (leap indicator not 3); a server that stays unsynchronised is measured
/// anyway, with a note.
fn wait_until_synchronised(
    gen: &mut LoadGen,
    server: &mut Server,
    patience: f64,
    row: &mut Row,
) -> Result<(), String> {
    let began = Instant::now();
    loop {
        if !server.running() {
            return Err(format!("server exited:\n{}", server.output()));
        }
        let waited = began.elapsed().as_secs_f64();
        match gen.probe(Duration::from_secs(1)) {
            Some(header) if header.leap != 3 => {
                eprintln!(
                    "   synchronised after {waited:.1} s (stratum {})",
                    header.stratum
                );
                return Ok(());
            }
            Some(header) if waited >= patience => {
                row.notes.push(format!(
                    "measured unsynchronised (leap {}, stratum {})",
                    header.leap, header.stratum
                ));
                return Ok(());
            }
            None if waited >= 30.0 => {
                return Err(format!("no answer within 30 s:\n{}", server.output()));
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn note_losses(row: &mut Row, phase: &str, stats: &loadgen::PhaseStats) {
    if stats.lost > 0 || stats.kod > 0 {
        row.notes.push(format!(
            "{phase}: {} sent, {} answered, {} lost, {} kiss-o'-death",
            stats.sent, stats.answered, stats.lost, stats.kod
        ));
    }
}

/// The conditions of the run, printed above the table.
fn preamble(options: &Options, half_rate: Option<u32>) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    format!(
        "## NTP server benchmark\n\nLoopback in a fresh network namespace; kernel {}, {}; server on core {}, \
         generator on core {}; both at nice {}; {} client addresses over {} sockets; saturation {} s with {} \
         requests in flight (after 1 s warm-up); latency at {}/s for {} s, then at {}/s (half of ours' first \
         maximum) for {} s; each row is the round with the most answers/s of {} interleaved rounds. Load \
         average at the end: {}.\n",
        kernel.trim(),
        cpu,
        options.server_core,
        options.gen_core,
        options.nice,
        options.clients,
        options.sockets,
        options.seconds,
        options.window,
        options.rate,
        options.seconds,
        half_rate.map_or("(none)".to_string(), |r| r.to_string()),
        options.seconds,
        options.rounds,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
}
