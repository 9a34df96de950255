//! The monitoring commands ntpq 4.2.8 added and tools now use: `mrulist`, `ifstats`
//! and the variable summaries (`sysinfo`, `sysstats`, ...), with 4.2.8's output.

use super::commands::{Failure, Ntpq, Out};
use super::mrulist::{self, Collector, MAX_FRAGS};
use super::session::QueryError;
use super::stats;
use crate::wire::control::{cerr, opcode};
use crate::wire::printable::printable;
use crate::wire::varlist::parse_varlist;

/// Requests one `mrulist` may send before giving up (a busy server's list changes under
/// us; 4.2.8 restarts at most 8 times).
const MAX_MRU_REQUESTS: usize = 1000;
const MAX_RESTARTS: usize = 8;
/// A nonce is used for this many requests, then a fresh one is fetched.
const NONCE_USES: usize = 4;

impl Ntpq<'_> {
    pub(super) fn monitor(
        &mut self,
        name: &str,
        args: &[&str],
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        match name {
            "mrulist" => self.mrulist(args, o),
            "ifstats" => {
                let r = self.query(opcode::READ_ORDLIST_A, 0, &[])?;
                let (out, err) = stats::ifstats(&parse_varlist(&r.data));
                write!(o.out, "{out}")?;
                Ok(write!(o.err, "{err}")?)
            }
            _ => {
                let Some((lines, with_status)) = stats::summary(name) else {
                    return Ok(());
                };
                let r = self.query(opcode::READVAR, 0, stats::request(lines).as_bytes())?;
                let status = with_status.then_some(r.status);
                let vars = parse_varlist(&r.data);
                let text = stats::render(lines, &vars, status, self.resolver, self.names);
                Ok(write!(o.out, "{text}")?)
            }
        }
    }

    /// Fetches a nonce (opcode 12): `nonce=...`.
    fn fetch_nonce(&mut self, o: &mut Out<'_>) -> Result<Option<String>, Failure> {
        let r = match self.query(opcode::REQ_NONCE, 0, &[]) {
            Ok(r) => r,
            Err(Failure::Query(..)) => {
                writeln!(o.err, "nonce request failed")?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&r.data);
        match text.strip_prefix("nonce=") {
            Some(n) => Ok(Some(n.trim_end_matches(['\r', '\n']).to_string())),
            None => {
                let shown = printable(&r.data);
                writeln!(o.err, "unexpected nonce response format: {shown}")?;
                Ok(None)
            }
        }
    }

    fn mrulist(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        let Some((c, sort)) = self.collect_mru(args, o)? else {
            return Ok(());
        };
        if !self.raw {
            let text = mrulist::table(&c.rows, c.server_now(), sort, self.resolver, self.names);
            write!(o.out, "{text}")?;
        }
        Ok(())
    }

    /// Fetches the whole MRU list (progress and complaints on stderr, raw responses on
    /// stdout in `raw` mode); None when it could not be had.
    pub(super) fn collect_mru(
        &mut self,
        args: &[&str],
        o: &mut Out<'_>,
    ) -> Result<Option<(Collector, mrulist::Sort)>, Failure> {
        writeln!(
            o.err,
            "Ctrl-C will stop MRU retrieval and display partial results."
        )?;
        let opts = mrulist::options(args);
        for a in &opts.ignored {
            writeln!(o.err, "ignoring unrecognized mrulist parameter: {a}")?;
        }
        let Some(nonce) = self.fetch_nonce(o)? else {
            return Ok(None);
        };
        let mut c = Collector {
            nonce,
            ..Collector::default()
        };
        let (mut frags, mut uses, mut restarts) = (MAX_FRAGS, 0, 0);
        for _ in 0..MAX_MRU_REQUESTS {
            if uses >= NONCE_USES {
                let Some(n) = self.fetch_nonce(o)? else {
                    return Ok(None);
                };
                (c.nonce, uses) = (n, 0);
            }
            let req = c.request(frags, &opts.parms);
            uses += 1;
            match self.query(opcode::READ_MRU, 0, req.as_bytes()) {
                Ok(r) => {
                    let vars = parse_varlist(&r.data);
                    if self.raw && !self.json {
                        let view = self.view();
                        let text = super::display::readvar(
                            0,
                            r.status,
                            super::display::StatusKind::System,
                            &vars,
                            false,
                            view,
                        );
                        write!(o.out, "{text}")?;
                    }
                    uses = if vars.iter().any(|v| v.name == "nonce") {
                        0
                    } else {
                        uses
                    };
                    if c.take(&vars) {
                        break;
                    }
                    frags = (frags + 1).min(MAX_FRAGS);
                }
                // None of our newest entries is unchanged there: back up and resync.
                Err(Failure::Query(QueryError::Server(cerr::UNKNOWNVAR), _))
                    if c.priors(&req) > 0 =>
                {
                    c.toss_newest(c.priors(&req));
                    if c.rows.is_empty() {
                        restarts += 1;
                        if restarts > MAX_RESTARTS {
                            writeln!(o.err, "Giving up after 8 restarts from the beginning.\nWith high-traffic NTP servers, this can occur if the\nMRU list is limited to less than about 16 seconds' of\nentries.  See the 'mru' ntp.conf directive to adjust.")?;
                            return Ok(None);
                        }
                    }
                }
                Err(Failure::Query(QueryError::Incomplete, _)) if frags > 2 => {
                    frags = (frags / 2).max(2);
                }
                Err(e) => return Err(e),
            }
        }
        writeln!(
            o.err,
            "\rRetrieved {} unique MRU entries and {} updates.",
            c.rows.len(),
            c.updates
        )?;
        Ok(Some((c, opts.sort)))
    }
}
