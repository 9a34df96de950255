//! The remaining directives: files, keys, broadcast/multicast, statistics, system switches,
//! `tinker`, `tos`, `setvar` and the parse-only ones.

use std::path::PathBuf;

use super::assoc::target;
use super::model::{
    DriftFile, Filegen, FilegenType, SetVar, StatsFile, SystemFlag, Target, Tinker, Tos,
};
use super::parse::{parse_int, Args, Directive};
use crate::logclass::LogMask;
use crate::time::Ppm;

fn path(args: &mut Args<'_>) -> Result<PathBuf, String> {
    args.word("a file name").map(PathBuf::from)
}

pub(super) fn driftfile(args: &mut Args<'_>) -> Result<Directive, String> {
    let path = path(args)?;
    let tolerance = match args.peek() {
        Some(_) => Some(args.float("driftfile tolerance")?),
        None => None,
    };
    Ok(Directive::DriftFile(DriftFile { path, tolerance }))
}

pub(super) fn includefile(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::IncludeFile)
}

pub(super) fn keys(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::Keys)
}

pub(super) fn statsdir(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::StatsDir)
}

pub(super) fn logfile(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::LogFile)
}

pub(super) fn leapfile(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::LeapFile)
}

fn key_id(args: &mut Args<'_>) -> Result<u32, String> {
    let k = args.int(args.keyword)?;
    u32::try_from(k)
        .ok()
        .filter(|k| (1..=65534).contains(k))
        .ok_or_else(|| format!("key {k} is out of range 1..65534"))
}

pub(super) fn requestkey(args: &mut Args<'_>) -> Result<Directive, String> {
    key_id(args).map(Directive::RequestKey)
}

pub(super) fn controlkey(args: &mut Args<'_>) -> Result<Directive, String> {
    key_id(args).map(Directive::ControlKey)
}

/// `trustedkey 1 2 (5 ... 9)`: key numbers and inclusive ranges.
pub(super) fn trustedkey(args: &mut Args<'_>) -> Result<Directive, String> {
    // Parentheses may touch the numbers; split them off to get plain words.
    let text = args
        .rest()
        .join(" ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut keys = Vec::new();
    let mut rest = words.as_slice();
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        if first != "(" {
            keys.push(trusted_id(first)?);
            continue;
        }
        let [lo, "...", hi, ")", tail @ ..] = rest else {
            return Err("trustedkey range must look like (LOW ... HIGH)".to_string());
        };
        let (lo, hi) = (trusted_id(lo)?, trusted_id(hi)?);
        if hi < lo || hi - lo > 65534 {
            return Err(format!("bad trustedkey range ({lo} ... {hi})"));
        }
        keys.extend(lo..=hi);
        rest = tail;
    }
    if keys.is_empty() {
        return Err("trustedkey needs a key number".to_string());
    }
    Ok(Directive::TrustedKey(keys))
}

fn trusted_id(w: &str) -> Result<u32, String> {
    parse_int(w)
        .and_then(|k| u32::try_from(k).ok())
        .filter(|k| (1..=65534).contains(k))
        .ok_or_else(|| format!("trustedkey needs key numbers 1..65534, not '{w}'"))
}

pub(super) fn broadcastclient(args: &mut Args<'_>) -> Result<Directive, String> {
    let novolley = args.peek() == Some("novolley");
    if novolley {
        args.next();
    }
    Ok(Directive::BroadcastClient { novolley })
}

fn targets(args: &mut Args<'_>) -> Result<Vec<Target>, String> {
    let kw = args.keyword;
    args.rest()
        .iter()
        .map(|w| target(w).ok_or_else(|| format!("{kw} needs addresses, not '{w}'")))
        .collect()
}

pub(super) fn multicastclient(args: &mut Args<'_>) -> Result<Directive, String> {
    targets(args).map(Directive::MulticastClient)
}

pub(super) fn manycastserver(args: &mut Args<'_>) -> Result<Directive, String> {
    let t = targets(args)?;
    if t.is_empty() {
        return Err("manycastserver needs an address".to_string());
    }
    Ok(Directive::ManycastServer(t))
}

