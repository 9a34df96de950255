//! Associations (`server`, `peer`, `pool`, `broadcast`, `manycastclient`) and `fudge`.

use std::net::{IpAddr, Ipv4Addr};

use super::model::{AssocConfig, AssocKind, Fudge, Target};
use super::parse::{Args, Directive};
use crate::time::PollInterval;

/// Reference clock driver types compiled into classic 4.2.6p5's table (1 = LOCAL ...
/// 44 = NeoClock4X); anything else is "clock type invalid" there.
pub const REFCLOCK_TYPES: std::ops::RangeInclusive<u8> = 1..=44;

/// Option words of association lines: seeing one where the address belongs means the
/// address is missing.
const ASSOC_OPTIONS: &[&str] = &[
    "iburst", "burst", "prefer", "noselect", "true", "xleave", "preempt", "autokey", "minpoll",
    "maxpoll", "version", "key", "mode", "ttl",
];

/// An address or host name as written; `127.127.T.U` is a reference clock.
pub(super) fn target(word: &str) -> Option<Target> {
    if let Ok(ip) = word.parse::<IpAddr>() {
        return Some(match ip {
            IpAddr::V4(v4) if is_refclock(v4) => {
                let [_, _, clock_type, unit] = v4.octets();
                Target::RefClock { clock_type, unit }
            }
            ip => Target::Ip(ip),
        });
    }
    is_host_name(word).then(|| Target::Host(word.to_string()))
}

fn is_refclock(v4: Ipv4Addr) -> bool {
    let [a, b, _, _] = v4.octets();
    a == 127 && b == 127
}

/// Loose: letters, digits, `.-_`, and `:%` for scoped IPv6 the resolver understands.
pub(super) fn is_host_name(word: &str) -> bool {
    !word.is_empty()
        && !word.starts_with('-')
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%'))
}

pub(super) fn server(args: &mut Args<'_>) -> Result<Directive, String> {
    association(args, AssocKind::Server)
}

pub(super) fn peer(args: &mut Args<'_>) -> Result<Directive, String> {
    association(args, AssocKind::Peer)
}

pub(super) fn pool(args: &mut Args<'_>) -> Result<Directive, String> {
    association(args, AssocKind::Pool)
}

pub(super) fn broadcast(args: &mut Args<'_>) -> Result<Directive, String> {
    association(args, AssocKind::Broadcast)
}

pub(super) fn manycastclient(args: &mut Args<'_>) -> Result<Directive, String> {
    association(args, AssocKind::ManycastClient)
}

fn association(args: &mut Args<'_>, kind: AssocKind) -> Result<Directive, String> {
    let family = args.family_flag();
    let kw = args.keyword;
    let word = match args.next() {
        Some(w) if !ASSOC_OPTIONS.contains(&w) => w,
        _ => return Err(format!("{kw} needs an address")),
    };
    let target = target(word).ok_or_else(|| format!("{kw} needs an address, not '{word}'"))?;
    if let Target::RefClock { clock_type, .. } = target {
        if kind != AssocKind::Server && kind != AssocKind::Peer {
            return Err(format!("{kw} needs a network address, not '{word}'"));
        }
        check_clock_type(clock_type)?;
    }
    let mut a = AssocConfig {
        kind,
        target,
        family,
        iburst: false,
        burst: false,
        prefer: false,
        noselect: false,
        true_: false,
        xleave: false,
        preempt: false,
        autokey: false,
        minpoll: None,
        maxpoll: None,
        version: None,
        key: None,
        mode: None,
        ttl: None,
        location: args.location.clone(),
    };
    while let Some(opt) = args.next() {
        assoc_option(args, &mut a, opt)?;
    }
    check_polls(args, &mut a);
    Ok(Directive::Assoc(a))
}

