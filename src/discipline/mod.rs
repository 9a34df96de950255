//! Clock discipline: samples from on-wire exchanges, the drift file, the clock filter,
//! selection, clustering, combining, the PLL/FLL, and the system process that runs them.

pub mod cluster;
pub mod combine;
pub mod drift;
pub mod filter;
pub mod kalman;
pub mod loopfilter;
pub mod sample;
pub mod select;
pub mod system;
pub mod trend;