pub(super) fn broadcastdelay(args: &mut Args<'_>) -> Result<Directive, String> {
    args.seconds("broadcastdelay")
        .map(Directive::BroadcastDelay)
}

const CRYPTO_OPTIONS: &[&str] = &[
    "cert", "digest", "host", "ident", "iffpar", "gqpar", "mvpar", "leap", "pw", "randfile", "sign",
];

pub(super) fn crypto(args: &mut Args<'_>) -> Result<Directive, String> {
    let mut opts = Vec::new();
    while let Some(opt) = args.next() {
        if !CRYPTO_OPTIONS.contains(&opt) {
            return Err(format!("unknown crypto option '{opt}'"));
        }
        let value = args.word(&format!("a value after '{opt}'"))?;
        opts.push((opt.to_string(), value.to_string()));
    }
    Ok(Directive::Crypto(opts))
}

fn stats_file(w: &str) -> Result<StatsFile, String> {
    StatsFile::from_keyword(w).ok_or_else(|| format!("unknown statistics file '{w}'"))
}

pub(super) fn statistics(args: &mut Args<'_>) -> Result<Directive, String> {
    let files: Vec<StatsFile> = args
        .rest()
        .iter()
        .map(|w| stats_file(w))
        .collect::<Result<_, _>>()?;
    if files.is_empty() {
        return Err("statistics needs a file name such as loopstats".to_string());
    }
    Ok(Directive::Statistics(files))
}

pub(super) fn filegen(args: &mut Args<'_>) -> Result<Directive, String> {
    let name = stats_file(args.word("a statistics name such as loopstats")?)?;
    let mut f = Filegen {
        name,
        file: None,
        kind: None,
        link: None,
        enable: None,
        location: args.location.clone(),
    };
    while let Some(opt) = args.next() {
        match opt {
            "file" => f.file = Some(args.word("a file name after 'file'")?.to_string()),
            "type" => f.kind = Some(filegen_type(args.word("a type after 'type'")?)?),
            "link" | "nolink" => f.link = Some(opt == "link"),
            "enable" | "disable" => f.enable = Some(opt == "enable"),
            other => return Err(format!("unknown filegen option '{other}'")),
        }
    }
    Ok(Directive::Filegen(f))
}

fn filegen_type(w: &str) -> Result<FilegenType, String> {
    Ok(match w {
        "none" => FilegenType::None,
        "pid" => FilegenType::Pid,
        "day" => FilegenType::Day,
        "week" => FilegenType::Week,
        "month" => FilegenType::Month,
        "year" => FilegenType::Year,
        "age" => FilegenType::Age,
        other => return Err(format!("unknown filegen type '{other}'")),
    })
}

fn system_flags(args: &mut Args<'_>) -> Result<Vec<SystemFlag>, String> {
    let kw = args.keyword;
    let flags: Vec<SystemFlag> = args
        .rest()
        .iter()
        .map(|w| SystemFlag::from_keyword(w).ok_or_else(|| format!("unknown {kw} flag '{w}'")))
        .collect::<Result<_, _>>()?;
    if flags.is_empty() {
        return Err(format!("{kw} needs a flag such as monitor"));
    }
    Ok(flags)
}

pub(super) fn enable(args: &mut Args<'_>) -> Result<Directive, String> {
    system_flags(args).map(Directive::Enable)
}

pub(super) fn disable(args: &mut Args<'_>) -> Result<Directive, String> {
    system_flags(args).map(Directive::Disable)
}

