//! Process chores of a classic daemon: detaching from the terminal, the pid file.
#![allow(unsafe_code)]

use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The background daemon's promise to its parent: the parent waits, and exits 0 only when
/// [`Detached::ready`] is called (sockets bound, pid file written, privileges dropped), or
/// 1 if the daemon exits first. So `service ntpd start` and systemd's Type=forking see a
/// failed start as a failure, and every log line comes from the daemon's own PID.
#[derive(Debug)]
pub struct Detached {
    notify: Option<fs::File>,
}

impl Detached {
    /// Start-up is complete: lets the waiting parent exit 0.
    pub fn ready(mut self) {
        if let Some(mut pipe) = self.notify.take() {
            let _ = io::Write::write_all(&mut pipe, b"1");
        }
    }
}

/// Forks into the background: the parent waits for the child's word (see [`Detached`]),
/// the child starts a new session and points stdio at /dev/null. Must run before any
/// thread exists (we never start any).
pub fn daemonize() -> io::Result<Detached> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned here.
    let (reader, writer) = unsafe {
        (
            fs::File::from(OwnedFd::from_raw_fd(fds[0])),
            fs::File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    };
    // SAFETY: fork in a single-threaded process.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => drop(reader),
        _ => {
            drop(writer);
            let mut word = [0u8; 1];
            let ok = io::Read::read(&mut &reader, &mut word).is_ok_and(|n| n == 1);
            // SAFETY: the parent only leaves.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
    }
    // SAFETY: plain syscalls on our own process and descriptors.
    unsafe {
        if libc::setsid() == -1 {
            return Err(io::Error::last_os_error());
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
        libc::chdir(c"/".as_ptr());
    }
    Ok(Detached {
        notify: Some(writer),
    })
}

/// A pid file that is removed when dropped (at a clean stop).
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes our PID to `path`; the error names the file.
    pub fn create(path: &Path) -> io::Result<PidFile> {
        fs::write(path, format!("{}\n", std::process::id())).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot write pid file {}: {err}", path.display()),
            )
        })?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// 128 random bits from /dev/urandom for per-start secrets (mrulist nonces, association
/// IDs); falls back to time and pid, which is enough for the IDs.
pub fn random_seed() -> [u64; 2] {
    let mut bytes = [0u8; 16];
    let read =
        fs::File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return [now.as_nanos() as u64, u64::from(std::process::id())];
    }
    let (a, b) = bytes.split_at(8);
    [
        u64::from_ne_bytes(a.try_into().unwrap_or_default()),
        u64::from_ne_bytes(b.try_into().unwrap_or_default()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_error_names_the_file() {
        let err = PidFile::create(Path::new("/nonexistent-dir/ntpd.pid")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write pid file /nonexistent-dir/ntpd.pid: No such file or directory (os error 2)"
        );
    }
}
