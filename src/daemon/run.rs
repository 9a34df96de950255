//! ntpd from command line to exit: parse options, read ntp.conf, bind port 123, detach,
//! and run the loop on the system clock or a virtual one.

use super::args::{self, Command, Options};
use super::event_loop::{self, Stop};
use super::host::Host;
use super::listen::DEFAULT_RESCAN_INTERVAL;
use super::listeners::Listeners;
use super::metrics_http::MetricsServer;
use super::notify::Notifier;
use super::observe::Observers;
use super::settings::{self, ShellSettings};
use super::statsfiles::StatsFiles;
use super::{driftio, leapfile, logging};
use crate::clock::{Clock, StdMono, SystemClock, VirtualClock};
use crate::config::{self, Config};
use crate::control::NonceKey;
use crate::engine::{Engine, Settings};
use crate::net::{interfaces, udp};
use crate::refclock_io::Devices;
use crate::sys::process::{self, PidFile};
use crate::sys::signals::Signals;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_CONFIG: &str = "/etc/ntp.conf";
const NTP_PORT: u16 = 123;

/// The version banner, first line of the log and of `--version`.
pub const VERSION: &str = crate::version::NTPD;

/// Runs ntpd with `args` (without the program name); returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    let opts = match args::parse(args) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            return 0;
        }
        Ok(Command::Version) => {
            print!("{}", crate::version::version_output("ntpd", VERSION));
            return 0;
        }
        Err(err) => {
            eprintln!("{}\n{}", err.0, args::SHORT_USAGE.trim_end());
            return 1;
        }
    };
    let config_path = opts
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    if opts.check {
        return check(&config_path, opts.explain);
    }
    let (config, diagnostics) = config::load_file(&config_path);
    let shell = settings::shell(&config, &opts);
    logging::init(&logging::LogSetup {
        foreground: opts.no_fork,
        logfile: shell.log_file.as_deref(),
        debug: opts.debug_level,
        syslog_socket: opts.syslog_socket.as_deref(),
        mask: config.log_mask(),
    });
    log::info!("{VERSION}");
    for d in &diagnostics {
        if d.is_error() {
            log::error!("{d}");
        } else {
            log::warn!("{d}");
        }
    }
    if diagnostics.iter().any(|d| d.is_fatal()) {
        return refuse_partial_config(&diagnostics, &opts, &shell);
    }
    settings::log_unsupported(&config);
    log_unsupported_options(&opts);
    match start(&opts, &config, &shell) {
        Ok(status) => status,
        Err(err) => {
            log::error!("{err}");
            1
        }
    }
}

/// Exits instead of running on a configuration read only in part: what is missing may be
/// the `restrict` lines that keep mode 6 from the world. The reason also goes to stderr
/// when the log does not, so `service ntpd start` shows it.
fn refuse_partial_config(
    diagnostics: &[config::Diagnostic],
    opts: &Options,
    shell: &ShellSettings,
) -> i32 {
    const EXITING: &str = "configuration not read whole; exiting";
    log::error!("{EXITING}");
    if !opts.no_fork || shell.log_file.is_some() {
        for d in diagnostics.iter().filter(|d| d.is_fatal()) {
            eprintln!("ntpd: {d}");
        }
        eprintln!("ntpd: {EXITING}");
    }
    1
}

/// Options accepted for compatibility whose work arrives with later issues.
fn log_unsupported_options(opts: &Options) {
    let pending = [(opts.saveconfigquit.is_some(), "--saveconfigquit")];
    for (given, what) in pending {
        if given {
            log::warn!("option {what} not supported yet; ignored");
        }
    }
    for other in &opts.ignored {
        log::warn!("option --{other} not supported yet; ignored");
    }
}

