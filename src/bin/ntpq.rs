//! ntpq: thin shell over `ntp6::ntpq` (`cli` parses the command line and runs the loops):
//! the UDP socket, reverse DNS, the terminal and the system clock.

use std::io::{self, BufRead};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ntp6::net::query::{resolve, UdpTransport};
use ntp6::ntpq::auth::Prompter;
use ntp6::ntpq::cli;
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

fn main() {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_else(|| "ntpq".into());
    let opts = match cli::parse_args(&argv0, args.collect()) {
        Ok(o) => o,
        Err(exit) => {
            print!("{}", exit.stdout);
            eprint!("{}", exit.stderr);
            std::process::exit(exit.code);
        }
    };
    let resolver: &dyn Resolver = if opts.numeric { &Numeric } else { &Dns };
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let width = cli::hosts_width(&opts.hosts, opts.family, resolve, resolver);
    for host in &opts.hosts {
        let mut udp = match resolve(host, opts.family).and_then(UdpTransport::connect) {
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
        cli::run_commands(&mut q, &opts.commands, &mut out);
    }
}

fn interactive(q: &mut Ntpq<'_>, out: &mut Out<'_>) {
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(0) } == 1;
    cli::interactive(q, io::stdin().lock(), tty, out);
}
