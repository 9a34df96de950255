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

/// Writes `freq` to `path` atomically; on failure no temporary file is left behind. A
/// FIFO, device or directory at `path` is left alone (a rename would replace it); a
/// symbolic link is replaced, as classic does.
pub fn write(path: &Path, freq: Ppm) -> io::Result<()> {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_symlink() {
            fileio::regular_only(meta.file_type())?;
        }
    }
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
    fn a_full_disk_leaves_no_temporary_file() {
        // The temporary name leads to /dev/full: every write fails with ENOSPC, as on a
        // full disk, after the temporary file was opened.
        let path = scratch("full");
        fs::write(&path, "1.000\n").unwrap();
        std::os::unix::fs::symlink("/dev/full", temp_path(&path)).unwrap();
        let err = write(&path, Ppm(2.0)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
        assert!(fs::symlink_metadata(temp_path(&path)).is_err(), "temp left");
        assert_eq!(read(&path), Some(Ppm(1.0)), "old value kept");
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn special_files_are_not_replaced() {
        let path = scratch("special");
        fs::create_dir_all(&path).unwrap();
        let err = write(&path, Ppm(1.0)).unwrap_err();
        assert_eq!(err.to_string(), "a directory, not a regular file");
        assert!(path.is_dir() && !temp_path(&path).exists());
        let link = path.with_file_name("link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        write(&link, Ppm(2.0)).unwrap();
        assert_eq!(read(&link), Some(Ppm(2.0)));
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