/// `ntpd --check`: every problem with its place; exit 1 if any is an error. With
/// `--explain`, first every directive as written and what it does.
fn check(path: &Path, explain: bool) -> i32 {
    let diagnostics = if explain {
        let (explained, diagnostics) = config::explain_file(path, &settings::SUPPORT);
        for e in &explained {
            println!("{}: {}\n    {}", e.location, e.text, e.meaning);
        }
        diagnostics
    } else {
        config::check_file(path, &settings::SUPPORT)
    };
    for d in &diagnostics {
        println!("{d}");
    }
    i32::from(diagnostics.iter().any(|d| d.is_error()))
}

/// `-U`: seconds between interface scans, classic's 300 by default; a negative value is
/// logged and the default kept, as classic does.
fn rescan_interval(opts: &Options) -> Duration {
    match opts.update_interval {
        None => DEFAULT_RESCAN_INTERVAL,
        Some(secs) => u64::try_from(secs).map_or_else(
            |_| {
                log::error!("command line interface update interval {secs} must not be negative");
                DEFAULT_RESCAN_INTERVAL
            },
            Duration::from_secs,
        ),
    }
}

/// Binds the sockets for the addresses there are now; later scans keep them current.
fn bind_all(shell: &ShellSettings, opts: &Options) -> io::Result<Listeners> {
    // Classic refuses to start when another process holds port 123.
    let probe: SocketAddr = ([0, 0, 0, 0], NTP_PORT).into();
    if let Err(err) = udp::bind_plain(probe) {
        if err.kind() == io::ErrorKind::AddrInUse {
            return Err(io::Error::new(err.kind(), "unable to bind to wildcard address 0.0.0.0 - another process may be running - EXITING"));
        }
    }
    let ifaces = interfaces::list()?;
    let mut listeners = Listeners::bind(
        &ifaces,
        shell.listen.clone(),
        NTP_PORT,
        rescan_interval(opts),
    );
    let addrs: Vec<std::net::IpAddr> = ifaces.iter().map(|i| i.addr).collect();
    listeners.join_groups(&shell.groups.join, &addrs);
    for l in listeners.iter_mut() {
        if l.endpoint.addr == SocketAddr::from(([0, 0, 0, 0], NTP_PORT)) {
            l.hears_groups = open_to_groups(&l.socket, &shell.groups);
        }
    }
    if listeners.iter().all(|l| l.drop()) {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no address to listen on",
        ));
    }
    Ok(listeners)
}

/// Readies the IPv4 wildcard socket for broadcast and manycast sends (see
/// [`settings::GroupSockets`]; the groups were joined by [`Listeners::join_groups`]); true
/// when what arrives on it goes to the engine.
fn open_to_groups(socket: &std::net::UdpSocket, groups: &settings::GroupSockets) -> bool {
    if groups.send {
        if let Err(err) = udp::allow_group_sends(socket, groups.ttl) {
            log::warn!("cannot send to broadcast or multicast addresses: {err}");
        }
    }
    groups.receive
}

