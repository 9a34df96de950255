//! The config parser never panics, whatever it is fed, and always names a real line.

use std::io;
use std::path::Path;

use ntp6::config::{check, parse_bytes, Support};
use proptest::prelude::*;

/// Words that steer the parser into every directive and option path.
const VOCAB: &[&str] = &[
    "server",
    "peer",
    "pool",
    "broadcast",
    "manycastclient",
    "fudge",
    "restrict",
    "discard",
    "interface",
    "nic",
    "driftfile",
    "includefile",
    "keys",
    "trustedkey",
    "requestkey",
    "controlkey",
    "broadcastclient",
    "multicastclient",
    "manycastserver",
    "broadcastdelay",
    "crypto",
    "statistics",
    "statsdir",
    "filegen",
    "enable",
    "disable",
    "logfile",
    "logconfig",
    "tinker",
    "tos",
    "leapfile",
    "setvar",
    "revoke",
    "automax",
    "ttl",
    "trap",
    "phone",
    "default",
    "mask",
    "-4",
    "-6",
    "iburst",
    "minpoll",
    "maxpoll",
    "version",
    "key",
    "mode",
    "stratum",
    "refid",
    "time1",
    "flag1",
    "flag4",
    "panic",
    "step",
    "orphan",
    "maxdist",
    "cohort",
    "average",
    "listen",
    "all",
    "eth0",
    "10.0.0.0/8",
    "::1/200",
    "127.127.1.0",
    "127.127.255.255",
    "192.0.2.1",
    "2001:db8::1",
    "255.255.255.0",
    "host.example",
    "(",
    ")",
    "(1",
    "...",
    "5)",
    "=",
    "\"",
    "#",
    "0",
    "1",
    "-1",
    "99",
    "4294967296",
    "0x10",
    "1e308",
    "-1e400",
    "0.5",
    "nan",
    "inf",
    "=syncall",
    "+clockall",
    "type",
    "day",
    "file",
    "link",
    "enable",
    "novolley",
    "pw",
    "port",
    "\t",
    "\r",
    "é",
    "\u{0}",
];

fn soup() -> impl Strategy<Value = String> {
    let word = prop::sample::select(VOCAB);
    let sep = prop::sample::select(&[" ", " ", "\t", "\n", "  "][..]);
    prop::collection::vec((word, sep), 0..60)
        .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

fn assert_lines_real(bytes: &[u8]) {
    let (stmts, diags) = parse_bytes(bytes, "f");
    let lines = u32::try_from(ntp6::lines::numbered(bytes).count()).unwrap_or(u32::MAX);
    for s in &stmts {
        assert!(s.location.line >= 1 && s.location.line <= lines);
    }
    for d in &diags {
        assert!(d.location.line >= 1 && d.location.line <= lines, "{d}");
        assert!(d
            .to_string()
            .starts_with(&format!("f:{}: ", d.location.line)));
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        assert_lines_real(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        assert_lines_real(&bytes);
    }

    #[test]
    fn token_soup_never_panics(text in soup()) {
        assert_lines_real(text.as_bytes());
    }

    #[test]
    fn check_never_panics(main in soup(), included in soup()) {
        let mut read = |p: &Path| match p.to_str() {
            Some("ntp.conf") => Ok(format!("{main}\nincludefile inc.conf\n").into_bytes()),
            Some("inc.conf") => Ok(format!("{included}\nincludefile inc.conf\n").into_bytes()),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        let support = Support { not_acted_on: &["crypto", "tos"], refclocks: &[1] };
        let diags = check(Path::new("ntp.conf"), &mut read, &mut |_| false, &support);
        for d in diags {
            prop_assert!(!d.message.is_empty());
        }
    }
}
