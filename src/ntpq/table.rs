//! ntpq's one command table: each command's name, usage, `help` text and handler, and
//! the code that turns a command line into a handler call. `help` lists the table, a
//! name resolves by classic's unique-prefix rule, and a command given too few arguments
//! prints its usage, all from the same entries.

use super::auth;
use super::commands::{io_text, prompter, Failure, Ntpq, Out};
use super::display::{self, PeerStyle};
use super::json_docs;
use super::session::QueryError;
use crate::wire::control::opcode;

/// What a handler gets of its command line.
pub(super) struct Call<'l> {
    /// The command's full name (a unique prefix was typed).
    pub name: &'static str,
    pub args: &'l [&'l str],
    /// The line after the command word, as typed (`:config` sends it verbatim).
    pub rest: &'l str,
}

type Handler = fn(&mut Ntpq<'_>, &Call<'_>, &mut Out<'_>) -> Result<(), Failure>;

/// One command.
pub(super) struct Command {
    pub name: &'static str,
    /// The arguments as `help` and the usage message show them.
    pub usage: &'static str,
    /// Arguments it cannot do without (classic prints the usage instead).
    pub required: usize,
    pub help: &'static str,
    /// In classic 4.2.6p5's `help` list; the commands 4.2.8 added (and `reasons`) run but
    /// stay out of it, so the list is classic's (help-ntpq.txt, local.txt).
    pub classic: bool,
    pub run: Handler,
}

const fn classic(
    name: &'static str,
    usage: &'static str,
    required: usize,
    help: &'static str,
    run: Handler,
) -> Command {
    Command {
        name,
        usage,
        required,
        help,
        classic: true,
        run,
    }
}

/// A 4.2.8 addition (never shadows a classic abbreviation, see [`find_command`]).
const fn added(
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    run: Handler,
) -> Command {
    Command {
        name,
        usage,
        required: 0,
        help,
        classic: false,
        run,
    }
}

/// The variables of the 4.2.8 summary commands, run by `monitor`.
fn monitor(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    q.monitor(c.name, c.args, o)
}

fn auth(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    let mut io = auth::Io {
        out: &mut *o.out,
        err: &mut *o.err,
        prompter: prompter(&mut q.prompter),
    };
    Ok(auth::command(&mut q.session.auth, c.name, c.args, &mut io)?)
}

/// Reads variables by `op` of the association on the command line: those named there, or
/// for the `*list` forms those of the variable list (all when empty).
fn read(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>, op: u8) -> Result<(), Failure> {
    let (assoc, named) = q.assoc_and_list(c.args)?;
    let list = q.list_for(c.name, named);
    q.readvar(op, assoc, list, o)
}

fn rv(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    read(q, c, o, opcode::READVAR)
}

fn cv(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    read(q, c, o, opcode::READCLOCK)
}

/// `mreadvar`/`mreadlist`: [`read`] for a range of associations.
fn mread(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    let (wanted, named) = q.mread_targets(c.args)?;
    let list = q.list_for(c.name, named);
    q.mreadvar(&wanted, list, o)
}

fn quit(q: &mut Ntpq<'_>, _: &Call<'_>, _: &mut Out<'_>) -> Result<(), Failure> {
    q.quit = true;
    Ok(())
}

fn output(q: &mut Ntpq<'_>, c: &Call<'_>, o: &mut Out<'_>) -> Result<(), Failure> {
    q.raw = c.name == "raw";
    Ok(writeln!(o.out, "Output set to {}", c.name)?)
}

/// Every command, in `help`'s (alphabetical) order.
pub(super) const COMMANDS: &[Command] = &[
    classic(
        ":config",
        "<configuration command line>",
        1,
        "send a remote configuration command to ntpd",
        |q, c, o| q.config(c.rest, o),
    ),
    classic(
        "addvars",
        "name[=value][,...]",
        1,
        "add variables to the variable list or change their values",
        |q, c, _| {
            q.add_vars(c.args);
            Ok(())
        },
    ),
    classic(
        "associations",
        "",
        0,
        "print list of association ID's and statuses for the server's peers",
        |q, _, o| {
            q.read_assocs()?;
            q.print_assocs(true, o)
        },
    ),
    classic(
        "authenticate",
        "[ yes|no ]",
        0,
        "always authenticate requests to this server",
        auth,
    ),
    added(
        "authinfo",
        "",
        "display symmetric authentication counters",
        monitor,
    ),
    classic(
        "cl",
        "[ assocID ]",
        0,
        "read the clock variables included in the variable list",
        cv,
    ),
    classic(
        "clearvars",
        "",
        0,
        "remove all variables from the variable list",
        |q, _, _| {
            q.clear_vars();
            Ok(())
        },
    ),
    classic(
        "clocklist",
        "[ assocID ]",
        0,
        "read the clock variables included in the variable list",
        cv,
    ),
    classic(
        "clockvar",
        "[ assocID ] [ name=value[,...] ]",
        0,
        "read clock variables",
        cv,
    ),
    classic(
        "config-from-file",
        "<configuration filename>",
        1,
        "configure ntpd using the configuration filename",
        |q, c, o| q.config_from_file(c.args.first().copied(), o),
    ),
    classic("cooked", "", 0, "do cooked mode variable output", output),
    classic(
        "cv",
        "[ assocID ] [ name=value[,...] ]",
        0,
        "read clock variables",
        cv,
    ),
    classic(
        "debug",
        "[ no|more|less ]",
        0,
        "set/change debugging level",
        |q, c, o| q.debug(c.args, o),
    ),
    classic(
        "delay",
        "[ msec ]",
        0,
        "set the delay added to encryption time stamps",
        |q, c, o| q.delay(c.args, o),
    ),
    classic("exit", "", 0, "exit ntpq", quit),
    classic(
        "help",
        "[ command ]",
        0,
        "tell the use and syntax of commands",
        |_, c, o| help(c.args, o),
    ),
    classic(
        "host",
        "[ -4|-6 ] [ hostname ]",
        0,
        "specify the host whose NTP server we talk to",
        |q, c, o| q.host(c.args, o),
    ),
    classic(
        "hostnames",
        "[ yes|no ]",
        0,
        "specify whether hostnames or net numbers are printed",
        |q, c, o| q.hostnames(c.args, o),
    ),
    added(
        "ifstats",
        "",
        "show statistics for each local address (interface)",
        monitor,
    ),
    added("iostats", "", "display network input and output counters", monitor),
    added("kerninfo", "", "display kernel loop and PPS statistics", monitor),
    classic(
        "keyid",
        "[ key# ]",
        0,
        "set keyid to use for authenticated requests",
        auth,
    ),
    classic(
        "keytype",
        "[ key type (md5|des) ]",
        0,
        "set key type to use for authenticated requests (des|md5)",
        auth,
    ),
    classic(
        "lassociations",
        "",
        0,
        "print list of associations including all client information",
        |q, _, o| {
            q.read_assocs()?;
            q.print_assocs(false, o)
        },
    ),
    classic(
        "lopeers",
        "[ -4|-6 ]",
        0,
        "obtain and print a list of all peers and clients showing dstadr [IP version]",
        |q, _, o| q.peers(PeerStyle::Local, true, o),
    ),
    classic(
        "lpassociations",
        "",
        0,
        "print last obtained list of associations, including client information",
        |q, _, o| q.print_assocs(false, o),
    ),
    classic(
        "lpeers",
        "[ -4|-6 ]",
        0,
        "obtain and print a list of all peers and clients [IP version]",
        |q, _, o| q.peers(PeerStyle::Refid, true, o),
    ),
    added(
        "monstats",
        "",
        "display monitor (mrulist) counters and limits",
        monitor,
    ),
    classic(
        "mreadlist",
        "assocID assocID",
        2,
        "read the peer variables in the variable list for multiple peers",
        mread,
    ),
    classic(
        "mreadvar",
        "assocID assocID [ name=value[,...] ]",
        2,
        "read peer variables from multiple peers",
        mread,
    ),
    classic(
        "mrl",
        "assocID assocID",
        2,
        "read the peer variables in the variable list for multiple peers",
        mread,
    ),
    added(
        "mrulist",
        "[ tag=value ] [ tag=value ] [ tag=value ] [ tag=value ]",
        "display the list of most recently seen source addresses, tags mincount=... resall=0x... resany=0x...",
        monitor,
    ),
    classic(
        "mrv",
        "assocID assocID [ name=value[,...] ]",
        2,
        "read peer variables from multiple peers",
        mread,
    ),
    classic(
        "ntpversion",
        "[ version number ]",
        0,
        "set the NTP version number to use for requests",
        |q, c, o| q.ntpversion(c.args, o),
    ),
    classic(
        "opeers",
        "[ -4|-6 ]",
        0,
        "print peer list the old way, with dstadr shown rather than refid [IP version]",
        |q, _, o| q.peers(PeerStyle::Local, false, o),
    ),
    classic(
        "passociations",
        "",
        0,
        "print list of associations returned by last associations command",
        |q, _, o| q.print_assocs(false, o),
    ),
    classic(
        "passwd",
        "",
        0,
        "specify a password to use for authenticated requests",
        auth,
    ),
    classic(
        "peers",
        "[ -4|-6 ]",
        0,
        "obtain and print a list of the server's peers [IP version]",
        |q, _, o| q.peers(PeerStyle::Refid, false, o),
    ),
    classic(
        "poll",
        "[ n ] [ verbose ]",
        0,
        "poll an NTP server in client mode `n' times",
        // Classic's own answer: the command was never written.
        |_, _, o| Ok(writeln!(o.out, "poll not implemented yet")?),
    ),
    classic(
        "pstatus",
        "assocID",
        1,
        "print status information returned for a peer",
        |q, c, o| {
            let assoc = q.pstatus_assoc(c.args)?;
            q.readvar(opcode::READSTAT, assoc, String::new(), o)
        },
    ),
    classic("quit", "", 0, "exit ntpq", quit),
    classic("raw", "", 0, "do raw mode variable output", output),
    classic(
        "readlist",
        "[ assocID ]",
        0,
        "read the system or peer variables included in the variable list",
        rv,
    ),
    classic(
        "readvar",
        "[ assocID ] [ name=value[,...] ]",
        0,
        "read system or peer variables",
        rv,
    ),
    added(
        "reasons",
        "",
        "show why each association is or is not the system peer",
        |q, _, o| q.reasons(o),
    ),
    classic(
        "rl",
        "[ assocID ]",
        0,
        "read the system or peer variables included in the variable list",
        rv,
    ),
    classic(
        "rmvars",
        "name[,...]",
        1,
        "remove variables from the variable list",
        |q, c, o| q.remove_vars(c.args, o),
    ),
    classic(
        "rv",
        "[ assocID ] [ name=value[,...] ]",
        0,
        "read system or peer variables",
        rv,
    ),
    classic(
        "saveconfig",
        "filename",
        1,
        "save ntpd configuration to file, . for current config file",
        |q, c, o| q.saveconfig(c.args.first().copied(), o),
    ),
    classic(
        "showvars",
        "",
        0,
        "print variables on the variable list",
        |q, _, o| q.show_vars(o),
    ),
    added("sysinfo", "", "display system summary", monitor),
    added("sysstats", "", "display system uptime and packet counts", monitor),
    classic(
        "timeout",
        "[ msec ]",
        0,
        "set the primary receive time out",
        |q, c, o| q.timeout(c.args, o),
    ),
    added("timerstats", "", "display interval timer counters", monitor),
    classic(
        "version",
        "",
        0,
        "print version number",
        |_, _, o| Ok(writeln!(o.out, "{}", crate::version::NTPQ)?),
    ),
    classic(
        "writelist",
        "[ assocID ]",
        0,
        "write the system or peer variables included in the variable list",
        |q, c, o| {
            let (assoc, _) = q.assoc_and_list(c.args)?;
            let list = q.var_list();
            q.writevar(assoc, list, o)
        },
    ),
    classic(
        "writevar",
        "assocID name=value,[...]",
        2,
        "write system or peer variables",
        |q, c, o| {
            let (assoc, list) = q.assoc_and_list(c.args)?;
            q.writevar(assoc, list, o)
        },
    ),
];

/// A command among `classic`'s (or the added ones) by exact name or unique prefix.
fn find_in(classic: bool, word: &str) -> Result<&'static Command, &'static str> {
    let table = || COMMANDS.iter().filter(move |c| c.classic == classic);
    if let Some(c) = table().find(|c| c.name == word) {
        return Ok(c);
    }
    let mut matches = table().filter(|c| c.name.starts_with(word));
    match (matches.next(), matches.next()) {
        (Some(c), None) => Ok(c),
        (Some(_), Some(_)) => Err("ambiguous"),
        _ => Err("unknown"),
    }
}

/// A command by exact name or unique prefix. The 4.2.8 additions are looked at only for
/// words no 4.2.6p5 command takes, so every classic abbreviation keeps its meaning.
pub(super) fn find_command(word: &str) -> Result<&'static Command, &'static str> {
    match find_in(true, word) {
        Err("unknown") => find_in(false, word),
        found => found,
    }
}

/// `usage: NAME ARGS` as `help NAME` and a short command line print it.
fn usage(c: &Command) -> String {
    let sep = if c.usage.is_empty() { "" } else { " " };
    format!("usage: {}{sep}{}", c.name, c.usage)
}

/// `help [command]`: classic's four columns of names, or one command's use.
fn help(args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
    if let Some(word) = args.first() {
        match find_command(word) {
            Ok(c) => {
                writeln!(o.out, "function: {}", c.help)?;
                writeln!(o.out, "{}", usage(c))?;
            }
            Err(kind) => writeln!(o.err, "***Command `{word}' {kind}")?,
        }
        return Ok(());
    }
    writeln!(o.out, "ntpq commands:")?;
    let listed: Vec<&Command> = COMMANDS.iter().filter(|c| c.classic).collect();
    let rows = listed.len().div_ceil(4);
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..4 {
            if let Some(cmd) = listed.get(c * rows + r) {
                line += &format!("{:<17}", cmd.name);
            }
        }
        writeln!(o.out, "{line}")?;
    }
    Ok(())
}

