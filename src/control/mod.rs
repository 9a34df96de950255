//! ntpd's mode 6 server as pure code: one request in, zero or more response datagrams out.
//!
//! The daemon calls [`handle`] for every mode 6 datagram that passed `restrict` (noquery
//! drops happen before), with the access flags of the client and a [`Context`] that reads
//! the engine through [`ControlState`]. Responses echo the request's version and sequence,
//! carry the system leap in the LI bits, and are split into fragments of at most 468 data
//! octets exactly where classic ntpd splits them.

mod mru;
mod ordlist;
mod state;
mod stats;
mod vars;
mod write;

pub use mru::{MruEntry, MruSource, NonceKey, MAX_MRU_FRAGS};
pub use ordlist::InterfaceStats;
pub use state::{ClockVars, ControlState, PeerStatus, PeerVars, SystemStatus, SystemVars};
pub use stats::{AuthStats, IoStats, MonitorStats, PacketStats, ServerStats};

use std::net::SocketAddr;

use crate::time::NtpTimestamp;
use crate::wire::control::{
    cerr, encode, opcode, ControlHeader, ControlPacket, Fragmenter, HEADER_LEN, MAX_DATA,
};
use crate::wire::varlist::{RequestItems, VarWriter};

/// Text octets per fragment in the worst case (classic keeps 3 spare for `,\r\n`).
pub(crate) const MAX_TEXT_PER_FRAG: usize = MAX_DATA - 3;

/// What `restrict` (and, later, authentication) decided about the requester.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryAccess {
    /// `nomodify`: writevar/config refused.
    pub nomodify: bool,
    /// `notrap`: trap setting refused.
    pub notrap: bool,
    /// The request carried a MAC valid for the controlkey (checked by the caller).
    pub authenticated: bool,
}

/// Everything a request may read besides its own bytes.
pub struct Context<'a> {
    pub state: &'a dyn ControlState,
    pub mru: Option<&'a dyn MruSource>,
    pub nonce: &'a NonceKey,
    pub client: SocketAddr,
    /// Current time, for `clock` and nonce ageing.
    pub now: NtpTimestamp,
}

/// What happened to a request (for ntpd's `ctlstats` counters and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not answered: malformed, a response, a fragment, or otherwise unanswerable.
    Dropped,
    /// Answered with this classic error code (one 12-octet datagram).
    Error(u8),
    /// Answered with data.
    Replied { fragments: usize, octets: usize },
}

/// Handles one mode 6 datagram, passing each response datagram to `send`.
pub fn handle(
    request: &[u8],
    access: QueryAccess,
    ctx: &Context<'_>,
    send: &mut dyn FnMut(&[u8]),
) -> Outcome {
    // Classic drops what is no request; a request whose length disagrees with its count
    // gets BADFMT, a 12-octet error that never exceeds the (at least 12-octet) request.
    let Ok(h) = ControlHeader::decode(request) else {
        return Outcome::Dropped;
    };
    if h.response || h.more || h.error || h.offset != 0 {
        return Outcome::Dropped;
    }
    let sys = ctx.state.system();
    let template = ControlHeader {
        leap: sys.leap,
        version: h.version,
        response: true,
        opcode: h.opcode,
        sequence: h.sequence,
        assoc_id: h.assoc_id,
        ..ControlHeader::default()
    };
    let answer = match ControlPacket::decode_request(request)
        .map_err(|_| Refusal::Error(cerr::BADFMT))
        .and_then(|req| answer(&req, access, ctx, &sys))
    {
        Ok(a) => a,
        Err(Refusal::Silent) => return Outcome::Dropped,
        Err(Refusal::Error(code)) => {
            let mut out = [0u8; HEADER_LEN];
            let eh = ControlHeader {
                error: true,
                status: u16::from(code) << 8,
                ..template
            };
            if encode(&eh, &[], &mut out).is_ok() {
                send(&out);
            }
            return Outcome::Error(code);
        }
    };
    let mut hdr = template;
    hdr.status = answer.status;
    let mut frag = Fragmenter::with_breaks(hdr, &answer.data, &answer.breaks);
    let mut buf = [0u8; HEADER_LEN + MAX_DATA];
    let (mut fragments, mut octets) = (0, 0);
    while let Some(Ok(n)) = frag.next_into(&mut buf) {
        send(&buf[..n]);
        fragments += 1;
        octets += n;
    }
    Outcome::Replied { fragments, octets }
}

/// Response data before fragmentation.
struct Answer {
    status: u16,
    data: Vec<u8>,
    breaks: Vec<usize>,
}

impl Answer {
    fn text(status: u16, w: VarWriter) -> Answer {
        let (data, breaks) = w.finish();
        Answer {
            status,
            data,
            breaks,
        }
    }
}

/// Why a request gets no data.
enum Refusal {
    /// No answer at all.
    Silent,
    /// A 12-octet error response with this code.
    Error(u8),
}

impl From<u8> for Refusal {
    fn from(code: u8) -> Refusal {
        Refusal::Error(code)
    }
}

impl From<mru::MruRefusal> for Refusal {
    fn from(r: mru::MruRefusal) -> Refusal {
        match r {
            mru::MruRefusal::Silent => Refusal::Silent,
            mru::MruRefusal::Error(code) => Refusal::Error(code),
        }
    }
}

