//! Variable names, their order and their text, as classic ntpd 4.2.6p5 reports them.
//!
//! Two orders matter: the *default* list (what a READVAR with no names returns) and the
//! *table* order, in which the server returns named variables whatever order they were
//! asked in (`rv 0 stratum,offset,refid` -> `stratum, refid, offset`).

use super::state::{ClockVars, PeerVars, SystemVars};
use crate::time::NtpDuration;
use crate::wire::varlist::VarWriter;

fn ms(d: NtpDuration) -> f64 {
    d.to_secs_f64() * 1e3
}

/// System variables in classic table order (named requests are answered in this order).
pub const SYS_TABLE: [&str; 19] = [
    "leap",
    "stratum",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "tc",
    "peer",
    "offset",
    "frequency",
    "sys_jitter",
    "clk_jitter",
    "clock",
    "processor",
    "system",
    "version",
    "clk_wander",
    "mintc",
];

/// What `rv 0` returns.
pub const SYS_DEFAULT: [&str; 19] = [
    "version",
    "processor",
    "system",
    "leap",
    "stratum",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "clock",
    "peer",
    "tc",
    "mintc",
    "offset",
    "frequency",
    "sys_jitter",
    "clk_jitter",
    "clk_wander",
];

/// Peer variables in classic table order, then ours (never in the default list).
pub const PEER_TABLE: [&str; 30] = [
    "srcadr",
    "srcport",
    "dstadr",
    "dstport",
    "leap",
    "hmode",
    "stratum",
    "ppoll",
    "hpoll",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "rec",
    "reach",
    "unreach",
    "delay",
    "offset",
    "jitter",
    "dispersion",
    "keyid",
    "filtdelay",
    "filtoffset",
    "pmode",
    "filtdisp",
    "flash",
    "headway",
    "xleave",
    "reason",
];

/// What `rv <assoc>` returns.
pub const PEER_DEFAULT: [&str; 29] = [
    "srcadr",
    "srcport",
    "dstadr",
    "dstport",
    "leap",
    "stratum",
    "precision",
    "rootdelay",
    "rootdisp",
    "refid",
    "reftime",
    "rec",
    "reach",
    "unreach",
    "hmode",
    "pmode",
    "hpoll",
    "ppoll",
    "headway",
    "flash",
    "keyid",
    "offset",
    "delay",
    "dispersion",
    "jitter",
    "xleave",
    "filtdelay",
    "filtoffset",
    "filtdisp",
];

/// Clock variables, in both default and table order.
pub const CLOCK_TABLE: [&str; 11] = [
    "device",
    "timecode",
    "poll",
    "noreply",
    "badformat",
    "baddata",
    "fudgetime1",
    "fudgetime2",
    "stratum",
    "refid",
    "flags",
];

/// Writes one system variable.
pub fn put_sys(w: &mut VarWriter, name: &str, s: &SystemVars) {
    match name {
        "leap" => w.uint(name, u64::from(s.leap)),
        "stratum" => w.uint(name, u64::from(s.stratum)),
        "precision" => w.int(name, i64::from(s.precision)),
        "rootdelay" => w.dbl(name, ms(s.root_delay)),
        "rootdisp" => w.dbl(name, ms(s.root_dispersion)),
        "refid" if (2..16).contains(&s.stratum) => w.refid_addr(name, s.refid),
        "refid" => w.refid_text(name, s.refid),
        "reftime" => w.timestamp(name, s.reftime),
        "clock" => w.timestamp(name, s.clock),
        "tc" => w.int(name, i64::from(s.tc)),
        "mintc" => w.int(name, i64::from(s.mintc)),
        "peer" => w.uint(name, u64::from(s.peer)),
        "offset" => w.dbl(name, ms(s.offset)),
        "frequency" => w.dbl(name, s.frequency.0),
        "sys_jitter" => w.dbl(name, ms(s.sys_jitter)),
        "clk_jitter" => w.dbl(name, ms(s.clk_jitter)),
        "clk_wander" => w.dbl(name, s.clk_wander.0),
        "processor" => w.string(name, &s.processor),
        "system" => w.string(name, &s.system),
        "version" => w.string(name, &s.version),
        _ => {}
    }
}

