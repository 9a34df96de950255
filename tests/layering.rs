//! The sans-IO boundary, checked: core modules never touch sockets, files, the system clock
//! or the event loop. Only the shells (`clock::system`, `net`, `daemon`, the ntpq/ntpdate
//! shells) may.

use std::fs;
use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "src/time.rs",
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

const FORBIDDEN: &[&str] = &[
    "mio::",
    "socket2",
    "libc::",
    "Instant::now",
    "SystemTime::now",
    "std::fs",
    "UdpSocket",
    "std::net::ToSocketAddrs",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            rust_files(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn core_modules_do_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in CORE {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "core files not found");
    let mut hits = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    hits.push(format!(
                        "{}:{}: {word}",
                        file.strip_prefix(root).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(hits.is_empty(), "I/O in core modules:\n{}", hits.join("\n"));
}
