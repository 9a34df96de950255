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
            "readvar" | "rv" | "readlist" | "rl" | "pstatus" => {
                let (assoc, list) = self.assoc_and_list(args)?;
                let op = if name == "pstatus" {
                    opcode::READSTAT
                } else {
                    opcode::READVAR
                };
                self.readvar(op, assoc, list, o)
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

    /// `mreadvar FIRST LAST [list]`: the listed associations in that range, and the list.
    pub(super) fn mread_targets(&self, args: &[&str]) -> Result<(Vec<u16>, String), Failure> {
        let ids: Vec<u16> = args.iter().take(2).filter_map(|a| parse_assoc(a)).collect();
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

/// `[assocID] [name[=value][,...]]`: a leading number is the association.
fn assoc_and_list(args: &[&str]) -> (u16, String) {
    match args.split_first() {
        Some((first, rest)) if parse_assoc(first).is_some() => {
            (parse_assoc(first).unwrap_or(0), rest.join(" "))
        }
        _ => (0, args.join(" ")),
    }
}

impl Ntpq<'_> {
    /// [`assoc_and_list`], also taking 4.2.8's `&N`: the Nth association of the last
    /// association list (fetched first if there is none).
    pub(super) fn assoc_and_list(&mut self, args: &[&str]) -> Result<(u16, String), Failure> {
        let Some(index) = args.first().and_then(|a| a.strip_prefix('&')) else {
            return Ok(assoc_and_list(args));
        };
        let n: usize = index
            .parse()
            .map_err(|_| Failure::Refused(format!("Invalid association index &{index}")))?;
        if self.assocs.is_empty() {
            self.read_assocs()?;
        }
        let id = n
            .checked_sub(1)
            .and_then(|i| self.assocs.get(i))
            .map(|a| a.0)
            .ok_or_else(|| {
                let count = self.assocs.len();
                Failure::Refused(format!(
                    "Association index &{n} out of range: {count} associations"
                ))
            })?;
        Ok((id, args[1..].join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assoc_and_list_split() {
        assert_eq!(
            assoc_and_list(&["0", "stratum,offset"]),
            (0, "stratum,offset".into())
        );
        assert_eq!(assoc_and_list(&["3495"]), (3495, String::new()));
        assert_eq!(assoc_and_list(&[]), (0, String::new()));
    }
}
