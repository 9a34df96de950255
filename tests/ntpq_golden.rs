//! Our ntpq, talking to our mode 6 server through an in-memory transport, prints what
//! classic ntpq 4.2.6p5 printed against classic ntpd (local.txt, wire-mode6-local.txt).

#[path = "control_fixture.rs"]
mod fixture;

use fixture::{captured, ntpq_run};
use ntp6::ntpq::commands::{Ntpq, Out};
use ntp6::ntpq::display::Numeric;

/// Runs commands with the client clock `when` seconds after the peer's last packet.
fn run_with(commands: &[&str], when: u64, names: bool, silent: bool) -> (String, String, usize) {
    let now = 0xeeab8432_fbbb1d05u64 + (when << 32);
    ntpq_run(commands, now, silent, |q| q.names = names)
}

fn run(commands: &[&str], when: u64) -> String {
    run_with(commands, when, true, false).0
}

/// Runs `commands` (see [`run`]) and compares stdout with the capture of `$ command`.
fn assert_golden(commands: &[&str], when: u64, file: &str, command: &str) {
    assert_eq!(run(commands, when), captured(file, command), "{commands:?}");
}

#[test]
fn peers_matches_classic() {
    assert_golden(&["peers"], 8, "wire-mode6-local.txt", "ntpq -p");
}

#[test]
fn numeric_peers_matches_classic() {
    let out = run_with(&["peers"], 11, false, false).0;
    assert_eq!(out, captured("wire-mode6-local.txt", "ntpq -pn"));
}

#[test]
fn rv_matches_classic() {
    assert_golden(&["rv"], 8, "wire-mode6-local.txt", "ntpq -c rv");
}

#[test]
fn associations_match_classic() {
    assert_golden(&["as"], 8, "wire-mode6-local.txt", "ntpq -c as");
}

#[test]
fn clockvar_matches_classic() {
    assert_golden(&["cv 3495"], 8, "wire-mode6-local.txt", "ntpq -c cv 3495");
}

#[test]
fn peer_readvar_and_pstatus_match_classic() {
    let expected = captured("local.txt", "ntpq -c 'pstatus 3495'");
    assert_eq!(run(&["pstatus 3495"], 8), expected);
    assert_eq!(run(&["rv 3495"], 8), expected);
}

/// `&N` is the Nth association of the last list, fetched first when there is none (the
/// fixture's only association is local.txt's 3495); `pstatus &1` prints classic's
/// `pstatus 3495` layout.
#[test]
fn association_indexes_name_the_listed_associations() {
    let expected = captured("local.txt", "ntpq -c 'pstatus 3495'");
    let (out, err, sent) = run_with(&["pstatus &1"], 8, true, false);
    assert_eq!((out, err.as_str()), (expected.clone(), ""));
    assert_eq!(
        sent, 2,
        "READSTAT for the list, then the association's status"
    );
    assert_eq!(run(&["rv &1"], 8), expected);
    assert_eq!(
        run(&["as", "rv &1"], 8)
            .split_once("sys_peer  3\n")
            .unwrap()
            .1,
        expected
    );
    // Past the end means the last association.
    assert_eq!(run(&["rv &7 srcadr"], 8), "srcadr=LOCAL(0)\n");
    assert_eq!(
        run(&["mrv &1 &1 srcadr,stratum"], 8),
        "srcadr=LOCAL(0), stratum=10\n"
    );
    let (_, err, _) = run_with(&["rv &x", "rv &0", "pstatus 0", "pstatus"], 8, true, false);
    assert_eq!(
        err,
        "***Association value `&x' invalid/undecodable\n\
         ***Association value `&0' invalid/undecodable\n\
         ***Invalid association ID specified\n\
         usage: pstatus assocID\n"
    );
}

