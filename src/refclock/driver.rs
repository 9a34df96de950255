//! A device reference clock (SHM, NMEA, PPS) as a source of the engine: the device module
//! hands it what it read ([`Input`]); the driver turns that into offsets, keeps classic's
//! median filter, polls it every 2^minpoll s into one sample, and counts and names what
//! went wrong (`ntpq -c cv`'s noreply, badformat, baddata; the log's reasons).

use super::filter::MedianFilter;
use super::nmea::{self, NmeaError};
use super::nmea_pps;
use super::pps::{self, Edge, PpsFault, PpsInfo};
use super::shm::{self, ShmFault, ShmRead};
use crate::discipline::sample::{Sample, PHI};
use crate::discipline::select::{Candidate, SelectStatus};
use crate::discipline::system::Contender;
use crate::time::{NtpDuration, NtpTimestamp, PollInterval};
use crate::wire::ntp::{Leap, RefId};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The device drivers (classic driver types 28, 20 and 22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shm,
    Nmea,
    Pps,
}

impl Kind {
    pub fn from_type(clock_type: u8) -> Option<Kind> {
        match clock_type {
            28 => Some(Kind::Shm),
            20 => Some(Kind::Nmea),
            22 => Some(Kind::Pps),
            _ => None,
        }
    }

    pub fn clock_type(self) -> u8 {
        match self {
            Kind::Shm => 28,
            Kind::Nmea => 20,
            Kind::Pps => 22,
        }
    }

    /// ntpq's name of the driver (`SHM(0)`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Shm => "SHM",
            Kind::Nmea => "GPS_NMEA",
            Kind::Pps => "PPS",
        }
    }

    /// Classic's refid when no `fudge ... refid` is given.
    pub fn default_refid(self) -> RefId {
        RefId::from_ascii(match self {
            Kind::Shm => "SHM",
            Kind::Nmea => "GPS",
            Kind::Pps => "PPS",
        })
    }

    /// Classic's `device` clock variable.
    pub fn description(self) -> &'static str {
        match self {
            Kind::Shm => "SHM/Shared memory interface",
            Kind::Nmea => "NMEA GPS Clock",
            Kind::Pps => "PPS Clock Discipline",
        }
    }

    /// log2 s precision the driver claims (the SHM segment may say better).
    fn precision(self) -> i8 {
        match self {
            Kind::Shm => -1,
            Kind::Nmea => -9,
            Kind::Pps => -20,
        }
    }

    /// The device classic opens for unit `unit` (SHM names its segment key instead).
    pub fn default_device(self, unit: u8) -> String {
        match self {
            Kind::Shm => format!("0x{:08x}", shm::key(unit)),
            Kind::Nmea => format!("/dev/gps{unit}"),
            Kind::Pps => format!("/dev/pps{unit}"),
        }
    }
}

/// `fudge 127.127.T.U` values as given; unset ones take the driver's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fudge {
    pub time1: Option<NtpDuration>,
    pub time2: Option<NtpDuration>,
    pub stratum: Option<u8>,
    pub refid: Option<RefId>,
    pub flags: [bool; 4],
}

impl Fudge {
    /// The `flags` clock variable: flag1..flag4 as bits 0..3.
    pub fn flag_bits(&self) -> u8 {
        self.flags
            .iter()
            .enumerate()
            .fold(0, |bits, (i, f)| bits | (u8::from(*f) << i))
    }
}

/// What the device module read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input<'a> {
    /// A copy of the SHM segment.
    Shm(ShmRead),
    /// One line from the serial device, read as it arrived.
    Line(&'a str),
    /// A PPS_FETCH result, with the system clock at the fetch.
    Pps(PpsInfo, NtpTimestamp),
    /// The device cannot be opened or read: why.
    Fault(&'a str),
}

/// `ntpq -c cv` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub polls: u32,
    pub noreply: u32,
    pub badformat: u32,
    pub baddata: u32,
}

/// A log line the engine should write (rate limited here: once per change of reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The clock gives no samples, and why.
    Silent(String),
    /// A reading was refused, and why (counted).
    Refused(String),
    /// Samples flow again.
    Recovered,
}

