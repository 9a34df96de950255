//! Keeping the hardware clock (RTC) in step, as Red Hat's `SYNC_HWCLOCK=yes` asks: after a
//! successful ntpdate and when ntpd stops, the time of the clock in use is written to the
//! RTC. (While ntpd is synchronised the kernel's 11-minute mode does the same: the engine
//! reports sync through `Clock::set_status`, which clears STA_UNSYNC.)
//!
//! How the time gets there depends on what the device path names:
//! - a character device (`/dev/rtc`): the RTC_SET_TIME ioctl, in UTC unless /etc/adjtime's
//!   third line says LOCAL (the convention `hwclock` uses);
//! - a regular file (a stand-in for tests and dry runs): the broken-down time as one line of
//!   text, `2026-11-21 03:45:14 UTC` (or `... LOCAL`), replacing the file's contents;
//! - nothing that can be opened: `hwclock --systohc`, which writes the *system* time.
//!
//! The device is opened when the program starts, while it is still root: after `-u`/`-U`
//! drop privileges, /dev/rtc can no longer be opened (the ioctl itself needs CAP_SYS_TIME,
//! which ntpd keeps). On a virtual clock only an explicitly named `--rtc-device` is ever
//! written, and `hwclock` is never run, so a test can never touch the real RTC.

use crate::clock::Clock;
use crate::sys::localtime::utc_offset;
use crate::sys::rtc::set_time;
use crate::sysconfig::Sysconfig;
use crate::time::civil::Civil;
use crate::time::NtpTimestamp;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where SYNC_HWCLOCK is looked for by default: RHEL6 keeps it in the ntpdate file, RHEL5
/// (and many guides) in the ntpd file; `yes` in either turns the RTC writes on.
pub const SYSCONFIG_FILES: [&str; 2] = ["/etc/sysconfig/ntpd", "/etc/sysconfig/ntpdate"];
pub const DEFAULT_DEVICE: &str = "/dev/rtc";
pub const DEFAULT_ADJTIME: &str = "/etc/adjtime";

/// The command-line knobs (`--sysconfig FILE`, repeatable; `--rtc-device PATH`;
/// `--adjtime PATH`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtcOptions {
    /// Replaces [`SYSCONFIG_FILES`] when not empty.
    pub sysconfig: Vec<PathBuf>,
    pub device: Option<PathBuf>,
    pub adjtime: Option<PathBuf>,
}

/// Whether the RTC keeps UTC or local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcScale {
    Utc,
    Local,
}

/// /etc/adjtime's third line is `UTC` or `LOCAL`; anything else (or no file) means UTC.
pub fn adjtime_scale(text: &str) -> RtcScale {
    match text.lines().nth(2).map(str::trim) {
        Some("LOCAL") => RtcScale::Local,
        _ => RtcScale::Utc,
    }
}

/// The broken-down time written to the RTC for Unix seconds `unix` (already shifted to
/// local time for a LOCAL RTC).
pub fn rtc_text(unix: i64, scale: RtcScale) -> String {
    let c = Civil::from_unix(unix);
    let zone = match scale {
        RtcScale::Utc => "UTC",
        RtcScale::Local => "LOCAL",
    };
    format!("{} {zone}", c.date_time(' '))
}

/// `SYNC_HWCLOCK=yes` in any of `files` (missing files are skipped, odd lines logged).
pub fn sync_requested(files: &[PathBuf]) -> bool {
    let mut yes = false;
    for path in files {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let (vars, errors) = Sysconfig::parse(&text);
        for e in errors {
            log::warn!("{}:{e}", path.display());
        }
        yes |= vars.sync_hwclock() == Some(true);
    }
    yes
}

enum Target {
    Device(File),
    TextFile(File),
    Hwclock,
}

/// An RTC ready to be written.
pub struct Rtc {
    target: Target,
    path: PathBuf,
    scale: RtcScale,
}

