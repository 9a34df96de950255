//! Wire formats. Bits appear only here; the rest of the crate sees enums and newtypes.

pub mod ntp;
