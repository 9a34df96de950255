//! The NIST/IERS `leap-seconds.list` file (`leapfile` in ntp.conf): which leap seconds
//! there were and will be, until when the list is valid, and whether its hash matches.
//!
//! Pure: the caller reads the file and asks questions at a given time. The file format:
//! `#$ NTPSECS` (last update), `#@ NTPSECS` (expiry), `#h H1 H2 H3 H4 H5` (SHA-1, five
//! 32-bit hex words), data lines `NTPSECS TAI-OFFSET [# comment]`, other `#` lines are
//! comments. The hash covers the digits of the update and expiry values and of the first
//! two fields of every data line, in file order.

use crate::time::{NtpTimestamp, UNIX_EPOCH_NTP_SECS};
use crate::wire::ntp::Leap;
use sha1::{Digest, Sha1};
use std::fmt;

/// Classic announces a coming leap to clients this long before it (28 days).
pub const ANNOUNCE_WINDOW: i64 = 28 * 86_400;
/// The kernel inserts or deletes at the end of the UTC day it is armed in, so it is armed
/// only during the last day before the leap.
pub const ARM_WINDOW: i64 = 86_400;

/// One line of the table: from `at` (NTP seconds since 1900, not folded into an era),
/// TAI - UTC is `tai_offset` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapEntry {
    pub at: i64,
    pub tai_offset: i32,
}

/// Whether the file carried a hash (a file with a wrong hash is rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCheck {
    Verified,
    Missing,
}

/// A parsed, consistent leap second table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapTable {
    pub entries: Vec<LeapEntry>,
    /// `#$`: when the list was last updated.
    pub updated: Option<i64>,
    /// `#@`: after this the list may miss a leap and must be replaced.
    pub expires: i64,
    pub hash: HashCheck,
}

/// Why a file was rejected; `line` is 1-based where one line is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeapError {
    Syntax { line: usize, message: String },
    NoExpiry,
    NoEntries,
    BadHash,
}

impl fmt::Display for LeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeapError::Syntax { line, message } => write!(f, "line {line}: {message}"),
            LeapError::NoExpiry => f.write_str("no expiration date ('#@' line)"),
            LeapError::NoEntries => f.write_str("no leap second entries"),
            LeapError::BadHash => f.write_str("hash ('#h' line) does not match the contents"),
        }
    }
}

impl std::error::Error for LeapError {}

/// NTP seconds since 1900 of `t`, in classic's era window (1968..2104).
pub fn ntp_seconds(t: NtpTimestamp) -> i64 {
    t.to_unix().0 + UNIX_EPOCH_NTP_SECS as i64
}

fn number(text: &str, line: usize, what: &str) -> Result<i64, LeapError> {
    text.parse().map_err(|_| LeapError::Syntax {
        line,
        message: format!("{what} '{text}' is not a number"),
    })
}