/// A device reference clock.
#[derive(Clone, Debug, PartialEq)]
pub struct RefClock {
    pub kind: Kind,
    pub unit: u8,
    pub fudge: Fudge,
    /// The `mode` option (NMEA sentences and speed).
    pub mode: u32,
    /// The device path (or SHM key) it reads.
    pub device: String,
    pub prefer: bool,
    pub poll: PollInterval,
    pub counts: Counts,
    /// The last timecode (sentence, segment time, pulse) as `cv` shows it.
    pub timecode: String,
    pub reach: u8,
    pub last_sample: Option<Sample>,
    pub jitter: NtpDuration,
    pub leap: Leap,
    pub precision: i8,
    /// Monotonic time of the last sample (classic `peer->epoch`).
    pub epoch: Duration,
    /// Selection status of the last round (the tally character).
    pub status: SelectStatus,
    /// PPS only: another source numbers the seconds (the prefer peer rule).
    pub seconds_numbered: bool,
    filter: MedianFilter,
    next_poll: Duration,
    /// Why the last reading gave nothing (reported when a poll has no sample).
    last_fault: Option<String>,
    /// What the log last said, so it says each reason once (again only once another
    /// reason came between).
    said_refused: Option<String>,
    said_silent: Option<String>,
    notices: Vec<Notice>,
    last_count: Option<i32>,
    last_second: Option<u32>,
    last_pulse: Option<u32>,
    /// NMEA with `flag1`: the last pulse from the receiver's line (our clock), waiting for
    /// the sentence that numbers its second.
    line_pulse: Option<NtpTimestamp>,
}

impl RefClock {
    pub fn new(kind: Kind, unit: u8, fudge: Fudge, mode: u32, device: Option<String>) -> RefClock {
        RefClock {
            kind,
            unit,
            fudge,
            mode,
            device: device.unwrap_or_else(|| kind.default_device(unit)),
            prefer: false,
            poll: PollInterval::DEFAULT_MIN,
            counts: Counts::default(),
            timecode: String::new(),
            reach: 0,
            last_sample: None,
            jitter: NtpDuration::ZERO,
            leap: Leap::NoWarning,
            precision: kind.precision(),
            epoch: Duration::ZERO,
            status: SelectStatus::Reject,
            seconds_numbered: false,
            filter: MedianFilter::default(),
            next_poll: Duration::ZERO,
            last_fault: None,
            said_refused: None,
            said_silent: None,
            notices: Vec::new(),
            last_count: None,
            last_second: None,
            last_pulse: None,
            line_pulse: None,
        }
    }

