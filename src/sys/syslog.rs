//! syslog(3), for ntpdate's `-s`. (ntpd writes its own datagrams to /dev/log, see
//! `daemon::logging`, so a test can give it another socket.)
#![allow(unsafe_code)]

use std::ffi::CString;

/// Syslog priorities classic uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Notice,
    Error,
}

/// Sends one message to syslog as classic's `-s` does: ident `ntpdate`, with the PID,
/// facility LOG_DAEMON (classic's LOG_NTP).
pub fn syslog(priority: Priority, message: &str) {
    let level = match priority {
        Priority::Notice => libc::LOG_NOTICE,
        Priority::Error => libc::LOG_ERR,
    };
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the ident is a static C string (openlog keeps the pointer); "%s" with a
    // valid C string argument.
    unsafe {
        libc::openlog(
            c"ntpdate".as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        );
        libc::syslog(level, c"%s".as_ptr(), text.as_ptr());
    }
}
