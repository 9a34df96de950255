//! The parser against real-world configs, classic 4.2.6p5's goldens and a broken fixture.

use std::io;
use std::path::Path;

use ntp6::config::{
    check, load, parse_bytes, Diagnostic, RestrictTarget, Severity, Support, Target,
};

/// Classic's captures and the RHEL6-style configs, copied into the repository.
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn reference(rel: &str) -> String {
    std::fs::read_to_string(format!("{REFERENCE}/{rel}")).expect("reference file")
}

/// The configs embedded in config-parse.txt: (name, text) per "### input config NAME:".
fn embedded_configs() -> Vec<(String, String)> {
    let golden = reference("classic-4.2.6p5/config-parse.txt");
    let mut out = Vec::new();
    let mut lines = golden.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("### input config ") else {
            continue;
        };
        let name = rest.split(':').next().unwrap_or_default().to_string();
        assert_eq!(lines.next(), Some("--- begin ---"));
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "--- end ---").collect();
        out.push((name, body.join("\n") + "\n"));
    }
    out
}

fn errors(diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect()
}

/// `check` on in-memory text: no file but the main one exists.
fn check_text(text: &str, not_acted_on: &[&str]) -> Vec<Diagnostic> {
    let mut read = |p: &Path| {
        if p == Path::new("ntp.conf") {
            Ok(text.as_bytes().to_vec())
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    };
    let support = Support {
        not_acted_on,
        refclocks: &[1],
    };
    check(Path::new("ntp.conf"), &mut read, &mut |_| false, &support)
}

#[test]
fn rhel6_and_centos_configs_have_no_errors() {
    let dir = format!("{REFERENCE}/configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("configs dir") {
        let path = entry.expect("entry").path();
        if !path.to_string_lossy().ends_with(".ntp.conf") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let (stmts, diags) = parse_bytes(text.as_bytes(), "ntp.conf");
        assert!(diags.is_empty(), "{}: {diags:?}", path.display());
        assert!(!stmts.is_empty());
        let checked = check_text(&text, &[]);
        assert!(
            errors(&checked).is_empty(),
            "{}: {checked:?}",
            path.display()
        );
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn lan_server_config_reads_as_written() {
    let text = reference("configs/rhel6-lan-server.ntp.conf");
    let mut read = |p: &Path| match p == Path::new("ntp.conf") {
        true => Ok(text.as_bytes().to_vec()),
        false => Err(io::Error::from(io::ErrorKind::NotFound)),
    };
    let (c, _) = load(Path::new("ntp.conf"), &mut read);
    assert_eq!(c.restrictions.len(), 5);
    assert_eq!(c.restrictions[0].target, RestrictTarget::Default(None));
    assert_eq!(c.associations.len(), 2);
    assert_eq!(
        c.associations[1].target,
        Target::RefClock {
            clock_type: 1,
            unit: 0
        }
    );
    assert_eq!(c.fudges[0].stratum, Some(10));
    assert_eq!(c.fudges[0].location.line, 12);
    assert_eq!(c.keys_file.as_deref(), Some(Path::new("/etc/ntp/keys")));
}

#[test]
fn classic_golden_configs_parse_cleanly() {
    let configs = embedded_configs();
    let names: Vec<&str> = configs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["rhel6-local.conf", "rich.conf", "errors.conf"]);
    for (name, text) in configs.iter().filter(|(n, _)| n != "errors.conf") {
        let (stmts, diags) = parse_bytes(text.as_bytes(), name);
        assert!(diags.is_empty(), "{name}: {diags:?}");
        assert!(stmts.len() >= 9);
    }
    let (_, rich) = &configs[1];
    let mut read = |_: &Path| Ok(rich.as_bytes().to_vec());
    let (c, _) = load(Path::new("rich.conf"), &mut read);
    assert_eq!(c.associations.len(), 6);
    assert_eq!(c.restrictions.len(), 10);
    assert_eq!(c.tos.orphan, Some(10));
    assert_eq!(c.trusted_keys, [1, 2, 3]);
    assert_eq!(c.setvars[0].value, "hello");
    assert!(c.setvars[0].default);
    assert!(c.system.stats && !c.system.monitor && !c.system.ntp && !c.system.kernel);
}

/// Classic logs syntax errors for lines 2, 3, 5, 6 and 12 and drops them; it silently keeps
/// 7/8 (fudges of clocks no server configures) and 11 (`tos orphan 99`, orphan mode off),
/// and reports the missing includefile (10) and keys file (9) at run time.
#[test]
fn errors_conf_is_reported_like_classic() {
    let (_, text) = embedded_configs().remove(2);
    let diags = check_text(&text, &[]);
    let shown: Vec<(Severity, u32, &str)> = diags
        .iter()
        .map(|d| (d.severity, d.location.line, d.message.as_str()))
        .collect();
    use Severity::{Error, Warning};
    assert_eq!(
        shown,
        [
            (Warning, 1, "driftfile directory '$RUN/cfg' not found"),
            (Error, 2, "unknown directive 'foobar'"),
            (Error, 3, "unknown restrict flag 'badflag'"),
            (Error, 5, "server needs an address"),
            (Error, 6, "minpoll needs a number"),
            (
                Warning,
                7,
                "fudge 127.127.1.0: no server line configures this clock, ignored"
            ),
            (
                Warning,
                8,
                "fudge 127.127.9.0: no server line configures this clock, ignored"
            ),
            (Warning, 9, "keys file '/nonexistent/ntp.keys' not found"),
            (
                Warning,
                10,
                "Couldn't open includefile </nonexistent/include.conf>: entity not found"
            ),
            (
                Warning,
                11,
                "tos orphan 99 is outside 1..15: orphan mode stays off"
            ),
            (Error, 12, "unknown tinker option 'wrongthing'"),
        ]
    );
}

#[test]
fn every_broken_line_of_the_fixture_is_reported() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/broken.conf"
    ))
    .expect("fixture");
    let (stmts, diags) = parse_bytes(&bytes, "broken.conf");
    let ok_lines: Vec<u32> = stmts.iter().map(|s| s.location.line).collect();
    assert_eq!(ok_lines, [2, 4, 14]);
    let expected = [
        "broken.conf:3: unknown restrict flag 'nomodifiy'",
        "broken.conf:5: mask needs an address, not '255.255.0'",
        "broken.conf:6: server needs an address",
        "broken.conf:7: minpoll needs a number",
        "broken.conf:8: maxpoll needs a number, not 'ten'",
        "broken.conf:9: unknown server option 'ibrust'",
        "broken.conf:10: key 0 is out of range 1..65534",
        "broken.conf:11: fudge needs a reference clock address 127.127.T.U, not '192.0.2.1'",
        "broken.conf:12: stratum 42 is out of range 0..15",
        "broken.conf:13: unknown fudge option 'flag5'",
        "broken.conf:15: unknown tinker option 'wrongthing'",
        "broken.conf:16: step needs a number",
        "broken.conf:17: maxdist needs a number, not 'sixteen'",
        "broken.conf:18: unknown tos option 'bogus'",
        "broken.conf:19: average needs a number",
        "broken.conf:20: unknown enable flag 'monitr'",
        "broken.conf:21: disable needs a flag such as monitor",
        "broken.conf:22: unknown statistics file 'peerstatz'",
        "broken.conf:23: unknown filegen type 'fortnight'",
        "broken.conf:24: interface needs an address, interface name, all, ipv4, ipv6 or wildcard",
        "broken.conf:25: interface needs listen, ignore or drop, not 'maybe'",
        "broken.conf:26: bad trustedkey range (5 ... 1)",
        "broken.conf:27: requestkey needs a number, not 'abc'",
        "broken.conf:28: controlkey needs a number",
        "broken.conf:29: keys needs a file name",
        "broken.conf:30: setvar needs NAME = VALUE",
        "broken.conf:31: unknown directive 'foobar'",
        "broken.conf:32: unterminated quoted string",
        "broken.conf:33: crypto needs a value after 'pw'",
        "broken.conf:34: broadcastdelay needs a number, not 'x'",
    ];
    assert_eq!(errors(&diags), expected);
    assert_eq!(diags.len(), expected.len(), "no extra warnings: {diags:?}");
}

#[test]
fn not_acted_on_directives_are_warned_about() {
    let diags = check_text(
        "server 192.0.2.1\ncrypto\nstatistics loopstats\n",
        &["crypto", "statistics"],
    );
    // (The lint's "one server" finding is not what this test is about.)
    let shown: Vec<String> = diags
        .iter()
        .filter(|d| !d.message.starts_with("lint: "))
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "ntp.conf:2: 'crypto' not supported yet",
            "ntp.conf:3: 'statistics' not supported yet"
        ]
    );
}
