//! The engine's view of access control: which flags apply to a source and what to do with a
//! packet of a given mode. Wraps `crate::restrict` so the packet path reads in one line.

use crate::restrict::{RestrictFlag, RestrictFlags};
use crate::wire::ntp::{KissCode, Mode};
use std::net::{IpAddr, SocketAddr};

/// What the packet path does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Drop,
    /// Answer a time request.
    Serve,
    /// Answer with a kiss-o'-death instead.
    Kiss(KissCode),
    /// A mode 6 query; `nomodify` refuses writes.
    Control {
        nomodify: bool,
    },
    /// A reply or peer packet for the association code.
    Protocol,
}

/// One `restrict` line, resolved to an address and mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub addr: IpAddr,
    pub mask: IpAddr,
    pub flags: RestrictFlags,
}

/// The restrict list (most specific match wins) and its defaults.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    rules: Vec<Rule>,
}

fn masked(addr: IpAddr, mask: IpAddr) -> Option<(u128, u128)> {
    match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => {
            Some((u128::from(u32::from(a)), u128::from(u32::from(m))))
        }
        (IpAddr::V6(a), IpAddr::V6(m)) => Some((u128::from(a), u128::from(m))),
        _ => None,
    }
}

impl Gate {
    pub fn new(rules: Vec<Rule>) -> Gate {
        Gate { rules }
    }

    /// The flags of the most specific rule matching `addr` (no rule: no restrictions).
    pub fn lookup(&self, addr: IpAddr) -> RestrictFlags {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        let mut best: Option<(u32, RestrictFlags)> = None;
        for rule in &self.rules {
            let (Some((a, m)), Some((r, _))) =
                (masked(addr, rule.mask), masked(rule.addr, rule.mask))
            else {
                continue;
            };
            if a & m == r & m {
                let specificity = m.count_ones();
                if best.is_none_or(|(s, _)| specificity >= s) {
                    best = Some((specificity, rule.flags));
                }
            }
        }
        best.map_or(RestrictFlags::NONE, |(_, f)| f)
    }

    /// The classic meaning of the flags for a packet of `mode` and `version` from `source`.
    pub fn verdict(&self, source: SocketAddr, mode: Mode, version: u8, limited: bool) -> Verdict {
        let flags = self.lookup(source.ip());
        let has = |f| flags.contains(f);
        if has(RestrictFlag::Ignore) || mode == Mode::Private {
            return Verdict::Drop;
        }
        if mode == Mode::Control {
            return if has(RestrictFlag::NoQuery) {
                Verdict::Drop
            } else {
                Verdict::Control {
                    nomodify: has(RestrictFlag::NoModify),
                }
            };
        }
        if has(RestrictFlag::Version) && version != 4 {
            return Verdict::Drop;
        }
        match mode {
            Mode::Client | Mode::SymmetricActive => {
                if has(RestrictFlag::NoServe) {
                    Verdict::Drop
                } else if limited && has(RestrictFlag::Limited) {
                    if has(RestrictFlag::Kod) {
                        Verdict::Kiss(KissCode::Rate)
                    } else {
                        Verdict::Drop
                    }
                } else {
                    Verdict::Serve
                }
            }
            Mode::Server | Mode::SymmetricPassive | Mode::Broadcast => Verdict::Protocol,
            _ => Verdict::Drop,
        }
    }
}
