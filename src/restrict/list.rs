//! The `restrict` address list: which flags apply to a packet's source address.
//!
//! Classic semantics (ntp_restrict.c `restrictions()` / `hack_restrict()`):
//! - One list per family, each ending in an always-present `default` entry (0/0).
//! - Entries are kept sorted by descending (address, mask, match flags); the first entry
//!   whose masked address matches wins. For ordinary (contiguous) masks this is "the most
//!   specific entry wins"; for odd masks like 255.0.255.0 the address order decides, as in
//!   classic.
//! - Adding an entry whose address, mask and `ntpport` qualifier equal an existing one ORs
//!   the flags into it (RESTRICT_FLAGS never removes flags).
//! - `ntpport` is a *match* qualifier (RESM_NTPONLY): the entry only applies to packets
//!   from source port 123, and sorts before the same address/mask without it.
//! - ntpd blocks its own interface addresses with `ignore ntpport` entries ("no use talking
//!   to ourself"); see [`RestrictList::add_interface`].
//! - Packets from multicast source addresses are always `ignore`d.
//!
//! Sources that are IPv4-mapped IPv6 addresses are looked up as IPv4.

use super::flags::{RestrictFlag, RestrictFlags};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The NTP port: `ntpport` entries match only packets from it.
const NTP_PORT: u16 = 123;

/// Address family of a `restrict default` (`-4` / `-6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// One `restrict` line: address, optional mask (none means a host entry) and flags.
/// `ntpport` among the flags makes the entry match only packets from port 123.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestrictEntry {
    pub addr: IpAddr,
    pub mask: Option<IpAddr>,
    pub flags: RestrictFlags,
}

/// Why an entry cannot be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestrictError {
    /// The mask's family differs from the address's (`restrict ::1 mask 255.0.0.0`).
    MaskFamily { addr: IpAddr, mask: IpAddr },
}

impl fmt::Display for RestrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestrictError::MaskFamily { addr, mask } => {
                write!(f, "mask {mask} does not match the address family of {addr}")
            }
        }
    }
}

impl std::error::Error for RestrictError {}

/// A sorted entry. Addresses of both families live in a u128 (IPv4 in the low 32 bits);
/// the two families are separate tables, so the widths never mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    addr: u128,
    mask: u128,
    ntp_only: bool,
    /// Interface entries are distinct from configured ones so removing an interface
    /// never removes a user's line; they sort first among equals.
    interface: bool,
    flags: RestrictFlags,
}

impl Rule {
    fn key(&self) -> (u128, u128, bool, bool) {
        (self.addr, self.mask, self.ntp_only, self.interface)
    }

    fn matches(&self, addr: u128, from_ntp_port: bool) -> bool {
        addr & self.mask == self.addr && (!self.ntp_only || from_ntp_port)
    }
}

/// One family's entries (descending key order) plus its default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Table {
    rules: Vec<Rule>,
    default: RestrictFlags,
}

impl Table {
    fn merge(&mut self, rule: Rule) {
        let key = rule.key();
        // Descending order: search with reversed comparison.
        match self.rules.binary_search_by(|r| key.cmp(&r.key())) {
            Ok(i) => {
                for flag in rule.flags.iter() {
                    self.rules[i].flags.insert(flag);
                }
            }
            Err(i) => self.rules.insert(i, rule),
        }
    }

    fn lookup(&self, addr: u128, from_ntp_port: bool) -> RestrictFlags {
        self.rules
            .iter()
            .find(|r| r.matches(addr, from_ntp_port))
            .map_or(self.default, |r| r.flags)
    }
}

/// The restrict list of both families. Built once from the configuration (and extended
/// with the daemon's interface addresses); looked up for every received packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestrictList {
    v4: Table,
    v6: Table,
}

/// IPv4-mapped IPv6 addresses are treated as the IPv4 address they carry.
pub(super) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn host_mask(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(_) => u128::from(u32::MAX),
        IpAddr::V6(_) => u128::MAX,
    }
}

