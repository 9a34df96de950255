//! The libc calls that are neither clock steering (`clock::system`) nor sockets (`net`):
//! privileges and capabilities, the daemon's process chores and signals, name lookups,
//! local time, syslog, the RTC ioctl and the terminal. With `clock` and `net` these are the
//! only modules allowed `unsafe`; each file here says `#![allow(unsafe_code)]` for itself.

pub mod localtime;
pub mod names;
pub mod privdrop;
pub mod process;
pub mod rtc;
pub mod signals;
pub mod syslog;
pub mod terminal;
