//! A mode 3 load generator that looks like many clients: each request leaves from one of
//! many loopback source addresses (127.0.0.2, 127.0.0.3, ..., chosen per datagram with
//! IP_PKTINFO), so per-client rate limiting and per-client state in the server see many
//! clients, while a few wildcard-bound sockets receive all the answers in large recvmmsg
//! batches. Cheap per request, so one core keeps a server on the other core saturated.
//!
//! Every request carries a transmit timestamp whose low word is a sequence number; the
//! server copies it into the origin timestamp of its answer, which is how an answer is
//! matched to its request (and its send time). Requests unanswered after
//! [`LOSS_TIMEOUT_NS`] count as lost, which frees their slot in the window.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// NTP packet length without extensions.
const PACKET_LEN: usize = 48;
/// Datagrams per sendmmsg/recvmmsg call.
const BATCH: usize = 32;
/// Slots for outstanding requests (a power of two, far above any window).
const RING: usize = 1 << 16;
/// An answer later than this is counted as lost.
pub const LOSS_TIMEOUT_NS: u64 = 20_000_000;
/// Seconds from 1900 (NTP era 0) to 1970.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

#[derive(Clone, Copy, PartialEq)]
enum SlotState {
    Free,
    Pending,
    Done,
}

#[derive(Clone, Copy)]
struct Slot {
    seq: u64,
    sent_ns: u64,
    state: SlotState,
}

/// What one phase of load produced.
#[derive(Debug, Default)]
pub struct PhaseStats {
    pub sent: u64,
    /// Mode 4 answers matched to a request of this phase (synchronised or not).
    pub answered: u64,
    /// Kiss-o'-death answers that refuse service (RATE, DENY, RSTR).
    pub kod: u64,
    pub lost: u64,
    /// Answer latencies in nanoseconds (only kept when the phase asks for them).
    pub latencies_ns: Vec<u64>,
    pub elapsed: Duration,
}

/// Header fields of the last answer seen, for the readiness check.
#[derive(Clone, Copy, Debug)]
pub struct AnswerHeader {
    pub leap: u8,
    pub stratum: u8,
}

pub struct LoadGen {
    sockets: Vec<UdpSocket>,
    /// Source addresses, used in turn.
    clients: Vec<Ipv4Addr>,
    next_client: usize,
    server: SocketAddrV4,
    ring: Vec<Slot>,
    /// Next sequence number to send.
    head: u64,
    /// Oldest sequence number not yet retired.
    tail: u64,
    pending: usize,
    /// First sequence number of the current phase: answers to older requests are ignored.
    phase_start: u64,
    /// High word of every transmit timestamp: lets stray datagrams be told apart.
    era_seconds: u32,
    start: Instant,
    next_socket: usize,
    last_header: Option<AnswerHeader>,
}

impl LoadGen {
    /// Opens `sockets` wildcard-bound sockets that send to `server` from `clients` source
    /// addresses (127.0.0.2 on).
    pub fn new(sockets: usize, clients: usize, server: SocketAddrV4) -> Result<LoadGen, String> {
        let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
        let clients = (0..clients.max(1) as u32)
            .map(|n| Ipv4Addr::from(first + n))
            .collect();
        Self::with_clients(sockets, clients, server)
    }

    /// Like [`LoadGen::new`], but each request from a new address, `count` of them, in
    /// 127.1.0.1 on (all of 127.0.0.0/8 is local on Linux, so no address needs
    /// configuring); the last octet skips 0 and 255.
    pub fn distinct(sockets: usize, count: usize, server: SocketAddrV4) -> Result<LoadGen, String> {
        let clients = (0..count.clamp(1, 16_000_000) as u32)
            .map(|n| {
                let (host, net) = (n % 254, n / 254);
                Ipv4Addr::new(127, 1 + (net >> 8) as u8, net as u8, 1 + host as u8)
            })
            .collect();
        Self::with_clients(sockets, clients, server)
    }

