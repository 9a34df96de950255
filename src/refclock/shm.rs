//! The SHM driver's logic (127.127.28.u, classic refclock_shm.c): the documented `shmTime`
//! segment that gpsd, chrony's and ntpd-rs' writers share, decoded from a byte snapshot the
//! device module copies out of shared memory.
//!
//! Layout (LP64 Linux, 96 bytes): mode, count, clockTimeStampSec (time_t),
//! clockTimeStampUSec, receiveTimeStampSec, receiveTimeStampUSec, leap, precision,
//! nsamples, valid, clockTimeStampNSec, receiveTimeStampNSec, dummy[8].
//! Mode 0: the writer sets `valid` last; mode 1: it also bumps `count` before and after
//! writing, so a reader that sees `count` change under it knows the copy is torn.

use crate::time::{NtpDuration, NtpTimestamp};
use crate::wire::ntp::Leap;

/// Segment key of unit 0 ("NTP0"); unit u uses KEY_BASE + u.
pub const KEY_BASE: i32 = 0x4E54_5030;
/// `sizeof(struct shmTime)` on LP64.
pub const SEGMENT_LEN: usize = 96;
/// Offsets of the fields the reader writes or checks alone.
pub const COUNT_OFFSET: usize = 4;
pub const VALID_OFFSET: usize = 48;
/// A receive timestamp older than this is stale: the writer stopped (4.2.8's max delay).
pub const MAX_AGE_SECS: i64 = 5;
/// A clock further than this from the receive time is refused (4.2.8's 4 h sanity limit).
pub const MAX_OFFSET_SECS: i64 = 4 * 3600;

/// The segment's key for `unit`.
pub fn key(unit: u8) -> i32 {
    KEY_BASE + i32::from(unit)
}

/// `mode` bit 0 (classic SHM_MODE_PRIVATE): keep a unit of 2 and up owner-only too.
pub const MODE_PRIVATE: u32 = 0x01;

/// Permissions the segment is created with: units 0 and 1 are for root's writers only
/// (gpsd running as root), 2 and up for anyone unless the `mode` word says private, as
/// classic does.
pub fn permissions(unit: u8, mode: u32) -> u32 {
    if unit < 2 || mode & MODE_PRIVATE != 0 {
        0o600
    } else {
        0o666
    }
}

/// One copy of the segment's fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmTime {
    pub mode: i32,
    pub count: i32,
    pub clock_sec: i64,
    pub clock_usec: i32,
    pub receive_sec: i64,
    pub receive_usec: i32,
    pub leap: i32,
    pub precision: i32,
    pub nsamples: i32,
    pub valid: i32,
    pub clock_nsec: u32,
    pub receive_nsec: u32,
}

fn i32_at(b: &[u8; SEGMENT_LEN], at: usize) -> i32 {
    i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8; SEGMENT_LEN], at: usize) -> i64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    i64::from_ne_bytes(word)
}

impl ShmTime {
    /// Decodes a snapshot in the machine's byte order.
    pub fn decode(b: &[u8; SEGMENT_LEN]) -> ShmTime {
        ShmTime {
            mode: i32_at(b, 0),
            count: i32_at(b, COUNT_OFFSET),
            clock_sec: i64_at(b, 8),
            clock_usec: i32_at(b, 16),
            receive_sec: i64_at(b, 24),
            receive_usec: i32_at(b, 32),
            leap: i32_at(b, 36),
            precision: i32_at(b, 40),
            nsamples: i32_at(b, 44),
            valid: i32_at(b, VALID_OFFSET),
            clock_nsec: i32_at(b, 52) as u32,
            receive_nsec: i32_at(b, 56) as u32,
        }
    }

    /// Encodes the fields (the test writers' side of the layout).
    pub fn encode(&self) -> [u8; SEGMENT_LEN] {
        let mut b = [0u8; SEGMENT_LEN];
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &self.mode.to_ne_bytes());
        put(COUNT_OFFSET, &self.count.to_ne_bytes());
        put(8, &self.clock_sec.to_ne_bytes());
        put(16, &self.clock_usec.to_ne_bytes());
        put(24, &self.receive_sec.to_ne_bytes());
        put(32, &self.receive_usec.to_ne_bytes());
        put(36, &self.leap.to_ne_bytes());
        put(40, &self.precision.to_ne_bytes());
        put(44, &self.nsamples.to_ne_bytes());
        put(VALID_OFFSET, &self.valid.to_ne_bytes());
        put(52, &self.clock_nsec.to_ne_bytes());
        put(56, &self.receive_nsec.to_ne_bytes());
        b
    }
}

/// A read of the segment: `count` just before and just after copying it, and the system
/// clock (the writers' clock) at the read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShmRead {
    pub count_before: i32,
    pub segment: ShmTime,
    pub count_after: i32,
    pub system_now: NtpTimestamp,
}

/// A usable sample: the reference clock's time and the writer's system time at reception.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShmSample {
    pub clock: NtpTimestamp,
    pub receive: NtpTimestamp,
    pub leap: Leap,
    pub count: i32,
}

/// Why a read gave no sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmFault {
    /// `valid` is 0: nothing new since the last read (normal between two writes).
    NotReady,
    /// Mode 1: `count` changed while reading; the copy mixes two writes.
    Torn,
    /// A mode other than 0 and 1.
    BadMode(i32),
    /// `count` did not advance since the sample last taken although `valid` says new.
    CountUnchanged,
    /// The receive timestamp is older than [`MAX_AGE_SECS`]: the writer is stuck.
    Stale { age_secs: i64 },
    /// Microseconds or nanoseconds out of range, or clock and receive hours apart.
    BadTime,
}

