//! The MRU list over mode 6 (`ntpq -c mrulist`, classic 4.2.8 opcode 10) and the nonce
//! handshake that keeps it from amplifying: a client must first fetch a nonce (opcode 12),
//! which proves it receives traffic at its source address, and the list comes back in at
//! most the number of fragments the client asked for (capped at 32).

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::control::cerr;
use crate::wire::varlist::{RequestItems, VarWriter};

/// One monitored client, as the restrict module's MRU list keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MruEntry {
    pub addr: SocketAddr,
    pub first: NtpTimestamp,
    pub last: NtpTimestamp,
    pub count: u32,
    pub mode: u8,
    pub version: u8,
    /// Restrict flags that applied (shown as `rs` in hex).
    pub restrict: u16,
}

/// Read access to the MRU list, oldest entry first.
pub trait MruSource {
    /// Calls `visit` for each entry last seen after `after` (all if `None`), oldest first,
    /// until it returns false.
    fn visit(&self, after: Option<NtpTimestamp>, visit: &mut dyn FnMut(&MruEntry) -> bool);
}

/// How long a nonce stays valid (classic: 16 s).
const NONCE_LIFETIME_SECS: i32 = 16;
/// Most fragments one MRU response carries (a larger `frags=` is trimmed to this).
pub const MAX_MRU_FRAGS: usize = 32;
/// Largest `frags=` and `limit=` a request may carry (4.2.8's limits): beyond, BADVALUE.
const MRU_FRAGS_LIMIT: usize = 128;
const MAX_MRU_ROWS: usize = 256;

/// Issues and checks nonces: 24 hex digits = timestamp + a keyed hash of it and the client.
#[derive(Clone, Copy, Debug)]
pub struct NonceKey {
    secret: [u64; 2],
}

impl NonceKey {
    /// `secret` should be random per daemon start (the shell reads /dev/urandom).
    pub fn new(secret: [u64; 2]) -> NonceKey {
        NonceKey { secret }
    }

    fn tag(&self, client: IpAddr, ts: NtpTimestamp) -> u32 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.secret, client, ts.to_bits(), self.secret[0]).hash(&mut h);
        h.finish() as u32
    }

    pub fn make(&self, client: IpAddr, now: NtpTimestamp) -> String {
        format!(
            "{:08x}{:08x}{:08x}",
            now.seconds(),
            now.fraction(),
            self.tag(client, now)
        )
    }

    pub fn verify(&self, nonce: &[u8], client: IpAddr, now: NtpTimestamp) -> bool {
        let Ok(text) = std::str::from_utf8(nonce) else {
            return false;
        };
        if text.len() != 24 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let field = |i: usize| u32::from_str_radix(&text[i * 8..i * 8 + 8], 16).unwrap_or(0);
        let ts = NtpTimestamp::from_bits((u64::from(field(0)) << 32) | u64::from(field(1)));
        let age = now - ts;
        field(2) == self.tag(client, ts)
            && age >= NtpDuration::ZERO
            && age <= NtpDuration::from_secs(NONCE_LIFETIME_SECS)
    }
}

/// Most `addr.N`/`last.N` starting points a request may carry (classic: 16).
const MAX_PRIORS: usize = 16;
/// How far a client's copy of an entry's `last` may be from ours and still name the
/// same, unchanged entry: our times are rebuilt from the monotonic clock per request.
const SAME_ENTRY_SLACK_MS: i64 = 2;

/// Parameters of a READ_MRU request.
#[derive(Debug, Default)]
struct MruRequest<'a> {
    nonce: Option<&'a [u8]>,
    frags: usize,
    limit: usize,
    mincount: u32,
    resall: u16,
    resany: u16,
    maxlstint: Option<u32>,
    /// The newest entries the client already has, newest first: (address, last seen,
    /// last seen as sent, echoed back in `last.older`).
    priors: Vec<(SocketAddr, NtpTimestamp, &'a [u8])>,
}

fn parse_ts(v: &[u8]) -> Option<NtpTimestamp> {
    let text = std::str::from_utf8(v).ok()?.strip_prefix("0x")?;
    let (s, f) = text.split_once('.')?;
    let s = u32::from_str_radix(s, 16).ok()?;
    let f = u32::from_str_radix(f, 16).ok()?;
    Some(NtpTimestamp::from_bits((u64::from(s) << 32) | u64::from(f)))
}

fn text(v: Option<&[u8]>) -> Option<&str> {
    std::str::from_utf8(v?).ok().map(str::trim)
}

