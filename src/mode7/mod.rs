//! The mode 7 server, read-only: decode -> policy -> the answer from an engine snapshot
//! (the [`ControlState`] mode 6 reads) -> response packets. Pure code over values; the
//! engine hands it a datagram and sends what comes back.
//!
//! Served: the requests collectd's ntpd plugin and ntpdc's read commands send (peer list,
//! peer summary, peer info, system info and statistics, I/O, memory, timer, loop and
//! kernel information). Never: `monlist` (INFO_ERR_NODATA), any write or configuration
//! request (INFO_ERR_AUTH, changing nothing). Refused sources (see [`policy`]) get
//! nothing. Responses are laid out as classic's: up to 500 data octets per packet, whole
//! items only, the "more" bit on all but the last, sequence numbers from 0.

mod answers;
pub mod policy;

use crate::control::ControlState;
use crate::wire::mode7::{
    code, Header, InfoError, PeerInfo, PeerListItem, PeerSummary, HEADER_LEN, IMPL_XNTPD, MAX_SEQ,
    RESP_DATA_SIZE,
};
use policy::Verdict;
use std::net::{IpAddr, SocketAddr};

/// The oldest and newest NTP versions classic accepts in a mode 7 request.
const OLDEST_VERSION: u8 = 1;
const NEWEST_VERSION: u8 = 4;

/// What the engine knows that the mode 6 view does not.
pub struct Context<'a> {
    pub state: &'a dyn ControlState,
    /// `enable mode7`: answer sources other than this host.
    pub enabled: bool,
    /// The `sysinfo` system flags (`crate::wire::mode7::sys_flag`).
    pub system_flags: u8,
}

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with data or an error code.
    Answered,
    /// Not from this host, and `enable mode7` is off or the request is shorter than any
    /// real client's: nothing sent.
    Refused,
    /// Malformed (a response, fragment, error, sequence or MBZ set, bad version): nothing
    /// sent, as classic.
    Dropped,
}

/// Handles one mode 7 datagram from `client`, handing each response datagram to `send`.
pub fn handle(
    bytes: &[u8],
    client: SocketAddr,
    ctx: &Context,
    send: &mut dyn FnMut(&[u8]),
) -> Outcome {
    if !policy::admitted(client.ip(), ctx.enabled, bytes.len()) {
        return Outcome::Refused;
    }
    let Some(req) = Header::decode(bytes) else {
        return Outcome::Dropped;
    };
    if req.response
        || req.more
        || !(OLDEST_VERSION..=NEWEST_VERSION).contains(&req.version)
        || req.sequence != 0
        || req.error != 0
        || req.mbz != 0
    {
        return Outcome::Dropped;
    }
    let request = match policy::verdict(req.implementation, req.request) {
        Verdict::Refuse(e) => return error(&req, e, send),
        Verdict::Answer(request) => request,
    };
    let v6 = req.implementation == IMPL_XNTPD;
    let data = &bytes[HEADER_LEN..];
    let state = ctx.state;
    let (size, items) = match request {
        code::PEER_INFO => {
            let Some(wanted) = wanted_peers(&req, data) else {
                return error(&req, InfoError::Fmt, send);
            };
            (
                peer_size(v6, PeerInfo::SIZE, PeerInfo::V4_SIZE),
                answers::peer_info(state, &wanted, v6),
            )
        }
        // Every other read request carries no items.
        _ if req.item_size != 0 => return error(&req, InfoError::Fmt, send),
        code::PEER_LIST => (
            peer_size(v6, PeerListItem::SIZE, PeerListItem::V4_SIZE),
            answers::peer_list(state, v6),
        ),
        code::PEER_LIST_SUM => (
            peer_size(v6, PeerSummary::SIZE, PeerSummary::V4_SIZE),
            answers::peer_list_sum(state, v6),
        ),
        code::SYS_INFO => one(answers::sys_info(state, ctx.system_flags, v6)),
        code::SYS_STATS => one(answers::sys_stats(state)),
        code::IO_STATS => one(answers::io_stats(state)),
        code::MEM_STATS => one(answers::mem_stats(state)),
        code::LOOP_INFO => one(answers::loop_info(state)),
        code::TIMER_STATS => one(answers::timer_stats(state)),
        code::GET_KERNEL => one(answers::kernel_info(state)),
        _ => return error(&req, InfoError::Req, send),
    };
    respond(&req, size, &items, send)
}

fn one(item: Vec<u8>) -> (usize, Vec<Vec<u8>>) {
    (item.len(), vec![item])
}

/// The item size of a peer structure: the long (IPv6-capable) form for IMPL_XNTPD
/// clients, the short IPv4 form for IMPL_XNTPD_OLD ones.
fn peer_size(v6: bool, long: usize, short: usize) -> usize {
    if v6 {
        long
    } else {
        short
    }
}

/// The addresses a `REQ_PEER_INFO` asks for: `info_peer_list` items of either size, all
/// within the datagram (classic answers INFO_ERR_FMT otherwise).
fn wanted_peers(req: &Header, data: &[u8]) -> Option<Vec<IpAddr>> {
    let size = usize::from(req.item_size);
    if size != PeerListItem::SIZE && size != PeerListItem::V4_SIZE {
        return None;
    }
    let n = usize::from(req.nitems);
    data.get(..n * size)?
        .chunks_exact(size)
        .map(|item| PeerListItem::decode(item).map(|p| p.addr))
        .collect()
}

/// Classic's `req_ack`: a bare header carrying the error code.
fn error(req: &Header, e: InfoError, send: &mut dyn FnMut(&[u8])) -> Outcome {
    let h = Header {
        response: true,
        version: req.version,
        implementation: req.implementation,
        request: req.request,
        error: e as u8,
        ..Header::default()
    };
    send(&h.encode());
    Outcome::Answered
}

/// Classic's `prepare_pkt`/`more_pkt`/`flush_pkt`: whole items, at most 500 data octets
/// per packet, at most MAX_SEQ + 1 packets; nothing at all gives INFO_ERR_NODATA.
fn respond(req: &Header, size: usize, items: &[Vec<u8>], send: &mut dyn FnMut(&[u8])) -> Outcome {
    if items.is_empty() {
        return error(req, InfoError::NoData, send);
    }
    let per_packet = (RESP_DATA_SIZE / size.max(1)).max(1);
    let packets: Vec<&[Vec<u8>]> = items
        .chunks(per_packet)
        .take(usize::from(MAX_SEQ) + 1)
        .collect();
    for (seq, chunk) in packets.iter().enumerate() {
        let h = Header {
            response: true,
            more: seq + 1 < packets.len(),
            version: req.version,
            sequence: seq as u8,
            implementation: req.implementation,
            request: req.request,
            nitems: chunk.len() as u16,
            item_size: size as u16,
            ..Header::default()
        };
        let mut out = h.encode().to_vec();
        for item in *chunk {
            out.extend_from_slice(item);
        }
        send(&out);
    }
    Outcome::Answered
}
