//! Where a config item came from, and the problems found in it.

use std::fmt;

/// A line in a config file; kept on every association, restrict entry and fudge so the
/// daemon can name the line in its logs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 means "the file as a whole" (e.g. it could not be opened).
    pub line: u32,
}

impl Location {
    pub fn new(file: &str, line: u32) -> Location {
        Location {
            file: file.to_string(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration could not be read whole (a file that is not a regular file, too
    /// large or unreadable, an include cycle): the daemon must not start on what is left,
    /// which could lack its access rules.
    Fatal,
    /// The line was dropped (classic logs a syntax error and goes on without it).
    Error,
    /// Accepted, but probably not what the admin meant or not fully honoured.
    Warning,
}

/// One problem, printed as `FILE:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location,
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    pub fn fatal(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            location,
            severity: Severity::Fatal,
            message: message.into(),
        }
    }

    /// An error or worse: `ntpd --check` exits 1.
    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }

    pub fn is_fatal(&self) -> bool {
        self.severity == Severity::Fatal
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_line_message() {
        let d = Diagnostic::error(
            Location::new("ntp.conf", 12),
            "unknown restrict flag 'nomodifiy'",
        );
        assert_eq!(
            d.to_string(),
            "ntp.conf:12: unknown restrict flag 'nomodifiy'"
        );
        let w = Diagnostic::warning(Location::new("/etc/ntp.conf", 0), "Couldn't open");
        assert_eq!(w.to_string(), "/etc/ntp.conf: Couldn't open");
    }
}