    /// The pseudo address 127.127.T.U.
    pub fn address(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, 127, self.kind.clock_type(), self.unit)
    }

    /// `SHM(0)`, as ntpq and the log name it.
    pub fn name(&self) -> String {
        format!("{}({})", self.kind.name(), self.unit)
    }

    pub fn stratum(&self) -> u8 {
        self.fudge.stratum.unwrap_or(0)
    }

    pub fn refid(&self) -> RefId {
        self.fudge.refid.unwrap_or(self.kind.default_refid())
    }

    /// The first poll comes one interval after start, so it finds samples to reduce.
    pub fn start(&mut self, now: Duration) {
        self.next_poll = now + Duration::from_secs(self.poll.seconds());
    }

    pub fn next_poll(&self) -> Duration {
        self.next_poll
    }

    /// Log lines waiting for the engine.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Takes what the device read at `now` (our clock).
    pub fn input(&mut self, input: Input, now: NtpTimestamp) {
        match input {
            Input::Shm(read) => self.shm(&read, now),
            Input::Line(line) => self.line(line, now),
            Input::Pps(info, system_now) => self.pulse(&info, system_now, now),
            // The device itself fails: no samples can come, said at once.
            Input::Fault(why) => {
                self.last_fault = Some(why.to_string());
                self.silent(why.to_string());
            }
        }
    }

    fn shm(&mut self, read: &ShmRead, now: NtpTimestamp) {
        match shm::evaluate(read, self.last_count) {
            Ok(s) => {
                self.last_count = Some(s.count);
                self.leap = s.leap;
                if (-30..0).contains(&read.segment.precision) {
                    self.precision = read.segment.precision as i8;
                }
                // The writer stamped reception on the system clock; ours may run apart
                // (a virtual clock), by as much as the two differ now.
                let received = s.receive + (now - read.system_now);
                let (secs, nanos) = s.clock.to_unix();
                self.timecode = format!("{secs}.{nanos:09}");
                self.accept(s.clock - received);
            }
            Err(fault) => {
                self.last_fault = Some(fault.describe());
                match fault {
                    ShmFault::NotReady => {}
                    f if f.is_bad_data() => {
                        self.counts.baddata += 1;
                        self.refused(f.describe());
                    }
                    f => {
                        self.counts.badformat += 1;
                        self.refused(f.describe());
                    }
                }
            }
        }
    }

    fn line(&mut self, line: &str, now: NtpTimestamp) {
        let refused = match nmea::parse(line, self.mode) {
            Ok(None) => return,
            Ok(Some(tc)) => match tc.timestamp(now) {
                // One sample a second: the first sentence of a second is the one
                // `time2` (the delay from the second to its end of line) describes.
                Ok(_) if self.last_second == Some(tc.second_of_day()) => return,
                Ok(t) => {
                    self.last_second = Some(tc.second_of_day());
                    self.timecode = line.trim_end().to_string();
                    let refined = self
                        .line_pulse
                        .take()
                        .and_then(|edge| nmea_pps::refined_offset(t, edge, now));
                    let delay = self.fudge.time2.unwrap_or(NtpDuration::ZERO);
                    self.accept(refined.unwrap_or(t + delay - now));
                    return;
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        let why = match refused {
            NmeaError::BadChecksum => "bad checksum",
            NmeaError::BadFormat => "unreadable sentence",
            NmeaError::NoFix => "receiver has no fix",
        };
        match refused {
            NmeaError::NoFix => self.counts.baddata += 1,
            _ => self.counts.badformat += 1,
        }
        self.last_fault = Some(why.to_string());
        self.refused(why.to_string());
    }

    fn pulse(&mut self, info: &PpsInfo, system_now: NtpTimestamp, now: NtpTimestamp) {
        let edge = Edge::from_flag2(self.fudge.flags[1]);
        if self.kind == Kind::Nmea {
            // The pulse of the receiver's own line (flag1): the next sentence numbers it;
            // without a new pulse the sentence is taken alone, so nothing to report.
            if let Ok((seq, at)) = pps::new_pulse(info, edge, self.last_pulse) {
                self.last_pulse = Some(seq);
                self.line_pulse = Some(at + (now - system_now));
            }
            return;
        }
        match pps::new_pulse(info, edge, self.last_pulse) {
            Ok((seq, at)) => {
                self.last_pulse = Some(seq);
                let ours = at + (now - system_now);
                let (secs, nanos) = at.to_unix();
                self.timecode = format!("{seq} {secs}.{nanos:09}");
                self.accept(pps::pulse_offset(ours));
            }
            Err(PpsFault::NoPulse) => self.last_fault = Some("no pulse".into()),
            Err(PpsFault::BadTime) => {
                self.counts.baddata += 1;
                self.last_fault = Some("invalid pulse timestamp".into());
                self.refused("invalid pulse timestamp".into());
            }
        }
    }

    /// An offset into the median filter, corrected by `time1` as classic does.
    fn accept(&mut self, offset: NtpDuration) {
        self.filter
            .push(offset + self.fudge.time1.unwrap_or(NtpDuration::ZERO));
    }

    fn refused(&mut self, why: String) {
        if self.said_refused.as_ref() != Some(&why) {
            self.said_refused = Some(why.clone());
            self.notices.push(Notice::Refused(why));
        }
    }

    fn silent(&mut self, why: String) {
        if self.said_silent.as_ref() != Some(&why) {
            self.said_silent = Some(why.clone());
            self.notices.push(Notice::Silent(why));
        }
    }

    /// Polls if due at `mono`: the filter's offsets since the last poll become one sample
    /// (None: not due, or nothing arrived, counted as noreply).
    pub fn poll(&mut self, now: NtpTimestamp, mono: Duration) -> Option<Sample> {
        if mono < self.next_poll {
            return None;
        }
        self.next_poll = mono + Duration::from_secs(self.poll.seconds());
        self.counts.polls += 1;
        self.reach <<= 1;
        let Some(reduced) = self.filter.reduce() else {
            self.counts.noreply += 1;
            let why = self
                .last_fault
                .clone()
                .unwrap_or_else(|| "no data from the device".into());
            self.silent(why);
            return None;
        };
        if self.said_silent.take().is_some() {
            self.notices.push(Notice::Recovered);
        }
        self.reach |= 1;
        self.epoch = mono;
        self.jitter = reduced.jitter;
        let sample = Sample {
            offset: reduced.offset,
            delay: NtpDuration::ZERO,
            dispersion: NtpDuration::from_log2(self.precision),
            time: now,
        };
        self.last_sample = Some(sample);
        Some(sample)
    }

    /// The clock as the system process sees it at `now`, once it has a sample. A PPS
    /// clock counts only while another source numbers the seconds.
    pub fn contender(&self, id: u32, now: Duration, sys_precision: i8) -> Option<Contender> {
        let sample = self.last_sample?;
        if self.reach == 0 || (self.kind == Kind::Pps && !self.seconds_numbered) {
            return None;
        }
        let age = now.saturating_sub(self.epoch).as_secs_f64();
        let dispersion = sample.dispersion + NtpDuration::from_log2(sys_precision);
        let jitter = self.jitter.max(NtpDuration::from_log2(sys_precision));
        Some(Contender {
            candidate: Candidate {
                id,
                offset: sample.offset,
                root_distance: dispersion + jitter + NtpDuration::from_secs_f64(PHI * age),
                jitter,
                stratum: self.stratum(),
                leap: self.leap,
                // A PPS clock, once allowed, is chosen as classic's pps peer is.
                prefer: self.prefer || self.kind == Kind::Pps,
                truechimer: false,
                local_clock: false,
            },
            details: super::peer_details(
                self.address(),
                self.refid(),
                sample,
                dispersion,
                self.epoch,
                self.poll,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refclock::shm::ShmTime;

    const NOW: i64 = 1_800_000_000;

    fn at(secs: i64, nanos: u32) -> NtpTimestamp {
        NtpTimestamp::from_unix(secs, nanos)
    }

    fn shm_read(count: i32, valid: i32, receive_sec: i64) -> ShmRead {
        let segment = ShmTime {
            mode: 1,
            count,
            valid,
            clock_sec: receive_sec,
            receive_sec,
            clock_usec: 2_000,
            receive_usec: 2_000,
            precision: -20,
            ..ShmTime::default()
        };
        ShmRead {
            count_before: count,
            segment,
            count_after: count,
            system_now: at(receive_sec, 3_000_000),
        }
    }

    #[test]
    fn shm_samples_are_filtered_per_poll_and_faults_counted_once_logged() {
        let mut c = RefClock::new(Kind::Shm, 0, Fudge::default(), 0, None);
        c.poll = PollInterval(4);
        c.start(Duration::ZERO);
        for i in 0..16 {
            let read = shm_read(2 * i, 1, NOW + i64::from(i));
            // Our (virtual) clock runs 1 ms ahead of the system clock.
            c.input(
                Input::Shm(read),
                read.system_now + NtpDuration::from_secs_f64(0.001),
            );
        }
        // Count unchanged, twice: counted twice, said once.
        let stuck = shm_read(30, 1, NOW + 15);
        c.input(Input::Shm(stuck), stuck.system_now);
        c.input(Input::Shm(stuck), stuck.system_now);
        assert_eq!(c.counts.baddata, 2);
        assert_eq!(
            c.take_notices(),
            [Notice::Refused("stale data (count unchanged)".into())]
        );
        assert!(c.poll(at(NOW + 15, 0), Duration::from_secs(15)).is_none());
        let s = c.poll(at(NOW + 16, 0), Duration::from_secs(16)).unwrap();
        // The clock time equals the receive time: the writer's system clock is right and
        // ours 1 ms ahead.
        assert!((s.offset.to_secs_f64() + 0.001).abs() < 1e-6, "{s:?}");
        assert_eq!((c.reach, c.counts.polls, c.counts.noreply), (1, 1, 0));
        assert_eq!(c.precision, -20);
        let id = c.contender(7, Duration::from_secs(16), -20).unwrap();
        assert_eq!(id.candidate.stratum, 0);
        assert_eq!(id.details.refid, RefId::from_ascii("SHM"));
        // Nothing new for a poll: noreply, and the log says why once.
        c.input(Input::Shm(shm_read(40, 0, NOW + 20)), at(NOW + 20, 0));
        assert!(c.poll(at(NOW + 32, 0), Duration::from_secs(32)).is_none());
        assert!(c.poll(at(NOW + 48, 0), Duration::from_secs(48)).is_none());
        assert_eq!(c.counts.noreply, 2);
        assert_eq!(
            c.take_notices(),
            [Notice::Silent("no new sample (valid 0)".into())]
        );
        assert_eq!(c.reach, 0b100);
    }

    #[test]
    fn nmea_takes_the_first_sentence_of_a_second_and_time2_as_its_delay() {
        let fudge = Fudge {
            time2: Some(NtpDuration::from_secs_f64(0.05)),
            refid: Some(RefId::from_ascii("GPSa")),
            ..Fudge::default()
        };
        let mut c = RefClock::new(Kind::Nmea, 1, fudge, 0, Some("/dev/pts/9".into()));
        assert_eq!(
            (c.name(), c.device.as_str()),
            ("GPS_NMEA(1)".into(), "/dev/pts/9")
        );
        c.start(Duration::ZERO);
        let rmc = "$GPRMC,080000,A,4807.038,N,01131.000,E,022.4,084.4,150127,003.1,W*60";
        let gga = "$GPGGA,080000,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*42";
        let arrival = at(NOW, 52_000_000);
        c.input(Input::Line(rmc), arrival);
        c.input(Input::Line(gga), at(NOW, 90_000_000));
        c.input(Input::Line(&rmc.replace("*60", "*61")), arrival);
        assert_eq!(c.counts.badformat, 1);
        assert_eq!(c.take_notices(), [Notice::Refused("bad checksum".into())]);
        let s = c.poll(at(NOW + 64, 0), Duration::from_secs(64)).unwrap();
        assert!((s.offset.to_secs_f64() + 0.002).abs() < 1e-6, "{s:?}");
        assert_eq!(c.timecode, rmc);
        assert_eq!(c.refid(), RefId::from_ascii("GPSa"));
    }

    #[test]
    fn nmea_with_its_lines_pulse_takes_the_fraction_from_the_pulse() {
        let mut c = RefClock::new(Kind::Nmea, 0, Fudge::default(), 0, None);
        c.start(Duration::ZERO);
        let rmc = "$GPRMC,080000,A,4807.038,N,01131.000,E,022.4,084.4,150127,003.1,W*60";
        // The system clock is right and ours 2 ms ahead: the pulse of 08:00:00 reads
        // .002 on ours; the sentence comes 150 ms later (no `time2` to say so).
        let pulse = PpsInfo {
            assert_sequence: 41,
            assert: pps::KTime { sec: NOW, nsec: 0 },
            ..PpsInfo::default()
        };
        let system_then = at(NOW, 100_000_000);
        c.input(Input::Pps(pulse, system_then), at(NOW, 102_000_000));
        c.input(Input::Line(rmc), at(NOW, 152_000_000));
        let s = c.poll(at(NOW + 64, 0), Duration::from_secs(64)).unwrap();
        assert!((s.offset.to_secs_f64() + 0.002).abs() < 1e-6, "{s:?}");
        // The pulse output stops: the next second's sentence is taken alone, as without
        // flag1 (its 150 ms serial delay uncorrected).
        c.input(Input::Pps(pulse, at(NOW + 1, 0)), at(NOW + 1, 2_000_000));
        c.input(
            Input::Line(&rmc.replace("080000", "080001").replace("*60", "*61")),
            at(NOW + 1, 152_000_000),
        );
        let s = c.poll(at(NOW + 128, 0), Duration::from_secs(128)).unwrap();
        assert!((s.offset.to_secs_f64() + 0.152).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn pps_counts_only_while_the_seconds_are_numbered() {
        let fudge = Fudge {
            flags: [false, true, false, false],
            ..Fudge::default()
        };
        let mut c = RefClock::new(Kind::Pps, 0, fudge, 0, None);
        assert_eq!(c.device, "/dev/pps0");
        assert_eq!(fudge.flag_bits(), 2);
        c.start(Duration::ZERO);
        let info = PpsInfo {
            assert_sequence: 5,
            clear_sequence: 9,
            clear: pps::KTime {
                sec: NOW,
                nsec: 999_000_000,
            },
            ..PpsInfo::default()
        };
        c.input(Input::Pps(info, at(NOW, 0)), at(NOW, 0));
        c.input(Input::Pps(info, at(NOW, 0)), at(NOW, 0));
        let s = c.poll(at(NOW + 64, 0), Duration::from_secs(64)).unwrap();
        assert!((s.offset.to_secs_f64() - 0.001).abs() < 1e-6, "{s:?}");
        assert!(c.contender(3, Duration::from_secs(64), -20).is_none());
        c.seconds_numbered = true;
        assert!(
            c.contender(3, Duration::from_secs(64), -20)
                .unwrap()
                .candidate
                .prefer
        );
    }
}
