//! `ntpd --check --explain`: every directive of a configuration (and of the files it
//! includes) in plain words, in file order, next to the line as written.

use std::io;
use std::path::{Path, PathBuf};

use super::diagnostic::Location;
use super::explain_access::{conditions, listed, rate_words, rights, who};
use super::lexer::before_comment;
use super::load::MAX_INCLUDE_DEPTH;
use super::model::{
    AssocConfig, AssocKind, Discard, Filegen, Fudge, InterfaceAction, InterfaceMatch,
    InterfaceRule, RestrictEntry, SystemFlag, Target, Tinker, Tos,
};
use super::parse::{parse_bytes, Directive};
use crate::restrict::RateLimits;
use crate::time::NtpDuration;

/// One directive explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    pub location: Location,
    /// The line as written, without its comment.
    pub text: String,
    pub meaning: String,
}

/// Explains `path` and the files it includes (read with `read`; what cannot be read is
/// skipped: `--check` reports it). `limits` are the configuration's rate limits, which
/// `restrict ... limited` lines refer to.
pub fn explain(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    limits: RateLimits,
) -> Vec<Explained> {
    let mut out = Vec::new();
    let mut open = vec![path.to_path_buf()];
    walk(path, read, limits, &mut open, &mut out);
    out
}

fn walk(
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    limits: RateLimits,
    open: &mut Vec<PathBuf>,
    out: &mut Vec<Explained>,
) {
    let Ok(bytes) = read(path) else { return };
    let file = path.display().to_string();
    let lines: Vec<&[u8]> = crate::lines::numbered(&bytes).map(|(_, l)| l).collect();
    let (statements, _) = parse_bytes(&bytes, &file);
    for s in statements {
        let raw = usize::try_from(s.location.line)
            .ok()
            .and_then(|n| lines.get(n.checked_sub(1)?))
            .copied()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(before_comment(raw))
            .trim()
            .to_string();
        let meaning = meaning(&s.directive, limits);
        out.push(Explained {
            location: s.location,
            text,
            meaning,
        });
        if let Directive::IncludeFile(inner) = s.directive {
            let nested = open.len() > MAX_INCLUDE_DEPTH || open.contains(&inner);
            if !nested {
                open.push(inner.clone());
                walk(&inner, read, limits, open, out);
                open.pop();
            }
        }
    }
}

fn secs(d: NtpDuration) -> String {
    let s = d.to_secs_f64();
    format!("{s} s")
}

/// One directive in words.
pub fn meaning(d: &Directive, limits: RateLimits) -> String {
    match d {
        Directive::DriftFile(f) => format!(
            "the clock's learned frequency error is kept in {}: read at start, written hourly and at stop",
            f.path.display()
        ),
        Directive::Assoc(a) => association(a),
        Directive::Restrict(r) => restrict(r, limits),
        Directive::Fudge(f) => fudge(f),
        Directive::IncludeFile(p) => format!(
            "reads {} here, as if its lines were in this file (a missing file is skipped)",
            p.display()
        ),
        Directive::Keys(p) => format!("symmetric keys (ID, type, secret) are read from {}", p.display()),
        Directive::TrustedKey(ids) => {
            let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
            format!(
                "key(s) {} are trusted: they may authenticate servers, peers and ntpq",
                ids.join(", ")
            )
        }
        Directive::RequestKey(k) => format!(
            "key {k} would authenticate ntpdc (mode 7) writes; mode 7 is read-only here"
        ),
        Directive::ControlKey(k) => format!(
            "key {k} authenticates ntpq writes and remote configuration (mode 6)"
        ),
        Directive::BroadcastClient { .. } => {
            "listen for broadcast servers (not supported yet: ignored)".into()
        }
        Directive::MulticastClient(_) => {
            "listen for multicast servers (not supported yet: ignored)".into()
        }
        Directive::ManycastServer(_) => "answer manycast clients (not supported yet: ignored)".into(),
        Directive::BroadcastDelay(d) => format!(
            "broadcast packets are taken to be {} late (not supported yet: ignored)",
            secs(*d)
        ),
        Directive::Crypto(_) => {
            "Autokey public-key authentication (not implemented: ignored)".into()
        }
        Directive::Statistics(files) => {
            let names: Vec<&str> = files.iter().map(|f| f.keyword()).collect();
            format!(
                "writes the {} statistics file(s) (where: 'statsdir', how: 'filegen')",
                listed(&names, "and")
            )
        }
        Directive::StatsDir(p) => format!("statistics files go to {}", p.display()),
        Directive::Filegen(f) => filegen(f),
        Directive::Enable(flags) => switches(flags, true),
        Directive::Disable(flags) => switches(flags, false),
        Directive::LogFile(p) => format!("log messages go to {} instead of syslog", p.display()),
        Directive::LogConfig(items) => format!(
            "chooses the classes of log messages (classic's NLOG classes sys, peer, clock, \
             sync): {}",
            items.join(" ")
        ),
        Directive::Tinker(t) => tinker(t),
        Directive::Tos(t) => tos(t),
        Directive::Discard(d) => discard(d),
        Directive::Interface(rule) => interface(rule),
        Directive::LeapFile(p) => format!(
            "leap seconds are announced from the list in {} (checked for expiry)",
            p.display()
        ),
        Directive::SetVar(v) => format!(
            "mode 6 system variable {}={}{} (not supported yet: ignored)",
            v.name,
            v.value,
            if v.default { ", in the default list" } else { "" }
        ),
        Directive::NtpSignDSocket(p) => format!(
            "Samba's MS-SNTP signing socket {}; this ntpd does not sign replies (ignored)",
            p.display()
        ),
        Directive::PidFile(p) => format!(
            "the process ID is written to {} at start (-p on the command line wins)",
            p.display()
        ),
        Directive::Tick(t) => format!(
            "assumes a clock granularity of {}; the kernel's own is used (ignored)",
            secs(*t)
        ),
        Directive::Unpeer(t) => format!(
            "removes the association configured for {}",
            target_text(t)
        ),
        Directive::End => "the lines after this one are not read".into(),
        Directive::ParseOnly => "accepted for compatibility; it changes nothing here".into(),
    }
}

