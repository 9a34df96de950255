//! ntpd's command line: the classic 4.2.6p5 options (autoopts style: `-c FILE`, `-cFILE`,
//! `--configfile=FILE`, `--configfile FILE`, bundled flags such as `-gnq`) plus our
//! additions `--check` (`--explain`), `--virtual-clock OFFSET[,PPM]`, `--metrics [ADDRESS:]PORT`
//! and the host integration paths (`--sysconfig`, `--rtc-device`, `--adjtime`,
//! `--syslog-socket`).

use crate::clock::VirtualClockSpec;
use crate::rtc::RtcOptions;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Everything the command line can say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub ipv4_only: bool,
    pub ipv6_only: bool,
    pub debug_level: u8,
    pub driftfile: Option<PathBuf>,
    /// -g: allow the first adjustment to be big (beyond the panic threshold).
    pub panic_gate: bool,
    pub interfaces: Vec<String>,
    pub keyfile: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    /// -L: do not listen on virtual interfaces (aliases such as eth0:1).
    pub no_virtual_ips: bool,
    /// -n: stay in the foreground.
    pub no_fork: bool,
    pub nice: bool,
    pub pidfile: Option<PathBuf>,
    pub priority: Option<i32>,
    /// -q: set the time once and quit.
    pub quit: bool,
    pub statsdir: Option<PathBuf>,
    pub trusted_keys: Vec<u32>,
    pub user: Option<String>,
    /// -U: seconds between interface scans (0: only when the kernel reports a change).
    /// Kept as given: classic logs a negative value and goes on with its default.
    pub update_interval: Option<i64>,
    /// -x: slew only (step threshold raised to 600 s).
    pub slew_only: bool,
    pub saveconfigquit: Option<PathBuf>,
    pub check: bool,
    /// `--explain` (implies `--check`): every directive in plain words.
    pub explain: bool,
    pub virtual_clock: Option<VirtualClockSpec>,
    /// Where SYNC_HWCLOCK is read from and which RTC (stand-in) is written at stop.
    pub rtc: RtcOptions,
    /// Replaces /dev/log.
    pub syslog_socket: Option<PathBuf>,
    /// `--metrics [ADDRESS:]PORT`: serve the Prometheus page there.
    pub metrics: Option<SocketAddr>,
    /// Options accepted for compatibility that change nothing here, with their letters.
    pub ignored: Vec<String>,
}

/// What `parse` decided.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Box<Options>),
    Help,
    Version,
}

/// A command-line error, printed as classic does: `ntpd: illegal option -- v` + usage.
#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

struct Spec {
    short: Option<char>,
    long: &'static str,
    takes_arg: bool,
}

const fn spec(short: Option<char>, long: &'static str, takes_arg: bool) -> Spec {
    Spec {
        short,
        long,
        takes_arg,
    }
}

const SPECS: &[Spec] = &[
    spec(Some('4'), "ipv4", false),
    spec(Some('6'), "ipv6", false),
    spec(Some('a'), "authreq", false),
    spec(Some('A'), "authnoreq", false),
    spec(Some('b'), "bcastsync", false),
    spec(Some('c'), "configfile", true),
    spec(Some('d'), "debug-level", false),
    spec(Some('D'), "set-debug-level", true),
    spec(Some('f'), "driftfile", true),
    spec(Some('g'), "panicgate", false),
    spec(Some('i'), "jaildir", true),
    spec(Some('I'), "interface", true),
    spec(Some('k'), "keyfile", true),
    spec(Some('l'), "logfile", true),
    spec(Some('L'), "novirtualips", false),
    spec(Some('n'), "nofork", false),
    spec(Some('N'), "nice", false),
    spec(Some('p'), "pidfile", true),
    spec(Some('P'), "priority", true),
    spec(Some('q'), "quit", false),
    spec(Some('r'), "propagationdelay", true),
    spec(None, "saveconfigquit", true),
    spec(Some('s'), "statsdir", true),
    spec(Some('t'), "trustedkey", true),
    spec(Some('u'), "user", true),
    spec(Some('U'), "updateinterval", true),
    spec(None, "var", true),
    spec(None, "dvar", true),
    spec(Some('x'), "slew", false),
    spec(None, "version", false),
    spec(Some('?'), "help", false),
    spec(None, "check", false),
    spec(None, "explain", false),
    spec(None, "virtual-clock", true),
    spec(None, "sysconfig", true),
    spec(None, "rtc-device", true),
    spec(None, "adjtime", true),
    spec(None, "syslog-socket", true),
    spec(None, "metrics", true),
];