impl RestrictList {
    /// Both defaults without flags and no entries: everything is allowed, as in classic
    /// ntpd without `restrict` lines.
    pub fn new() -> RestrictList {
        RestrictList::default()
    }

    fn table_mut(&mut self, addr: IpAddr) -> &mut Table {
        match addr {
            IpAddr::V4(_) => &mut self.v4,
            IpAddr::V6(_) => &mut self.v6,
        }
    }

    /// Adds flags to a family's default (`restrict default ...`, `restrict -6 default ...`).
    pub fn add_default(&mut self, family: Family, flags: RestrictFlags) {
        let zero = match family {
            Family::V4 => IpAddr::from([0u8; 4]),
            Family::V6 => IpAddr::from([0u8; 16]),
        };
        self.merge(zero, 0, 0, flags);
    }

    /// Adds a `restrict` line. Address and mask 0 (`0.0.0.0 mask 0.0.0.0`, `:: mask ::`)
    /// is the family's default; with `ntpport` it is a separate catch-all entry for port
    /// 123 that takes precedence over the default. Host bits outside the mask are ignored,
    /// as in classic.
    pub fn add(&mut self, entry: RestrictEntry) -> Result<(), RestrictError> {
        let addr = entry.addr;
        let mask = match entry.mask {
            None => host_mask(addr),
            Some(mask) if mask.is_ipv4() == addr.is_ipv4() => bits(mask),
            Some(mask) => return Err(RestrictError::MaskFamily { addr, mask }),
        };
        self.merge(addr, bits(addr) & mask, mask, entry.flags);
        Ok(())
    }

    fn merge(&mut self, family_of: IpAddr, addr: u128, mask: u128, flags: RestrictFlags) {
        let ntp_only = flags.contains(RestrictFlag::NtpPort);
        let table = self.table_mut(family_of);
        if addr == 0 && mask == 0 && !ntp_only {
            for flag in flags.iter() {
                table.default.insert(flag);
            }
            return;
        }
        table.merge(Rule {
            addr,
            mask,
            ntp_only,
            interface: false,
            flags,
        });
    }

    /// Blocks packets from one of our own addresses sent from port 123 (`ignore ntpport`
    /// host entry), as classic does for every interface it opens.
    pub fn add_interface(&mut self, addr: IpAddr) {
        let addr = canonical(addr);
        let flags = RestrictFlags::NONE
            .with(RestrictFlag::Ignore)
            .with(RestrictFlag::NtpPort);
        self.table_mut(addr).merge(Rule {
            addr: bits(addr),
            mask: host_mask(addr),
            ntp_only: true,
            interface: true,
            flags,
        });
    }

    /// Removes the entry [`add_interface`](Self::add_interface) made, when the interface
    /// goes away. Configured entries for the same address stay.
    pub fn remove_interface(&mut self, addr: IpAddr) {
        let addr = canonical(addr);
        let (a, m) = (bits(addr), host_mask(addr));
        self.table_mut(addr)
            .rules
            .retain(|r| !(r.interface && r.addr == a && r.mask == m));
    }

    /// The flags for a packet from `src`.
    pub fn lookup(&self, src: SocketAddr) -> RestrictFlags {
        let addr = canonical(src.ip());
        if addr.is_multicast() {
            return RestrictFlags::NONE.with(RestrictFlag::Ignore);
        }
        let from_ntp_port = src.port() == NTP_PORT;
        match addr {
            IpAddr::V4(_) => self.v4.lookup(bits(addr), from_ntp_port),
            IpAddr::V6(_) => self.v6.lookup(bits(addr), from_ntp_port),
        }
    }

