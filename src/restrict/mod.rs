//! `restrict` access control: flags, the address list, and per-client rate limiting.

mod flags;
mod list;

pub use flags::{RestrictFlag, RestrictFlags};
pub use list::{Family, RestrictEntry, RestrictError, RestrictList};
