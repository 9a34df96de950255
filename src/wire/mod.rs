//! Wire formats. Bits appear only here; the rest of the crate sees enums and newtypes.

pub mod control;
pub mod mode7;
pub mod ntp;
pub mod printable;
pub mod varlist;
