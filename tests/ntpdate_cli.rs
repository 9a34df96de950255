//! ntpdate's command-line behaviour that needs no network: classic's usage errors (exit 2)
//! and early failures (exit 1). None of these runs can reach the clock-setting code.

use std::process::{Command, Output};

fn ntpdate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ntpdate"))
        .args(args)
        .output()
        .expect("run ntpdate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn usage(prog: &str) -> String {
    format!("usage: {prog} [-46bBdqsuv] [-a key#] [-e delay] [-k file] [-p samples] [-o version#] [-t timeo] server ...\n")
}

#[test]
fn bad_options_print_classic_usage_and_exit_2() {
    let prog = env!("CARGO_BIN_EXE_ntpdate");
    let cases: [(&[&str], &str); 4] = [
        (&["-?"], "unknown option -?\n"),
        (&["-h"], "unknown option -h\n"),
        (
            &["-p", "0", "-q", "127.0.0.1"],
            "number of samples (0) is invalid\n",
        ),
        (
            &["-t", "abc", "-q", "127.0.0.1"],
            "timeout abc is undecodeable\n",
        ),
    ];
    for (args, message) in cases {
        let out = ntpdate(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(
            text(&out.stderr),
            format!("{prog}: {message}{}", usage(prog))
        );
    }
    let out = ntpdate(&["--help"]);
    assert_eq!(
        text(&out.stderr),
        format!(
            "{prog}: unknown option --\n{prog}: unknown option -h\n{prog}: encryption delay lp is unlikely\n{}",
            usage(prog)
        )
    );
}

/// `21 Nov 02:20:42 ntpdate[24006]: MESSAGE` with any time and PID.
fn assert_log_line(line: &str, message: &str) {
    let (prefix, rest) = line.split_once(" ntpdate[").expect("ntpdate[ in line");
    assert_eq!(prefix.len(), 15, "time prefix in {line:?}");
    let (pid, msg) = rest.split_once("]: ").expect("]: in line");
    assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{line:?}");
    assert_eq!(msg, message);
}

#[test]
fn no_servers_is_a_failure() {
    for args in [&[][..], &["-q"][..]] {
        let out = ntpdate(args);
        assert_eq!(out.status.code(), Some(1));
        assert_log_line(
            text(&out.stderr).trim_end(),
            "no servers can be used, exiting",
        );
    }
}

/// `-a KEY -k FILE` fails early, with classic's messages, when the file cannot be read or
/// lacks the key.
#[test]
fn authentication_needs_the_key_file_and_key() {
    let dir = std::env::temp_dir().join(format!("ntpdate-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let keys = dir.join("keys");
    std::fs::write(&keys, "1 M secret\n").expect("keys file");
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&keys, private).expect("chmod 600");
    let keys = keys.to_str().expect("utf-8 path");
    let missing = dir.join("missing");
    let missing = missing.to_str().expect("utf-8 path");
    let cases = [
        (
            ["-q", "-a", "1", "-k", missing, "127.0.0.1"],
            format!("no key file <{missing}>, exiting"),
        ),
        (
            ["-q", "-a", "9", "-k", keys, "127.0.0.1"],
            "authentication key 9 unknown".to_string(),
        ),
    ];
    for (args, message) in cases {
        let out = ntpdate(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_log_line(text(&out.stderr).trim_end(), &message);
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