    fn with_clients(
        sockets: usize,
        clients: Vec<Ipv4Addr>,
        server: SocketAddrV4,
    ) -> Result<LoadGen, String> {
        let sockets = (0..sockets.max(1))
            .map(|_| {
                let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("bind: {e}"))?;
                socket.set_nonblocking(true).map_err(|e| e.to_string())?;
                set_rcvbuf(&socket, 4 << 20);
                Ok(socket)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(LoadGen {
            sockets,
            clients,
            // The first request goes out from the first address.
            next_client: usize::MAX,
            server,
            ring: vec![
                Slot {
                    seq: 0,
                    sent_ns: 0,
                    state: SlotState::Free,
                };
                RING
            ],
            head: 0,
            tail: 0,
            pending: 0,
            phase_start: 0,
            era_seconds: (unix + NTP_UNIX_OFFSET) as u32,
            start: Instant::now(),
            next_socket: 0,
            last_header: None,
        })
    }

    /// Sends single requests until one is answered (or `timeout` passes).
    pub fn probe(&mut self, timeout: Duration) -> Option<AnswerHeader> {
        let deadline = Instant::now() + timeout;
        self.last_header = None;
        while Instant::now() < deadline {
            let mut stats = PhaseStats::default();
            self.send_batch(1, &mut stats);
            let wait_until = Instant::now() + Duration::from_millis(100);
            while Instant::now() < wait_until.min(deadline) {
                self.receive(&mut stats, false);
                if stats.answered + stats.kod > 0 {
                    return self.last_header;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        None
    }

    /// Keeps `window` requests outstanding for `duration`: the server never waits for work.
    pub fn saturate(&mut self, duration: Duration, window: usize) -> PhaseStats {
        let mut stats = PhaseStats::default();
        self.phase_start = self.head;
        let began = Instant::now();
        let end = began + duration;
        while Instant::now() < end {
            while self.pending + BATCH <= window {
                if self.send_batch(BATCH, &mut stats) == 0 {
                    break;
                }
            }
            self.receive(&mut stats, false);
            self.expire(&mut stats);
        }
        stats.elapsed = began.elapsed();
        stats
    }

    /// Sends `count` requests as fast as the server answers (`window` in flight), each from
    /// the next client address; at most `limit` long.
    pub fn feed(&mut self, count: u64, window: usize, limit: Duration) -> PhaseStats {
        let mut stats = PhaseStats::default();
        self.phase_start = self.head;
        let began = Instant::now();
        while stats.sent < count && began.elapsed() < limit {
            while self.pending + BATCH <= window && stats.sent < count {
                let left = (count - stats.sent).min(BATCH as u64) as usize;
                if self.send_batch(left, &mut stats) == 0 {
                    break;
                }
            }
            self.receive(&mut stats, false);
            self.expire(&mut stats);
        }
        self.drain(&mut stats, false);
        stats.elapsed = began.elapsed();
        stats
    }

    /// Lets the last answers arrive (until none is pending or the loss timeout passed).
    fn drain(&mut self, stats: &mut PhaseStats, keep_latency: bool) {
        let drain_end = Instant::now() + Duration::from_nanos(LOSS_TIMEOUT_NS);
        while Instant::now() < drain_end && self.pending > 0 {
            self.receive(stats, keep_latency);
            self.expire(stats);
        }
    }

    /// Sends `rate` requests per second, evenly spaced, for `duration`, and records every
    /// answer's latency. Polls without blocking so the generator's own wake-up does not
    /// count as server latency.
    pub fn paced(&mut self, duration: Duration, rate: u32) -> PhaseStats {
        let mut stats = PhaseStats::default();
        self.phase_start = self.head;
        let interval_ns = 1_000_000_000 / u64::from(rate.max(1));
        let total = duration.as_nanos() as u64 / interval_ns;
        let began = Instant::now();
        let mut sent = 0;
        while sent < total {
            // Requests due by now leave together (one sendmmsg), so that high rates do
            // not cost the generator a system call each.
            let due = (began.elapsed().as_nanos() as u64 / interval_ns + 1).min(total);
            if due > sent {
                let count = (due - sent).min(BATCH as u64) as usize;
                sent += self.send_batch(count, &mut stats).max(1) as u64;
            }
            self.receive(&mut stats, true);
            self.expire(&mut stats);
        }
        self.drain(&mut stats, true);
        stats.elapsed = began.elapsed();
        stats
    }

    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Sends `count` requests, each from the next client address, on the next socket in
    /// turn (one sendmmsg call).
    fn send_batch(&mut self, count: usize, stats: &mut PhaseStats) -> usize {
        let count = count.min(BATCH);
        if self.head - self.tail + count as u64 > RING as u64 {
            return 0;
        }
        let mut packets = [[0u8; PACKET_LEN]; BATCH];
        let now = self.now_ns();
        for (offset, packet) in packets.iter_mut().take(count).enumerate() {
            let seq = self.head + offset as u64;
            packet[0] = 0x23; // LI 0, version 4, mode 3 (client)
            packet[2] = 6; // poll 2^6 s
            packet[3] = 0xec; // precision 2^-20 s
            packet[40..44].copy_from_slice(&self.era_seconds.to_be_bytes());
            packet[44..48].copy_from_slice(&(seq as u32).to_be_bytes());
        }
        let sources: [Ipv4Addr; BATCH] = std::array::from_fn(|_| {
            self.next_client = self.next_client.wrapping_add(1) % self.clients.len();
            self.clients[self.next_client]
        });
        let socket = &self.sockets[self.next_socket];
        self.next_socket = (self.next_socket + 1) % self.sockets.len();
        let sent = send_many(socket, self.server, &mut packets[..count], &sources);
        for offset in 0..sent {
            let seq = self.head + offset as u64;
            self.ring[seq as usize % RING] = Slot {
                seq,
                sent_ns: now,
                state: SlotState::Pending,
            };
        }
        self.head += sent as u64;
        self.pending += sent;
        stats.sent += sent as u64;
        sent
    }

    /// Drains every socket without waiting.
    fn receive(&mut self, stats: &mut PhaseStats, keep_latency: bool) {
        let mut buffers = [[0u8; PACKET_LEN]; BATCH];
        let mut lengths = [0usize; BATCH];
        for index in 0..self.sockets.len() {
            loop {
                let received = recv_many(&self.sockets[index], &mut buffers, &mut lengths);
                let now = self.now_ns();
                for (buffer, &len) in buffers.iter().zip(&lengths).take(received) {
                    if len >= PACKET_LEN {
                        self.match_answer(buffer, now, stats, keep_latency);
                    }
                }
                if received < BATCH {
                    break;
                }
            }
        }
    }

    fn match_answer(&mut self, packet: &[u8], now: u64, stats: &mut PhaseStats, keep: bool) {
        let word = |at: usize| {
            u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
        };
        if packet[0] & 7 != 4 || word(24) != self.era_seconds {
            return;
        }
        // Rebuild the full sequence number from its low word (it is within RING of head).
        let behind = (self.head as u32).wrapping_sub(word(28));
        let Some(seq) = self.head.checked_sub(u64::from(behind)) else {
            return;
        };
        let index = seq as usize % RING;
        let slot = self.ring[index];
        if slot.seq != seq || slot.state != SlotState::Pending {
            return;
        }
        self.ring[index].state = SlotState::Done;
        self.pending -= 1;
        if seq < self.phase_start {
            return;
        }
        self.last_header = Some(AnswerHeader {
            leap: packet[0] >> 6,
            stratum: packet[1],
        });
        // Stratum 0 is also how an unsynchronised server sends stratum 16 (kiss code INIT);
        // only the refusals are not answers.
        if packet[1] == 0 && matches!(&packet[12..16], b"RATE" | b"DENY" | b"RSTR") {
            stats.kod += 1;
            return;
        }
        stats.answered += 1;
        if keep {
            stats.latencies_ns.push(now - slot.sent_ns);
        }
    }

    /// Retires answered slots and declares overdue ones lost (counted only for requests of
    /// the current phase).
    fn expire(&mut self, stats: &mut PhaseStats) {
        let now = self.now_ns();
        while self.tail < self.head {
            let index = self.tail as usize % RING;
            let slot = self.ring[index];
            if slot.state == SlotState::Pending {
                if now.saturating_sub(slot.sent_ns) < LOSS_TIMEOUT_NS {
                    break;
                }
                self.pending -= 1;
                if slot.seq >= self.phase_start {
                    stats.lost += 1;
                }
            }
            self.ring[index].state = SlotState::Free;
            self.tail += 1;
        }
    }
}

/// The control message that picks a datagram's source address.
#[repr(C)]
struct PktinfoCmsg {
    header: libc::cmsghdr,
    info: libc::in_pktinfo,
}

/// sendmmsg to `server`, datagram i from `sources[i]`; returns how many left.
fn send_many(
    socket: &UdpSocket,
    server: SocketAddrV4,
    packets: &mut [[u8; PACKET_LEN]],
    sources: &[Ipv4Addr; BATCH],
) -> usize {
    let count = packets.len().min(BATCH);
    let mut destination = sockaddr_in(server);
    let mut controls: [PktinfoCmsg; BATCH] = std::array::from_fn(|at| {
        // SAFETY: cmsghdr is plain data; every field that matters is set below.
        let mut header: libc::cmsghdr = unsafe { std::mem::zeroed() };
        header.cmsg_len =
            std::mem::size_of::<libc::cmsghdr>() + std::mem::size_of::<libc::in_pktinfo>();
        header.cmsg_level = libc::IPPROTO_IP;
        header.cmsg_type = libc::IP_PKTINFO;
        PktinfoCmsg {
            header,
            info: libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(sources[at]).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            },
        }
    });
    let mut iovecs = iovecs_for(packets);
    let mut headers = message_headers(&mut iovecs);
    for (header, control) in headers.iter_mut().zip(controls.iter_mut()) {
        header.msg_hdr.msg_name = (&mut destination as *mut libc::sockaddr_in).cast();
        header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        header.msg_hdr.msg_control = (control as *mut PktinfoCmsg).cast();
        header.msg_hdr.msg_controllen = std::mem::size_of::<PktinfoCmsg>();
    }
    // SAFETY: each of the first `count` headers points at a live destination address, a
    // live control message and one iovec over a live PACKET_LEN buffer.
    let sent = unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), count as u32, 0) };
    sent.max(0) as usize
}