fn start(opts: &Options, config: &Config, shell: &ShellSettings) -> io::Result<i32> {
    let detached = if opts.no_fork {
        None
    } else {
        Some(process::daemonize()?)
    };
    let listeners = bind_all(shell, opts)?;
    let own_addresses = listeners.own_addresses();
    let mut observers = Observers::new(opts.metrics.and_then(bind_metrics), Notifier::from_env());
    let signals = Signals::new()?;
    let _pidfile = shell.pid_path.as_deref().map(PidFile::create).transpose()?;
    // Reference clock devices are opened as root, before -u drops it (as classic).
    let refclocks = settings::refclocks(config);
    let devices = Devices::open(&refclocks);
    let mut host = Host::settle(opts)?;
    if let Some(d) = detached {
        d.ready();
    }
    let seed = process::random_seed();
    let (sources, names) = settings::sources(config, opts);
    let stats = StatsFiles::from_config(config, opts.statsdir.as_deref());
    let engine_settings = Settings {
        assoc_base: (seed[0] as u16) % 60_000 + 1,
        nonce: NonceKey::new(seed),
        local_clocks: settings::local_clocks(config),
        refclocks,
        access: settings::access(config, &own_addresses),
        steer_clock: config.system.ntp,
        authenticate: config.system.auth,
        initial_frequency: shell.drift_path.as_deref().and_then(driftio::read),
        drift_file: shell.drift_path.is_some(),
        loop_config: settings::loop_config(config, opts),
        tos: settings::tos(config),
        sources,
        own_addresses,
        orphan: settings::orphan(config),
        stats: stats.any_enabled(),
        leap_table: config.leap_file.as_deref().and_then(leapfile::load),
        keys: keys(opts, config),
        control_key: config.control_key,
        mode7: config.system.mode7,
        casting: settings::casting(config),
        system_name: settings::system_name(),
    };
    let loop_shell = event_loop::Shell {
        listeners,
        signals: &signals,
        drift_path: shell.drift_path.as_ref(),
        names,
        max_clock: settings::max_clock(config),
        stats,
        debug_level: opts.debug_level,
        observers: &mut observers,
        devices,
    };
    let system = SystemClock::new();
    match opts.virtual_clock {
        Some(spec) => {
            log::info!("running on a virtual clock {spec} from true time; the system clock is never touched");
            let clock = VirtualClock::new(StdMono::new(), system.now(), spec);
            serve(
                Engine::new(clock, engine_settings),
                loop_shell,
                shell,
                &mut host,
            )
        }
        None => serve(
            Engine::new(system, engine_settings),
            loop_shell,
            shell,
            &mut host,
        ),
    }
}

/// The keys file and trusted keys: -k and -t as classic, added to ntp.conf's.
fn keys(opts: &Options, config: &Config) -> crate::auth::KeyRing {
    let path = opts.keyfile.as_deref().or(config.keys_file.as_deref());
    let trusted: Vec<u32> = config
        .trusted_keys
        .iter()
        .chain(&opts.trusted_keys)
        .copied()
        .collect();
    if let Some(id) = config.request_key {
        log::info!("requestkey {id}: the mode 7 (ntpdc) key; mode 7 is read-only here, so it authenticates nothing");
    }
    crate::auth::load::key_ring(path, &trusted, config.control_key)
}

/// The metrics listener on `addr` (bound before privileges are dropped, so a port below
/// 1024 works). A failure is logged and time service goes on without it.
fn bind_metrics(addr: SocketAddr) -> Option<MetricsServer> {
    match MetricsServer::bind(addr) {
        Ok(server) => {
            let addr = server.local_addr().unwrap_or(addr);
            log::info!("serving metrics on http://{addr}/metrics");
            if !addr.ip().is_loopback() {
                log::warn!("metrics on {addr} are open to the network (--metrics names a non-loopback address); firewall the port if that is not meant");
            }
            Some(server)
        }
        Err(err) => {
            log::error!("cannot serve metrics on {addr}: {err}; continuing without them");
            None
        }
    }
}

fn serve<C: Clock>(
    mut engine: Engine<C>,
    mut loop_shell: event_loop::Shell<'_>,
    shell: &ShellSettings,
    host: &mut Host,
) -> io::Result<i32> {
    log::info!(
        "proto: precision = {:.3} usec",
        2f64.powi(i32::from(engine.system().precision)) * 1e6
    );
    let stop = event_loop::run(&mut engine, &mut loop_shell);
    let status = match stop {
        Ok(Stop::Signal(sig)) => {
            log::info!("ntpd exiting on signal {sig}");
            loop_shell
                .observers
                .stopping(&format!("exiting on signal {sig}"));
            0
        }
        Ok(Stop::Exit(status)) => {
            loop_shell
                .observers
                .stopping(&format!("exiting with status {status}"));
            status
        }
        Err(err) => {
            loop_shell.observers.stopping(&format!("exiting: {err}"));
            return Err(err);
        }
    };
    engine.stop();
    if let (Some(freq), Some(path)) = (engine.final_drift(), &shell.drift_path) {
        if let Err(err) = driftio::write(path, freq) {
            log::warn!("cannot write drift file {}: {err}", path.display());
        }
    }
    host.at_stop(engine.clock());
    Ok(status)
}
