//! `reasons` (ours): why each association is, or is not, the system peer, in the words
//! of the server's `reason` peer variable. Servers that do not report reasons (classic,
//! NTPsec) answer "unknown variable", which is said once.

use super::commands::{Failure, Ntpq, Out};
use super::display;
use super::json::{Json, Object};
use super::session::QueryError;
use crate::wire::control::{cerr, opcode};
use crate::wire::varlist::parse_varlist;
use std::net::IpAddr;

/// The table header.
const HEADER: &str = "     remote      assid  reason\n";

/// One association's line: tally, remote, ID, reason.
struct Line {
    id: u16,
    tally: char,
    remote: String,
    address: Option<IpAddr>,
    reason: String,
}

impl Ntpq<'_> {
    /// Every association's reason.
    fn reason_lines(&mut self) -> Result<Vec<Line>, Failure> {
        self.read_assocs()?;
        let mut lines = Vec::new();
        for (id, st) in self.assocs.clone() {
            let r = match self.query(opcode::READVAR, id, b"srcadr,reason") {
                Err(Failure::Query(QueryError::Server(cerr::UNKNOWNVAR), _)) => {
                    return Err(Failure::Refused(
                        "The server does not report reasons (not an ntpd-rs6 ntpd)".into(),
                    ))
                }
                other => other?,
            };
            let vars = parse_varlist(&r.data);
            let get = |name: &str| {
                vars.iter()
                    .find(|v| v.name == name)
                    .map(|v| v.value.clone())
            };
            let address = get("srcadr").and_then(|a| a.parse::<IpAddr>().ok());
            let reason = get("reason").unwrap_or_default();
            lines.push(Line {
                id,
                tally: char::from(display::TALLY[usize::from((st >> 8) & 7)]),
                remote: address.map_or(String::new(), |a| {
                    display::host_text(a, self.resolver, self.names)
                }),
                address,
                reason: reason.trim_matches('"').to_string(),
            });
        }
        Ok(lines)
    }

    /// `reasons`: one line per association.
    pub(super) fn reasons(&mut self, o: &mut Out<'_>) -> Result<(), Failure> {
        let lines = self.reason_lines()?;
        if lines.is_empty() {
            return Ok(writeln!(o.out, "No association ID's returned")?);
        }
        let mut text = format!("{HEADER}{}\n", "=".repeat(78));
        for l in lines {
            text += &format!("{}{:<15.15} {:>5}  {}\n", l.tally, l.remote, l.id, l.reason);
        }
        Ok(write!(o.out, "{text}")?)
    }

    /// `reasons` under `--json`: the `sources` array.
    pub(super) fn reasons_json(&mut self) -> Result<Vec<Json>, Failure> {
        let lines = self.reason_lines()?;
        Ok(lines
            .into_iter()
            .map(|l| {
                Object::new()
                    .with("assoc_id", l.id)
                    .with("tally", l.tally.to_string())
                    .with("remote", l.remote)
                    .with("address", l.address.map(|a| a.to_string()))
                    .with("reason", l.reason)
                    .into()
            })
            .collect())
    }
}
