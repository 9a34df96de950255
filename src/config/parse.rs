//! Line-by-line parsing of ntp.conf into located [`Statement`]s.
//!
//! Like classic's grammar, every directive is one line; a bad line is reported and dropped
//! and parsing goes on with the next one.

use std::path::PathBuf;

use super::diagnostic::{Diagnostic, Location};
use super::lexer::{before_comment, split_words};
use super::model::{
    AssocConfig, Discard, DriftFile, Filegen, Fudge, InterfaceRule, RestrictEntry, SetVar,
    StatsFile, SystemFlag, Target, Tinker, Tos,
};
use super::{access, assoc, misc};
use crate::time::NtpDuration;

/// One directive's meaning. `Tinker`, `Tos` and `Discard` hold only what the line set.
#[derive(Clone, Debug, PartialEq)]
pub enum Directive {
    DriftFile(DriftFile),
    Assoc(AssocConfig),
    Restrict(RestrictEntry),
    Fudge(Fudge),
    IncludeFile(PathBuf),
    Keys(PathBuf),
    TrustedKey(Vec<u32>),
    RequestKey(u32),
    ControlKey(u32),
    BroadcastClient {
        novolley: bool,
    },
    MulticastClient(Vec<Target>),
    ManycastServer(Vec<Target>),
    BroadcastDelay(NtpDuration),
    Crypto(Vec<(String, String)>),
    Statistics(Vec<StatsFile>),
    StatsDir(PathBuf),
    Filegen(Filegen),
    Enable(Vec<SystemFlag>),
    Disable(Vec<SystemFlag>),
    LogFile(PathBuf),
    LogConfig(Vec<String>),
    /// `ntpsigndsocket DIR` (carried; MS-SNTP signing is not done).
    NtpSignDSocket(PathBuf),
    PidFile(PathBuf),
    /// `tick SECONDS` (carried; the kernel's resolution is used).
    Tick(NtpDuration),
    /// `unpeer`/`unconfig ADDR`: drop the association configured for ADDR.
    Unpeer(Target),
    /// `end`: the rest of the file is not read.
    End,
    Tinker(Tinker),
    Tos(Tos),
    Discard(Discard),
    Interface(InterfaceRule),
    LeapFile(PathBuf),
    SetVar(SetVar),
    /// Accepted for compatibility (revoke, automax, trap, ttl, phone, ...); nothing to store.
    ParseOnly,
}

/// A parsed line: where it was, its keyword, and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub location: Location,
    pub keyword: &'static str,
    pub directive: Directive,
}

/// The words after a directive's keyword, consumed left to right.
pub(super) struct Args<'a> {
    pub keyword: &'static str,
    pub location: &'a Location,
    words: &'a [&'a str],
    pos: usize,
    /// Non-fatal remarks about the line (it is kept).
    pub warnings: Vec<String>,
}

