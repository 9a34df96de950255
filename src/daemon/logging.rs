//! Where the daemon's log goes: stderr in the foreground (-n), otherwise the `logfile` /
//! `-l` file, otherwise syslog (facility daemon, ident "ntpd[PID]"), as classic ntpd does.
//! Every logger drops the lines of classic's NLOG classes that `logconfig` leaves out
//! ([`LogMask`]; by default only the `sync` class is written, as classic's).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::logclass::LogMask;
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

/// A logger that first asks the `logconfig` mask.
struct Filtered<L> {
    inner: L,
    mask: LogMask,
}

impl<L: log::Log> log::Log for Filtered<L> {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        self.mask.allows(metadata.target(), metadata.level()) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if self.mask.allows(record.target(), record.level()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

fn install<L: log::Log + 'static>(inner: L, mask: LogMask) -> bool {
    log::set_boxed_logger(Box::new(Filtered { inner, mask })).is_ok()
}

/// Where syslog listens.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// Where the log goes and what it holds.
pub struct LogSetup<'a> {
    pub foreground: bool,
    pub logfile: Option<&'a Path>,
    pub debug: u8,
    /// Replaces /dev/log.
    pub syslog_socket: Option<&'a Path>,
    /// `logconfig`: which NLOG classes are written.
    pub mask: LogMask,
}

/// Sets up logging once at start. `RUST_LOG` overrides the level in the foreground.
pub fn init(setup: &LogSetup<'_>) {
    let LogSetup {
        foreground,
        logfile,
        debug,
        syslog_socket,
        mask,
    } = *setup;
    if let Some(path) = logfile {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => {
                let logger = FileLogger {
                    file: Mutex::new(file),
                };
                if install(logger, mask) {
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
        let logger = env_logger::Builder::new()
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
            .build();
        let level = logger.filter();
        if install(logger, mask) {
            match std::env::var_os("RUST_LOG") {
                Some(_) => log::set_max_level(level),
                None => set_debug_level(debug),
            }
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
    if install(logger, mask) {
        set_debug_level(debug);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the messages it is given.
    #[derive(Default)]
    struct Kept(Mutex<Vec<String>>);

    impl log::Log for Kept {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
        fn flush(&self) {}
    }

    #[test]
    fn logconfig_mask_drops_the_classes_it_leaves_out() {
        use crate::logclass::{PEER_EVENTS, SYNC_EVENTS, SYNC_STATUS};
        use log::Log;
        let logger = Filtered {
            inner: Kept::default(),
            mask: LogMask::from_items(&["-syncstatus"]),
        };
        let lines = [
            (SYNC_EVENTS, log::Level::Info, "time reset +0.5 s"),
            (
                SYNC_STATUS,
                log::Level::Info,
                "synchronized to LOCAL(0), stratum 10",
            ),
            (
                PEER_EVENTS,
                log::Level::Info,
                "a.example association 1 mobilized",
            ),
            (PEER_EVENTS, log::Level::Warn, "a.example: not used"),
            (
                "ntp6::daemon::run",
                log::Level::Info,
                "Listen normally on 2 lo",
            ),
        ];
        for (target, level, text) in lines {
            logger.log(
                &log::Record::builder()
                    .target(target)
                    .level(level)
                    .args(format_args!("{text}"))
                    .build(),
            );
        }
        assert_eq!(
            *logger.inner.0.lock().unwrap(),
            [
                "time reset +0.5 s",
                "a.example: not used",
                "Listen normally on 2 lo"
            ]
        );
    }

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