fn filter(w: &mut VarWriter, name: &str, values: &[NtpDuration; 8]) {
    let ms: Vec<f64> = values.iter().map(|d| ms(*d)).collect();
    w.array(name, &ms);
}

/// Writes one peer variable.
pub fn put_peer(w: &mut VarWriter, name: &str, p: &PeerVars) {
    let dst = p.dstadr;
    match name {
        "srcadr" => w.addr(name, p.srcadr.ip()),
        "srcport" => w.uint(name, u64::from(p.srcadr.port())),
        "dstadr" => match dst {
            Some(a) => w.addr(name, a.ip()),
            None => w.item("dstadr=0.0.0.0"),
        },
        "dstport" => w.uint(name, u64::from(dst.map_or(0, |a| a.port()))),
        "leap" => w.uint(name, u64::from(p.leap)),
        "hmode" => w.uint(name, u64::from(p.hmode)),
        "pmode" => w.uint(name, u64::from(p.pmode)),
        "stratum" => w.uint(name, u64::from(p.stratum)),
        "ppoll" => w.int(name, i64::from(p.ppoll)),
        "hpoll" => w.int(name, i64::from(p.hpoll)),
        "precision" => w.int(name, i64::from(p.precision)),
        "rootdelay" => w.dbl(name, ms(p.root_delay)),
        "rootdisp" => w.dbl(name, ms(p.root_dispersion)),
        "refid" if !p.is_refclock && (2..16).contains(&p.stratum) => {
            w.refid_addr(name, p.refid);
        }
        "refid" => w.refid_text(name, p.refid),
        "reftime" => w.timestamp(name, p.reftime),
        "rec" => w.timestamp(name, p.rec),
        "reach" => w.hex(name, u64::from(p.reach)),
        "unreach" => w.uint(name, u64::from(p.unreach)),
        "headway" => w.uint(name, u64::from(p.headway)),
        "flash" => w.hex(name, u64::from(p.flash)),
        "keyid" => w.uint(name, u64::from(p.keyid)),
        "offset" => w.dbl(name, ms(p.offset)),
        "delay" => w.dbl(name, ms(p.delay)),
        "dispersion" => w.dbl(name, ms(p.dispersion)),
        "jitter" => w.dbl(name, ms(p.jitter)),
        "xleave" => {
            if let Some(x) = p.xleave {
                w.dbl(name, ms(x));
            }
        }
        "filtdelay" => filter(w, name, &p.filtdelay),
        "filtoffset" => filter(w, name, &p.filtoffset),
        "filtdisp" => filter(w, name, &p.filtdisp),
        "reason" => w.string(name, &p.reason),
        _ => {}
    }
}

/// Writes one clock variable (optional ones are skipped when unset).
pub fn put_clock(w: &mut VarWriter, name: &str, c: &ClockVars) {
    match name {
        "device" => w.string(name, &c.device),
        "timecode" => w.string(name, &c.timecode),
        "poll" => w.uint(name, u64::from(c.poll)),
        "noreply" => w.uint(name, u64::from(c.noreply)),
        "badformat" => w.uint(name, u64::from(c.badformat)),
        "baddata" => w.uint(name, u64::from(c.baddata)),
        "fudgetime1" => {
            if let Some(t) = c.fudgetime1 {
                w.dbl(name, ms(t));
            }
        }
        "fudgetime2" => {
            if let Some(t) = c.fudgetime2 {
                w.dbl(name, ms(t));
            }
        }
        "stratum" => {
            if let Some(s) = c.stratum {
                w.uint(name, u64::from(s));
            }
        }
        // As classic's ctl_putclock: an address above stratum 1 (LOCAL's), text below.
        "refid" => match (c.refid, c.stratum) {
            (Some(r), Some(0 | 1)) => w.refid_text(name, r),
            (Some(r), _) => w.refid_addr(name, r),
            (None, _) => {}
        },
        "flags" => w.uint(name, u64::from(c.flags)),
        _ => {}
    }
}
