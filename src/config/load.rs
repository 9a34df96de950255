//! Reading a config file with its `includefile`s into one [`Config`].
//!
//! File access is injected (`read`), so this is testable without a filesystem and the
//! daemon's shell decides how files are opened; [`load_file`] is the shell, reading through
//! [`crate::fileio`] (regular files only, bounded in size).
//!
//! A file that does not exist is a warning, as in classic (the main file: "running with
//! defaults"; `includefile /etc/ntp/crypto/pw` is absent on most RHEL6 hosts). A file that
//! exists but cannot be read whole, an include cycle or too deep a nesting is
//! [`Severity::Fatal`](super::Severity::Fatal): the daemon refuses to start rather than run
//! without the access rules the unread part may hold.

use std::io;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Location};
use super::model::{Config, SystemFlag, Target};
use super::parse::{parse_bytes, Directive, Statement};
use crate::fileio::{self, reason};

/// How deep `includefile` may nest (classic's MAXINCLUDELEVEL).
pub const MAX_INCLUDE_DEPTH: usize = 5;

type Reader<'r> = dyn FnMut(&Path) -> io::Result<Vec<u8>> + 'r;

/// Loads `path` and its includes.
pub fn load(path: &Path, read: &mut Reader<'_>) -> (Config, Vec<Diagnostic>) {
    let mut loader = Loader {
        config: Config::default(),
        diags: Vec::new(),
        read,
        open: vec![path.to_path_buf()],
        unpeers: Vec::new(),
    };
    let file = path.display().to_string();
    let whole = Location::new(&file, 0);
    match (loader.read)(path) {
        Ok(bytes) => loader.include(&bytes, &file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => loader.diags.push(Diagnostic::warning(
            whole,
            format!(
                "Couldn't open <{file}>: {}; running with defaults",
                reason(&e)
            ),
        )),
        Err(e) => loader.diags.push(Diagnostic::fatal(
            whole,
            format!("cannot read the configuration: {}", reason(&e)),
        )),
    }
    loader.unpeer();
    (loader.config, loader.diags)
}

/// [`load`] reading real files.
pub fn load_file(path: &Path) -> (Config, Vec<Diagnostic>) {
    load(path, &mut read_config)
}

/// How the shell reads ntp.conf and its includes.
pub(super) fn read_config(path: &Path) -> io::Result<Vec<u8>> {
    fileio::read_bounded(path, fileio::CONFIG_LIMIT)
}

struct Loader<'r, 'a> {
    config: Config,
    diags: Vec<Diagnostic>,
    read: &'a mut Reader<'r>,
    /// The files being read, outermost first: an include of one of them is a cycle.
    open: Vec<PathBuf>,
    /// `unpeer`/`unconfig` lines, applied once every association line is read.
    unpeers: Vec<(Target, Location)>,
}

impl Loader<'_, '_> {
    /// Drops the associations `unpeer`/`unconfig` lines name (as classic's config_unpeers,
    /// which runs after config_peers); a line naming none is a warning.
    fn unpeer(&mut self) {
        for (target, location) in std::mem::take(&mut self.unpeers) {
            let before = self.config.associations.len();
            self.config.associations.retain(|a| a.target != target);
            if self.config.associations.len() == before {
                let addr = super::explain::target_text(&target);
                self.diags.push(Diagnostic::warning(
                    location,
                    format!("no server, peer or pool line configures {addr}; nothing to remove"),
                ));
            }
        }
    }

    fn include(&mut self, bytes: &[u8], file: &str) {
        let (statements, diags) = parse_bytes(bytes, file);
        self.diags.extend(diags);
        for statement in statements {
            self.statement(statement);
        }
    }

    fn statement(&mut self, s: Statement) {
        self.config.directives.push((s.location.clone(), s.keyword));
        match &s.directive {
            Directive::Enable(f) if f.contains(&SystemFlag::Bclient) => {
                self.config.bclient_at = Some(s.location.clone());
            }
            Directive::Disable(f) if f.contains(&SystemFlag::Bclient) => {
                self.config.bclient_at = None;
            }
            Directive::Unpeer(t) => self.unpeers.push((t.clone(), s.location.clone())),
            _ => {}
        }
        let Directive::IncludeFile(path) = s.directive else {
            apply(&mut self.config, s.directive);
            return;
        };
        let name = path.display().to_string();
        if self.open.contains(&path) {
            let fatal = format!("includefile <{name}> is already being read: an include cycle");
            self.diags.push(Diagnostic::fatal(s.location, fatal));
            return;
        }
        if self.open.len() > MAX_INCLUDE_DEPTH {
            let fatal =
                format!("includefile <{name}> nested deeper than {MAX_INCLUDE_DEPTH} levels");
            self.diags.push(Diagnostic::fatal(s.location, fatal));
            return;
        }
        match (self.read)(&path) {
            Ok(bytes) => {
                self.open.push(path);
                self.include(&bytes, &name);
                self.open.pop();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.diags.push(Diagnostic::warning(
                s.location,
                format!("Couldn't open includefile <{name}>: {}", reason(&e)),
            )),
            Err(e) => self.diags.push(Diagnostic::fatal(
                s.location,
                format!("cannot read includefile <{name}>: {}", reason(&e)),
            )),
        }
    }
}

/// Folds one directive into the config; single-valued settings: the last line wins.
fn apply(c: &mut Config, d: Directive) {
    match d {
        Directive::DriftFile(f) => c.driftfile = Some(f),
        Directive::Assoc(a) => c.associations.push(a),
        Directive::Restrict(r) => c.restrictions.push(r),
        Directive::Fudge(f) => c.fudges.push(f),
        Directive::Keys(p) => c.keys_file = Some(p),
        Directive::TrustedKey(k) => c.trusted_keys.extend(k),
        Directive::RequestKey(k) => c.request_key = Some(k),
        Directive::ControlKey(k) => c.control_key = Some(k),
        Directive::BroadcastClient { novolley } => {
            c.broadcast_client = true;
            c.broadcast_novolley |= novolley;
        }
        Directive::MulticastClient(t) => c.multicast_client.get_or_insert_with(Vec::new).extend(t),
        Directive::ManycastServer(t) => c.manycast_server.extend(t),
        Directive::BroadcastDelay(d) => c.broadcast_delay = Some(d),
        Directive::Crypto(o) => c.crypto.get_or_insert_with(Vec::new).extend(o),
        Directive::Statistics(s) => c.statistics.extend(s),
        Directive::StatsDir(p) => c.stats_dir = Some(p),
        Directive::Filegen(f) => c.filegens.push(f),
        Directive::Enable(f) => f.into_iter().for_each(|f| c.system.set(f, true)),
        Directive::Disable(f) => f.into_iter().for_each(|f| c.system.set(f, false)),
        Directive::LogFile(p) => c.log_file = Some(p),
        Directive::LogConfig(l) => c.log_config.extend(l),
        Directive::Tinker(t) => merge_tinker(c, t),
        Directive::Tos(t) => merge_tos(c, t),
        Directive::Discard(d) => {
            c.discard.average = d.average.or(c.discard.average);
            c.discard.minimum = d.minimum.or(c.discard.minimum);
            c.discard.monitor = d.monitor.or(c.discard.monitor);
        }
        Directive::Interface(i) => c.interfaces.push(i),
        Directive::LeapFile(p) => c.leap_file = Some(p),
        Directive::SetVar(v) => c.setvars.push(v),
        Directive::NtpSignDSocket(p) => c.ntp_signd_socket = Some(p),
        Directive::PidFile(p) => c.pidfile = Some(p),
        Directive::Tick(t) => c.tick = Some(t),
        Directive::IncludeFile(_) | Directive::Unpeer(_) | Directive::End => {}
        Directive::ParseOnly => {}
    }
}

fn merge_tinker(c: &mut Config, t: super::model::Tinker) {
    let o = &mut c.tinker;
    o.panic = t.panic.or(o.panic);
    o.step = t.step.or(o.step);
    o.stepout = t.stepout.or(o.stepout);
    o.dispersion = t.dispersion.or(o.dispersion);
    o.allan = t.allan.or(o.allan);
    o.huffpuff = t.huffpuff.or(o.huffpuff);
    o.freq = t.freq.or(o.freq);
    o.maxslewrate = t.maxslewrate.or(o.maxslewrate);
}

fn merge_tos(c: &mut Config, t: super::model::Tos) {
    let o = &mut c.tos;
    o.minsane = t.minsane.or(o.minsane);
    o.minclock = t.minclock.or(o.minclock);
    o.maxclock = t.maxclock.or(o.maxclock);
    o.maxdist = t.maxdist.or(o.maxdist);
    o.mindist = t.mindist.or(o.mindist);
    o.ceiling = t.ceiling.or(o.ceiling);
    o.floor = t.floor.or(o.floor);
    o.orphan = t.orphan.or(o.orphan);
    o.orphanwait = t.orphanwait.or(o.orphanwait);
    o.beacon = t.beacon.or(o.beacon);
    o.cohort = t.cohort.or(o.cohort);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn fake_fs(files: &[(&str, &str)]) -> impl FnMut(&Path) -> io::Result<Vec<u8>> {
        let map: HashMap<PathBuf, Vec<u8>> = files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.as_bytes().to_vec()))
            .collect();
        move |p: &Path| {
            map.get(p)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    #[test]
    fn includes_are_followed_and_located() {
        let mut fs = fake_fs(&[
            (
                "/etc/ntp.conf",
                "server a.example\nincludefile /etc/ntp/more.conf\ndisable monitor\n",
            ),
            (
                "/etc/ntp/more.conf",
                "# extra\nserver b.example iburst\nbogus\n",
            ),
        ]);
        let (config, diags) = load(Path::new("/etc/ntp.conf"), &mut fs);
        assert_eq!(config.associations.len(), 2);
        assert_eq!(
            config.associations[1].location,
            Location::new("/etc/ntp/more.conf", 2)
        );
        assert!(!config.system.monitor);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].to_string(),
            "/etc/ntp/more.conf:3: unknown directive 'bogus'"
        );
        let kws: Vec<&str> = config.directives.iter().map(|(_, k)| *k).collect();
        assert_eq!(kws, ["server", "includefile", "server", "disable"]);
    }

    #[test]
    fn missing_files_are_warnings() {
        let mut fs = fake_fs(&[("/etc/ntp.conf", "includefile /etc/ntp/crypto/pw\nkeys /k\n")]);
        let (config, diags) = load(Path::new("/etc/ntp.conf"), &mut fs);
        assert_eq!(config.keys_file, Some(PathBuf::from("/k")));
        assert_eq!(diags.len(), 1);
        assert!(!diags[0].is_error());
        assert!(diags[0]
            .to_string()
            .starts_with("/etc/ntp.conf:1: Couldn't open includefile </etc/ntp/crypto/pw>"));

        let (config, diags) = load(Path::new("/nope.conf"), &mut fake_fs(&[]));
        assert_eq!(config, Config::default());
        assert!(!diags[0].is_error());
        assert!(diags[0]
            .to_string()
            .starts_with("/nope.conf: Couldn't open </nope.conf>"));
    }

    fn fatal(diags: &[Diagnostic]) -> Vec<String> {
        let fatal = diags.iter().filter(|d| d.is_fatal());
        fatal.map(|d| d.to_string()).collect()
    }

    #[test]
    fn include_cycles_are_fatal_and_located() {
        let mut fs = fake_fs(&[("/a.conf", "server x.example\nincludefile /a.conf\n")]);
        let (config, diags) = load(Path::new("/a.conf"), &mut fs);
        assert_eq!(config.associations.len(), 1);
        assert_eq!(
            fatal(&diags),
            ["/a.conf:2: includefile </a.conf> is already being read: an include cycle"]
        );
        let mut fs = fake_fs(&[
            ("/a", "server 127.127.1.0\nincludefile /b\n"),
            ("/b", "\n\nincludefile /a\n"),
        ]);
        let (config, diags) = load(Path::new("/a"), &mut fs);
        assert_eq!(config.associations.len(), 1, "LOCAL(0) once");
        assert_eq!(
            fatal(&diags),
            ["/b:3: includefile </a> is already being read: an include cycle"]
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_fatal() {
        let names: Vec<String> = (0..=MAX_INCLUDE_DEPTH + 1)
            .map(|n| format!("/{n}"))
            .collect();
        let texts: Vec<String> = (0..=MAX_INCLUDE_DEPTH + 1)
            .map(|n| format!("includefile /{}\n", n + 1))
            .collect();
        let files: Vec<(&str, &str)> = names
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str))
            .collect();
        let (_, diags) = load(Path::new("/0"), &mut fake_fs(&files));
        assert_eq!(
            fatal(&diags),
            [format!("/{MAX_INCLUDE_DEPTH}:1: includefile </{}> nested deeper than {MAX_INCLUDE_DEPTH} levels", MAX_INCLUDE_DEPTH + 1)]
        );
    }

    #[test]
    fn files_that_exist_but_cannot_be_read_whole_are_fatal() {
        let mut read = |p: &Path| match p.to_str() {
            Some("/etc/ntp.conf") => {
                Ok(b"restrict default noquery\nincludefile /dev/zero\n".to_vec())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a character device, not a regular file",
            )),
        };
        let (_, diags) = load(Path::new("/etc/ntp.conf"), &mut read);
        assert_eq!(
            fatal(&diags),
            ["/etc/ntp.conf:2: cannot read includefile </dev/zero>: a character device, not a regular file"]
        );
        let (config, diags) = load(Path::new("/dev/zero"), &mut read);
        assert_eq!(config, Config::default());
        assert_eq!(
            fatal(&diags),
            ["/dev/zero: cannot read the configuration: a character device, not a regular file"]
        );
    }

    #[test]
    fn foreign_comments_are_skipped_and_foreign_directives_located() {
        let mut read = |_: &Path| {
            Ok(b"# Serveur de temps, r\xe9seau local (Latin-1)\n\
                 # \xb1\xbe\xb5\xd8\xca\xb1\xd6\xd3 (GBK)\n\
                 restrict default noquery # \xe9\n\
                 server 127.127.1.0 \xe9\n\
                 server 127.127.1.0\n"
                .to_vec())
        };
        let (config, diags) = load(Path::new("/etc/ntp.conf"), &mut read);
        assert_eq!(config.restrictions.len(), 1);
        assert_eq!(config.associations.len(), 1);
        let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            ["/etc/ntp.conf:4: byte 0xE9 at column 20 is not UTF-8 (only comments may use another encoding)"]
        );
        assert!(diags[0].is_error() && !diags[0].is_fatal());
    }

    #[test]
    fn unpeer_removes_the_association_wherever_it_stands() {
        let mut fs = fake_fs(&[(
            "/c",
            "unconfig 10.0.0.1\nserver 10.0.0.1\nserver 10.0.0.2\nserver 127.127.1.0\n\
             unpeer 127.127.1.0\nunpeer 10.0.0.9\n",
        )]);
        let (c, diags) = load(Path::new("/c"), &mut fs);
        let left: Vec<&Target> = c.associations.iter().map(|a| &a.target).collect();
        assert_eq!(left, [&Target::Ip("10.0.0.2".parse().unwrap())]);
        let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            ["/c:6: no server, peer or pool line configures 10.0.0.9; nothing to remove"]
        );
    }

    #[test]
    fn enable_bclient_is_broadcast_client_mode() {
        let mut fs = fake_fs(&[
            ("/c", "enable bclient\n"),
            ("/d", "enable bclient\ndisable bclient\n"),
        ]);
        let (c, _) = load(Path::new("/c"), &mut fs);
        assert!(c.broadcast_client_mode() && c.system.bclient);
        assert_eq!(c.bclient_at, Some(Location::new("/c", 1)));
        let (d, _) = load(Path::new("/d"), &mut fs);
        assert!(!d.broadcast_client_mode() && d.bclient_at.is_none());
    }

    #[test]
    fn pidfile_logconfig_and_signd_are_carried() {
        let mut fs = fake_fs(&[(
            "/c",
            "pidfile /run/ntpd.pid\nlogconfig =syncall +clockall\nntpsigndsocket /s\n",
        )]);
        let (c, _) = load(Path::new("/c"), &mut fs);
        assert_eq!(c.pidfile, Some(PathBuf::from("/run/ntpd.pid")));
        assert_eq!(c.ntp_signd_socket, Some(PathBuf::from("/s")));
        assert_eq!(
            c.log_mask(),
            crate::logclass::LogMask::from_items(&["=syncall", "+clockall"])
        );
        assert_eq!(
            Config::default().log_mask(),
            crate::logclass::LogMask::default()
        );
    }

    #[test]
    fn later_settings_override_and_merge() {
        let mut fs = fake_fs(&[(
            "/c",
            "tinker step 0.5\ntinker panic 0\ntos maxdist 16\ntos minclock 3 maxdist 2\n\
             enable stats\ndisable kernel\ntrustedkey 1 2\ntrustedkey (4 ... 6)\n",
        )]);
        let (c, diags) = load(Path::new("/c"), &mut fs);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(c.tinker.step.map(|d| d.to_secs_f64()), Some(0.5));
        assert_eq!(c.tinker.panic.map(|d| d.to_secs_f64()), Some(0.0));
        assert_eq!(c.tos.maxdist.map(|d| d.to_secs_f64()), Some(2.0));
        assert_eq!(c.tos.minclock, Some(3));
        assert!(c.system.stats && !c.system.kernel && c.system.ntp && c.system.monitor);
        assert_eq!(c.trusted_keys, [1, 2, 4, 5, 6]);
    }
}
