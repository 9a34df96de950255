//! ntp6: a memory-safe re-implementation of classic ntpd 4.2.6p5, ntpq and ntpdate.
//!
//! The core (time, wire, config, restrict, discipline, the engine) is sans-IO: pure code
//! over values and an injected [`clock::Clock`]. Only `clock::system` and `net` talk to the
//! operating system.
#![deny(unsafe_code)]

pub mod assoc;
pub mod auth;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod discipline;
pub mod engine;
pub mod fileio;
pub mod leap;
pub mod lines;
pub mod metrics;
pub mod net;
pub mod ntpdate;
pub mod ntpq;
pub mod ntpwait;
pub mod privdrop;
pub mod refclock;
pub mod restrict;
pub mod rtc;
pub mod server;
pub mod stats;
pub mod sysconfig;
pub mod time;
pub mod version;
pub mod wire;
