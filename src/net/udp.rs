//! UDP sockets for NTP: bound with socket2, read with recvmsg so the kernel's receive
//! timestamp (SO_TIMESTAMPNS) comes with each datagram, without any heap allocation.
#![allow(unsafe_code)]

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// IPTOS_PREC_INTERNETCONTROL, the TOS classic ntpd sends with (0xc0 in the captures).
const NTP_TOS: u32 = 0xc0;

/// Opens a non-blocking UDP socket bound to `addr`, with kernel receive timestamps.
/// IPv6 sockets are v6-only so that IPv4 and IPv6 can be bound separately, as classic does;
/// address reuse lets the wildcard and the per-address sockets share the port.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    } else {
        // TOS is cosmetic; a kernel that refuses it must not stop the daemon.
        let _ = socket.set_tos(NTP_TOS);
    }
    socket.set_nonblocking(true)?;
    enable_timestamps(&socket)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// Opens a blocking socket without address reuse or timestamps: clients (ntpq, ntpdate), and
/// the daemon's probe for another process holding port 123.
pub fn bind_plain(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// Joins multicast `group` on the interface holding `iface` (for `multicastclient` and a
/// `manycastserver` group), so the wildcard socket receives what is sent there.
pub fn join_group(socket: &UdpSocket, group: Ipv4Addr, iface: Ipv4Addr) -> io::Result<()> {
    socket.join_multicast_v4(&group, &iface)
}

/// Lets a socket send to broadcast addresses (SO_BROADCAST) and gives what it sends to
/// multicast groups `ttl` hops (`broadcast`, `manycastclient`).
pub fn allow_group_sends(socket: &UdpSocket, ttl: u32) -> io::Result<()> {
    socket.set_broadcast(true)?;
    socket.set_multicast_ttl_v4(ttl)
}

fn enable_timestamps(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a pointer to a c_int of the stated length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One received datagram's envelope.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub len: usize,
    pub source: SocketAddr,
    /// How long ago the kernel timestamped the datagram (zero when it gave no timestamp).
    pub age: Duration,
}

fn realtime_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is valid and writable; CLOCK_REALTIME always exists. Read only.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts
}

fn age_of(stamp: libc::timespec) -> Duration {
    let now = realtime_now();
    let nanos = (i128::from(now.tv_sec) - i128::from(stamp.tv_sec)) * 1_000_000_000
        + i128::from(now.tv_nsec - stamp.tv_nsec);
    // A stamp from the future (clock stepped) or absurdly old counts as "now".
    if (0..1_000_000_000).contains(&nanos) {
        Duration::from_nanos(nanos as u64)
    } else {
        Duration::ZERO
    }
}

fn to_socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    // SAFETY: storage is a valid sockaddr_storage filled by the kernel for `len` bytes.
    let addr = unsafe { SockAddr::new(*storage, len) };
    addr.as_socket()
}

/// Receives one datagram into `buf`; `Err(WouldBlock)` when none is waiting.
pub fn recv(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut storage = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one SCM_TIMESTAMPNS control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is a plain C struct; all pointers set below stay valid for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = storage.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>();
    // SAFETY: fd is valid; msg points to live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut age = Duration::ZERO;
    // SAFETY: iterating control messages the kernel wrote into `control`, via the libc macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let stamp: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                age = age_of(stamp);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    // SAFETY: the kernel initialised msg_namelen bytes of storage.
    let storage = unsafe { storage.assume_init() };
    let source = to_socket_addr(&storage, msg.msg_namelen).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP source")
    })?;
    Ok(Received {
        len: n as usize,
        source,
        age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_datagram_carries_a_kernel_timestamp() {
        let server = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(b"hello", server.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 64];
        let got = loop {
            match recv(&server, &mut buf) {
                Ok(r) => break r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.source, client.local_addr().unwrap());
        assert!(got.age < Duration::from_millis(500));
    }

    #[test]
    fn empty_socket_would_block() {
        let server = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            recv(&server, &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }
}
