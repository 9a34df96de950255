//! Those who watch the daemon from outside, served from the loop: the metrics endpoint
//! (`--metrics`) and the service manager (`NOTIFY_SOCKET`). Both read the engine through
//! [`Engine::metrics`], the same view ntpq has.

use super::metrics_http::MetricsServer;
use super::notify::Notifier;
use crate::clock::Clock;
use crate::engine::Engine;
use crate::metrics;
use mio::{Registry, Token};
use std::io;
use std::time::Duration;

/// How often the systemd status is brought up to date.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

pub struct Observers {
    pub metrics: Option<MetricsServer>,
    pub notify: Option<Notifier>,
    next_status: Duration,
}

impl Observers {
    pub fn new(metrics: Option<MetricsServer>, notify: Option<Notifier>) -> Observers {
        Observers {
            metrics,
            notify,
            next_status: Duration::ZERO,
        }
    }

    /// Registers the metrics listener as `token` (its connections below it).
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match &mut self.metrics {
            Some(m) => m.register(registry, token),
            None => Ok(()),
        }
    }

    pub fn owns(&self, token: Token) -> bool {
        self.metrics.as_ref().is_some_and(|m| m.owns(token))
    }

    /// A readiness event of the metrics endpoint.
    pub fn handle<C: Clock>(&mut self, registry: &Registry, token: Token, engine: &Engine<C>) {
        if let Some(m) = &mut self.metrics {
            m.handle(registry, token, engine.clock().mono(), &mut || {
                metrics::render(&engine.metrics())
            });
        }
    }

    /// The daemon serves: tell the service manager.
    pub fn serving<C: Clock>(&mut self, engine: &Engine<C>) {
        let now = engine.clock().mono();
        if let Some(n) = &mut self.notify {
            n.ready(&metrics::status_line(&engine.metrics()), now);
            self.next_status = now + STATUS_INTERVAL;
        }
    }

    /// Every turn of the loop: connections that timed out, the watchdog, and (once a
    /// second) the status.
    pub fn tick<C: Clock>(&mut self, registry: &Registry, engine: &Engine<C>) {
        let now = engine.clock().mono();
        if let Some(m) = &mut self.metrics {
            m.tick(registry, now);
        }
        if let Some(n) = &mut self.notify {
            n.watchdog_tick(now);
            if now >= self.next_status {
                n.status(&metrics::status_line(&engine.metrics()));
                self.next_status = now + STATUS_INTERVAL;
            }
        }
    }

    /// How long the loop may sleep from `now` without failing anyone here.
    pub fn timeout(&mut self, now: Duration) -> Duration {
        if self.metrics.as_mut().is_some_and(|m| m.busy(now)) {
            return Duration::ZERO;
        }
        let status = self.notify.as_ref().map(|_| self.next_status);
        let watchdog = self.notify.as_ref().and_then(Notifier::next_deadline);
        let connections = self.metrics.as_ref().and_then(MetricsServer::next_deadline);
        [status, watchdog, connections]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::MAX, |d| d.saturating_sub(now))
    }

    /// The daemon stops, for `why`.
    pub fn stopping(&self, why: &str) {
        if let Some(n) = &self.notify {
            n.stopping(why);
        }
    }
}
