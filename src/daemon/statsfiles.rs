//! The statistics files on disk: `statsdir` (or -s), `statistics NAME...` and `filegen
//! NAME [file F] [type T] [link|nolink] [enable|disable]`, written as classic 4.2.6p5 does.
//!
//! Each enabled file gets its lines appended to `DIR/F.SUFFIX`, where the suffix names
//! the current generation (`.20261121` for `type day`, the default); when the generation
//! changes (midnight UTC for `day`) the next file is opened. With `link` (the default) the
//! plain `DIR/F` is a hard link to the current generation; a plain file in its way is
//! renamed to `F.PIDCn`, as classic does. `disable stats` turns all of it off. sysstats
//! are written hourly from the engine's packet counters (the deltas since the last line).

use crate::config::{Config, FilegenType, StatsFile};
use crate::engine::Counters;
use crate::stats::{generation_suffix, GenerationContext, Record, SysStats};
use crate::time::NtpTimestamp;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// classic's compiled-in statistics directory (4.2.6p5's NTP_VAR).
pub const DEFAULT_STATSDIR: &str = "/var/NTP/";
const SYSSTATS_INTERVAL: Duration = Duration::from_secs(3600);

/// One statistics file's generation settings and its open file.
#[derive(Debug)]
struct Generation {
    kind: StatsFile,
    name: String,
    gen_type: FilegenType,
    link: bool,
    open: Option<(PathBuf, File)>,
    /// The last name that could not be opened, so the failure is logged once.
    failed: Option<PathBuf>,
}

/// The enabled statistics files.
#[derive(Debug)]
pub struct StatsFiles {
    dir: PathBuf,
    files: Vec<Generation>,
    /// Monotonic time of the first call, the daemon's start (for `type age`, sysstats).
    started: Option<Duration>,
    conflicts: u32,
    sys_since: Option<Duration>,
    sys_last: Counters,
}

