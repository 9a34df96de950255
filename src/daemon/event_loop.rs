//! The single-threaded mio loop: it only moves bytes and timers. Datagrams go to the
//! engine, replies go back out of the socket they came in on, timer work and signals are
//! carried out here.

use super::driftio;
use super::signals::{Signal, Signals};
use crate::clock::Clock;
use crate::engine::{Action, Datagram, Engine};
use crate::net::udp;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

/// A bound socket and whether what arrives on it is answered.
pub struct Listener {
    pub socket: UdpSocket,
    pub drop: bool,
}

const SIGNALS: Token = Token(usize::MAX);

/// Runs until SIGTERM/SIGINT; returns the signal number that stopped it.
pub fn run<C: Clock>(
    engine: &mut Engine<C>,
    listeners: &[Listener],
    signals: &Signals,
    drift_path: Option<&PathBuf>,
) -> io::Result<i32> {
    let mut poll = Poll::new()?;
    for (i, l) in listeners.iter().enumerate() {
        poll.registry().register(
            &mut SourceFd(&l.socket.as_raw_fd()),
            Token(i),
            Interest::READABLE,
        )?;
    }
    poll.registry().register(
        &mut SourceFd(&signals.as_raw_fd()),
        SIGNALS,
        Interest::READABLE,
    )?;
    let mut events = Events::with_capacity(64);
    let mut buf = [0u8; 2048];
    loop {
        let deadline = engine.next_deadline();
        let timeout = deadline
            .saturating_sub(engine.clock().mono())
            .min(Duration::from_secs(3600));
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            if event.token() == SIGNALS {
                while let Some(signal) = signals.read() {
                    match signal {
                        Signal::Terminate(sig) => return Ok(sig),
                        Signal::Hangup => log::info!("SIGHUP ignored"),
                    }
                }
                continue;
            }
            let Some(listener) = listeners.get(event.token().0) else {
                continue;
            };
            drain(engine, listener, &mut buf);
        }
        if engine.clock().mono() >= engine.next_deadline() {
            if let (Some(Action::WriteDrift(freq)), Some(path)) =
                (engine.handle_timer(), drift_path)
            {
                if let Err(err) = driftio::write(path, freq) {
                    log::warn!("cannot write drift file {}: {err}", path.display());
                }
            }
        }
    }
}

/// Reads every waiting datagram of one socket, answering each that deserves it.
fn drain<C: Clock>(engine: &mut Engine<C>, listener: &Listener, buf: &mut [u8]) {
    loop {
        let received = match udp::recv(&listener.socket, buf) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // ICMP errors surface on later reads and clear themselves; anything else ends
            // this round so a persistent error cannot spin the loop.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue
            }
            Err(e) => {
                log::debug!("recv: {e}");
                return;
            }
        };
        if listener.drop {
            continue;
        }
        let dgram = Datagram {
            bytes: &buf[..received.len],
            source: received.source,
            age: received.age,
        };
        engine.handle_datagram(&dgram, &mut |reply| {
            if let Err(e) = listener.socket.send_to(reply, received.source) {
                log::debug!("send to {}: {e}", received.source);
            }
        });
    }
}
