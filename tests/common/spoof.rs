//! Spoofed datagrams: a raw IPv4 socket in a namespace sends UDP with any source address
//! and port, as an off-path attacker on the LAN would (the kernel fills in the IP
//! checksum, length and ID; a zero UDP checksum means "none" in IPv4).

use super::Netns;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{SocketAddr, SocketAddrV4};

/// A raw socket (IPPROTO_RAW, so the IP header is ours) in one namespace.
pub struct Spoofer(Socket);

impl Spoofer {
    pub fn new(ns: &Netns) -> Spoofer {
        let raw = Protocol::from(libc::IPPROTO_RAW);
        let sock = ns
            .inside(|| Socket::new(Domain::IPV4, Type::RAW, Some(raw)))
            .unwrap_or_else(|e| panic!("raw socket in {}: {e}", ns.name));
        Spoofer(sock)
    }

    /// Sends `payload` as a UDP datagram from `src` to `dst`; false if the kernel refused
    /// it (a full queue: the caller paces).
    pub fn send(&self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> bool {
        let packet = udp_packet(src, dst, payload);
        let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(*dst.ip(), 0)));
        self.0.send_to(&packet, &to).is_ok()
    }
}

/// An IPv4 header (no options) and a UDP header in front of `payload`.
fn udp_packet(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0]); // ID (kernel fills), don't fragment
    p.extend_from_slice(&[64, libc::IPPROTO_UDP as u8, 0, 0]); // TTL, protocol, checksum
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}
