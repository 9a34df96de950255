//! Which addresses the daemon binds, classic style: a "listen and drop" wildcard socket per
//! family (it holds port 123 so no second daemon or ntpdate can take it) and one socket per
//! interface address, so every reply leaves from the address its request was sent to.
//!
//! Addresses come and go while the daemon runs (DHCP, VLANs, floating addresses, IPv6
//! duplicate address detection): a rescan computes the endpoints wanted now with the same
//! rules and [`changes`] says which sockets to open and which to close. [`RescanTimer`]
//! decides when to rescan: every `-U` seconds as classic, and shortly after the kernel
//! reports an address change.

use crate::net::interfaces::InterfaceAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Classic's `-U` default: interfaces are scanned every 300 s.
pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(300);

/// How long after a kernel address notification the rescan runs: notifications come in
/// bursts (an address and its routes, both families of a new link), one scan covers them.
const SETTLE: Duration = Duration::from_millis(100);

/// Rescans caused by notifications are at least this far apart, so a flapping link cannot
/// keep the loop scanning.
const MIN_SPACING: Duration = Duration::from_secs(1);

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
        if !family_ok || !listed || ignored || virtual_if || iface.tentative {
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

/// What a rescan changes: sockets to close first, then sockets to open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub close: Vec<Endpoint>,
    pub open: Vec<Endpoint>,
}

/// Compares the endpoints bound now with those `wanted` now. An address that moved to
/// another interface (or whose link-local scope changed with a re-created link) is closed
/// and opened again; one that failed to bind before is simply wanted again, so a bind that
/// failed (EADDRNOTAVAIL while an address settles) is retried at every scan.
pub fn changes<'a>(bound: impl IntoIterator<Item = &'a Endpoint>, wanted: &[Endpoint]) -> Changes {
    let bound: Vec<&Endpoint> = bound.into_iter().collect();
    Changes {
        close: bound
            .iter()
            .filter(|b| !wanted.contains(b))
            .map(|b| (*b).clone())
            .collect(),
        open: wanted
            .iter()
            .filter(|w| !bound.contains(w))
            .cloned()
            .collect(),
    }
}

/// When interfaces are scanned again (times on the loop's monotonic clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RescanTimer {
    /// `-U`: None (`-U 0`) scans only on notifications.
    interval: Option<Duration>,
    next: Option<Duration>,
    last: Duration,
}

impl RescanTimer {
    /// After the start-up scan at `now`, with `-U` seconds (0: no periodic scans).
    pub fn new(interval: Duration, now: Duration) -> RescanTimer {
        let interval = (!interval.is_zero()).then_some(interval);
        RescanTimer {
            interval,
            next: interval.map(|i| now + i),
            last: now,
        }
    }

    /// The kernel said an address changed: scan soon, once for the whole burst.
    pub fn notified(&mut self, now: Duration) {
        let soon = (now + SETTLE).max(self.last + MIN_SPACING);
        self.next = Some(self.next.map_or(soon, |next| next.min(soon)));
    }

    /// When the next scan is due, if any is planned.
    pub fn deadline(&self) -> Option<Duration> {
        self.next
    }

    /// True when a scan is due at `now`; it then counts as done and the next is planned.
    pub fn due(&mut self, now: Duration) -> bool {
        if self.next.is_none_or(|next| now < next) {
            return false;
        }
        self.last = now;
        self.next = self.interval.map(|i| now + i);
        true
    }
}

