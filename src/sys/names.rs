//! The few libc calls ntpdate's shell needs that std does not offer: getaddrinfo with its
//! error code (classic prints `gai_strerror` text and the number), reverse lookup for `-d`,
//! the local UTC offset and syslog.
#![allow(unsafe_code)]

use crate::ntpdate::options::Family;
use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

/// A failed name lookup: getaddrinfo's code and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupError {
    pub code: i32,
    pub text: String,
    /// EAI_AGAIN/EAI_FAIL: the name server itself is unusable (classic then exits).
    pub server_unusable: bool,
}

/// Every address of `host` (datagram sockets), port 123.
pub fn resolve(host: &str, family: Family) -> Result<Vec<SocketAddr>, LookupError> {
    let fail = |code: i32| LookupError {
        code,
        // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
        text: unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
            .to_string_lossy()
            .into_owned(),
        server_unusable: code == libc::EAI_AGAIN || code == libc::EAI_FAIL,
    };
    let c_host = CString::new(host).map_err(|_| fail(libc::EAI_NONAME))?;
    // SAFETY: addrinfo is plain data; all-zero is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = match family {
        Family::Any => libc::AF_UNSPEC,
        Family::V4 => libc::AF_INET,
        Family::V6 => libc::AF_INET6,
    };
    hints.ai_socktype = libc::SOCK_DGRAM;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C strings and hints; `list` receives a list we free below.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if rc != 0 {
        return Err(fail(rc));
    }
    let mut out = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: node is an element of the list getaddrinfo returned.
        let ai = unsafe { &*node };
        if let Some(addr) = sockaddr_to_std(ai.ai_addr) {
            out.push(SocketAddr::new(addr, 123));
        }
        node = ai.ai_next;
    }
    // SAFETY: list came from getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(out)
}

fn sockaddr_to_std(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo's ai_addr points to a sockaddr of the family it names.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::from(sin6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

/// The host name of an address, or the address itself (classic's `stohost`).
pub fn host_name(addr: IpAddr) -> String {
    let sock = socket2::SockAddr::from(SocketAddr::new(addr, 0));
    let mut name = [0 as libc::c_char; 1025];
    // SAFETY: sock holds a valid sockaddr of the given length; name is a writable buffer.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr(),
            sock.len(),
            name.as_mut_ptr(),
            name.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            0,
        )
    };
    if rc != 0 {
        return addr.to_string();
    }
    // SAFETY: getnameinfo NUL-terminates on success.
    unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Seconds east of UTC of local time now (0 if the C library cannot tell).
pub fn utc_offset() -> i64 {
    // SAFETY: time(NULL) and localtime_r with valid pointers; tm is plain data.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// Syslog priorities classic uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Notice,
    Error,
}

/// Sends one message to syslog as classic's `-s` does: ident `ntpdate`, with the PID,
/// facility LOG_DAEMON (classic's LOG_NTP).
pub fn syslog(priority: Priority, message: &str) {
    let level = match priority {
        Priority::Notice => libc::LOG_NOTICE,
        Priority::Error => libc::LOG_ERR,
    };
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the ident is a static C string (openlog keeps the pointer); "%s" with a
    // valid C string argument.
    unsafe {
        libc::openlog(
            c"ntpdate".as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        );
        libc::syslog(level, c"%s".as_ptr(), text.as_ptr());
    }
}
