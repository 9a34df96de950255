//! `restrict` access control: flags, the address list, and per-client rate limiting.

mod flags;

pub use flags::{RestrictFlag, RestrictFlags};
