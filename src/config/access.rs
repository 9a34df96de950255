//! Access and interface control: `restrict`, `discard`, `interface` (alias `nic`).

use std::net::IpAddr;

use super::assoc::is_host_name;
use super::model::{
    Discard, Family, InterfaceAction, InterfaceMatch, InterfaceRule, RestrictEntry, RestrictTarget,
};
use super::parse::{Args, Directive};
use crate::restrict::{RestrictFlag, RestrictFlags};

/// Flags 4.2.6p5 knows but we do not implement: accepted with a warning, not dropped.
const IGNORED_RESTRICT_FLAGS: &[&str] = &["flake", "mssntp"];

fn family_of(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

pub(super) fn restrict(args: &mut Args<'_>) -> Result<Directive, String> {
    let family = args.family_flag();
    let word = args.word("an address or 'default'")?;
    let target = if word == "default" {
        RestrictTarget::Default(family)
    } else if let Ok(ip) = word.parse::<IpAddr>() {
        if family.is_some_and(|f| f != family_of(ip)) {
            return Err(format!(
                "restrict address '{word}' does not match its -4/-6"
            ));
        }
        RestrictTarget::Addr(ip)
    } else if is_host_name(word) && RestrictFlag::from_keyword(word).is_none() {
        RestrictTarget::Host(word.to_string())
    } else {
        return Err(format!(
            "restrict needs an address or 'default', not '{word}'"
        ));
    };
    let mut mask = None;
    if args.peek() == Some("mask") && !matches!(target, RestrictTarget::Default(_)) {
        args.next();
        let m = args.word("an address after 'mask'")?;
        let ip: IpAddr = m
            .parse()
            .map_err(|_| format!("mask needs an address, not '{m}'"))?;
        if let RestrictTarget::Addr(addr) = target {
            if family_of(addr) != family_of(ip) {
                return Err(format!(
                    "mask '{m}' does not match the address family of '{word}'"
                ));
            }
        }
        mask = Some(ip);
    }
    let mut flags = RestrictFlags::NONE;
    for &w in args.rest() {
        match RestrictFlag::from_keyword(w) {
            Some(flag) => flags.insert(flag),
            None if IGNORED_RESTRICT_FLAGS.contains(&w) => args
                .warnings
                .push(format!("restrict flag '{w}' is not supported and ignored")),
            None => return Err(format!("unknown restrict flag '{w}'")),
        }
    }
    Ok(Directive::Restrict(RestrictEntry {
        target,
        mask,
        flags,
        location: args.location.clone(),
    }))
}

pub(super) fn discard(args: &mut Args<'_>) -> Result<Directive, String> {
    let mut d = Discard::default();
    if args.peek().is_none() {
        return Err("discard needs average, minimum or monitor".to_string());
    }
    while let Some(opt) = args.next() {
        let slot = match opt {
            "average" => &mut d.average,
            "minimum" => &mut d.minimum,
            "monitor" => &mut d.monitor,
            other => return Err(format!("unknown discard option '{other}'")),
        };
        *slot = Some(args.int_in(opt)?);
    }
    Ok(Directive::Discard(d))
}

pub(super) fn interface(args: &mut Args<'_>) -> Result<Directive, String> {
    let kw = args.keyword;
    let action = match args.next() {
        Some("listen") => InterfaceAction::Listen,
        Some("ignore") => InterfaceAction::Ignore,
        Some("drop") => InterfaceAction::Drop,
        Some(w) => return Err(format!("{kw} needs listen, ignore or drop, not '{w}'")),
        None => return Err(format!("{kw} needs listen, ignore or drop")),
    };
    let word = args.word("an address, interface name, all, ipv4, ipv6 or wildcard")?;
    let matcher = match word {
        "all" => InterfaceMatch::All,
        "ipv4" => InterfaceMatch::Ipv4,
        "ipv6" => InterfaceMatch::Ipv6,
        "wildcard" => InterfaceMatch::Wildcard,
        w => address_or_name(w)?,
    };
    Ok(Directive::Interface(InterfaceRule {
        action,
        matcher,
        location: args.location.clone(),
    }))
}

/// `ADDR`, `ADDR/PREFIX` or an interface name (`eth0`, `eth0:1`).
fn address_or_name(w: &str) -> Result<InterfaceMatch, String> {
    let (addr_part, prefix_part) = match w.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (w, None),
    };
    let Ok(addr) = addr_part.parse::<IpAddr>() else {
        return if w.is_empty() || w.starts_with('-') || w.contains(char::is_whitespace) {
            Err(format!("interface needs an address or name, not '{w}'"))
        } else {
            Ok(InterfaceMatch::Name(w.to_string()))
        };
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_part {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => Some(n),
            _ => return Err(format!("bad prefix length '{p}' in '{w}'")),
        },
    };
    Ok(InterfaceMatch::Addr { addr, prefix })
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_one as one;
    use super::*;

    fn entry(line: &str) -> RestrictEntry {
        match one(line) {
            Ok(Directive::Restrict(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn restrict_forms() {
        let d = entry("restrict default kod nomodify notrap nopeer noquery");
        assert_eq!(d.target, RestrictTarget::Default(None));
        assert_eq!(d.flags.to_string(), "kod nomodify noquery nopeer notrap");
        let d6 = entry("restrict -6 default kod");
        assert_eq!(d6.target, RestrictTarget::Default(Some(Family::V6)));
        let m = entry("restrict 192.168.1.0 mask 255.255.255.0 nomodify notrap");
        assert_eq!(m.mask, Some("255.255.255.0".parse().unwrap()));
        let v6 = entry("restrict 2001:db8:: mask ffff:ffff:: nomodify");
        assert_eq!(
            v6.target,
            RestrictTarget::Addr("2001:db8::".parse().unwrap())
        );
        let h = entry("restrict ntp.example.com noquery");
        assert_eq!(h.target, RestrictTarget::Host("ntp.example.com".into()));
        assert!(entry("restrict 127.0.0.1").flags.is_empty());
    }

    #[test]
    fn restrict_errors() {
        assert_eq!(
            one("restrict default nomodifiy").unwrap_err(),
            "ntp.conf:1: unknown restrict flag 'nomodifiy'"
        );
        assert_eq!(
            one("restrict").unwrap_err(),
            "ntp.conf:1: restrict needs an address or 'default'"
        );
        assert!(one("restrict 10.0.0.0 mask ffff:: nomodify").is_err());
        assert!(one("restrict -6 10.0.0.1").is_err());
        assert!(one("restrict nomodify").is_err());
    }

    #[test]
    fn discard_and_interface() {
        assert_eq!(
            one("discard average 3 minimum 1").unwrap(),
            Directive::Discard(Discard {
                average: Some(3),
                minimum: Some(1),
                monitor: None
            })
        );
        assert!(one("discard often 3").is_err());
        let Ok(Directive::Interface(r)) = one("interface ignore 192.168.0.0/16") else {
            panic!()
        };
        assert_eq!(r.action, InterfaceAction::Ignore);
        assert_eq!(
            r.matcher,
            InterfaceMatch::Addr {
                addr: "192.168.0.0".parse().unwrap(),
                prefix: Some(16)
            }
        );
        let Ok(Directive::Interface(n)) = one("nic listen eth0") else {
            panic!()
        };
        assert_eq!(n.matcher, InterfaceMatch::Name("eth0".into()));
        assert!(one("interface listen 10.0.0.0/40").is_err());
        assert!(one("interface sometimes eth0").is_err());
    }
}
