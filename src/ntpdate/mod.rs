//! ntpdate: classic 4.2.6p5's one-shot clock setter, for cron jobs and boot scripts.
//!
//! [`options`] parses the classic command line, [`session::Session`] is the sans-IO sampling
//! state machine, [`filter`] and [`select`] are classic's clock filter and server selection,
//! [`outcome`] concludes and renders classic's lines, and [`run`] is the shell (sockets,
//! name lookups, syslog, applying the decision through the clock trait).

pub mod filter;
pub mod options;
pub mod outcome;
pub mod run;
pub mod select;
pub mod session;
