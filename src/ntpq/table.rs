//! ntpq's command table: names, `help` texts, and classic's unique-prefix lookup.

use super::commands::{Failure, Out};
use super::monitor;
use super::reasons;

/// (name, usage arguments, function) as `help` prints them.
const COMMANDS: [(&str, &str, &str); 47] = [
    (
        ":config",
        "<configuration command line>",
        "send a remote configuration command to ntpd",
    ),
    (
        "addvars",
        "name[=value][,...]",
        "add variables to the variable list or change their values",
    ),
    (
        "associations",
        "",
        "print list of association ID's and statuses for the server's peers",
    ),
    (
        "authenticate",
        "[ yes|no ]",
        "always authenticate requests to this server",
    ),
    (
        "cl",
        "[ assocID ]",
        "read the clock variables included in the variable list",
    ),
    (
        "clearvars",
        "",
        "remove all variables from the variable list",
    ),
    (
        "clocklist",
        "[ assocID ]",
        "read the clock variables included in the variable list",
    ),
    (
        "clockvar",
        "[ assocID ] [ name=value[,...] ]",
        "read clock variables",
    ),
    (
        "config-from-file",
        "<configuration filename>",
        "configure ntpd using the configuration filename",
    ),
    ("cooked", "", "do cooked mode variable output"),
    (
        "cv",
        "[ assocID ] [ name=value[,...] ]",
        "read clock variables",
    ),
    ("debug", "[ no|more|less ]", "set/change debugging level"),
    (
        "delay",
        "[ msec ]",
        "set the delay added to encryption time stamps",
    ),
    ("exit", "", "exit ntpq"),
    ("help", "[ command ]", "tell the use and syntax of commands"),
    (
        "host",
        "[ -4|-6 ] [ hostname ]",
        "specify the host whose NTP server we talk to",
    ),
    (
        "hostnames",
        "[ yes|no ]",
        "specify whether hostnames or net numbers are printed",
    ),
    (
        "keyid",
        "[ key# ]",
        "set keyid to use for authenticated requests",
    ),
    (
        "keytype",
        "[ key type (md5|des) ]",
        "set key type to use for authenticated requests (des|md5)",
    ),
    (
        "lassociations",
        "",
        "print list of associations including all client information",
    ),
    (
        "lopeers",
        "[ -4|-6 ]",
        "obtain and print a list of all peers and clients showing dstadr [IP version]",
    ),
    (
        "lpassociations",
        "",
        "print last obtained list of associations, including client information",
    ),
    (
        "lpeers",
        "[ -4|-6 ]",
        "obtain and print a list of all peers and clients [IP version]",
    ),
    (
        "mreadlist",
        "assocID assocID",
        "read the peer variables in the variable list for multiple peers",
    ),
    (
        "mreadvar",
        "assocID assocID [ name=value[,...] ]",
        "read peer variables from multiple peers",
    ),
    (
        "mrl",
        "assocID assocID",
        "read the peer variables in the variable list for multiple peers",
    ),
    (
        "mrv",
        "assocID assocID [ name=value[,...] ]",
        "read peer variables from multiple peers",
    ),
    (
        "ntpversion",
        "[ version number ]",
        "set the NTP version number to use for requests",
    ),
    (
        "opeers",
        "[ -4|-6 ]",
        "print peer list the old way, with dstadr shown rather than refid [IP version]",
    ),
    (
        "passociations",
        "",
        "print list of associations returned by last associations command",
    ),
    (
        "passwd",
        "",
        "specify a password to use for authenticated requests",
    ),
    (
        "peers",
        "[ -4|-6 ]",
        "obtain and print a list of the server's peers [IP version]",
    ),
    (
        "poll",
        "[ n ] [ verbose ]",
        "poll an NTP server in client mode `n' times",
    ),
    (
        "pstatus",
        "assocID",
        "print status information returned for a peer",
    ),
    ("quit", "", "exit ntpq"),
    ("raw", "", "do raw mode variable output"),
    (
        "readlist",
        "[ assocID ]",
        "read the system or peer variables included in the variable list",
    ),
    (
        "readvar",
        "[ assocID ] [ name=value[,...] ]",
        "read system or peer variables",
    ),
    (
        "rl",
        "[ assocID ]",
        "read the system or peer variables included in the variable list",
    ),
    (
        "rmvars",
        "name[,...]",
        "remove variables from the variable list",
    ),
    (
        "rv",
        "[ assocID ] [ name=value[,...] ]",
        "read system or peer variables",
    ),
    (
        "saveconfig",
        "filename",
        "save ntpd configuration to file, . for current config file",
    ),
    ("showvars", "", "print variables on the variable list"),
    ("timeout", "[ msec ]", "set the primary receive time out"),
    ("version", "", "print version number"),
    (
        "writelist",
        "[ assocID ]",
        "write the system or peer variables included in the variable list",
    ),
    (
        "writevar",
        "assocID name=value,[...]",
        "write system or peer variables",
    ),
];

