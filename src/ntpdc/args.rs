//! ntpdc's command line as classic's: `-c CMD` (repeatable), `-l`/`-p`/`-s` for
//! `listpeers`/`peers`/`dmpeers`, `-n`, `-4`/`-6`, `-i`, `-d`, `--version`, hosts.

use crate::cmdline::{short_options, Arg};

/// What the command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Some(true) for -4, Some(false) for -6.
    pub family: Option<bool>,
    pub numeric: bool,
    pub commands: Vec<String>,
    pub hosts: Vec<String>,
    pub version: bool,
}

/// Parses the arguments after the program name; Err names the bad option (classic's
/// "illegal option -- X").
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut o = Options::default();
    for arg in short_options(args, "cD") {
        match arg {
            Arg::Long(word) if word == "--version" => o.version = true,
            Arg::Operand(host) => o.hosts.push(host),
            Arg::Flag('4') => o.family = Some(true),
            Arg::Flag('6') => o.family = Some(false),
            Arg::Flag('n') => o.numeric = true,
            Arg::Flag('d' | 'i') | Arg::Value('D', _) => {}
            Arg::Flag('l') => o.commands.push("listpeers".into()),
            Arg::Flag('p') => o.commands.push("peers".into()),
            Arg::Flag('s') => o.commands.push("dmpeers".into()),
            Arg::Value(_, command) => o.commands.push(command),
            Arg::Flag(other) | Arg::Missing(other) => return Err(other.to_string()),
            // An unknown long word: classic's getopt stops at its second dash.
            Arg::Long(_) => return Err("-".into()),
        }
    }
    if o.hosts.is_empty() {
        o.hosts.push("localhost".into());
    }
    Ok(o)
}

/// What classic prints for a bad option, after "ARGV0: illegal option -- X".
pub const USAGE: &str = "ntpdc - vendor-specific NTP query program - Ver. 4.2.6p5\n\
USAGE:  ntpdc [ -<flag> [<val>] | --<name>[{=| }<val>] ]... [ host ...]\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn classic_options() {
        let o = p(&["-n", "-c", "sysinfo", "-ckerninfo", "-p", "127.0.0.1"]).unwrap();
        assert!(o.numeric);
        assert_eq!(o.commands, ["sysinfo", "kerninfo", "peers"]);
        assert_eq!(o.hosts, ["127.0.0.1"]);
        assert_eq!(p(&[]).unwrap().hosts, ["localhost"]);
        assert_eq!(p(&["-x"]), Err("x".into()));
        assert_eq!(p(&["-c"]), Err("c".into()));
        assert_eq!(p(&["-ls"]).unwrap().commands, ["listpeers", "dmpeers"]);
    }
}
