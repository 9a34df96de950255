//! The servers under test: how to find, configure and start each one.
//!
//! Every server runs pinned to its own core, under `setpriv --bounding-set -sys_time` (so
//! it can never set this machine's clock), in the network namespace the bench re-executed
//! itself into, with a private temporary directory for its config, drift and pid files.
//! A server dies with the bench (PR_SET_PDEATHSIG) and is killed by PID when dropped.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Reflector,
    Ours,
    Chrony,
    Ntpsec,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Reflector, Kind::Ours, Kind::Chrony, Kind::Ntpsec];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Reflector => "reflector",
            Kind::Ours => "ours",
            Kind::Chrony => "chrony",
            Kind::Ntpsec => "ntpsec",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Where the server binaries are; each may be overridden from the command line.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub ours: PathBuf,
    pub chronyd: PathBuf,
    pub ntpsec: PathBuf,
}

impl Binaries {
    /// The project's release build, chrony as extracted by scripts/install-test-deps.sh,
    /// NTPsec from its Debian package.
    pub fn defaults(repo: &Path) -> Binaries {
        Binaries {
            ours: repo.join("target/release/ntpd"),
            chronyd: repo.join(".peers/chrony/usr/sbin/chronyd"),
            ntpsec: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/.peers/ntpsec/usr/sbin/ntpd"
            )),
        }
    }
}

/// A running server; killed and reaped on drop.
pub struct Server {
    child: Child,
    pub pid: u32,
    dir: PathBuf,
}

impl Server {
    /// Starts `kind` on `core`, with `extra` arguments after its own. The reflector is this
    /// bench binary run with `--reflector`. `monitor`: our ntpd keeps its MRU list (the
    /// default, for the memory phase) instead of `disable monitor`.
    pub fn start(
        kind: Kind,
        bins: &Binaries,
        core: usize,
        extra: &[&str],
        monitor: bool,
    ) -> Result<Server, String> {
        let dir =
            std::env::temp_dir().join(format!("ntp-bench-{}-{}", std::process::id(), kind.name()));
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (program, args) = command_line(kind, bins, &dir, monitor)?;
        let log = fs::File::create(dir.join("output.log")).map_err(|e| e.to_string())?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new("taskset");
        command
            .arg("-c")
            .arg(core.to_string())
            .args(["setpriv", "--bounding-set", "-sys_time"])
            .arg(&program)
            .args(&args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // SAFETY: prctl is async-signal-safe; the child only calls it before exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        let pid = child.id();
        Ok(Server { child, pid, dir })
    }

    /// The server's own output so far (for error reports).
    pub fn output(&self) -> String {
        let text = fs::read_to_string(self.dir.join("output.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// True while the process is alive.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the PID is our own child, not yet
        // reaped, so it cannot have been reused.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                let _ = fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Program and arguments for `kind`, writing its configuration into `dir`.
fn command_line(
    kind: Kind,
    bins: &Binaries,
    dir: &Path,
    monitor: bool,
) -> Result<(PathBuf, Vec<String>), String> {
    let conf = dir.join("server.conf");
    let path = |name: &str| dir.join(name).display().to_string();
    let (program, text, args) = match kind {
        Kind::Reflector => {
            let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            return Ok((me, vec!["--reflector".into()]));
        }
        Kind::Ours => (
            bins.ours.clone(),
            format!(
                "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n{}driftfile {}\n",
                if monitor { "" } else { "disable monitor\n" },
                path("ntp.drift")
            ),
            vec!["-n".into(), "-c".into()],
        ),
        Kind::Chrony => (
            bins.chronyd.clone(),
            format!(
                "allow all\nlocal stratum 10\ncmdport 0\nbindcmdaddress /\npidfile {}\ndriftfile {}\n",
                path("chronyd.pid"),
                path("chrony.drift")
            ),
            // -x: never touch the clock; -u root: the Debian default user may not exist here.
            vec!["-d".into(), "-x".into(), "-u".into(), "root".into(), "-f".into()],
        ),
        Kind::Ntpsec => (
            bins.ntpsec.clone(),
            format!(
                // Orphan mode: with `disable ntp` its LOCAL driver never synchronises. NTPsec
                // 1.2 rate-limits every client address by default (a burst of 20, then
                // silence), even without `restrict limited`: `limit` lifts that.
                "tos orphan 10 orphanwait 1\ndisable ntp\nlimit average 1000000 burst 1000000\n\
                 driftfile {}\nlogfile {}\n",
                path("ntp.drift"),
                path("ntpd.log")
            ),
            vec!["-n".into(), "-c".into()],
        ),
    };
    if !program.exists() {
        return Err(format!("{} not found", program.display()));
    }
    fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
    let mut args = args;
    args.push(conf.display().to_string());
    Ok((program, args))
}

/// The trivial reflector: answers each datagram by turning it into a stratum 1, mode 4
/// packet whose origin is the request's transmit timestamp, with one recv_from and one send_to. This is
/// the cost floor of any UDP server on this machine.
pub fn run_reflector() -> Result<(), String> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:123").map_err(|e| format!("bind :123: {e}"))?;
    let mut buffer = [0u8; 1024];
    loop {
        let (len, peer) = socket.recv_from(&mut buffer).map_err(|e| e.to_string())?;
        if len >= 48 {
            buffer[0] = (buffer[0] & 0xf8) | 4;
            buffer[1] = 1;
            buffer.copy_within(40..48, 24);
        }
        let _ = socket.send_to(&buffer[..len], peer);
    }
}
