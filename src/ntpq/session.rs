//! One ntpq request/response exchange, sans-IO: the [`Transport`] moves datagrams; this
//! code numbers requests, retransmits once after a silent timeout (classic: 5 s, twice),
//! and reassembles the fragments.

use std::io;
use std::time::Duration;

use crate::auth::{mac, Key};
use crate::wire::control::{
    encode, ControlHeader, ControlPacket, Progress, Reassembler, ReassemblyError, HEADER_LEN,
    MAX_DATA,
};

/// Datagram I/O to one server.
pub trait Transport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` for one datagram; `Ok(None)` on timeout.
    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>>;
}

/// Why a query produced no data.
#[derive(Debug)]
pub enum QueryError {
    /// Not a single fragment answered the request and its retransmission.
    Timeout,
    /// The server's error code.
    Server(u8),
    Incomplete,
    TooMuch,
    Io(io::Error),
    /// A request that must be signed was not sent: no key ID or password (classic's
    /// message).
    NotSent(&'static str),
}

/// A reassembled response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub assoc_id: u16,
    pub data: Vec<u8>,
}

/// Per-server request state.
#[derive(Clone, Debug)]
pub struct Session {
    sequence: u16,
    /// NTP version in requests (classic ntpq sends 2).
    pub version: u8,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// `keyid`, `passwd`, `keytype`, `authenticate`.
    pub auth: super::auth::RequestAuth,
}

impl Default for Session {
    fn default() -> Session {
        Session {
            sequence: 0,
            version: 2,
            timeout: Duration::from_secs(5),
            auth: super::auth::RequestAuth::default(),
        }
    }
}

/// Datagrams one attempt reads at most before giving up on it (bounds a flood of
/// unrelated packets).
const MAX_DATAGRAMS_PER_ATTEMPT: usize = 64;

impl Session {
    /// Sends a request and waits for the whole response, retransmitting once.
    pub fn query(
        &mut self,
        t: &mut dyn Transport,
        op: u8,
        assoc: u16,
        data: &[u8],
    ) -> Result<Response, QueryError> {
        self.query_signed(t, op, assoc, data, None)
    }

    /// [`Session::query`], the request signed with `key` if given.
    pub fn query_signed(
        &mut self,
        t: &mut dyn Transport,
        op: u8,
        assoc: u16,
        data: &[u8],
        key: Option<&Key>,
    ) -> Result<Response, QueryError> {
        self.sequence = self.sequence.wrapping_add(1);
        let header = ControlHeader {
            version: self.version,
            opcode: op,
            sequence: self.sequence,
            assoc_id: assoc,
            ..ControlHeader::default()
        };
        let mut buf = [0u8; HEADER_LEN + MAX_DATA];
        let n = encode(&header, &data[..data.len().min(MAX_DATA)], &mut buf)
            .map_err(|_| QueryError::TooMuch)?;
        let request = match key {
            Some(k) => mac::sign_control(k, &buf[..n]),
            None => buf[..n].to_vec(),
        };
        let mut r = Reassembler::new(op, self.sequence);
        let mut received = false;
        for _attempt in 0..2 {
            t.send(&request).map_err(QueryError::Io)?;
            for _ in 0..MAX_DATAGRAMS_PER_ATTEMPT {
                let Some(d) = t.recv(self.timeout).map_err(QueryError::Io)? else {
                    break;
                };
                let Ok(pkt) = ControlPacket::decode(&d) else {
                    continue;
                };
                match r.accept(&pkt) {
                    Ok(Progress::Complete) => {
                        let (status, assoc_id) = r.status();
                        return Ok(Response {
                            status,
                            assoc_id,
                            data: r.into_data(),
                        });
                    }
                    Ok(Progress::Incomplete) => received = true,
                    Ok(_) => {}
                    Err(ReassemblyError::Server(code)) => return Err(QueryError::Server(code)),
                    Err(ReassemblyError::TooMuch) => return Err(QueryError::TooMuch),
                    Err(ReassemblyError::Inconsistent) => return Err(QueryError::Incomplete),
                }
            }
        }
        if received {
            Err(QueryError::Incomplete)
        } else {
            Err(QueryError::Timeout)
        }
    }
}