impl Rtc {
    /// Reads SYNC_HWCLOCK and, when it says yes, opens the RTC now (see the module notes).
    /// `virtual_clock`: the program runs on a virtual clock.
    pub fn prepare(opts: &RtcOptions, virtual_clock: bool) -> Option<Rtc> {
        let files: Vec<PathBuf> = if opts.sysconfig.is_empty() {
            SYSCONFIG_FILES.iter().map(PathBuf::from).collect()
        } else {
            opts.sysconfig.clone()
        };
        if !sync_requested(&files) {
            return None;
        }
        let path = match (&opts.device, virtual_clock) {
            (Some(p), _) => p.clone(),
            (None, false) => PathBuf::from(DEFAULT_DEVICE),
            (None, true) => {
                log::info!("SYNC_HWCLOCK=yes ignored on a virtual clock without --rtc-device");
                return None;
            }
        };
        let adjtime = opts
            .adjtime
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ADJTIME));
        let scale = fs::read_to_string(adjtime).map_or(RtcScale::Utc, |t| adjtime_scale(&t));
        let target = match open(&path) {
            Ok(t) => t,
            Err(err) if virtual_clock => {
                log::error!(
                    "cannot open RTC {}: {err}; it will not be set",
                    path.display()
                );
                return None;
            }
            Err(err) => {
                log::warn!(
                    "cannot open RTC {}: {err}; will use 'hwclock --systohc'",
                    path.display()
                );
                Target::Hwclock
            }
        };
        Some(Rtc {
            target,
            path,
            scale,
        })
    }

    /// Sets the RTC to `clock`'s time at the next whole second; returns what was written.
    pub fn write(&mut self, clock: &dyn Clock) -> Result<String, String> {
        let wait = (u64::from(u32::MAX - clock.now().fraction()) * 1_000_000_000) >> 32;
        std::thread::sleep(Duration::from_nanos(wait));
        let unix = rounded_unix(clock.now());
        let shifted = match self.scale {
            RtcScale::Utc => unix,
            RtcScale::Local => unix + utc_offset(unix),
        };
        let text = rtc_text(shifted, self.scale);
        let fail = |e: io::Error| format!("cannot set RTC {}: {e}", self.path.display());
        match &mut self.target {
            Target::Device(file) => set_time(file, &Civil::from_unix(shifted)).map_err(fail)?,
            Target::TextFile(file) => {
                file.set_len(0).map_err(fail)?;
                file.rewind().map_err(fail)?;
                file.write_all(format!("{text}\n").as_bytes())
                    .map_err(fail)?;
            }
            Target::Hwclock => return hwclock(),
        }
        Ok(format!("RTC {} set to {text}", self.path.display()))
    }
}

fn rounded_unix(t: NtpTimestamp) -> i64 {
    let (secs, nanos) = t.to_unix();
    secs + i64::from(nanos >= 500_000_000)
}

fn open(path: &Path) -> io::Result<Target> {
    let file = OpenOptions::new().write(true).open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_char_device() {
        Ok(Target::Device(file))
    } else if kind.is_file() {
        Ok(Target::TextFile(file))
    } else {
        Err(io::Error::other("neither an RTC device nor a regular file"))
    }
}

fn hwclock() -> Result<String, String> {
    match Command::new("hwclock").arg("--systohc").status() {
        Ok(s) if s.success() => Ok("RTC set with 'hwclock --systohc'".to_string()),
        Ok(s) => Err(format!("'hwclock --systohc' failed ({s})")),
        Err(e) => Err(format!("cannot run 'hwclock --systohc': {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualMono, VirtualClock, VirtualClockSpec};
    use crate::time::{NtpDuration, Ppm};

    #[test]
    fn adjtime_third_line_decides() {
        assert_eq!(adjtime_scale("0.0 0 0.0\n0\nLOCAL\n"), RtcScale::Local);
        assert_eq!(adjtime_scale("0.0 0 0.0\n0\nUTC\n"), RtcScale::Utc);
        assert_eq!(adjtime_scale(""), RtcScale::Utc);
        assert_eq!(
            rtc_text(1_795_232_714, RtcScale::Utc),
            "2026-11-21 03:45:14 UTC"
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ntp6-rtc-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn stand_in_file_gets_the_clock_time_only_when_asked() {
        let dir = scratch("standin");
        let (yes, no) = (dir.join("ntpd"), dir.join("ntpdate"));
        fs::write(&yes, "OPTIONS=\"-g\"\nSYNC_HWCLOCK=yes\n").unwrap();
        fs::write(&no, "SYNC_HWCLOCK=no\n").unwrap();
        let device = dir.join("rtc");
        fs::write(&device, "old contents that are longer than the new line\n").unwrap();
        let opts = |files: Vec<PathBuf>| RtcOptions {
            sysconfig: files,
            device: Some(device.clone()),
            adjtime: Some(dir.join("no-adjtime")),
        };
        assert!(Rtc::prepare(&opts(vec![no.clone()]), true).is_none());
        let mut rtc = Rtc::prepare(&opts(vec![no, yes]), true).expect("SYNC_HWCLOCK=yes");
        // 2026-11-21 03:45:13.9 UTC true time, virtual clock 100 s ahead.
        let start = NtpTimestamp::from_unix(1_795_232_713, 900_000_000);
        let spec = VirtualClockSpec {
            offset: NtpDuration::from_secs(100),
            drift: Ppm::ZERO,
        };
        let clock = VirtualClock::new(ManualMono::default(), start, spec);
        let said = rtc.write(&clock).unwrap();
        let written = fs::read_to_string(&device).unwrap();
        assert_eq!(written, "2026-11-21 03:46:54 UTC\n");
        assert!(said.ends_with("set to 2026-11-21 03:46:54 UTC"), "{said}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn virtual_clock_never_falls_back_to_the_real_rtc() {
        let dir = scratch("virtual");
        let yes = dir.join("ntpd");
        fs::write(&yes, "SYNC_HWCLOCK=yes\n").unwrap();
        let mut opts = RtcOptions {
            sysconfig: vec![yes],
            device: None,
            adjtime: None,
        };
        assert!(Rtc::prepare(&opts, true).is_none());
        opts.device = Some(dir.join("missing/rtc"));
        assert!(Rtc::prepare(&opts, true).is_none());
        fs::remove_dir_all(dir).unwrap();
    }
}
