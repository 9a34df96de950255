//! The drift file's text: one line holding the frequency correction in PPM, as classic
//! writes it (`-21.077`). Parsing is strict about the number and lenient about whitespace;
//! the file I/O (write-temp, fsync, rename) lives in the daemon shell.

use crate::time::Ppm;
use std::fmt;

/// Classic ntpd refuses drift values beyond its 500 PPM frequency limit.
pub const MAX_PPM: f64 = 500.0;

/// Why a drift file's contents were not used.
#[derive(Clone, Debug, PartialEq)]
pub enum DriftError {
    Empty,
    NotANumber(String),
    OutOfRange(f64),
}

impl fmt::Display for DriftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriftError::Empty => f.write_str("empty drift file"),
            DriftError::NotANumber(t) => write!(f, "not a frequency: '{t}'"),
            DriftError::OutOfRange(v) => write!(f, "frequency {v} PPM is beyond ±{MAX_PPM} PPM"),
        }
    }
}

impl std::error::Error for DriftError {}

/// Parses the first word of the file (classic ignores anything after it, e.g. 4.2.8's
/// second "tolerance" value).
pub fn parse(input: &[u8]) -> Result<Ppm, DriftError> {
    let word = input
        .split(|b| b.is_ascii_whitespace())
        .find(|w| !w.is_empty())
        .ok_or(DriftError::Empty)?;
    let not_a_number =
        || DriftError::NotANumber(String::from_utf8_lossy(word).chars().take(40).collect());
    let value: f64 = std::str::from_utf8(word)
        .ok()
        .and_then(|w| w.parse().ok())
        .ok_or_else(not_a_number)?;
    if !value.is_finite() || value.abs() > MAX_PPM {
        return Err(DriftError::OutOfRange(value));
    }
    Ok(Ppm(value))
}

/// Formats a frequency as the file's single line, with classic's three decimals.
pub fn format(freq: Ppm) -> String {
    format!("{:.3}\n", freq.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_classic_text() {
        assert_eq!(parse(b"-21.077\n"), Ok(Ppm(-21.077)));
        assert_eq!(format(Ppm(-21.077)), "-21.077\n");
        assert_eq!(format(Ppm(3.0)), "3.000\n");
        assert_eq!(parse(b"  12.5 0.001\n"), Ok(Ppm(12.5)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(parse(b" \n"), Err(DriftError::Empty));
        assert!(matches!(parse(b"abc"), Err(DriftError::NotANumber(_))));
        assert!(matches!(
            parse(b"\xff\xfe1"),
            Err(DriftError::NotANumber(_))
        ));
        assert!(matches!(parse(b"1e9"), Err(DriftError::OutOfRange(_))));
        assert!(matches!(parse(b"NaN"), Err(DriftError::OutOfRange(_))));
        assert!(parse("9".repeat(10_000).as_bytes()).is_err());
    }
}
