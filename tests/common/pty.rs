//! Interactive programs on a pseudo-terminal: util-linux `script` gives the program a pty
//! (so it sees a terminal) and relays our pipe to it.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use super::Netns;

/// How long to wait for expected output.
const EXPECT: Duration = Duration::from_secs(10);

/// A program running on a pty in a namespace; Drop kills it.
pub struct Pty {
    child: Child,
    input: ChildStdin,
    output: Receiver<Vec<u8>>,
    /// Output received but not yet returned by [`Pty::expect`].
    pending: String,
}

impl Pty {
    /// Starts `argv` in `ns` (without CAP_SYS_TIME) on a fresh pty.
    pub fn spawn(ns: &Netns, argv: &[&str]) -> Pty {
        let command: Vec<String> = argv.iter().map(|a| format!("'{a}'")).collect();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .args(["setpriv", "--bounding-set", "-sys_time"])
            .args(["script", "-qec", &command.join(" "), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start script(1) for {argv:?}: {e}"));
        let input = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            input,
            output,
            pending: String::new(),
        }
    }

    /// Waits until `text` appears; returns everything up to and including it.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + EXPECT;
        loop {
            if let Some(at) = self.pending.find(text) {
                let rest = self.pending.split_off(at + text.len());
                return std::mem::replace(&mut self.pending, rest);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.pending.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!(
                    "{text:?} not seen within {EXPECT:?}; got {:?}",
                    self.pending
                ),
            }
        }
    }

    /// Types `text`.
    pub fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).expect("write to pty");
        self.input.flush().expect("flush pty");
    }

    /// Waits for the program to exit; its exit code, None on timeout.
    pub fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + EXPECT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
