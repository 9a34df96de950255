//! Mode 7 ("private", ntpdc's protocol): classic 4.2.6p5's `ntp_request.h`, the packet
//! header and the information structures the read requests return. Both our server
//! (`crate::mode7`) and our ntpdc use it, so the two cannot disagree about a layout.
//!
//! Every structure is big-endian on the wire with classic's C layout (no padding: all
//! fields fall on their natural alignment). Structures with a `v6_flag` have a short,
//! IPv4-only form (everything before `v6_flag`) for `IMPL_XNTPD_OLD` clients.
//! Fixed-point fields are kept raw (`s_fp`/`u_fp` 16.16, `l_fp` 32.32) and converted with
//! [`s_fp`], [`u_fp`], [`l_fp`] and their inverses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The request and response header: rm_vn_mode, auth_seq, implementation, request,
/// err_nitems, mbz_itemsize.
pub const HEADER_LEN: usize = 8;
/// Data octets in one response packet (classic RESP_DATA_SIZE).
pub const RESP_DATA_SIZE: usize = 500;
/// What classic's ntpdc sends unauthenticated: the header, 176 data octets and an 8-octet
/// timestamp (REQ_LEN_NOMAC).
pub const REQ_LEN_NOMAC: usize = 192;
/// The highest response sequence number (classic MAXSEQ).
pub const MAX_SEQ: u8 = 127;

/// Implementation numbers.
pub const IMPL_UNIV: u8 = 0;
pub const IMPL_XNTPD_OLD: u8 = 2;
pub const IMPL_XNTPD: u8 = 3;

/// Request codes this crate names (see [`is_write`] for the writes).
pub mod code {
    pub const PEER_LIST: u8 = 0;
    pub const PEER_LIST_SUM: u8 = 1;
    pub const PEER_INFO: u8 = 2;
    pub const SYS_INFO: u8 = 4;
    pub const SYS_STATS: u8 = 5;
    pub const IO_STATS: u8 = 6;
    pub const MEM_STATS: u8 = 7;
    pub const LOOP_INFO: u8 = 8;
    pub const TIMER_STATS: u8 = 9;
    pub const CONFIG: u8 = 10;
    pub const GET_RESTRICT: u8 = 16;
    pub const MON_GETLIST: u8 = 20;
    pub const GET_KERNEL: u8 = 38;
    pub const MON_GETLIST_1: u8 = 42;
    pub const IF_STATS: u8 = 44;
}

/// Whether classic's request table marks `request` AUTH: every configuration change
/// (config, unconfig, sys flags, restrict, reset, keys, traps, fudge, precision) plus the
/// interface list and reload, which 4.2.6p5 also guards.
pub fn is_write(request: u8) -> bool {
    matches!(request, 10..=15 | 17..=19 | 21..=27 | 30..=33 | 37 | 41 | 44 | 45)
}

/// Classic error codes (INFO_ERR_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoError {
    /// Implementation not known.
    Impl = 1,
    /// Request not implemented.
    Req = 2,
    /// Bad format (item size, count, data).
    Fmt = 3,
    /// Nothing to return.
    NoData = 4,
    /// Authentication failure, or no key configured for writes.
    Auth = 7,
}

impl InfoError {
    pub fn from_code(c: u8) -> Option<InfoError> {
        Some(match c {
            1 => InfoError::Impl,
            2 => InfoError::Req,
            3 => InfoError::Fmt,
            4 => InfoError::NoData,
            7 => InfoError::Auth,
            _ => return None,
        })
    }
}

/// A mode 7 header, request or response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub response: bool,
    pub more: bool,
    pub version: u8,
    pub authenticated: bool,
    pub sequence: u8,
    pub implementation: u8,
    pub request: u8,
    /// The error code (4 bits).
    pub error: u8,
    pub nitems: u16,
    /// Must be zero (4 bits).
    pub mbz: u8,
    pub item_size: u16,
}

