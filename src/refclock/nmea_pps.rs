//! NMEA with `flag1`: the pulse from the receiver's own serial line (classic
//! refclock_nmea.c with the PPSAPI lit). On Linux that pulse is a /dev/ppsN made by the
//! PPS line discipline on the tty (`ldattach PPS /dev/ttyS0`, or gpsd doing it), and
//! /sys/class/pps/ppsN/path names that tty. The sentence numbers the second; the pulse
//! says where it began. The device module finds and reads the device; this is the logic.

use crate::refclock::pps::CAPTURE_RANGE_SECS;
use crate::time::{NtpDuration, NtpTimestamp};

/// Classic's first choice for unit `unit`'s pulse device (refclock_nmea.c's PPSDEV).
pub fn classic_device(unit: u8) -> String {
    format!("/dev/gpspps{unit}")
}

/// Of the PPS devices as `(name, contents of /sys/class/pps/NAME/path)`, the /dev path of
/// the one fed by `tty` (the NMEA device with its symbolic links resolved, as the sysfs
/// file names the tty itself, e.g. /dev/ttyS0 for /dev/gps0).
pub fn device_for_tty<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    tty: &str,
) -> Option<String> {
    entries
        .into_iter()
        .find(|(_, path)| !path.trim().is_empty() && path.trim() == tty)
        .map(|(name, _)| format!("/dev/{name}"))
}

/// The offset of a sentence refined by its pulse: the sentence names `second` (when the
/// second began, by the receiver), the pulse was captured at `edge` (our clock), both
/// received by `now`. The second is the sentence's, the fraction the pulse's; None when
/// the pulse cannot be this second's (older than a second, or further from the named
/// second than classic's 0.4 s capture range), and the serial time is used alone.
pub fn refined_offset(
    second: NtpTimestamp,
    edge: NtpTimestamp,
    now: NtpTimestamp,
) -> Option<NtpDuration> {
    let age = (now - edge).to_secs_f64();
    let offset = second - edge;
    ((0.0..1.0).contains(&age) && offset.to_secs_f64().abs() < CAPTURE_RANGE_SECS).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pps_device_is_the_one_whose_sysfs_path_names_the_tty() {
        let sysfs = [
            ("pps0", "\n"),
            ("pps1", "/dev/ttyS1\n"),
            ("pps2", "/dev/ttyS0\n"),
        ];
        assert_eq!(
            device_for_tty(sysfs, "/dev/ttyS0").as_deref(),
            Some("/dev/pps2")
        );
        assert_eq!(device_for_tty(sysfs, "/dev/ttyUSB0"), None);
        // pps-gpio and pps-ktimer devices have an empty path: never a tty's.
        assert_eq!(device_for_tty(sysfs, ""), None);
        assert_eq!(classic_device(1), "/dev/gpspps1");
    }

    #[test]
    fn the_sentence_gives_the_second_and_the_pulse_the_fraction() {
        let second = NtpTimestamp::from_unix(1_800_000_000, 0);
        // Our clock 3.25 ms fast: the pulse of that second reads .003250, the sentence
        // arrives 180 ms later (whatever the serial delay, only the pulse counts).
        let edge = NtpTimestamp::from_unix(1_800_000_000, 3_250_000);
        let now = NtpTimestamp::from_unix(1_800_000_000, 183_250_000);
        let offset = refined_offset(second, edge, now).unwrap();
        assert!((offset.to_secs_f64() + 0.003_25).abs() < 1e-9, "{offset:?}");
        // 200 ms slow: the pulse of the second reads .8 of the second before.
        let edge = NtpTimestamp::from_unix(1_799_999_999, 800_000_000);
        let offset = refined_offset(second, edge, now).unwrap();
        assert!((offset.to_secs_f64() - 0.2).abs() < 1e-9, "{offset:?}");
    }

    #[test]
    fn a_stale_or_distant_pulse_is_not_used() {
        let second = NtpTimestamp::from_unix(1_800_000_000, 0);
        let now = NtpTimestamp::from_unix(1_800_000_000, 500_000_000);
        // The pulse before last (the receiver lost its pulse output).
        let stale = NtpTimestamp::from_unix(1_799_999_999, 1_000);
        assert_eq!(refined_offset(second, stale, now), None);
        // Half a second from the named second: which second it marks is not known.
        let far = NtpTimestamp::from_unix(1_800_000_000, 450_000_000);
        assert_eq!(refined_offset(second, far, now), None);
        // A pulse after the sentence was received cannot be read yet.
        let future = NtpTimestamp::from_unix(1_800_000_000, 600_000_000);
        assert_eq!(refined_offset(second, future, now), None);
    }
}