fn answer(
    req: &ControlPacket<'_>,
    access: QueryAccess,
    ctx: &Context<'_>,
    sys: &SystemVars,
) -> Result<Answer, Refusal> {
    let h = req.header;
    match h.opcode {
        opcode::READSTAT if h.assoc_id == 0 => Ok(read_status(ctx, sys)),
        opcode::READSTAT | opcode::READVAR => Ok(read_vars(req.data, h.assoc_id, ctx, sys)?),
        opcode::READCLOCK => Ok(read_clock(req.data, h.assoc_id, ctx, sys)?),
        opcode::WRITEVAR => Ok(write::write_vars(
            req.data,
            h.assoc_id,
            access,
            sys.status.word(),
        )?),
        opcode::WRITECLOCK => Err(cerr::PERMISSION.into()),
        opcode::CONFIGURE | opcode::SAVECONFIG => {
            Ok(Answer::text(0, config_reply(h.opcode, access)?))
        }
        opcode::SETTRAP | opcode::UNSETTRAP if access.notrap => Err(cerr::PERMISSION.into()),
        opcode::REQ_NONCE => {
            let mut w = VarWriter::new();
            w.item(&format!(
                "nonce={}",
                ctx.nonce.make(ctx.client.ip(), ctx.now)
            ));
            Ok(Answer::text(0, w))
        }
        opcode::READ_MRU => {
            let source = ctx.mru.ok_or(cerr::BADOP)?;
            let w = mru::read_mru(req.data, ctx.nonce, ctx.client, ctx.now, source)?;
            Ok(Answer::text(0, w))
        }
        opcode::READ_ORDLIST_A if !access.authenticated => Err(cerr::PERMISSION.into()),
        opcode::READ_ORDLIST_A => {
            let w = ordlist::read_ordlist(req.data, &ctx.state.interfaces())?;
            Ok(Answer::text(0, w))
        }
        _ => Err(cerr::BADOP.into()),
    }
}

/// `:config` and `saveconfig`: like every classic build, only with the controlkey; then
/// refused in words, as classic words it (this ntpd reads its configuration only at start).
fn config_reply(op: u8, access: QueryAccess) -> Result<VarWriter, u8> {
    if !access.authenticated {
        return Err(cerr::PERMISSION);
    }
    let text = match (op, access.nomodify) {
        (opcode::SAVECONFIG, true) => "saveconfig prohibited by restrict ... nomodify",
        (opcode::SAVECONFIG, false) => "saveconfig prohibited, no saveconfigdir configured",
        (_, true) => "runtime configuration prohibited by restrict ... nomodify",
        (_, false) => "runtime configuration prohibited: ntpd reads ntp.conf only at start",
    };
    let mut w = VarWriter::new();
    w.item(text);
    Ok(w)
}

/// READSTAT for association 0: (ID, status) pairs, binary, under the system status.
fn read_status(ctx: &Context<'_>, sys: &SystemVars) -> Answer {
    let mut data = Vec::new();
    for (id, status) in ctx.state.associations() {
        data.extend_from_slice(&id.to_be_bytes());
        data.extend_from_slice(&status.word().to_be_bytes());
    }
    Answer {
        status: sys.status.word(),
        data,
        breaks: Vec::new(),
    }
}

/// The variables to report: the defaults, or the named ones in table order.
fn select<'t>(data: &[u8], table: &[&'t str], default: &[&'t str]) -> Result<Vec<&'t str>, u8> {
    let mut wanted = vec![false; table.len()];
    let mut any = false;
    for it in RequestItems::new(data) {
        let pos = table
            .iter()
            .position(|n| n.as_bytes() == it.name)
            .ok_or(cerr::UNKNOWNVAR)?;
        wanted[pos] = true;
        any = true;
    }
    if !any {
        return Ok(default.to_vec());
    }
    Ok(table
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(n, _)| *n)
        .collect())
}

fn read_vars(data: &[u8], assoc: u16, ctx: &Context<'_>, sys: &SystemVars) -> Result<Answer, u8> {
    let mut w = VarWriter::new();
    if assoc == 0 {
        let mut sys = sys.clone();
        sys.clock = ctx.now;
        let table: Vec<&str> = vars::SYS_TABLE
            .iter()
            .chain(&stats::STATS_TABLE)
            .copied()
            .collect();
        let mut extra = None;
        for name in select(data, &table, &vars::SYS_DEFAULT)? {
            if vars::SYS_TABLE.contains(&name) {
                vars::put_sys(&mut w, name, &sys);
                continue;
            }
            let (stats, peer) =
                extra.get_or_insert_with(|| (ctx.state.stats(), ctx.state.peer(sys.peer)));
            stats::put_stat(&mut w, name, stats, peer.as_ref());
        }
        return Ok(Answer::text(sys.status.word(), w));
    }
    let peer = ctx.state.peer(assoc).ok_or(cerr::BADASSOC)?;
    for name in select(data, &vars::PEER_TABLE, &vars::PEER_DEFAULT)? {
        vars::put_peer(&mut w, name, &peer);
    }
    Ok(Answer::text(peer.status.word(), w))
}

fn read_clock(data: &[u8], assoc: u16, ctx: &Context<'_>, sys: &SystemVars) -> Result<Answer, u8> {
    let id = if assoc == 0 { sys.peer } else { assoc };
    let clock = ctx.state.clock(id).ok_or(cerr::BADASSOC)?;
    let mut w = VarWriter::new();
    for name in select(data, &vars::CLOCK_TABLE, &vars::CLOCK_TABLE)? {
        vars::put_clock(&mut w, name, &clock);
    }
    Ok(Answer::text(clock.status, w))
}