impl Header {
    /// The header of `bytes`, if it is a mode 7 packet of at least a header.
    pub fn decode(bytes: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        if b[0] & 7 != 7 {
            return None;
        }
        let err_nitems = u16::from_be_bytes([b[4], b[5]]);
        let mbz_itemsize = u16::from_be_bytes([b[6], b[7]]);
        Some(Header {
            response: b[0] & 0x80 != 0,
            more: b[0] & 0x40 != 0,
            version: (b[0] >> 3) & 7,
            authenticated: b[1] & 0x80 != 0,
            sequence: b[1] & 0x7f,
            implementation: b[2],
            request: b[3],
            error: (err_nitems >> 12) as u8,
            nitems: err_nitems & 0xfff,
            mbz: (mbz_itemsize >> 12) as u8,
            item_size: mbz_itemsize & 0xfff,
        })
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let first = (u8::from(self.response) << 7)
            | (u8::from(self.more) << 6)
            | ((self.version & 7) << 3)
            | 7;
        let err_nitems = (u16::from(self.error & 0xf) << 12) | (self.nitems & 0xfff);
        let mbz_itemsize = (u16::from(self.mbz & 0xf) << 12) | (self.item_size & 0xfff);
        let e = err_nitems.to_be_bytes();
        let m = mbz_itemsize.to_be_bytes();
        [
            first,
            (u8::from(self.authenticated) << 7) | (self.sequence & 0x7f),
            self.implementation,
            self.request,
            e[0],
            e[1],
            m[0],
            m[1],
        ]
    }
}

/// A request as ntpdc sends it: the header, `items` in the data area (zero padded to 176
/// octets) and a zero timestamp: [`REQ_LEN_NOMAC`] octets.
pub fn request(implementation: u8, request: u8, item_size: u16, items: &[Vec<u8>]) -> Vec<u8> {
    let header = Header {
        version: 2,
        implementation,
        request,
        nitems: items.len() as u16,
        item_size,
        ..Header::default()
    };
    let mut out = header.encode().to_vec();
    for item in items {
        out.extend_from_slice(item);
    }
    out.resize(REQ_LEN_NOMAC.max(out.len()), 0);
    out
}

/// 16.16 signed fixed point of `secs` (saturating).
pub fn s_fp(secs: f64) -> i32 {
    (secs * 65536.0)
        .round()
        .clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// 16.16 unsigned fixed point of `secs` (saturating, negative as 0).
pub fn u_fp(secs: f64) -> u32 {
    (secs * 65536.0).round().clamp(0.0, u32::MAX as f64) as u32
}

/// 32.32 fixed point of `secs`, two's complement for negative values (classic l_fp).
pub fn l_fp(secs: f64) -> u64 {
    let v = (secs * 4_294_967_296.0).round();
    (v.clamp(i64::MIN as f64, i64::MAX as f64) as i64) as u64
}

pub fn from_s_fp(v: i32) -> f64 {
    f64::from(v) / 65536.0
}

pub fn from_u_fp(v: u32) -> f64 {
    f64::from(v) / 65536.0
}

pub fn from_l_fp(v: u64) -> f64 {
    (v as i64) as f64 / 4_294_967_296.0
}

/// Appends big-endian fields.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// The classic v4 address field (0 for IPv6).
    fn v4(&mut self, a: IpAddr) -> &mut Self {
        match a {
            IpAddr::V4(v4) => self.bytes(&v4.octets()),
            IpAddr::V6(_) => self.u32(0),
        }
    }
    /// `v6_flag`, the padding word and the v6 address fields: written only for
    /// `IMPL_XNTPD` clients.
    fn v6_tail(&mut self, v6: bool, addrs: &[IpAddr]) -> Vec<u8> {
        if v6 {
            let is_v6 = addrs.last().is_some_and(IpAddr::is_ipv6);
            self.u32(u32::from(is_v6)).u32(0);
            for a in addrs {
                match a {
                    IpAddr::V6(v6) => self.bytes(&v6.octets()),
                    IpAddr::V4(_) => self.bytes(&[0; 16]),
                };
            }
        }
        std::mem::take(&mut self.0)
    }
}

