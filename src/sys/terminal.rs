//! The controlling terminal, for ntpq's key id and password prompts (classic's `getpass`):
//! the answer is read from /dev/tty, with echo off for a secret.
#![allow(unsafe_code)]

use std::io::{self, BufRead, IsTerminal};
use std::os::fd::AsRawFd;

/// One line typed on the controlling terminal, without its line end; echo is off while a
/// `secret` is typed. None when stdin is not a terminal (a script gets no prompt to wait
/// on) or the terminal cannot be read.
pub fn read_reply(secret: bool) -> Option<String> {
    if !io::stdin().is_terminal() {
        return None;
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    // SAFETY: tcgetattr fills a termios for a valid descriptor; zeroed is a valid
    // initial value for the plain-data struct.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let echo_off = secret && unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if echo_off {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: valid descriptor and termios.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = io::BufReader::new(&tty).read_line(&mut line);
    if echo_off {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        eprintln!();
    }
    read.ok()?;
    Some(line.trim_end_matches(['\r', '\n']).to_string())
}
