//! Reference clock drivers: the undisciplined local clock (127.127.1.u) and the device
//! clocks SHM (28), NMEA (20) and PPS (22). Their logic lives here, pure; the device module
//! (`crate::refclock_io`) reads shared memory, serial lines and PPS devices for them.

pub mod driver;
pub mod filter;
pub mod local;
pub mod nmea;
pub mod nmea_pps;
pub mod pps;
pub mod shm;

use crate::discipline::filter::Measurement;
use crate::discipline::sample::Sample;
use crate::discipline::system::PeerDetails;
use crate::time::{NtpDuration, PollInterval};
use crate::wire::ntp::RefId;
use std::net::Ipv4Addr;
use std::time::Duration;

/// A reference clock as the system process sees it: a peer at `address` without delay or
/// root distance of its own, whose last sample (taken at `epoch`) is `sample`.
fn peer_details(
    address: Ipv4Addr,
    refid: RefId,
    sample: Sample,
    dispersion: NtpDuration,
    epoch: Duration,
    poll: PollInterval,
) -> PeerDetails {
    PeerDetails {
        addr_refid: RefId::from_ipv4(address),
        refid,
        root_delay: NtpDuration::ZERO,
        root_dispersion: NtpDuration::ZERO,
        delay: NtpDuration::ZERO,
        dispersion,
        epoch,
        measurements: Measurement {
            offset: sample.offset,
            delay: NtpDuration::ZERO,
            time: epoch,
        }
        .alone(),
        received: sample.time,
        min_poll: poll,
        max_poll: poll,
        is_refclock: true,
    }
}
