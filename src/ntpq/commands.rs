//! ntpq's command interpreter: each command (looked up in `table`) runs its queries
//! through a [`Session`] and prints through [`display`].

use std::io::Write;
use std::time::Duration;

use super::auth;
use super::display::{self, PeerStyle, Resolver, StatusKind};
use super::json_docs;
use super::monitor;
use super::session::{QueryError, Session, Transport};
use super::table::{find_command, help};
use crate::wire::control::opcode;
use crate::wire::varlist::parse_varlist;

/// The version line `version` prints.
pub const VERSION: &str = crate::version::NTPQ;

/// Interpreter state for one server.
pub struct Ntpq<'a> {
    pub session: Session,
    pub transport: &'a mut dyn Transport,
    pub resolver: &'a dyn Resolver,
    /// Host name as typed, for `HOST: timed out, nothing received`.
    pub host: String,
    pub names: bool,
    pub raw: bool,
    /// Client clock as an NTP timestamp, for the `when` column.
    pub now: &'a dyn Fn() -> u64,
    /// Associations from the last READSTAT: (ID, status).
    pub(super) assocs: Vec<(u16, u16)>,
    pub quit: bool,
    /// Program name for `ntpq: read: Connection refused`.
    pub argv0: String,
    /// Asks for a key ID or password when a signed request needs one (interactive use).
    pub prompter: Option<&'a mut dyn auth::Prompter>,
    /// With several hosts on the command line, the width of the `server (local)` column
    /// classic prepends to the peer table (the longest host name).
    pub hosts_width: Option<usize>,
    /// Reads a file for `config-from-file` (the shell passes the file system in).
    pub read_file: fn(&str) -> std::io::Result<String>,
    /// `--json`: read commands print one JSON document each (docs/ntpq-json.md).
    pub json: bool,
    /// Resolves `host`'s argument (Some(true) for -4, Some(false) for -6); the shell
    /// passes the system resolver in.
    pub resolve: fn(&str, Option<bool>) -> std::io::Result<std::net::SocketAddr>,
}

/// The default [`Ntpq::resolve`]: no resolver.
fn no_resolver(_: &str, _: Option<bool>) -> std::io::Result<std::net::SocketAddr> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The default [`Ntpq::read_file`]: no file system.
fn no_files(_: &str) -> std::io::Result<String> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Where output goes (stdout, stderr).
pub struct Out<'o> {
    pub out: &'o mut dyn Write,
    pub err: &'o mut dyn Write,
}

impl<'a> Ntpq<'a> {
    pub fn new(
        transport: &'a mut dyn Transport,
        resolver: &'a dyn Resolver,
        host: &str,
        now: &'a dyn Fn() -> u64,
    ) -> Self {
        Ntpq {
            session: Session::default(),
            transport,
            resolver,
            host: host.to_string(),
            names: true,
            raw: false,
            now,
            assocs: Vec::new(),
            quit: false,
            argv0: "ntpq".into(),
            hosts_width: None,
            read_file: no_files,
            resolve: no_resolver,
            prompter: None,
            json: false,
        }
    }

    /// Runs one command line; errors are printed as classic does (exit status stays 0).
    pub fn run(&mut self, line: &str, o: &mut Out<'_>) -> std::io::Result<()> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&word, args)) = words.split_first() else {
            return Ok(());
        };
        let name = match find_command(word) {
            Ok(n) => n,
            Err(kind) => return writeln!(o.err, "***Command `{word}' {kind}"),
        };
        let rest = line.trim_start()[word.len()..].trim();
        let json = self.json && json_docs::renders(name);
        let done = match name {
            _ if json => self.json_command(name, args, o),
            ":config" => self.config(rest, o),
            _ if monitor::is_monitor(name) => self.monitor(name, args, o),
            _ => self.dispatch(name, args, o),
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
            self.document(name).with("error", error.join("; "))
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

    /// How variables are shown now (`raw`/`cooked`, `hostnames`).
    pub(super) fn view(&self) -> display::View<'a> {
        display::View {
            raw: self.raw,
            names: self.names,
            resolver: self.resolver,
        }
    }

