//! ntptime's report, character for character as 4.2.6p5's util/ntptime.c prints it.

use crate::clock::KernelTimex;
use crate::time::civil::{ctime, pretty_date};
use crate::time::{NtpTimestamp, UNIX_EPOCH_NTP_SECS};

/// STA_NANO: the kernel's offset, time fraction and precision are in nanoseconds.
const STA_NANO: i32 = 0x2000;

/// Names of the mode bits, bit 0 first (classic's TIMEX_MOD_BITS; unnamed bits are "").
const MODE_BITS: [&str; 16] = [
    "OFFSET",
    "FREQUENCY",
    "MAXERROR",
    "ESTERROR",
    "STATUS",
    "TIMECONST",
    "",
    "",
    "",
    "",
    "PLL",
    "FLL",
    "MICRO",
    "NANO",
    "CLKB",
    "CLKA",
];

/// Names of the status bits, bit 0 first (classic's TIMEX_STA_BITS).
const STATUS_BITS: [&str; 16] = [
    "PLL",
    "PPSFREQ",
    "PPSTIME",
    "FLL",
    "INS",
    "DEL",
    "UNSYNC",
    "FREQHOLD",
    "PPSSIGNAL",
    "PPSJITTER",
    "PPSWANDER",
    "PPSERROR",
    "CLOCKERR",
    "NANO",
    "MODE",
    "CLK",
];

/// classic's `sprintb`: `0x2001 (PLL,NANO)`, the names of the set bits that have one.
fn bits(value: u32, names: &[&str; 16]) -> String {
    let set: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|(i, name)| value & (1 << i) != 0 && !name.is_empty())
        .map(|(_, name)| *name)
        .collect();
    format!("0x{value:x} ({})", set.join(","))
}

/// The name of an ntp_adjtime return value (classic's `timex_state`).
fn state(s: i32) -> String {
    match s {
        0 => "OK".into(),
        1 => "INS".into(),
        2 => "DEL".into(),
        3 => "OOP".into(),
        4 => "WAIT".into(),
        5 => "ERROR".into(),
        other => other.to_string(),
    }
}

fn nano(tx: &KernelTimex) -> bool {
    tx.settable.status & STA_NANO != 0
}

/// The NTP timestamp ntptime shows for the kernel's time: microseconds into a 32-bit
/// fraction; with STA_NANO rounded to 2^-30 s as classic does.
fn timestamp(tx: &KernelTimex) -> NtpTimestamp {
    let micros = if nano(tx) {
        tx.time_frac / 1000
    } else {
        tx.time_frac
    };
    let mut fraction = ((micros.clamp(0, 999_999) as u64) << 32) / 1_000_000;
    if nano(tx) {
        fraction = (fraction + 2) & 0xffff_fffc;
    }
    let seconds = (tx.time_sec + UNIX_EPOCH_NTP_SECS as i64) as u64 & 0xffff_ffff;
    NtpTimestamp::from_bits(seconds << 32 | fraction & 0xffff_ffff)
}

/// The `ntp_gettime()` section; `raw` is `-r`'s time line. Local time as `utc_offset`.
pub fn gettime_report(tx: &KernelTimex, utc_offset: i64, raw: bool) -> String {
    let ts = timestamp(tx);
    let digits = if nano(tx) { 9 } else { 6 };
    let time = if raw {
        format!(
            "ntptime={:x}.{:x} unixtime={:x}.{:0digits$} {}\n",
            ts.seconds(),
            ts.fraction(),
            tx.time_sec,
            tx.time_frac,
            ctime(tx.time_sec, utc_offset)
        )
    } else {
        format!(
            "  time {}, (.{:0digits$}),\n",
            pretty_date(ts, utc_offset),
            tx.time_frac
        )
    };
    format!(
        "ntp_gettime() returns code {} ({})\n{time}  maximum error {} us, estimated error {} us, \
         TAI offset {}\n",
        tx.state,
        state(tx.state),
        tx.settable.maxerror,
        tx.settable.esterror,
        tx.tai
    )
}

/// The `ntp_adjtime()` section; the PPS lines only when the kernel keeps a PPS interval.
pub fn adjtime_report(tx: &KernelTimex) -> String {
    const SCALE: f64 = 65_536.0;
    let per_us = if nano(tx) { 1000.0 } else { 1.0 };
    let mut out = format!(
        "ntp_adjtime() returns code {} ({})\n  modes {},\n  offset {:.3} us, frequency {:.3} \
         ppm, interval {} s,\n  maximum error {} us, estimated error {} us,\n  status {},\n  \
         time constant {}, precision {:.3} us, tolerance {:.0} ppm,\n",
        tx.state,
        state(tx.state),
        bits(tx.settable.modes, &MODE_BITS),
        tx.settable.offset as f64 / per_us,
        tx.settable.freq as f64 / SCALE,
        1i64 << tx.shift.clamp(0, 62),
        tx.settable.maxerror,
        tx.settable.esterror,
        bits(tx.settable.status as u32, &STATUS_BITS),
        tx.settable.constant,
        tx.precision as f64 / per_us,
        tx.tolerance as f64 / SCALE,
    );
    if tx.shift != 0 {
        out += &format!(
            "  pps frequency {:.3} ppm, stability {:.3} ppm, jitter {:.3} us,\n  intervals {}, \
             jitter exceeded {}, stability exceeded {}, errors {}.\n",
            tx.ppsfreq as f64 / SCALE,
            tx.stabil as f64 / SCALE,
            tx.jitter as f64 / per_us,
            tx.calcnt,
            tx.jitcnt,
            tx.stbcnt,
            tx.errcnt
        );
    }
    out
}

