//! The RTC_SET_TIME ioctl that sets the hardware clock (what to write and when is
//! `crate::rtc`'s business).
#![allow(unsafe_code)]

use crate::time::civil::Civil;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Linux `struct rtc_time` (the first nine fields of `struct tm`).
#[repr(C)]
struct RtcTime {
    sec: libc::c_int,
    min: libc::c_int,
    hour: libc::c_int,
    mday: libc::c_int,
    mon: libc::c_int,
    year: libc::c_int,
    wday: libc::c_int,
    yday: libc::c_int,
    isdst: libc::c_int,
}

/// `_IOW('p', 0x0a, struct rtc_time)`.
const RTC_SET_TIME: libc::c_ulong = 0x4024_700a;

/// Sets the RTC behind `file` (a character device) to the broken-down time `c`.
pub fn set_time(file: &File, c: &Civil) -> io::Result<()> {
    let int = |v: i64| libc::c_int::try_from(v).map_err(|_| io::Error::other("year out of range"));
    let tm = RtcTime {
        sec: int(c.second.into())?,
        min: int(c.minute.into())?,
        hour: int(c.hour.into())?,
        mday: int(c.day.into())?,
        mon: int(c.month as i64)?,
        year: int(c.year - 1900)?,
        wday: int(c.weekday as i64)?,
        yday: 0,
        isdst: 0,
    };
    // SAFETY: RTC_SET_TIME reads one struct rtc_time from the pointer we pass.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), RTC_SET_TIME, &tm as *const RtcTime) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