    pub(super) fn query(
        &mut self,
        op: u8,
        assoc: u16,
        data: &[u8],
    ) -> Result<super::session::Response, Failure> {
        let key = if self.session.auth.needed(op) {
            let (mut out, mut err) = (std::io::sink(), std::io::sink());
            let mut io = auth::Io {
                out: &mut out,
                err: &mut err,
                prompter: prompter(&mut self.prompter),
            };
            let key = auth::ready(&mut self.session.auth, &mut io);
            Some(key.map_err(|why| Failure::Query(QueryError::NotSent(why), assoc))?)
        } else {
            None
        };
        self.session
            .query_signed(self.transport, op, assoc, data, key.as_ref())
            .map_err(|e| Failure::Query(e, assoc))
    }

    fn dispatch(&mut self, name: &str, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match name {
            "peers" | "lpeers" => self.peers(PeerStyle::Refid, name == "lpeers", o),
            "opeers" | "lopeers" => self.peers(PeerStyle::Local, name == "lopeers", o),
            "config-from-file" => self.config_from_file(args.first().copied(), o),
            "saveconfig" => self.saveconfig(args.first().copied(), o),
            "associations" | "lassociations" => {
                self.read_assocs()?;
                self.print_assocs(name == "associations", o)
            }
            "passociations" | "lpassociations" => self.print_assocs(false, o),
            "readvar" | "rv" | "readlist" | "rl" => {
                let (assoc, list) = self.assoc_and_list(args)?;
                self.readvar(opcode::READVAR, assoc, list, o)
            }
            "pstatus" => {
                let assoc = self.pstatus_assoc(args)?;
                self.readvar(opcode::READSTAT, assoc, String::new(), o)
            }
            "clockvar" | "cv" | "clocklist" | "cl" => {
                let (assoc, list) = self.assoc_and_list(args)?;
                self.readvar(opcode::READCLOCK, assoc, list, o)
            }
            "mreadvar" | "mrv" | "mreadlist" | "mrl" => self.mreadvar(args, o),
            "writevar" => {
                let (assoc, list) = self.assoc_and_list(args)?;
                self.query(opcode::WRITEVAR, assoc, list.as_bytes())?;
                Ok(writeln!(o.out, "done! (no data returned)")?)
            }
            "raw" | "cooked" => {
                self.raw = name == "raw";
                Ok(writeln!(o.out, "Output set to {name}")?)
            }
            "hostnames" => self.hostnames(args, o),
            "keyid" | "keytype" | "passwd" | "authenticate" => {
                let mut io = auth::Io {
                    out: &mut *o.out,
                    err: &mut *o.err,
                    prompter: prompter(&mut self.prompter),
                };
                Ok(auth::command(&mut self.session.auth, name, args, &mut io)?)
            }
            "host" => self.host(args, o),
            "timeout" => self.timeout(args, o),
            "ntpversion" => self.ntpversion(args, o),
            "version" => Ok(writeln!(o.out, "{VERSION}")?),
            "reasons" => self.reasons(o),
            "help" => help(args, o),
            "quit" | "exit" => {
                self.quit = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub(super) fn read_assocs(&mut self) -> Result<(), Failure> {
        let r = self.query(opcode::READSTAT, 0, &[])?;
        self.assocs = r
            .data
            .chunks_exact(4)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u16::from_be_bytes([c[2], c[3]]),
                )
            })
            .collect();
        Ok(())
    }

    fn print_assocs(&self, blank: bool, o: &mut Out<'_>) -> Result<(), Failure> {
        if self.assocs.is_empty() {
            writeln!(o.out, "No association ID's in list")?;
            return Ok(());
        }
        if blank {
            writeln!(o.out)?;
        }
        write!(o.out, "{}", display::ASSOC_HEADER)?;
        for (i, (id, st)) in self.assocs.iter().enumerate() {
            write!(o.out, "{}", display::assoc_row(i + 1, *id, *st))?;
        }
        Ok(())
    }

