//! The only place besides `clock::system` that talks to the kernel: UDP sockets with kernel
//! receive timestamps, the mode 6 client socket of ntpq and ntp-wait, the machine's
//! interface addresses and the kernel's notifications of their changes, and the route to a
//! remote (`route`).

pub mod interfaces;
pub mod netlink;
pub mod query;
pub mod route;
pub mod udp;
