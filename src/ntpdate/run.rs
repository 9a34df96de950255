//! The ntpdate shell: resolves names, opens the socket(s), drives the [`Session`] with mio,
//! prints classic's lines and applies the decision through the [`Clock`] trait.

use super::options::{self, Options};
use super::outcome::{adjust_message, conclude, debug_dump, dropped_line, query_line};
use super::session::{Auth, Session, SessionParams, Trace};
use crate::auth;
use crate::clock::{Clock, StdMono, SystemClock, VirtualClock};
use crate::rtc::Rtc;
use crate::sys::privdrop;
use crate::sys::syslog::{syslog, Priority};
use crate::sys::{localtime, names};
use crate::time::civil::log_time;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The version line classic prints with -d/-v.
const VERSION: &str = crate::version::NTPDATE;

/// Where classic's `msyslog` lines go: stdout/stderr with a syslog-like prefix, or syslog.
struct Logger {
    syslog: bool,
    name: String,
    utc_offset: i64,
}

impl Logger {
    fn line(&self, msg: &str) -> String {
        let now = SystemClock::new().now();
        let pid = std::process::id();
        format!(
            "{} {}[{pid}]: {msg}",
            log_time(now, self.utc_offset),
            self.name
        )
    }

    fn notice(&self, msg: &str) {
        if self.syslog {
            syslog(Priority::Notice, msg);
        } else {
            println!("{}", self.line(msg));
        }
    }

    fn error(&self, msg: &str) {
        if self.syslog {
            syslog(Priority::Error, msg);
        } else {
            eprintln!("{}", self.line(msg));
        }
    }
}

/// Runs ntpdate with `args` (argv[0] first); returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let prog = args.first().map(String::as_str).unwrap_or("ntpdate");
    let opts = match options::parse(prog, args.get(1..).unwrap_or(&[])) {
        Ok(o) => o,
        Err(e) => {
            for m in &e.messages {
                eprintln!("{m}");
            }
            eprintln!("{}", e.usage);
            return 2;
        }
    };
    let log = Logger {
        syslog: opts.syslog,
        name: prog.rsplit('/').next().unwrap_or(prog).to_string(),
        utc_offset: localtime::utc_offset_now(),
    };
    if opts.debug > 0 || opts.verbose {
        log.notice(VERSION);
    }
    match run(&opts, &log) {
        Ok(()) => 0,
        Err(msg) => {
            if let Some(msg) = msg {
                log.error(&msg);
            }
            1
        }
    }
}

/// A failure: the message to log (None when already reported).
type Failure = Option<String>;

fn run(opts: &Options, log: &Logger) -> Result<(), Failure> {
    let servers = resolve_all(opts, log)?;
    if servers.is_empty() {
        return Err(Some("no servers can be used, exiting".to_string()));
    }
    let privileged = opts.debug == 0 && !opts.query_only && !opts.unprivileged_port;
    // Classic reads the keys after resolving the servers, before opening sockets.
    let auth = opts
        .auth_key
        .map(|id| read_key(opts, id, log))
        .transpose()?;
    let sockets = open_sockets(&servers, privileged)?;
    // SYNC_HWCLOCK: opened now, before -U drops root (never for a query-only run).
    let sets_clock = opts.debug == 0 && !opts.query_only;
    let mut rtc = sets_clock
        .then(|| Rtc::prepare(&opts.rtc, opts.virtual_clock.is_some()))
        .flatten();
    if let Some(user) = &opts.user {
        // Red Hat's -U: become the user but keep CAP_SYS_TIME, or the clock cannot be set.
        privdrop::drop_to(user, opts.virtual_clock.is_none(), false).map_err(Some)?;
    }
    let mut clock: Box<dyn Clock> = match opts.virtual_clock {
        Some(spec) => Box::new(VirtualClock::new(
            StdMono::new(),
            SystemClock::new().now(),
            spec,
        )),
        None => Box::new(SystemClock::new()),
    };
    let params = SessionParams {
        samples: opts.samples,
        version: opts.version,
        timeout: opts.timeout,
    };
    let mut session = Session::new(&servers, params, clock.mono());
    if let Some(auth) = auth {
        session = session.with_auth(auth);
    }
    drive(&mut session, sockets, clock.as_ref(), opts, log)?;
    let result = finish(&session, clock.as_mut(), opts, log);
    if let (Ok(()), Some(rtc)) = (&result, &mut rtc) {
        match rtc.write(clock.as_ref()) {
            Ok(done) => log.notice(&done),
            Err(err) => log.error(&err),
        }
    }
    if opts.virtual_clock.is_some() {
        let off = clock.now() - SystemClock::new().now();
        eprintln!(
            "virtual clock: offset from true time now {:+.6} s",
            off.to_secs_f64()
        );
    }
    result
}