impl<'a> Args<'a> {
    pub fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos).copied();
        self.pos += usize::from(w.is_some());
        w
    }

    pub fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }

    /// Consumes a word that must be there; `what` names it in the error.
    pub fn word(&mut self, what: &str) -> Result<&'a str, String> {
        self.next()
            .ok_or_else(|| format!("{} needs {what}", self.keyword))
    }

    /// Consumes `-4` / `-6` if present.
    pub fn family_flag(&mut self) -> Option<super::model::Family> {
        let family = match self.peek()? {
            "-4" => super::model::Family::V4,
            "-6" => super::model::Family::V6,
            _ => return None,
        };
        self.pos += 1;
        Some(family)
    }

    /// An integer option value, named `what` in errors ("minpoll needs a number").
    pub fn int(&mut self, what: &str) -> Result<i64, String> {
        let w = self
            .next()
            .ok_or_else(|| format!("{what} needs a number"))?;
        parse_int(w).ok_or_else(|| format!("{what} needs a number, not '{w}'"))
    }

    /// An integer that must fit `T` (a key id, a stratum...).
    pub fn int_in<T: TryFrom<i64>>(&mut self, what: &str) -> Result<T, String> {
        let n = self.int(what)?;
        T::try_from(n).map_err(|_| format!("{what} {n} is out of range"))
    }

    /// A finite decimal number.
    pub fn float(&mut self, what: &str) -> Result<f64, String> {
        let w = self
            .next()
            .ok_or_else(|| format!("{what} needs a number"))?;
        parse_float(w).ok_or_else(|| format!("{what} needs a number, not '{w}'"))
    }

    pub fn seconds(&mut self, what: &str) -> Result<NtpDuration, String> {
        self.float(what).map(NtpDuration::from_secs_f64)
    }

    /// `0` or `1`.
    pub fn bool01(&mut self, what: &str) -> Result<bool, String> {
        match self.next() {
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(w) => Err(format!("{what} needs 0 or 1, not '{w}'")),
            None => Err(format!("{what} needs 0 or 1")),
        }
    }

    /// Every word not consumed yet.
    pub fn rest(&mut self) -> &'a [&'a str] {
        let rest = self.words.get(self.pos..).unwrap_or(&[]);
        self.pos = self.words.len();
        rest
    }

    /// Fails if words are left over.
    pub fn finish(&self) -> Result<(), String> {
        match self.peek() {
            Some(w) => Err(format!("unexpected '{w}' in {} line", self.keyword)),
            None => Ok(()),
        }
    }
}

/// Decimal or `0x` hex integer, as classic's scanner accepts.
pub(super) fn parse_int(w: &str) -> Option<i64> {
    let (neg, digits) = match w.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, w.strip_prefix('+').unwrap_or(w)),
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        None => return None,
    };
    Some(if neg { -n } else { n })
}

/// A finite decimal number; Rust's "inf"/"NaN" spellings are not numbers in ntp.conf.
pub(super) fn parse_float(w: &str) -> Option<f64> {
    let plain = w
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    let v: f64 = if plain { w.parse().ok()? } else { return None };
    v.is_finite().then_some(v)
}

