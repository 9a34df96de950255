//! `ntpd --check`: every problem in a configuration, for a human to read, with the
//! classic traps ([`super::lint`]); `--check --explain` also says what every line does.

use std::io;
use std::path::Path;

use super::diagnostic::{Diagnostic, Location};
use super::explain::{explain, Explained};
use super::lint::lint;
use super::load::{load, read_config};
use super::model::{Config, Target};

/// Loads `path` (via `read`) and reports a configuration that cannot be read whole (Fatal),
/// syntax errors (Error), missing includes,
/// a missing keys/leap file or driftfile directory (Warning, checked with `exists`), fudges
/// for clocks no `server` line configures (Warning: classic ignores them) and every
/// directive in `not_acted_on` (Warning "'X' not supported yet") and the traps [`lint`]
/// finds (Warning "lint: ..."). Ordered by file and line.
pub fn check(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    exists: &mut dyn FnMut(&Path) -> bool,
    not_acted_on: &[&str],
) -> Vec<Diagnostic> {
    checked(path, read, exists, not_acted_on).1
}

/// [`check`], with the configuration it loaded.
fn checked(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    exists: &mut dyn FnMut(&Path) -> bool,
    not_acted_on: &[&str],
) -> (Config, Vec<Diagnostic>) {
    let (config, mut diags) = load(path, read);
    missing_files(&config, exists, &mut diags);
    orphan_fudges(&config, &mut diags);
    diags.extend(lint(&config));
    for (location, keyword) in &config.directives {
        if not_acted_on.contains(keyword) {
            diags.push(Diagnostic::warning(
                location.clone(),
                format!("'{keyword}' not supported yet"),
            ));
        }
    }
    let main = path.display().to_string();
    diags.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            (
                d.location.file != main,
                d.location.file.clone(),
                d.location.line,
            )
        };
        key(a).cmp(&key(b))
    });
    (config, diags)
}

/// [`check`] against the real filesystem.
pub fn check_file(path: &Path, not_acted_on: &[&str]) -> Vec<Diagnostic> {
    check(
        path,
        &mut read_config,
        &mut |p: &Path| p.exists(),
        not_acted_on,
    )
}

/// `ntpd --check --explain` against the real filesystem: every directive in words, and
/// [`check_file`]'s findings.
pub fn explain_file(path: &Path, not_acted_on: &[&str]) -> (Vec<Explained>, Vec<Diagnostic>) {
    let (config, diags) = checked(
        path,
        &mut read_config,
        &mut |p: &Path| p.exists(),
        not_acted_on,
    );
    let explained = explain(path, &mut read_config, config.discard.rate_limits());
    (explained, diags)
}

/// Where the last `keyword` directive was (the one that took effect).
pub(super) fn last_location(config: &Config, keyword: &str) -> Location {
    config
        .directives
        .iter()
        .rev()
        .find(|(_, k)| *k == keyword)
        .map(|(l, _)| l.clone())
        .unwrap_or_else(|| Location::new("", 0))
}

fn missing_files(
    config: &Config,
    exists: &mut dyn FnMut(&Path) -> bool,
    diags: &mut Vec<Diagnostic>,
) {
    let mut warn = |keyword: &str, what: &str, p: &Path| {
        if !exists(p) {
            diags.push(Diagnostic::warning(
                last_location(config, keyword),
                format!("{what} '{}' not found", p.display()),
            ));
        }
    };
    if let Some(keys) = &config.keys_file {
        warn("keys", "keys file", keys);
    }
    if let Some(leap) = &config.leap_file {
        warn("leapfile", "leap seconds file", leap);
    }
    if let Some(stats) = &config.stats_dir {
        warn("statsdir", "statistics directory", stats);
    }
    let drift_dir = config.driftfile.as_ref().and_then(|d| d.path.parent());
    if let Some(dir) = drift_dir.filter(|d| !d.as_os_str().is_empty()) {
        warn("driftfile", "driftfile directory", dir);
    }
}

fn orphan_fudges(config: &Config, diags: &mut Vec<Diagnostic>) {
    for f in &config.fudges {
        let clock = Target::RefClock {
            clock_type: f.clock_type,
            unit: f.unit,
        };
        if !config.associations.iter().any(|a| a.target == clock) {
            diags.push(Diagnostic::warning(
                f.location.clone(),
                format!(
                    "fudge 127.127.{}.{}: no server line configures this clock, ignored",
                    f.clock_type, f.unit
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_everything_in_line_order() {
        let text =
            "keys /etc/ntp/keys\ndriftfile /var/lib/ntp/drift\nfudge 127.127.1.0 stratum 10\n\
                    server 10.0.0.1 iburst\nbogus\ncrypto\n";
        let mut read = |p: &Path| {
            if p == Path::new("/etc/ntp.conf") {
                Ok(text.as_bytes().to_vec())
            } else {
                Err(io::Error::from(io::ErrorKind::NotFound))
            }
        };
        let mut exists = |p: &Path| p == Path::new("/var/lib/ntp");
        let diags = check(
            Path::new("/etc/ntp.conf"),
            &mut read,
            &mut exists,
            &["crypto"],
        );
        let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            [
                "/etc/ntp.conf:1: keys file '/etc/ntp/keys' not found",
                "/etc/ntp.conf:3: fudge 127.127.1.0: no server line configures this clock, ignored",
                "/etc/ntp.conf:4: lint: one server: ntpd follows whatever it says, and nothing \
                 notices when it is wrong; configure at least 3 servers (4 to keep 3 when one \
                 fails), e.g. 'server N.rhel.pool.ntp.org iburst' for N in 0-3, or a 'pool' line",
                "/etc/ntp.conf:5: unknown directive 'bogus'",
                "/etc/ntp.conf:6: 'crypto' not supported yet",
            ]
        );
        assert_eq!(diags.iter().filter(|d| d.is_error()).count(), 1);
    }
}
