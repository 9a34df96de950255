//! Reference clock drivers: the undisciplined local clock (127.127.1.u) and the device
//! clocks SHM (28), NMEA (20) and PPS (22). Their logic lives here, pure; the device module
//! (`crate::refclock_io`) reads shared memory, serial lines and PPS devices for them.

pub mod driver;
pub mod filter;
pub mod local;
pub mod nmea;
pub mod pps;
pub mod shm;
