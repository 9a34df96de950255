//! Fuzzing support: the target bodies ([`targets`]) and the engine they drive
//! ([`harness`]). See docs/fuzzing.md.

pub mod harness;
pub mod targets;
