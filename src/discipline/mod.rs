//! Clock discipline: drift file now; filter, selection and the PLL/FLL later.
