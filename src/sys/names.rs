//! Name lookups std does not offer: getaddrinfo with its error code (ntpdate prints
//! `gai_strerror` text and the number, as classic does) and reverse lookup (ntpdate's `-d`,
//! ntpq's peer names).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

/// Which address family names resolve to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

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

/// The name of an address from the system resolver, as the bytes it gave (a name need not
/// be UTF-8), or None when it has none.
pub fn name_of(addr: IpAddr) -> Option<Vec<u8>> {
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
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates on success.
    Some(unsafe { CStr::from_ptr(name.as_ptr()) }.to_bytes().to_vec())
}

/// [`name_of`], given up after `wait`: a client printing a table must not hang on a slow
/// resolver (the lookup finishes on its own thread and is dropped).
pub fn name_within(addr: IpAddr, wait: std::time::Duration) -> Option<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(name_of(addr));
    });
    rx.recv_timeout(wait).ok().flatten()
}
