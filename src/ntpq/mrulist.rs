//! `mrulist` (ntpq 4.2.8): the server's most-recently-used client list, fetched in pieces.
//! A nonce (opcode 12) proves we receive at our address; each READ_MRU request then
//! names the newest entries we hold (`addr.N`/`last.N`) so the server continues after
//! them, until a response carries `now=`. Entries updated meanwhile come again and
//! replace the older copy. The table is printed newest first unless `sort=` says
//! otherwise.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::display::{self, parse_ts, Resolver};
use super::stats::parse_addr_port;
use crate::wire::varlist::Var;

/// Fragments asked for per response: what our reassembly accepts.
pub const MAX_FRAGS: usize = crate::wire::control::MAX_RESPONSE / crate::wire::control::MAX_DATA;
/// Request text room (one datagram of data).
const REQUEST_ROOM: usize = crate::wire::control::MAX_DATA;
/// Restrict bits mrulist flags: `K` (kod) and `L` (limited).
const RES_KOD: u16 = 0x0400;
const RES_LIMITED: u16 = 0x0020;

/// One client as the server reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MruRow {
    pub addr: SocketAddr,
    pub last: u64,
    pub first: u64,
    pub count: u32,
    pub mode: u8,
    pub version: u8,
    pub restrict: u16,
}

/// Display order (`sort=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Newest first (the default, `lstint`) or oldest first (`-lstint`).
    LastSeen(bool),
    AvgInt(bool),
    Addr(bool),
    Count(bool),
}

/// What the `mrulist` arguments ask for: parameters passed to the server, the order,
/// and complaints about unknown ones.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub parms: String,
    pub sort: Sort,
    pub ignored: Vec<String>,
}

/// Parses `mincount=`, `resall=`, `resany=`, `laddr=`, `maxlstint=` (passed on),
/// `limited`/`kod` (shorthand for `resany=`) and `sort=[-]lstint|avgint|addr|count`.
pub fn options(args: &[&str]) -> Options {
    let mut o = Options {
        parms: String::new(),
        sort: Sort::LastSeen(false),
        ignored: Vec::new(),
    };
    for a in args {
        let passed = ["mincount=", "resall=", "resany=", "laddr=", "maxlstint="];
        if passed.iter().any(|p| a.starts_with(p)) {
            o.parms += &format!(", {a}");
        } else if let Some(key) = a.strip_prefix("sort=") {
            let (rev, key) = key.strip_prefix('-').map_or((false, key), |k| (true, k));
            match key {
                "lstint" => o.sort = Sort::LastSeen(rev),
                "avgint" => o.sort = Sort::AvgInt(rev),
                "addr" => o.sort = Sort::Addr(rev),
                "count" => o.sort = Sort::Count(rev),
                _ => {}
            }
        } else if *a == "limited" || *a == "kod" {
            let bits = if *a == "kod" { RES_KOD } else { RES_LIMITED };
            o.parms += &format!(", resany={bits:#x}");
        } else {
            o.ignored.push(a.to_string());
        }
    }
    o
}

/// The client's copy of the list, oldest first, and what the last response said.
#[derive(Debug, Default)]
pub struct Collector {
    pub rows: Vec<MruRow>,
    /// Entries received again after an update.
    pub updates: usize,
    /// The server's time at the end of the transfer (`now=`), once complete.
    pub now: Option<u64>,
    pub nonce: String,
}

#[derive(Default)]
struct Partial {
    addr: Option<SocketAddr>,
    last: Option<u64>,
    first: Option<u64>,
    count: Option<u32>,
    mv: Option<u8>,
    restrict: Option<u16>,
}

impl Partial {
    fn complete(&self) -> Option<MruRow> {
        let mv = self.mv?;
        Some(MruRow {
            addr: self.addr?,
            last: self.last?,
            first: self.first?,
            count: self.count?,
            mode: mv & 7,
            version: (mv >> 3) & 7,
            restrict: self.restrict?,
        })
    }
}