fn sockaddr_in(address: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// recvmmsg without blocking; fills `lengths` and returns how many datagrams arrived.
fn recv_many(
    socket: &UdpSocket,
    buffers: &mut [[u8; PACKET_LEN]; BATCH],
    lengths: &mut [usize; BATCH],
) -> usize {
    let mut iovecs = iovecs_for(buffers);
    let mut headers = message_headers(&mut iovecs);
    // SAFETY: each header points at one iovec over a live PACKET_LEN buffer; no address
    // or control buffer is requested; a null timeout is allowed.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            BATCH as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    let received = received.max(0) as usize;
    for (length, header) in lengths.iter_mut().zip(&headers).take(received) {
        *length = header.msg_len as usize;
    }
    received
}

/// One iovec per buffer (unused trailing entries stay empty).
fn iovecs_for(buffers: &mut [[u8; PACKET_LEN]]) -> [libc::iovec; BATCH] {
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    for (iov, buffer) in iovecs.iter_mut().zip(buffers.iter_mut()) {
        iov.iov_base = buffer.as_mut_ptr().cast();
        iov.iov_len = PACKET_LEN;
    }
    iovecs
}

fn message_headers(iovecs: &mut [libc::iovec; BATCH]) -> [libc::mmsghdr; BATCH] {
    std::array::from_fn(|at| {
        // SAFETY: mmsghdr is plain data; all-zero is a valid "no address, no control".
        let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
        header.msg_hdr.msg_iov = &mut iovecs[at];
        header.msg_hdr.msg_iovlen = 1;
        header
    })
}

fn set_rcvbuf(socket: &UdpSocket, bytes: libc::c_int) {
    // SAFETY: the option value is a c_int that outlives the call. Failure only means a
    // smaller buffer, which the loss counter would show.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