    /// The peer table; `all` shows associations that are neither configured nor reached.
    fn peers(&mut self, style: PeerStyle, all: bool, o: &mut Out<'_>) -> Result<(), Failure> {
        self.read_assocs()?;
        if self.assocs.is_empty() {
            writeln!(o.out, "No association ID's returned")?;
            return Ok(());
        }
        let mut text = display::peers_header(style);
        if let Some(w) = self.hosts_width {
            let label = if style == PeerStyle::Refid {
                "server (local)"
            } else {
                "server"
            };
            let (head, rule) = text.split_once('\n').unwrap_or_default();
            text = format!("{label:<w$.w$} {head}\n{}{rule}", "=".repeat(w + 1));
        }
        for (id, st) in self.assocs.clone() {
            if !all && st & (display::PST_CONFIG | display::PST_REACH) == 0 {
                continue;
            }
            let r = self.query(opcode::READVAR, id, &[])?;
            let vars = parse_varlist(&r.data);
            if let Some(w) = self.hosts_width {
                text += &format!("{:<w$} ", self.server_column(&vars, style));
            }
            let now = (self.now)();
            text += &display::peer_row(st, &vars, style, now, self.resolver, self.names);
        }
        Ok(write!(o.out, "{text}")?)
    }

    /// Classic's first column with several hosts: the association's local address (by
    /// name when names are shown) in `peers`, the host as typed in `opeers`.
    fn server_column(&self, vars: &[crate::wire::varlist::Var], style: PeerStyle) -> String {
        let dst = vars.iter().find(|v| v.name == "dstadr");
        match dst.and_then(|v| v.value.parse().ok()) {
            Some(addr) if style == PeerStyle::Refid => {
                display::host_text(addr, self.resolver, self.names)
            }
            _ => self.host.clone(),
        }
    }

    fn readvar(
        &mut self,
        op: u8,
        assoc: u16,
        list: String,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        let r = self.query(op, assoc, list.as_bytes())?;
        let kind = status_kind(op, assoc);
        let vars = parse_varlist(&r.data);
        let text = display::readvar(
            r.assoc_id,
            r.status,
            kind,
            &vars,
            list.is_empty(),
            self.view(),
        );
        Ok(write!(o.out, "{text}")?)
    }

    fn mreadvar(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        let (wanted, list) = self.mread_targets(args)?;
        for id in wanted {
            self.readvar(opcode::READVAR, id, list.clone(), o)?;
        }
        Ok(())
    }

    /// `host [-4|-6] [NAME]`: classic's messages; a new host forgets the association list.
    fn host(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        let (family, name) = match args {
            [] => {
                writeln!(o.out, "current host is {}", self.host)?;
                return Ok(());
            }
            [name] => (None, *name),
            ["-4", name, ..] => (Some(true), *name),
            ["-6", name, ..] => (Some(false), *name),
            _ => {
                writeln!(o.out, "current host remains {}", self.host)?;
                return Ok(());
            }
        };
        let opened = (self.resolve)(name, family).and_then(|a| self.transport.reconnect(a));
        match opened {
            Ok(()) => {
                self.host = name.to_string();
                self.assocs.clear();
                writeln!(o.out, "current host set to {name}")?;
            }
            Err(e) => {
                // The resolver's own words, as classic prints gai_strerror's.
                let text = io_text(&e);
                let text = text.trim_start_matches("failed to lookup address information: ");
                writeln!(o.err, "{text}")?;
                writeln!(o.out, "current host remains {}", self.host)?;
            }
        }
        Ok(())
    }

    fn hostnames(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match args.first() {
            Some(&"yes") => self.names = true,
            Some(&"no") => self.names = false,
            Some(_) => writeln!(o.err, "What?")?,
            None => {
                let what = if self.names {
                    "hostnames"
                } else {
                    "network numbers"
                };
                writeln!(o.out, "{what} being shown")?;
            }
        }
        Ok(())
    }

    fn timeout(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match args.first().and_then(|a| a.parse::<u64>().ok()) {
            Some(ms) => self.session.timeout = Duration::from_millis(ms),
            None => writeln!(
                o.out,
                "primary timeout {} ms",
                self.session.timeout.as_millis()
            )?,
        }
        Ok(())
    }

