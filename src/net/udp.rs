//! UDP sockets for NTP: bound with socket2, read [`BATCH`] datagrams per `recvmmsg`, each
//! with the kernel's receive timestamp (SO_TIMESTAMPNS), and answered [`BATCH`] replies per
//! `sendmmsg`, into and out of buffers allocated once.
#![allow(unsafe_code)]

use crate::time::NtpTimestamp;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

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

/// Datagrams one `recvmmsg` takes, and replies one `sendmmsg` sends: a system call per
/// batch instead of one per datagram each way.
pub const BATCH: usize = 32;

/// Room for one received datagram: classic's receive buffer (`RX_BUFF_SIZE`, 1000 octets,
/// ntp_recvbuff.h) rounded up. No NTP, mode 6 or mode 7 packet is longer; a longer
/// datagram arrives truncated and is dropped.
const SLOT: usize = 1024;

/// Replies up to this size wait for the batch's `sendmmsg` (a mode 4 answer is 48 octets,
/// 84 with the longest MAC); longer ones (mode 6 and 7 answers) leave at once.
const REPLY_SLOT: usize = 128;

/// Control message room per datagram: one SCM_TIMESTAMPNS (16 + 16 octets) with margin,
/// aligned for cmsghdr.
type Control = [u64; 8];

/// A sender's address as the kernel wrote it (a `sockaddr_in` or `sockaddr_in6`), kept
/// to send the answer back without converting it twice.
#[derive(Clone, Copy)]
pub struct Peer {
    addr: libc::sockaddr_in6,
    len: libc::socklen_t,
}

impl Peer {
    fn empty() -> Peer {
        // SAFETY: sockaddr_in6 is plain old data; all zeroes is a valid (AF_UNSPEC) value.
        Peer {
            addr: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }

    /// The address as the standard library's type; `None` for a non-IP sender.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let len = self.len as usize;
        match i32::from(self.addr.sin6_family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the kernel wrote a sockaddr_in (AF_INET, long enough) into addr,
                // which is larger and at least as aligned.
                let v4 = unsafe {
                    &*(&self.addr as *const libc::sockaddr_in6).cast::<libc::sockaddr_in>()
                };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                    u16::from_be(v4.sin_port),
                )))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                let a = &self.addr;
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    u32::from_be(a.sin6_flowinfo),
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// One received datagram.
#[derive(Clone, Copy)]
pub struct Received<'a> {
    pub bytes: &'a [u8],
    pub source: SocketAddr,
    /// Where to send the answer (the same address as `source`).
    pub peer: Peer,
    /// The kernel's receive timestamp (CLOCK_REALTIME), when it gave one.
    pub realtime: Option<NtpTimestamp>,
}

/// What a batch of messages needs in either direction, allocated once: [`BATCH`] buffers
/// of `SIZE` octets, their peers' addresses, and the kernel's headers pointing at both.
struct Messages<const SIZE: usize> {
    /// Never zeroed: the kernel writes a datagram before it is read, `queue` a reply
    /// before it is sent, and only those octets are ever read.
    bufs: Box<[MaybeUninit<[u8; SIZE]>]>,
    peers: [Peer; BATCH],
    iovecs: [libc::iovec; BATCH],
    headers: [libc::mmsghdr; BATCH],
    count: usize,
}

impl<const SIZE: usize> Messages<SIZE> {
    fn new() -> Self {
        // SAFETY: iovec and mmsghdr are plain C structs; null pointers and zero lengths
        // are valid values, and `aim` points them at the buffers before every call.
        let (iovecs, headers) = unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
        Messages {
            // Uninitialised, so that pages are only touched as datagrams land in them:
            // glibc's calloc clears a block taken from memory the heap already holds.
            bufs: Box::new_uninit_slice(BATCH),
            peers: [Peer::empty(); BATCH],
            iovecs,
            headers,
            count: 0,
        }
    }

    /// Points header `i` at the first `len` octets of buffer `i` and at peer `i`'s
    /// address (`namelen` octets of room), without control data.
    fn aim(&mut self, i: usize, len: usize, namelen: libc::socklen_t) -> &mut libc::msghdr {
        self.iovecs[i] = libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: len,
        };
        let hdr = &mut self.headers[i].msg_hdr;
        hdr.msg_name = (&mut self.peers[i].addr as *mut libc::sockaddr_in6).cast();
        hdr.msg_namelen = namelen;
        hdr.msg_iov = &mut self.iovecs[i];
        hdr.msg_iovlen = 1;
        hdr.msg_control = std::ptr::null_mut();
        hdr.msg_controllen = 0;
        hdr.msg_flags = 0;
        hdr
    }
}