impl Ntpq<'_> {
    /// Runs one command line; errors are printed as classic does (exit status stays 0).
    pub fn run(&mut self, line: &str, o: &mut Out<'_>) -> std::io::Result<()> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&word, args)) = words.split_first() else {
            return Ok(());
        };
        let command = match find_command(word) {
            Ok(c) => c,
            Err(kind) => return writeln!(o.err, "***Command `{word}' {kind}"),
        };
        if args.len() < command.required {
            return writeln!(o.err, "{}", usage(command));
        }
        let call = Call {
            name: command.name,
            args,
            rest: line.trim_start()[word.len()..].trim(),
        };
        let json = self.json && json_docs::renders(call.name);
        let done = if json {
            self.json_command(call.name, args, o)
        } else {
            (command.run)(self, &call, o)
        };
        let failure = match done {
            Ok(()) => return Ok(()),
            Err(Failure::Io(e)) => return Err(e),
            Err(f) => f,
        };
        if !json {
            return self.report(failure, o);
        }
        // The complaint goes to stderr as always, and into the command's document.
        let mut said = Vec::new();
        self.report(
            failure,
            &mut Out {
                out: &mut std::io::sink(),
                err: &mut said,
            },
        )?;
        o.err.write_all(&said)?;
        let text = String::from_utf8_lossy(&said);
        let error = text
            .lines()
            .map(|l| l.trim_start_matches('*'))
            .collect::<Vec<_>>();
        writeln!(
            o.out,
            "{}",
            self.document(call.name).with("error", error.join("; "))
        )
    }

    fn report(&self, failure: Failure, o: &mut Out<'_>) -> std::io::Result<()> {
        let (e, assoc) = match failure {
            Failure::Query(e, assoc) => (e, assoc),
            Failure::Refused(why) => return writeln!(o.err, "***{why}"),
            Failure::Io(e) => return Err(e),
        };
        match e {
            QueryError::Timeout => {
                writeln!(o.err, "{}: timed out, nothing received", self.host)?;
                writeln!(o.err, "***Request timed out")
            }
            QueryError::Server(code) => writeln!(o.err, "{}", display::error_text(code, assoc)),
            QueryError::Incomplete => writeln!(o.err, "***Response from server was incomplete"),
            QueryError::TooMuch => writeln!(o.err, "***Buffer size exceeded for returned data"),
            QueryError::Io(err) => writeln!(o.err, "{}: read: {}", self.argv0, io_text(&err)),
            QueryError::NotSent(why) => writeln!(o.err, "{why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(word: &str) -> Result<&'static str, &'static str> {
        find_command(word).map(|c| c.name)
    }

    #[test]
    fn prefixes_resolve_like_classic() {
        assert_eq!(name("pe"), Ok("peers"));
        assert_eq!(name("rv"), Ok("rv"));
        assert_eq!(name("c"), Err("ambiguous"));
        // 4.2.8 additions never shadow a classic abbreviation.
        assert_eq!(name("au"), Ok("authenticate"));
        assert_eq!(name("mru"), Ok("mrulist"));
        assert_eq!(name("sysi"), Ok("sysinfo"));
        assert_eq!(name("sy"), Err("ambiguous"));
        assert_eq!(name("rea"), Err("ambiguous"));
        assert_eq!(name("reas"), Ok("reasons"));
    }

    #[test]
    fn the_table_is_sorted_and_classic_lists_47() {
        let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(COMMANDS.iter().filter(|c| c.classic).count(), 47);
    }
}