fn number<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| UsageError(format!("ntpd: invalid {what} '{value}'")))
}

fn apply(
    opts: &mut Options,
    long: &str,
    value: Option<String>,
) -> Result<Option<Command>, UsageError> {
    let value = value.unwrap_or_default();
    match long {
        "ipv4" => opts.ipv4_only = true,
        "ipv6" => opts.ipv6_only = true,
        "configfile" => opts.config = Some(value.into()),
        "debug-level" => opts.debug_level = opts.debug_level.saturating_add(1),
        "set-debug-level" => opts.debug_level = number(&value, "debug level")?,
        "driftfile" => opts.driftfile = Some(value.into()),
        "panicgate" => opts.panic_gate = true,
        "interface" => opts.interfaces.push(value),
        "keyfile" => opts.keyfile = Some(value.into()),
        "logfile" => opts.logfile = Some(value.into()),
        "novirtualips" => opts.no_virtual_ips = true,
        "nofork" => opts.no_fork = true,
        "nice" => opts.nice = true,
        "pidfile" => opts.pidfile = Some(value.into()),
        "priority" => opts.priority = Some(number(&value, "priority")?),
        "quit" => opts.quit = true,
        "statsdir" => opts.statsdir = Some(value.into()),
        "trustedkey" => opts.trusted_keys.push(number(&value, "key number")?),
        "user" => opts.user = Some(value),
        "updateinterval" => opts.update_interval = Some(number(&value, "update interval")?),
        "slew" => opts.slew_only = true,
        "saveconfigquit" => opts.saveconfigquit = Some(value.into()),
        "check" => opts.check = true,
        "explain" => (opts.check, opts.explain) = (true, true),
        "virtual-clock" => opts.virtual_clock = Some(value.parse().map_err(UsageError)?),
        "sysconfig" => opts.rtc.sysconfig.push(value.into()),
        "rtc-device" => opts.rtc.device = Some(value.into()),
        "adjtime" => opts.rtc.adjtime = Some(value.into()),
        "syslog-socket" => opts.syslog_socket = Some(value.into()),
        "metrics" => opts.metrics = Some(metrics_address(&value)?),
        "version" => return Ok(Some(Command::Version)),
        "help" => return Ok(Some(Command::Help)),
        other => opts.ignored.push(other.to_string()),
    }
    Ok(None)
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, UsageError> {
    let mut opts = Options::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut found: Vec<(&Spec, Option<String>)> = Vec::new();
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = SPECS
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| UsageError(format!("ntpd: illegal option -- {name}")))?;
            let value = match (spec.takes_arg, inline) {
                (true, Some(v)) => Some(v),
                (true, None) => Some(args.next().ok_or_else(|| missing(name))?),
                (false, None) => None,
                (false, Some(_)) => {
                    return Err(UsageError(format!("ntpd: option --{name} takes no value")))
                }
            };
            found.push((spec, value));
        } else if let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) {
            for (at, c) in flags.char_indices() {
                let spec = SPECS
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| UsageError(format!("ntpd: illegal option -- {c}")))?;
                if spec.takes_arg {
                    let rest = &flags[at + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        args.next().ok_or_else(|| missing(spec.long))?
                    } else {
                        rest.to_string()
                    };
                    found.push((spec, Some(value)));
                    break;
                }
                found.push((spec, None));
            }
        } else {
            return Err(UsageError(format!("ntpd: unexpected argument '{arg}'")));
        }
        for (spec, value) in found {
            if let Some(command) = apply(&mut opts, spec.long, value)? {
                return Ok(command);
            }
        }
    }
    Ok(Command::Run(Box::new(opts)))
}

