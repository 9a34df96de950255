//! Command line of classic ntpdate (its getopt string `46a:bBde:k:o:p:qst:uv`), Red Hat's
//! `-U user`, and our long options `--virtual-clock OFFSET[,PPM]`, `--sysconfig FILE`,
//! `--rtc-device PATH` and `--adjtime PATH` (SYNC_HWCLOCK, see [`crate::rtc`]). Like classic, every bad option is
//! reported, then the usage line follows and the exit status is 2; options end at the first
//! argument that does not start with `-` (or at `--`).

use crate::clock::VirtualClockSpec;
use crate::cmdline::atoi;
use crate::rtc::RtcOptions;
use crate::time::NtpDuration;

pub use crate::sys::names::Family;

/// Force a step (`-b`) or a slew (`-B`), or let the offset decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Adjust {
    #[default]
    Auto,
    AlwaysStep,
    NeverStep,
}

/// Everything the command line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub family: Family,
    pub auth_key: Option<u32>,
    pub adjust: Adjust,
    pub debug: u32,
    pub auth_delay: NtpDuration,
    pub key_file: String,
    pub version: u8,
    pub samples: u8,
    pub query_only: bool,
    pub syslog: bool,
    /// Classic's per-reply timeout (`-t`, 0.2 s units, at least 0.2 s).
    pub timeout: NtpDuration,
    pub unprivileged_port: bool,
    pub verbose: bool,
    pub user: Option<String>,
    pub virtual_clock: Option<VirtualClockSpec>,
    /// SYNC_HWCLOCK: where it is read from and which RTC (stand-in) is written.
    pub rtc: RtcOptions,
    pub servers: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            family: Family::Any,
            auth_key: None,
            adjust: Adjust::Auto,
            debug: 0,
            auth_delay: NtpDuration::ZERO,
            key_file: "/etc/ntp.keys".to_string(),
            version: 4,
            samples: 4,
            query_only: false,
            syslog: false,
            timeout: NtpDuration::ONE_SECOND,
            unprivileged_port: false,
            verbose: false,
            user: None,
            virtual_clock: None,
            rtc: RtcOptions::default(),
            servers: Vec::new(),
        }
    }
}

/// A command line that cannot run: the messages to print (each already prefixed with the
/// program name), before the usage line. Exit status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError {
    pub messages: Vec<String>,
    pub usage: String,
}

/// The usage line, with `prog` exactly as invoked (argv[0]).
pub fn usage(prog: &str) -> String {
    format!("usage: {prog} [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...")
}

/// Classic's `atolfp`: `[-+]digits[.digits]` and nothing else.
fn decimal(text: &str) -> Option<NtpDuration> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits_only(int) || !digits_only(frac) {
        return None;
    }
    let value: f64 = format!("0{int}.{frac}0").parse().ok()?;
    let d = NtpDuration::from_secs_f64(value);
    Some(if neg { -d } else { d })
}

struct Parser<'a> {
    prog: &'a str,
    opts: Options,
    errors: Vec<String>,
}

impl Parser<'_> {
    /// Applies one option letter with its argument (if it takes one).
    fn apply(&mut self, letter: char, arg: &str) {
        let prog = self.prog;
        let o = &mut self.opts;
        match letter {
            '4' => o.family = Family::V4,
            '6' => o.family = Family::V6,
            'a' => o.auth_key = Some(atoi(arg) as u32),
            'b' => o.adjust = Adjust::AlwaysStep,
            'B' => o.adjust = Adjust::NeverStep,
            'd' => o.debug += 1,
            'e' => match decimal(arg) {
                Some(d) if d >= NtpDuration::ZERO && d < NtpDuration::ONE_SECOND => {
                    o.auth_delay = d
                }
                _ => self
                    .errors
                    .push(format!("{prog}: encryption delay {arg} is unlikely")),
            },
            'k' => o.key_file = arg.to_string(),
            'o' => o.version = atoi(arg) as u8,
            'p' => match atoi(arg) {
                n @ 1..=8 => o.samples = n as u8,
                n => self.errors.push(format!(
                    "{prog}: number of samples ({}) is invalid",
                    n as i32
                )),
            },
            'q' => o.query_only = true,
            's' => o.syslog = true,
            't' => match decimal(arg) {
                Some(t) => {
                    // Rounded to classic's 0.2 s timer ticks, at least one tick.
                    let ticks = ((t.to_secs_f64() * 5.0) + 0.5).floor().max(1.0);
                    o.timeout = NtpDuration::from_secs_f64(ticks / 5.0);
                }
                None => self
                    .errors
                    .push(format!("{prog}: timeout {arg} is undecodeable")),
            },
            'u' => o.unprivileged_port = true,
            'v' => o.verbose = true,
            'U' => o.user = Some(arg.to_string()),
            _ => self
                .errors
                .push(format!("{prog}: unknown option -{letter}")),
        }
    }

    /// One of our long options with its value.
    fn long(&mut self, name: &str, value: &str) {
        match name {
            "virtual-clock" => match value.parse::<VirtualClockSpec>() {
                Ok(spec) => self.opts.virtual_clock = Some(spec),
                Err(e) => self.errors.push(format!("{}: {e}", self.prog)),
            },
            "sysconfig" => self.opts.rtc.sysconfig.push(value.into()),
            "rtc-device" => self.opts.rtc.device = Some(value.into()),
            _ => self.opts.rtc.adjtime = Some(value.into()),
        }
    }
}

const LONG_OPTIONS: [&str; 4] = ["virtual-clock", "sysconfig", "rtc-device", "adjtime"];

