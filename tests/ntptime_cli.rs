//! `ntptime` as an administrator runs it (issue 13): without options it only reads the
//! kernel's state and prints classic 4.2.6p5's layout. The setting options are never run
//! here: they would change this machine's clock discipline (their parsing and the layout
//! are unit-tested in src/ntptime/).

use std::process::{Command, Output};

/// What a `#` may stand for.
type Class = fn(char) -> bool;

fn ntptime(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ntptime"))
        .args(args)
        .output()
        .expect("run ntptime")
}

/// `line` is `pattern` where each `#` stands for the shortest run (one character or more)
/// of `class` that lets the rest match.
fn shaped(line: &str, pattern: &str, class: Class) -> bool {
    let mut parts = pattern.split('#');
    let Some(rest) = line.strip_prefix(parts.next().unwrap_or("")) else {
        return false;
    };
    let mut rest = rest;
    for part in parts {
        let run = rest.find(|c: char| !class(c)).unwrap_or(rest.len());
        let found = (1..=run)
            .filter(|&n| rest.is_char_boundary(n))
            .find(|&n| rest[n..].starts_with(part) && (!part.is_empty() || n == rest.len()));
        match found {
            Some(n) => rest = &rest[n + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Digits, signs, points and hex letters; a date's words and blanks for the time line.
fn number(c: char) -> bool {
    c.is_ascii_hexdigit() || matches!(c, '-' | '.')
}

fn words(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | ':' | '.' | '(' | ')')
}

#[test]
fn prints_classic_layout_reading_only() {
    let out = ntptime(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let expect: [(&str, Class); 9] = [
        ("ntp_gettime() returns code # #", words),
        ("  time #.#  #, (.#),", words),
        (
            "  maximum error # us, estimated error # us, TAI offset #",
            number,
        ),
        ("ntp_adjtime() returns code # #", words),
        ("  modes 0x0 (),", number),
        ("  offset # us, frequency # ppm, interval # s,", number),
        ("  maximum error # us, estimated error # us,", number),
        ("  status 0x# #,", words),
        (
            "  time constant #, precision # us, tolerance # ppm,",
            number,
        ),
    ];
    for (i, (pattern, class)) in expect.iter().enumerate() {
        let line = lines.get(i).copied().unwrap_or("");
        assert!(
            shaped(line, pattern, *class),
            "line {i}: {line:?} is not {pattern:?}"
        );
    }
    // The state names the code as classic does.
    let code: i32 = lines[0].split_whitespace().nth(3).unwrap().parse().unwrap();
    let names = ["OK", "INS", "DEL", "OOP", "WAIT", "ERROR"];
    assert!(
        lines[0].ends_with(&format!("({})", names[code as usize])),
        "{}",
        lines[0]
    );
}

#[test]
fn raw_cost_and_usage() {
    let out = ntptime(&["-rc"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("[ us "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ntptime=") && l.contains(" unixtime=")),
        "{text}"
    );
    for args in [&["-h"][..], &["-t", "11"], &["-q"]] {
        let out = ntptime(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let usage = String::from_utf8_lossy(&out.stdout);
        assert!(
            usage.starts_with("usage: ntptime [-MNT:cde:f:hm:o:rs:t:]"),
            "{usage}"
        );
    }
    let bad = ntptime(&["-q"]);
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "ntptime: invalid option -- 'q'"
    );
}