/// Reads big-endian fields; every read past the end yields None.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
    fn v4(&mut self) -> Option<Ipv4Addr> {
        self.take::<4>().map(Ipv4Addr::from)
    }
    /// The v6 tail: `(v6_flag, addresses)`, or none when the item is the short form.
    fn v6_tail<const N: usize>(&mut self) -> Option<[Ipv6Addr; N]> {
        let flag = self.u32()?;
        self.u32()?;
        let mut out = [Ipv6Addr::UNSPECIFIED; N];
        for a in &mut out {
            *a = Ipv6Addr::from(self.take::<16>()?);
        }
        (flag != 0).then_some(out)
    }
}

/// Picks the v6 address when the item carries one, else the v4 field.
fn pick(v4: Ipv4Addr, v6: Option<Ipv6Addr>) -> IpAddr {
    v6.map_or(IpAddr::V4(v4), IpAddr::V6)
}

/// One association in `REQ_PEER_LIST` (and the item `REQ_PEER_INFO` asks with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerListItem {
    pub addr: IpAddr,
    pub port: u16,
    pub hmode: u8,
    pub flags: u8,
}

impl PeerListItem {
    pub const SIZE: usize = 32;
    pub const V4_SIZE: usize = 8;

    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.v4(self.addr).u16(self.port).u8(self.hmode).u8(self.flags);
        w.v6_tail(v6, &[self.addr])
    }

    pub fn decode(b: &[u8]) -> Option<PeerListItem> {
        let mut r = Reader(b);
        let (v4, port, hmode, flags) = (r.v4()?, r.u16()?, r.u8()?, r.u8()?);
        let v6 = r.v6_tail::<1>().map(|[a]| a);
        Some(PeerListItem {
            addr: pick(v4, v6),
            port,
            hmode,
            flags,
        })
    }
}

/// Peer flags (INFO_FLAG_*, the low octet).
pub mod peer_flag {
    pub const CONFIG: u8 = 0x01;
    pub const SYSPEER: u8 = 0x02;
    pub const BURST: u8 = 0x04;
    pub const REFCLOCK: u8 = 0x08;
    pub const PREFER: u8 = 0x10;
    pub const AUTHENABLE: u8 = 0x20;
    pub const SEL_CANDIDATE: u8 = 0x40;
    pub const SHORTLIST: u8 = 0x80;
}

/// System flags in [`SysInfo::flags`].
pub mod sys_flag {
    pub const BCLIENT: u8 = 0x01;
    pub const AUTHENTICATE: u8 = 0x02;
    pub const NTP: u8 = 0x04;
    pub const KERNEL: u8 = 0x08;
    pub const CAL: u8 = 0x10;
    pub const PPS_SYNC: u8 = 0x20;
    pub const MONITOR: u8 = 0x40;
    pub const FILEGEN: u8 = 0x80;
}

/// One association in `REQ_PEER_LIST_SUM` (ntpdc `peers`, collectd's per-peer values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    pub dstadr: IpAddr,
    pub srcadr: IpAddr,
    pub srcport: u16,
    pub stratum: u8,
    pub hpoll: i8,
    pub ppoll: i8,
    pub reach: u8,
    pub flags: u8,
    pub hmode: u8,
    /// s_fp seconds.
    pub delay: i32,
    /// l_fp seconds.
    pub offset: u64,
    /// u_fp seconds.
    pub dispersion: u32,
}

