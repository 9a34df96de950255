//! The local address the kernel would send from to reach a remote one: classic's
//! `findinterface` when it mobilises an association. A UDP socket connected to the remote
//! answers it from the routing table; nothing is ever sent on it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Our address on the route to `remote`, if there is a route.
pub fn local_for(remote: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = match remote {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(remote).ok()?;
    let local = socket.local_addr().ok()?.ip();
    (!local.is_unspecified()).then_some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_reached_from_loopback() {
        let to = "127.0.0.1:123".parse().unwrap();
        assert_eq!(local_for(to), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
