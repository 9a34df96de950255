//! One ntpq request/response exchange, sans-IO: the [`Transport`] moves datagrams and
//! tells the time; this code numbers requests, retransmits once when an attempt ends
//! without the whole response (classic: 5 s, twice), and reassembles the fragments.
//!
//! Each attempt ends at a deadline fixed when the request leaves. Classic restarts its
//! wait with every datagram, so a server trickling duplicate fragments holds it forever;
//! here duplicates, fragments of other requests and stray datagrams are dropped and the
//! wait goes on towards the same deadline, so a query never outlives two timeouts.

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
    /// Monotonic time since any fixed start: what the deadlines are measured on.
    fn mono(&self) -> Duration;
    /// Talks to `server` from now on (ntpq's `host`); a transport tied to one server
    /// says Unsupported.
    fn reconnect(&mut self, server: std::net::SocketAddr) -> io::Result<()> {
        let _ = server;
        Err(io::ErrorKind::Unsupported.into())
    }
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
    /// How long one attempt (the request and its retransmission each) waits for the
    /// whole response, counted from sending.
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

/// The request and one retransmission, as classic.
const ATTEMPTS: usize = 2;

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
        for _attempt in 0..ATTEMPTS {
            t.send(&request).map_err(QueryError::Io)?;
            let deadline = t.mono() + self.timeout;
            loop {
                let left = deadline.saturating_sub(t.mono());
                if left.is_zero() {
                    break;
                }
                let Some(d) = t.recv(left).map_err(QueryError::Io)? else {
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
                    Ok(Progress::Duplicate | Progress::Foreign) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::opcode;
    use std::collections::VecDeque;

    const MS: Duration = Duration::from_millis(1);

    /// A server on a simulated clock: each request queues the datagrams `answer` returns
    /// (delay after the request, datagram); `recv` moves the clock to the next one.
    struct Scripted<F> {
        clock: Duration,
        queue: VecDeque<(Duration, Vec<u8>)>,
        answer: F,
        sent: usize,
    }

    impl<F: FnMut(u16) -> Vec<(Duration, Vec<u8>)>> Transport for Scripted<F> {
        fn send(&mut self, d: &[u8]) -> io::Result<()> {
            self.sent += 1;
            let sequence = ControlPacket::decode(d).unwrap().header.sequence;
            let now = self.clock;
            let mut all: Vec<_> = self.queue.drain(..).collect();
            all.extend(
                (self.answer)(sequence)
                    .into_iter()
                    .map(|(d, p)| (now + d, p)),
            );
            all.sort_by_key(|(at, _)| *at);
            self.queue = all.into();
            Ok(())
        }

        fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
            match self.queue.front() {
                Some((at, _)) if *at <= self.clock + timeout => {
                    self.clock = self.clock.max(*at);
                    Ok(self.queue.pop_front().map(|(_, d)| d))
                }
                _ => {
                    self.clock += timeout;
                    Ok(None)
                }
            }
        }

        fn mono(&self) -> Duration {
            self.clock
        }
    }

    fn scripted<F: FnMut(u16) -> Vec<(Duration, Vec<u8>)>>(answer: F) -> Scripted<F> {
        Scripted {
            clock: Duration::ZERO,
            queue: VecDeque::new(),
            answer,
            sent: 0,
        }
    }

    /// A READVAR response fragment.
    fn fragment(sequence: u16, offset: u16, data: &[u8], more: bool) -> Vec<u8> {
        let h = ControlHeader {
            version: 2,
            response: true,
            more,
            opcode: opcode::READVAR,
            sequence,
            offset,
            ..ControlHeader::default()
        };
        let mut buf = [0u8; HEADER_LEN + MAX_DATA];
        let n = encode(&h, data, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn silent_server_times_out_after_two_attempts() {
        let mut t = scripted(|_| Vec::new());
        let r = Session::default().query(&mut t, opcode::READVAR, 0, &[]);
        assert!(matches!(r, Err(QueryError::Timeout)), "{r:?}");
        assert_eq!((t.sent, t.clock), (2, Duration::from_secs(10)));
    }

    /// One duplicate of the first fragment every 0.9 s, for ever: the wait does not start
    /// again with each one, so the query ends after its two timeouts.
    #[test]
    fn trickled_duplicates_do_not_extend_the_wait() {
        let mut t = scripted(|seq| {
            (0..1000u32)
                .map(|i| (900 * i * MS, fragment(seq, 0, b"a=1, ", true)))
                .collect()
        });
        let r = Session::default().query(&mut t, opcode::READVAR, 0, &[]);
        assert!(matches!(r, Err(QueryError::Incomplete)), "{r:?}");
        assert_eq!(t.sent, 2);
        assert!(t.clock <= Duration::from_secs(10), "{:?}", t.clock);
    }

    /// A burst of replies to other requests is dropped and the right reply, when it
    /// comes, is taken.
    #[test]
    fn wrong_sequence_replies_are_ignored_until_the_right_one() {
        let mut t = scripted(|seq| {
            let mut out: Vec<_> = (1..=200u16)
                .map(|i| (MS, fragment(seq.wrapping_add(i), 0, b"x=666\r\n", false)))
                .collect();
            out.push((Duration::from_secs(2), fragment(seq, 0, b"a=1\r\n", false)));
            out
        });
        let r = Session::default()
            .query(&mut t, opcode::READVAR, 0, &[])
            .unwrap();
        assert_eq!(r.data, b"a=1\r\n");
        assert_eq!(t.sent, 1);
    }
}
