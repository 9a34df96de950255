//! Which addresses the daemon binds, classic style: a "listen and drop" wildcard socket per
//! family (it holds port 123 so no second daemon or ntpdate can take it) and one socket per
//! interface address, so every reply leaves from the address its request was sent to.

use crate::net::interfaces::InterfaceAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What `interface`, -I, -L, -4 and -6 allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenPolicy {
    pub ipv4: bool,
    pub ipv6: bool,
    /// If not empty, only these interface names or addresses are listened on (-I, `interface
    /// listen`).
    pub only: Vec<String>,
    /// Interface names or addresses never listened on (`interface ignore|drop`).
    pub ignore: Vec<String>,
    /// -L: skip virtual interfaces (alias names with a colon, such as eth0:1).
    pub no_virtual: bool,
}

/// One socket to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub interface: String,
    /// Wildcard sockets only hold the port; what arrives on them is dropped.
    pub drop: bool,
}

fn matches(rule: &str, iface: &InterfaceAddr) -> bool {
    match rule.parse::<IpAddr>() {
        Ok(addr) => addr == iface.addr,
        Err(_) => {
            rule == iface.name
                || rule == "all"
                || (rule == "ipv4" && iface.addr.is_ipv4())
                || (rule == "ipv6" && iface.addr.is_ipv6())
        }
    }
}

/// The endpoints for `port`, wildcards first, in classic's order of numbering.
pub fn endpoints(ifaces: &[InterfaceAddr], policy: &ListenPolicy, port: u16) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if policy.ipv4 {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
        out.push(Endpoint {
            addr,
            interface: "v4wildcard".into(),
            drop: true,
        });
    }
    if policy.ipv6 {
        let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        out.push(Endpoint {
            addr,
            interface: "v6wildcard".into(),
            drop: true,
        });
    }
    for iface in ifaces {
        let family_ok = if iface.addr.is_ipv4() {
            policy.ipv4
        } else {
            policy.ipv6
        };
        let listed = policy.only.is_empty() || policy.only.iter().any(|r| matches(r, iface));
        let ignored = policy.ignore.iter().any(|r| matches(r, iface));
        let virtual_if = policy.no_virtual && iface.name.contains(':');
        if !family_ok || !listed || ignored || virtual_if {
            continue;
        }
        let addr = match iface.addr {
            IpAddr::V6(v6) => {
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, iface.scope_id))
            }
            v4 => SocketAddr::new(v4, port),
        };
        out.push(Endpoint {
            addr,
            interface: iface.name.clone(),
            drop: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, addr: &str) -> InterfaceAddr {
        InterfaceAddr {
            name: name.into(),
            addr: addr.parse().unwrap(),
            scope_id: 0,
        }
    }

    fn both() -> ListenPolicy {
        ListenPolicy {
            ipv4: true,
            ipv6: true,
            ..ListenPolicy::default()
        }
    }

    #[test]
    fn wildcards_then_each_address() {
        let ifaces = [
            iface("lo", "127.0.0.1"),
            iface("lo", "::1"),
            iface("eth0", "172.25.0.11"),
        ];
        let eps = endpoints(&ifaces, &both(), 123);
        let names: Vec<_> = eps
            .iter()
            .map(|e| (e.interface.as_str(), e.addr.to_string(), e.drop))
            .collect();
        assert_eq!(
            names,
            [
                ("v4wildcard", "0.0.0.0:123".to_string(), true),
                ("v6wildcard", "[::]:123".to_string(), true),
                ("lo", "127.0.0.1:123".to_string(), false),
                ("lo", "[::1]:123".to_string(), false),
                ("eth0", "172.25.0.11:123".to_string(), false),
            ]
        );
    }

    #[test]
    fn interface_rules_and_families() {
        let ifaces = [
            iface("lo", "127.0.0.1"),
            iface("eth0", "172.25.0.11"),
            iface("eth0:1", "10.0.0.1"),
            iface("eth0", "fe80::1"),
        ];
        let policy = ListenPolicy {
            ipv6: false,
            ignore: vec!["172.25.0.11".into()],
            no_virtual: true,
            ..both()
        };
        let eps = endpoints(&ifaces, &policy, 123);
        let addrs: Vec<_> = eps.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(addrs, ["0.0.0.0:123", "127.0.0.1:123"]);
        let only = ListenPolicy {
            only: vec!["eth0".into()],
            ..both()
        };
        assert_eq!(endpoints(&ifaces, &only, 123).len(), 4);
    }
}
