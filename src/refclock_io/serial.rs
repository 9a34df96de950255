//! A serial NMEA device: opened non-blocking in raw mode at the `mode` word's speed; what
//! arrives is cut into lines as it is read, so each line is stamped on arrival.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// Longest line kept (NMEA sentences are at most 82 characters).
const MAX_LINE: usize = 256;

pub struct Serial {
    file: File,
    partial: Vec<u8>,
}

fn speed(baud: u32) -> libc::speed_t {
    match baud {
        9600 => libc::B9600,
        19200 => libc::B19200,
        38400 => libc::B38400,
        57600 => libc::B57600,
        115_200 => libc::B115200,
        _ => libc::B4800,
    }
}

impl Serial {
    pub fn open(path: &str, baud: u32) -> Result<Serial, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| super::open_error(path, &e))?;
        let fd = file.as_raw_fd();
        // SAFETY: termios is plain data filled by tcgetattr on our open fd.
        unsafe {
            let mut tio: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut tio) == 0 {
                libc::cfmakeraw(&mut tio);
                tio.c_cflag |= libc::CLOCAL | libc::CREAD;
                libc::cfsetispeed(&mut tio, speed(baud));
                libc::cfsetospeed(&mut tio, speed(baud));
                libc::tcsetattr(fd, libc::TCSANOW, &tio);
            } else {
                log::debug!("{path}: not a terminal; read as is");
            }
        }
        Ok(Serial {
            file,
            partial: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads what is waiting and hands each complete line to `line`. Err: the device is
    /// gone (hang-up, end of file).
    pub fn read_lines(&mut self, line: &mut dyn FnMut(&str)) -> Result<(), String> {
        let mut buf = [0u8; 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => return Err("device closed".into()),
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            let text = String::from_utf8_lossy(&self.partial).into_owned();
                            self.partial.clear();
                            line(&text);
                        } else if self.partial.len() < MAX_LINE {
                            self.partial.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}
