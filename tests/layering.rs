//! The sans-IO boundary, checked: core modules never touch sockets, files, the system clock
//! or the event loop, never print, exit or start threads, and never import the shells.
//! Only the shells (`clock::system`, `net`, `sys`, `daemon`, the ntpq/ntpdate shells) may.
//! Imports point down: the daemon's side never imports a client program's module (ntpdate,
//! ntpq, ntpdc, ...), nothing but ntpdate imports ntpdate's, and `sys`, `net` and `clock`
//! never import the daemon.
//!
//! Every path listed here must exist: a renamed or misspelt module fails the test instead
//! of silently dropping out of the check.

use std::fs;
use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "src/time",
    "src/wire",
    "src/restrict",
    "src/discipline",
    "src/engine",
    "src/server.rs",
    "src/refclock",
    "src/metrics",
    "src/control",
    "src/assoc",
    "src/leap",
    "src/stats",
    "src/sysconfig.rs",
    "src/lines.rs",
    "src/auth/keys.rs",
    "src/auth/mac.rs",
    "src/auth/keyring.rs",
];

/// Text that means I/O, printing, exiting or threads.
const FORBIDDEN: &[&str] = &[
    "mio::",
    "socket2",
    "libc::",
    "Instant::now",
    "SystemTime::now",
    "SystemClock",
    "std::fs",
    "UdpSocket",
    "std::net::ToSocketAddrs",
    "print!",
    "println!",
    "dbg!",
    "process::exit",
    "std::process",
    "thread::spawn",
    "std::thread",
];

/// The client programs' modules (`crate::NAME`): the daemon never runs their code.
const CLIENTS: &[&str] = &["ntpdate", "ntpq", "ntpdc", "ntptime", "ntpwait"];

/// The shell modules core code may not import (`crate::NAME`), besides [`CLIENTS`].
const SHELLS: &[&str] = &["daemon", "net", "sys", "rtc", "fileio"];

/// What `ntpd` is built from besides the core: none of it imports a client's module.
const DAEMON_SIDE: &[&str] = &[
    "src/daemon",
    "src/net",
    "src/sys",
    "src/clock",
    "src/config",
    "src/rtc.rs",
    "src/fileio.rs",
    "src/bin/ntpd.rs",
];

/// The one daemon-side file that serves a client: the mode 6 client socket (ntpq's
/// `Transport`, used by ntpq and ntp-wait, never by the daemon).
const CLIENT_SOCKET: &str = "src/net/query.rs";

/// ntpdate's module is ntpdate's alone: only it and its binary import it (what others
/// need from it lives in `time::civil`, `sys` and the like).
const NTPDATE_ONLY: &[&str] = &["src/ntpdate", "src/bin/ntpdate.rs"];

/// The lowest shells, which the daemon uses and which never use it.
const BELOW_DAEMON: &[&str] = &["src/sys", "src/net", "src/clock"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            rust_files(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The Rust files under each listed path; a path that does not exist fails the test.
fn files_of(paths: &[&str]) -> Vec<PathBuf> {
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !root().join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "tests/layering.rs lists paths that do not exist (renamed? fix the list): {missing:?}"
    );
    let mut files = Vec::new();
    for p in paths {
        rust_files(&root().join(p), &mut files);
    }
    files
}

fn shown(file: &Path) -> String {
    file.strip_prefix(root()).unwrap().display().to_string()
}

/// Each line of `file` without its `//` comment, numbered from 1.
fn code_lines(file: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(file).unwrap();
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("").to_string()))
        .collect()
}

/// The top-level modules a file names as `crate::NAME` (or `ntp6::NAME` in a binary),
/// grouped imports (`use crate::{a::b, c};`) included, with the line they start on.
fn crate_modules(file: &Path) -> Vec<(usize, String)> {
    let lines = code_lines(file);
    let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    for prefix in ["crate::", "ntp6::"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at + prefix.len();
            from = start;
            let preceded = text[..start - prefix.len()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if preceded {
                continue;
            }
            let rest = &text[start..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                let mut items = Vec::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                        _ => {}
                    }
                    if depth == 0 && c != ',' && c != '}' {
                        item.push(c);
                    }
                }
                items.push(item);
                for item in items {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push((line_of(start), name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push((line_of(start), name));
            }
        }
    }
    found
}

#[test]
fn core_modules_do_no_io() {
    let files = files_of(CORE);
    assert!(files.len() > 10, "core files not found");
    let mut hits = Vec::new();
    for file in &files {
        for (n, code) in code_lines(file) {
            for word in FORBIDDEN {
                if code.contains(word) {
                    hits.push(format!("{}:{n}: {word}", shown(file)));
                }
            }
        }
    }
    assert!(hits.is_empty(), "I/O in core modules:\n{}", hits.join("\n"));
}

/// `FILE:LINE: crate::NAME` for every import in `files` that `bad` says is one.
fn import_hits(files: &[PathBuf], bad: impl Fn(&str) -> bool) -> Vec<String> {
    let mut hits = Vec::new();
    for file in files {
        for (n, module) in crate_modules(file) {
            if bad(&module) {
                hits.push(format!("{}:{n}: crate::{module}", shown(file)));
            }
        }
    }
    hits
}

#[test]
fn core_modules_import_no_shell() {
    let hits = import_hits(&files_of(CORE), |m| {
        SHELLS.contains(&m) || CLIENTS.contains(&m)
    });
    assert!(
        hits.is_empty(),
        "core modules import a shell:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_daemon_imports_no_client_module() {
    let socket = root().join(CLIENT_SOCKET);
    assert!(
        socket.is_file(),
        "{CLIENT_SOCKET} not found (renamed? fix the list)"
    );
    let files: Vec<PathBuf> = files_of(DAEMON_SIDE)
        .into_iter()
        .filter(|f| *f != socket)
        .collect();
    let hits = import_hits(&files, |m| CLIENTS.contains(&m));
    assert!(
        hits.is_empty(),
        "the daemon's side imports a client program's module:\n{}",
        hits.join("\n")
    );
}

#[test]
fn only_ntpdate_imports_ntpdate() {
    let own = files_of(NTPDATE_ONLY);
    let others: Vec<PathBuf> = files_of(&["src"])
        .into_iter()
        .filter(|f| !own.contains(f))
        .collect();
    let hits = import_hits(&others, |m| m == "ntpdate");
    assert!(
        hits.is_empty(),
        "imports from ntpdate's module:\n{}",
        hits.join("\n")
    );
}

#[test]
fn lower_shells_never_import_the_daemon() {
    let hits = import_hits(&files_of(BELOW_DAEMON), |m| m == "daemon");
    assert!(
        hits.is_empty(),
        "sys/net/clock import the daemon:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_import_scanner_sees_grouped_and_nested_imports() {
    let dir = std::env::temp_dir().join(format!("ntp6-layering-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x.rs");
    fs::write(
        &file,
        "use crate::{daemon::run, time::{civil, NtpTimestamp}};\n\
         // use crate::ntpq::x;\n\
         fn f() { crate::ntpdate::main(&[]); }\n\
         use supercrate::net;\n",
    )
    .unwrap();
    let found = crate_modules(&file);
    fs::remove_dir_all(&dir).unwrap();
    let names: Vec<(usize, &str)> = found.iter().map(|(n, m)| (*n, m.as_str())).collect();
    assert_eq!(names, [(1, "daemon"), (1, "time"), (3, "ntpdate")]);
}
