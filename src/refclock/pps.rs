//! The PPS driver's logic (127.127.22.u, classic refclock_atom.c): RFC 2783 on Linux's
//! /dev/ppsN. The device module fetches `struct pps_kinfo` and hands its bytes here; the
//! driver takes the edge `flag2` names (assert by default, clear with `flag2 1`), and each
//! new pulse says how far the clock is from the nearest second. A pulse does not say which
//! second, so the driver counts only while another source (the `prefer` peer) numbers them.

use crate::time::{NtpDuration, NtpTimestamp};

/// RFC 2783 mode bits (linux/pps.h).
pub const CAPTURE_ASSERT: i32 = 0x01;
pub const CAPTURE_CLEAR: i32 = 0x02;
pub const TSFMT_TSPEC: i32 = 0x1000;
pub const API_VERSION: i32 = 1;
/// `sizeof(struct pps_kinfo)` (two sequence numbers, two pps_ktime, current_mode, padding).
pub const KINFO_LEN: usize = 48;
/// `sizeof(struct pps_kparams)`.
pub const KPARAMS_LEN: usize = 40;
/// A pulse further than this from the prefer peer's second is not trusted (classic's
/// 0.4 s capture range).
pub const CAPTURE_RANGE_SECS: f64 = 0.4;

/// Which edge of the pulse marks the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Assert,
    Clear,
}

impl Edge {
    /// `flag2 0` (default): the assert (rising) edge; `flag2 1`: the clear edge.
    pub fn from_flag2(flag2: bool) -> Edge {
        if flag2 {
            Edge::Clear
        } else {
            Edge::Assert
        }
    }

    /// The capture bit PPS_SETPARAMS needs.
    pub fn capture_mode(self) -> i32 {
        match self {
            Edge::Assert => CAPTURE_ASSERT,
            Edge::Clear => CAPTURE_CLEAR,
        }
    }

    /// Whether the device's capabilities (PPS_GETCAP) can capture this edge.
    pub fn supported_by(self, caps: i32) -> bool {
        caps & self.capture_mode() != 0
    }
}

/// One RFC 2783 timestamp (struct pps_ktime: sec, nsec, flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KTime {
    pub sec: i64,
    pub nsec: i32,
}

/// `struct pps_kinfo` as PPS_FETCH fills it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsInfo {
    pub assert_sequence: u32,
    pub clear_sequence: u32,
    pub assert: KTime,
    pub clear: KTime,
    pub current_mode: i32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn ktime_at(b: &[u8], at: usize) -> KTime {
    let mut sec = [0u8; 8];
    sec.copy_from_slice(&b[at..at + 8]);
    KTime {
        sec: i64::from_ne_bytes(sec),
        nsec: u32_at(b, at + 8) as i32,
    }
}

impl PpsInfo {
    /// Decodes the bytes of a `struct pps_kinfo` in the machine's byte order.
    pub fn decode(b: &[u8; KINFO_LEN]) -> PpsInfo {
        PpsInfo {
            assert_sequence: u32_at(b, 0),
            clear_sequence: u32_at(b, 4),
            assert: ktime_at(b, 8),
            clear: ktime_at(b, 24),
            current_mode: u32_at(b, 40) as i32,
        }
    }

    /// The sequence number and time of the last pulse on `edge`.
    pub fn edge(&self, edge: Edge) -> (u32, KTime) {
        match edge {
            Edge::Assert => (self.assert_sequence, self.assert),
            Edge::Clear => (self.clear_sequence, self.clear),
        }
    }
}

/// The bytes of a `struct pps_kparams` that capture `edge` in timespec format.
pub fn kparams(edge: Edge) -> [u8; KPARAMS_LEN] {
    let mut b = [0u8; KPARAMS_LEN];
    b[0..4].copy_from_slice(&API_VERSION.to_ne_bytes());
    b[4..8].copy_from_slice(&(edge.capture_mode() | TSFMT_TSPEC).to_ne_bytes());
    b
}

/// Why a fetch gave no pulse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PpsFault {
    /// The sequence number has not moved since the last pulse taken.
    NoPulse,
    /// Nanoseconds out of range.
    BadTime,
}

