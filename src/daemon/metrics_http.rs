//! `ntpd --metrics ADDRESS:PORT`: the metrics page over HTTP, served from the mio loop
//! without ever blocking it. A scraper cannot delay time service: sockets are
//! non-blocking, at most [`MAX_CONNECTIONS`] are open (a new one closes the oldest), a
//! request head is at most [`MAX_REQUEST`] octets, every connection is closed
//! [`CONNECTION_TIMEOUT`] after it was accepted whatever it is doing (slow loris), at most
//! [`http::ACCEPT_RATE`] connections a second are accepted (a flood waits in the kernel's
//! queue), and each wake-up accepts a bounded number of them, after the NTP sockets had
//! theirs.

use crate::metrics::http::{self, AcceptBudget, MAX_REQUEST};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 16;
/// From accept to the last octet of the response.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections accepted per wake-up; more wait for the next turn of the loop.
const ACCEPTS_PER_WAKE: usize = 16;

enum State {
    Reading(Vec<u8>),
    Writing { out: Vec<u8>, sent: usize },
}

struct Conn {
    stream: TcpStream,
    accepted: Duration,
    state: State,
}

/// The listener and its connections. Tokens: the listener's, and one per connection slot
/// below it.
pub struct MetricsServer {
    listener: TcpListener,
    token: Token,
    conns: Vec<Option<Conn>>,
    /// The last wake-up stopped accepting before the queue was empty.
    backlog: bool,
    budget: AcceptBudget,
}

impl MetricsServer {
    /// Binds `addr` (non-blocking).
    pub fn bind(addr: SocketAddr) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(MetricsServer {
            listener,
            token: Token(0),
            conns: (0..MAX_CONNECTIONS).map(|_| None).collect(),
            backlog: false,
            budget: AcceptBudget::new(Duration::ZERO),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Registers the listener as `token`; connections take the tokens just below it.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.token = token;
        registry.register(
            &mut SourceFd(&self.listener.as_raw_fd()),
            token,
            Interest::READABLE,
        )
    }

    fn slot_token(&self, slot: usize) -> Token {
        Token(self.token.0 - 1 - slot)
    }

    /// Whether `token` is the listener's or a connection's.
    pub fn owns(&self, token: Token) -> bool {
        token.0 <= self.token.0 && token.0 >= self.token.0 - MAX_CONNECTIONS
    }

    /// Connections waiting that may be accepted at `now`: the loop must not sleep.
    pub fn busy(&mut self, now: Duration) -> bool {
        self.backlog && self.budget.available(now)
    }

    /// When the oldest connection times out, or waiting connections may be accepted.
    pub fn next_deadline(&self) -> Option<Duration> {
        let accept = self.backlog.then(|| self.budget.next_token());
        self.conns
            .iter()
            .flatten()
            .map(|c| c.accepted + CONNECTION_TIMEOUT)
            .chain(accept)
            .min()
    }

    /// Handles a readiness event of `token` at monotonic time `now`; `page` renders the
    /// metrics page.
    pub fn handle(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Duration,
        page: &mut dyn FnMut() -> String,
    ) {
        if token == self.token {
            self.accept(registry, now);
            return;
        }
        let slot = self.token.0 - 1 - token.0;
        self.progress(registry, slot, page);
    }

    /// The loop's turn without an event: accept what the last turn left, close what
    /// timed out.
    pub fn tick(&mut self, registry: &Registry, now: Duration) {
        if self.backlog {
            self.accept(registry, now);
        }
        for slot in 0..MAX_CONNECTIONS {
            let expired = self.conns[slot]
                .as_ref()
                .is_some_and(|c| now >= c.accepted + CONNECTION_TIMEOUT);
            if expired {
                self.close(registry, slot);
            }
        }
    }

    fn accept(&mut self, registry: &Registry, now: Duration) {
        self.backlog = false;
        for _ in 0..ACCEPTS_PER_WAKE {
            if !self.budget.available(now) {
                break;
            }
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::debug!("metrics accept: {e}");
                    return;
                }
            };
            self.budget.spend();
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let slot = self.free_slot(registry);
            let token = self.slot_token(slot);
            let registered = registry.register(
                &mut SourceFd(&stream.as_raw_fd()),
                token,
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_ok() {
                self.conns[slot] = Some(Conn {
                    stream,
                    accepted: now,
                    state: State::Reading(Vec::new()),
                });
            }
        }
        self.backlog = true;
    }

    /// A free slot, closing the oldest connection when there is none.
    fn free_slot(&mut self, registry: &Registry) -> usize {
        if let Some(free) = self.conns.iter().position(Option::is_none) {
            return free;
        }
        let oldest = (0..MAX_CONNECTIONS)
            .min_by_key(|&i| self.conns[i].as_ref().map(|c| c.accepted))
            .unwrap_or(0);
        self.close(registry, oldest);
        oldest
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut conn) = self.conns[slot].take() {
            let _ = registry.deregister(&mut SourceFd(&conn.stream.as_raw_fd()));
            discard_input(&mut conn.stream);
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
    }

    /// Reads what has arrived, answers a complete request, writes what the socket takes;
    /// closes the connection when done or broken.
    fn progress(&mut self, registry: &Registry, slot: usize, page: &mut dyn FnMut() -> String) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let open = match &mut conn.state {
            State::Reading(buf) => match read_head(&mut conn.stream, buf) {
                Ok(true) => {
                    let out = http::respond(buf, page);
                    conn.state = State::Writing { out, sent: 0 };
                    write_out(&mut conn.stream, &mut conn.state)
                }
                Ok(false) => true,
                Err(_) => false,
            },
            State::Writing { .. } => write_out(&mut conn.stream, &mut conn.state),
        };
        if !open {
            self.close(registry, slot);
        }
    }
}

/// Reads until the socket is drained; Ok(true) once the head is complete (or too long to
/// wait for), Err when the peer closed or failed first.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if http::head_complete(buf) || buf.len() > MAX_REQUEST {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads and drops what has arrived unread (a body, the rest of an oversized head), up to
/// 64 KiB: closing over unread data would reset the connection, and the client could
/// lose the response sent just before.
fn discard_input(stream: &mut TcpStream) {
    let mut scratch = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

/// Writes what the socket takes; false once everything is sent or the peer is gone.
fn write_out(stream: &mut TcpStream, state: &mut State) -> bool {
    let State::Writing { out, sent } = state else {
        return true;
    };
    while *sent < out.len() {
        match stream.write(&out[*sent..]) {
            Ok(0) => return false,
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    false
}
