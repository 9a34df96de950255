//! The NMEA driver's logic (127.127.20.u, classic refclock_nmea.c): GPRMC, GPGGA, GPGLL and
//! GPZDA sentences (and their GN multi-constellation twins) with their checksums, and the
//! `mode` word: bits 0-3 choose the sentences (none set: all), bits 4-6 the baud rate.

use crate::time::{civil, NtpTimestamp};

/// Sentence selection bits of the `mode` word (classic NMEA_MESSAGE_MASK).
pub const MODE_RMC: u32 = 0x01;
pub const MODE_GGA: u32 = 0x02;
pub const MODE_GLL: u32 = 0x04;
pub const MODE_ZDA: u32 = 0x08;
const MODE_SENTENCES: u32 = 0x0f;
/// The serial speeds of `mode` bits 4-6 (0: 4800, the NMEA 0183 default).
const BAUD_RATES: [u32; 6] = [4800, 9600, 19200, 38400, 57600, 115_200];

/// The serial speed the `mode` word asks for (unknown codes fall back to 4800 as classic).
pub fn baud_rate(mode: u32) -> u32 {
    let code = ((mode >> 4) & 0x7) as usize;
    BAUD_RATES.get(code).copied().unwrap_or(BAUD_RATES[0])
}

/// The sentences the driver understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentence {
    Rmc,
    Gga,
    Gll,
    Zda,
}

impl Sentence {
    fn mode_bit(self) -> u32 {
        match self {
            Sentence::Rmc => MODE_RMC,
            Sentence::Gga => MODE_GGA,
            Sentence::Gll => MODE_GLL,
            Sentence::Zda => MODE_ZDA,
        }
    }

    /// Whether `mode` lets the driver use this sentence.
    pub fn enabled(self, mode: u32) -> bool {
        mode & MODE_SENTENCES == 0 || mode & self.mode_bit() != 0
    }
}

/// A time read from one sentence: UTC time of day, and the date where the sentence has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timecode {
    pub sentence: Sentence,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// (year, month, day).
    pub date: Option<(i64, u32, u32)>,
}

/// Why a line gave no time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmeaError {
    /// The `*hh` checksum does not match the sentence.
    BadChecksum,
    /// Not a sentence, or a field that cannot be read (classic `badformat`).
    BadFormat,
    /// The receiver says its fix is invalid (classic `baddata`).
    NoFix,
}

/// Reads one line. Ok(None): a sentence the driver does not use (other types, or ones
/// `mode` leaves out).
pub fn parse(line: &str, mode: u32) -> Result<Option<Timecode>, NmeaError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let body = line.strip_prefix('$').ok_or(NmeaError::BadFormat)?;
    let body = match body.split_once('*') {
        Some((body, sum)) => {
            let want = u8::from_str_radix(sum.get(..2).ok_or(NmeaError::BadFormat)?, 16)
                .map_err(|_| NmeaError::BadFormat)?;
            if body.bytes().fold(0, |x, b| x ^ b) != want {
                return Err(NmeaError::BadChecksum);
            }
            body
        }
        // Classic accepts a sentence without a checksum.
        None => body,
    };
    let fields: Vec<&str> = body.split(',').collect();
    let id = fields[0];
    if !(id.starts_with("GP") || id.starts_with("GN")) || id.len() != 5 {
        return Ok(None);
    }
    let sentence = match &id[2..] {
        "RMC" => Sentence::Rmc,
        "GGA" => Sentence::Gga,
        "GLL" => Sentence::Gll,
        "ZDA" => Sentence::Zda,
        _ => return Ok(None),
    };
    if !sentence.enabled(mode) {
        return Ok(None);
    }
    let field = |i: usize| fields.get(i).copied().ok_or(NmeaError::BadFormat);
    let (time_field, date) = match sentence {
        Sentence::Rmc => {
            if field(2)? != "A" {
                return Err(NmeaError::NoFix);
            }
            (field(1)?, Some(ddmmyy(field(9)?)?))
        }
        Sentence::Gga => {
            if matches!(field(6)?, "" | "0") {
                return Err(NmeaError::NoFix);
            }
            (field(1)?, None)
        }
        Sentence::Gll => {
            if field(6)? != "A" {
                return Err(NmeaError::NoFix);
            }
            (field(5)?, None)
        }
        Sentence::Zda => {
            let day = number(field(2)?)?;
            let month = number(field(3)?)?;
            let year = number(field(4)?)?;
            (field(1)?, Some((i64::from(year), month, day)))
        }
    };
    let (hour, minute, second, nanos) = hhmmss(time_field)?;
    Ok(Some(Timecode {
        sentence,
        hour,
        minute,
        second,
        nanos,
        date,
    }))
}

fn number(s: &str) -> Result<u32, NmeaError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NmeaError::BadFormat);
    }
    s.parse().map_err(|_| NmeaError::BadFormat)
}

