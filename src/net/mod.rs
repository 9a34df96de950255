//! The only place besides `clock::system` that talks to the kernel: UDP sockets with kernel
//! receive timestamps, and the machine's interface addresses.

pub mod interfaces;
pub mod udp;