impl ShmFault {
    /// Counted as `baddata` (the data is wrong) rather than `badformat` (the segment is).
    pub fn is_bad_data(self) -> bool {
        matches!(
            self,
            ShmFault::CountUnchanged | ShmFault::Stale { .. } | ShmFault::BadTime
        )
    }

    pub fn describe(self) -> String {
        match self {
            ShmFault::NotReady => "no new sample (valid 0)".into(),
            ShmFault::Torn => "count changed while reading".into(),
            ShmFault::BadMode(m) => format!("unknown mode {m}"),
            ShmFault::CountUnchanged => "stale data (count unchanged)".into(),
            ShmFault::Stale { age_secs } => format!("stale data (received {age_secs} s ago)"),
            ShmFault::BadTime => "invalid timestamps".into(),
        }
    }
}

/// A timestamp from seconds, microseconds and nanoseconds; the nanoseconds count when
/// they agree with the microseconds (writers that predate them leave zeros there).
fn stamp(sec: i64, usec: i32, nsec: u32) -> Result<NtpTimestamp, ShmFault> {
    let usec = u32::try_from(usec)
        .ok()
        .filter(|u| *u < 1_000_000)
        .ok_or(ShmFault::BadTime)?;
    let nanos = if nsec / 1000 == usec {
        nsec
    } else {
        usec * 1000
    };
    Ok(NtpTimestamp::from_unix(sec, nanos))
}

/// Judges a read; `last_count` is the count of the sample last taken from this segment.
pub fn evaluate(read: &ShmRead, last_count: Option<i32>) -> Result<ShmSample, ShmFault> {
    let s = &read.segment;
    if s.valid == 0 {
        return Err(ShmFault::NotReady);
    }
    match s.mode {
        0 => {}
        1 if read.count_before != read.count_after => return Err(ShmFault::Torn),
        1 => {}
        m => return Err(ShmFault::BadMode(m)),
    }
    if last_count == Some(s.count) {
        return Err(ShmFault::CountUnchanged);
    }
    let clock = stamp(s.clock_sec, s.clock_usec, s.clock_nsec)?;
    let receive = stamp(s.receive_sec, s.receive_usec, s.receive_nsec)?;
    if (clock - receive).abs() > NtpDuration::from_secs_f64(MAX_OFFSET_SECS as f64) {
        return Err(ShmFault::BadTime);
    }
    let age_secs = (read.system_now - receive).to_secs_f64() as i64;
    if age_secs > MAX_AGE_SECS {
        return Err(ShmFault::Stale { age_secs });
    }
    Ok(ShmSample {
        clock,
        receive,
        leap: Leap::from_bits((s.leap & 3) as u8),
        count: s.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn segment() -> ShmTime {
        ShmTime {
            mode: 1,
            count: 7,
            clock_sec: NOW,
            clock_usec: 250_000,
            receive_sec: NOW,
            receive_usec: 249_000,
            clock_nsec: 250_000_500,
            receive_nsec: 0,
            valid: 1,
            precision: -20,
            ..ShmTime::default()
        }
    }

    fn read(segment: ShmTime) -> ShmRead {
        ShmRead {
            count_before: segment.count,
            segment,
            count_after: segment.count,
            system_now: NtpTimestamp::from_unix(NOW + 1, 0),
        }
    }

    #[test]
    fn layout_round_trips_and_uses_nanoseconds_that_agree() {
        let s = segment();
        let bytes = s.encode();
        assert_eq!(ShmTime::decode(&bytes), s);
        assert_eq!(bytes[VALID_OFFSET], 1);
        let got = evaluate(&read(s), Some(5)).unwrap();
        assert_eq!(got.clock, NtpTimestamp::from_unix(NOW, 250_000_500));
        // receiveTimeStampNSec 0 disagrees with 249000 us: the microseconds count.
        assert_eq!(got.receive, NtpTimestamp::from_unix(NOW, 249_000_000));
        assert_eq!((key(0), key(3)), (0x4E54_5030, 0x4E54_5033));
        assert_eq!(
            [
                permissions(1, 0),
                permissions(2, 0),
                permissions(3, MODE_PRIVATE)
            ],
            [0o600, 0o666, 0o600]
        );
    }

    #[test]
    fn faults_are_named() {
        let mut s = segment();
        s.valid = 0;
        assert_eq!(evaluate(&read(s), None), Err(ShmFault::NotReady));
        let mut torn = read(segment());
        torn.count_after += 1;
        assert_eq!(evaluate(&torn, None), Err(ShmFault::Torn));
        // Mode 0 writers leave count alone: only valid matters.
        let mut mode0 = torn;
        mode0.segment.mode = 0;
        assert!(evaluate(&mode0, None).is_ok());
        let mut s = segment();
        s.mode = 2;
        assert_eq!(evaluate(&read(s), None), Err(ShmFault::BadMode(2)));
        assert_eq!(
            evaluate(&read(segment()), Some(7)),
            Err(ShmFault::CountUnchanged)
        );
        let mut old = read(segment());
        old.system_now = NtpTimestamp::from_unix(NOW + 60, 0);
        assert_eq!(evaluate(&old, None), Err(ShmFault::Stale { age_secs: 59 }));
        let mut s = segment();
        s.clock_usec = 1_000_000;
        assert_eq!(evaluate(&read(s), None), Err(ShmFault::BadTime));
        let mut s = segment();
        s.clock_sec += 5 * 3600;
        assert_eq!(evaluate(&read(s), None), Err(ShmFault::BadTime));
        assert!(ShmFault::CountUnchanged.is_bad_data() && !ShmFault::Torn.is_bad_data());
    }
}
