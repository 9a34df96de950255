//! Checking ntpq's JSON as a user's script would: with Python's json module.

use std::io::Write;
use std::process::{Command, Stdio};

/// Parses every line of `docs` with Python's json module (as a user's script would)
/// and evaluates each expression over `docs` (the list of documents); their reprs.
pub fn python(docs: &str, exprs: &[&str]) -> Vec<String> {
    let script = "import json, sys\n\
                  docs = [json.loads(l) for l in sys.stdin.read().splitlines()]\n\
                  for e in sys.argv[1:]:\n    print(repr(eval(e)))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .args(exprs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to check the JSON");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(docs.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
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