pub(super) fn target_text(t: &Target) -> String {
    match t {
        Target::Ip(a) => a.to_string(),
        Target::Host(h) => h.clone(),
        Target::RefClock { clock_type, unit } => format!("127.127.{clock_type}.{unit}"),
    }
}

fn association(a: &AssocConfig) -> String {
    let target = target_text(&a.target);
    let mut what = match (a.kind, &a.target) {
        (
            _,
            Target::RefClock {
                clock_type: 1,
                unit,
            },
        ) => {
            return format!(
                "the local clock driver LOCAL({unit}): this host's own clock as a source, used \
                 only when no other source survives; it drifts freely, so clients trust an \
                 undisciplined clock ('tos orphan' is the modern answer)"
            )
        }
        (_, Target::RefClock { clock_type, .. }) => {
            let name = super::refclocks::clock_type_name(*clock_type).unwrap_or("unknown");
            return format!(
                "reference clock driver type {clock_type} ({name}) (not supported: ignored)"
            );
        }
        (AssocKind::Server, _) => format!("polls {target} as a server (client mode)"),
        (AssocKind::Peer, _) => {
            format!("a symmetric association with {target}: each host may take time from the other")
        }
        (AssocKind::Pool, _) => {
            format!("polls several servers {target} resolves to (up to 'tos maxclock')")
        }
        (AssocKind::Broadcast, _) => {
            return format!("sends broadcast time to {target} (not supported yet: ignored)")
        }
        (AssocKind::ManycastClient, _) => {
            return format!("solicits manycast servers at {target} (not supported yet: ignored)")
        }
    };
    let min = a.minpoll.map_or(6, |p| p.0);
    let max = a.maxpoll.map_or(10, |p| p.0);
    what += &format!(
        ", every {} s (minpoll {min}) to {} s (maxpoll {max})",
        1u64 << min.clamp(0, 17),
        1u64 << max.clamp(0, 17)
    );
    let options = [
        (
            a.iburst,
            "iburst: 8 requests 2 s apart at start, so the first sync takes seconds",
        ),
        (a.burst, "burst: 8 requests per poll"),
        (
            a.prefer,
            "prefer: chosen as system peer whenever it survives selection",
        ),
        (a.noselect, "noselect: watched, never used"),
        (a.true_, "true: never declared a falseticker"),
        (
            a.xleave,
            "xleave: interleaved mode (not supported: basic mode is used)",
        ),
        (a.autokey, "autokey (not implemented: ignored)"),
    ];
    for (on, words) in options {
        if on {
            what += "; ";
            what += words;
        }
    }
    if let Some(k) = a.key {
        what += &format!(
            "; key {k}: requests are signed and only replies signed with key {k} are used"
        );
    }
    if let Some(v) = a.version {
        what += &format!("; sends NTP version {v}");
    }
    what
}

fn restrict(r: &RestrictEntry, limits: RateLimits) -> String {
    let mut words = format!("{} {}", who(r), rights(r.flags));
    for c in conditions(r.flags, limits) {
        words += "; ";
        words += &c;
    }
    words
}

