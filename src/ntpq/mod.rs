//! ntpq: the classic 4.2.6p5 query program, as a library. `session` does the mode 6
//! exchange over an injected transport, `display` formats exactly as classic, `table`
//! holds every command (name, usage, help, handler) and runs command lines, `commands`
//! the interpreter state and the commands' work (`json`/`json_docs`: the `--json` documents); `src/bin/ntpq.rs`
//! adds the UDP socket and the terminal.

pub mod auth;
pub mod cli;
pub mod commands;
mod config;
pub mod display;
pub mod json;
mod json_docs;
mod monitor;
mod mrulist;
mod reasons;
pub mod session;
mod stats;
/// Association mode names (classic `modetoa`), which ntpdc prints too.
pub use stats::MODES;
mod table;
mod vars;
