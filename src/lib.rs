//! ntp6: a memory-safe re-implementation of classic ntpd 4.2.6p5, ntpq and ntpdate.
//!
//! The core (time, wire, config, restrict, discipline, the engine) is sans-IO: pure code
//! over values and an injected [`clock::Clock`]. Only `clock::system`, `net` and `sys` call
//! libc functions; the attribute below keeps everything else safe.
#![deny(unsafe_code)]

pub mod assoc;
pub mod auth;
pub mod clock;
pub mod cmdline;
pub mod config;
pub mod control;
pub mod daemon;
pub mod discipline;
pub mod engine;
pub mod fileio;
pub mod leap;
pub mod lines;
pub mod logclass;
pub mod metrics;
pub mod mode7;
pub mod net;
pub mod ntpdate;
pub mod ntpdc;
pub mod ntpq;
pub mod ntptime;
pub mod ntpwait;
pub mod refclock;
pub mod refclock_io;
pub mod restrict;
pub mod rtc;
pub mod server;
pub mod stats;
pub mod sys;
pub mod sysconfig;
pub mod time;
pub mod version;
pub mod wire;
