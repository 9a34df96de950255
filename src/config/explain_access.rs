//! Access control in plain words, for `ntpd --check --explain` and its lint: whom a
//! `restrict` line covers and what they may do, and the `discard` rate limits.

use std::net::IpAddr;

use super::model::{Discard, Family, RestrictEntry, RestrictTarget};
use crate::restrict::{RateLimits, RestrictFlag, RestrictFlags};

/// `a`, `a and b`, `a, b and c` (`conj` "and" / "or").
pub(super) fn listed(items: &[&str], conj: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} {conj} {last}", init.join(", ")),
    }
}

/// The prefix length of a contiguous mask (`255.255.255.0` is 24); None for odd masks.
pub(super) fn prefix_len(mask: IpAddr) -> Option<u32> {
    let (bits, width) = match mask {
        IpAddr::V4(m) => (u128::from(u32::from(m)) << 96, 32),
        IpAddr::V6(m) => (u128::from(m), 128),
    };
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0 && ones <= width).then_some(ones)
}

/// Whom a restrict line covers: `hosts in 172.25.0.0/24`, `host 127.0.0.1`, `every other
/// host` (a default: those no more specific line covers).
pub(super) fn who(entry: &RestrictEntry) -> String {
    match &entry.target {
        RestrictTarget::Default(None) => "every other host (IPv4 and IPv6)".into(),
        RestrictTarget::Default(Some(Family::V4)) => "every other IPv4 host".into(),
        RestrictTarget::Default(Some(Family::V6)) => "every other IPv6 host".into(),
        RestrictTarget::Host(name) => format!("host {name} (its addresses at start)"),
        RestrictTarget::Addr(addr) => match entry.mask {
            None => format!("host {addr}"),
            Some(mask) => match prefix_len(mask) {
                Some(len) if len == host_len(*addr) => format!("host {addr}"),
                Some(len) => format!("hosts in {addr}/{len}"),
                None => format!("hosts matching {addr} mask {mask}"),
            },
        },
    }
}

fn host_len(addr: IpAddr) -> u32 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// What the flags allow, in words: `may get time and query, may not modify`.
pub(super) fn rights(flags: RestrictFlags) -> String {
    let has = |f| flags.contains(f);
    if has(RestrictFlag::Ignore) {
        return "are ignored: every packet from them is dropped".into();
    }
    let no_query = has(RestrictFlag::NoQuery);
    let checks = [
        ("get time", has(RestrictFlag::NoServe)),
        ("query", no_query),
        ("modify", no_query || has(RestrictFlag::NoModify)),
    ];
    let may: Vec<&str> = checks.iter().filter(|c| !c.1).map(|c| c.0).collect();
    let mut may_not: Vec<&str> = checks.iter().filter(|c| c.1).map(|c| c.0).collect();
    if has(RestrictFlag::NoTrap) {
        may_not.push("set traps");
    }
    if has(RestrictFlag::NoPeer) {
        may_not.push("become a peer");
    }
    let mut parts = Vec::new();
    if !may.is_empty() {
        parts.push(format!("may {}", listed(&may, "and")));
    }
    if !may_not.is_empty() {
        parts.push(format!("may not {}", listed(&may_not, "or")));
    }
    parts.join(", ")
}

/// The other flags' effects, one phrase each.
pub(super) fn conditions(flags: RestrictFlags, limits: RateLimits) -> Vec<String> {
    let has = |f| flags.contains(f);
    let mut out = Vec::new();
    if has(RestrictFlag::Limited) {
        out.push(format!("limited: {}", rate_words(limits)));
        if has(RestrictFlag::Kod) {
            out.push(
                "kod: a client over the rate gets a kiss-o'-death RATE (at most one per interval)"
                    .into(),
            );
        }
    } else if has(RestrictFlag::Kod) {
        out.push("kod: no effect without limited".into());
    }
    if has(RestrictFlag::NoTrust) {
        out.push("notrust: their packets must carry a MAC by a trusted key".into());
    }
    if has(RestrictFlag::Version) {
        out.push("version: only NTP version 4 packets".into());
    }
    if has(RestrictFlag::LowPrioTrap) {
        out.push("lowpriotrap: their traps may be taken over".into());
    }
    if has(RestrictFlag::NtpPort) {
        out.push("ntpport: applies only to packets from port 123".into());
    }
    out
}

/// The rate limit in words: `an average of 8 s between packets and at least 2 s apart`.
pub(super) fn rate_words(limits: RateLimits) -> String {
    format!(
        "clients must average {} s between packets and keep them at least {} s apart ('discard')",
        1u64 << limits.average_log2,
        1u64 << limits.minimum_log2
    )
}

impl Discard {
    /// The rate limits `discard average A minimum M` sets (log2 seconds in 4.2.6p5),
    /// clamped to what the monitor counts; the defaults where not given.
    pub fn rate_limits(&self) -> RateLimits {
        let mut limits = RateLimits::default();
        let clamp = |v: i32| v.clamp(0, 16) as u8;
        if let Some(avg) = self.average {
            limits.average_log2 = clamp(avg);
        }
        if let Some(min) = self.minimum {
            limits.minimum_log2 = clamp(min);
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;

    fn entry(target: RestrictTarget, mask: Option<&str>, flags: &[RestrictFlag]) -> RestrictEntry {
        RestrictEntry {
            target,
            mask: mask.map(|m| m.parse().unwrap()),
            flags: flags.iter().copied().collect(),
            location: Location::new("ntp.conf", 1),
        }
    }

    #[test]
    fn a_lan_line_in_words() {
        let lan = entry(
            RestrictTarget::Addr("172.25.0.0".parse().unwrap()),
            Some("255.255.255.0"),
            &[RestrictFlag::NoModify],
        );
        assert_eq!(
            format!("{} {}", who(&lan), rights(lan.flags)),
            "hosts in 172.25.0.0/24 may get time and query, may not modify"
        );
        let rhel = entry(
            RestrictTarget::Default(None),
            None,
            &[
                RestrictFlag::Kod,
                RestrictFlag::NoModify,
                RestrictFlag::NoTrap,
                RestrictFlag::NoPeer,
                RestrictFlag::NoQuery,
            ],
        );
        assert_eq!(
            format!("{} {}", who(&rhel), rights(rhel.flags)),
            "every other host (IPv4 and IPv6) may get time, may not query, modify, set traps \
             or become a peer"
        );
        assert_eq!(
            conditions(rhel.flags, RateLimits::default()),
            ["kod: no effect without limited"]
        );
        let lo = entry(
            RestrictTarget::Addr("127.0.0.1".parse().unwrap()),
            None,
            &[],
        );
        assert_eq!(
            format!("{} {}", who(&lo), rights(lo.flags)),
            "host 127.0.0.1 may get time, query and modify"
        );
    }

    #[test]
    fn masks_and_lists() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(prefix_len("255.0.255.0".parse().unwrap()), None);
        assert_eq!(prefix_len("ffff:ffff::".parse().unwrap()), Some(32));
        assert_eq!(listed(&["a", "b", "c"], "or"), "a, b or c");
        let d = Discard {
            average: Some(5),
            minimum: Some(40),
            monitor: None,
        };
        assert_eq!(
            d.rate_limits(),
            RateLimits {
                average_log2: 5,
                minimum_log2: 16
            }
        );
    }
}
