//! Checking ntpq's JSON as a user's script would: with Python's json module.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Parses every line of `docs` with Python's json module (as a user's script would)
/// and evaluates each expression over `docs` (the list of documents); their reprs.
pub fn python(docs: &str, exprs: &[&str]) -> Vec<String> {
    let script = "import json, sys\n\
                  docs = [json.loads(l) for l in sys.stdin.read().splitlines()]\n\
                  for e in sys.argv[1:]:\n    print(repr(eval(e)))\n";
    let mut python = Command::new("python3");
    python.args(["-c", script]).args(exprs);
    let out = fed(&mut python, docs);
    assert!(
        out.status.success(),
        "not JSON:\n{docs}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs `cmd` with `input` on its standard input; what it printed and its status.
pub fn fed(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
