//! The one calendar (proleptic Gregorian: civil dates <-> days, day of the year, Modified
//! Julian Days) and classic 4.2.6p5's number and date renderings, so our lines match
//! character for character: `lfptoa`/`fptoa` (fixed point, rounded half up, a `-` even on
//! a value that rounds to zero), `prettydate` for ntpdate's `-d` dump and ntpq's dates,
//! `humanlogtime` for the log prefix. Used by ntpdate, ntpq, stats, rtc, the leap file,
//! the engine's records and the daemon's log. Local time comes in as a UTC offset (see
//! `sys::localtime`) so this stays pure.

use crate::time::{NtpDuration, NtpTimestamp, UNIX_EPOCH_NTP_SECS};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Modified Julian Day of 1900-01-01, the NTP prime epoch.
const MJD_1900: i64 = 15_020;

/// A signed 32.32 value with `decimals` digits, rounded half up on the magnitude, as
/// classic's `lfptoa` (and `fptoa`/`ufptoa`, whose 16.16 values we keep widened to 32.32).
pub fn fixed(value: NtpDuration, decimals: u32) -> String {
    let bits = value.to_bits();
    let scale = 10u128.pow(decimals);
    let magnitude = u128::from(bits.unsigned_abs());
    let scaled = (magnitude * scale + (1 << 31)) >> 32;
    let sign = if bits < 0 { "-" } else { "" };
    let (int, frac) = (scaled / scale, scaled % scale);
    format!("{sign}{int}.{frac:0width$}", width = decimals as usize)
}