fn assoc_option(args: &mut Args<'_>, a: &mut AssocConfig, opt: &str) -> Result<(), String> {
    match opt {
        "iburst" => a.iburst = true,
        "burst" => a.burst = true,
        "prefer" => a.prefer = true,
        "noselect" => a.noselect = true,
        "true" => a.true_ = true,
        "xleave" => a.xleave = true,
        "preempt" => a.preempt = true,
        "autokey" => a.autokey = true,
        "minpoll" => a.minpoll = Some(poll(args, "minpoll")?),
        "maxpoll" => a.maxpoll = Some(poll(args, "maxpoll")?),
        "version" => {
            let v = args.int("version")?;
            if !(1..=4).contains(&v) {
                return Err(format!("version {v} is out of range 1..4"));
            }
            a.version = u8::try_from(v).ok();
        }
        "key" => {
            let k = args.int("key")?;
            if !(1..=65534).contains(&k) {
                return Err(format!("key {k} is out of range 1..65534"));
            }
            a.key = u32::try_from(k).ok();
        }
        "mode" => a.mode = Some(args.int_in("mode")?),
        "ttl" => a.ttl = Some(args.int_in("ttl")?),
        other => return Err(format!("unknown {} option '{other}'", args.keyword)),
    }
    Ok(())
}

/// Classic clamps poll exponents into 3..17 (NTP_MINPOLL..NTP_MAXPOLL); so do we, aloud.
fn poll(args: &mut Args<'_>, what: &str) -> Result<PollInterval, String> {
    let n = args.int(what)?;
    let p = PollInterval::clamped(n);
    if i64::from(p.0) != n {
        args.warnings
            .push(format!("{what} {n} is outside 3..17, using {}", p.0));
    }
    Ok(p)
}

/// minpoll above maxpoll: classic lowers minpoll to maxpoll.
fn check_polls(args: &mut Args<'_>, a: &mut AssocConfig) {
    let min = a.minpoll.unwrap_or(PollInterval::DEFAULT_MIN);
    let max = a.maxpoll.unwrap_or(PollInterval::DEFAULT_MAX.max(min));
    if min > max {
        args.warnings.push(format!(
            "minpoll {} is above maxpoll {}, using {} for both",
            min.0, max.0, max.0
        ));
        a.minpoll = Some(max);
    }
}

fn check_clock_type(clock_type: u8) -> Result<(), String> {
    if REFCLOCK_TYPES.contains(&clock_type) {
        Ok(())
    } else {
        Err(format!("unknown reference clock type {clock_type}"))
    }
}

pub(super) fn fudge(args: &mut Args<'_>) -> Result<Directive, String> {
    let word = args.word("a reference clock address")?;
    let Some(Target::RefClock { clock_type, unit }) = target(word) else {
        return Err(format!(
            "fudge needs a reference clock address 127.127.T.U, not '{word}'"
        ));
    };
    check_clock_type(clock_type)?;
    if args.peek().is_none() {
        // 4.2.6p5's grammar needs one: a bare fudge line is a syntax error there.
        return Err(format!(
            "fudge {word} needs an option such as time1 or stratum"
        ));
    }
    let mut f = Fudge {
        clock_type,
        unit,
        stratum: None,
        refid: None,
        time1: None,
        time2: None,
        flags: [None; 4],
        location: args.location.clone(),
    };
    while let Some(opt) = args.next() {
        match opt {
            "stratum" => {
                let s = args.int("stratum")?;
                if !(0..=15).contains(&s) {
                    return Err(format!("stratum {s} is out of range 0..15"));
                }
                f.stratum = u8::try_from(s).ok();
            }
            "refid" => f.refid = Some(refid(args.word("a refid after 'refid'")?)),
            "time1" => f.time1 = Some(args.seconds("time1")?),
            "time2" => f.time2 = Some(args.seconds("time2")?),
            "flag1" | "flag2" | "flag3" | "flag4" => {
                let i = usize::from(opt.as_bytes()[4] - b'1');
                f.flags[i] = Some(args.bool01(opt)?);
            }
            other => return Err(format!("unknown fudge option '{other}'")),
        }
    }
    Ok(Directive::Fudge(f))
}