/// The multicast memberships (group, interface address) to add for `addrs`, the
/// addresses there are at start or a rescan added: each group on every IPv4 address but
/// loopback, so the wildcard socket hears the group on that address's interface.
pub fn group_joins(groups: &[Ipv4Addr], addrs: &[IpAddr]) -> Vec<(Ipv4Addr, Ipv4Addr)> {
    let local = addrs.iter().filter_map(|a| match a {
        IpAddr::V4(a) if !a.is_loopback() => Some(*a),
        _ => None,
    });
    local
        .flat_map(|iface| groups.iter().map(move |g| (*g, iface)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, addr: &str) -> InterfaceAddr {
        InterfaceAddr {
            name: name.into(),
            addr: addr.parse().unwrap(),
            scope_id: 0,
            tentative: false,
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

    #[test]
    fn tentative_addresses_wait() {
        let mut fresh = iface("eth0", "fe80::1");
        fresh.tentative = true;
        let eps = endpoints(&[fresh.clone()], &both(), 123);
        assert!(eps.iter().all(|e| e.drop), "{eps:?}");
        fresh.tentative = false;
        assert_eq!(endpoints(&[fresh], &both(), 123).len(), 3);
    }

    #[test]
    fn a_rescan_opens_new_and_closes_gone_addresses_only() {
        let policy = ListenPolicy {
            ignore: vec!["10.9.9.9".into()],
            no_virtual: true,
            ..both()
        };
        let before = endpoints(
            &[iface("lo", "127.0.0.1"), iface("eth0", "172.25.0.11")],
            &policy,
            123,
        );
        // eth0's address went, eth1 came; the ignored address and the alias stay unbound:
        // the rules apply to addresses that appear later as to those at the start.
        let now = endpoints(
            &[
                iface("lo", "127.0.0.1"),
                iface("eth1", "192.0.2.7"),
                iface("eth1", "10.9.9.9"),
                iface("eth1:0", "192.0.2.8"),
            ],
            &policy,
            123,
        );
        let diff = changes(&before, &now);
        let addrs = |eps: &[Endpoint]| -> Vec<String> {
            eps.iter()
                .map(|e| format!("{} {}", e.interface, e.addr))
                .collect()
        };
        assert_eq!(addrs(&diff.close), ["eth0 172.25.0.11:123"]);
        assert_eq!(addrs(&diff.open), ["eth1 192.0.2.7:123"]);
        assert_eq!(changes(&now, &now), Changes::default());
        // Nothing bound (every bind failed, say EADDRNOTAVAIL): all wanted again.
        assert_eq!(changes([], &now).open, now);
    }

    #[test]
    fn an_address_moving_between_interfaces_is_reopened() {
        let before = endpoints(&[iface("eth0", "192.0.2.7")], &both(), 123);
        let now = endpoints(&[iface("eth1", "192.0.2.7")], &both(), 123);
        let diff = changes(&before, &now);
        assert_eq!((diff.close.len(), diff.open.len()), (1, 1));
    }

    #[test]
    fn rescans_every_interval_and_soon_after_a_notification() {
        let s = Duration::from_secs;
        let mut timer = RescanTimer::new(DEFAULT_RESCAN_INTERVAL, s(10));
        assert_eq!(timer.deadline(), Some(s(310)));
        assert!(!timer.due(s(309)));
        assert!(timer.due(s(310)));
        assert_eq!(timer.deadline(), Some(s(610)));
        // A burst of notifications: one scan shortly after the first.
        timer.notified(s(400));
        timer.notified(s(400) + SETTLE / 2);
        assert_eq!(timer.deadline(), Some(s(400) + SETTLE));
        assert!(timer.due(s(400) + SETTLE));
        assert_eq!(timer.deadline(), Some(s(400) + SETTLE + s(300)));
        // Right after a scan, the next notification waits out the minimum spacing.
        timer.notified(s(400) + SETTLE);
        assert_eq!(timer.deadline(), Some(s(400) + SETTLE + MIN_SPACING));
    }

    #[test]
    fn no_periodic_scans_with_an_interval_of_zero() {
        let s = Duration::from_secs;
        let mut timer = RescanTimer::new(Duration::ZERO, s(10));
        assert_eq!(timer.deadline(), None);
        assert!(!timer.due(s(100_000)));
        timer.notified(s(20));
        assert!(timer.due(s(21)));
        assert_eq!(timer.deadline(), None);
    }

    #[test]
    fn groups_are_joined_on_each_new_ipv4_address_but_loopback() {
        let groups: [Ipv4Addr; 2] = [[224, 0, 1, 1].into(), [239, 1, 2, 3].into()];
        let added: [IpAddr; 4] = [
            "127.0.0.1".parse().unwrap(),
            "192.0.2.5".parse().unwrap(),
            "2001:db8::5".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        ];
        let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            group_joins(&groups, &added),
            [
                (groups[0], v4("192.0.2.5")),
                (groups[1], v4("192.0.2.5")),
                (groups[0], v4("198.51.100.7")),
                (groups[1], v4("198.51.100.7")),
            ]
        );
        // Nothing configured, or only addresses groups are not joined on: nothing to do.
        assert!(group_joins(&[], &added).is_empty());
        assert!(group_joins(&groups, &added[..1]).is_empty());
    }
}