/// `-a KEY -k FILE`: the key to sign with, with classic's two fatal messages.
fn read_key(opts: &Options, id: u32, log: &Logger) -> Result<Auth, Failure> {
    let file = &opts.key_file;
    let loaded = auth::load::load(Path::new(file))
        .map_err(|_| Some(format!("no key file <{file}>, exiting")))?;
    for d in &loaded.diagnostics {
        log.error(d);
    }
    let key = loaded.keys.into_iter().find(|k| k.id == id);
    let key = key.ok_or_else(|| Some(format!("authentication key {id} unknown")))?;
    Ok(Auth {
        key,
        delay: opts.auth_delay,
    })
}

/// Resolves every name as classic's `addserver` does: a broken name server ends the run,
/// an unknown name is reported and skipped, unreachable addresses are left out.
fn resolve_all(opts: &Options, log: &Logger) -> Result<Vec<SocketAddr>, Failure> {
    let mut servers = Vec::new();
    for host in &opts.servers {
        if opts.debug > 0 {
            println!("Looking for host {host} and service ntp");
        }
        let addrs = match names::resolve(host, opts.family) {
            Ok(a) => a,
            Err(e) if e.server_unusable => {
                eprint!(
                    "Exiting, name server cannot be used: {} ({})",
                    e.text, e.code
                );
                let msg = format!("name server cannot be used: {} ({})", e.text, e.code);
                return Err(Some(msg));
            }
            Err(e) => {
                eprintln!("Error resolving {host}: {} ({})", e.text, e.code);
                log.error(&format!("Can't find host {host}: {} ({})", e.text, e.code));
                continue;
            }
        };
        if let (true, Some(first)) = (opts.debug > 0, addrs.first()) {
            let ip = first.ip();
            let name = names::name_of(ip).map(|n| String::from_utf8_lossy(&n).into_owned());
            eprintln!("host found : {}", name.unwrap_or_else(|| ip.to_string()));
        }
        servers.extend(addrs.into_iter().filter(|a| is_reachable(*a)));
    }
    Ok(servers)
}

/// Classic only keeps addresses it has a route to (a UDP connect succeeds).
fn is_reachable(addr: SocketAddr) -> bool {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    std::net::UdpSocket::bind(local)
        .and_then(|s| s.connect(addr))
        .is_ok()
}

/// One socket per address family in use; port 123 unless -q, -d or -u (as classic), so a
/// running ntpd makes a setting run fail with classic's message.
fn open_sockets(servers: &[SocketAddr], privileged: bool) -> Result<Vec<UdpSocket>, Failure> {
    let port = if privileged { 123 } else { 0 };
    let mut wildcards: Vec<SocketAddr> = Vec::new();
    if servers.iter().any(SocketAddr::is_ipv4) {
        wildcards.push((Ipv4Addr::UNSPECIFIED, port).into());
    }
    if servers.iter().any(SocketAddr::is_ipv6) {
        wildcards.push((Ipv6Addr::UNSPECIFIED, port).into());
    }
    let mut sockets = Vec::new();
    for local in wildcards {
        let fail = |e: std::io::Error| {
            if e.kind() == ErrorKind::AddrInUse {
                Some("the NTP socket is in use, exiting".to_string())
            } else {
                Some(format!("bind() fails: {e}"))
            }
        };
        let domain = socket2::Domain::for_address(local);
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None).map_err(fail)?;
        if local.is_ipv6() {
            socket.set_only_v6(true).map_err(fail)?;
        }
        socket.bind(&local.into()).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        sockets.push(UdpSocket::from(socket));
    }
    Ok(sockets)
}