impl Collector {
    /// The next READ_MRU request: nonce, fragment limit, parameters, then as many of our
    /// newest entries as fit (newest first).
    pub fn request(&self, frags: usize, parms: &str) -> String {
        let mut req = format!("nonce={}, frags={frags}{parms}", self.nonce);
        for (i, r) in self.rows.iter().rev().enumerate() {
            let item = format!(
                ", addr.{i}={}, last.{i}=0x{:08x}.{:08x}",
                r.addr,
                r.last >> 32,
                r.last & 0xffff_ffff
            );
            if req.len() + item.len() >= REQUEST_ROOM {
                break;
            }
            req += &item;
        }
        req
    }

    /// How many of our newest entries [`Collector::request`] named.
    pub fn priors(&self, request: &str) -> usize {
        request.matches(", addr.").count()
    }

    /// Forgets the newest `n` entries (the server no longer has them unchanged).
    pub fn toss_newest(&mut self, n: usize) {
        let keep = self.rows.len().saturating_sub(n);
        self.rows.truncate(keep);
    }

    fn add(&mut self, row: MruRow) {
        if let Some(i) = self.rows.iter().position(|r| r.addr == row.addr) {
            self.rows.remove(i);
            self.updates += 1;
        }
        self.rows.push(row);
    }

    /// The server's time at the end of the transfer (else the newest entry's).
    pub fn server_now(&self) -> u64 {
        self.now.or(self.rows.last().map(|r| r.last)).unwrap_or(0)
    }

    /// Takes one response; true when the list is complete.
    pub fn take(&mut self, vars: &[Var]) -> bool {
        let mut partial = Partial::default();
        let mut index = 0usize;
        for v in vars {
            let val = v.value.as_str();
            match v.name.as_str() {
                "nonce" => self.nonce = val.to_string(),
                "now" => self.now = parse_ts(val),
                "last.older" | "addr.older" | "last.newest" => {}
                name => {
                    let Some((tag, n)) = name.split_once('.') else {
                        continue;
                    };
                    if n.parse::<usize>().ok() != Some(index) {
                        continue;
                    }
                    match tag {
                        "addr" => partial.addr = parse_addr_port(val),
                        "last" => partial.last = parse_ts(val),
                        "first" => partial.first = parse_ts(val),
                        "ct" => partial.count = val.parse().ok().filter(|c| *c >= 1),
                        "mv" => partial.mv = val.parse().ok(),
                        "rs" => {
                            partial.restrict = val
                                .strip_prefix("0x")
                                .and_then(|h| u16::from_str_radix(h, 16).ok())
                        }
                        _ => continue,
                    }
                    if let Some(row) = partial.complete() {
                        self.add(row);
                        partial = Partial::default();
                        index += 1;
                    }
                }
            }
        }
        self.now.is_some()
    }
}

fn seconds(d: u64) -> f64 {
    d as f64 / 4_294_967_296.0
}

/// Mean seconds between `r`'s packets.
pub fn avgint(r: &MruRow) -> f64 {
    seconds(r.last.wrapping_sub(r.first)) / f64::from(r.count.max(1))
}

/// The rows in the order `sort` asks for.
pub fn sorted(rows: &[MruRow], sort: Sort) -> Vec<&MruRow> {
    let mut sorted: Vec<&MruRow> = rows.iter().collect();
    match sort {
        Sort::LastSeen(false) => sorted.reverse(),
        Sort::LastSeen(true) => {}
        Sort::AvgInt(rev) => {
            sorted.sort_by(|a, b| avgint(a).total_cmp(&avgint(b)).then(b.last.cmp(&a.last)));
            if rev {
                sorted.reverse();
            }
        }
        Sort::Addr(rev) => {
            sorted.sort_by_key(|r| (r.addr.is_ipv6(), r.addr.ip()));
            if rev {
                sorted.reverse();
            }
        }
        Sort::Count(rev) => {
            sorted.sort_by_key(|r| r.count);
            if rev {
                sorted.reverse();
            }
        }
    }
    sorted
}