/// Classic copies at most four bytes and zero-pads.
fn refid(word: &str) -> [u8; 4] {
    let mut id = [0u8; 4];
    for (slot, b) in id.iter_mut().zip(word.bytes()) {
        *slot = b;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_bytes, parse_one as one, Directive};
    use super::*;

    fn assoc(line: &str) -> AssocConfig {
        match one(line) {
            Ok(Directive::Assoc(a)) => a,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn server_options() {
        let a = assoc("server 192.0.2.2 burst prefer minpoll 4 maxpoll 10 key 5 version 3");
        assert_eq!(a.target, Target::Ip("192.0.2.2".parse().unwrap()));
        assert!(a.burst && a.prefer && !a.iburst);
        assert_eq!(a.minpoll, Some(PollInterval(4)));
        assert_eq!(a.maxpoll, Some(PollInterval(10)));
        assert_eq!((a.key, a.version), (Some(5), Some(3)));
        let h = assoc("pool -6 2.centos.pool.ntp.org iburst autokey noselect true");
        assert_eq!(h.kind, AssocKind::Pool);
        assert_eq!(h.family, Some(super::super::model::Family::V6));
        assert_eq!(h.target, Target::Host("2.centos.pool.ntp.org".into()));
        assert!(h.autokey && h.noselect && h.true_);
        let r = assoc("server 127.127.1.0");
        assert_eq!(
            r.target,
            Target::RefClock {
                clock_type: 1,
                unit: 0
            }
        );
    }

    #[test]
    fn server_errors_name_the_token() {
        assert_eq!(
            one("server").unwrap_err(),
            "ntp.conf:1: server needs an address"
        );
        assert_eq!(
            one("server iburst").unwrap_err(),
            "ntp.conf:1: server needs an address"
        );
        assert_eq!(
            one("server 127.127.1.0 minpoll").unwrap_err(),
            "ntp.conf:1: minpoll needs a number"
        );
        assert_eq!(
            one("server a.b minpoll x").unwrap_err(),
            "ntp.conf:1: minpoll needs a number, not 'x'"
        );
        assert_eq!(
            one("peer a.b ibrust").unwrap_err(),
            "ntp.conf:1: unknown peer option 'ibrust'"
        );
        assert_eq!(
            one("server 127.127.99.0").unwrap_err(),
            "ntp.conf:1: unknown reference clock type 99"
        );
    }

    #[test]
    fn poll_out_of_range_is_clamped_with_a_warning() {
        let (stmts, diags) = parse_bytes(b"server a.b minpoll 1 maxpoll 30", "x");
        let Directive::Assoc(a) = &stmts[0].directive else {
            panic!()
        };
        assert_eq!(
            (a.minpoll, a.maxpoll),
            (Some(PollInterval(3)), Some(PollInterval(17)))
        );
        assert_eq!(diags.len(), 2);
        assert!(diags.iter().all(|d| !d.is_error()));
    }

    #[test]
    fn fudge_options() {
        let Ok(Directive::Fudge(f)) =
            one("fudge 127.127.1.0 stratum 10 refid TESTING time1 0.5 flag1 1 flag4 0")
        else {
            panic!()
        };
        assert_eq!((f.clock_type, f.unit, f.stratum), (1, 0, Some(10)));
        assert_eq!(f.refid, Some(*b"TEST"));
        assert_eq!(f.time1.map(|t| t.to_secs_f64()), Some(0.5));
        assert_eq!(f.flags, [Some(true), None, None, Some(false)]);
        assert_eq!(
            one("fudge 10.0.0.1 stratum 1").unwrap_err(),
            "ntp.conf:1: fudge needs a reference clock address 127.127.T.U, not '10.0.0.1'"
        );
        assert_eq!(
            one("fudge 127.127.22.1").unwrap_err(),
            "ntp.conf:1: fudge 127.127.22.1 needs an option such as time1 or stratum"
        );
        assert_eq!(
            one("fudge 127.127.1.0 flag2 7").unwrap_err(),
            "ntp.conf:1: flag2 needs 0 or 1, not '7'"
        );
    }
}
