//! ntpdc, read-only: classic 4.2.6p5's mode 7 query program for the commands monitoring
//! tools run (`sysinfo`, `peers`, `kerninfo`, `loopinfo`, `iostats`, `sysstats`, ...), in
//! classic's layouts ([`show`]). It speaks mode 7 ([`exchange`]) to any classic-compatible
//! server; ours answers this host only unless `enable mode7`. There are no write
//! commands, and `monlist` points to `ntpq -c mrulist`.

pub mod args;
pub mod exchange;
pub mod show;

use crate::ntpq::display::Resolver;
use crate::ntpq::session::Transport;
use crate::wire::mode7::{
    code, IoStats, KernelInfo, LoopInfo, MemStats, PeerInfo, PeerListItem, PeerSummary, SysInfo,
    SysStats, TimerStats, IMPL_XNTPD, IMPL_XNTPD_OLD,
};
use exchange::{query, Answer, Failure};
use show::Names;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

/// `ntpdc --version` and the `version` command (classic's first words, then ours).
pub const VERSION: &str = concat!(
    "ntpdc 4.2.6p5@1.2349-o ntpd-rs6 ",
    env!("CARGO_PKG_VERSION"),
    " (1)"
);

/// Classic ntpdc waits 5 s for an answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the text goes.
pub struct Out<'o> {
    pub out: &'o mut dyn Write,
    pub err: &'o mut dyn Write,
}

type Handler = fn(&mut Ntpdc<'_>, &[&str], &mut Out<'_>) -> io::Result<()>;
/// Prints one item of a read request.
type Printer = fn(&[u8], &Names) -> Option<String>;

/// What a command does.
enum Action {
    /// Ask for a request answered by one item and print it.
    Read(u8, Printer),
    Run(Handler),
}

use Action::{Read, Run};

/// The one command table: help, dispatch and usage come from it.
#[rustfmt::skip]
const COMMANDS: &[(&str, &str, Action)] = &[
    ("dmpeers", "display peer summary information", Run(|d, _, o| d.peers(o, true))),
    ("exit", "exit ntpdc", Run(|d, _, _| d.quit())),
    ("help", "tell the use and syntax of commands", Run(|_, a, o| help(a, o))),
    ("host", "specify the host whose NTP server we talk to", Run(|d, a, o| d.host(a, o))),
    ("hostnames", "specify whether hostnames or net numbers are printed", Run(|d, a, o| d.hostnames(a, o))),
    ("iostats", "display I/O subsystem statistics", Read(code::IO_STATS, |b, _| Some(show::iostats(&IoStats::decode(b)?)))),
    ("kerninfo", "display the kernel pll/pps variables", Read(code::GET_KERNEL, |b, _| Some(show::kerninfo(&KernelInfo::decode(b)?)))),
    ("listpeers", "display list of peers the server knows about", Run(|d, a, o| d.listpeers(a, o))),
    ("loopinfo", "display loop filter information", Read(code::LOOP_INFO, |b, _| Some(show::loopinfo(&LoopInfo::decode(b)?)))),
    ("memstats", "display peer memory usage statistics", Read(code::MEM_STATS, |b, _| Some(show::memstats(&MemStats::decode(b)?)))),
    ("monlist", "display data the server's monitor routines have collected", Run(|_, _, o| writeln!(o.err, "{MONLIST}"))),
    ("peers", "display peer summary information", Run(|d, _, o| d.peers(o, false))),
    ("quit", "exit ntpdc", Run(|d, _, _| d.quit())),
    ("showpeer", "display detailed information for one or more peers", Run(|d, a, o| d.showpeer(a, o))),
    ("sysinfo", "display system summary", Read(code::SYS_INFO, |b, n| Some(show::sysinfo(&SysInfo::decode(b)?, n)))),
    ("sysstats", "display system uptime and packet counts", Read(code::SYS_STATS, |b, _| Some(show::sysstats(&SysStats::decode(b)?)))),
    ("timeout", "set the primary receive time out", Run(|d, a, o| d.timeout(a, o))),
    ("timerstats", "display timer/event statistics", Read(code::TIMER_STATS, |b, _| Some(show::timerstats(&TimerStats::decode(b)?)))),
    ("version", "print version number", Run(|_, _, o| writeln!(o.out, "{VERSION}"))),
];

/// What `monlist` says instead of asking.
const MONLIST: &str =
    "***monlist is not served (the monlist amplifier, CVE-2013-5211); use ntpq -c mrulist";

