//! The daemon's duties toward the host it runs on, in the order they must happen: open the
//! RTC while still root (SYNC_HWCLOCK), drop to `-u user:group`, and at a clean stop set
//! the RTC from the clock in use.

use super::args::Options;
use crate::clock::Clock;
use crate::rtc::Rtc;
use crate::sys::privdrop;
use std::io;

/// What has to be done again at stop.
pub struct Host {
    rtc: Option<Rtc>,
}

impl Host {
    /// Runs after the sockets are bound and the pid file is written. A failed privilege
    /// drop is an error: the daemon must not go on as root when told otherwise. Binding
    /// port 123 on addresses that appear later needs CAP_NET_BIND_SERVICE, kept.
    pub fn settle(opts: &Options) -> io::Result<Host> {
        let virtual_clock = opts.virtual_clock.is_some();
        let rtc = Rtc::prepare(&opts.rtc, virtual_clock);
        if let Some(spec) = &opts.user {
            let dropped = privdrop::drop_to(spec, !virtual_clock, true).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("-u {spec}: {e}; not running as root against orders - EXITING"),
                )
            })?;
            let name = privdrop::user_name(dropped.uid).unwrap_or_else(|| dropped.uid.to_string());
            log::info!(
                "dropped privileges: now user {name} (uid {}, gid {}), keeping {}",
                dropped.uid,
                dropped.gid,
                privdrop::describe(dropped.capabilities)
            );
        }
        Ok(Host { rtc })
    }

    /// At a clean stop: SYNC_HWCLOCK=yes sets the RTC from `clock` (the virtual clock's
    /// time when one is in use).
    pub fn at_stop(&mut self, clock: &dyn Clock) {
        if let Some(rtc) = &mut self.rtc {
            match rtc.write(clock) {
                Ok(done) => log::info!("{done} (SYNC_HWCLOCK=yes)"),
                Err(err) => log::warn!("{err}"),
            }
        }
    }
}