fn hex16(v: Option<&[u8]>) -> u16 {
    text(v)
        .and_then(|t| t.strip_prefix("0x"))
        .and_then(|h| u16::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// The index of an `addr.N`/`last.N` name.
fn index(name: &[u8], prefix: &[u8]) -> Option<usize> {
    let n: usize = std::str::from_utf8(name.strip_prefix(prefix)?)
        .ok()?
        .parse()
        .ok()?;
    (n < MAX_PRIORS).then_some(n)
}

fn parse_request(data: &[u8]) -> MruRequest<'_> {
    let mut req = MruRequest::default();
    let mut addrs: [Option<SocketAddr>; MAX_PRIORS] = [None; MAX_PRIORS];
    let mut lasts: [Option<(NtpTimestamp, &[u8])>; MAX_PRIORS] = [None; MAX_PRIORS];
    let num = |v: Option<&[u8]>| text(v).and_then(|t| t.parse::<usize>().ok());
    for it in RequestItems::new(data) {
        match it.name {
            b"nonce" => req.nonce = it.value,
            b"frags" => req.frags = num(it.value).unwrap_or(0),
            b"limit" => req.limit = num(it.value).unwrap_or(0),
            b"mincount" => req.mincount = num(it.value).map_or(0, |n| n as u32),
            b"resall" => req.resall = hex16(it.value),
            b"resany" => req.resany = hex16(it.value),
            b"maxlstint" => req.maxlstint = num(it.value).map(|n| n as u32),
            n => {
                if let Some(i) = index(n, b"addr.") {
                    addrs[i] = text(it.value).and_then(|t| t.parse().ok());
                } else if let Some(i) = index(n, b"last.") {
                    lasts[i] = it.value.and_then(|v| Some((parse_ts(v)?, v)));
                }
            }
        }
    }
    for (addr, last) in addrs.iter().zip(&lasts) {
        let (Some(addr), Some((ts, text))) = (addr, last) else {
            break;
        };
        req.priors.push((*addr, *ts, text));
    }
    req
}

impl MruRequest<'_> {
    /// Checks `frags=`/`limit=` as 4.2.8 does (one must be usable) and fills in the
    /// missing one; false means BADVALUE.
    fn settle_limits(&mut self) -> bool {
        if (self.frags == 0 && !(1..=MAX_MRU_ROWS).contains(&self.limit))
            || self.frags > MRU_FRAGS_LIMIT
        {
            return false;
        }
        self.frags = if self.frags == 0 {
            MAX_MRU_FRAGS
        } else {
            self.frags.min(MAX_MRU_FRAGS)
        };
        if self.limit == 0 {
            self.limit = usize::MAX;
        }
        true
    }
}

/// Why a READ_MRU request gets no list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MruRefusal {
    /// No valid nonce: nothing is sent at all, so a forged source learns nothing.
    Silent,
    /// Answered with this error code.
    Error(u8),
}

/// Where to resume: the newest prior entry the client has that is still unchanged here,
/// as (our last-seen time, the client's address and last-seen text).
fn resume_point<'a>(
    req: &MruRequest<'a>,
    source: &dyn MruSource,
) -> Option<(NtpTimestamp, SocketAddr, &'a [u8])> {
    let slack = NtpDuration::from_nanos(SAME_ENTRY_SLACK_MS * 1_000_000);
    req.priors.iter().find_map(|(addr, last, text)| {
        let mut found = None;
        source.visit(None, &mut |e| {
            let d = e.last - *last;
            if e.addr == *addr && d <= slack && -d <= slack {
                found = Some((e.last, *addr, *text));
            }
            found.is_none()
        });
        found
    })
}

fn wanted(req: &MruRequest<'_>, e: &MruEntry, now: NtpTimestamp) -> bool {
    let lstint = (now - e.last).to_secs_f64();
    e.count >= req.mincount
        && (req.resall == 0 || e.restrict & req.resall == req.resall)
        && (req.resany == 0 || e.restrict & req.resany != 0)
        && req.maxlstint.is_none_or(|m| lstint <= f64::from(m))
}

/// The answer to a READ_MRU request (4.2.8 `read_mru_list`): a fresh nonce, then
/// `last.older`/`addr.older` if the client gave starting points, then entries oldest
/// first, then `now` and `last.newest` once the list is complete.
pub(super) fn read_mru(
    data: &[u8],
    key: &NonceKey,
    client: SocketAddr,
    now: NtpTimestamp,
    source: &dyn MruSource,
) -> Result<VarWriter, MruRefusal> {
    let mut req = parse_request(data);
    if !req.nonce.is_some_and(|n| key.verify(n, client.ip(), now)) {
        return Err(MruRefusal::Silent);
    }
    if !req.settle_limits() {
        return Err(MruRefusal::Error(cerr::BADVALUE));
    }
    let mut w = VarWriter::new();
    w.item(&format!("nonce={}", key.make(client.ip(), now)));
    let mut after = None;
    if !req.priors.is_empty() {
        let (ours, addr, text) =
            resume_point(&req, source).ok_or(MruRefusal::Error(cerr::UNKNOWNVAR))?;
        w.item(&format!("last.older={}", String::from_utf8_lossy(text)));
        w.item(&format!("addr.older={addr}"));
        after = Some(ours);
    }
    let budget = req.frags * super::MAX_TEXT_PER_FRAG;
    let (mut n, mut newest, mut complete) = (0usize, None, true);
    source.visit(after, &mut |e| {
        if !wanted(&req, e, now) {
            return true;
        }
        if n >= req.limit || w.len() + 200 > budget {
            complete = false;
            return false;
        }
        put_entry(&mut w, n, e);
        newest = Some(e.last);
        n += 1;
        true
    });
    if complete {
        w.timestamp("now", now);
        if let Some(t) = newest {
            w.timestamp("last.newest", t);
        }
    }
    Ok(w)
}

fn put_entry(w: &mut VarWriter, n: usize, e: &MruEntry) {
    w.item(&format!("addr.{n}={}", e.addr));
    w.timestamp(&format!("last.{n}"), e.last);
    w.timestamp(&format!("first.{n}"), e.first);
    w.uint(&format!("ct.{n}"), u64::from(e.count));
    w.uint(
        &format!("mv.{n}"),
        u64::from(((e.version & 7) << 3) | (e.mode & 7)),
    );
    w.hex(&format!("rs.{n}"), u64::from(e.restrict));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_bound_to_client_and_expires() {
        let key = NonceKey::new([1, 2]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t = NtpTimestamp::from_bits(0xeeab_8432_0000_0000);
        let n = key.make(a, t);
        assert!(key.verify(n.as_bytes(), a, t + NtpDuration::from_secs(3)));
        assert!(!key.verify(n.as_bytes(), b, t));
        assert!(!key.verify(n.as_bytes(), a, t + NtpDuration::from_secs(17)));
        assert!(!key.verify(b"zz", a, t));
    }
}