    /// Whether any entry or default carries `limited`: classic then keeps the monitor
    /// (MRU list) running even with `disable monitor`.
    pub fn uses_limited(&self) -> bool {
        [&self.v4, &self.v6].iter().any(|t| {
            t.default.contains(RestrictFlag::Limited)
                || t.rules
                    .iter()
                    .any(|r| r.flags.contains(RestrictFlag::Limited))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn flags(list: &[RestrictFlag]) -> RestrictFlags {
        list.iter().copied().collect()
    }

    fn entry(addr: &str, mask: Option<&str>, f: &[RestrictFlag]) -> RestrictEntry {
        RestrictEntry {
            addr: addr.parse().unwrap(),
            mask: mask.map(|m| m.parse().unwrap()),
            flags: flags(f),
        }
    }

    fn from(addr: &str, port: u16) -> SocketAddr {
        SocketAddr::new(addr.parse().unwrap(), port)
    }

    use RestrictFlag::*;

    /// NTPsec's "TheMostFittingRestrictionIsMatched", with more levels.
    #[test]
    fn the_most_fitting_restriction_is_matched() {
        let mut list = RestrictList::new();
        list.add_default(Family::V4, flags(&[Ignore]));
        list.add(entry("10.0.0.0", Some("255.0.0.0"), &[NoQuery]))
            .unwrap();
        list.add(entry("10.1.0.0", Some("255.255.0.0"), &[NoModify]))
            .unwrap();
        list.add(entry("10.1.1.1", None, &[NoTrap])).unwrap();
        list.add(entry("10.1.2.0", Some("255.255.255.0"), &[NoPeer]))
            .unwrap();
        let cases = [
            ("192.0.2.1", flags(&[Ignore])),
            ("10.9.9.9", flags(&[NoQuery])),
            ("10.1.9.9", flags(&[NoModify])),
            ("10.1.1.1", flags(&[NoTrap])),
            ("10.1.1.2", flags(&[NoModify])),
            ("10.1.2.200", flags(&[NoPeer])),
            ("11.1.2.3", flags(&[Ignore])),
        ];
        for (addr, want) in cases {
            assert_eq!(list.lookup(from(addr, 40000)), want, "{addr}");
        }
    }

    #[test]
    fn insertion_order_does_not_matter() {
        let lines = [
            entry("10.1.1.1", None, &[NoTrap]),
            entry("10.1.0.0", Some("255.255.0.0"), &[NoModify]),
            entry("10.0.0.0", Some("255.0.0.0"), &[NoQuery]),
        ];
        let mut forward = RestrictList::new();
        let mut backward = RestrictList::new();
        for e in lines {
            forward.add(e).unwrap();
        }
        for e in lines.iter().rev() {
            backward.add(*e).unwrap();
        }
        assert_eq!(forward, backward);
    }

    #[test]
    fn defaults_are_per_family() {
        let mut list = RestrictList::new();
        list.add_default(Family::V4, flags(&[Kod, NoQuery]));
        list.add_default(Family::V6, flags(&[NoServe]));
        assert_eq!(list.lookup(from("192.0.2.7", 123)), flags(&[Kod, NoQuery]));
        assert_eq!(list.lookup(from("2001:db8::7", 123)), flags(&[NoServe]));
        // `restrict 0.0.0.0 mask 0.0.0.0` and `restrict :: mask ::` are the defaults too.
        list.add(entry("0.0.0.0", Some("0.0.0.0"), &[NoPeer]))
            .unwrap();
        list.add(entry("::", Some("::"), &[NoTrap])).unwrap();
        assert_eq!(
            list.lookup(from("192.0.2.7", 1)),
            flags(&[Kod, NoQuery, NoPeer])
        );
        assert_eq!(list.lookup(from("::7", 1)), flags(&[NoServe, NoTrap]));
    }

    #[test]
    fn ipv6_entries_and_mapped_ipv4_sources() {
        let mut list = RestrictList::new();
        list.add_default(Family::V6, flags(&[Ignore]));
        list.add(entry("::1", None, &[])).unwrap();
        list.add(entry("2001:db8::", Some("ffff:ffff::"), &[NoQuery]))
            .unwrap();
        list.add(entry("192.0.2.0", Some("255.255.255.0"), &[NoModify]))
            .unwrap();
        assert_eq!(list.lookup(from("::1", 5000)), RestrictFlags::NONE);
        assert_eq!(list.lookup(from("2001:db8:1::5", 5000)), flags(&[NoQuery]));
        assert_eq!(list.lookup(from("2001:db9::5", 5000)), flags(&[Ignore]));
        let mapped = Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped();
        assert_eq!(
            list.lookup(SocketAddr::new(mapped.into(), 5000)),
            flags(&[NoModify])
        );
    }

    #[test]
    fn same_address_and_mask_accumulates_flags() {
        let mut list = RestrictList::new();
        list.add(entry("192.0.2.0", Some("255.255.255.0"), &[NoQuery]))
            .unwrap();
        list.add(entry("192.0.2.77", Some("255.255.255.0"), &[NoModify]))
            .unwrap();
        assert_eq!(
            list.lookup(from("192.0.2.1", 999)),
            flags(&[NoQuery, NoModify])
        );
    }

    #[test]
    fn ntpport_entries_match_only_port_123() {
        let mut list = RestrictList::new();
        list.add(entry("192.0.2.0", Some("255.255.255.0"), &[NoQuery]))
            .unwrap();
        list.add(entry(
            "192.0.2.0",
            Some("255.255.255.0"),
            &[NtpPort, Ignore],
        ))
        .unwrap();
        assert_eq!(
            list.lookup(from("192.0.2.5", 123)),
            flags(&[NtpPort, Ignore])
        );
        assert_eq!(list.lookup(from("192.0.2.5", 124)), flags(&[NoQuery]));
    }

    #[test]
    fn own_interfaces_are_ignored_from_port_123_only() {
        let mut list = RestrictList::new();
        list.add(entry("127.0.0.1", None, &[])).unwrap();
        list.add_interface("127.0.0.1".parse().unwrap());
        assert!(list
            .lookup(from("127.0.0.1", 123))
            .contains(RestrictFlag::Ignore));
        // ntpq and ntpdate -q on the same host use other ports.
        assert_eq!(list.lookup(from("127.0.0.1", 40000)), RestrictFlags::NONE);
        list.remove_interface("127.0.0.1".parse().unwrap());
        assert_eq!(list.lookup(from("127.0.0.1", 123)), RestrictFlags::NONE);
    }

    #[test]
    fn multicast_sources_are_ignored() {
        let list = RestrictList::new();
        assert_eq!(list.lookup(from("224.0.1.1", 123)), flags(&[Ignore]));
        assert_eq!(list.lookup(from("ff02::101", 123)), flags(&[Ignore]));
    }

    #[test]
    fn mask_of_other_family_is_an_error() {
        let mut list = RestrictList::new();
        let err = list
            .add(entry("::1", Some("255.255.255.0"), &[]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "mask 255.255.255.0 does not match the address family of ::1"
        );
    }

    #[test]
    fn uses_limited_sees_defaults_and_entries() {
        let mut list = RestrictList::new();
        assert!(!list.uses_limited());
        list.add(entry("2001:db8::1", None, &[Limited])).unwrap();
        assert!(list.uses_limited());
        let mut list = RestrictList::new();
        list.add_default(Family::V4, flags(&[Limited]));
        assert!(list.uses_limited());
    }

    /// An independent statement of classic matching: among all entries that match, the
    /// greatest (masked address, mask, ntpport) wins; none matching means the default.
    fn oracle(entries: &[RestrictEntry], src: SocketAddr) -> RestrictFlags {
        let a = u32::from(match src.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => unreachable!("oracle is IPv4-only"),
        });
        let mut best: Option<((u32, u32, bool), RestrictFlags)> = None;
        let mut default = RestrictFlags::NONE;
        for e in entries {
            let (IpAddr::V4(addr), Some(IpAddr::V4(mask))) = (e.addr, e.mask) else {
                unreachable!("oracle is IPv4-only")
            };
            let (addr, mask) = (u32::from(addr) & u32::from(mask), u32::from(mask));
            let ntp_only = e.flags.contains(NtpPort);
            if addr == 0 && mask == 0 && !ntp_only {
                default = default.iter().chain(e.flags.iter()).collect();
                continue;
            }
            if a & mask != addr || (ntp_only && src.port() != 123) {
                continue;
            }
            let key = (addr, mask, ntp_only);
            best = match best {
                Some((k, f)) if k == key => Some((k, f.iter().chain(e.flags.iter()).collect())),
                Some((k, f)) if k > key => Some((k, f)),
                _ => Some((key, e.flags)),
            };
        }
        best.map_or(default, |(_, f)| f)
    }

    /// Addresses from a small space so that entries overlap often.
    fn small_v4() -> impl Strategy<Value = Ipv4Addr> {
        (0u8..3, 0u8..4, 0u8..4).prop_map(|(a, b, c)| Ipv4Addr::new(10, a, b, c))
    }

    fn any_mask() -> impl Strategy<Value = Ipv4Addr> {
        let octet = prop::sample::select(vec![0u8, 0xf0, 0xfc, 0xff]);
        (octet.clone(), octet.clone(), octet.clone(), octet)
            .prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
    }

    fn prefix_mask() -> impl Strategy<Value = Ipv4Addr> {
        (0u32..=32).prop_map(|len| Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0)))
    }

    fn some_flags() -> impl Strategy<Value = RestrictFlags> {
        prop::sample::subsequence(RestrictFlag::ALL.to_vec(), 0..4)
            .prop_map(|v| v.into_iter().collect())
    }

    fn entries(mask: impl Strategy<Value = Ipv4Addr>) -> impl Strategy<Value = Vec<RestrictEntry>> {
        prop::collection::vec(
            (small_v4(), mask, some_flags()).prop_map(|(a, m, f)| RestrictEntry {
                addr: a.into(),
                mask: Some(m.into()),
                flags: f,
            }),
            0..12,
        )
    }

    fn build(entries: &[RestrictEntry]) -> RestrictList {
        let mut list = RestrictList::new();
        for e in entries {
            list.add(*e).unwrap();
        }
        list
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_linear_oracle(
            entries in entries(any_mask()),
            default in some_flags(),
            src in small_v4(),
            port in prop::sample::select(vec![123u16, 124, 40000]),
        ) {
            // `restrict default ...` first, as ntp.conf files usually have it.
            let zero = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            let mut entries = entries;
            entries.insert(0, RestrictEntry { addr: zero, mask: Some(zero), flags: default });
            let list = build(&entries);
            let src = SocketAddr::new(src.into(), port);
            prop_assert_eq!(list.lookup(src), oracle(&entries, src));
        }

        /// With ordinary prefix masks, the longest matching prefix wins (ntpport breaking
        /// ties for packets from port 123).
        #[test]
        fn longest_prefix_wins(
            entries in entries(prefix_mask()),
            src in small_v4(),
            port in prop::sample::select(vec![123u16, 40000]),
        ) {
            let list = build(&entries);
            let s = u32::from(src);
            let mut best: Option<(u32, bool)> = None;
            let mut want = RestrictFlags::NONE;
            for e in &entries {
                let (IpAddr::V4(a), Some(IpAddr::V4(m))) = (e.addr, e.mask) else { unreachable!() };
                let (a, m) = (u32::from(a), u32::from(m));
                let ntp_only = e.flags.contains(NtpPort);
                if s & m != a & m || (ntp_only && port != 123) || (m == 0 && !ntp_only) {
                    continue;
                }
                let key = (m.count_ones(), ntp_only);
                match best {
                    Some(k) if k > key => {}
                    Some(k) if k == key => want = want.iter().chain(e.flags.iter()).collect(),
                    _ => { best = Some(key); want = e.flags; }
                }
            }
            if best.is_none() {
                // Only the default matched: every plain zero-mask entry adds to it.
                want = entries.iter()
                    .filter(|e| e.mask == Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) && !e.flags.contains(NtpPort))
                    .flat_map(|e| e.flags.iter()).collect();
            }
            prop_assert_eq!(list.lookup(SocketAddr::new(src.into(), port)), want);
        }

        #[test]
        fn ipv6_lookup_never_uses_ipv4_entries(
            entries in entries(any_mask()),
            seg in any::<u16>(),
        ) {
            let list = build(&entries);
            let src = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, seg).into(), 123);
            prop_assert_eq!(list.lookup(src), RestrictFlags::NONE);
        }
    }
}