impl PeerSummary {
    pub const SIZE: usize = 72;
    pub const V4_SIZE: usize = 32;

    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.v4(self.dstadr)
            .v4(self.srcadr)
            .u16(self.srcport)
            .u8(self.stratum)
            .u8(self.hpoll as u8)
            .u8(self.ppoll as u8)
            .u8(self.reach)
            .u8(self.flags)
            .u8(self.hmode)
            .u32(self.delay as u32)
            .u64(self.offset)
            .u32(self.dispersion);
        w.v6_tail(v6, &[self.dstadr, self.srcadr])
    }

    pub fn decode(b: &[u8]) -> Option<PeerSummary> {
        let mut r = Reader(b);
        let (dst, src) = (r.v4()?, r.v4()?);
        let srcport = r.u16()?;
        let [stratum, hpoll, ppoll, reach, flags, hmode] = r.take::<6>()?;
        let (delay, offset, dispersion) = (r.u32()? as i32, r.u64()?, r.u32()?);
        let v6 = r.v6_tail::<2>();
        Some(PeerSummary {
            dstadr: pick(dst, v6.map(|a| a[0])),
            srcadr: pick(src, v6.map(|a| a[1])),
            srcport,
            stratum,
            hpoll: hpoll as i8,
            ppoll: ppoll as i8,
            reach,
            flags,
            hmode,
            delay,
            offset,
            dispersion,
        })
    }
}

/// One association in full (`REQ_PEER_INFO`, ntpdc `showpeer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerInfo {
    pub dstadr: Option<IpAddr>,
    pub srcadr: Option<IpAddr>,
    pub srcport: u16,
    pub flags: u8,
    pub leap: u8,
    pub hmode: u8,
    pub pmode: u8,
    pub stratum: u8,
    pub ppoll: i8,
    pub hpoll: i8,
    pub precision: i8,
    pub version: u8,
    pub reach: u8,
    pub unreach: u8,
    pub ttl: u8,
    pub flash: u16,
    pub associd: u16,
    pub keyid: u32,
    pub refid: [u8; 4],
    pub timer: u32,
    pub rootdelay: i32,
    pub rootdispersion: u32,
    pub reftime: u64,
    pub org: u64,
    pub rec: u64,
    pub xmt: u64,
    pub filtdelay: [i32; 8],
    pub filtoffset: [u64; 8],
    pub order: [u8; 8],
    pub delay: i32,
    pub dispersion: u32,
    pub offset: u64,
    pub selectdisp: u32,
    pub estbdelay: u32,
}

impl PeerInfo {
    pub const SIZE: usize = 268;
    pub const V4_SIZE: usize = 228;

    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let unspec = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let (dst, src) = (self.dstadr.unwrap_or(unspec), self.srcadr.unwrap_or(unspec));
        let mut w = Writer::default();
        w.v4(dst)
            .v4(src)
            .u16(self.srcport)
            .bytes(&[self.flags, self.leap, self.hmode, self.pmode, self.stratum])
            .bytes(&[self.ppoll as u8, self.hpoll as u8, self.precision as u8])
            .bytes(&[self.version, 0, self.reach, self.unreach, 0, self.ttl])
            .u16(self.flash)
            .u16(self.associd)
            .u32(self.keyid)
            .u32(0)
            .bytes(&self.refid)
            .u32(self.timer)
            .u32(self.rootdelay as u32)
            .u32(self.rootdispersion)
            .u64(self.reftime)
            .u64(self.org)
            .u64(self.rec)
            .u64(self.xmt);
        for d in self.filtdelay {
            w.u32(d as u32);
        }
        for o in self.filtoffset {
            w.u64(o);
        }
        w.bytes(&self.order)
            .u32(self.delay as u32)
            .u32(self.dispersion)
            .u64(self.offset)
            .u32(self.selectdisp)
            .bytes(&[0; 16])
            .u32(self.estbdelay);
        w.v6_tail(v6, &[dst, src])
    }

    pub fn decode(b: &[u8]) -> Option<PeerInfo> {
        let mut r = Reader(b);
        let (dst, src, srcport) = (r.v4()?, r.v4()?, r.u16()?);
        let [flags, leap, hmode, pmode, stratum, ppoll, hpoll, precision, version, _, reach, unreach, _, ttl] =
            r.take::<14>()?;
        let mut p = PeerInfo {
            srcport,
            flags,
            leap,
            hmode,
            pmode,
            stratum,
            ppoll: ppoll as i8,
            hpoll: hpoll as i8,
            precision: precision as i8,
            version,
            reach,
            unreach,
            ttl,
            flash: r.u16()?,
            associd: r.u16()?,
            keyid: r.u32()?,
            ..PeerInfo::default()
        };
        r.u32()?;
        p.refid = r.take()?;
        p.timer = r.u32()?;
        p.rootdelay = r.u32()? as i32;
        p.rootdispersion = r.u32()?;
        p.reftime = r.u64()?;
        p.org = r.u64()?;
        p.rec = r.u64()?;
        p.xmt = r.u64()?;
        for d in &mut p.filtdelay {
            *d = r.u32()? as i32;
        }
        for o in &mut p.filtoffset {
            *o = r.u64()?;
        }
        p.order = r.take()?;
        p.delay = r.u32()? as i32;
        p.dispersion = r.u32()?;
        p.offset = r.u64()?;
        p.selectdisp = r.u32()?;
        r.take::<16>()?;
        p.estbdelay = r.u32()?;
        let v6 = r.v6_tail::<2>();
        p.dstadr = Some(pick(dst, v6.map(|a| a[0])));
        p.srcadr = Some(pick(src, v6.map(|a| a[1])));
        Some(p)
    }
}