fn fudge(f: &Fudge) -> String {
    let mut parts = Vec::new();
    if let Some(s) = f.stratum {
        parts.push(format!(
            "claims stratum {s}, so this host serves stratum {} while it is the source",
            u16::from(s) + 1
        ));
    }
    if let Some(r) = f.refid {
        let text: String = r
            .iter()
            .filter(|b| **b != 0)
            .map(|b| char::from(*b))
            .collect();
        parts.push(format!("refid {text}"));
    }
    if let Some(t) = f.time1 {
        parts.push(format!("time1: its readings are corrected by {}", secs(t)));
    }
    if let Some(t) = f.time2 {
        parts.push(format!("time2 {} (not used by LOCAL)", secs(t)));
    }
    if f.flags.iter().any(Option::is_some) {
        parts.push("flag1-4 (not used by LOCAL)".into());
    }
    let clock = if f.clock_type == 1 {
        format!("LOCAL({})", f.unit)
    } else {
        format!("reference clock 127.127.{}.{}", f.clock_type, f.unit)
    };
    format!("{clock} {}", parts.join("; "))
}

fn filegen(f: &Filegen) -> String {
    let mut words = format!("the {} statistics file", f.name.keyword());
    if let Some(file) = &f.file {
        words += &format!(" is named {file}");
    }
    if let Some(kind) = f.kind {
        words += &format!(", a new one per {kind:?}").to_lowercase();
    }
    match f.enable {
        Some(true) => words += ", enabled",
        Some(false) => words += ", disabled",
        None => {}
    }
    if f.link == Some(true) {
        words += ", the plain name linked to the current one";
    }
    words
}

fn switch_words(f: SystemFlag) -> &'static str {
    match f {
        SystemFlag::Auth => {
            "authentication before a symmetric peer or broadcast server is mobilised"
        }
        SystemFlag::Bclient => "listening for broadcast servers",
        SystemFlag::Calibrate => "refclock calibration",
        SystemFlag::Kernel => "the kernel time discipline",
        SystemFlag::Mode7 => {
            "mode 7 (ntpdc) queries from other hosts (this host is always answered)"
        }
        SystemFlag::Monitor => "the MRU list of clients (ntpq mrulist) that 'limited' also needs",
        SystemFlag::Ntp => "steering the clock (off: ntpd only serves and measures)",
        SystemFlag::Pps => "PPS signal processing",
        SystemFlag::Stats => "statistics files",
    }
}

fn switches(flags: &[SystemFlag], on: bool) -> String {
    let words: Vec<&str> = flags.iter().map(|f| switch_words(*f)).collect();
    let verb = if on { "turns on" } else { "turns off" };
    format!("{verb} {}", listed(&words, "and"))
}

fn tinker(t: &Tinker) -> String {
    let mut parts = Vec::new();
    if let Some(p) = t.panic {
        parts.push(if p.to_secs_f64() == 0.0 {
            "panic 0: no offset is too large to correct".to_string()
        } else {
            format!(
                "panic: an offset over {} makes ntpd exit (unless -g)",
                secs(p)
            )
        });
    }
    if let Some(s) = t.step {
        parts.push(if s.to_secs_f64() == 0.0 {
            "step 0: never step, always slew".to_string()
        } else {
            format!(
                "step: offsets over {} are stepped, smaller ones slewed",
                secs(s)
            )
        });
    }
    if let Some(s) = t.stepout {
        parts.push(format!(
            "stepout: an offset must persist {} before a step",
            secs(s)
        ));
    }
    if let Some(d) = t.dispersion {
        parts.push(format!("dispersion: grows {} PPM", d.0));
    }
    if let Some(a) = t.allan {
        parts.push(format!("allan: the Allan intercept is 2^{a} s"));
    }
    if let Some(h) = t.huffpuff {
        parts.push(format!(
            "huffpuff: asymmetric delays filtered over {}",
            secs(h)
        ));
    }
    if let Some(f) = t.freq {
        parts.push(format!("freq: start from a frequency of {} PPM", f.0));
    }
    format!("clock discipline: {}", parts.join("; "))
}

fn tos(t: &Tos) -> String {
    let mut parts = Vec::new();
    if let Some(d) = t.maxdist {
        parts.push(format!(
            "maxdist: sources with a root distance over {} are not used (default 1.5 s)",
            secs(d)
        ));
    }
    if let Some(n) = t.minsane {
        parts.push(format!(
            "minsane: the clock is set only with {n} sources agreeing"
        ));
    }
    if let Some(n) = t.minclock {
        parts.push(format!("minclock: clustering keeps at least {n} sources"));
    }
    if let Some(n) = t.maxclock {
        parts.push(format!(
            "maxclock: at most {n} sources take part (and pool servers)"
        ));
    }
    if let Some(d) = t.mindist {
        parts.push(format!(
            "mindist: every root distance counts at least {}",
            secs(d)
        ));
    }
    if let Some(c) = t.ceiling {
        parts.push(format!(
            "ceiling: sources of stratum {c} and above are not used"
        ));
    }
    if let Some(f) = t.floor {
        parts.push(format!("floor: sources below stratum {f} are not used"));
    }
    if let Some(o) = t.orphan {
        parts.push(format!(
            "orphan: with no real source left, serve stratum {o} (orphan mode), so a cut-off network keeps one time"
        ));
    }
    if let Some(w) = t.orphanwait {
        parts.push(format!(
            "orphanwait: orphan mode waits {} after start",
            secs(w)
        ));
    }
    if let Some(b) = t.beacon {
        parts.push(format!(
            "beacon: {} (broadcast/manycast; not used)",
            secs(b)
        ));
    }
    if let Some(c) = t.cohort {
        parts.push(format!("cohort {}", u8::from(c)));
    }
    format!("selection: {}", parts.join("; "))
}

