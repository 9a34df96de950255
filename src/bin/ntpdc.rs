//! ntpdc: thin shell over `ntp6::ntpdc` — arguments, the UDP socket, the prompt.

use std::io::{self, BufRead, IsTerminal};
use std::net::{SocketAddr, ToSocketAddrs};

use ntp6::net::query::{Dns, UdpTransport};
use ntp6::ntpdc::{args, Ntpdc, Out, VERSION};
use ntp6::ntpq::session::Transport;

fn resolve(host: &str, family: Option<bool>) -> io::Result<SocketAddr> {
    (host, 123)
        .to_socket_addrs()?
        .find(|a| family.is_none_or(|v4| a.is_ipv4() == v4))
        .ok_or_else(|| io::Error::other("Name or service not known"))
}

fn main() {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_else(|| "ntpdc".into());
    let opts = match args::parse(argv) {
        Ok(o) => o,
        Err(bad) => {
            eprint!("{argv0}: illegal option -- {bad}\n{}", args::USAGE);
            std::process::exit(1);
        }
    };
    if opts.version {
        println!("{VERSION}");
        return;
    }
    let family = opts.family;
    let mut connect = |host: &str| -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(UdpTransport::connect(resolve(host, family)?)?))
    };
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let mut out = Out {
        out: &mut stdout,
        err: &mut stderr,
    };
    for host in &opts.hosts {
        // Peers by name (refclocks by driver name) unless -n, as classic.
        let mut d = Ntpdc::new(host, &mut connect, &Dns);
        d.names = !opts.numeric;
        if opts.commands.is_empty() {
            interactive(&mut d, &mut out);
            return;
        }
        for c in &opts.commands {
            if d.run(c, &mut out).is_err() || d.quit {
                break;
            }
        }
        let _ = out.out.flush();
    }
}

fn interactive(d: &mut Ntpdc<'_>, out: &mut Out<'_>) {
    let tty = io::stdin().is_terminal();
    let mut lines = io::stdin().lock().lines();
    loop {
        if tty {
            let _ = write!(out.out, "ntpdc> ");
            let _ = out.out.flush();
        }
        let Some(Ok(line)) = lines.next() else { break };
        if d.run(&line, out).is_err() || d.quit {
            break;
        }
        let _ = out.out.flush();
    }
}