/// `logconfig =syncall +clockall`: an item without its `=`/`+`/`-` is a syntax error in
/// classic (the line is dropped); an unknown class or type is logged and skipped.
pub(super) fn logconfig(args: &mut Args<'_>) -> Result<Directive, String> {
    let items: Vec<String> = args.rest().iter().map(|w| w.to_string()).collect();
    if items.is_empty() {
        return Err("logconfig needs an item such as =syncall".to_string());
    }
    for item in &items {
        match LogMask::default().apply(item) {
            Ok(_) => {}
            Err(e) if item.starts_with(['=', '+', '-']) => {
                args.warnings.push(format!("{e}; item ignored"))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Directive::LogConfig(items))
}

/// `ntpsigndsocket DIR`: where Samba's signing daemon listens for MS-SNTP requests.
/// Carried, never used: this ntpd does not sign replies (as classic built without
/// `--enable-ntp-signd`), which the warning says so a Samba DC's admin knows.
pub(super) fn ntpsigndsocket(args: &mut Args<'_>) -> Result<Directive, String> {
    let dir = path(args)?;
    args.warnings.push(
        "ntpsigndsocket: MS-SNTP signing is not done by this ntpd (as classic built without \
         --enable-ntp-signd); Windows domain members asking for signed time get no signed \
         reply"
            .to_string(),
    );
    Ok(Directive::NtpSignDSocket(dir))
}

/// `pidfile FILE`: as `-p FILE` (the command line wins).
pub(super) fn pidfile(args: &mut Args<'_>) -> Result<Directive, String> {
    path(args).map(Directive::PidFile)
}

/// `tick SECONDS`: classic's `sys_tick`, the clock reading granularity it assumes. Linux
/// reports its own (clock_getres), so the value is carried and not used, said aloud.
pub(super) fn tick(args: &mut Args<'_>) -> Result<Directive, String> {
    let tick = args.float("tick")?;
    if tick < 0.0 {
        return Err(format!("tick {tick} is negative"));
    }
    args.warnings.push(format!(
        "tick {tick}: the clock's resolution is read from the kernel; this value is not used"
    ));
    Ok(Directive::Tick(crate::time::NtpDuration::from_secs_f64(
        tick,
    )))
}

/// `unpeer ADDR` / `unconfig ADDR`: removes the association configured for that address
/// (classic applies these after every server line, wherever they stand in the file).
pub(super) fn unpeer(args: &mut Args<'_>) -> Result<Directive, String> {
    let kw = args.keyword;
    let w = args.word("an address")?;
    let t = target(w).ok_or_else(|| format!("{kw} needs an address, not '{w}'"))?;
    Ok(Directive::Unpeer(t))
}

pub(super) fn tinker(args: &mut Args<'_>) -> Result<Directive, String> {
    let mut t = Tinker::default();
    if args.peek().is_none() {
        return Err("tinker needs an option such as step".to_string());
    }
    while let Some(opt) = args.next() {
        match opt {
            "panic" => t.panic = Some(args.seconds(opt)?),
            "step" => t.step = Some(args.seconds(opt)?),
            "stepout" => t.stepout = Some(args.seconds(opt)?),
            "huffpuff" => t.huffpuff = Some(args.seconds(opt)?),
            "dispersion" => t.dispersion = Some(Ppm(args.float(opt)?)),
            "freq" => t.freq = Some(Ppm(args.float(opt)?)),
            "allan" => t.allan = Some(args.float(opt)?),
            "maxslewrate" => t.maxslewrate = Some(slew_rate(args, opt)?),
            other => return Err(format!("unknown tinker option '{other}'")),
        }
    }
    Ok(Directive::Tinker(t))
}

/// `tinker maxslewrate PPM`: above zero and within what the kernel's tick can slew.
fn slew_rate(args: &mut Args<'_>, opt: &str) -> Result<Ppm, String> {
    let limit = crate::clock::SLEW_RATE_LIMIT.0;
    match args.float(opt)? {
        rate if rate > 0.0 && rate <= limit => Ok(Ppm(rate)),
        rate => Err(format!("{opt} {rate} is not between 0 and {limit} PPM")),
    }
}

pub(super) fn tos(args: &mut Args<'_>) -> Result<Directive, String> {
    let mut t = Tos::default();
    if args.peek().is_none() {
        return Err("tos needs an option such as maxdist".to_string());
    }
    while let Some(opt) = args.next() {
        match opt {
            "minsane" => t.minsane = Some(whole(args, opt)?),
            "minclock" => t.minclock = Some(whole(args, opt)?),
            "maxclock" => t.maxclock = Some(whole(args, opt)?),
            "ceiling" => t.ceiling = Some(whole(args, opt)?),
            "floor" => t.floor = Some(whole(args, opt)?),
            "orphan" => t.orphan = Some(orphan(args)?),
            "maxdist" => t.maxdist = Some(args.seconds(opt)?),
            "mindist" => t.mindist = Some(args.seconds(opt)?),
            "beacon" => t.beacon = Some(args.seconds(opt)?),
            "orphanwait" => t.orphanwait = Some(args.seconds(opt)?),
            "cohort" => t.cohort = Some(args.bool01(opt)?),
            other => return Err(format!("unknown tos option '{other}'")),
        }
    }
    Ok(Directive::Tos(t))
}

/// A count or stratum: classic reads tos values as numbers and truncates.
fn whole<T: TryFrom<i64>>(args: &mut Args<'_>, what: &str) -> Result<T, String> {
    let v = args.float(what)?;
    let n = v.trunc() as i64;
    T::try_from(n).map_err(|_| format!("{what} {v} is out of range"))
}

/// Orphan stratum: below 16 it enables orphan mode; classic keeps larger values, which
/// leave orphan mode off, so that is a warning rather than a dropped line.
fn orphan(args: &mut Args<'_>) -> Result<u8, String> {
    let s: u8 = whole(args, "orphan")?;
    if !(1..=15).contains(&s) {
        args.warnings.push(format!(
            "tos orphan {s} is outside 1..15: orphan mode stays off"
        ));
    }
    Ok(s)
}

/// `setvar NAME = VALUE [default]`, with or without blanks around `=`.
pub(super) fn setvar(args: &mut Args<'_>) -> Result<Directive, String> {
    let mut words = args.rest();
    let default = words.last() == Some(&"default");
    if default {
        words = &words[..words.len() - 1];
    }
    let joined = words.join(" ");
    let (name, value) = joined
        .split_once('=')
        .map(|(n, v)| (n.trim(), v.trim()))
        .filter(|(n, _)| !n.is_empty() && !n.contains(' '))
        .ok_or_else(|| "setvar needs NAME = VALUE".to_string())?;
    Ok(Directive::SetVar(SetVar {
        name: name.to_string(),
        value: value.to_string(),
        default,
    }))
}

/// `revoke N`, `automax N`, `calldelay N`: accepted, not acted on.
pub(super) fn one_number(args: &mut Args<'_>) -> Result<Directive, String> {
    args.int(args.keyword)?;
    Ok(Directive::ParseOnly)
}

/// `ttl N...`: accepted, not acted on.
pub(super) fn numbers(args: &mut Args<'_>) -> Result<Directive, String> {
    args.int(args.keyword)?;
    while args.peek().is_some() {
        args.int(args.keyword)?;
    }
    Ok(Directive::ParseOnly)
}

/// `trap ADDR [port N] [interface ADDR]`: accepted, not acted on.
pub(super) fn trap(args: &mut Args<'_>) -> Result<Directive, String> {
    let w = args.word("an address")?;
    target(w).ok_or_else(|| format!("trap needs an address, not '{w}'"))?;
    while let Some(opt) = args.next() {
        match opt {
            "port" => {
                args.int_in::<u16>("port")?;
            }
            "interface" => {
                args.word("an address after 'interface'")?;
            }
            other => return Err(format!("unknown trap option '{other}'")),
        }
    }
    Ok(Directive::ParseOnly)
}

/// Directives kept for compatibility whose arguments we do not interpret.
pub(super) fn anything(args: &mut Args<'_>) -> Result<Directive, String> {
    args.rest();
    Ok(Directive::ParseOnly)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse_bytes;
    use super::*;

    fn one(line: &str) -> Directive {
        let (mut stmts, diags) = parse_bytes(line.as_bytes(), "ntp.conf");
        assert!(diags.is_empty(), "{line}: {diags:?}");
        stmts.remove(0).directive
    }

    #[test]
    fn files_keys_and_clients() {
        assert_eq!(
            one("driftfile \"/var/lib/my ntp/drift\" 1e-7"),
            Directive::DriftFile(DriftFile {
                path: PathBuf::from("/var/lib/my ntp/drift"),
                tolerance: Some(1e-7)
            })
        );
        assert_eq!(
            one("trustedkey 4 8 42"),
            Directive::TrustedKey(vec![4, 8, 42])
        );
        assert_eq!(
            one("trustedkey 1 (3 ... 5)"),
            Directive::TrustedKey(vec![1, 3, 4, 5])
        );
        assert_eq!(one("requestkey 8"), Directive::RequestKey(8));
        assert_eq!(
            one("broadcastclient novolley"),
            Directive::BroadcastClient { novolley: true }
        );
        assert_eq!(one("multicastclient"), Directive::MulticastClient(vec![]));
        assert_eq!(
            one("manycastserver 239.255.254.254"),
            Directive::ManycastServer(vec![Target::Ip("239.255.254.254".parse().unwrap())])
        );
        assert_eq!(
            one("crypto pw secret randfile /dev/urandom"),
            Directive::Crypto(vec![
                ("pw".into(), "secret".into()),
                ("randfile".into(), "/dev/urandom".into())
            ])
        );
        assert_eq!(one("crypto"), Directive::Crypto(vec![]));
    }

    #[test]
    fn statistics_and_logging() {
        assert_eq!(
            one("statistics clockstats cryptostats loopstats peerstats"),
            Directive::Statistics(vec![
                StatsFile::Clockstats,
                StatsFile::Cryptostats,
                StatsFile::Loopstats,
                StatsFile::Peerstats
            ])
        );
        let Directive::Filegen(f) = one("filegen peerstats file peers type week nolink disable")
        else {
            panic!()
        };
        assert_eq!(f.name, StatsFile::Peerstats);
        assert_eq!(f.file.as_deref(), Some("peers"));
        assert_eq!(
            (f.kind, f.link, f.enable),
            (Some(FilegenType::Week), Some(false), Some(false))
        );
        assert_eq!(
            one("logconfig =syncall +clockall -peerinfo"),
            Directive::LogConfig(vec![
                "=syncall".into(),
                "+clockall".into(),
                "-peerinfo".into()
            ])
        );
        assert_eq!(
            one("enable auth bclient calibrate kernel mode7 monitor ntp pps stats"),
            Directive::Enable(SystemFlag::ALL.to_vec())
        );
    }

    #[test]
    fn tinker_and_tos() {
        let Directive::Tinker(t) = one(
            "tinker panic 0 step 0.128 stepout 900 dispersion 15 allan 11 huffpuff 7200 freq -12.5",
        ) else {
            panic!()
        };
        assert_eq!(t.step, Some(crate::time::NtpDuration::from_secs_f64(0.128)));
        assert_eq!(t.stepout.map(|d| d.to_secs_f64()), Some(900.0));
        assert_eq!(
            (t.dispersion, t.freq, t.allan),
            (Some(Ppm(15.0)), Some(Ppm(-12.5)), Some(11.0))
        );
        let Directive::Tinker(t) = one("tinker maxslewrate 500") else {
            panic!()
        };
        assert_eq!(t.maxslewrate, Some(Ppm(500.0)));
        for bad in [
            "tinker maxslewrate 0",
            "tinker maxslewrate 200000",
            "tinker maxslewrate x",
        ] {
            let (_, diags) = parse_bytes(bad.as_bytes(), "ntp.conf");
            assert!(diags[0].message.contains("maxslewrate"), "{diags:?}");
        }
        let Directive::Tos(s) = one(
            "tos orphan 10 minclock 3 maxclock 10 minsane 1 maxdist 16 mindist 0.01 \
             ceiling 15 floor 1 cohort 1 beacon 3600 orphanwait 300",
        ) else {
            panic!()
        };
        assert_eq!(
            (s.orphan, s.minclock, s.maxclock, s.minsane),
            (Some(10), Some(3), Some(10), Some(1))
        );
        assert_eq!(s.maxdist.map(|d| d.to_secs_f64()), Some(16.0));
        assert_eq!(
            (s.ceiling, s.floor, s.cohort),
            (Some(15), Some(1), Some(true))
        );
    }

    #[test]
    fn setvar_forms() {
        let expect = |name: &str, value: &str, default| {
            Directive::SetVar(SetVar {
                name: name.into(),
                value: value.into(),
                default,
            })
        };
        assert_eq!(
            one("setvar myvar = \"hello\" default"),
            expect("myvar", "hello", true)
        );
        assert_eq!(one("setvar a=b"), expect("a", "b", false));
        assert_eq!(
            one("setvar city = \"New York\""),
            expect("city", "New York", false)
        );
    }

    /// The directive and the warnings of one line.
    fn warned(line: &str) -> (Directive, Vec<String>) {
        let (mut stmts, diags) = parse_bytes(line.as_bytes(), "ntp.conf");
        assert!(diags.iter().all(|d| !d.is_error()), "{line}: {diags:?}");
        let shown = diags.iter().map(|d| d.to_string()).collect();
        (stmts.remove(0).directive, shown)
    }

    #[test]
    fn classic_directives_carried_with_a_word_where_not_acted_on() {
        let (d, w) = warned("ntpsigndsocket /var/lib/samba/ntp_signd/");
        assert_eq!(
            d,
            Directive::NtpSignDSocket(PathBuf::from("/var/lib/samba/ntp_signd/"))
        );
        assert!(w[0].starts_with("ntp.conf:1: ntpsigndsocket: MS-SNTP signing is not done"));
        assert_eq!(
            one("pidfile /var/run/ntpd.pid"),
            Directive::PidFile(PathBuf::from("/var/run/ntpd.pid"))
        );
        let (d, w) = warned("tick 0.01");
        assert_eq!(
            d,
            Directive::Tick(crate::time::NtpDuration::from_secs_f64(0.01))
        );
        assert!(w[0].contains("tick 0.01: the clock's resolution is read from the kernel"));
        for line in ["unpeer 10.0.0.1", "unconfig 10.0.0.1"] {
            assert_eq!(
                one(line),
                Directive::Unpeer(Target::Ip("10.0.0.1".parse().unwrap()))
            );
        }
        let (_, errs) = parse_bytes(
            b"unconfig
tick -1
",
            "ntp.conf",
        );
        let errs: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            errs,
            [
                "ntp.conf:1: unconfig needs an address",
                "ntp.conf:2: tick -1 is negative"
            ]
        );
    }

    #[test]
    fn logconfig_items_are_checked_as_classic_does() {
        let (_, w) = warned("logconfig =syncall +clockall -syncstatus");
        assert!(w.is_empty(), "{w:?}");
        let (d, w) = warned("logconfig =syncall +peerevnts");
        assert!(matches!(d, Directive::LogConfig(_)));
        assert_eq!(
            w,
            [
                "ntp.conf:1: logconfig: unknown item 'peerevnts' (a class clock, peer, sync, sys \
              or all followed by a type info, events, status, statistics or all); item ignored"
            ]
        );
        let (_, e) = parse_bytes(b"logconfig syncall", "ntp.conf");
        assert_eq!(
            e[0].to_string(),
            "ntp.conf:1: logconfig item 'syncall' must start with '=', '+' or '-'"
        );
        assert!(e[0].is_error());
    }

    #[test]
    fn parse_only_directives() {
        for line in [
            "revoke 17",
            "automax 12",
            "ttl 1 2 4",
            "trap 192.0.2.9 port 1234 interface 192.0.2.1",
            "phone ATDT5551234",
            "keysdir /etc/ntp",
        ] {
            assert_eq!(one(line), Directive::ParseOnly, "{line}");
        }
    }
}
