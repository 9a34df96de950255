//! The daemon's NTP sockets, kept up to date with the machine's addresses.
//!
//! Sockets live in a slab whose slot index is the socket's mio token: a socket closed by a
//! rescan frees its slot without moving the others, so every token the poll holds stays
//! valid (a freed slot is reused only after its socket left the poll). Each socket keeps
//! classic's interface number, which keeps counting up across rescans, and the counters
//! classic prints when it deletes an interface.
//!
//! What to open and close is decided by the pure [`listen::changes`]; this file only binds,
//! registers, deregisters and logs.

use super::listen::{self, Endpoint, ListenPolicy, RescanTimer};
use crate::net::interfaces;
use crate::net::netlink::AddressWatch;
use crate::net::udp;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// One bound socket.
pub struct Listener {
    pub socket: UdpSocket,
    pub endpoint: Endpoint,
    /// Classic's interface number, the N of "Listen normally on N".
    pub number: usize,
    opened: Instant,
    /// Datagrams received, replies and requests sent, and sends that failed.
    pub received: u64,
    pub sent: u64,
    pub dropped: u64,
    /// More datagrams may be waiting than the last batch took (readiness is edge-triggered:
    /// no new event comes for what is already queued).
    pub unread: bool,
    /// The IPv4 wildcard of a broadcast client or manycast server: what arrives on it
    /// (sent to a broadcast or multicast address) goes to the engine after all.
    pub hears_groups: bool,
}

impl Listener {
    pub fn new(socket: UdpSocket, endpoint: Endpoint, number: usize) -> Listener {
        Listener {
            socket,
            endpoint,
            number,
            opened: Instant::now(),
            received: 0,
            sent: 0,
            dropped: 0,
            unread: false,
            hears_groups: false,
        }
    }

    /// Whether what arrives is dropped unanswered (the wildcard sockets).
    pub fn drop(&self) -> bool {
        self.endpoint.drop
    }

    /// Sends `bytes` to `to`, counting the outcome as classic's `sent` or `dropped`.
    pub fn send_to(&mut self, bytes: &[u8], to: SocketAddr) {
        match self.socket.send_to(bytes, to) {
            Ok(_) => self.sent += 1,
            Err(e) => {
                self.dropped += 1;
                log::debug!("send to {to}: {e}");
            }
        }
    }
}

/// The sockets, what they are bound by, and when to look at the addresses again.
pub struct Listeners {
    slots: Vec<Option<Listener>>,
    /// The next interface number.
    numbered: usize,
    port: u16,
    policy: ListenPolicy,
    /// `-U`: seconds between periodic scans, 0 for none.
    interval: Duration,
    timer: Option<RescanTimer>,
    watch: Option<AddressWatch>,
    /// Multicast groups the IPv4 wildcard hears (`multicastclient`, a `manycastserver`
    /// group), joined again on each address a rescan adds.
    groups: Vec<Ipv4Addr>,
}

/// How our own answering addresses changed in a rescan.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub removed: Vec<IpAddr>,
    pub added: Vec<IpAddr>,
}

impl Listeners {
    /// Binds the endpoints for the addresses of `ifaces` now, logging each as classic.
    pub fn bind(
        ifaces: &[interfaces::InterfaceAddr],
        policy: ListenPolicy,
        port: u16,
        interval: Duration,
    ) -> Listeners {
        let mut listeners = Listeners {
            slots: Vec::new(),
            numbered: 0,
            port,
            interval,
            timer: None,
            watch: None,
            policy,
            groups: Vec::new(),
        };
        for ep in listen::endpoints(ifaces, &listeners.policy, port) {
            listeners.open(ep, None);
        }
        listeners
    }

    /// Joins `groups` on the IPv4 wildcard socket for the interfaces of `addrs`, and on
    /// those of the addresses later rescans add.
    pub fn join_groups(&mut self, groups: &[Ipv4Addr], addrs: &[IpAddr]) {
        self.groups = groups.to_vec();
        self.join_on(addrs);
    }

    fn join_on(&self, addrs: &[IpAddr]) {
        let wildcard = SocketAddr::from(([0, 0, 0, 0], self.port));
        let Some(socket) = self.iter().find(|l| l.endpoint.addr == wildcard) else {
            return;
        };
        for (group, iface) in listen::group_joins(&self.groups, addrs) {
            match udp::join_group(&socket.socket, group, iface) {
                Ok(()) => log::info!("joined multicast group {group} on {iface}"),
                // Another address of the same interface joined it already.
                Err(err) if err.kind() == io::ErrorKind::AddrInUse => {}
                Err(err) => log::warn!("cannot join multicast group {group} on {iface}: {err}"),
            }
        }
    }

