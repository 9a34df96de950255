//! `ntp-wait`, as RHEL6's ntp-perl ships it: asks the local ntpd for its leap indicator
//! (mode 6 `readvar leap`, what the perl script gets from `ntpq -c "rv 0 leap"`) until it
//! is no longer 3 (alarm), for boot scripts that must not start before the time is good.
//!
//! `-n TRIES` (1000), `-s SECONDS` between tries (6), `-v` to say what happens. Exit 0 once
//! synchronised; 1 when ntpd is not running (the query is refused) or still not
//! synchronised after the last try. Unlike the script, it does not sleep after the last
//! try, and a malformed option is an error rather than ignored.

use crate::ntpq::session::{QueryError, Session, Transport};
use crate::wire::control::opcode;
use crate::wire::varlist::parse_varlist;
use std::io::{self, Write};
use std::time::Duration;

/// The usage line, as the script's Getopt spells its options.
pub const USAGE: &str = "usage: ntp-wait [-v] [-n tries] [-s seconds]";

/// The command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub tries: u32,
    pub sleep: Duration,
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tries: 1000,
            sleep: Duration::from_secs(6),
            verbose: false,
        }
    }
}

/// Parses the arguments after the program name, Getopt::Std style (`-v -n 5`, `-vn5`).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return Err(format!("ntp-wait: unexpected argument '{arg}'"));
        };
        for (at, c) in flags.char_indices() {
            match c {
                'v' => o.verbose = true,
                'n' | 's' => {
                    let rest = &flags[at + 1..];
                    let value = if rest.is_empty() {
                        args.next()
                            .ok_or_else(|| format!("ntp-wait: option -{c} requires an argument"))?
                    } else {
                        rest.to_string()
                    };
                    let n: u32 = value
                        .parse()
                        .map_err(|_| format!("ntp-wait: invalid number '{value}' for -{c}"))?;
                    match c {
                        'n' => o.tries = n,
                        _ => o.sleep = Duration::from_secs(n.into()),
                    }
                    break;
                }
                other => return Err(format!("ntp-wait: illegal option -- {other}")),
            }
        }
    }
    Ok(o)
}

/// What one query found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leap {
    /// Leap indicator 0, 1 or 2: the daemon serves synchronised time.
    Synchronised,
    /// Leap indicator 3, no answer, or an answer without `leap`.
    NotYet,
    /// The query was refused: nothing listens on the port.
    NotRunning,
}

/// The leap indicator as ntpd sends it (`leap=3`) or as ntpq prints it (`leap=11`).
fn synchronised(value: &str) -> Option<bool> {
    match value.trim() {
        "0" | "1" | "2" | "00" | "01" | "10" => Some(true),
        "3" | "11" => Some(false),
        _ => None,
    }
}

/// Asks the daemon behind `t` once.
pub fn query(session: &mut Session, t: &mut dyn Transport) -> Leap {
    match session.query(t, opcode::READVAR, 0, b"leap") {
        Ok(r) => {
            let leap = parse_varlist(&r.data)
                .into_iter()
                .find(|v| v.name == "leap")
                .and_then(|v| synchronised(&v.value));
            if leap == Some(true) {
                Leap::Synchronised
            } else {
                Leap::NotYet
            }
        }
        Err(QueryError::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Leap::NotRunning,
        Err(_) => Leap::NotYet,
    }
}

/// The waiting loop: `ask` queries once, `sleep` waits; progress goes to `out` with -v.
/// Returns the exit status.
pub fn wait(
    o: &Options,
    ask: &mut dyn FnMut() -> Leap,
    sleep: &mut dyn FnMut(Duration),
    out: &mut dyn Write,
) -> i32 {
    let mut say = |text: &str| {
        if o.verbose {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    };
    say("Waiting for ntpd to synchronize...  ");
    for i in 0..o.tries {
        match ask() {
            Leap::Synchronised => {
                say("\x08OK!\n");
                return 0;
            }
            Leap::NotRunning => {
                say("\x08ntpd is not running!\n");
                return 1;
            }
            Leap::NotYet => {}
        }
        let spinner = ["*", "+", ":", "."][i as usize % 4];
        say(&format!("\x08{spinner}"));
        if i + 1 < o.tries {
            sleep(o.sleep);
        }
    }
    say("\x08No!\nntpd did not synchronize.\n");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Options, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_as_getopt_takes_them() {
        assert_eq!(args(&[]).unwrap(), Options::default());
        let o = args(&["-v", "-n", "5", "-s2"]).unwrap();
        assert_eq!(
            (o.tries, o.sleep, o.verbose),
            (5, Duration::from_secs(2), true)
        );
        assert_eq!(args(&["-vn3"]).unwrap().tries, 3);
        assert!(args(&["-x"]).unwrap_err().contains("illegal option -- x"));
        assert!(args(&["-n"]).is_err());
        assert!(args(&["-n", "many"]).is_err());
        assert!(args(&["host"]).is_err());
    }

    #[test]
    fn leap_values_of_ntpd_and_ntpq() {
        for (v, sync) in [
            ("0", true),
            ("01", true),
            ("2", true),
            ("3", false),
            ("11", false),
        ] {
            assert_eq!(synchronised(v), Some(sync), "{v}");
        }
        assert_eq!(synchronised("x"), None);
    }

    fn run(o: &Options, answers: &[Leap]) -> (i32, String, Vec<Duration>) {
        let mut answers = answers.iter().copied();
        let mut slept = Vec::new();
        let mut out = Vec::new();
        let code = wait(
            o,
            &mut || answers.next().unwrap_or(Leap::NotYet),
            &mut |d| slept.push(d),
            &mut out,
        );
        (code, String::from_utf8(out).unwrap(), slept)
    }

    #[test]
    fn waits_until_synchronised_or_out_of_tries() {
        let o = Options {
            tries: 4,
            sleep: Duration::from_secs(1),
            verbose: true,
        };
        let (code, out, slept) = run(&o, &[Leap::NotYet, Leap::NotYet, Leap::Synchronised]);
        assert_eq!(code, 0);
        assert_eq!(
            out,
            "Waiting for ntpd to synchronize...  \x08*\x08+\x08OK!\n"
        );
        assert_eq!(slept.len(), 2);
        let (code, out, slept) = run(&o, &[]);
        assert_eq!(code, 1);
        assert!(
            out.ends_with("\x08.\x08No!\nntpd did not synchronize.\n"),
            "{out:?}"
        );
        assert_eq!(slept.len(), 3);
        let (code, out, _) = run(&o, &[Leap::NotRunning]);
        assert_eq!((code, out.ends_with("ntpd is not running!\n")), (1, true));
        let quiet = Options {
            verbose: false,
            ..o
        };
        assert_eq!(run(&quiet, &[]).1, "");
    }
}