/// `REQ_SYS_INFO` (ntpdc `sysinfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysInfo {
    pub peer: IpAddr,
    pub peer_mode: u8,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub rootdelay: i32,
    pub rootdispersion: u32,
    pub refid: [u8; 4],
    pub reftime: u64,
    /// The poll exponent. Classic copies it without byte swapping (`is->poll = sys_poll`),
    /// so on the wire it is little-endian; we send it the same way.
    pub poll: u32,
    pub flags: u8,
    pub bdelay: i32,
    /// Classic puts the system jitter here (s_fp seconds); ntpdc prints it as `jitter`.
    pub frequency: i32,
    pub authdelay: u64,
    /// u_fp PPM.
    pub stability: u32,
}

impl SysInfo {
    pub const SIZE: usize = 80;
    pub const V4_SIZE: usize = 56;

    pub fn encode(&self, v6: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.v4(self.peer)
            .bytes(&[
                self.peer_mode,
                self.leap,
                self.stratum,
                self.precision as u8,
            ])
            .u32(self.rootdelay as u32)
            .u32(self.rootdispersion)
            .bytes(&self.refid)
            .u64(self.reftime)
            .bytes(&self.poll.to_le_bytes())
            .bytes(&[self.flags, 0, 0, 0])
            .u32(self.bdelay as u32)
            .u32(self.frequency as u32)
            .u64(self.authdelay)
            .u32(self.stability);
        w.v6_tail(v6, &[self.peer])
    }

    pub fn decode(b: &[u8]) -> Option<SysInfo> {
        let mut r = Reader(b);
        let peer = r.v4()?;
        let [peer_mode, leap, stratum, precision] = r.take()?;
        let (rootdelay, rootdispersion, refid) = (r.u32()? as i32, r.u32()?, r.take()?);
        let (reftime, poll) = (r.u64()?, u32::from_le_bytes(r.take()?));
        let [flags, ..] = r.take::<4>()?;
        let (bdelay, frequency) = (r.u32()? as i32, r.u32()? as i32);
        let (authdelay, stability) = (r.u64()?, r.u32()?);
        let v6 = r.v6_tail::<1>().map(|[a]| a);
        Some(SysInfo {
            peer: pick(peer, v6),
            peer_mode,
            leap,
            stratum,
            precision: precision as i8,
            rootdelay,
            rootdispersion,
            refid,
            reftime,
            poll,
            flags,
            bdelay,
            frequency,
            authdelay,
            stability,
        })
    }
}

/// Defines a structure of big-endian u32 counters with its codec, in wire order.
macro_rules! counters {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name { $(pub $field: u32),* }

        impl $name {
            pub const SIZE: usize = 4 * [$(stringify!($field)),*].len();

            pub fn encode(&self) -> Vec<u8> {
                let mut w = Writer::default();
                $(w.u32(self.$field);)*
                w.0
            }

            pub fn decode(b: &[u8]) -> Option<$name> {
                let mut r = Reader(b);
                Some($name { $($field: r.u32()?),* })
            }
        }
    };
}

