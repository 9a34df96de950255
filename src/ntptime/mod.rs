//! `ntptime`: the kernel's clock discipline state in classic 4.2.6p5's layout
//! (util/ntptime.c). Without options it only reads (ntp_gettime and ntp_adjtime with no
//! mode bits); `-e -f -m -o -s -t -T -M -N` ask the kernel to change what they name, which
//! needs root, as classic's do. The system call lives in [`crate::clock`]; this module
//! parses the options and formats a [`KernelTimex`].

mod format;

pub use format::{adjtime_report, cost_report, gettime_report, usage};

use crate::clock::{ntp_adjtime, ClockError, KernelAdjust, KernelTimex};
use crate::cmdline::atoi;

/// The kernel's ADJ_* mode bits ntptime's options set.
pub mod modes {
    pub const OFFSET: u32 = 0x0001;
    pub const FREQUENCY: u32 = 0x0002;
    pub const MAXERROR: u32 = 0x0004;
    pub const ESTERROR: u32 = 0x0008;
    pub const STATUS: u32 = 0x0010;
    pub const TIMECONST: u32 = 0x0020;
    pub const TAI: u32 = 0x0080;
    pub const MICRO: u32 = 0x1000;
    pub const NANO: u32 = 0x2000;
}

/// Classic's bound on `-t` (MAXTC).
pub const MAX_TIME_CONSTANT: i64 = 10;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `-c`: time 20 consecutive reads.
    pub cost: bool,
    /// `-r`: the time line raw (`ntptime=... unixtime=...`).
    pub raw: bool,
    /// What to set; `modes == 0` without any of the setting options.
    pub adjust: KernelAdjust,
}

/// `atof`'s reading, forgiving as C's: what does not parse is 0.
fn atof(s: &str) -> f64 {
    s.trim().parse().unwrap_or(0.0)
}

/// Parses the arguments after the program name, getopt style (`-f 10`, `-f10`, `-rc`).
/// `Err` carries the message to print before the usage (empty for `-h`); classic then
/// exits 2.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(String::new());
        };
        for (at, c) in flags.char_indices() {
            if !"MNTdefmost".contains(c) {
                match c {
                    'c' => o.cost = true,
                    'r' => o.raw = true,
                    'h' => return Err(String::new()),
                    _ => return Err(format!("ntptime: invalid option -- '{c}'")),
                }
                continue;
            }
            if matches!(c, 'M' | 'N' | 'd') {
                option(&mut o.adjust, c, "")?;
                continue;
            }
            let rest = &flags[at + c.len_utf8()..];
            let value = match rest {
                "" => args
                    .next()
                    .ok_or_else(|| format!("ntptime: option requires an argument -- '{c}'"))?,
                attached => attached,
            };
            option(&mut o.adjust, c, value)?;
            break;
        }
    }
    Ok(o)
}

/// One setting option into the request, as classic's switch does it.
fn option(a: &mut KernelAdjust, c: char, value: &str) -> Result<(), String> {
    const SCALE_FREQ: f64 = 65_536.0;
    match c {
        'M' => a.modes |= modes::MICRO,
        'N' => a.modes |= modes::NANO,
        'T' => {
            a.modes |= modes::TAI;
            a.constant = atoi(value);
        }
        'e' => {
            a.modes |= modes::ESTERROR;
            a.esterror = atoi(value);
        }
        'f' => {
            a.modes |= modes::FREQUENCY;
            a.freq = (atof(value) * SCALE_FREQ) as i64;
        }
        'm' => {
            a.modes |= modes::MAXERROR;
            a.maxerror = atoi(value);
        }
        'o' => {
            a.modes |= modes::OFFSET;
            a.offset = atoi(value);
        }
        's' => {
            a.modes |= modes::STATUS;
            let status = atoi(value);
            a.status = i32::try_from(status)
                .ok()
                .filter(|s| (0..0x100).contains(s))
                .ok_or_else(String::new)?;
        }
        't' => {
            a.modes |= modes::TIMECONST;
            a.constant = atoi(value);
            if !(0..=MAX_TIME_CONSTANT).contains(&a.constant) {
                return Err(String::new());
            }
        }
        // -d (debug) changes nothing ntptime prints.
        _ => {}
    }
    Ok(())
}

/// Runs ntptime with `args` (without the program name), printing to stdout; the exit status.
pub fn main(args: &[String]) -> i32 {
    let opts = match parse(args) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            print!("{}", usage());
            return 2;
        }
    };
    let utc_offset = crate::sys::localtime::utc_offset_now();
    if opts.cost {
        let reads: Vec<KernelTimex> = (0..20).filter_map(|_| read().ok()).collect();
        print!("{}", cost_report(&reads));
    }
    match read() {
        Ok(tx) => print!("{}", gettime_report(&tx, utc_offset, opts.raw)),
        Err(e) => eprintln!("ntp_gettime() call fails: {e}"),
    }
    // As classic: the one ntp_adjtime call carries the options' modes (none: a read) and
    // its answer is what is shown.
    match ntp_adjtime(&opts.adjust) {
        Ok(tx) => print!("{}", adjtime_report(&tx)),
        Err(e) => {
            eprintln!("{}", adjtime_failure(&e));
            return 1;
        }
    }
    0
}

fn read() -> Result<KernelTimex, ClockError> {
    ntp_adjtime(&KernelAdjust::default())
}

/// classic's perror text for a failed ntp_adjtime.
fn adjtime_failure(e: &ClockError) -> String {
    match e {
        ClockError::NotPermitted => {
            "Must be root to set kernel values\nntp_adjtime() call fails: Operation not permitted"
                .to_string()
        }
        ClockError::System(s) => format!("ntp_adjtime() call fails: {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_options_read_only() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.adjust.modes, 0);
        let o = parse(&args(&["-rc"])).unwrap();
        assert!(o.raw && o.cost);
        assert_eq!(o.adjust.modes, 0, "-r and -c only read");
    }

    #[test]
    fn setting_options_as_classic() {
        let o = parse(&args(&[
            "-f", "12.5", "-o100", "-m", "16000", "-e", "8", "-s", "65", "-t", "4",
        ]))
        .unwrap();
        let a = o.adjust;
        assert_eq!(
            a.modes,
            modes::FREQUENCY
                | modes::OFFSET
                | modes::MAXERROR
                | modes::ESTERROR
                | modes::STATUS
                | modes::TIMECONST
        );
        assert_eq!(a.freq, 819_200);
        assert_eq!((a.offset, a.maxerror, a.esterror), (100, 16000, 8));
        assert_eq!((a.status, a.constant), (65, 4));
        let t = parse(&args(&["-T", "37"])).unwrap().adjust;
        assert_eq!((t.modes, t.constant), (modes::TAI, 37));
        let n = parse(&args(&["-N"])).unwrap().adjust;
        assert_eq!(n.modes, modes::NANO);
    }

    #[test]
    fn bad_options_give_the_usage() {
        assert_eq!(parse(&args(&["-h"])), Err(String::new()));
        assert_eq!(parse(&args(&["-t", "11"])), Err(String::new()));
        assert_eq!(parse(&args(&["-s", "256"])), Err(String::new()));
        assert_eq!(
            parse(&args(&["-x"])),
            Err("ntptime: invalid option -- 'x'".into())
        );
        assert_eq!(
            parse(&args(&["-f"])),
            Err("ntptime: option requires an argument -- 'f'".into())
        );
        assert_eq!(atoi(" -12abc"), -12);
        assert_eq!(atoi("x"), 0);
    }
}
