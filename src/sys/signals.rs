//! The signals classic ntpd acts on, as a file descriptor (signalfd), so the single-threaded
//! loop sees them as ordinary events and no signal handler or global flag is needed.
//!
//! Every signal whose default action would end the daemon without its clean stop (drift
//! file written, pid file removed) is taken care of here: TERM, INT and QUIT end it
//! cleanly; USR1 and USR2 raise and lower the debug level (classic's `moredebug` and
//! `lessdebug`); HUP and ALRM are logged and ignored. A stray `kill -ALRM` must not stop
//! time service. PIPE is ignored outright (SIG_IGN, as classic): a write to a closed
//! stderr raises it, and logging it would write there again, for ever.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A signal the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// TERM, INT or QUIT (the number): stop cleanly.
    Terminate(i32),
    /// USR1: one debug level more.
    MoreDebug,
    /// USR2: one debug level less.
    LessDebug,
    /// HUP or ALRM (the number): noted, nothing else.
    Ignored(i32),
}

impl Signal {
    /// What a received signal number means.
    pub fn of(number: i32) -> Signal {
        match number {
            libc::SIGUSR1 => Signal::MoreDebug,
            libc::SIGUSR2 => Signal::LessDebug,
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => Signal::Terminate(number),
            other => Signal::Ignored(other),
        }
    }
}

/// The signals taken through the descriptor.
const HANDLED: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGHUP,
    libc::SIGALRM,
];

/// The blocked signals, readable through a non-blocking signalfd.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in HANDLED {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

impl Signals {
    /// Blocks the signals for this process and opens the signalfd. Must run before any
    /// thread starts (the resolver thread inherits the mask, so no signal lands there).
    pub fn new() -> io::Result<Signals> {
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        let set = signal_set();
        // SAFETY: valid set pointer; blocking signals in the only thread.
        if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: valid set; the returned fd is owned below.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Signals {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The next pending signal, if any.
    pub fn read(&self) -> Option<Signal> {
        // SAFETY: signalfd_siginfo is plain data; read fills at most its size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: the buffer is a live signalfd_siginfo of `size` octets.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n != size as isize {
            return None;
        }
        Some(Signal::of(info.ssi_signo as i32))
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_meanings() {
        assert_eq!(Signal::of(libc::SIGUSR1), Signal::MoreDebug);
        assert_eq!(Signal::of(libc::SIGUSR2), Signal::LessDebug);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
            assert_eq!(Signal::of(sig), Signal::Terminate(sig));
        }
        for sig in [libc::SIGHUP, libc::SIGALRM] {
            assert_eq!(Signal::of(sig), Signal::Ignored(sig));
        }
    }
}
