//! The MRU list over mode 6 (`ntpq -c mrulist`, classic 4.2.8 opcode 10) and the nonce
//! handshake that keeps it from amplifying: a client must first fetch a nonce (opcode 12),
//! which proves it receives traffic at its source address, and the list comes back in at
//! most the number of fragments the client asked for (capped at 32).

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use crate::time::{NtpDuration, NtpTimestamp};
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
/// Most fragments a client may ask for in one MRU response.
pub const MAX_MRU_FRAGS: usize = 32;

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

/// Parameters of a READ_MRU request.
#[derive(Debug, Default)]
struct MruRequest<'a> {
    nonce: Option<&'a [u8]>,
    frags: usize,
    limit: usize,
    after: Option<NtpTimestamp>,
}

fn parse_ts(v: &[u8]) -> Option<NtpTimestamp> {
    let text = std::str::from_utf8(v).ok()?.strip_prefix("0x")?;
    let (s, f) = text.split_once('.')?;
    let s = u32::from_str_radix(s, 16).ok()?;
    let f = u32::from_str_radix(f, 16).ok()?;
    Some(NtpTimestamp::from_bits((u64::from(s) << 32) | u64::from(f)))
}

fn parse_request(data: &[u8]) -> MruRequest<'_> {
    let mut req = MruRequest {
        frags: 1,
        limit: usize::MAX,
        ..MruRequest::default()
    };
    let num = |v: Option<&[u8]>| {
        v.and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<usize>().ok())
    };
    for it in RequestItems::new(data) {
        match it.name {
            b"nonce" => req.nonce = it.value,
            b"frags" => req.frags = num(it.value).unwrap_or(1).clamp(1, MAX_MRU_FRAGS),
            b"limit" => req.limit = num(it.value).unwrap_or(usize::MAX).max(1),
            n if n.starts_with(b"last.") => {
                let ts = it.value.and_then(parse_ts);
                req.after = req.after.max(ts);
            }
            _ => {}
        }
    }
    req
}

/// The outcome of a READ_MRU request: text to send, or a refusal (bad or missing nonce).
pub(super) fn read_mru(
    data: &[u8],
    key: &NonceKey,
    client: SocketAddr,
    now: NtpTimestamp,
    source: &dyn MruSource,
) -> Option<VarWriter> {
    let req = parse_request(data);
    if !key.verify(req.nonce?, client.ip(), now) {
        return None;
    }
    let budget = req.frags * super::MAX_TEXT_PER_FRAG;
    let mut w = VarWriter::new();
    w.item(&format!("nonce={}", key.make(client.ip(), now)));
    let mut n = 0usize;
    let mut newest = None;
    let mut complete = true;
    source.visit(req.after, &mut |e| {
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
    Some(w)
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
