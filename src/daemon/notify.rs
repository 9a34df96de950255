//! systemd's notification protocol (sd_notify(3)) without libsystemd: datagrams to the
//! unix socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//! `READY=1` once serving, `STATUS=` in words whenever it changes, `WATCHDOG=1` at half
//! of `WATCHDOG_USEC` when the watchdog is on, `STOPPING=1` on the way out. Without
//! `NOTIFY_SOCKET` (a forking or hand start) nothing is sent.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The connection to the service manager.
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
    watchdog: Option<Duration>,
    next_watchdog: Duration,
    status: String,
}

impl Notifier {
    /// From the environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`); None when
    /// no service manager listens.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_str()?;
        let to = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(path),
        };
        let to = match to {
            Ok(to) => to,
            Err(e) => {
                log::warn!("NOTIFY_SOCKET {path}: {e}");
                return None;
            }
        };
        let socket = match UnixDatagram::unbound() {
            Ok(s) => s,
            Err(e) => {
                log::warn!("NOTIFY_SOCKET {path}: {e}");
                return None;
            }
        };
        let _ = socket.set_nonblocking(true);
        Some(Notifier {
            socket,
            to,
            watchdog: watchdog_interval(
                std::env::var("WATCHDOG_USEC").ok().as_deref(),
                std::env::var("WATCHDOG_PID").ok().as_deref(),
                std::process::id(),
            ),
            next_watchdog: Duration::ZERO,
            status: String::new(),
        })
    }

    fn send(&self, message: &str) {
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.to) {
            log::debug!("sd_notify {message:?}: {e}");
        }
    }

    /// Serving: `READY=1` with the first status.
    pub fn ready(&mut self, status: &str, now: Duration) {
        self.status = status.to_string();
        self.send(&format!(
            "READY=1\nMAINPID={}\nSTATUS={status}",
            std::process::id()
        ));
        self.next_watchdog = now;
        self.watchdog_tick(now);
    }

    /// A new status, sent only when it differs from the last.
    pub fn status(&mut self, status: &str) {
        if status != self.status {
            self.status = status.to_string();
            self.send(&format!("STATUS={status}"));
        }
    }

    /// Pings the watchdog when due.
    pub fn watchdog_tick(&mut self, now: Duration) {
        if let Some(every) = self.watchdog {
            if now >= self.next_watchdog {
                self.send("WATCHDOG=1");
                self.next_watchdog = now + every;
            }
        }
    }

    /// When the watchdog wants its next ping.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.watchdog.map(|_| self.next_watchdog)
    }

    pub fn stopping(&self, why: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={why}"));
    }
}

/// Half the watchdog timeout (as sd_watchdog_enabled(3) advises), when the watchdog is on
/// and meant for this process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if pid.is_some_and(|p| p.parse::<u32>().ok() != Some(own_pid)) {
        return None;
    }
    let usec: u64 = usec?.parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_at_half_its_timeout_for_this_process_only() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, None, 7), None);
    }

    #[test]
    fn messages_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("ntp6-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut n = Notifier {
            socket: UnixDatagram::unbound().unwrap(),
            to: SocketAddr::from_pathname(&path).unwrap(),
            watchdog: Some(Duration::from_secs(10)),
            next_watchdog: Duration::ZERO,
            status: String::new(),
        };
        let recv = || {
            let mut buf = [0u8; 512];
            let len = listener.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..len]).into_owned()
        };
        n.ready("starting", Duration::from_secs(100));
        let ready = recv();
        assert!(ready.starts_with("READY=1\nMAINPID=") && ready.ends_with("\nSTATUS=starting"));
        assert_eq!(recv(), "WATCHDOG=1");
        n.status("starting");
        n.status("synchronised");
        assert_eq!(recv(), "STATUS=synchronised");
        n.watchdog_tick(Duration::from_secs(105));
        assert_eq!(n.next_deadline(), Some(Duration::from_secs(110)));
        n.watchdog_tick(Duration::from_secs(110));
        assert_eq!(recv(), "WATCHDOG=1");
        n.stopping("exiting on signal 15");
        assert_eq!(recv(), "STOPPING=1\nSTATUS=exiting on signal 15");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
