//! The local time zone, from the C library (it reads TZ and /etc/localtime): only the UTC
//! offset; the calendar itself is `time::civil`.
#![allow(unsafe_code)]

/// Seconds east of UTC of local time at Unix time `unix` (0 if the C library cannot tell).
pub fn utc_offset(unix: i64) -> i64 {
    let t: libc::time_t = unix;
    // SAFETY: localtime_r with valid pointers; tm is plain data.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// Seconds east of UTC of local time now.
pub fn utc_offset_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    utc_offset(now)
}