type Parser = fn(&mut Args<'_>) -> Result<Directive, String>;

/// Every directive keyword 4.2.6p5 accepts (plus `nic`, its alias), with its parser.
const DIRECTIVES: &[(&str, Parser)] = &[
    ("server", assoc::server),
    ("peer", assoc::peer),
    ("pool", assoc::pool),
    ("broadcast", assoc::broadcast),
    ("manycastclient", assoc::manycastclient),
    ("fudge", assoc::fudge),
    ("restrict", access::restrict),
    ("discard", access::discard),
    ("interface", access::interface),
    ("nic", access::interface),
    ("driftfile", misc::driftfile),
    ("includefile", misc::includefile),
    ("keys", misc::keys),
    ("trustedkey", misc::trustedkey),
    ("requestkey", misc::requestkey),
    ("controlkey", misc::controlkey),
    ("broadcastclient", misc::broadcastclient),
    ("multicastclient", misc::multicastclient),
    ("manycastserver", misc::manycastserver),
    ("broadcastdelay", misc::broadcastdelay),
    ("crypto", misc::crypto),
    ("statistics", misc::statistics),
    ("statsdir", misc::statsdir),
    ("filegen", misc::filegen),
    ("enable", misc::enable),
    ("disable", misc::disable),
    ("logfile", misc::logfile),
    ("logconfig", misc::logconfig),
    ("tinker", misc::tinker),
    ("tos", misc::tos),
    ("leapfile", misc::leapfile),
    ("setvar", misc::setvar),
    ("revoke", misc::one_number),
    ("automax", misc::one_number),
    ("ttl", misc::numbers),
    ("trap", misc::trap),
    ("phone", misc::anything),
    ("keysdir", misc::anything),
    ("pidfile", misc::pidfile),
    ("ntpsigndsocket", misc::ntpsigndsocket),
    ("tick", misc::tick),
    ("end", end),
    ("saveconfigdir", misc::anything),
    ("calldelay", misc::one_number),
    ("qos", misc::anything),
    ("unpeer", misc::unpeer),
    ("unconfig", misc::unpeer),
];

/// Parses the bytes of an ntp.conf; `file` names it in locations. Never fails: bad lines
/// become diagnostics and are left out of the statements. A comment may hold any bytes; a
/// byte that is not UTF-8 before the comment makes its line an error.
pub fn parse_bytes(input: &[u8], file: &str) -> (Vec<Statement>, Vec<Diagnostic>) {
    let mut statements = Vec::new();
    let mut diags = Vec::new();
    let mut lines = crate::lines::numbered(input);
    let mut ended = None;
    for (number, line) in lines.by_ref() {
        let location = Location::new(file, u32::try_from(number).unwrap_or(u32::MAX));
        let parsed =
            crate::lines::utf8(before_comment(line)).and_then(|code| parse_line(code, &location));
        match parsed {
            Ok(None) => {}
            Ok(Some((statement, warnings))) => {
                let warned = warnings.into_iter();
                diags.extend(warned.map(|w| Diagnostic::warning(location.clone(), w)));
                let is_end = statement.directive == Directive::End;
                ended = is_end.then(|| statement.location.clone());
                statements.push(statement);
                if is_end {
                    break;
                }
            }
            Err(message) => diags.push(Diagnostic::error(location, message)),
        }
    }
    let mut unread = lines.filter(|(_, line)| !before_comment(line).trim_ascii().is_empty());
    if let Some(at) = ended.filter(|_| unread.next().is_some()) {
        diags.push(Diagnostic::warning(
            at,
            "'end': the lines after this one are not read",
        ));
    }
    (statements, diags)
}

/// `end`: classic stops reading the file there (4.2.6p5 itself crashes on lines after it).
fn end(_: &mut Args<'_>) -> Result<Directive, String> {
    Ok(Directive::End)
}

fn parse_line(line: &str, location: &Location) -> Result<Option<(Statement, Vec<String>)>, String> {
    let words = split_words(line)?;
    let Some((&first, rest)) = words.split_first() else {
        return Ok(None);
    };
    let (keyword, parser) = DIRECTIVES
        .iter()
        .find(|(k, _)| *k == first)
        .ok_or_else(|| format!("unknown directive '{first}'"))?;
    let mut args = Args {
        keyword,
        location,
        words: rest,
        pos: 0,
        warnings: Vec::new(),
    };
    let directive = parser(&mut args)?;
    args.finish()?;
    let statement = Statement {
        location: location.clone(),
        keyword,
        directive,
    };
    Ok(Some((statement, args.warnings)))
}

/// Parses one line, for the directive parsers' unit tests: its directive, or its first error.
#[cfg(test)]
pub(super) fn parse_one(line: &str) -> Result<Directive, String> {
    let (mut stmts, diags) = parse_bytes(line.as_bytes(), "ntp.conf");
    match diags.iter().find(|d| d.is_error()) {
        Some(d) => Err(d.to_string()),
        None => Ok(stmts.remove(0).directive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_int("10"), Some(10));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_float("0.5"), Some(0.5));
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("NaN"), None);
        assert_eq!(parse_float("1e999"), None);
    }

    #[test]
    fn unknown_directive_names_the_word_and_line() {
        let (stmts, diags) = parse_bytes(b"driftfile /x\nfoobar 1 2 3\n", "ntp.conf");
        assert_eq!(stmts.len(), 1);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].to_string(),
            "ntp.conf:2: unknown directive 'foobar'"
        );
    }

    #[test]
    fn end_stops_reading_the_file() {
        let (stmts, diags) = parse_bytes(b"server 10.0.0.1\nend\n# c\nbogus line\n", "f");
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[1].directive, Directive::End);
        let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["f:2: 'end': the lines after this one are not read"]);
        let (stmts, diags) = parse_bytes(b"end\n\n# only comments\n", "f");
        assert_eq!((stmts.len(), diags.len()), (1, 0));
    }

    #[test]
    fn trailing_words_are_an_error() {
        let (_, diags) = parse_bytes(b"requestkey 1 2", "ntp.conf");
        assert_eq!(
            diags[0].to_string(),
            "ntp.conf:1: unexpected '2' in requestkey line"
        );
    }
}
