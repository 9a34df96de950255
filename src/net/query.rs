//! The client side of mode 6 (and 7) over UDP: one connected socket to one server, as
//! ntpq, ntpdc and ntp-wait use it, and the reverse lookups ntpq and ntpdc show peers with.

use crate::ntpq::display::Resolver;
use crate::ntpq::session::Transport;
use crate::wire::printable::printable;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

/// Reverse DNS through the system resolver (classic's `nntohost`), given up after a short
/// wait; a name is shown like server text, so no control character gets through.
pub struct Dns;

impl Resolver for Dns {
    fn name_of(&self, addr: IpAddr) -> Option<String> {
        crate::sys::names::name_within(addr, Duration::from_secs(2)).map(|name| printable(&name))
    }
}

/// A UDP socket connected to the server queried, and the start of the monotonic clock
/// the query deadlines use.
pub struct UdpTransport(UdpSocket, Instant);

impl UdpTransport {
    /// A socket of `server`'s family, connected to it (so ICMP errors come back to us as
    /// "Connection refused").
    pub fn connect(server: SocketAddr) -> io::Result<UdpTransport> {
        let bind: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = UdpSocket::bind(bind)?;
        sock.connect(server)?;
        Ok(UdpTransport(sock, Instant::now()))
    }
}

/// `host`'s address on port 123 from the system resolver, of the family asked for (Some(true)
/// for IPv4, Some(false) for IPv6).
pub fn resolve(host: &str, family: Option<bool>) -> io::Result<SocketAddr> {
    (host, 123)
        .to_socket_addrs()?
        .find(|a| family.is_none_or(|v4| a.is_ipv4() == v4))
        .ok_or_else(|| io::Error::other("Name or service not known"))
}

impl Transport for UdpTransport {
    fn send(&mut self, d: &[u8]) -> io::Result<()> {
        self.0.send(d).map(|_| ())
    }

    fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        self.0
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buf = [0u8; 2048];
        match self.0.recv(&mut buf) {
            Ok(n) => Ok(Some(buf[..n].to_vec())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn mono(&self) -> Duration {
        self.1.elapsed()
    }

    fn reconnect(&mut self, server: SocketAddr) -> io::Result<()> {
        self.0 = UdpTransport::connect(server)?.0;
        Ok(())
    }
}
