//! ntpq's interpreter state and the commands' work: each command (an entry of `table`)
//! runs its queries through a [`Session`] and prints through [`display`].

use std::io::Write;
use std::time::Duration;

use super::auth;
use super::display::{self, PeerStyle, Resolver, StatusKind};
use super::session::{QueryError, Session, Transport};
use crate::wire::control::opcode;
use crate::wire::varlist::parse_varlist;

/// The version line `version` prints.
pub const VERSION: &str = crate::version::NTPQ;

/// The delay classic adds to the transmit time of signed requests (`delay`), in ms.
const DEFAULT_DELAY_MS: u64 = 20;

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
    /// The variable list (`addvars`, `readlist`, ...): `name` or `name=value` items.
    pub(super) vars: Vec<String>,
    /// `debug`'s level (it changes nothing else here, as it only traced in classic).
    debug: i32,
    /// `delay`, in ms.
    delay_ms: u64,
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
            vars: Vec::new(),
            debug: 0,
            delay_ms: DEFAULT_DELAY_MS,
            prompter: None,
            json: false,
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

    pub(super) fn print_assocs(&self, blank: bool, o: &mut Out<'_>) -> Result<(), Failure> {
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
    pub(super) fn peers(
        &mut self,
        style: PeerStyle,
        all: bool,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
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

    pub(super) fn readvar(
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

    /// The variables `list` (all when empty) of each association in `wanted`.
    pub(super) fn mreadvar(
        &mut self,
        wanted: &[u16],
        list: String,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        for id in wanted {
            self.readvar(opcode::READVAR, *id, list.clone(), o)?;
        }
        Ok(())
    }

    /// `writevar`/`writelist`: classic's answer when the server returns no data.
    pub(super) fn writevar(
        &mut self,
        assoc: u16,
        list: String,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        self.query(opcode::WRITEVAR, assoc, list.as_bytes())?;
        Ok(writeln!(o.out, "done! (no data returned)")?)
    }

    /// `debug [no|more|less]` in classic's words.
    pub(super) fn debug(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match args.first() {
            None => return Ok(writeln!(o.out, "debug level is {}", self.debug)?),
            Some(&"no") => self.debug = 0,
            Some(&"more") => self.debug += 1,
            Some(&"less") => self.debug -= 1,
            Some(_) => return Ok(writeln!(o.out, "What?")?),
        }
        Ok(writeln!(o.out, "debug level now {}", self.debug)?)
    }

    /// `delay [msec]`.
    pub(super) fn delay(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        match args.first().and_then(|a| a.parse::<u64>().ok()) {
            Some(ms) => self.delay_ms = ms,
            None => writeln!(o.out, "delay {} ms", self.delay_ms)?,
        }
        Ok(())
    }

    /// `host [-4|-6] [NAME]`: classic's messages; a new host forgets the association list.
    pub(super) fn host(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
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

    pub(super) fn hostnames(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
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

    pub(super) fn timeout(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
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

    pub(super) fn ntpversion(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
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
pub(super) fn prompter<'p>(
    p: &'p mut Option<&mut dyn auth::Prompter>,
) -> Option<&'p mut dyn auth::Prompter> {
    p.as_deref_mut().map(|p| p as &mut dyn auth::Prompter)
}

pub(super) fn io_text(e: &std::io::Error) -> String {
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