/// `hhmmss` with an optional fraction.
fn hhmmss(s: &str) -> Result<(u32, u32, u32, u32), NmeaError> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() != 6 || frac.len() > 9 {
        return Err(NmeaError::BadFormat);
    }
    let (h, m, sec) = (
        number(&whole[0..2])?,
        number(&whole[2..4])?,
        number(&whole[4..6])?,
    );
    let nanos = if frac.is_empty() {
        0
    } else {
        number(frac)? * 10u32.pow(9 - frac.len() as u32)
    };
    // 60: a leap second.
    if h > 23 || m > 59 || sec > 60 {
        return Err(NmeaError::BadFormat);
    }
    Ok((h, m, sec, nanos))
}

/// RMC's `ddmmyy`; two-digit years 80-99 are 1980-1999 as classic's window.
fn ddmmyy(s: &str) -> Result<(i64, u32, u32), NmeaError> {
    if s.len() != 6 {
        return Err(NmeaError::BadFormat);
    }
    let (d, m, y) = (number(&s[0..2])?, number(&s[2..4])?, number(&s[4..6])?);
    let year = if y >= 80 { 1900 + y } else { 2000 + y };
    Ok((i64::from(year), m, d))
}

impl Timecode {
    /// The timestamp the sentence names. A sentence without a date takes the day that puts
    /// it nearest `near` (the time it was received), as classic fills it from the clock.
    pub fn timestamp(&self, near: NtpTimestamp) -> Result<NtpTimestamp, NmeaError> {
        let in_day = i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        if let Some((year, month, day)) = self.date {
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return Err(NmeaError::BadFormat);
            }
            // civil counts months from 0 (January), NMEA from 1.
            let secs = civil::days_from_civil(year, month as usize - 1, day) * 86_400 + in_day;
            return Ok(NtpTimestamp::from_unix(secs, self.nanos));
        }
        let (near_secs, _) = near.to_unix();
        let today = near_secs.div_euclid(86_400);
        let best = (today - 1..=today + 1)
            .map(|d| d * 86_400 + in_day)
            .min_by_key(|s| (s - near_secs).abs())
            .unwrap_or(near_secs);
        Ok(NtpTimestamp::from_unix(best, self.nanos))
    }

    /// The second it names, to take one sample per second (the first sentence of a
    /// second is the one whose delay `time2` describes).
    pub fn second_of_day(&self) -> u32 {
        self.hour * 3600 + self.minute * 60 + self.second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `*hh` to a sentence body.
    fn with_sum(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |x, b| x ^ b);
        format!("${body}*{sum:02X}\r\n")
    }

    #[test]
    fn rmc_with_checksum() {
        let line = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";
        let t = parse(line, 0).unwrap().unwrap();
        assert_eq!((t.hour, t.minute, t.second, t.nanos), (12, 35, 19, 0));
        assert_eq!(t.date, Some((1994, 3, 23)));
        let ts = t.timestamp(NtpTimestamp::ZERO).unwrap();
        assert_eq!(ts.to_unix(), (764_426_119, 0));
        let bad = line.replace("*6A", "*6B");
        assert_eq!(parse(&bad, 0), Err(NmeaError::BadChecksum));
    }

    #[test]
    fn gga_gll_zda_and_gn_talkers() {
        let near = NtpTimestamp::from_unix(1_800_000_000, 0); // 2027-01-15 08:00:00 UTC
        let gga = with_sum("GNGGA,075959.50,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,");
        let t = parse(&gga, 0).unwrap().unwrap();
        assert_eq!(t.sentence, Sentence::Gga);
        let ts = t.timestamp(near).unwrap();
        assert_eq!(ts.to_unix(), (1_799_999_999, 500_000_000));
        let gll = with_sum("GPGLL,4916.45,N,12311.12,W,225444,A");
        // 22:54:44 is nearer to 08:00 of the day before than of the same day.
        let t = parse(&gll, 0).unwrap().unwrap();
        assert_eq!(t.timestamp(near).unwrap().to_unix().0, 1_799_967_284);
        let zda = with_sum("GPZDA,080000.00,15,01,2027,00,00");
        let t = parse(&zda, 0).unwrap().unwrap();
        assert_eq!(t.timestamp(near).unwrap(), near);
        let nofix = with_sum("GPGGA,080000,4807.038,N,01131.000,E,0,00,,,M,,M,,");
        assert_eq!(parse(&nofix, 0), Err(NmeaError::NoFix));
        let void = with_sum("GPRMC,080000,V,,,,,,,150127,,");
        assert_eq!(parse(&void, 0), Err(NmeaError::NoFix));
    }

    #[test]
    fn the_mode_word_selects_sentences_and_speed() {
        let gga = with_sum("GPGGA,080000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,");
        assert!(parse(&gga, MODE_RMC).unwrap().is_none());
        assert!(parse(&gga, MODE_RMC | MODE_GGA).unwrap().is_some());
        assert!(parse(&with_sum("GPGSV,3,1,11"), 0).unwrap().is_none());
        assert_eq!(parse("garbage", 0), Err(NmeaError::BadFormat));
        assert_eq!(parse(&with_sum("GPRMC,8,A"), 0), Err(NmeaError::BadFormat));
        assert_eq!(
            [0x00, 0x10, 0x20, 0x30, 0x40, 0x50].map(baud_rate),
            [4800, 9600, 19200, 38400, 57600, 115_200]
        );
    }
}
