//! Reading and writing the drift file. Writes go to a temporary file that is fsynced and
//! renamed over the old one, so a crash or `kill -9` never leaves a torn file behind; a
//! write that fails (a full disk) removes the temporary file again.

use crate::discipline::drift;
use crate::fileio;
use crate::time::Ppm;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The frequency stored in `path`; a missing or unusable file (not a regular file, larger
/// than [`fileio::DRIFT_LIMIT`]) means "start from 0" and is logged as a warning, as
/// classic does.
pub fn read(path: &Path) -> Option<Ppm> {
    match fileio::read_bounded(path, fileio::DRIFT_LIMIT) {
        Ok(bytes) => match drift::parse(&bytes) {
            Ok(freq) => {
                log::info!(
                    "frequency initialized {:.3} PPM from {}",
                    freq.0,
                    path.display()
                );
                Some(freq)
            }
            Err(err) => {
                log::warn!("{}: {err}; starting with frequency 0", path.display());
                None
            }
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            log::info!(
                "{}: no drift file yet; starting with frequency 0",
                path.display()
            );
            None
        }
        Err(err) => {
            let reason = fileio::reason(&err);
            log::warn!("{}: {reason}; starting with frequency 0", path.display());
            None
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".TEMP");
    path.with_file_name(name)
}

/// Writes `freq` to `path` atomically; on failure no temporary file is left behind.
pub fn write(path: &Path, freq: Ppm) -> io::Result<()> {
    let temp = temp_path(path);
    let written =
        write_synced(&temp, drift::format(freq).as_bytes()).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        // The error being reported is the write's; a temp file that will not go away
        // either has nothing more to add.
        let _ = fs::remove_file(&temp);
    }
    written?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename itself; a directory that cannot be opened is not fatal.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ntp6-drift-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join("drift")
    }

    #[test]
    fn write_then_read() {
        let path = scratch("rw");
        write(&path, Ppm(-21.077)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "-21.077\n");
        assert_eq!(read(&path), Some(Ppm(-21.077)));
        assert!(!temp_path(&path).exists());
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn garbage_or_missing_starts_from_zero() {
        let path = scratch("bad");
        assert_eq!(read(&path), None);
        fs::write(&path, b"\xff\xfe garbage").unwrap();
        assert_eq!(read(&path), None);
        fs::write(&path, format!("{}1.5\n", " ".repeat(600))).unwrap();
        assert_eq!(read(&path), None, "larger than the limit");
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert_eq!(read(Path::new("/dev/zero")), None);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        // The rename fails: the drift file's name is taken by a non-empty directory.
        let path = scratch("fail");
        fs::create_dir_all(path.join("occupied")).unwrap();
        assert!(write(&path, Ppm(1.0)).is_err());
        assert!(!temp_path(&path).exists());
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