impl<const SIZE: usize> Default for Messages<SIZE> {
    fn default() -> Self {
        Messages::new()
    }
}

/// Receive buffers for [`BATCH`] datagrams, allocated once: receiving allocates nothing.
#[derive(Default)]
pub struct Inbox {
    messages: Messages<SLOT>,
    control: [Control; BATCH],
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// Receives up to [`BATCH`] waiting datagrams in one system call and returns how many
    /// came; `Err(WouldBlock)` when none was waiting.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        let m = &mut self.messages;
        m.count = 0;
        for (i, control) in self.control.iter_mut().enumerate() {
            let hdr = m.aim(i, SLOT, size_of::<libc::sockaddr_in6>() as libc::socklen_t);
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = size_of::<Control>();
        }
        // SAFETY: fd is valid; every header points to live buffers of the stated sizes,
        // owned by self and not moved during the call.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                m.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        m.count = (n as usize).min(BATCH);
        for i in 0..m.count {
            m.peers[i].len = m.headers[i].msg_hdr.msg_namelen;
        }
        Ok(m.count)
    }

    /// The `i`th datagram of the last [`Inbox::recv`]; `None` past the end, for a
    /// truncated datagram and for a non-IP sender.
    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        let m = &self.messages;
        if i >= m.count {
            return None;
        }
        let header = &m.headers[i];
        if header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let peer = m.peers[i];
        Some(Received {
            bytes: received_octets(&m.bufs[i], header.msg_len as usize)?,
            source: peer.socket_addr()?,
            peer,
            realtime: timestamp(&header.msg_hdr),
        })
    }
}

/// The first `len` octets of a receive buffer, which the kernel wrote (`recvmmsg`'s
/// `msg_len`); `None` if `len` is past the buffer.
fn received_octets(buf: &MaybeUninit<[u8; SLOT]>, len: usize) -> Option<&[u8]> {
    if len > SLOT {
        return None;
    }
    // SAFETY: recvmmsg wrote `len` octets at the start of this buffer for this datagram.
    Some(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) })
}

/// The SCM_TIMESTAMPNS control message of a received datagram, as an NTP timestamp.
fn timestamp(msg: &libc::msghdr) -> Option<NtpTimestamp> {
    // SAFETY: iterating control messages the kernel wrote into the buffer `msg` points to,
    // with the libc macros, which stay within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                let nanos = ts.tv_nsec.clamp(0, 999_999_999) as u32;
                return Some(NtpTimestamp::from_unix(ts.tv_sec, nanos));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Replies waiting for one `sendmmsg`, allocated once: queueing allocates nothing.
#[derive(Default)]
pub struct Outbox {
    messages: Messages<REPLY_SLOT>,
    lens: [usize; BATCH],
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Queues `bytes` for `to`. A reply too long to queue leaves at once, after the queued
    /// ones (the order of answers is kept); a full queue is sent first. Returns how many
    /// replies the kernel refused meanwhile (classic's per-interface `dropped`).
    pub fn push(&mut self, socket: &impl AsRawFd, to: &Peer, bytes: &[u8]) -> usize {
        let mut failed = 0;
        if self.messages.count == BATCH {
            failed += self.flush(socket);
        }
        if bytes.len() > REPLY_SLOT {
            failed += self.flush(socket);
            // SAFETY: fd is valid; bytes and the address are live for the call.
            let rc = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    0,
                    (&to.addr as *const libc::sockaddr_in6).cast(),
                    to.len,
                )
            };
            if rc < 0 {
                send_failed(to, &io::Error::last_os_error());
                failed += 1;
            }
            return failed;
        }
        let m = &mut self.messages;
        let i = m.count;
        // SAFETY: `bytes` fits (longer replies left above) and the slot is not otherwise
        // borrowed; `flush` sends only the `lens[i]` octets written here.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                m.bufs[i].as_mut_ptr().cast::<u8>(),
                bytes.len(),
            );
        }
        self.lens[i] = bytes.len();
        m.peers[i] = *to;
        m.count += 1;
        failed
    }

    /// Sends the queued replies, as few system calls as the kernel allows: a reply it
    /// refuses is logged and skipped. Returns how many it refused.
    pub fn flush(&mut self, socket: &impl AsRawFd) -> usize {
        let mut failed = 0;
        let m = &mut self.messages;
        for i in 0..m.count {
            let namelen = m.peers[i].len;
            m.aim(i, self.lens[i], namelen);
        }
        let mut sent = 0;
        while sent < m.count {
            // SAFETY: fd is valid; headers sent..count point to live buffers set above.
            let n = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    m.headers[sent..].as_mut_ptr(),
                    (m.count - sent) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                // The first remaining reply failed (its destination unreachable, the
                // buffer full): skip it, so one bad reply cannot block the rest.
                send_failed(&m.peers[sent], &err);
                failed += 1;
                sent += 1;
            }
        }
        m.count = 0;
        failed
    }
}