counters!(
    /// `REQ_SYS_STATS` (ntpdc `sysstats`).
    SysStats {
        timeup,
        timereset,
        denied,
        oldversionpkt,
        newversionpkt,
        unknownversion,
        badlength,
        processed,
        badauth,
        received,
        limitrejected,
    }
);

counters!(
    /// `REQ_TIMER_STATS` (ntpdc `timerstats`).
    TimerStats {
        timereset,
        alarms,
        overflows,
        xmtcalls,
    }
);

/// `REQ_IO_STATS` (ntpdc `iostats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    pub timereset: u32,
    pub totalrecvbufs: u16,
    pub freerecvbufs: u16,
    pub fullrecvbufs: u16,
    pub lowwater: u16,
    pub dropped: u32,
    pub ignored: u32,
    pub received: u32,
    pub sent: u32,
    pub notsent: u32,
    pub interrupts: u32,
    pub int_received: u32,
}

impl IoStats {
    pub const SIZE: usize = 40;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.timereset)
            .u16(self.totalrecvbufs)
            .u16(self.freerecvbufs)
            .u16(self.fullrecvbufs)
            .u16(self.lowwater);
        for v in [
            self.dropped,
            self.ignored,
            self.received,
            self.sent,
            self.notsent,
            self.interrupts,
            self.int_received,
        ] {
            w.u32(v);
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Option<IoStats> {
        let mut r = Reader(b);
        Some(IoStats {
            timereset: r.u32()?,
            totalrecvbufs: r.u16()?,
            freerecvbufs: r.u16()?,
            fullrecvbufs: r.u16()?,
            lowwater: r.u16()?,
            dropped: r.u32()?,
            ignored: r.u32()?,
            received: r.u32()?,
            sent: r.u32()?,
            notsent: r.u32()?,
            interrupts: r.u32()?,
            int_received: r.u32()?,
        })
    }
}

/// Classic's peer hash table size (NTP_HASH_SIZE).
pub const HASH_SIZE: usize = 128;

/// `REQ_MEM_STATS` (ntpdc `memstats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemStats {
    pub timereset: u32,
    pub totalpeermem: u16,
    pub freepeermem: u16,
    pub findpeer_calls: u32,
    pub allocations: u32,
    pub demobilizations: u32,
    pub hashcount: [u8; HASH_SIZE],
}

impl MemStats {
    pub const SIZE: usize = 148;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.timereset)
            .u16(self.totalpeermem)
            .u16(self.freepeermem)
            .u32(self.findpeer_calls)
            .u32(self.allocations)
            .u32(self.demobilizations)
            .bytes(&self.hashcount);
        w.0
    }

    pub fn decode(b: &[u8]) -> Option<MemStats> {
        let mut r = Reader(b);
        Some(MemStats {
            timereset: r.u32()?,
            totalpeermem: r.u16()?,
            freepeermem: r.u16()?,
            findpeer_calls: r.u32()?,
            allocations: r.u32()?,
            demobilizations: r.u32()?,
            hashcount: r.take()?,
        })
    }
}

/// Classic's peer hash (`sock_hash`): 37-multiplied octets of the address family (as the
/// little-endian `sa_family` of Linux) and the address, masked to the table.
pub fn peer_hash(addr: IpAddr) -> usize {
    let (family, octets): (u16, Vec<u8>) = match addr {
        IpAddr::V4(a) => (2, a.octets().to_vec()),
        IpAddr::V6(a) => (10, a.octets().to_vec()),
    };
    let h = family
        .to_le_bytes()
        .iter()
        .chain(&octets)
        .fold(0u32, |h, &b| h.wrapping_mul(37).wrapping_add(u32::from(b)));
    h as usize & (HASH_SIZE - 1)
}

/// `REQ_LOOP_INFO` (ntpdc `loopinfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopInfo {
    /// l_fp seconds.
    pub last_offset: u64,
    /// l_fp PPM.
    pub drift_comp: u64,
    pub compliance: u32,
    pub watchdog_timer: u32,
}