    /// The addresses answered on (not the wildcards).
    pub fn own_addresses(&self) -> Vec<IpAddr> {
        self.iter()
            .filter(|l| !l.drop())
            .map(|l| l.endpoint.addr.ip())
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Listener> {
        self.slots.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Listener> {
        self.slots.iter_mut().flatten()
    }

    /// The socket registered as `token`.
    pub fn get_mut(&mut self, token: Token) -> Option<&mut Listener> {
        self.slots.get_mut(token.0).and_then(Option::as_mut)
    }

    /// Registers every socket (its slot as token) and the address watch as `watch_token`,
    /// and plans the first periodic rescan. Without netlink (a kernel or sandbox that
    /// refuses it) the periodic scans still run.
    pub fn register(
        &mut self,
        registry: &Registry,
        watch_token: Token,
        now: Duration,
    ) -> io::Result<()> {
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(l) = slot {
                registry.register(
                    &mut SourceFd(&l.socket.as_raw_fd()),
                    Token(i),
                    Interest::READABLE,
                )?;
            }
        }
        self.watch = match AddressWatch::open() {
            Ok(watch) => {
                registry.register(
                    &mut SourceFd(&watch.as_raw_fd()),
                    watch_token,
                    Interest::READABLE,
                )?;
                log::info!(
                    "Listening on routing socket on fd #{} for interface updates",
                    watch.as_raw_fd()
                );
                Some(watch)
            }
            Err(err) => {
                match self.interval.as_secs() {
                    0 => log::warn!("cannot watch for address changes ({err}); and -U 0: interfaces are never scanned again"),
                    secs => log::warn!("cannot watch for address changes ({err}); scanning every {secs} s only"),
                }
                None
            }
        };
        self.timer = Some(RescanTimer::new(self.interval, now));
        Ok(())
    }

    /// The address watch is readable: read it, and plan a rescan if it said anything.
    pub fn notified(&mut self, now: Duration) {
        let changed = self.watch.as_ref().is_some_and(AddressWatch::drain);
        if let (true, Some(timer)) = (changed, &mut self.timer) {
            timer.notified(now);
        }
    }

    /// How long the loop may sleep before a rescan is due.
    pub fn timeout(&self, now: Duration) -> Duration {
        self.timer
            .as_ref()
            .and_then(RescanTimer::deadline)
            .map_or(Duration::MAX, |at| at.saturating_sub(now))
    }

    /// Scans the addresses if a scan is due at `now`, closing the sockets of addresses gone
    /// and opening sockets for new ones; what changed among the answering addresses.
    pub fn rescan_if_due(&mut self, registry: &Registry, now: Duration) -> Option<Moved> {
        if !self.timer.as_mut()?.due(now) {
            return None;
        }
        let ifaces = match interfaces::list() {
            Ok(ifaces) => ifaces,
            Err(err) => {
                log::warn!("cannot list interfaces: {err}");
                return None;
            }
        };
        let wanted = listen::endpoints(&ifaces, &self.policy, self.port);
        let changes = listen::changes(self.iter().map(|l| &l.endpoint), &wanted);
        let mut moved = Moved::default();
        for ep in changes.close {
            if !ep.drop {
                moved.removed.push(ep.addr.ip());
            }
            self.close(&ep, registry);
        }
        for ep in changes.open {
            let answering = (!ep.drop).then(|| ep.addr.ip());
            if self.open(ep, Some(registry)) {
                moved.added.extend(answering);
            }
        }
        self.join_on(&moved.added);
        Some(moved)
    }

    /// Binds `ep` in the first free slot (registering it when the poll runs already);
    /// true if it is open. The number is taken even when the bind fails, as classic's.
    fn open(&mut self, ep: Endpoint, registry: Option<&Registry>) -> bool {
        let number = self.numbered;
        self.numbered += 1;
        let socket = match udp::bind(ep.addr) {
            Ok(socket) => socket,
            Err(err) => {
                // EADDRNOTAVAIL while an address settles: the next scan tries again.
                log::warn!("bind() to {} failed: {err}", ep.addr);
                return false;
            }
        };
        let slot = self
            .slots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.slots.len());
        if let Some(registry) = registry {
            let source = &mut SourceFd(&socket.as_raw_fd());
            if let Err(err) = registry.register(source, Token(slot), Interest::READABLE) {
                log::warn!("cannot poll the socket of {}: {err}", ep.addr);
                return false;
            }
        }
        let how = if ep.drop {
            "Listen and drop"
        } else {
            "Listen normally"
        };
        log::info!(
            "{how} on {number} {} {} UDP {}",
            ep.interface,
            ep.addr.ip(),
            ep.addr.port()
        );
        let listener = Listener::new(socket, ep, number);
        match self.slots.get_mut(slot) {
            Some(free) => *free = Some(listener),
            None => self.slots.push(Some(listener)),
        }
        true
    }

    /// Takes the socket of `ep` out of the poll, closes it and logs its counters.
    fn close(&mut self, ep: &Endpoint, registry: &Registry) {
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|l| l.endpoint == *ep))
        else {
            return;
        };
        let Some(l) = slot.take() else {
            return;
        };
        if let Err(err) = registry.deregister(&mut SourceFd(&l.socket.as_raw_fd())) {
            log::debug!("deregister {}: {err}", ep.addr);
        }
        log::info!(
            "Deleting interface #{} {}, {}#{}, interface stats: received={}, sent={}, dropped={}, active_time={} secs",
            l.number,
            ep.interface,
            ep.addr.ip(),
            ep.addr.port(),
            l.received,
            l.sent,
            l.dropped,
            l.opened.elapsed().as_secs()
        );
    }
}
