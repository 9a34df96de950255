//! The version strings every program prints (`--version`, `ntpq -c version`, `rv`'s
//! `version=`, ntpdate's `-d` line).
//!
//! They keep classic's first words, `PROGRAM 4.2.6p5@1.2349-o` as a RHEL6 package prints
//! them, because monitoring and inventory tools (LibreNMS, nmap's ntp-info) recognise the
//! release by that prefix; the project's own name and version follow, where classic has its
//! build date, so nobody mistakes this for the C code. docs/version-strings.md says how
//! vulnerability scanners should treat it.

/// The classic release these programs behave as, alone (the first `--version` line).
pub const CLASSIC: &str = "4.2.6p5";

/// `PROGRAM 4.2.6p5@1.2349-o ntpd-rs6 X.Y.Z (1)`, a `&'static str`.
macro_rules! banner {
    ($program:literal) => {
        concat!(
            $program,
            " 4.2.6p5@1.2349-o ntpd-rs6 ",
            env!("CARGO_PKG_VERSION"),
            " (1)"
        )
    };
}

/// ntpd's version string (log banner, `--version`, the `version` system variable).
pub const NTPD: &str = banner!("ntpd");
/// `ntpq -c version` and `ntpq --version`.
pub const NTPQ: &str = banner!("ntpq");
/// ntpdate's `-d`/`-v` line.
pub const NTPDATE: &str = banner!("ntpdate");

/// What `--version` prints: classic's two lines, the bare release then the full string.
pub fn version_output(program: &str, full: &str) -> String {
    format!("{program} {CLASSIC}\n{full}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_first_words_then_the_project() {
        for (program, line) in [("ntpd", NTPD), ("ntpq", NTPQ), ("ntpdate", NTPDATE)] {
            let prefix = format!("{program} 4.2.6p5@1.2349-o ");
            assert!(line.starts_with(&prefix), "{line}");
            assert!(line.contains("ntpd-rs6"), "{line}");
        }
    }
}
