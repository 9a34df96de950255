//! `ntpd --check`: every problem in a configuration, for a human to read, with the
//! classic traps ([`super::lint`]); `--check --explain` also says what every line does.

use std::io;
use std::path::Path;

use super::diagnostic::{Diagnostic, Location};
use super::explain::{explain, Explained};
use super::lint::lint;
use super::load::{load, read_config};
use super::model::{AssocConfig, Config, Target};
use super::refclocks::clock_type_name;

/// What the daemon acts on, so `--check` can name what it does not.
#[derive(Clone, Copy, Debug)]
pub struct Support<'a> {
    /// Directives read but not acted on ("'X' not supported yet").
    pub not_acted_on: &'a [&'a str],
    /// Reference clock types (127.127.T.U) the daemon runs.
    pub refclocks: &'a [u8],
}

/// Loads `path` (via `read`) and reports a configuration that cannot be read whole (Fatal),
/// syntax errors (Error), missing includes,
/// a missing keys/leap file or driftfile directory (Warning, checked with `exists`), fudges
/// for clocks no `server` line configures (Warning: classic ignores them), what the daemon
/// does not act on ([`unsupported`]) and the traps [`lint`] finds (Warning "lint: ...").
/// Ordered by file and line.
pub fn check(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    exists: &mut dyn FnMut(&Path) -> bool,
    support: &Support<'_>,
) -> Vec<Diagnostic> {
    checked(path, read, exists, support).1
}

/// [`check`], with the configuration it loaded.
fn checked(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    exists: &mut dyn FnMut(&Path) -> bool,
    support: &Support<'_>,
) -> (Config, Vec<Diagnostic>) {
    let (config, mut diags) = load(path, read);
    missing_files(&config, exists, &mut diags);
    orphan_fudges(&config, &mut diags);
    diags.extend(lint(&config));
    diags.extend(unsupported(&config, support));
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

/// What `config` asks for that the daemon does not do, each at its line (Warnings): the
/// directives in `support.not_acted_on` ("'X' not supported yet"; `enable bclient` counts
/// as `broadcastclient`) and reference clocks of a type it does not run.
pub fn unsupported(config: &Config, support: &Support<'_>) -> Vec<Diagnostic> {
    let not_yet = |keyword: &str| support.not_acted_on.contains(&keyword);
    let mut out: Vec<Diagnostic> = config
        .directives
        .iter()
        .filter(|(_, keyword)| not_yet(keyword))
        .map(|(location, keyword)| {
            Diagnostic::warning(location.clone(), format!("'{keyword}' not supported yet"))
        })
        .collect();
    if let Some(at) = config
        .bclient_at
        .as_ref()
        .filter(|_| not_yet("broadcastclient"))
    {
        out.push(Diagnostic::warning(
            at.clone(),
            "'enable bclient' (broadcastclient) not supported yet",
        ));
    }
    let refclocks = config.associations.iter().filter_map(|a| match a.target {
        Target::RefClock { clock_type, .. } if !support.refclocks.contains(&clock_type) => {
            Some(refclock_not_run(a, clock_type))
        }
        _ => None,
    });
    out.extend(refclocks);
    out
}

fn refclock_not_run(a: &AssocConfig, clock_type: u8) -> Diagnostic {
    let name = clock_type_name(clock_type).unwrap_or("unknown");
    Diagnostic::warning(
        a.location.clone(),
        format!(
            "refclock type {clock_type} ({name}) is not supported; this {} line gives no time",
            a.kind.keyword()
        ),
    )
}

/// [`check`] against the real filesystem.
pub fn check_file(path: &Path, support: &Support<'_>) -> Vec<Diagnostic> {
    check(path, &mut read_config, &mut |p: &Path| p.exists(), support)
}

/// `ntpd --check --explain` against the real filesystem: every directive in words, and
/// [`check_file`]'s findings.
pub fn explain_file(path: &Path, support: &Support<'_>) -> (Vec<Explained>, Vec<Diagnostic>) {
    let (config, diags) = checked(path, &mut read_config, &mut |p: &Path| p.exists(), support);
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
        let support = Support {
            not_acted_on: &["crypto"],
            refclocks: &[1],
        };
        let diags = check(Path::new("/etc/ntp.conf"), &mut read, &mut exists, &support);
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

    #[test]
    fn refclocks_not_run_and_enable_bclient_are_named() {
        let text = "server 127.127.8.0 mode 5\nserver 127.127.28.0\nenable bclient\n\
                    server 127.127.1.0\n";
        let config =
            super::super::load::load(Path::new("ntp.conf"), &mut |_| Ok(text.as_bytes().to_vec()))
                .0;
        let support = Support {
            not_acted_on: &["broadcastclient"],
            refclocks: &[1, 20, 22, 28],
        };
        let shown: Vec<String> = unsupported(&config, &support)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "ntp.conf:3: 'enable bclient' (broadcastclient) not supported yet",
                "ntp.conf:1: refclock type 8 (GENERIC) is not supported; this server line gives \
                 no time",
            ]
        );
        let acted_on = Support {
            not_acted_on: &[],
            ..support
        };
        assert_eq!(unsupported(&config, &acted_on).len(), 1, "bclient acted on");
    }
}