fn send_failed(to: &Peer, err: &io::Error) {
    match to.socket_addr() {
        Some(addr) => log::debug!("send to {addr}: {err}"),
        None => log::debug!("send: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn server() -> UdpSocket {
        bind("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    fn client() -> UdpSocket {
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        c
    }

    /// Receives one batch of what was sent, after letting loopback delivery finish (it may
    /// end in a softirq just after send_to returns).
    fn receive(inbox: &mut Inbox, socket: &UdpSocket) -> usize {
        std::thread::sleep(Duration::from_millis(50));
        inbox.recv(socket).unwrap()
    }

    #[test]
    fn one_call_takes_a_batch_each_with_sender_and_kernel_timestamp() {
        let server = server();
        let client = client();
        let to = server.local_addr().unwrap();
        for i in 0..BATCH + 5 {
            client.send_to(&[i as u8; 48], to).unwrap();
        }
        let mut inbox = Inbox::new();
        assert_eq!(receive(&mut inbox, &server), BATCH);
        let before = crate::time::NtpTimestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - 5,
            0,
        );
        for i in 0..BATCH {
            let got = inbox.get(i).expect("a datagram");
            assert_eq!(got.bytes, &[i as u8; 48]);
            assert_eq!(got.source, client.local_addr().unwrap());
            assert_eq!(got.peer.socket_addr(), Some(got.source));
            let stamp = got.realtime.expect("a kernel timestamp");
            assert!((stamp - before).to_secs_f64() > 0.0);
        }
        assert!(inbox.get(BATCH).is_none());
        // The rest waits for the next call.
        assert_eq!(inbox.recv(&server).unwrap(), 5);
        assert_eq!(inbox.get(4).unwrap().bytes, &[BATCH as u8 + 4; 48]);
        assert_eq!(
            inbox.recv(&server).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn an_oversized_datagram_is_dropped_not_truncated() {
        let server = server();
        let client = client();
        let to = server.local_addr().unwrap();
        client.send_to(&[1; SLOT + 1], to).unwrap();
        client.send_to(&[2; SLOT], to).unwrap();
        let mut inbox = Inbox::new();
        assert_eq!(receive(&mut inbox, &server), 2);
        assert!(inbox.get(0).is_none());
        assert_eq!(inbox.get(1).unwrap().bytes.len(), SLOT);
    }

    #[test]
    fn replies_leave_in_order_short_ones_batched_long_ones_at_once() {
        let server = server();
        let client = client();
        let to = server.local_addr().unwrap();
        client.send_to(b"request", to).unwrap();
        let mut inbox = Inbox::new();
        assert_eq!(receive(&mut inbox, &server), 1);
        let peer = inbox.get(0).unwrap().peer;
        let mut outbox = Outbox::new();
        // More than a batch of short replies, a long one in between.
        let mut expected = Vec::new();
        for i in 0..BATCH + 3 {
            let reply = if i == 7 {
                vec![0xaa; REPLY_SLOT + 300]
            } else {
                vec![i as u8; 48]
            };
            outbox.push(&server, &peer, &reply);
            expected.push(reply);
        }
        outbox.flush(&server);
        let mut buf = [0u8; 2048];
        for reply in expected {
            let (n, from) = client.recv_from(&mut buf).expect("every reply arrives");
            assert_eq!((&buf[..n], from), (&reply[..], to));
        }
    }

    #[test]
    fn empty_socket_would_block() {
        let mut inbox = Inbox::new();
        assert_eq!(
            inbox.recv(&server()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(inbox.get(0).is_none());
    }
}
