//! `restrict` access control: flags, the address list, and per-client rate limiting.

mod flags;
mod list;
mod mru;

pub use flags::{RestrictFlag, RestrictFlags};
pub use list::{Family, RestrictEntry, RestrictError, RestrictList};
pub use mru::{Arrival, MonEntry, Monitor, Observation, RateLimits, DEFAULT_CAPACITY};