/// Broken-down civil time (proleptic Gregorian) of Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 0-based month.
    pub month: usize,
    pub day: u32,
    pub weekday: usize,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// From Unix seconds (any sign), after adding the local UTC offset.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Days-to-civil over 400-year eras (Howard Hinnant's public-domain algorithm,
        // counted from 0000-03-01 so the leap day ends a year).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 2 } else { mp - 10 } as usize;
        let year = yoe + era * 400 + i64::from(month <= 1);
        Civil {
            year,
            month,
            day,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// `2026-11-21 03:45:14` with `separator` between date and time (`T` for ISO 8601).
    pub fn date_time(&self, separator: char) -> String {
        format!(
            "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
            self.year,
            self.month + 1,
            self.day,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// Days from 1970-01-01 to `year`-`month`-`day` (0-based month): the inverse of
/// [`Civil::from_unix`]'s date part, same algorithm.
pub fn days_from_civil(year: i64, month: usize, day: u32) -> i64 {
    let m = month as i64 + 1;
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Day of the year of Unix time `unix`, 1 for January 1st.
pub fn day_of_year(unix: i64) -> i64 {
    let year = Civil::from_unix(unix).year;
    unix.div_euclid(86_400) - days_from_civil(year, 0, 1) + 1
}

/// The Modified Julian Day of `t` (UTC, classic's era window) and the seconds past its
/// midnight, as statistics lines begin.
pub fn mjd(t: NtpTimestamp) -> (i64, i64) {
    let ntp = t.to_unix().0 + UNIX_EPOCH_NTP_SECS as i64;
    (ntp.div_euclid(86_400) + MJD_1900, ntp.rem_euclid(86_400))
}

/// The local civil time of `now`, `utc_offset` seconds east of UTC.
fn local(now: NtpTimestamp, utc_offset: i64) -> Civil {
    Civil::from_unix(now.to_unix().0 + utc_offset)
}

/// `21 Nov 02:33:50`: the prefix classic puts before `ntpdate[PID]: ` when not logging to
/// syslog (day of month space-padded).
pub fn log_time(now: NtpTimestamp, utc_offset: i64) -> String {
    let c = local(now, utc_offset);
    format!(
        "{:2} {} {:02}:{:02}:{:02}",
        c.day, MONTHS[c.month], c.hour, c.minute, c.second
    )
}

/// `Nov 21 02:44:01`: the timestamp of a syslog datagram (RFC 3164; day of month
/// space-padded).
pub fn syslog_time(now: NtpTimestamp, utc_offset: i64) -> String {
    let c = local(now, utc_offset);
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[c.month], c.day, c.hour, c.minute, c.second
    )
}

/// `eeab84d8.5a546ad7  Sat, Nov 21 2026  2:47:52.352`. Like 4.2.6p5, the seconds are read
/// in era 0 (1900-2036), so a zero timestamp shows as 1 Jan 1900; milliseconds truncate.
pub fn pretty_date(ts: NtpTimestamp, utc_offset: i64) -> String {
    let secs = i64::from(ts.seconds()) - UNIX_EPOCH_NTP_SECS as i64;
    let c = Civil::from_unix(secs + utc_offset);
    let millis = (u64::from(ts.fraction()) * 1000) >> 32;
    format!(
        "{:08x}.{:08x}  {}, {} {:2} {:4} {:2}:{:02}:{:02}.{:03}",
        ts.seconds(),
        ts.fraction(),
        DAYS[c.weekday],
        MONTHS[c.month],
        c.day,
        c.year,
        c.hour,
        c.minute,
        c.second,
        millis
    )
}

/// `Sun Dec  6 01:23:45 2026`: C's ctime(3) without its newline, local time.
pub fn ctime(unix_secs: i64, utc_offset: i64) -> String {
    let c = Civil::from_unix(unix_secs + utc_offset);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[c.weekday], MONTHS[c.month], c.day, c.hour, c.minute, c.second, c.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_like_lfptoa() {
        let d = |s: f64| NtpDuration::from_secs_f64(s);
        assert_eq!(fixed(d(-0.691491), 6), "-0.691491");
        assert_eq!(fixed(d(0.000017), 6), "0.000017");
        assert_eq!(fixed(d(-0.0000001), 6), "-0.000000");
        assert_eq!(fixed(d(0.0256651), 5), "0.02567");
        assert_eq!(fixed(d(64.0), 5), "64.00000");
        assert_eq!(fixed(NtpDuration::ZERO, 5), "0.00000");
        assert_eq!(fixed(d(-3.0000004), 6), "-3.000000");
    }

    #[test]
    fn dates_as_in_the_captures() {
        let ts = NtpTimestamp::from_bits(0xeeab_84d8_5a54_6ad7);
        assert_eq!(
            pretty_date(ts, 0),
            "eeab84d8.5a546ad7  Sat, Nov 21 2026  2:47:52.352"
        );
        assert_eq!(
            pretty_date(NtpTimestamp::ZERO, 0),
            "00000000.00000000  Mon, Jan  1 1900  0:00:00.000"
        );
        let ts = NtpTimestamp::from_bits(0xeeab_85f9_f9dd_8368);
        assert_eq!(log_time(ts, 0), "21 Nov 02:52:41");
        let aug2 = NtpTimestamp::from_unix(1_785_652_611, 0);
        assert_eq!(log_time(aug2, 0), " 2 Aug 06:36:51");
        assert_eq!(
            Civil::from_unix(1_795_232_714).date_time(' '),
            "2026-11-21 03:45:14"
        );
        assert_eq!(syslog_time(aug2, 3600), "Aug  2 07:36:51");
        assert_eq!(ctime(1_785_652_611, 3600), "Sun Aug  2 07:36:51 2026");
    }

    #[test]
    fn days_and_civil_dates_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let c = Civil::from_unix(days * 86_400);
            assert_eq!(days_from_civil(c.year, c.month, c.day), days, "{c:?}");
        }
        assert_eq!(days_from_civil(1900, 0, 1), -25_567);
        assert_eq!(days_from_civil(2000, 1, 29), 11_016);
        // 2026-01-01 is day 1, 2024-12-31 (a leap year) day 366.
        assert_eq!(day_of_year(1_767_225_600), 1);
        assert_eq!(day_of_year(1_767_225_600 - 86_400), 366 - 1);
        assert_eq!(day_of_year(1_735_603_200), 366);
    }

    #[test]
    fn modified_julian_days() {
        assert_eq!(mjd(NtpTimestamp::from_unix(0, 0)), (40_587, 0));
        // 2026-11-21 03:45:13.
        assert_eq!(
            mjd(NtpTimestamp::from_unix(1_795_232_713, 0)),
            (61_365, 13_513)
        );
        // A zero timestamp is read in era 1 (2036-02-07 06:28:16), as classic's window says.
        assert_eq!(mjd(NtpTimestamp::ZERO), (64_730, 23_296));
    }
}