/// A command by exact name or unique prefix in `table`.
fn find_in(
    table: &[(&'static str, &'static str, &'static str)],
    word: &str,
) -> Result<&'static str, &'static str> {
    if let Some(c) = table.iter().find(|c| c.0 == word) {
        return Ok(c.0);
    }
    let mut matches = table.iter().filter(|c| c.0.starts_with(word));
    match (matches.next(), matches.next()) {
        (Some(c), None) => Ok(c.0),
        (Some(_), Some(_)) => Err("ambiguous"),
        _ => Err("unknown"),
    }
}

/// A command by exact name or unique prefix. The 4.2.8 additions are looked at only for
/// words no 4.2.6p5 command takes, so every classic abbreviation keeps its meaning.
pub(super) fn find_command(word: &str) -> Result<&'static str, &'static str> {
    match find_in(&COMMANDS, word) {
        Err("unknown") => match find_in(&monitor::COMMANDS, word) {
            Err("unknown") => find_in(&reasons::COMMANDS, word),
            found => found,
        },
        found => found,
    }
}

pub(super) fn help(args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
    if let Some(word) = args.first() {
        match find_command(word) {
            Ok(name) => {
                let c = COMMANDS
                    .iter()
                    .chain(&monitor::COMMANDS)
                    .chain(&reasons::COMMANDS)
                    .find(|c| c.0 == name)
                    .map_or(("", "", ""), |c| *c);
                writeln!(o.out, "function: {}", c.2)?;
                writeln!(
                    o.out,
                    "usage: {}{}{}",
                    c.0,
                    if c.1.is_empty() { "" } else { " " },
                    c.1
                )?;
            }
            Err(kind) => writeln!(o.err, "***Command `{word}' {kind}")?,
        }
        return Ok(());
    }
    writeln!(o.out, "ntpq commands:")?;
    let rows = COMMANDS.len().div_ceil(4);
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..4 {
            if let Some(cmd) = COMMANDS.get(c * rows + r) {
                line += &format!("{:<17}", cmd.0);
            }
        }
        writeln!(o.out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve_like_classic() {
        assert_eq!(find_command("pe"), Ok("peers"));
        assert_eq!(find_command("rv"), Ok("rv"));
        assert_eq!(find_command("c"), Err("ambiguous"));
        // 4.2.8 additions never shadow a classic abbreviation.
        assert_eq!(find_command("au"), Ok("authenticate"));
        assert_eq!(find_command("mru"), Ok("mrulist"));
        assert_eq!(find_command("sysi"), Ok("sysinfo"));
        assert_eq!(find_command("sy"), Err("ambiguous"));
        assert_eq!(find_command("rea"), Err("ambiguous"));
        assert_eq!(find_command("reas"), Ok("reasons"));
    }
}