/// Sends and receives until every server is done.
fn drive(
    session: &mut Session,
    sockets: Vec<UdpSocket>,
    clock: &dyn Clock,
    opts: &Options,
    log: &Logger,
) -> Result<(), Failure> {
    let mut poll = Poll::new().map_err(|e| Some(format!("poll() error: {e}")))?;
    for (i, s) in sockets.iter().enumerate() {
        poll.registry()
            .register(&mut SourceFd(&s.as_raw_fd()), Token(i), Interest::READABLE)
            .map_err(|e| Some(format!("poll() error: {e}")))?;
    }
    let mut events = Events::with_capacity(8);
    let mut buf = [0u8; 1024];
    loop {
        while let Some(tx) = session.poll_transmit(clock.mono(), clock.now()) {
            let socket = sockets
                .iter()
                .find(|s| s.local_addr().is_ok_and(|l| l.is_ipv4() == tx.to.is_ipv4()));
            if let Some(Err(e)) = socket.map(|s| s.send_to(&tx.bytes, tx.to)) {
                if e.kind() != ErrorKind::WouldBlock {
                    log.error(&format!("sendto({}): {e}", tx.to.ip()));
                }
            }
        }
        report_trace(session, opts, log);
        let Some(deadline) = session.next_deadline() else {
            return Ok(());
        };
        let wait = deadline.saturating_sub(clock.mono());
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(Some(format!("poll() error: {e}")));
            }
        }
        // Every socket is read after every wake-up until it runs dry or the next request
        // is due: a flood of datagrams cannot hold back the schedule, which ends the run.
        for socket in &sockets {
            while clock.mono() < deadline {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    break;
                };
                session.handle_reply(&buf[..len], canonical(from), clock.now());
            }
        }
        report_trace(session, opts, log);
    }
}

/// v4-mapped IPv6 sources compare equal to the IPv4 server addresses they stand for.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn report_trace(session: &mut Session, opts: &Options, log: &Logger) {
    for t in session.take_trace() {
        match t {
            Trace::Transmit(a) if opts.debug > 0 => println!("transmit({})", a.ip()),
            Trace::Receive(a) if opts.debug > 0 => println!("receive({})", a.ip()),
            Trace::RateLimited(a) => {
                log.error(&format!("{} rate limit response from server.", a.ip()))
            }
            _ => {}
        }
    }
}

/// Prints the per-server lines, then steps, slews or (with -q/-d) only says which.
fn finish(
    session: &Session,
    clock: &mut dyn Clock,
    opts: &Options,
    log: &Logger,
) -> Result<(), Failure> {
    let servers = session.servers();
    let outcome = conclude(servers, opts.adjust);
    if opts.debug > 0 {
        for (i, why) in &outcome.dropped {
            println!("{}", dropped_line(&servers[*i], *why));
        }
    }
    if opts.debug > 0 || opts.query_only {
        for (server, f) in servers.iter().zip(&outcome.filtered) {
            if opts.debug > 0 {
                print!("{}", debug_dump(server, f, log.utc_offset));
            } else {
                println!("{}", query_line(server, f));
            }
        }
    }
    let Some((index, decision)) = outcome.chosen else {
        return Err(Some(
            "no server suitable for synchronization found".to_string(),
        ));
    };
    let message = adjust_message(&servers[index], &decision);
    if opts.debug == 0 && !opts.query_only {
        let applied = if decision.step {
            clock
                .step(decision.offset)
                .map_err(|e| format!("Can't set time of day: {e}"))
        } else {
            clock
                .slew(decision.offset)
                .map_err(|e| format!("Can't adjust the time of day: {e}"))
        };
        applied.map_err(Some)?;
    }
    log.notice(&message);
    Ok(())
}