fn discard(d: &Discard) -> String {
    let mut parts = Vec::new();
    if d.average.is_some() || d.minimum.is_some() {
        parts.push(format!(
            "for 'restrict ... limited' lines {} (4.2.6p5 reads both numbers as log2 seconds)",
            rate_words(d.rate_limits())
        ));
    }
    if let Some(m) = d.monitor {
        parts.push(format!(
            "monitor {m}: not used (the MRU list recycles its oldest entry)"
        ));
    }
    parts.join("; ")
}

fn interface(rule: &InterfaceRule) -> String {
    let what = match &rule.matcher {
        InterfaceMatch::All => "every address".to_string(),
        InterfaceMatch::Ipv4 => "every IPv4 address".to_string(),
        InterfaceMatch::Ipv6 => "every IPv6 address".to_string(),
        InterfaceMatch::Wildcard => "the wildcard address".to_string(),
        InterfaceMatch::Name(n) => format!("the addresses of interface {n}"),
        InterfaceMatch::Addr { addr, prefix: None } => format!("address {addr}"),
        InterfaceMatch::Addr {
            addr,
            prefix: Some(p),
        } => format!("addresses in {addr}/{p}"),
    };
    match rule.action {
        InterfaceAction::Listen => format!("listens on {what}"),
        InterfaceAction::Ignore => format!("does not open sockets on {what}"),
        InterfaceAction::Drop => format!("opens {what} but drops what arrives there"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_a_file_and_its_include() {
        let main = "driftfile /var/lib/ntp/drift\n\
                    restrict 172.25.0.0 mask 255.255.255.0 nomodify # the LAN\n\
                    server 127.127.1.0\nincludefile /etc/ntp/more.conf\n";
        let more = "tos maxdist 16\n";
        let mut read = |p: &Path| match p.to_str() {
            Some("/etc/ntp.conf") => Ok(main.as_bytes().to_vec()),
            Some("/etc/ntp/more.conf") => Ok(more.as_bytes().to_vec()),
            _ => Err(io::ErrorKind::NotFound.into()),
        };
        let got = explain(Path::new("/etc/ntp.conf"), &mut read, RateLimits::default());
        let shown: Vec<String> = got
            .iter()
            .map(|e| format!("{}: {}", e.location, e.text))
            .collect();
        assert_eq!(
            shown,
            [
                "/etc/ntp.conf:1: driftfile /var/lib/ntp/drift",
                "/etc/ntp.conf:2: restrict 172.25.0.0 mask 255.255.255.0 nomodify",
                "/etc/ntp.conf:3: server 127.127.1.0",
                "/etc/ntp.conf:4: includefile /etc/ntp/more.conf",
                "/etc/ntp/more.conf:1: tos maxdist 16",
            ]
        );
        assert_eq!(
            got[1].meaning,
            "hosts in 172.25.0.0/24 may get time and query, may not modify"
        );
        assert!(got[2]
            .meaning
            .starts_with("the local clock driver LOCAL(0)"));
        assert_eq!(
            got[4].meaning,
            "selection: maxdist: sources with a root distance over 16 s are not used (default 1.5 s)"
        );
    }

    #[test]
    fn servers_and_rates_in_words() {
        let (stmts, _) = parse_bytes(
            b"server 10.0.0.1 iburst minpoll 4 key 3\nrestrict default limited kod\n",
            "ntp.conf",
        );
        assert_eq!(
            meaning(&stmts[0].directive, RateLimits::default()),
            "polls 10.0.0.1 as a server (client mode), every 16 s (minpoll 4) to 1024 s \
             (maxpoll 10); iburst: 8 requests 2 s apart at start, so the first sync takes \
             seconds; key 3: requests are signed and only replies signed with key 3 are used"
        );
        assert_eq!(
            meaning(&stmts[1].directive, RateLimits::default()),
            "every other host (IPv4 and IPv6) may get time, query and modify; limited: clients must average 8 s between packets and keep them at \
             least 2 s apart ('discard'); kod: a client over the rate gets a kiss-o'-death RATE \
             (at most one per interval)"
        );
    }
}
