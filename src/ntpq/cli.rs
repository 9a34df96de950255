//! ntpq's command line and its loops: options as classic 4.2.6p5 takes them, the `-c`
//! commands run in order, and the interactive loop; `src/bin/ntpq.rs` adds only the
//! socket, the resolver, the terminal and the clock.

use std::io::{self, BufRead};
use std::net::SocketAddr;

use super::commands::{Ntpq, Out};
use super::display::Resolver;
use crate::cmdline::{short_options, Arg};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// Some(true) for -4, Some(false) for -6.
    pub family: Option<bool>,
    pub numeric: bool,
    /// `--json`: one JSON document per read command.
    pub json: bool,
    pub commands: Vec<String>,
    pub hosts: Vec<String>,
}

/// A command line that ends the program at once: what to print and the exit status.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn usage(argv0: &str, bad: &str) -> Exit {
    Exit {
        code: 1,
        stdout: String::new(),
        stderr: format!(
            "{argv0}: illegal option -- {bad}\n\
             ntpq - standard NTP query program - Ver. 4.2.6p5\n\
             USAGE:  ntpq [ -<flag> [<val>] | --<name>[{{=| }}<val>] ]... [ host ...]\n"
        ),
    }
}

/// Classic's options (-4 -6 -n -p -c CMD -d -i, --version) and ours (--json); no host
/// means `localhost`.
pub fn parse_args(argv0: &str, args: Vec<String>) -> Result<Options, Exit> {
    let mut o = Options {
        family: None,
        numeric: false,
        json: false,
        commands: Vec::new(),
        hosts: Vec::new(),
    };
    for arg in short_options(args, "c") {
        match arg {
            Arg::Long(word) if word == "--version" => {
                return Err(Exit {
                    code: 0,
                    stdout: crate::version::version_output("ntpq", crate::version::NTPQ),
                    stderr: String::new(),
                });
            }
            Arg::Long(word) if word == "--json" => o.json = true,
            Arg::Operand(host) => o.hosts.push(host),
            Arg::Flag('4') => o.family = Some(true),
            Arg::Flag('6') => o.family = Some(false),
            Arg::Flag('n') => o.numeric = true,
            Arg::Flag('d' | 'i') => {}
            Arg::Flag('p') => o.commands.push("peers".into()),
            Arg::Value(_, command) => o.commands.push(command),
            Arg::Flag(other) | Arg::Missing(other) => return Err(usage(argv0, &other.to_string())),
            // An unknown long word: classic's getopt stops at its second dash.
            Arg::Long(_) => return Err(usage(argv0, "-")),
        }
    }
    if o.hosts.is_empty() {
        o.hosts.push("localhost".into());
    }
    Ok(o)
}

/// With several hosts, classic widens the peer table by a column as wide as the longest
/// host (by name, or number with -n); `resolve` finds each host's address.
pub fn hosts_width(
    hosts: &[String],
    family: Option<bool>,
    resolve: fn(&str, Option<bool>) -> io::Result<SocketAddr>,
    resolver: &dyn Resolver,
) -> Option<usize> {
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

/// The `-c` commands in order, until one fails to print or says `quit`.
pub fn run_commands(q: &mut Ntpq<'_>, commands: &[String], out: &mut Out<'_>) {
    for c in commands {
        if q.run(c, out).is_err() || q.quit {
            break;
        }
    }
    let _ = out.out.flush();
}

/// The interactive loop: a command a line from `input`, with classic's `ntpq> ` prompt
/// when `prompt` (a terminal).
pub fn interactive(q: &mut Ntpq<'_>, input: impl BufRead, prompt: bool, out: &mut Out<'_>) {
    let mut lines = input.lines();
    loop {
        if prompt {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, Exit> {
        parse_args("ntpq", args.iter().map(|a| a.to_string()).collect())
    }

    #[test]
    fn options_as_classic() {
        let o = parse(&["-pn", "-c", "rv", "-crl", "host1", "host2"]).unwrap();
        assert_eq!(o.commands, ["peers", "rv", "rl"]);
        assert!(o.numeric);
        assert_eq!(o.hosts, ["host1", "host2"]);
        assert_eq!(parse(&[]).unwrap().hosts, ["localhost"]);
        assert_eq!(parse(&["-6"]).unwrap().family, Some(false));
        let bad = parse(&["-x"]).unwrap_err();
        assert_eq!(bad.code, 1);
        assert!(bad.stderr.starts_with("ntpq: illegal option -- x\n"));
        let version = parse(&["--version"]).unwrap_err();
        assert_eq!((version.code, version.stderr.as_str()), (0, ""));
        assert!(version
            .stdout
            .starts_with("ntpq 4.2.6p5\nntpq 4.2.6p5@1.2349-o "));
    }
}
