//! The items of each read request, built from the same snapshot mode 6 reads
//! ([`ControlState`]), so ntpdc, ntpq and the metrics page agree on every number.

use crate::control::{ControlState, PeerVars};
use crate::time::NtpDuration;
use crate::wire::mode7::{
    l_fp, peer_flag, peer_hash, s_fp, u_fp, IoStats, KernelInfo, LoopInfo, MemStats, PeerInfo,
    PeerListItem, PeerSummary, SysInfo, SysStats, TimerStats, HASH_SIZE, STA_PLL, STA_UNSYNC,
};
use std::net::{IpAddr, Ipv4Addr};

/// Classic's select code of the system peer and of a candidate (CTL_PST_SEL_*).
const SEL_SYS_PEER: u8 = 6;
const SEL_CANDIDATE: u8 = 4;
/// The kernel's MAXPHASE-era ceiling for its error estimates, in microseconds (16 s),
/// what an unsynchronised kernel reports.
const MAX_ERROR_US: f64 = 16_000_000.0;
/// The kernel's frequency tolerance (MAXFREQ, 500 PPM) in 16.16.
const TOLERANCE: i32 = 500 << 16;

fn secs(d: NtpDuration) -> f64 {
    d.to_secs_f64()
}

fn saturate(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn unspecified() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

/// Every association's variables, in ntpd's order.
fn peers(state: &dyn ControlState) -> Vec<PeerVars> {
    state
        .associations()
        .into_iter()
        .filter_map(|(id, _)| state.peer(id))
        .collect()
}

/// Classic's INFO_FLAG_* of an association; `sys_peer` is the system peer's ID. SYSPEER
/// marks that association (`pp == sys_peer`), not the sys.peer status: while a PPS peer is
/// in charge the prefer peer keeps that status but is not the system peer.
fn flags(v: &PeerVars, sys_peer: u16) -> u8 {
    let s = v.status;
    let mut f = 0;
    for (on, bit) in [
        (s.configured, peer_flag::CONFIG),
        (v.assoc_id == sys_peer, peer_flag::SYSPEER),
        (v.is_refclock, peer_flag::REFCLOCK),
        (s.auth_enabled, peer_flag::AUTHENABLE),
        (s.select == SEL_CANDIDATE, peer_flag::SEL_CANDIDATE),
        (s.select >= SEL_SYS_PEER, peer_flag::SHORTLIST),
    ] {
        if on {
            f |= bit;
        }
    }
    f
}

pub fn peer_list(state: &dyn ControlState, v6: bool) -> Vec<Vec<u8>> {
    let sys_peer = state.system().peer;
    peers(state)
        .iter()
        .filter(|v| v6 || v.srcadr.is_ipv4())
        .map(|v| {
            PeerListItem {
                addr: v.srcadr.ip(),
                port: v.srcadr.port(),
                hmode: v.hmode,
                flags: flags(v, sys_peer),
            }
            .encode(v6)
        })
        .collect()
}

pub fn peer_list_sum(state: &dyn ControlState, v6: bool) -> Vec<Vec<u8>> {
    let sys_peer = state.system().peer;
    peers(state)
        .iter()
        .filter(|v| v6 || v.srcadr.is_ipv4())
        .map(|v| {
            PeerSummary {
                dstadr: v.dstadr.map_or(unspecified(), |a| a.ip()),
                srcadr: v.srcadr.ip(),
                srcport: v.srcadr.port(),
                stratum: v.stratum,
                hpoll: v.hpoll,
                ppoll: v.ppoll,
                reach: v.reach,
                flags: flags(v, sys_peer),
                hmode: v.hmode,
                delay: s_fp(secs(v.delay)),
                offset: v.offset.to_bits() as u64,
                dispersion: u_fp(secs(v.dispersion)),
            }
            .encode(v6)
        })
        .collect()
}

/// `REQ_PEER_INFO` for the associations whose address `wanted` lists (classic looks each
/// up; unknown ones are skipped).
pub fn peer_info(state: &dyn ControlState, wanted: &[IpAddr], v6: bool) -> Vec<Vec<u8>> {
    let sys_peer = state.system().peer;
    peers(state)
        .iter()
        .filter(|v| wanted.contains(&v.srcadr.ip()) && (v6 || v.srcadr.is_ipv4()))
        .map(|v| info(v, sys_peer).encode(v6))
        .collect()
}

fn info(v: &PeerVars, sys_peer: u16) -> PeerInfo {
    PeerInfo {
        dstadr: Some(v.dstadr.map_or(unspecified(), |a| a.ip())),
        srcadr: Some(v.srcadr.ip()),
        srcport: v.srcadr.port(),
        flags: flags(v, sys_peer),
        leap: v.leap,
        hmode: v.hmode,
        pmode: v.pmode,
        stratum: v.stratum,
        ppoll: v.ppoll,
        hpoll: v.hpoll,
        precision: v.precision,
        version: 4,
        reach: v.reach,
        unreach: v.unreach.min(255) as u8,
        ttl: 0,
        flash: v.flash,
        associd: v.assoc_id,
        keyid: v.keyid,
        refid: v.refid.0,
        timer: 0,
        rootdelay: s_fp(secs(v.root_delay)),
        rootdispersion: u_fp(secs(v.root_dispersion)),
        reftime: v.reftime.to_bits(),
        org: 0,
        rec: v.rec.to_bits(),
        xmt: 0,
        filtdelay: v.filtdelay.map(|d| s_fp(secs(d))),
        filtoffset: v.filtoffset.map(|o| o.to_bits() as u64),
        order: [0, 1, 2, 3, 4, 5, 6, 7],
        delay: s_fp(secs(v.delay)),
        dispersion: u_fp(secs(v.dispersion)),
        offset: v.offset.to_bits() as u64,
        selectdisp: u_fp(secs(v.jitter)),
        estbdelay: 0,
    }
}

pub fn sys_info(state: &dyn ControlState, system_flags: u8, v6: bool) -> Vec<u8> {
    let sys = state.system();
    let peer = (sys.peer != 0).then(|| state.peer(sys.peer)).flatten();
    SysInfo {
        peer: peer.as_ref().map_or(unspecified(), |p| p.srcadr.ip()),
        peer_mode: peer.as_ref().map_or(0, |p| p.hmode),
        leap: sys.leap,
        stratum: sys.stratum,
        precision: sys.precision,
        rootdelay: s_fp(secs(sys.root_delay)),
        rootdispersion: u_fp(secs(sys.root_dispersion)),
        refid: sys.refid.0,
        reftime: sys.reftime.to_bits(),
        poll: u32::from(sys.tc.max(0).unsigned_abs()),
        flags: system_flags,
        bdelay: 0,
        frequency: s_fp(secs(sys.sys_jitter)),
        authdelay: 0,
        stability: u_fp(sys.clk_wander.0),
    }
    .encode(v6)
}

pub fn sys_stats(state: &dyn ControlState) -> Vec<u8> {
    let s = state.stats();
    let p = s.packets;
    SysStats {
        timeup: saturate(s.uptime),
        timereset: saturate(s.since_reset),
        denied: saturate(p.restricted),
        oldversionpkt: saturate(p.old_version),
        newversionpkt: saturate(p.this_version),
        unknownversion: saturate(p.declined),
        badlength: saturate(p.bad_format),
        processed: saturate(p.processed),
        badauth: saturate(p.bad_auth),
        received: saturate(p.received),
        limitrejected: saturate(p.rate_limited),
    }
    .encode()
}

/// The receive buffer figures describe classic's buffer pool; this daemon reads into one
/// buffer, so it reports one, free.
pub fn io_stats(state: &dyn ControlState) -> Vec<u8> {
    let s = state.stats();
    let io = s.io;
    IoStats {
        timereset: saturate(s.since_reset),
        totalrecvbufs: 1,
        freerecvbufs: 1,
        fullrecvbufs: 0,
        lowwater: 0,
        dropped: saturate(io.dropped),
        ignored: saturate(io.ignored),
        received: saturate(io.received),
        sent: saturate(io.sent),
        notsent: saturate(io.send_failed),
        interrupts: saturate(io.wakeups.max(io.received)),
        int_received: saturate(io.good_wakeups.max(io.received)),
    }
    .encode()
}

/// Associations are allocated one by one here (no free list), so the "peer memory" is
/// the associations in use, none free.
pub fn mem_stats(state: &dyn ControlState) -> Vec<u8> {
    let s = state.stats();
    let peers = peers(state);
    let mut hashcount = [0u8; HASH_SIZE];
    for p in &peers {
        let slot = &mut hashcount[peer_hash(p.srcadr.ip())];
        *slot = slot.saturating_add(1);
    }
    let n = u16::try_from(peers.len()).unwrap_or(u16::MAX);
    MemStats {
        timereset: saturate(s.since_reset),
        totalpeermem: n,
        freepeermem: 0,
        findpeer_calls: 0,
        allocations: u32::from(n),
        demobilizations: 0,
        hashcount,
    }
    .encode()
}

/// `watchdog timer` is the seconds since the clock was last updated (classic: since
/// `sys_epoch`), from the reference time; since start while there was none.
pub fn loop_info(state: &dyn ControlState) -> Vec<u8> {
    let sys = state.system();
    let watchdog = if sys.reftime.is_zero() {
        state.stats().uptime
    } else {
        secs(sys.clock - sys.reftime).max(0.0) as u64
    };
    LoopInfo {
        last_offset: sys.offset.to_bits() as u64,
        drift_comp: l_fp(sys.frequency.0),
        compliance: 0,
        watchdog_timer: saturate(watchdog),
    }
    .encode()
}

pub fn timer_stats(state: &dyn ControlState) -> Vec<u8> {
    let s = state.stats();
    TimerStats {
        timereset: saturate(s.since_reset),
        alarms: saturate(s.uptime),
        overflows: saturate(s.timer_overruns),
        xmtcalls: saturate(s.timer_xmts),
    }
    .encode()
}

/// The kernel discipline as this daemon drives it: the offset and frequency its
/// discipline hands the kernel, the error estimates it reports to it (root distance and
/// jitter), PLL mode while synchronised. It is built from the discipline rather than read
/// back with ntp_adjtime, so a `--virtual-clock` daemon reports the clock it steers.
pub fn kernel_info(state: &dyn ControlState) -> Vec<u8> {
    let sys = state.system();
    let synced = sys.leap != 3;
    let us = |d: f64| (d * 1e6).round().clamp(-MAX_ERROR_US, MAX_ERROR_US) as i32;
    let (maxerror, esterror) = if synced {
        let distance = secs(sys.root_delay) / 2.0 + secs(sys.root_dispersion);
        (us(distance), us(secs(sys.sys_jitter)))
    } else {
        (MAX_ERROR_US as i32, MAX_ERROR_US as i32)
    };
    KernelInfo {
        offset: us(secs(sys.offset)),
        freq: s_fp(sys.frequency.0),
        maxerror,
        esterror,
        status: if synced { STA_PLL } else { STA_UNSYNC },
        constant: i32::from((sys.tc - 4).max(0)),
        precision: 1,
        tolerance: TOLERANCE,
        ..KernelInfo::default()
    }
    .encode()
}
