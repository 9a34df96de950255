//! Classic's log classes, what `logconfig` switches on and off.
//!
//! Classic 4.2.6p5 wraps some of its log lines in `NLOG(class|type)`: four classes (`sys`,
//! `peer`, `clock`, `sync`) of four types (`info`, `events`, `status`, `statistics`), one
//! bit each in a 32-bit mask that starts at `sync` only (`NLOG_SYNCMASK`: clock steps and
//! synchronisation changes) and that each `logconfig` item sets (`=`), adds to (`+`) or
//! takes from (`-`). Lines outside NLOG() (start-up, errors, warnings) are always written.
//!
//! Our log lines of those kinds say their class and type in the `log` record's target
//! ([`SYNC_EVENTS`], [`PEER_EVENTS`], ...); the daemon's logger drops a record whose target
//! the mask does not allow. Records at warning level or above always pass, as classic's
//! LOG_ERR/LOG_WARNING lines are not NLOG-wrapped.

/// `sync` class, `events` type: clock steps ("time reset").
pub const SYNC_EVENTS: &str = "nlog::sync::events";
/// `sync` class, `status` type: the system peer changed ("synchronized to"), and why a
/// source is or is not followed.
pub const SYNC_STATUS: &str = "nlog::sync::status";
/// `peer` class, `events` type: associations mobilised, a source's state changed.
pub const PEER_EVENTS: &str = "nlog::peer::events";
/// `clock` class, `events` type: reference clock events (for the refclock drivers).
pub const CLOCK_EVENTS: &str = "nlog::clock::events";
/// `clock` class, `status` type: reference clock status changes (for the drivers).
pub const CLOCK_STATUS: &str = "nlog::clock::status";

/// Class names with their bit offset, in classic's prefix-matching order.
const CLASSES: [(&str, u32); 4] = [("clock", 8), ("peer", 4), ("sync", 12), ("sys", 0)];

/// One bit per type within a class.
const TYPES: [(&str, u64); 4] = [("info", 1), ("events", 2), ("status", 4), ("statistics", 8)];

/// Every class of one type, or every type of one class (classic's `logcfg_item` words).
fn item_bits(word: &str) -> Option<u64> {
    const ALL_TYPES: u64 = 0xF;
    let every_class = |bit: u64| bit | bit << 4 | bit << 8 | bit << 12;
    if let Some(&(_, bit)) = TYPES.iter().find(|(name, _)| *name == word) {
        return Some(bit);
    }
    if let Some(rest) = word.strip_prefix("all") {
        if let Some(&(_, bit)) = TYPES.iter().find(|(name, _)| *name == rest) {
            return Some(every_class(bit));
        }
        if let Some(&(_, offset)) = CLASSES.iter().find(|(name, _)| *name == rest) {
            return Some(ALL_TYPES << offset);
        }
        // `all` and `allall`: every class, every type.
        if rest.is_empty() || rest == "all" {
            return Some(every_class(ALL_TYPES));
        }
    }
    None
}

/// Which NLOG() lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogMask(pub u32);

impl Default for LogMask {
    /// Classic's start: the `sync` class only.
    fn default() -> LogMask {
        LogMask(0xF000)
    }
}

impl LogMask {
    /// The bits one item word names, as classic's `get_logmask` computes them: an optional
    /// class prefix (its offset), then a type; `syncall` is every type of `sync` (and,
    /// classic's arithmetic being what it is, `sysall` every bit).
    pub fn bits(word: &str) -> Option<u32> {
        let (offset, rest) = CLASSES
            .iter()
            .find_map(|(name, offset)| word.strip_prefix(name).map(|rest| (*offset, rest)))
            .unwrap_or((0, word));
        let bits = item_bits(rest)? << offset;
        Some(bits as u32)
    }

    /// Applies one `logconfig` item (`=syncall`, `+clockall`, `-syncstatus`).
    pub fn apply(self, item: &str) -> Result<LogMask, String> {
        let mut chars = item.chars();
        let op = chars.next();
        let word = chars.as_str();
        let bits = || {
            LogMask::bits(word).ok_or_else(|| {
                format!(
                    "logconfig: unknown item '{word}' (a class clock, peer, sync, sys or all \
                     followed by a type info, events, status, statistics or all)"
                )
            })
        };
        match op {
            Some('=') => Ok(LogMask(bits()?)),
            Some('+') => Ok(LogMask(self.0 | bits()?)),
            Some('-') => Ok(LogMask(self.0 & !bits()?)),
            _ => Err(format!(
                "logconfig item '{item}' must start with '=', '+' or '-'"
            )),
        }
    }

    /// The mask after `items` in order, from classic's start; items in error are skipped.
    pub fn from_items<S: AsRef<str>>(items: &[S]) -> LogMask {
        items.iter().fold(LogMask::default(), |mask, item| {
            mask.apply(item.as_ref()).unwrap_or(mask)
        })
    }

    /// Whether a record with `target` at `level` is written: targets outside the classes
    /// and warnings or worse always are.
    pub fn allows(self, target: &str, level: log::Level) -> bool {
        if level <= log::Level::Warn {
            return true;
        }
        let Some(word) = target.strip_prefix("nlog::") else {
            return true;
        };
        let word: String = word.split("::").collect();
        LogMask::bits(&word).is_none_or(|bits| self.0 & bits != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level::{Info, Warn};

    #[test]
    fn classic_bits() {
        assert_eq!(LogMask::bits("syncevents"), Some(0x2000));
        assert_eq!(LogMask::bits("sysinfo"), Some(0x1));
        assert_eq!(LogMask::bits("peerstatus"), Some(0x40));
        assert_eq!(LogMask::bits("clockstatistics"), Some(0x800));
        assert_eq!(LogMask::bits("allevents"), Some(0x2222));
        assert_eq!(LogMask::bits("allsync"), Some(0xF000));
        assert_eq!(LogMask::bits("all"), Some(0xFFFF));
        assert_eq!(LogMask::bits("syncall"), Some(0xFFFF << 12));
        assert_eq!(LogMask::bits("clockall").map(|b| b & 0xFFFF), Some(0xFF00));
        assert_eq!(LogMask::bits("syncevent"), None);
        assert_eq!(LogMask::bits("bogus"), None);
    }

    #[test]
    fn items_set_add_and_remove() {
        let m = LogMask::from_items(&["=syncall", "+clockall"]);
        assert!(m.allows(SYNC_EVENTS, Info) && m.allows(CLOCK_STATUS, Info));
        assert!(!m.allows(PEER_EVENTS, Info) && !m.allows("nlog::sys::events", Info));
        let quiet = LogMask::from_items(&["-syncstatus"]);
        assert!(quiet.allows(SYNC_EVENTS, Info) && !quiet.allows(SYNC_STATUS, Info));
        assert!(LogMask::default().apply("syncall").is_err());
        assert!(LogMask::default().apply("=nonsense").is_err());
    }

    #[test]
    fn classic_default_writes_sync_lines_only() {
        let m = LogMask::default();
        assert!(m.allows(SYNC_EVENTS, Info) && m.allows(SYNC_STATUS, Info));
        assert!(!m.allows(PEER_EVENTS, Info) && !m.allows(CLOCK_EVENTS, Info));
        assert!(m.allows(PEER_EVENTS, Warn), "warnings always pass");
        assert!(
            m.allows("ntp6::daemon::run", Info),
            "lines outside the classes pass"
        );
        assert!(!LogMask(0).allows(SYNC_EVENTS, Info));
    }
}
