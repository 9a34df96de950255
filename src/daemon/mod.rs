//! The ntpd shell: command line, logging, sockets, signals, drift file I/O and the mio loop
//! around the sans-IO [`crate::engine::Engine`].

pub mod args;
pub mod driftio;
pub mod event_loop;
pub mod host;
pub mod leapfile;
pub mod listen;
pub mod listeners;
pub mod logging;
pub mod metrics_http;
pub mod notify;
pub mod observe;
pub mod resolver;
pub mod run;
pub mod settings;
pub mod statsfiles;