fn parse_hash(words: &str, line: usize) -> Result<[u8; 20], LeapError> {
    let bad = || LeapError::Syntax {
        line,
        message: "'#h' needs five hexadecimal words".to_string(),
    };
    let words: Vec<&str> = words.split_whitespace().collect();
    if words.len() != 5 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_mut(4).zip(words) {
        // NIST prints the words with %x, so leading zeros may be missing.
        let value = u32::from_str_radix(word, 16).map_err(|_| bad())?;
        chunk.copy_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

impl LeapTable {
    /// Parses and checks a whole file: entries in time order, each offset one away from
    /// the previous, an expiry date, and the hash when there is one. Comments may hold any
    /// bytes; a `#$`, `#@`, `#h` or data line that is not UTF-8 is a syntax error.
    pub fn parse(input: &[u8]) -> Result<LeapTable, LeapError> {
        let mut hasher = Sha1::new();
        let (mut updated, mut expires, mut stated) = (None, None, None);
        let mut entries: Vec<LeapEntry> = Vec::new();
        for (line, raw) in crate::lines::numbered(input) {
            let special = [b"#$", b"#@", b"#h"].iter().any(|p| raw.starts_with(*p));
            let code = if special {
                raw
            } else {
                crate::lines::before_comment(raw)
            };
            let code =
                crate::lines::utf8(code).map_err(|message| LeapError::Syntax { line, message })?;
            if let Some(rest) = code.strip_prefix("#$") {
                let value = number(rest.trim(), line, "update time")?;
                hasher.update(rest.trim().as_bytes());
                updated = Some(value);
            } else if let Some(rest) = code.strip_prefix("#@") {
                let value = number(rest.trim(), line, "expiry time")?;
                hasher.update(rest.trim().as_bytes());
                expires = Some(value);
            } else if let Some(rest) = code.strip_prefix("#h") {
                stated = Some(parse_hash(rest, line)?);
            } else if !code.trim().is_empty() {
                let mut fields = code.split_whitespace();
                let (Some(at), Some(offset)) = (fields.next(), fields.next()) else {
                    return Err(LeapError::Syntax {
                        line,
                        message: "expected 'NTPSECONDS OFFSET'".to_string(),
                    });
                };
                hasher.update(at.as_bytes());
                hasher.update(offset.as_bytes());
                let entry = LeapEntry {
                    at: number(at, line, "leap time")?,
                    tai_offset: i32::try_from(number(offset, line, "TAI offset")?).map_err(
                        |_| LeapError::Syntax {
                            line,
                            message: format!("TAI offset '{offset}' out of range"),
                        },
                    )?,
                };
                check_step(entries.last(), &entry, line)?;
                entries.push(entry);
            }
        }
        let expires = expires.ok_or(LeapError::NoExpiry)?;
        if entries.is_empty() {
            return Err(LeapError::NoEntries);
        }
        let hash = match stated {
            Some(h) if h[..] == hasher.finalize()[..] => HashCheck::Verified,
            Some(_) => return Err(LeapError::BadHash),
            None => HashCheck::Missing,
        };
        Ok(LeapTable {
            entries,
            updated,
            expires,
            hash,
        })
    }

    /// True once the list's validity has ended.
    pub fn expired_at(&self, t: NtpTimestamp) -> bool {
        ntp_seconds(t) >= self.expires
    }

    /// The next leap after `t`: its time and whether a second is inserted (or deleted).
    pub fn next_leap(&self, t: NtpTimestamp) -> Option<(i64, Leap)> {
        let now = ntp_seconds(t);
        self.entries.windows(2).find_map(|pair| {
            let (before, after) = (pair[0], pair[1]);
            (after.at > now).then(|| {
                let leap = if after.tai_offset > before.tai_offset {
                    Leap::AddSecond
                } else {
                    Leap::DelSecond
                };
                (after.at, leap)
            })
        })
    }

    /// The leap indicator to advertise at `t`: the coming leap within the announce window.
    pub fn indicator_at(&self, t: NtpTimestamp) -> Leap {
        self.leap_within(t, ANNOUNCE_WINDOW)
    }

    /// What to arm the kernel with at `t`: the coming leap during its last day only.
    pub fn kernel_at(&self, t: NtpTimestamp) -> Leap {
        self.leap_within(t, ARM_WINDOW)
    }

    fn leap_within(&self, t: NtpTimestamp, window: i64) -> Leap {
        match self.next_leap(t) {
            Some((at, leap)) if at - ntp_seconds(t) <= window => leap,
            _ => Leap::NoWarning,
        }
    }

    /// TAI - UTC at `t` (0 before the table starts).
    pub fn tai_offset_at(&self, t: NtpTimestamp) -> i32 {
        let now = ntp_seconds(t);
        self.entries
            .iter()
            .take_while(|e| e.at <= now)
            .last()
            .map_or(0, |e| e.tai_offset)
    }
}

fn check_step(prev: Option<&LeapEntry>, next: &LeapEntry, line: usize) -> Result<(), LeapError> {
    let Some(prev) = prev else { return Ok(()) };
    let message = if next.at <= prev.at {
        "entries must be in increasing time order"
    } else if (next.tai_offset - prev.tai_offset).abs() != 1 {
        "each TAI offset must differ from the previous one by 1"
    } else {
        return Ok(());
    };
    Err(LeapError::Syntax {
        line,
        message: message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail of the real list (IERS, #$ 3960835200, #@ 3991593600) with its hash.
    pub const REAL: &str = concat!(
        "#\tUpdated through IERS Bulletin C\n",
        "#$\t 3960835200\n",
        "#@\t3991593600\n",
        "2272060800\t10\t# 1 Jan 1972\n",
        "2287785600\t11\t# 1 Jul 1972\n",
        "2303683200\t12\t# 1 Jan 1973\n",
        "2335219200\t13\t# 1 Jan 1974\n",
        "2366755200\t14\t# 1 Jan 1975\n",
        "2398291200\t15\t# 1 Jan 1976\n",
        "2429913600\t16\t# 1 Jan 1977\n",
        "2461449600\t17\t# 1 Jan 1978\n",
        "2492985600\t18\t# 1 Jan 1979\n",
        "2524521600\t19\t# 1 Jan 1980\n",
        "2571782400\t20\t# 1 Jul 1981\n",
        "2603318400\t21\t# 1 Jul 1982\n",
        "2634854400\t22\t# 1 Jul 1983\n",
        "2698012800\t23\t# 1 Jul 1985\n",
        "2776982400\t24\t# 1 Jan 1988\n",
        "2840140800\t25\t# 1 Jan 1990\n",
        "2871676800\t26\t# 1 Jan 1991\n",
        "2918937600\t27\t# 1 Jul 1992\n",
        "2950473600\t28\t# 1 Jul 1993\n",
        "2982009600\t29\t# 1 Jul 1994\n",
        "3029443200\t30\t# 1 Jan 1996\n",
        "3076704000\t31\t# 1 Jul 1997\n",
        "3124137600\t32\t# 1 Jan 1999\n",
        "3345062400\t33\t# 1 Jan 2006\n",
        "3439756800\t34\t# 1 Jan 2009\n",
        "3550089600\t35\t# 1 Jul 2012\n",
        "3644697600\t36\t# 1 Jul 2015\n",
        "3692217600\t37\t# 1 Jan 2017\n",
        "#h\t49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e\n",
    );

    fn at(ntp_secs: i64) -> NtpTimestamp {
        NtpTimestamp::from_unix(ntp_secs - UNIX_EPOCH_NTP_SECS as i64, 0)
    }

    #[test]
    fn real_file_verifies() {
        let t = LeapTable::parse(REAL.as_bytes()).unwrap();
        assert_eq!(t.hash, HashCheck::Verified);
        assert_eq!((t.updated, t.expires), (Some(3_960_835_200), 3_991_593_600));
        assert_eq!(t.entries.len(), 28);
        assert_eq!(t.tai_offset_at(at(3_692_217_600)), 37);
        assert_eq!(t.tai_offset_at(at(3_692_217_599)), 36);
        assert!(!t.expired_at(at(3_991_593_599)));
        assert!(t.expired_at(at(3_991_593_600)));
        assert_eq!(t.next_leap(at(3_692_217_600)), None);
    }

    #[test]
    fn a_changed_digit_breaks_the_hash_and_comments_do_not() {
        let tampered = REAL.replace("3692217600\t37", "3692217601\t37");
        assert_eq!(
            LeapTable::parse(tampered.as_bytes()),
            Err(LeapError::BadHash)
        );
        let commented = REAL.replace("# 1 Jan 2017", "# first of January");
        assert!(LeapTable::parse(commented.as_bytes()).is_ok());
        let unhashed: String = REAL
            .lines()
            .filter(|l| !l.starts_with("#h"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            LeapTable::parse(unhashed.as_bytes()).unwrap().hash,
            HashCheck::Missing
        );
    }

    #[test]
    fn foreign_comments_are_skipped_and_foreign_data_located() {
        let mut latin1 = b"# Mis \xe0 jour par l'IERS\n".to_vec();
        latin1.extend_from_slice(REAL.replace("# 1 Jan 2017", "# 1er janvier").as_bytes());
        latin1.extend_from_slice(b"# \xc8\xf2\xc3\xeb (GBK)\n");
        assert_eq!(LeapTable::parse(&latin1).unwrap().hash, HashCheck::Verified);
        let bad = b"#@ 3991593600\n3692217600\t37\xe9\n";
        assert_eq!(
            LeapTable::parse(bad),
            Err(LeapError::Syntax {
                line: 2,
                message:
                    "byte 0xE9 at column 14 is not UTF-8 (only comments may use another encoding)"
                        .to_string()
            })
        );
    }

    #[test]
    fn indicator_28_days_kernel_one_day() {
        let text = "#@ 3800000000\n3692217600 37\n3750000000 38\n3760000000 37\n";
        let t = LeapTable::parse(text.as_bytes()).unwrap();
        let leap = 3_750_000_000;
        assert_eq!(
            t.indicator_at(at(leap - ANNOUNCE_WINDOW - 1)),
            Leap::NoWarning
        );
        assert_eq!(t.indicator_at(at(leap - ANNOUNCE_WINDOW)), Leap::AddSecond);
        assert_eq!(t.kernel_at(at(leap - ARM_WINDOW - 1)), Leap::NoWarning);
        assert_eq!(t.kernel_at(at(leap - 10)), Leap::AddSecond);
        assert_eq!(t.indicator_at(at(leap)), Leap::NoWarning);
        assert_eq!(t.indicator_at(at(3_760_000_000 - 5)), Leap::DelSecond);
    }

    #[test]
    fn broken_files_name_the_line() {
        let cases = [
            ("#@ 1\n3692217600 37\n3692217600 38\n", 3),
            ("#@ 1\n3692217600 37\n3700000000 39\n", 3),
            ("#@ 1\n3692217600\n", 2),
            ("#@ x\n", 1),
            ("#@ 1\n1 2\n#h 1 2 3\n", 3),
        ];
        for (text, line) in cases {
            match LeapTable::parse(text.as_bytes()) {
                Err(LeapError::Syntax { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert_eq!(LeapTable::parse(b"1 2\n"), Err(LeapError::NoExpiry));
        assert_eq!(
            LeapTable::parse(b"#@ 5\n# only comments\n"),
            Err(LeapError::NoEntries)
        );
    }
}