    fn ntpversion(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match args.first().and_then(|a| a.parse::<u8>().ok()) {
            Some(v) if (1..=4).contains(&v) => self.session.version = v,
            Some(_) => writeln!(o.err, "versions 1 to 4 are supported")?,
            None => writeln!(
                o.out,
                "NTP version being claimed is {}",
                self.session.version
            )?,
        }
        Ok(())
    }
}

/// Why a command stopped.
pub(super) enum Failure {
    Query(QueryError, u16),
    /// A complaint about the command line itself (printed after `***`).
    Refused(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// The prompter, reborrowed for one command.
fn prompter<'p>(p: &'p mut Option<&mut dyn auth::Prompter>) -> Option<&'p mut dyn auth::Prompter> {
    p.as_deref_mut().map(|p| p as &mut dyn auth::Prompter)
}

fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// What the status word of a READVAR/READSTAT/READCLOCK answer for `assoc` describes.
pub(super) fn status_kind(op: u8, assoc: u16) -> StatusKind {
    match (op, assoc) {
        (opcode::READCLOCK, _) => StatusKind::Clock,
        (_, 0) => StatusKind::System,
        _ => StatusKind::Peer,
    }
}

fn parse_assoc(s: &str) -> Option<u16> {
    s.parse().ok()
}

impl Ntpq<'_> {
    /// An association argument: a number, or `&N`, the Nth association of the last
    /// association list, fetched first if there is none yet; past the end it means the
    /// last one. None: not an association argument at all.
    fn assoc_arg(&mut self, word: &str) -> Result<Option<u16>, Failure> {
        let Some(index) = word.strip_prefix('&') else {
            return Ok(parse_assoc(word));
        };
        let n = index
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Failure::Refused(format!("Association value `{word}' invalid/undecodable"))
            })?;
        if self.assocs.is_empty() {
            self.read_assocs()?;
        }
        let last = self.assocs.len();
        match self.assocs.get(n.min(last).wrapping_sub(1)) {
            Some(a) => Ok(Some(a.0)),
            None => Err(Failure::Refused(format!(
                "Association for `{word}' unknown (max &{last})"
            ))),
        }
    }

    /// `[assocID] [name[=value][,...]]`: a leading number (or `&N`) is the association.
    pub(super) fn assoc_and_list(&mut self, args: &[&str]) -> Result<(u16, String), Failure> {
        match args.split_first() {
            Some((first, rest)) => match self.assoc_arg(first)? {
                Some(id) => Ok((id, rest.join(" "))),
                None => Ok((0, args.join(" "))),
            },
            None => Ok((0, String::new())),
        }
    }

    /// `pstatus assocID`: classic refuses association 0 (the system) before asking.
    pub(super) fn pstatus_assoc(&mut self, args: &[&str]) -> Result<u16, Failure> {
        let id = match args.first() {
            Some(word) => self.assoc_arg(word)?,
            None => None,
        };
        match id {
            Some(id) if id != 0 => Ok(id),
            _ => Err(Failure::Refused("Invalid association ID specified".into())),
        }
    }

    /// `mreadvar FIRST LAST [list]`: the listed associations in that range, and the list.
    pub(super) fn mread_targets(&mut self, args: &[&str]) -> Result<(Vec<u16>, String), Failure> {
        let mut ids = Vec::new();
        for word in args.iter().take(2) {
            ids.extend(self.assoc_arg(word)?);
        }
        let [from, to] = ids[..] else {
            return Err(Failure::Refused("Association ID's needed".into()));
        };
        let wanted: Vec<u16> = self
            .assocs
            .iter()
            .map(|a| a.0)
            .filter(|id| (from..=to).contains(id))
            .collect();
        if wanted.is_empty() {
            return Err(Failure::Refused(format!(
                "Association ID {from} not found in list"
            )));
        }
        let list = args.get(2..).map(|a| a.join(" ")).unwrap_or_default();
        Ok((wanted, list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assoc_numbers() {
        assert_eq!(parse_assoc("3495"), Some(3495));
        assert_eq!(parse_assoc("stratum,offset"), None);
        assert_eq!(parse_assoc("70000"), None);
    }
}