/// Classic's `help` listing: the names in columns, column by column, each as wide as the
/// longest name plus one.
fn help(args: &[&str], o: &mut Out<'_>) -> io::Result<()> {
    if let Some(name) = args.first() {
        return match COMMANDS.iter().find(|(n, ..)| n == name) {
            Some((n, text, _)) => writeln!(o.out, "function: {text}\nusage: {n}"),
            None => writeln!(o.err, "***Command `{name}' unknown"),
        };
    }
    let width = COMMANDS.iter().map(|(n, ..)| n.len()).max().unwrap_or(0) + 1;
    let cols = (80 / width).max(1);
    let rows = COMMANDS.len().div_ceil(cols);
    writeln!(o.out, "ntpdc commands:")?;
    for row in 0..rows {
        let line: String = (row..COMMANDS.len())
            .step_by(rows)
            .map(|i| format!("{:<width$}", COMMANDS[i].0))
            .collect();
        writeln!(o.out, "{line}")?;
    }
    Ok(())
}

/// Connects to a host by name; the shell provides it (sockets and DNS live there).
pub type Connect<'a> = &'a mut dyn FnMut(&str) -> io::Result<Box<dyn Transport>>;

/// One ntpdc session: the server talked to and the settings.
pub struct Ntpdc<'a> {
    transport: Option<Box<dyn Transport>>,
    connect: Connect<'a>,
    pub host: String,
    pub resolver: &'a dyn Resolver,
    /// Names instead of numbers (off with -n or `hostnames no`).
    pub names: bool,
    pub timeout: Duration,
    /// IMPL_XNTPD, falling back to IMPL_XNTPD_OLD for servers that say so.
    implementation: u8,
    pub quit: bool,
}