impl LoopInfo {
    pub const SIZE: usize = 24;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.last_offset)
            .u64(self.drift_comp)
            .u32(self.compliance)
            .u32(self.watchdog_timer);
        w.0
    }

    pub fn decode(b: &[u8]) -> Option<LoopInfo> {
        let mut r = Reader(b);
        Some(LoopInfo {
            last_offset: r.u64()?,
            drift_comp: r.u64()?,
            compliance: r.u32()?,
            watchdog_timer: r.u32()?,
        })
    }
}

/// Kernel status bits (`timex.status`) ntpdc names.
pub const STA_PLL: u16 = 0x0001;
pub const STA_UNSYNC: u16 = 0x0040;
pub const STA_NANO: u16 = 0x2000;

/// `REQ_GET_KERNEL` (ntpdc `kerninfo`, collectd's loop offset and frequency): the kernel
/// time discipline's `timex` fields. Offset and errors in microseconds (nanoseconds for
/// the offset with `STA_NANO`), frequencies 16.16 PPM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelInfo {
    pub offset: i32,
    pub freq: i32,
    pub maxerror: i32,
    pub esterror: i32,
    pub status: u16,
    pub shift: u16,
    pub constant: i32,
    pub precision: i32,
    pub tolerance: i32,
    pub ppsfreq: i32,
    pub jitter: i32,
    pub stabil: i32,
    pub jitcnt: i32,
    pub calcnt: i32,
    pub errcnt: i32,
    pub stbcnt: i32,
}

