//! `restrict` access control: flags, the address list, per-client rate limiting (the
//! monitor / MRU list), and what they mean for each received packet.
//!
//! Packet path: `AccessControl::check(now, &Arrival, has_mac)` right after decoding the
//! header; then, for `Access::Proceed(grant)`, verify the MAC and ask `grant` about
//! serving or mobilising; for `Access::Kiss`, send `kiss_header(..)`; for
//! `Access::Control(rights)`, run the mode 6 handler with those rights.

mod access;
mod flags;
mod list;
mod mru;

pub use access::{
    decide, kiss_header, Access, AccessControl, AuthStatus, ClientReply, ControlRights, Denied,
    Grant, NewSymmetric,
};
pub use flags::{RestrictFlag, RestrictFlags};
pub use list::{Family, RestrictEntry, RestrictError, RestrictList};
pub use mru::{Arrival, MonEntry, Monitor, Observation, RateLimits, DEFAULT_CAPACITY};
