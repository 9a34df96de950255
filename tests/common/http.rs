//! The test's own HTTP/1.1 client (for the metrics endpoint and Prometheus' API), run
//! from inside a namespace.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::Netns;

/// A connection made from inside `ns`.
pub fn tcp_connect(ns: &Netns, addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = ns.inside(|| TcpStream::connect_timeout(&addr, timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// `GET path` from `addr`: (status code, body).
pub fn http_get(ns: &Netns, addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut s = tcp_connect(ns, addr, Duration::from_secs(5))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no HTTP head in {text:?}")))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    Ok((code, body.to_string()))
}