/// `-c`: the first read's fraction, then the step between consecutive reads.
pub fn cost_report(reads: &[KernelTimex]) -> String {
    let Some(first) = reads.first() else {
        return String::new();
    };
    let steps: String = reads
        .windows(2)
        .map(|w| format!(" {}", w[1].time_frac - w[0].time_frac))
        .collect();
    format!("[ us {:06}:{steps} ]\n", first.time_frac)
}

/// `ntptime -h` (and after a bad option): classic's usage text, to stdout.
pub fn usage() -> &'static str {
    "usage: ntptime [-MNT:cde:f:hm:o:rs:t:]\n\n\
-M\t\tswitch to microsecond mode\n\
-N\t\tswitch to nanosecond mode\n\
-T tai_offset\tset TAI offset\n\
-c\t\tdisplay the time taken to call ntp_gettime (us)\n\
-e esterror\testimate of the error (us)\n\
-f frequency\tFrequency error (-500 .. 500) (ppm)\n\
-h\t\tdisplay this help info\n\
-m maxerror\tmax possible error (us)\n\
-o offset\tcurrent offset (ms)\n\
-r\t\tprint the unix and NTP time raw\n\
-s status\tSet the status bits\n\
-t timeconstant\tlog2 of PLL time constant (0 .. 10)\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel in nanosecond mode, synchronised by a PLL, as on a host running ntpd.
    fn sample() -> KernelTimex {
        KernelTimex {
            state: 0,
            settable: crate::clock::KernelAdjust {
                status: 0x2001,
                maxerror: 8_000_000,
                esterror: 16_000_000,
                constant: 7,
                ..Default::default()
            },
            time_sec: 1_796_519_025,
            time_frac: 71_129_000,
            precision: 1,
            tolerance: 32_768_000,
            ..KernelTimex::default()
        }
    }

    #[test]
    fn classic_layout_from_a_kernel_state() {
        let tx = sample();
        assert_eq!(
            gettime_report(&tx, 0, false),
            "ntp_gettime() returns code 0 (OK)\n  time eebf32f1.12358298  Sun, Dec  6 2026  \
             1:03:45.071, (.071129000),\n  maximum error 8000000 us, estimated error 16000000 \
             us, TAI offset 0\n"
        );
        assert_eq!(
            adjtime_report(&tx),
            "ntp_adjtime() returns code 0 (OK)\n  modes 0x0 (),\n  offset 0.000 us, frequency \
             0.000 ppm, interval 1 s,\n  maximum error 8000000 us, estimated error 16000000 \
             us,\n  status 0x2001 (PLL,NANO),\n  time constant 7, precision 0.001 us, \
             tolerance 500 ppm,\n"
        );
    }

    #[test]
    fn states_bits_and_units() {
        let mut tx = sample();
        tx.state = 5;
        tx.settable.status = 0x41;
        tx.settable.offset = -1500;
        tx.settable.freq = -12 * 65_536 - 32_768;
        tx.settable.modes = 0x2003;
        tx.time_frac = 71_129;
        let text = adjtime_report(&tx);
        assert!(
            text.starts_with(
                "ntp_adjtime() returns code 5 (ERROR)\n  modes 0x2003 (OFFSET,FREQUENCY,NANO),\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("offset -1500.000 us, frequency -12.500 ppm,"),
            "{text}"
        );
        assert!(text.contains("status 0x41 (PLL,UNSYNC),"), "{text}");
        assert!(
            text.contains("precision 1.000 us"),
            "microseconds without NANO"
        );
        let g = gettime_report(&tx, 0, false);
        assert!(g.contains("(.071129),"), "{g}");
        assert_eq!(state(9), "9");
        let raw = gettime_report(&tx, 0, true);
        assert!(
            raw.contains(
                "ntptime=eebf32f1.12358298 unixtime=6b14b471.071129 Sun Dec  6 01:03:45 2026\n"
            ),
            "{raw}"
        );
    }

    #[test]
    fn pps_lines_only_with_a_pps_interval() {
        let mut tx = sample();
        assert!(!adjtime_report(&tx).contains("pps"));
        tx.shift = 2;
        tx.calcnt = 3;
        let text = adjtime_report(&tx);
        assert!(text.contains("interval 4 s,"), "{text}");
        assert!(text.ends_with(
            "  pps frequency 0.000 ppm, stability 0.000 ppm, jitter 0.000 us,\n  intervals 3, \
             jitter exceeded 0, stability exceeded 0, errors 0.\n"
        ));
    }

    #[test]
    fn cost_steps() {
        let at = |f| KernelTimex {
            time_frac: f,
            ..KernelTimex::default()
        };
        assert_eq!(cost_report(&[at(5), at(7), at(12)]), "[ us 000005: 2 5 ]\n");
        assert_eq!(cost_report(&[]), "");
    }
}