/// A new pulse on `edge` since sequence `last`: its time (on the system clock).
pub fn new_pulse(
    info: &PpsInfo,
    edge: Edge,
    last: Option<u32>,
) -> Result<(u32, NtpTimestamp), PpsFault> {
    let (seq, t) = info.edge(edge);
    if last == Some(seq) || (seq == 0 && t.sec == 0) {
        return Err(PpsFault::NoPulse);
    }
    let nanos = u32::try_from(t.nsec)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or(PpsFault::BadTime)?;
    Ok((seq, NtpTimestamp::from_unix(t.sec, nanos)))
}

/// The offset a pulse at `edge` (our clock) implies: the pulse marks a whole second, so
/// the offset is the way to the nearest one (-0.5 s .. 0.5 s).
pub fn pulse_offset(edge: NtpTimestamp) -> NtpDuration {
    let frac = edge.fraction();
    let past = NtpDuration::from_nanos(((u64::from(frac) * 1_000_000_000) >> 32) as i64);
    if frac >= 1 << 31 {
        NtpDuration::from_secs_f64(1.0) - past
    } else {
        -past
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinfo(assert: (u32, i64, i32), clear: (u32, i64, i32)) -> [u8; KINFO_LEN] {
        let mut b = [0u8; KINFO_LEN];
        b[0..4].copy_from_slice(&assert.0.to_ne_bytes());
        b[4..8].copy_from_slice(&clear.0.to_ne_bytes());
        b[8..16].copy_from_slice(&assert.1.to_ne_bytes());
        b[16..20].copy_from_slice(&assert.2.to_ne_bytes());
        b[24..32].copy_from_slice(&clear.1.to_ne_bytes());
        b[32..36].copy_from_slice(&clear.2.to_ne_bytes());
        b[40..44].copy_from_slice(&(CAPTURE_ASSERT | TSFMT_TSPEC).to_ne_bytes());
        b
    }

    #[test]
    fn kinfo_decodes_both_edges() {
        let info = PpsInfo::decode(&kinfo(
            (12, 1_800_000_000, 999_998_000),
            (11, 1_799_999_999, 100_000_000),
        ));
        assert_eq!(info.assert_sequence, 12);
        assert_eq!(
            info.clear,
            KTime {
                sec: 1_799_999_999,
                nsec: 100_000_000
            }
        );
        assert_eq!(info.current_mode, CAPTURE_ASSERT | TSFMT_TSPEC);
        assert_eq!(info.edge(Edge::Assert).0, 12);
        assert_eq!(info.edge(Edge::Clear).0, 11);
    }

    #[test]
    fn flag2_picks_the_edge() {
        assert_eq!(Edge::from_flag2(false), Edge::Assert);
        assert_eq!(Edge::from_flag2(true), Edge::Clear);
        assert!(Edge::Clear.supported_by(CAPTURE_ASSERT | CAPTURE_CLEAR));
        assert!(!Edge::Clear.supported_by(CAPTURE_ASSERT));
        let p = kparams(Edge::Clear);
        assert_eq!(
            i32::from_ne_bytes([p[4], p[5], p[6], p[7]]),
            CAPTURE_CLEAR | TSFMT_TSPEC
        );
    }

    #[test]
    fn pulses_count_once_and_give_the_way_to_the_second() {
        let info = PpsInfo::decode(&kinfo(
            (12, 1_800_000_000, 999_998_000),
            (11, 1_800_000_001, 100_000_000),
        ));
        let (seq, t) = new_pulse(&info, Edge::Assert, Some(11)).unwrap();
        assert_eq!(seq, 12);
        let off = pulse_offset(t).to_secs_f64();
        assert!((off - 2e-6).abs() < 1e-8, "{off}");
        assert_eq!(
            new_pulse(&info, Edge::Assert, Some(12)),
            Err(PpsFault::NoPulse)
        );
        let (_, t) = new_pulse(&info, Edge::Clear, None).unwrap();
        assert!((pulse_offset(t).to_secs_f64() + 0.1).abs() < 1e-8);
        assert_eq!(
            new_pulse(&PpsInfo::default(), Edge::Assert, None),
            Err(PpsFault::NoPulse)
        );
        let bad = PpsInfo::decode(&kinfo((1, 5, 1_000_000_000), (0, 0, 0)));
        assert_eq!(new_pulse(&bad, Edge::Assert, None), Err(PpsFault::BadTime));
    }
}
