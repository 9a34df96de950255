//! Where the daemon's log goes: stderr in the foreground (-n), otherwise the `logfile` /
//! `-l` file, otherwise syslog (facility daemon, ident "ntpd[PID]"), as classic ntpd does.
//! `logconfig` is accepted; its event classes are not filtered on (everything is logged).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sys::localtime;
use crate::time::civil;
use crate::time::NtpTimestamp;

/// A logger writing classic-style lines (`21 Nov 02:44:01 ntpd[26935]: message`) to a file.
struct FileLogger {
    file: Mutex<File>,
}

impl log::Log for FileLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "{} ntpd[{}]: {}\n",
            classic_timestamp(),
            std::process::id(),
            record.args()
        );
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// A syslog client: RFC 3164 datagrams (`<29>Nov 21 02:44:01 ntpd[26935]: message`,
/// facility daemon) to /dev/log or the socket `--syslog-socket` names. Written here rather
/// than through syslog(3) so the socket can be a test's own, and so the PID in each line is
/// the current one after the daemon has forked.
struct SyslogLogger {
    socket: UnixDatagram,
    path: PathBuf,
}

impl log::Log for SyslogLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = syslog_datagram(
            record.level(),
            &syslog_timestamp(),
            std::process::id(),
            &record.args().to_string(),
        );
        // Nowhere to report a lost log line; syslog(3) drops them silently too.
        let _ = self.socket.send_to(line.as_bytes(), &self.path);
    }

    fn flush(&self) {}
}

/// One syslog datagram: priority (facility daemon), time, `ntpd[PID]: `, the message.
pub fn syslog_datagram(level: log::Level, timestamp: &str, pid: u32, message: &str) -> String {
    let severity = match level {
        log::Level::Error => libc::LOG_ERR,
        log::Level::Warn => libc::LOG_WARNING,
        log::Level::Info => libc::LOG_NOTICE,
        log::Level::Debug | log::Level::Trace => libc::LOG_DEBUG,
    };
    let priority = libc::LOG_DAEMON | severity;
    format!("<{priority}>{timestamp} ntpd[{pid}]: {message}")
}

/// Now, and the local UTC offset now: log lines show local time, as classic's do.
fn now_local() -> (NtpTimestamp, i64) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let unix = since.as_secs() as i64;
    let now = NtpTimestamp::from_unix(unix, since.subsec_nanos());
    (now, localtime::utc_offset(unix))
}

/// `Nov 21 02:44:01`: the syslog protocol's timestamp, local time.
fn syslog_timestamp() -> String {
    let (now, offset) = now_local();
    civil::syslog_time(now, offset)
}

/// `21 Nov 02:44:01`: day, month, time in local time, as classic's log lines begin.
pub fn classic_timestamp() -> String {
    let (now, offset) = now_local();
    civil::log_time(now, offset)
}

fn level_for(debug: u8) -> log::LevelFilter {
    match debug {
        0 => log::LevelFilter::Info,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Applies classic's debug level (`-d`, SIGUSR1/SIGUSR2): 0 logs info and above, 1 adds
/// debug, 2 and more add trace. The loggers filter on log's max level alone, so this
/// takes effect at once whichever logger is in use.
pub fn set_debug_level(debug: u8) {
    log::set_max_level(level_for(debug));
}

/// Where syslog listens.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// Sets up logging once at start. `RUST_LOG` overrides the level in the foreground;
/// `syslog_socket` replaces /dev/log.
pub fn init(foreground: bool, logfile: Option<&Path>, debug: u8, syslog_socket: Option<&Path>) {
    if let Some(path) = logfile {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => {
                let logger = FileLogger {
                    file: Mutex::new(file),
                };
                if log::set_boxed_logger(Box::new(logger)).is_ok() {
                    set_debug_level(debug);
                }
                return;
            }
            Err(err) => eprintln!("ntpd: cannot open log file {}: {err}", path.display()),
        }
    }
    if foreground {
        // env_logger lets everything through and log's max level decides, so the debug
        // level can change at run time; RUST_LOG, when set, filters as it says.
        env_logger::Builder::new()
            .filter_level(log::LevelFilter::Trace)
            .parse_default_env()
            .format(|buf, record| {
                writeln!(
                    buf,
                    "{} ntpd[{}]: {}",
                    classic_timestamp(),
                    std::process::id(),
                    record.args()
                )
            })
            .init();
        if std::env::var_os("RUST_LOG").is_none() {
            set_debug_level(debug);
        }
        return;
    }
    let path = syslog_socket.unwrap_or(Path::new(DEFAULT_SYSLOG_SOCKET));
    let socket = match UnixDatagram::unbound() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("ntpd: cannot create a syslog socket: {err}");
            return;
        }
    };
    // A wedged syslog daemon must not stall the time service.
    let _ = socket.set_write_timeout(Some(Duration::from_secs(1)));
    let logger = SyslogLogger {
        socket,
        path: path.to_path_buf(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        set_debug_level(debug);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_datagrams_carry_facility_daemon_and_the_pid() {
        let line = syslog_datagram(
            log::Level::Info,
            "Nov 21 02:44:01",
            4242,
            "ntpd exiting on signal 15",
        );
        assert_eq!(
            line,
            "<29>Nov 21 02:44:01 ntpd[4242]: ntpd exiting on signal 15"
        );
        assert!(syslog_datagram(log::Level::Error, "t", 1, "x").starts_with("<27>"));
        assert!(syslog_datagram(log::Level::Warn, "t", 1, "x").starts_with("<28>"));
    }
}
