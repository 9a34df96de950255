//! /etc/sysconfig/ntpd and /etc/sysconfig/ntpdate: the shell-variable files Red Hat's
//! init scripts source (`OPTIONS="-u ntp:ntp -p /var/run/ntpd.pid -g"`, `SYNC_HWCLOCK=yes`).
//!
//! Pure: the caller reads the file. Only what these files contain in practice is understood:
//! `NAME=value` assignments (optionally after `export`), single and double quotes,
//! backslash escapes, comments and blank lines. Anything else (command substitution,
//! `$VAR` expansion, conditionals) is reported with its line number and skipped, because a
//! shell would give it a meaning we cannot reproduce.

use std::fmt;

/// One problem, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysconfigError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SysconfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// The assignments of one file, in order; a later assignment to a name wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sysconfig {
    vars: Vec<(String, String)>,
}

impl Sysconfig {
    /// Parses `text`; lines that cannot be understood are returned as errors and skipped.
    pub fn parse(text: &str) -> (Sysconfig, Vec<SysconfigError>) {
        let mut out = Sysconfig::default();
        let mut errors = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            match assignment(raw) {
                Ok(Some((name, value))) => out.vars.push((name, value)),
                Ok(None) => {}
                Err(message) => errors.push(SysconfigError {
                    line: n + 1,
                    message,
                }),
            }
        }
        (out, errors)
    }

    /// The value last assigned to `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `SYNC_HWCLOCK`: the init scripts test for exactly `yes`; we also take `YES`/`Yes`.
    pub fn sync_hwclock(&self) -> Option<bool> {
        self.get("SYNC_HWCLOCK")
            .map(|v| v.eq_ignore_ascii_case("yes"))
    }

    /// `OPTIONS` (or `NTPDATE_OPTIONS`, as some RHEL5 files have it) split into words the
    /// way `$OPTIONS` unquoted in a script is: on blanks, quotes already removed.
    pub fn options(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One line: `Ok(None)` for blank/comment lines.
fn assignment(raw: &str) -> Result<Option<(String, String)>, String> {
    let line = raw.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let Some((name, rest)) = line.split_once('=') else {
        return Err(format!("not an assignment: '{}'", raw.trim()));
    };
    if !is_name(name) {
        return Err(format!("bad variable name '{name}'"));
    }
    let value = shell_value(rest)?;
    Ok(Some((name.to_string(), value)))
}

/// The value part of `NAME=value`: quoting removed, up to an unquoted blank or `#`.
fn shell_value(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("unterminated ' quote".to_string()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated \" quote".to_string()),
                    },
                    Some(c @ ('$' | '`')) => return Err(unsupported(c)),
                    Some(c) => out.push(c),
                    None => return Err("unterminated \" quote".to_string()),
                }
            },
            '\\' => out.extend(chars.next()),
            ' ' | '\t' => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                return Err(format!("unexpected '{rest}' after the value"));
            }
            '$' | '`' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => return Err(unsupported(c)),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn unsupported(c: char) -> String {
    format!("shell syntax '{c}' is not supported here")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rhel6_files() {
        let (ntpd, errs) = Sysconfig::parse(
            "# /etc/sysconfig/ntpd\nOPTIONS=\"-u ntp:ntp -p /var/run/ntpd.pid -g\"\nSYNC_HWCLOCK=yes\n",
        );
        assert!(errs.is_empty());
        assert_eq!(
            ntpd.options("OPTIONS"),
            ["-u", "ntp:ntp", "-p", "/var/run/ntpd.pid", "-g"]
        );
        assert_eq!(ntpd.sync_hwclock(), Some(true));
        let (ntpdate, _) =
            Sysconfig::parse("OPTIONS=\"-U ntp -s -b\"\nRETRIES=2\nSYNC_HWCLOCK=no\n");
        assert_eq!(ntpdate.sync_hwclock(), Some(false));
        assert_eq!(ntpdate.get("RETRIES"), Some("2"));
        assert_eq!(Sysconfig::default().sync_hwclock(), None);
    }

    #[test]
    fn quoting_comments_and_overrides() {
        let text = "export A='x y'\nB=\"a \\\"b\\\"\" # note\nC=plain\\ word\nA=again\n\n   # c\n";
        let (s, errs) = Sysconfig::parse(text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s.get("A"), Some("again"));
        assert_eq!(s.get("B"), Some("a \"b\""));
        assert_eq!(s.get("C"), Some("plain word"));
        assert_eq!(s.get("D"), None);
    }

    #[test]
    fn shell_features_are_reported_with_their_line() {
        let (s, errs) =
            Sysconfig::parse("OK=1\nOPTIONS=\"$BASE -g\"\nif true; then\nX=`date`\nY='open\n");
        assert_eq!(s.get("OK"), Some("1"));
        assert_eq!(s.get("OPTIONS"), None);
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert_eq!(
            errs[0].to_string(),
            "2: shell syntax '$' is not supported here"
        );
    }
}