/// `--metrics` takes `PORT` (on 127.0.0.1: nothing leaves the host unless asked for),
/// `localhost:PORT`, or an address literal with its port (`0.0.0.0:9975`, `[::1]:9975`).
fn metrics_address(value: &str) -> Result<SocketAddr, UsageError> {
    if let Ok(port) = value.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Some(port) = value.strip_prefix("localhost:") {
        return Ok(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            number(port, "metrics port")?,
        )));
    }
    value.parse().map_err(|_| {
        UsageError(format!(
            "ntpd: invalid metrics address '{value}' (PORT, ADDRESS:PORT or [ADDRESS]:PORT)"
        ))
    })
}

fn missing(name: &str) -> UsageError {
    UsageError(format!("ntpd: option '{name}' requires an argument"))
}

/// The usage text of `ntpd --help`, classic's layout with our two additions.
pub const USAGE: &str = "\
ntpd - NTP daemon program - Ver. 4.2.6p5
USAGE:  ntpd [ -<flag> [<val>] | --<name>[{=| }<val>] ]...
  Flg Arg Option-Name    Description
   -4 no  ipv4           Force IPv4 DNS name resolution
   -6 no  ipv6           Force IPv6 DNS name resolution
   -a no  authreq        Require crypto authentication
   -A no  authnoreq      Do not require crypto authentication
   -b no  bcastsync      Allow us to sync to broadcast servers
   -c Str configfile     configuration file name
   -d no  debug-level    Increase output debug message level
   -D Str set-debug-level Set the output debug message level
   -f Str driftfile      frequency drift file name
   -g no  panicgate      Allow the first adjustment to be Big
   -i Str jaildir        Jail directory
   -I Str interface      Listen on an interface name or address
   -k Str keyfile        path to symmetric keys
   -l Str logfile        path to the log file
   -L no  novirtualips   Do not listen to virtual interfaces
   -n no  nofork         Do not fork
   -N no  nice           Run at high priority
   -p Str pidfile        path to the PID file
   -P Num priority       Process priority
   -q no  quit           Set the time and quit
   -r Str propagationdelay Broadcast/propagation delay
      Str saveconfigquit Save parsed configuration and quit
   -s Str statsdir       Statistics file location
   -t Str trustedkey     Trusted key number
   -u Str user           Run as userid (or userid:groupid)
   -U Num updateinterval interval in seconds between scans for new or dropped interfaces
      Str var            make ARG an ntp variable (RW)
      Str dvar           make ARG an ntp variable (RW|DEF)
   -x no  slew           Slew up to 600 seconds
      no  check          Check the configuration file, print every problem and exit
      no  explain        With --check: also say what every line of it does
      Str virtual-clock  Run on a virtual clock OFFSET[,PPM] ahead of true time
      Str sysconfig      Read SYNC_HWCLOCK from this file (repeatable)
      Str rtc-device     RTC device (or stand-in file) written at stop
      Str adjtime        adjtime file saying whether the RTC keeps UTC or LOCAL
      Str syslog-socket  Log to this syslog socket instead of /dev/log
      Str metrics        Serve Prometheus metrics on [ADDRESS:]PORT (127.0.0.1 unless given)
      opt version        Output version information and exit
   -? no  help           Display extended usage information and exit

Options are specified by doubled hyphens and their name or by a single
hyphen and the flag character.
";