/// Seconds from `r`'s last packet to `now`, rounded.
pub fn lstint(r: &MruRow, now: u64) -> i64 {
    (seconds(now.wrapping_sub(r.last)) + 0.5) as i64
}

/// `r`'s restrict flag as the table shows it: `K` (kod), `L` (limited) or `.`.
pub fn restrict_flag(r: &MruRow) -> char {
    if r.restrict & RES_KOD != 0 {
        'K'
    } else if r.restrict & RES_LIMITED != 0 {
        'L'
    } else {
        '.'
    }
}

/// The table, header first, rows in the requested order. `now` is the server's `now=`.
pub fn table(rows: &[MruRow], now: u64, sort: Sort, res: &dyn Resolver, names: bool) -> String {
    let mut out = format!(
        "lstint avgint rstr r m v  count rport remote address\n{}\n",
        "=".repeat(78)
    );
    for r in sorted(rows, sort) {
        let (lstint, flag) = (lstint(r, now), restrict_flag(r));
        let _ = writeln!(
            out,
            "{lstint:6} {:6} {:4x} {flag} {} {} {:6} {:5} {}",
            (avgint(r) + 0.5) as i64,
            r.restrict,
            r.mode,
            r.version,
            r.count,
            r.addr.port(),
            display::host_text(r.addr.ip(), res, names)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntpq::display::Numeric;
    use crate::wire::varlist::parse_varlist;

    const RESPONSE: &[u8] = b"nonce=eeab84330000000012345678, addr.0=127.0.0.1:40000,\r\n\
        last.0=0xeeab8430.00000000, first.0=0xeeab8420.00000000, ct.0=3, mv.0=35,\r\n\
        rs.0=0x420, addr.1=192.0.2.7:123, last.1=0xeeab8432.00000000,\r\n\
        first.1=0xeeab8432.00000000, ct.1=1, mv.1=36, rs.1=0x0,\r\n\
        now=0xeeab8433.80000000, last.newest=0xeeab8432.00000000\r\n";

    #[test]
    fn collects_and_prints_newest_first() {
        let mut c = Collector::default();
        assert!(c.take(&parse_varlist(RESPONSE)));
        assert_eq!(c.nonce, "eeab84330000000012345678");
        assert_eq!(c.rows.len(), 2);
        let text = table(
            &c.rows,
            c.now.unwrap(),
            Sort::LastSeen(false),
            &Numeric,
            false,
        );
        assert_eq!(
            text,
            format!(
                "lstint avgint rstr r m v  count rport remote address\n{}\n{}\n{}\n",
                "=".repeat(78),
                "     2      0    0 . 4 4      1   123 192.0.2.7",
                "     4      5  420 K 3 4      3 40000 127.0.0.1",
            )
        );
    }

    #[test]
    fn follow_up_requests_name_the_newest_entries() {
        let mut c = Collector::default();
        c.take(&parse_varlist(RESPONSE));
        let req = c.request(24, ", mincount=2");
        assert_eq!(
            req,
            "nonce=eeab84330000000012345678, frags=24, mincount=2, addr.0=192.0.2.7:123, \
             last.0=0xeeab8432.00000000, addr.1=127.0.0.1:40000, last.1=0xeeab8430.00000000"
        );
        assert_eq!(c.priors(&req), 2);
        c.toss_newest(1);
        assert_eq!(c.rows[0].addr.port(), 40000);
    }

    #[test]
    fn options_pass_filters_and_pick_the_order() {
        let o = options(&["mincount=2", "kod", "sort=-count", "bogus"]);
        assert_eq!(o.parms, ", mincount=2, resany=0x400");
        assert_eq!(o.sort, Sort::Count(true));
        assert_eq!(o.ignored, vec!["bogus".to_string()]);
    }
}