const TAKES_ARGUMENT: &str = "aekoptU";
const FLAGS: &str = "46bBdqsuv";

/// Parses `args` (without argv[0]); `prog` is argv[0] for messages.
pub fn parse(prog: &str, args: &[String]) -> Result<Options, UsageError> {
    let mut p = Parser {
        prog,
        opts: Options::default(),
        errors: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let long = arg.strip_prefix("--").and_then(|rest| {
            let (name, inline) = match rest.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (rest, None),
            };
            LONG_OPTIONS.contains(&name).then_some((name, inline))
        });
        if let Some((name, inline)) = long {
            match inline.or(args.get(i).map(String::as_str)) {
                Some(value) => p.long(name, value),
                None => p.errors.push(format!("{prog}: --{name} needs a value")),
            }
            if inline.is_none() {
                i += 1;
            }
            continue;
        }
        if !arg.starts_with('-') || arg.len() == 1 {
            i -= 1;
            break;
        }
        let letters: Vec<char> = arg[1..].chars().collect();
        let mut k = 0;
        while k < letters.len() {
            let letter = letters[k];
            k += 1;
            if TAKES_ARGUMENT.contains(letter) {
                let attached: String = letters[k..].iter().collect();
                let value = if !attached.is_empty() {
                    attached
                } else if let Some(next) = args.get(i) {
                    i += 1;
                    next.clone()
                } else {
                    p.errors
                        .push(format!("{prog}: option requires an argument -{letter}"));
                    break;
                };
                p.apply(letter, &value);
                break;
            }
            if FLAGS.contains(letter) {
                p.apply(letter, "");
            } else {
                p.errors.push(format!("{prog}: unknown option -{letter}"));
            }
        }
    }
    p.opts.servers = args[i.min(args.len())..].to_vec();
    if p.errors.is_empty() {
        Ok(p.opts)
    } else {
        Err(UsageError {
            messages: p.errors,
            usage: usage(prog),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn xymon_style_query() {
        let o = parse("ntpdate", &args("-u -q -p 1 172.25.0.11 10.0.0.1")).unwrap();
        assert!(o.unprivileged_port && o.query_only);
        assert_eq!(o.samples, 1);
        assert_eq!(o.servers, args("172.25.0.11 10.0.0.1"));
    }

    #[test]
    fn clustered_and_attached_arguments() {
        let o = parse("ntpdate", &args("-qbp2 -t0.5 -o3 -U ntp srv")).unwrap();
        assert_eq!((o.samples, o.version), (2, 3));
        assert_eq!(o.adjust, Adjust::AlwaysStep);
        assert_eq!(o.timeout, NtpDuration::from_secs_f64(0.6));
        assert_eq!(o.user.as_deref(), Some("ntp"));
        let o = parse("ntpdate", &args("-b -B srv")).unwrap();
        assert_eq!(o.adjust, Adjust::NeverStep);
    }

    #[test]
    fn virtual_clock_both_spellings() {
        let o = parse("ntpdate", &args("--virtual-clock=-0.5,20 -q srv")).unwrap();
        let spec = o.virtual_clock.unwrap();
        assert!((spec.offset.to_secs_f64() + 0.5).abs() < 1e-9);
        let o = parse("ntpdate", &args("--virtual-clock 3.0 srv")).unwrap();
        assert!((o.virtual_clock.unwrap().offset.to_secs_f64() - 3.0).abs() < 1e-9);
        assert!(parse("ntpdate", &args("--virtual-clock x srv")).is_err());
    }

    #[test]
    fn hardware_clock_paths() {
        let o = parse(
            "ntpdate",
            &args("--sysconfig /s1 --sysconfig=/s2 --rtc-device /tmp/rtc --adjtime=/a -b srv"),
        )
        .unwrap();
        assert_eq!(o.rtc.sysconfig.len(), 2);
        assert_eq!(
            o.rtc.device.as_deref(),
            Some(std::path::Path::new("/tmp/rtc"))
        );
        assert_eq!(o.rtc.adjtime.as_deref(), Some(std::path::Path::new("/a")));
        assert_eq!(o.servers, args("srv"));
        assert!(parse("ntpdate", &args("--rtc-device")).is_err());
    }

    #[test]
    fn classic_error_messages() {
        let e = parse("ntpdate", &args("-?")).unwrap_err();
        assert_eq!(e.messages, vec!["ntpdate: unknown option -?"]);
        assert_eq!(e.usage, "usage: ntpdate [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...");
        let e = parse("ntpdate", &args("--help")).unwrap_err();
        assert_eq!(
            e.messages,
            vec![
                "ntpdate: unknown option --",
                "ntpdate: unknown option -h",
                "ntpdate: encryption delay lp is unlikely"
            ]
        );
        let e = parse("ntpdate", &args("-p 0 -q 127.0.0.1")).unwrap_err();
        assert_eq!(
            e.messages,
            vec!["ntpdate: number of samples (0) is invalid"]
        );
        let e = parse("/usr/sbin/ntpdate", &args("-t abc -q 127.0.0.1")).unwrap_err();
        assert_eq!(
            e.messages,
            vec!["/usr/sbin/ntpdate: timeout abc is undecodeable"]
        );
        assert!(e.usage.starts_with("usage: /usr/sbin/ntpdate [-46"));
    }

    #[test]
    fn options_stop_at_first_server() {
        let o = parse("ntpdate", &args("srv -q")).unwrap();
        assert!(!o.query_only);
        assert_eq!(o.servers, args("srv -q"));
        assert!(parse("ntpdate", &[]).unwrap().servers.is_empty());
    }
}
