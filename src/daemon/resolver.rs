//! Host names of `server`/`peer`/`pool` lines, resolved off the event loop as classic's
//! ntp_intres child did: getaddrinfo can block for many seconds when DNS is absent, and
//! time service must not wait for it. A thread resolves, retries failures with back-off,
//! and hands results back through a channel, waking the loop.

use super::settings::NameRequest;
use crate::config::Family;
use mio::Waker;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// First retry delay after a failed lookup, and the longest.
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The receiving end, owned by the event loop.
pub struct Resolver {
    results: Receiver<(NameRequest, Vec<IpAddr>)>,
}

impl Resolver {
    /// Starts resolving `requests` (nothing is started when there are none).
    pub fn start(requests: Vec<NameRequest>, waker: Arc<Waker>) -> Resolver {
        let (tx, rx) = mpsc::channel();
        if !requests.is_empty() {
            let spawned = thread::Builder::new()
                .name("resolver".into())
                .spawn(move || resolve_all(requests, &tx, &waker));
            if let Err(err) = spawned {
                log::error!("cannot start the name resolver: {err}");
            }
        }
        Resolver { results: rx }
    }

    /// Results that have arrived, without waiting.
    pub fn drain(&self) -> Vec<(NameRequest, Vec<IpAddr>)> {
        self.results.try_iter().collect()
    }
}

fn resolve_all(
    mut pending: Vec<NameRequest>,
    tx: &Sender<(NameRequest, Vec<IpAddr>)>,
    waker: &Waker,
) {
    let mut delay = FIRST_RETRY;
    loop {
        let mut failed = Vec::new();
        for request in pending {
            match lookup(&request) {
                Ok(addrs) => {
                    if tx.send((request, addrs)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
                Err(err) => {
                    if delay == FIRST_RETRY {
                        log::warn!(
                            "{}: cannot resolve '{}': {err}; will retry",
                            request.location,
                            request.name
                        );
                    }
                    failed.push(request);
                }
            }
        }
        if failed.is_empty() {
            return;
        }
        pending = failed;
        thread::sleep(delay);
        delay = (delay * 2).min(MAX_RETRY);
    }
}

/// The addresses of one name, in the family the line asked for (`-4`/`-6`).
fn lookup(request: &NameRequest) -> Result<Vec<IpAddr>, String> {
    let found = (request.name.as_str(), 123)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?;
    let mut addrs: Vec<IpAddr> = found
        .map(|s| s.ip())
        .filter(|ip| match request.family {
            Some(Family::V4) => ip.is_ipv4(),
            Some(Family::V6) => ip.is_ipv6(),
            None => true,
        })
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err("no address of the requested family".into());
    }
    Ok(addrs)
}