impl KernelInfo {
    pub const SIZE: usize = 60;

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        for v in [self.offset, self.freq, self.maxerror, self.esterror] {
            w.u32(v as u32);
        }
        w.u16(self.status).u16(self.shift);
        for v in [
            self.constant,
            self.precision,
            self.tolerance,
            self.ppsfreq,
            self.jitter,
            self.stabil,
            self.jitcnt,
            self.calcnt,
            self.errcnt,
            self.stbcnt,
        ] {
            w.u32(v as u32);
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Option<KernelInfo> {
        let mut r = Reader(b);
        let mut i = || r.u32().map(|v| v as i32);
        let (offset, freq, maxerror, esterror) = (i()?, i()?, i()?, i()?);
        let (status, shift) = (r.u16()?, r.u16()?);
        let mut i = || r.u32().map(|v| v as i32);
        Some(KernelInfo {
            offset,
            freq,
            maxerror,
            esterror,
            status,
            shift,
            constant: i()?,
            precision: i()?,
            tolerance: i()?,
            ppsfreq: i()?,
            jitter: i()?,
            stabil: i()?,
            jitcnt: i()?,
            calcnt: i()?,
            errcnt: i()?,
            stbcnt: i()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classic_sysinfo_capture_decodes() {
        // wire-mode6-local.txt, the answer to `ntpdc -c sysinfo` (88 octets).
        let hex = "97000304000100507f7f010003030bea000000000003f2b27f7f0100eeab8432fbbb1d05\
                   06000000c2000000000000000000000000000000000000000000000000000000ffffffff\
                   00000054000000000000000000000000";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes.len(), 88);
        let h = Header::decode(&bytes).unwrap();
        assert_eq!((h.response, h.version, h.implementation), (true, 2, 3));
        assert_eq!((h.request, h.nitems, h.item_size), (code::SYS_INFO, 1, 80));
        let s = SysInfo::decode(&bytes[8..]).unwrap();
        assert_eq!(s.peer, IpAddr::V4(Ipv4Addr::new(127, 127, 1, 0)));
        assert_eq!(
            (s.peer_mode, s.leap, s.stratum, s.precision),
            (3, 3, 11, -22)
        );
        assert_eq!(s.rootdispersion, 0x3f2b2);
        assert_eq!((s.poll, s.flags), (6, 0xc2));
        assert_eq!(s.reftime, 0xeeab_8432_fbbb_1d05);
        // Re-encoded, it is the capture but for classic's uninitialised padding.
        let again = s.encode(true);
        assert_eq!(again[..60], bytes[8..68]);
    }

    #[test]
    fn classic_peer_summary_capture_decodes() {
        let hex = "7f0000017f7f0100007b0a0606038b030000000000000000000000000001fbff";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let p = PeerSummary::decode(&bytes).unwrap();
        assert_eq!(p.srcadr, IpAddr::V4(Ipv4Addr::new(127, 127, 1, 0)));
        assert_eq!(
            (p.stratum, p.hpoll, p.reach, p.flags, p.hmode),
            (10, 6, 3, 0x8b, 3)
        );
        assert_eq!(p.dispersion, 0x1fbff);
        assert_eq!(p.encode(false), bytes);
    }

    #[test]
    fn sizes_are_classics() {
        let a = IpAddr::V6("2001:db8::1".parse().unwrap());
        let item = PeerListItem {
            addr: a,
            port: 123,
            hmode: 3,
            flags: 1,
        };
        assert_eq!(item.encode(true).len(), PeerListItem::SIZE);
        assert_eq!(item.encode(false).len(), PeerListItem::V4_SIZE);
        assert_eq!(PeerListItem::decode(&item.encode(true)), Some(item));
        let info = PeerInfo {
            srcadr: Some(a),
            dstadr: Some(a),
            ..PeerInfo::default()
        };
        assert_eq!(info.encode(true).len(), PeerInfo::SIZE);
        assert_eq!(info.encode(false).len(), PeerInfo::V4_SIZE);
        assert_eq!(PeerInfo::decode(&info.encode(true)), Some(info));
        assert_eq!(SysStats::default().encode().len(), 44);
        assert_eq!(SysStats::SIZE, 44);
        assert_eq!(TimerStats::SIZE, 16);
        assert_eq!(IoStats::default().encode().len(), IoStats::SIZE);
        assert_eq!(LoopInfo::default().encode().len(), LoopInfo::SIZE);
        assert_eq!(KernelInfo::default().encode().len(), KernelInfo::SIZE);
    }

    #[test]
    fn classic_hash_of_local_clock() {
        // The capture's memstats counts LOCAL(0) in bucket 25.
        assert_eq!(peer_hash("127.127.1.0".parse().unwrap()), 25);
    }

    #[test]
    fn fixed_point() {
        assert_eq!(s_fp(-1.5), -98304);
        assert!((from_u_fp(0x1fbff) - 1.98436).abs() < 1e-5);
        assert_eq!(from_l_fp(l_fp(-0.25)), -0.25);
        assert_eq!(u_fp(-3.0), 0);
    }

    proptest! {
        #[test]
        fn header_round_trips(b in proptest::array::uniform8(any::<u8>())) {
            let mut b = b;
            b[0] |= 7;
            let h = Header::decode(&b).unwrap();
            prop_assert_eq!(h.encode(), b);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Header::decode(&bytes);
            let _ = PeerListItem::decode(&bytes);
            let _ = PeerSummary::decode(&bytes);
            let _ = PeerInfo::decode(&bytes);
            let _ = SysInfo::decode(&bytes);
            let _ = SysStats::decode(&bytes);
            let _ = IoStats::decode(&bytes);
            let _ = MemStats::decode(&bytes);
            let _ = LoopInfo::decode(&bytes);
            let _ = TimerStats::decode(&bytes);
            let _ = KernelInfo::decode(&bytes);
        }

        #[test]
        fn summary_round_trips(src in any::<[u8; 16]>(), v4 in any::<bool>(), delay in any::<i32>(), offset in any::<u64>()) {
            let srcadr = if v4 {
                IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
            } else {
                IpAddr::V6(Ipv6Addr::from(src))
            };
            let s = PeerSummary {
                dstadr: srcadr, srcadr, srcport: 123, stratum: 2, hpoll: 6, ppoll: -3,
                reach: 0o377, flags: 0x8b, hmode: 3, delay, offset, dispersion: 7,
            };
            let wire = s.encode(true);
            prop_assert_eq!(wire.len(), PeerSummary::SIZE);
            prop_assert_eq!(PeerSummary::decode(&wire), Some(s));
        }
    }
}
