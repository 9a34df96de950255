//! The machine's interface addresses (getifaddrs), so the daemon can bind one socket per
//! address as classic ntpd does ("Listen normally on 2 lo 127.0.0.1 UDP 123") and answer
//! every request from the address it was sent to.
//!
//! getifaddrs does not say whether an IPv6 address is still tentative (duplicate address
//! detection running, or failed): such an address cannot be bound yet. Those flags come
//! from /proc/net/if_inet6, read in the same scan.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IFA_F_TENTATIVE and IFA_F_DADFAILED of linux/if_addr.h: not bindable (yet).
const NOT_USABLE_FLAGS: u32 = 0x40 | 0x08;

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub name: String,
    pub addr: IpAddr,
    /// IPv6 scope (interface index) for link-local addresses.
    pub scope_id: u32,
    /// An IPv6 address whose duplicate address detection has not (successfully) finished.
    pub tentative: bool,
}

/// Lists the IPv4 and IPv6 addresses of all interfaces that are up, tentative IPv6
/// addresses marked.
pub fn list() -> std::io::Result<Vec<InterfaceAddr>> {
    let mut out = list_up()?;
    // Without /proc (a chroot) every address counts as usable: a bind of one that is not
    // fails with EADDRNOTAVAIL and is tried again at the next scan.
    let flags = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    let tentative = tentative_addresses(&flags);
    for entry in &mut out {
        if let IpAddr::V6(v6) = entry.addr {
            entry.tentative = tentative.contains(&(v6, entry.name.as_str()));
        }
    }
    Ok(out)
}

/// The (address, interface) pairs /proc/net/if_inet6 flags tentative or DAD-failed. A line
/// is `ADDRESS32HEX IFINDEX PREFIXLEN SCOPE FLAGS NAME`, the numbers in hex.
fn tentative_addresses(text: &str) -> Vec<(Ipv6Addr, &str)> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [addr, _, _, _, flags, name] = words[..] else {
                return None;
            };
            let addr = u128::from_str_radix(addr, 16).ok()?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            (flags & NOT_USABLE_FLAGS != 0).then_some((Ipv6Addr::from(addr), name))
        })
        .collect()
}

fn list_up() -> std::io::Result<Vec<InterfaceAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor walks the list getifaddrs returned; entries are valid until freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: ifa_addr is non-null and its family tells which sockaddr it is.
        let (addr, scope_id) = match i32::from(unsafe { (*entry.ifa_addr).sa_family }) {
            libc::AF_INET => {
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                (
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                    0,
                )
            }
            libc::AF_INET6 => {
                let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                (
                    IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                    sin6.sin6_scope_id,
                )
            }
            _ => continue,
        };
        out.push(InterfaceAddr {
            name,
            addr,
            scope_id,
            tentative: false,
        });
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let addrs = super::list().unwrap();
        assert!(addrs.iter().any(|a| a.addr.is_loopback()), "{addrs:?}");
    }

    #[test]
    fn tentative_and_dad_failed_addresses_are_found() {
        let text = "\
fd000000000000000000000000000002 04 40 00 80     eth0
fe8000000000000000fc00fffe000001 04 40 20 c0     eth0
20010db8000000000000000000000001 05 40 00 08     eth1
00000000000000000000000000000001 01 80 10 80       lo
garbage
";
        let found = super::tentative_addresses(text);
        let want = [
            ("fe80::fc:ff:fe00:1".parse().unwrap(), "eth0"),
            ("2001:db8::1".parse().unwrap(), "eth1"),
        ];
        assert_eq!(found, want);
    }
}