/// `host` alone names the current host as local.txt shows; a transport tied to one
/// server (this in-memory one) cannot move, and classic's "remains" follows.
#[test]
fn host_reports_the_current_host() {
    let out = run(&["host"], 8);
    let classic = captured(
        "local.txt",
        "ntpq -c 'timeout 1000' -c timeout -c delay -c host -c ntpversion -c keytype -c keyid -c hostnames -c debug -c authenticate -c raw -c cooked",
    );
    assert!(classic.contains(&out), "{out:?} in {classic}");
    assert_eq!(
        run(&["host a b", "host 127.0.0.1"], 8),
        "current host remains localhost\ncurrent host remains localhost\n"
    );
}

/// The variable list and the settings commands, as local.txt's two command chains.
#[test]
fn variable_list_and_settings_match_classic() {
    assert_golden(
        &[
            "addvars stratum,refid",
            "showvars",
            "rl",
            "rmvars stratum",
            "showvars",
            "clearvars",
            "showvars",
        ],
        8,
        "local.txt",
        "ntpq -c 'addvars stratum,refid' -c showvars -c rl -c 'rmvars stratum' -c showvars -c clearvars -c showvars",
    );
    assert_golden(
        &[
            "timeout 1000",
            "timeout",
            "delay",
            "host",
            "ntpversion",
            "keytype",
            "keyid",
            "hostnames",
            "debug",
            "authenticate",
            "raw",
            "cooked",
        ],
        8,
        "local.txt",
        "ntpq -c 'timeout 1000' -c timeout -c delay -c host -c ntpversion -c keytype -c keyid -c hostnames -c debug -c authenticate -c raw -c cooked",
    );
}

/// Whether command `name` ends the session.
fn quits(name: &str) -> bool {
    let mut t = fixture::Loopback::new(false);
    let clock = || 0;
    let mut q = Ntpq::new(&mut t, &Numeric, "localhost", &clock);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut o = Out {
        out: &mut out,
        err: &mut err,
    };
    q.run(name, &mut o).unwrap();
    q.quit
}

/// `help` lists only commands that do something: each one, run bare, prints, asks the
/// server, or changes what a later command does.
#[test]
fn every_listed_command_does_something() {
    let help = run(&["help"], 8);
    let names: Vec<&str> = help
        .lines()
        .skip(1)
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(names.len(), 47, "{help}");
    for name in names {
        let (out, err, sent) = run_with(&[name], 8, true, false);
        let changed = match name {
            // Silent in classic too: what they change shows in the next command.
            "clearvars" => {
                run(&["addvars a", "clearvars", "showvars"], 8) == "No variables on list\n"
            }
            "quit" | "exit" => quits(name),
            _ => false,
        };
        assert!(
            !out.is_empty() || !err.is_empty() || sent > 0 || changed,
            "`{name}' did nothing"
        );
    }
}

#[test]
fn opeers_matches_classic() {
    assert_golden(&["opeers"], 6, "local.txt", "ntpq -c lopeers");
}

#[test]
fn named_variables_match_classic() {
    assert_golden(
        &["rv 0 stratum,offset,refid"],
        8,
        "local.txt",
        "ntpq -c 'rv 0 stratum,offset,refid'",
    );
}

#[test]
fn raw_peer_variables_match_classic() {
    let out = run(&["raw", "rv 3495"], 8);
    let expected = captured("local.txt", "ntpq -c raw -c 'rv 0' -c 'rv 3495'");
    let peer_part = &expected[expected.find("associd=3495").unwrap()..];
    assert_eq!(out, format!("Output set to raw\n{peer_part}"));
}

#[test]
fn help_matches_classic() {
    assert_golden(&["help"], 8, "local.txt", "ntpq -c help");
    assert_golden(&["help peers"], 8, "local.txt", "ntpq -c 'help peers'");
}

#[test]
fn errors_print_classic_messages() {
    let (_, err, _) = run_with(&["rv 12345", "rv 0 nosuchvar", "monlist"], 8, true, false);
    assert_eq!(
        err,
        "***Association ID 12345 unknown to server\n\
         ***A request variable unknown to the server\n\
         ***Command `monlist' unknown\n"
    );
}

#[test]
fn silence_times_out_after_one_retransmission() {
    let (out, err, sent) = run_with(&["peers"], 8, true, true);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "localhost: timed out, nothing received\n***Request timed out\n"
    );
    assert_eq!(sent, 2);
}
