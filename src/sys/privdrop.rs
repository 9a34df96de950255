//! ntpd's `-u user[:group]` and ntpdate's `-U user`: once port 123 is bound (and for ntpd
//! the pid file written) and the RTC opened, the program becomes that user and keeps at
//! most two capabilities: CAP_SYS_TIME, so it can still steer the clock (and set the RTC),
//! and for ntpd CAP_NET_BIND_SERVICE, so it can bind port 123 on addresses that appear
//! later; nothing else a root process could.
//!
//! Sequence: PR_SET_KEEPCAPS so setuid keeps the permitted set, setgroups to the one group,
//! setgid, setuid, then capset to the kept set (effective = permitted, nothing inheritable),
//! then KEEPCAPS off again. Afterwards we check that the ids really changed and that root
//! cannot be regained; any failure is fatal, never "carry on as root".
//!
//! CAP_SYS_TIME is kept only if the process had it (a daemon started with it removed from
//! its bounding set, as every test does, ends with no capability at all) and only when the
//! system clock is in use (a virtual clock needs none). CAP_NET_BIND_SERVICE likewise only
//! if held, and only when asked for: ntpd rescans its interfaces, ntpdate binds nothing
//! after the drop.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;

/// Bit of CAP_SYS_TIME (capability number 25) in a capability mask.
pub const CAP_SYS_TIME_MASK: u64 = 1 << 25;
/// Bit of CAP_NET_BIND_SERVICE (capability number 10).
pub const CAP_NET_BIND_SERVICE_MASK: u64 = 1 << 10;

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The capability mask to keep after the drop: CAP_SYS_TIME and CAP_NET_BIND_SERVICE if
/// wanted and held now.
pub fn kept_capabilities(permitted: u64, want_clock: bool, want_bind: bool) -> u64 {
    let clock = if want_clock { CAP_SYS_TIME_MASK } else { 0 };
    let bind = if want_bind {
        CAP_NET_BIND_SERVICE_MASK
    } else {
        0
    };
    permitted & (clock | bind)
}

/// `user[:group]` split; either part may be a name or a number.
pub fn parse_spec(spec: &str) -> Result<(&str, Option<&str>), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || group == Some("") {
        return Err(format!("-u {spec}: expected user[:group]"));
    }
    Ok((user, group))
}

/// The ids and capabilities the daemon ended up with, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub gid: u32,
    pub capabilities: u64,
}

fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("bad name '{text}'"))
}

/// (uid, primary gid) of a user name or number.
fn lookup_user(user: &str) -> Result<(u32, Option<u32>), String> {
    let name = c_string(user)?;
    // SAFETY: getpwnam returns NULL or a pointer to static storage, read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if !pw.is_null() {
        // SAFETY: pw is non-null and valid until the next getpw* call.
        return Ok(unsafe { ((*pw).pw_uid, Some((*pw).pw_gid)) });
    }
    let uid: u32 = user
        .parse()
        .map_err(|_| format!("Cannot find user `{user}'"))?;
    // SAFETY: as above.
    let pw = unsafe { libc::getpwuid(uid) };
    // SAFETY: pw is non-null and valid until the next getpw* call.
    let gid = (!pw.is_null()).then(|| unsafe { (*pw).pw_gid });
    Ok((uid, gid))
}

fn lookup_group(group: &str) -> Result<u32, String> {
    let name = c_string(group)?;
    // SAFETY: getgrnam returns NULL or a pointer to static storage, read at once.
    let gr = unsafe { libc::getgrnam(name.as_ptr()) };
    if !gr.is_null() {
        // SAFETY: gr is non-null and valid until the next getgr* call.
        return Ok(unsafe { (*gr).gr_gid });
    }
    group
        .parse()
        .map_err(|_| format!("Cannot find group `{group}'"))
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The permitted capability mask of this process.
fn permitted() -> io::Result<u64> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two CapData for version 3 headers.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32))
}

fn set_capabilities(mask: u64) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |m: u64| CapData {
        effective: m as u32,
        permitted: m as u32,
        inheritable: 0,
    };
    let data = [half(mask), half(mask >> 32)];
    // SAFETY: capset reads two CapData for version 3 headers.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn check(rc: libc::c_int, what: &str) -> Result<(), String> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    }
}

