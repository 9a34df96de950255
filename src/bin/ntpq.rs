//! ntpq: thin shell over `ntp6::ntpq` — argument parsing, the UDP socket, reverse DNS,
//! the system clock, and the interactive prompt.

use std::io::{self, BufRead};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntp6::net::query::UdpTransport;
use ntp6::ntpq::auth::Prompter;
use ntp6::ntpq::commands::{Ntpq, Out};
use ntp6::ntpq::display::{Numeric, Resolver};
use ntp6::time::NtpTimestamp;
use ntp6::wire::printable::printable;
use std::os::fd::AsRawFd;

/// Reverse DNS through the system resolver, given up after a short wait.
struct Dns;

impl Resolver for Dns {
    fn name_of(&self, addr: IpAddr) -> Option<String> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(reverse(addr));
        });
        rx.recv_timeout(Duration::from_secs(2)).ok().flatten()
    }
}

fn reverse(addr: IpAddr) -> Option<String> {
    let sa: socket2::SockAddr = SocketAddr::new(addr, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: sa is a valid sockaddr of sa.len() octets; host is a writable buffer.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates host on success.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    // A name from DNS is shown like server text: no control character gets through.
    Some(printable(name.to_bytes()))
}

/// Classic's `getkeyid`/`getpass`: the prompt goes to stderr, the answer comes from the
/// controlling terminal (echo off for passwords). Unlike classic we read the terminal
/// only when stdin is one, so a scripted `ntpq -c writevar ... </dev/null` fails at once
/// ("Invalid key identifier", as classic does at end of input) instead of waiting there.
struct Tty;

impl Prompter for Tty {
    fn ask(&mut self, prompt: &str, secret: bool) -> Option<String> {
        eprint!("{prompt}");
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(0) } != 1 {
            return None;
        }
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let fd = tty.as_raw_fd();
        // SAFETY: tcgetattr fills a termios for a valid descriptor; zeroed is a valid
        // initial value for the plain-data struct.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        let echo_off = secret && unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
        if echo_off {
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            // SAFETY: valid descriptor and termios.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        }
        let mut line = String::new();
        let read = io::BufReader::new(&tty).read_line(&mut line);
        if echo_off {
            // SAFETY: restores the settings read above.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
            eprintln!();
        }
        read.ok()?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

fn now_ntp() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()).to_bits()
}

struct Options {
    /// Some(true) for -4, Some(false) for -6.
    family: Option<bool>,
    numeric: bool,
    /// `--json`: one JSON document per read command.
    json: bool,
    commands: Vec<String>,
    hosts: Vec<String>,
}

fn usage(argv0: &str, bad: &str) -> ! {
    eprintln!("{argv0}: illegal option -- {bad}");
    eprintln!("ntpq - standard NTP query program - Ver. 4.2.6p5");
    eprintln!("USAGE:  ntpq [ -<flag> [<val>] | --<name>[{{=| }}<val>] ]... [ host ...]");
    std::process::exit(1);
}

fn parse_args(argv0: &str, args: Vec<String>) -> Options {
    let mut o = Options {
        family: None,
        numeric: false,
        json: false,
        commands: Vec::new(),
        hosts: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--version" {
            print!(
                "{}",
                ntp6::version::version_output("ntpq", ntp6::version::NTPQ)
            );
            std::process::exit(0);
        }
        if a == "--json" {
            o.json = true;
            continue;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            o.hosts.push(a);
            continue;
        };
        for (i, f) in flags.char_indices() {
            match f {
                '4' => o.family = Some(true),
                '6' => o.family = Some(false),
                'n' => o.numeric = true,
                'd' | 'i' => {}
                'p' => o.commands.push("peers".into()),
                'c' => {
                    let rest = &flags[i + 1..];
                    let cmd = if rest.is_empty() {
                        it.next()
                    } else {
                        Some(rest.to_string())
                    };
                    o.commands.push(cmd.unwrap_or_else(|| usage(argv0, "c")));
                    break;
                }
                other => usage(argv0, &other.to_string()),
            }
        }
    }
    if o.hosts.is_empty() {
        o.hosts.push("localhost".into());
    }
    o
}

fn resolve(host: &str, family: Option<bool>) -> io::Result<SocketAddr> {
    (host, 123)
        .to_socket_addrs()?
        .find(|a| family.is_none_or(|v4| a.is_ipv4() == v4))
        .ok_or_else(|| io::Error::other("Name or service not known"))
}

/// With several hosts, classic widens the peer table by a column as wide as the longest
/// host (by name, or number with -n).
fn hosts_width(hosts: &[String], family: Option<bool>, resolver: &dyn Resolver) -> Option<usize> {
    if hosts.len() < 2 {
        return None;
    }
    let width = hosts
        .iter()
        .filter_map(|h| resolve(h, family).ok())
        .map(|a| {
            resolver
                .name_of(a.ip())
                .unwrap_or_else(|| a.ip().to_string())
                .len()
        })
        .max()
        .unwrap_or(0);
    Some(width)
}

fn connect(host: &str, family: Option<bool>) -> io::Result<UdpTransport> {
    UdpTransport::connect(resolve(host, family)?)
}

fn main() {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_else(|| "ntpq".into());
    let opts = parse_args(&argv0, args.collect());
    let resolver: &dyn Resolver = if opts.numeric { &Numeric } else { &Dns };
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let width = hosts_width(&opts.hosts, opts.family, resolver);
    for host in &opts.hosts {
        let mut udp = match connect(host, opts.family) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("{}", e.to_string().split(" (os error").next().unwrap_or(""));
                continue;
            }
        };
        let mut q = Ntpq::new(&mut udp, resolver, host, &now_ntp);
        q.names = !opts.numeric;
        q.json = opts.json;
        q.argv0 = argv0.clone();
        q.hosts_width = width;
        q.read_file = |path| std::fs::read_to_string(path);
        q.resolve = resolve;
        let mut tty = Tty;
        q.prompter = Some(&mut tty);
        let mut out = Out {
            out: &mut stdout,
            err: &mut stderr,
        };
        if opts.commands.is_empty() {
            interactive(&mut q, &mut out);
            return;
        }
        for c in &opts.commands {
            if q.run(c, &mut out).is_err() || q.quit {
                break;
            }
        }
        let _ = out.out.flush();
    }
}

fn interactive(q: &mut Ntpq<'_>, out: &mut Out<'_>) {
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(0) } == 1;
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if tty {
            let _ = write!(out.out, "ntpq> ");
            let _ = out.out.flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        if q.run(&line, out).is_err() || q.quit {
            break;
        }
        let _ = out.out.flush();
    }
}