impl<'a> Ntpdc<'a> {
    pub fn new(host: &str, connect: Connect<'a>, resolver: &'a dyn Resolver) -> Ntpdc<'a> {
        Ntpdc {
            transport: None,
            connect,
            host: host.to_string(),
            resolver,
            names: true,
            timeout: DEFAULT_TIMEOUT,
            implementation: IMPL_XNTPD,
            quit: false,
        }
    }

    /// Runs one command line.
    pub fn run(&mut self, line: &str, o: &mut Out<'_>) -> io::Result<()> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, args)) = words.split_first() else {
            return Ok(());
        };
        // Classic accepts any unambiguous prefix.
        let exact = COMMANDS.iter().find(|(n, ..)| *n == name);
        let matches: Vec<_> = COMMANDS
            .iter()
            .filter(|(n, ..)| n.starts_with(name))
            .collect();
        match (exact, matches.as_slice()) {
            (Some((.., action)), _) | (None, [(.., action)]) => match action {
                Read(request, print) => self.one(o, *request, *print),
                Run(handler) => handler(self, args, o),
            },
            (None, []) => writeln!(o.err, "***Command `{name}' unknown"),
            (None, _) => writeln!(o.err, "***Command `{name}' ambiguous"),
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            resolver: self.resolver,
            names: self.names,
        }
    }

    /// Asks the server, falling back to the old implementation number once as classic
    /// does; prints classic's message on failure.
    fn ask(
        &mut self,
        o: &mut Out<'_>,
        request: u8,
        item_size: u16,
        items: &[Vec<u8>],
    ) -> io::Result<Option<Answer>> {
        if self.transport.is_none() {
            match (self.connect)(&self.host) {
                Ok(t) => self.transport = Some(t),
                Err(e) => {
                    write!(o.err, "{}", Failure::Io(e).message(&self.host))?;
                    return Ok(None);
                }
            }
        }
        let Some(t) = self.transport.as_mut() else {
            return Ok(None);
        };
        let timeout = self.timeout;
        let mut ask = |implementation| {
            query(
                t.as_mut(),
                implementation,
                request,
                item_size,
                items,
                timeout,
            )
        };
        let mut result = ask(self.implementation);
        if matches!(result, Err(Failure::Server(1))) && self.implementation == IMPL_XNTPD {
            self.implementation = IMPL_XNTPD_OLD;
            result = ask(self.implementation);
        }
        match result {
            Ok(a) => Ok(Some(a)),
            Err(f) => {
                write!(o.err, "{}", f.message(&self.host))?;
                Ok(None)
            }
        }
    }

    /// A request answered by one item, printed by `print`.
    fn one(&mut self, o: &mut Out<'_>, request: u8, print: Printer) -> io::Result<()> {
        let Some(a) = self.ask(o, request, 0, &[])? else {
            return Ok(());
        };
        match a.items.first().and_then(|b| print(b, &self.names())) {
            Some(text) => write!(o.out, "{text}"),
            None => writeln!(o.err, "***Server returned an unexpected item"),
        }
    }

    fn peers(&mut self, o: &mut Out<'_>, dm: bool) -> io::Result<()> {
        let Some(a) = self.ask(o, code::PEER_LIST_SUM, 0, &[])? else {
            return Ok(());
        };
        write!(o.out, "{}", show::PEERS_HEADER)?;
        let names = self.names();
        for p in a.items.iter().filter_map(|b| PeerSummary::decode(b)) {
            write!(o.out, "{}", show::peer_row(&p, &names, dm))?;
        }
        Ok(())
    }

    fn listpeers(&mut self, _: &[&str], o: &mut Out<'_>) -> io::Result<()> {
        let Some(a) = self.ask(o, code::PEER_LIST, 0, &[])? else {
            return Ok(());
        };
        let names = self.names();
        for p in a.items.iter().filter_map(|b| PeerListItem::decode(b)) {
            write!(o.out, "{}", show::listpeers_row(&p, &names))?;
        }
        Ok(())
    }

    fn showpeer(&mut self, args: &[&str], o: &mut Out<'_>) -> io::Result<()> {
        if args.is_empty() {
            return writeln!(o.err, "***Command `showpeer' requires an address");
        }
        let mut items = Vec::new();
        for a in args {
            let Ok(addr) = a.parse::<IpAddr>() else {
                return writeln!(o.err, "***Can't find host {a}");
            };
            let item = PeerListItem {
                addr,
                port: 123,
                hmode: 0,
                flags: 0,
            };
            items.push(item.encode(self.implementation == IMPL_XNTPD));
        }
        let size = items.first().map_or(0, Vec::len) as u16;
        let Some(a) = self.ask(o, code::PEER_INFO, size, &items)? else {
            return Ok(());
        };
        for (i, p) in a
            .items
            .iter()
            .filter_map(|b| PeerInfo::decode(b))
            .enumerate()
        {
            if i > 0 {
                writeln!(o.out)?;
            }
            write!(o.out, "{}", show::showpeer(&p))?;
        }
        Ok(())
    }

    fn quit(&mut self) -> io::Result<()> {
        self.quit = true;
        Ok(())
    }

    fn host(&mut self, args: &[&str], o: &mut Out<'_>) -> io::Result<()> {
        match args.first() {
            None => writeln!(o.out, "current host is {}", self.host),
            Some(h) => {
                self.host = h.to_string();
                self.transport = None;
                self.implementation = IMPL_XNTPD;
                writeln!(o.out, "current host set to {h}")
            }
        }
    }

    fn hostnames(&mut self, args: &[&str], o: &mut Out<'_>) -> io::Result<()> {
        match args.first().copied() {
            Some("yes") => self.names = true,
            Some("no") => self.names = false,
            Some(_) => return writeln!(o.err, "What?"),
            None => {}
        }
        let state = if self.names {
            "hostnames being shown"
        } else {
            "hostnames not being shown"
        };
        writeln!(o.out, "{state}")
    }

    fn timeout(&mut self, args: &[&str], o: &mut Out<'_>) -> io::Result<()> {
        match args.first().map(|a| a.parse::<u64>()) {
            None => writeln!(o.out, "primary timeout {} ms", self.timeout.as_millis()),
            Some(Ok(ms)) => {
                self.timeout = Duration::from_millis(ms);
                Ok(())
            }
            Some(Err(_)) => writeln!(o.err, "***Illegal integer value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntpq::display::Numeric;

    fn output(lines: &[&str]) -> (String, String) {
        let mut connect = |_: &str| -> io::Result<Box<dyn Transport>> {
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        };
        let mut d = Ntpdc::new("localhost", &mut connect, &Numeric);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for l in lines {
            d.run(
                l,
                &mut Out {
                    out: &mut out,
                    err: &mut err,
                },
            )
            .unwrap();
        }
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn help_lists_every_command_in_classic_columns() {
        let (out, _) = output(&["help"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ntpdc commands:");
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("dmpeers    host       kerninfo   "));
        for (name, ..) in COMMANDS {
            assert!(out.contains(name), "{name}");
        }
    }

    #[test]
    fn monlist_points_to_mrulist_and_writes_are_unknown() {
        let (out, err) = output(&["monlist", "addpeer 192.0.2.1", "sys"]);
        assert_eq!(out, "");
        assert!(err.contains("use ntpq -c mrulist"), "{err}");
        assert!(err.contains("***Command `addpeer' unknown"));
        // `sys` is ambiguous (sysinfo, sysstats); a refused connection is reported.
        assert!(err.contains("***Command `sys' ambiguous"));
        let (_, err) = output(&["sysinfo"]);
        assert_eq!(err, "ntpdc: read: connection refused\n");
    }
}