/// Becomes `spec` (`user[:group]`), keeping CAP_SYS_TIME when `want_clock` and
/// CAP_NET_BIND_SERVICE when `want_bind`, each if held.
pub fn drop_to(spec: &str, want_clock: bool, want_bind: bool) -> Result<Dropped, String> {
    let (user, group) = parse_spec(spec)?;
    let (uid, primary) = lookup_user(user)?;
    let gid = match group {
        Some(g) => lookup_group(g)?,
        None => primary.ok_or_else(|| format!("user {user} has no group; use -u {user}:GROUP"))?,
    };
    let permitted = permitted().map_err(|e| format!("capget: {e}"))?;
    let keep = kept_capabilities(permitted, want_clock, want_bind);
    // SAFETY: plain syscalls on our own process with valid arguments.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
            "prctl(PR_SET_KEEPCAPS)",
        )?;
        check(libc::setgroups(1, &gid), "setgroups")?;
        check(libc::setgid(gid), &format!("setgid({gid})"))?;
        check(libc::setuid(uid), &format!("setuid({uid})"))?;
    }
    set_capabilities(keep).map_err(|e| format!("capset: {e}"))?;
    // SAFETY: as above.
    unsafe {
        check(
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
            "prctl(PR_SET_KEEPCAPS)",
        )?;
    }
    verify(uid, gid)?;
    Ok(Dropped {
        uid,
        gid,
        capabilities: keep,
    })
}

/// The drop really happened: every id changed and root cannot be taken back.
fn verify(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: id getters have no preconditions; setuid(0) is expected to fail.
    let (ruid, euid, rgid, egid, regained) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
            uid != 0 && libc::setuid(0) == 0,
        )
    };
    if (ruid, euid, rgid, egid) != (uid, uid, gid, gid) || regained {
        return Err(format!(
            "privileges not dropped (uid {ruid}/{euid}, gid {rgid}/{egid})"
        ));
    }
    Ok(())
}

/// `cap_net_bind_service,cap_sys_time`, `cap_sys_time`, ... or `no capabilities`, for the
/// log line.
pub fn describe(mask: u64) -> String {
    let names: Vec<&str> = [
        (CAP_NET_BIND_SERVICE_MASK, "cap_net_bind_service"),
        (CAP_SYS_TIME_MASK, "cap_sys_time"),
    ]
    .into_iter()
    .filter(|(bit, _)| mask & bit != 0)
    .map(|(_, name)| name)
    .collect();
    if names.is_empty() {
        "no capabilities".into()
    } else {
        names.join(",")
    }
}

/// The login name of `uid`, if it has one (for the log line).
pub fn user_name(uid: u32) -> Option<String> {
    // SAFETY: getpwuid returns NULL or static storage, copied at once.
    unsafe {
        let pw = libc::getpwuid(uid);
        (!pw.is_null()).then(|| CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_clock_and_bind_capabilities_survive() {
        let all = u64::MAX >> 23;
        assert_eq!(kept_capabilities(all, true, false), 0x0200_0000);
        assert_eq!(kept_capabilities(all, false, false), 0);
        assert_eq!(kept_capabilities(all, true, true), 0x0200_0400);
        assert_eq!(kept_capabilities(all, false, true), 0x0400);
        // Started without CAP_SYS_TIME (bounding set): nothing to keep, nothing invented.
        assert_eq!(kept_capabilities(all & !CAP_SYS_TIME_MASK, true, false), 0);
        assert_eq!(kept_capabilities(0, true, true), 0);
        assert_eq!(CAP_SYS_TIME_MASK, 0x0200_0000);
        assert_eq!(describe(0x0200_0000), "cap_sys_time");
        assert_eq!(describe(0x0200_0400), "cap_net_bind_service,cap_sys_time");
        assert_eq!(describe(0), "no capabilities");
    }

    #[test]
    fn user_group_specs() {
        assert_eq!(parse_spec("ntp:ntp"), Ok(("ntp", Some("ntp"))));
        assert_eq!(parse_spec("38"), Ok(("38", None)));
        assert!(parse_spec(":ntp").is_err());
        assert!(parse_spec("ntp:").is_err());
        assert_eq!(lookup_user("0"), Ok((0, Some(0))));
        assert!(lookup_user("no-such-user-ntp6").is_err());
        assert_eq!(lookup_group("root"), Ok(0));
    }
}
