//! ntpdc's command line as classic's: `-c CMD` (repeatable), `-l`/`-p`/`-s` for
//! `listpeers`/`peers`/`dmpeers`, `-n`, `-4`/`-6`, `-i`, `-d`, `--version`, hosts.

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
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--version" {
            o.version = true;
            continue;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            o.hosts.push(a);
            continue;
        };
        for (i, f) in flags.char_indices() {
            match f {
                '4' => o.family = Some(true),
                '6' => o.family = Some(false),
                'n' => o.numeric = true,
                'd' | 'i' => {}
                'l' => o.commands.push("listpeers".into()),
                'p' => o.commands.push("peers".into()),
                's' => o.commands.push("dmpeers".into()),
                'c' | 'D' => {
                    let rest = &flags[i + f.len_utf8()..];
                    let value = if rest.is_empty() {
                        it.next()
                    } else {
                        Some(rest.to_string())
                    };
                    let value = value.ok_or_else(|| f.to_string())?;
                    if f == 'c' {
                        o.commands.push(value);
                    }
                    break;
                }
                other => return Err(other.to_string()),
            }
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
