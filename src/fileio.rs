//! Reading the files ntpd is configured with (ntp.conf and its includes, the keys file,
//! the leap seconds list, the drift file): whole, bounded in size, regular files only.
//!
//! This is the one place those files are opened, so that `includefile /dev/zero`, a FIFO
//! as the drift file or a directory as the keys file is refused at once with a message
//! naming the file, instead of reading until memory runs out or blocking start-up forever.
//! The parsers stay pure over the bytes returned here.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// ntp.conf and each included file: real ones are a few KB.
pub const CONFIG_LIMIT: u64 = 4 << 20;
/// The keys file: 65,534 keys of 40 hex digits with comments fit several times over.
pub const KEYS_LIMIT: u64 = 16 << 20;
/// leap-seconds.list: the IERS file is about 10 KB.
pub const LEAP_LIMIT: u64 = 1 << 20;
/// The drift file: one number (4.2.8 adds a second one).
pub const DRIFT_LIMIT: u64 = 512;

/// The whole of `path` if it is a regular file of at most `limit` bytes. A missing file
/// keeps [`io::ErrorKind::NotFound`] (callers treat it as classic does); every other refusal
/// is an error whose text says why (`a FIFO, not a regular file`, `larger than 4 MiB`).
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    // Regular files ignore the flag.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    regular_only(meta.file_type())?;
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    read_at_most(file, limit)
}

/// Refuses anything but a regular file, saying what it is instead.
pub fn regular_only(kind: FileType) -> io::Result<()> {
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a symbolic link"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

/// Reads to the end, but never more than `limit` bytes: the file may grow after fstat.
fn read_at_most(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> io::Error {
    let size = match limit {
        l if l >= 1 << 20 && l % (1 << 20) == 0 => format!("{} MiB", l >> 20),
        l if l >= 1 << 10 && l % (1 << 10) == 0 => format!("{} KiB", l >> 10),
        l => format!("{l} bytes"),
    };
    io::Error::new(io::ErrorKind::InvalidData, format!("larger than {size}"))
}

/// The OS reason without Rust's "(os error N)" suffix, for `FILE: reason` messages.
pub fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ntp6-fileio-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refusal(path: &Path, limit: u64) -> String {
        reason(&read_bounded(path, limit).expect_err("refused"))
    }

    #[test]
    fn regular_files_are_read_whole_up_to_the_limit() {
        let dir = scratch("regular");
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
        assert_eq!(refusal(&path, 9), "larger than 9 bytes");
        let missing = read_bounded(&dir.join("missing"), 10).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_at_once() {
        let dir = scratch("special");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let start = Instant::now();
        assert_eq!(refusal(&fifo, 512), "a FIFO, not a regular file");
        assert_eq!(
            refusal(Path::new("/dev/zero"), CONFIG_LIMIT),
            "a character device, not a regular file"
        );
        assert_eq!(
            refusal(&dir, CONFIG_LIMIT),
            "a directory, not a regular file"
        );
        assert!(start.elapsed() < Duration::from_secs(1));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn limits_are_named_in_binary_units() {
        assert_eq!(too_large(CONFIG_LIMIT).to_string(), "larger than 4 MiB");
        assert_eq!(too_large(2048).to_string(), "larger than 2 KiB");
        assert_eq!(too_large(DRIFT_LIMIT).to_string(), "larger than 512 bytes");
    }
}
