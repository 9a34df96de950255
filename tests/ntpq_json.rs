//! `ntpq --json`: each read command prints one JSON document that Python's json module
//! parses, with the values the classic text shows (our ntpq against our mode 6 server
//! over the classic capture's LOCAL(0) state, in memory).

mod common;
#[path = "control_fixture.rs"]
mod fixture;

use common::python;
use fixture::ntpq_run;

/// Runs `commands` with `--json` (client clock 8 s after the peer's last packet):
/// stdout, stderr.
fn json_run(commands: &[&str], silent: bool) -> (String, String) {
    let now = 0xeeab8432_fbbb1d05u64 + (8 << 32);
    let (out, err, _) = ntpq_run(commands, now, silent, |q| q.json = true);
    (out, err)
}

#[test]
fn peers_rows_carry_numbers_units_and_the_reason() {
    let (out, err) = json_run(&["peers"], false);
    assert_eq!(out.lines().count(), 1, "one document: {out}");
    assert!(err.is_empty(), "{err}");
    let got = python(
        &out,
        &[
            "docs[0]['command']",
            "len(docs[0]['peers'])",
            "docs[0]['peers'][0]['remote']",
            "docs[0]['peers'][0]['tally']",
            "docs[0]['peers'][0]['refid']",
            "docs[0]['peers'][0]['stratum']",
            "docs[0]['peers'][0]['type']",
            "docs[0]['peers'][0]['when_s']",
            "docs[0]['peers'][0]['poll_s']",
            "docs[0]['peers'][0]['reach']",
            "docs[0]['peers'][0]['offset_ms']",
            "docs[0]['peers'][0]['reason']",
        ],
    );
    assert_eq!(
        got,
        [
            "'peers'",
            "1",
            "'LOCAL(0)'",
            "'*'",
            "'LOCL'",
            "10",
            "'l'",
            "8",
            "64",
            "3",
            "0.0",
            "'system peer'"
        ]
    );
}

#[test]
fn system_variables_are_numbers_with_units() {
    let (out, _) = json_run(&["rv"], false);
    let got = python(
        &out,
        &[
            "docs[0]['command']",
            "docs[0]['assoc_id']",
            "docs[0]['status']['leap']",
            "docs[0]['status']['sync']",
            "docs[0]['variables']['stratum']",
            "docs[0]['variables']['rootdisp_ms']",
            "docs[0]['variables']['precision_log2_s']",
            "docs[0]['variables']['frequency_ppm']",
            "docs[0]['variables']['refid']",
            "docs[0]['variables']['version']",
            "round(docs[0]['variables']['reftime_unix_s'], 3)",
        ],
    );
    assert_eq!(
        got,
        [
            "'readvar'",
            "0",
            "'leap_alarm'",
            "'sync_local'",
            "11",
            "3947.92",
            "-22",
            "0.0",
            "'127.127.1.0'",
            "'ntpd 4.2.6p5 Sat Nov 21 02:20:07 UTC 2026 (3)'",
            "1795229106.983"
        ]
    );
}

#[test]
fn every_read_command_is_one_document() {
    let commands = [
        "peers",
        "lpeers",
        "opeers",
        "as",
        "rv",
        "rv 3495",
        "rv &1 reason",
        "pstatus 3495",
        "cv",
        "cv 3495",
        "mrv 3495 3495",
        "sysinfo",
        "sysstats",
        "iostats",
        "kerninfo",
        "monstats",
        "authinfo",
        "reasons",
    ];
    let (out, err) = json_run(&commands, false);
    assert!(err.is_empty(), "{err}");
    assert_eq!(out.lines().count(), commands.len(), "{out}");
    let got = python(
        &out,
        &[
            "[d['command'] for d in docs]",
            "docs[3]['associations'][0]['assoc_id']",
            "docs[5]['status']['select']",
            "docs[6]['variables']",
            "docs[9]['variables']['device']",
            "docs[10]['results'][0]['variables']['hpoll_log2_s']",
            "docs[11]['variables']['stratum']",
            "docs[17]['sources']",
        ],
    );
    assert_eq!(
        got[0],
        "['peers', 'lpeers', 'opeers', 'associations', 'readvar', 'readvar', 'readvar', \
         'pstatus', 'clockvar', 'clockvar', 'mreadvar', 'sysinfo', 'sysstats', 'iostats', \
         'kerninfo', 'monstats', 'authinfo', 'reasons']"
    );
    assert_eq!(got[1], "3495");
    assert_eq!(got[2], "'sys.peer'");
    assert_eq!(got[3], "{'reason': 'system peer'}");
    assert_eq!(got[4], "'Undisciplined local clock'");
    assert_eq!(got[5], "6");
    assert_eq!(got[6], "11");
    assert_eq!(
        got[7],
        "[{'assoc_id': 3495, 'tally': '*', 'remote': 'LOCAL(0)', 'address': '127.127.1.0', \
         'reason': 'system peer'}]"
    );
}

#[test]
fn errors_are_documents_too() {
    let (out, err) = json_run(&["rv 12345", "mrulist", "rv &0"], false);
    let got = python(&out, &["[(d['command'], d['error']) for d in docs]"]);
    assert_eq!(
        got,
        [
            "[('readvar', 'Association ID 12345 unknown to server'), ('mrulist', \
          'Server reports a bad opcode in request'), ('readvar', \"Association value `&0' \
          invalid/undecodable\")]"
        ]
    );
    assert!(
        err.contains("***Association ID 12345 unknown to server\n"),
        "{err}"
    );
    let (out, err) = json_run(&["peers"], true);
    let got = python(&out, &["docs[0]['error']"]);
    assert_eq!(
        got,
        ["'localhost: timed out, nothing received; Request timed out'"]
    );
    assert!(err.ends_with("***Request timed out\n"), "{err}");
}

#[test]
fn reasons_in_text() {
    let (out, _, _) = ntpq_run(
        &["reasons", "rv &1 reason"],
        0xeeab8432_fbbb1d05,
        false,
        |_| {},
    );
    assert_eq!(
        out,
        format!(
            "     remote      assid  reason\n{}\n*LOCAL(0)         3495  system peer\n\
             reason=\"system peer\"\n",
            "=".repeat(78)
        )
    );
}