/// The short usage classic prints after an option error.
pub const SHORT_USAGE: &str = "\
ntpd - NTP daemon program - Ver. 4.2.6p5
USAGE:  ntpd [ -<flag> [<val>] | --<name>[{=| }<val>] ]...
";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| s.to_string())) {
            Ok(Command::Run(o)) => *o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rhel6_sysconfig_options() {
        let o = run(&["-u", "ntp:ntp", "-p", "/var/run/ntpd.pid", "-g"]);
        assert_eq!(o.user.as_deref(), Some("ntp:ntp"));
        assert_eq!(o.pidfile, Some(PathBuf::from("/var/run/ntpd.pid")));
        assert!(o.panic_gate);
    }

    #[test]
    fn bundled_and_attached_forms() {
        let o = run(&[
            "-gnq",
            "-c/etc/ntp.conf",
            "--driftfile=/tmp/d",
            "--logfile",
            "/tmp/l",
            "-D3",
        ]);
        assert!(o.panic_gate && o.no_fork && o.quit);
        assert_eq!(o.config, Some(PathBuf::from("/etc/ntp.conf")));
        assert_eq!(o.driftfile, Some(PathBuf::from("/tmp/d")));
        assert_eq!(o.logfile, Some(PathBuf::from("/tmp/l")));
        assert_eq!(o.debug_level, 3);
    }

    #[test]
    fn explain_implies_check() {
        let o = run(&["--explain", "-c", "/etc/ntp.conf"]);
        assert!(o.check && o.explain);
        let plain = run(&["--check"]);
        assert!(plain.check && !plain.explain);
    }

    #[test]
    fn virtual_clock_accepts_negative_offsets() {
        let o = run(&["--virtual-clock=-0.5,20"]);
        let spec = o.virtual_clock.unwrap();
        assert!((spec.offset.to_secs_f64() + 0.5).abs() < 1e-9);
        let o = run(&["--virtual-clock", "2.5"]);
        assert!((o.virtual_clock.unwrap().offset.to_secs_f64() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn host_paths() {
        let o = run(&[
            "--sysconfig=/a",
            "--sysconfig",
            "/b",
            "--rtc-device",
            "/tmp/rtc",
            "--adjtime=/tmp/adj",
            "--syslog-socket=/tmp/log",
        ]);
        assert_eq!(o.rtc.sysconfig, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(o.rtc.device, Some(PathBuf::from("/tmp/rtc")));
        assert_eq!(o.rtc.adjtime, Some(PathBuf::from("/tmp/adj")));
        assert_eq!(o.syslog_socket, Some(PathBuf::from("/tmp/log")));
    }

    #[test]
    fn metrics_stays_on_loopback_unless_an_address_is_given() {
        let at = |arg: &str| run(&["--metrics", arg]).metrics.unwrap().to_string();
        assert_eq!(at("9975"), "127.0.0.1:9975");
        assert_eq!(at("localhost:9975"), "127.0.0.1:9975");
        assert_eq!(at("0.0.0.0:9975"), "0.0.0.0:9975");
        assert_eq!(at("[::1]:9975"), "[::1]:9975");
        assert_eq!(
            run(&["--metrics=127.0.0.1:1"]).metrics,
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)))
        );
        for bad in ["", "host:9975", "127.0.0.1", "70000", "::1:9975"] {
            let err = parse(["--metrics".to_string(), bad.to_string()]).unwrap_err();
            assert!(
                err.0.starts_with("ntpd: invalid metrics"),
                "{bad}: {}",
                err.0
            );
        }
    }

    #[test]
    fn update_interval() {
        assert_eq!(run(&["-U", "60"]).update_interval, Some(60));
        assert_eq!(run(&["--updateinterval=0"]).update_interval, Some(0));
        assert_eq!(run(&["-U-5"]).update_interval, Some(-5));
        assert_eq!(run(&[]).update_interval, None);
        assert!(parse(["-U".to_string(), "soon".to_string()]).is_err());
    }

    #[test]
    fn illegal_option_is_named() {
        let err = parse(["-v".to_string()]).unwrap_err();
        assert_eq!(err.0, "ntpd: illegal option -- v");
        assert!(parse(["-c".to_string()]).is_err());
        assert_eq!(parse(["--version".to_string()]), Ok(Command::Version));
        assert_eq!(parse(["-?".to_string()]), Ok(Command::Help));
    }
}
