//! Where the daemon's log goes: stderr in the foreground (-n), otherwise the `logfile` /
//! `-l` file, otherwise syslog (facility daemon, ident "ntpd"), as classic ntpd does.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// A logger writing classic-style lines (`21 Nov 02:44:01 ntpd[26935]: message`) to a file.
struct FileLogger {
    file: Mutex<File>,
    level: log::LevelFilter,
}

impl log::Log for FileLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
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

/// A logger that hands lines to syslog(3).
struct SyslogLogger {
    level: log::LevelFilter,
}

impl log::Log for SyslogLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let priority = match record.level() {
            log::Level::Error => libc::LOG_ERR,
            log::Level::Warn => libc::LOG_WARNING,
            log::Level::Info => libc::LOG_NOTICE,
            log::Level::Debug | log::Level::Trace => libc::LOG_DEBUG,
        };
        let Ok(text) = CString::new(record.args().to_string().replace('\0', " ")) else {
            return;
        };
        // SAFETY: the format is a static "%s" and text a valid C string.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
    }

    fn flush(&self) {}
}

/// `21 Nov 02:44:01`: day, month, time in local time, as classic's log lines begin.
pub fn classic_timestamp() -> String {
    // SAFETY: time/localtime_r write into locals we own.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    format!(
        "{:2} {month} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

fn level_for(debug: u8) -> log::LevelFilter {
    match debug {
        0 => log::LevelFilter::Info,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Sets up logging once at start. `RUST_LOG` overrides the level in the foreground.
pub fn init(foreground: bool, logfile: Option<&Path>, debug: u8) {
    let level = level_for(debug);
    if let Some(path) = logfile {
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => {
                let logger = FileLogger {
                    file: Mutex::new(file),
                    level,
                };
                if log::set_boxed_logger(Box::new(logger)).is_ok() {
                    log::set_max_level(level);
                }
                return;
            }
            Err(err) => eprintln!("ntpd: cannot open log file {}: {err}", path.display()),
        }
    }
    if foreground {
        env_logger::Builder::new()
            .filter_level(level)
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
        return;
    }
    // SAFETY: a static ident; LOG_PID adds [pid] as classic shows.
    unsafe {
        libc::openlog(
            c"ntpd".as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
    if log::set_boxed_logger(Box::new(SyslogLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}
