//! Clock discipline: samples from on-wire exchanges, the drift file, and (with the
//! discipline issue) the clock filter, selection, clustering, combining and the PLL/FLL.

pub mod drift;
pub mod sample;
