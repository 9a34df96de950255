//! Reading the `leapfile` at start and saying what came of it: loaded (with its expiry,
//! last leap and TAI offset), used without a hash, or rejected (with the reason).

use crate::fileio;
use crate::leap::{HashCheck, LeapError, LeapTable};
use crate::time::civil::Civil;
use crate::time::UNIX_EPOCH_NTP_SECS;
use std::path::Path;

/// `2026-06-28T00:00:00Z` for NTP seconds `ntp`.
fn iso(ntp: i64) -> String {
    let c = Civil::from_unix(ntp - UNIX_EPOCH_NTP_SECS as i64);
    format!("{}Z", c.date_time('T'))
}

/// Reads (a regular file of at most [`fileio::LEAP_LIMIT`] bytes) and checks `path`.
/// (Expiry is judged by the engine on the clock it runs on.)
pub fn load(path: &Path) -> Option<LeapTable> {
    let shown = path.display();
    let bytes = match fileio::read_bounded(path, fileio::LEAP_LIMIT) {
        Ok(b) => b,
        Err(err) => {
            let reason = fileio::reason(&err);
            log::error!("leapsecond file ('{shown}'): cannot read: {reason}");
            return None;
        }
    };
    let table = match LeapTable::parse(&bytes) {
        Ok(t) => t,
        Err(LeapError::Syntax { line, message }) => {
            log::error!("leapsecond file ('{shown}'): rejected: {shown}:{line}: {message}");
            return None;
        }
        Err(err) => {
            log::error!("leapsecond file ('{shown}'): rejected: {err}");
            return None;
        }
    };
    if table.hash == HashCheck::Missing {
        log::warn!("leapsecond file ('{shown}'): no hash ('#h' line); contents not verified");
    }
    let last = table.entries.last().copied();
    log::info!(
        "leapsecond file ('{shown}'): loaded, expire={} last={} ofs={}",
        iso(table.expires),
        last.map_or_else(|| "-".to_string(), |e| iso(e.at)),
        last.map_or(0, |e| e.tai_offset)
    );
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_and_rejections() {
        assert_eq!(iso(3_991_593_600), "2026-06-28T00:00:00Z");
        let dir = std::env::temp_dir().join(format!("ntp6-leapfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(&good, "#@ 3991593600\n3692217600 37\n").unwrap();
        assert_eq!(load(&good).map(|t| t.expires), Some(3_991_593_600));
        let bad = dir.join("bad");
        std::fs::write(&bad, "#@ 3991593600\n3692217600 37\n#h 1 2 3 4 5\n").unwrap();
        assert!(load(&bad).is_none());
        assert!(load(&dir.join("missing")).is_none());
        assert!(load(Path::new("/dev/zero")).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
