//! ntpq: thin shell over `ntp6::ntpq` (`cli` parses the command line and runs the loops):
//! the UDP socket, reverse DNS, the terminal and the system clock.

use std::io::{self, IsTerminal};
use std::time::{SystemTime, UNIX_EPOCH};

use ntp6::net::query::{resolve, Dns, UdpTransport};
use ntp6::ntpq::auth::Prompter;
use ntp6::ntpq::cli;
use ntp6::ntpq::commands::{Ntpq, Out};
use ntp6::ntpq::display::{Numeric, Resolver};
use ntp6::time::NtpTimestamp;

/// Classic's `getkeyid`/`getpass`: the prompt goes to stderr, the answer comes from the
/// controlling terminal (echo off for passwords). Unlike classic we read the terminal
/// only when stdin is one, so a scripted `ntpq -c writevar ... </dev/null` fails at once
/// ("Invalid key identifier", as classic does at end of input) instead of waiting there.
struct Tty;

impl Prompter for Tty {
    fn ask(&mut self, prompt: &str, secret: bool) -> Option<String> {
        eprint!("{prompt}");
        ntp6::sys::terminal::read_reply(secret)
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
    let tty = io::stdin().is_terminal();
    cli::interactive(q, io::stdin().lock(), tty, out);
}
