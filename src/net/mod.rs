//! The only place besides `clock::system` that talks to the kernel: UDP sockets with kernel
//! receive timestamps, the mode 6 client socket of ntpq and ntp-wait, and the machine's
//! interface addresses.

pub mod interfaces;
pub mod query;
pub mod udp;