/// A file name from `filegen ... file F`: relative, without `..` (classic's check).
fn acceptable(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl StatsFiles {
    /// The files `config` enables; `statsdir` is -s, which wins over the directive.
    pub fn from_config(config: &Config, statsdir: Option<&Path>) -> StatsFiles {
        let dir = statsdir
            .or(config.stats_dir.as_deref())
            .unwrap_or(Path::new(DEFAULT_STATSDIR))
            .to_path_buf();
        let mut files = Vec::new();
        for kind in StatsFile::ALL {
            let mut enabled = config.statistics.contains(&kind);
            let mut g = Generation {
                kind,
                name: kind.keyword().to_string(),
                gen_type: FilegenType::Day,
                link: true,
                open: None,
                failed: None,
            };
            for f in config.filegens.iter().filter(|f| f.name == kind) {
                match &f.file {
                    Some(name) if !acceptable(name) => {
                        log::warn!("{}: filegen file name '{name}' rejected", f.location);
                    }
                    Some(name) => g.name.clone_from(name),
                    None => {}
                }
                g.gen_type = f.kind.unwrap_or(g.gen_type);
                g.link = f.link.unwrap_or(g.link);
                enabled = f.enable.unwrap_or(enabled);
            }
            if enabled && config.system.stats {
                files.push(g);
            }
        }
        StatsFiles {
            dir,
            files,
            started: None,
            conflicts: 0,
            sys_since: None,
            sys_last: Counters::default(),
        }
    }

    /// True if the engine should produce loop/peer/clock records at all.
    pub fn any_enabled(&self) -> bool {
        self.files.iter().any(|g| g.kind != StatsFile::Sysstats)
    }

    /// Appends `record`'s line, written at `now` (`mono`: monotonic time, for `type age`).
    pub fn write(&mut self, record: &Record, now: NtpTimestamp, mono: Duration) {
        let started = *self.started.get_or_insert(mono);
        let ctx = GenerationContext {
            pid: std::process::id(),
            uptime: mono.saturating_sub(started).as_secs(),
        };
        let Some(index) = self.files.iter().position(|g| g.kind == record.file()) else {
            return;
        };
        let line = format!("{}\n", record.line(now));
        let path = self.generation_path(index, now, ctx);
        if self.files[index].open.as_ref().map(|(p, _)| p) != Some(&path) {
            self.open(index, path);
        }
        if let Some((path, file)) = &mut self.files[index].open {
            if let Err(err) = file.write_all(line.as_bytes()) {
                log::warn!("cannot write {}: {err}", path.display());
            }
        }
    }

    /// Once an hour: a sysstats line with the packet counts since the previous one.
    pub fn hourly(&mut self, counters: Counters, now: NtpTimestamp, mono: Duration) {
        let since = *self.sys_since.get_or_insert(mono);
        self.started.get_or_insert(mono);
        if mono < since + SYSSTATS_INTERVAL {
            return;
        }
        let last = std::mem::replace(&mut self.sys_last, counters);
        let record = Record::Sys(SysStats {
            since_reset: mono.saturating_sub(since).as_secs(),
            received: counters.received - last.received,
            processed: counters.served - last.served,
            current_version: 0,
            old_version: 0,
            restricted: counters.dropped - last.dropped,
            bad_length: counters.bad_format - last.bad_format,
            bad_auth: 0,
            declined: 0,
            rate_limited: counters.kissed - last.kissed,
            kod_sent: counters.kissed - last.kissed,
        });
        self.sys_since = Some(mono);
        self.write(&record, now, mono);
    }

    fn generation_path(&self, index: usize, now: NtpTimestamp, ctx: GenerationContext) -> PathBuf {
        let g = &self.files[index];
        let suffix = generation_suffix(g.gen_type, now, ctx);
        self.dir.join(format!("{}{suffix}", g.name))
    }

    /// Opens a new generation (keeping the old one if that fails) and links the base name.
    fn open(&mut self, index: usize, path: PathBuf) {
        let base = self.dir.join(&self.files[index].name);
        let link = self.files[index].link && path != base;
        if link {
            self.clear_base(&base);
        }
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => {
                if link {
                    if let Err(err) = fs::hard_link(&path, &base) {
                        if err.kind() != io::ErrorKind::AlreadyExists {
                            log::warn!("can't link({}, {}): {err}", path.display(), base.display());
                        }
                    }
                }
                let g = &mut self.files[index];
                g.open = Some((path, file));
                g.failed = None;
            }
            Err(err) => {
                let g = &mut self.files[index];
                if g.failed.as_ref() != Some(&path) {
                    log::warn!("can't open {}: {err}", path.display());
                    g.failed = Some(path);
                }
            }
        }
    }

    /// The base name must be free for the link: an old link goes, a lone file is kept
    /// under another name.
    fn clear_base(&mut self, base: &Path) {
        let Ok(meta) = fs::symlink_metadata(base) else {
            return;
        };
        if !meta.is_file() {
            log::warn!("expected regular file for {}", base.display());
            return;
        }
        if meta.nlink() > 1 {
            if let Err(err) = fs::remove_file(base) {
                log::warn!("couldn't unlink {}: {err}", base.display());
            }
            return;
        }
        let mut saved = base.as_os_str().to_owned();
        saved.push(format!(".{}C{}", std::process::id(), self.conflicts));
        self.conflicts += 1;
        if let Err(err) = fs::rename(base, &saved) {
            log::warn!("couldn't save {}: {err}", base.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LoopStats;
    use crate::time::{NtpDuration, Ppm};

    fn config(text: &str) -> Config {
        let mut read = |_: &Path| Ok(text.as_bytes().to_vec());
        let (config, diags) = crate::config::load(Path::new("ntp.conf"), &mut read);
        assert!(diags.is_empty(), "{diags:?}");
        config
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ntp6-stats-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn loop_record() -> Record {
        Record::Loop(LoopStats {
            offset: NtpDuration::ZERO,
            frequency: Ppm(1.5),
            jitter: NtpDuration::ZERO,
            wander: Ppm::ZERO,
            poll: 6,
        })
    }

    /// 2026-11-21 23:59:59 UTC.
    fn late() -> NtpTimestamp {
        NtpTimestamp::from_unix(1_795_305_599, 0)
    }

    #[test]
    fn day_files_rotate_at_utc_midnight_and_the_link_follows() {
        let dir = scratch("rotate");
        let c = config("statistics loopstats peerstats\n");
        let mut s = StatsFiles::from_config(&c, Some(&dir));
        assert!(s.any_enabled());
        s.write(&loop_record(), late(), Duration::ZERO);
        let next_day = late() + NtpDuration::from_secs(2);
        s.write(&loop_record(), next_day, Duration::ZERO);
        let first = fs::read_to_string(dir.join("loopstats.20261121")).unwrap();
        let second = fs::read_to_string(dir.join("loopstats.20261122")).unwrap();
        assert_eq!(
            first,
            "61365 86399.000 0.000000000 1.500 0.000000000 0.000000 6\n"
        );
        assert!(second.starts_with("61366 1.000 "), "{second}");
        assert_eq!(fs::read_to_string(dir.join("loopstats")).unwrap(), second);
        assert!(!dir.join("peerstats").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn filegen_names_types_and_disable() {
        let dir = scratch("filegen");
        fs::write(dir.join("loops"), "an old plain file\n").unwrap();
        let c = config(
            "statistics loopstats sysstats\n\
             filegen loopstats file loops type month link enable\n\
             filegen sysstats disable\n\
             filegen peerstats file ../escape enable\n",
        );
        let mut s = StatsFiles::from_config(&c, Some(&dir));
        s.write(&loop_record(), late(), Duration::ZERO);
        s.hourly(Counters::default(), late(), Duration::from_secs(7200));
        assert!(dir.join("loops.202611").is_file());
        assert_eq!(
            fs::read_to_string(dir.join("loops")).unwrap(),
            fs::read_to_string(dir.join("loops.202611")).unwrap()
        );
        let saved: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains('C'))
            .collect();
        assert_eq!(saved.len(), 1, "the plain file was kept under another name");
        assert!(!dir.join("sysstats").exists());
        // `file ../escape` is refused; peerstats keeps its own name.
        assert!(!dir.parent().unwrap().join("escape").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sysstats_hourly_deltas_and_disable_stats() {
        let dir = scratch("sys");
        let c = config("statistics sysstats\nfilegen sysstats type none\n");
        let mut s = StatsFiles::from_config(&c, Some(&dir));
        assert!(!s.any_enabled());
        let mut counters = Counters {
            received: 10,
            served: 8,
            dropped: 1,
            bad_format: 1,
            kissed: 0,
            ..Counters::default()
        };
        s.hourly(counters, late(), Duration::ZERO);
        s.hourly(counters, late(), Duration::from_secs(60));
        assert!(!dir.join("sysstats").exists(), "not an hour yet");
        s.hourly(counters, late(), Duration::from_secs(3600));
        counters.received = 15;
        s.hourly(counters, late(), Duration::from_secs(7300));
        let text = fs::read_to_string(dir.join("sysstats")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "61365 86399.000 3600 10 8 0 0 1 1 0 0 0 0");
        assert_eq!(lines[1], "61365 86399.000 3700 5 0 0 0 0 0 0 0 0 0");
        let off = config("statistics loopstats\ndisable stats\n");
        assert!(!StatsFiles::from_config(&off, Some(&dir)).any_enabled());
        fs::remove_dir_all(dir).unwrap();
    }
}
