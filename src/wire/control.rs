//! Mode 6 (control) messages: the 12-octet header, 4-octet padding, an optional MAC, and
//! the splitting of a response into fragments of at most 468 data octets and their
//! reassembly at the client.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |LI | VN  |Mode |R|E|M| Opcode  |          Sequence             |
//! |            Status             |        Association ID         |
//! |            Offset             |            Count              |
//! |                 Data (<= 468 octets, padded to 4)             |
//! |        [Key ID + digest when authenticated]                   |
//! ```

use std::fmt;

/// Octets in the control header.
pub const HEADER_LEN: usize = 12;
/// Most data octets one fragment carries (classic `CTL_MAX_DATA_LEN`).
pub const MAX_DATA: usize = 468;
/// Largest response data a client accepts (classic ntpq's buffer is 24 fragments' worth).
pub const MAX_RESPONSE: usize = 24 * MAX_DATA;
/// The mode field value of control messages.
pub const MODE_CONTROL: u8 = 6;

/// Opcodes (classic `CTL_OP_*`).
pub mod opcode {
    pub const READSTAT: u8 = 1;
    pub const READVAR: u8 = 2;
    pub const WRITEVAR: u8 = 3;
    pub const READCLOCK: u8 = 4;
    pub const WRITECLOCK: u8 = 5;
    pub const SETTRAP: u8 = 6;
    pub const ASYNCMSG: u8 = 7;
    pub const CONFIGURE: u8 = 8;
    pub const SAVECONFIG: u8 = 9;
    pub const READ_MRU: u8 = 10;
    pub const READ_ORDLIST_A: u8 = 11;
    pub const REQ_NONCE: u8 = 12;
    pub const UNSETTRAP: u8 = 31;
}

/// Error codes carried in the status word of an error response (classic `CERR_*`).
pub mod cerr {
    pub const UNSPEC: u8 = 0;
    pub const PERMISSION: u8 = 1;
    pub const BADFMT: u8 = 2;
    pub const BADOP: u8 = 3;
    pub const BADASSOC: u8 = 4;
    pub const UNKNOWNVAR: u8 = 5;
    pub const BADVALUE: u8 = 6;
    pub const RESTRICT: u8 = 7;
}

/// The decoded control header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlHeader {
    /// Leap bits: 0 in requests, the system leap indicator in responses.
    pub leap: u8,
    pub version: u8,
    pub response: bool,
    pub error: bool,
    pub more: bool,
    pub opcode: u8,
    pub sequence: u16,
    pub status: u16,
    pub assoc_id: u16,
    pub offset: u16,
    pub count: u16,
}

/// A MAC found after the padded data; verifying it is the authentication module's job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac<'a> {
    pub key_id: u32,
    pub digest: &'a [u8],
    /// Octets of the datagram the MAC covers (everything before the key ID).
    pub covered: usize,
}

/// A decoded control message borrowing from the datagram (the decode path never allocates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket<'a> {
    pub header: ControlHeader,
    pub data: &'a [u8],
    pub mac: Option<Mac<'a>>,
}

/// Why a datagram is not a well-formed control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// Shorter than the header.
    TooShort(usize),
    /// Mode is not 6.
    NotControl,
    /// Version outside 1..=4.
    BadVersion(u8),
    /// `count` exceeds 468 or the octets present.
    BadCount(u16),
    /// `offset + count` beyond what a client accepts.
    BadOffset(u16),
    /// Octets after the padded data that are no MAC.
    BadTrailer(usize),
    /// Output buffer too small for the encoded message.
    NoRoom,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::TooShort(n) => write!(f, "control message too short ({n} octets)"),
            ControlError::NotControl => write!(f, "not a mode 6 message"),
            ControlError::BadVersion(v) => write!(f, "unsupported version {v}"),
            ControlError::BadCount(c) => write!(f, "bad data count {c}"),
            ControlError::BadOffset(o) => write!(f, "bad data offset {o}"),
            ControlError::BadTrailer(n) => write!(f, "malformed {n}-octet trailer"),
            ControlError::NoRoom => write!(f, "output buffer too small"),
        }
    }
}

impl std::error::Error for ControlError {}

/// Digest lengths after the 4-octet key ID: MD5, SHA1 (and 16-octet CMAC).
const DIGEST_LENS: [usize; 2] = [16, 20];

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Rounds up to a multiple of 4, the padding every control message carries.
pub fn padded(len: usize) -> usize {
    (len + 3) & !3
}

impl ControlHeader {
    /// Decodes the 12-octet header (mode must be 6, version 1..=4).
    pub fn decode(bytes: &[u8]) -> Result<ControlHeader, ControlError> {
        if bytes.len() < HEADER_LEN {
            return Err(ControlError::TooShort(bytes.len()));
        }
        if bytes[0] & 7 != MODE_CONTROL {
            return Err(ControlError::NotControl);
        }
        let version = (bytes[0] >> 3) & 7;
        if !(1..=4).contains(&version) {
            return Err(ControlError::BadVersion(version));
        }
        Ok(ControlHeader {
            leap: bytes[0] >> 6,
            version,
            response: bytes[1] & 0x80 != 0,
            error: bytes[1] & 0x40 != 0,
            more: bytes[1] & 0x20 != 0,
            opcode: bytes[1] & 0x1f,
            sequence: be16(bytes, 2),
            status: be16(bytes, 4),
            assoc_id: be16(bytes, 6),
            offset: be16(bytes, 8),
            count: be16(bytes, 10),
        })
    }

    /// Writes the header into `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = ((self.leap & 3) << 6) | ((self.version & 7) << 3) | MODE_CONTROL;
        out[1] = (u8::from(self.response) << 7)
            | (u8::from(self.error) << 6)
            | (u8::from(self.more) << 5)
            | (self.opcode & 0x1f);
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..6].copy_from_slice(&self.status.to_be_bytes());
        out[6..8].copy_from_slice(&self.assoc_id.to_be_bytes());
        out[8..10].copy_from_slice(&self.offset.to_be_bytes());
        out[10..12].copy_from_slice(&self.count.to_be_bytes());
    }
}

impl<'a> ControlPacket<'a> {
    /// Decodes a datagram: header, `count` data octets, and a MAC if one follows the data
    /// (padded to 4 or to 8 octets, as classic ntpq pads authenticated requests).
    pub fn decode(bytes: &'a [u8]) -> Result<ControlPacket<'a>, ControlError> {
        let header = ControlHeader::decode(bytes)?;
        let count = usize::from(header.count);
        if count > MAX_DATA || HEADER_LEN + count > bytes.len() {
            return Err(ControlError::BadCount(header.count));
        }
        if usize::from(header.offset) + count > MAX_RESPONSE {
            return Err(ControlError::BadOffset(header.offset));
        }
        let data = &bytes[HEADER_LEN..HEADER_LEN + count];
        let end = HEADER_LEN + count;
        let mac = find_mac(bytes, end)?;
        Ok(ControlPacket { header, data, mac })
    }
}

impl<'a> ControlPacket<'a> {
    /// Decodes a request as classic ntpd's server reads one: the datagram must be a
    /// multiple of 4 octets holding at least `count` data octets; a MAC is looked for at
    /// the next 8-octet boundary after the data, and anything else after the data is
    /// ignored. (Errors here earn the client a BADFMT answer, not silence.)
    pub fn decode_request(bytes: &'a [u8]) -> Result<ControlPacket<'a>, ControlError> {
        let header = ControlHeader::decode(bytes)?;
        let count = usize::from(header.count);
        if count > MAX_DATA || HEADER_LEN + count > bytes.len() {
            return Err(ControlError::BadCount(header.count));
        }
        if !bytes.len().is_multiple_of(4) {
            return Err(ControlError::BadTrailer(bytes.len() - HEADER_LEN - count));
        }
        let end = HEADER_LEN + count;
        let start = (end + 7) & !7;
        let mac = bytes
            .get(start..)
            .filter(|tail| DIGEST_LENS.iter().any(|d| tail.len() == 4 + d))
            .map(|tail| Mac {
                key_id: u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]),
                digest: &tail[4..],
                covered: start,
            });
        Ok(ControlPacket {
            header,
            data: &bytes[HEADER_LEN..end],
            mac,
        })
    }
}

/// Finds a MAC after the data ending at `end`; padding alone (or nothing) means no MAC.
fn find_mac(bytes: &[u8], end: usize) -> Result<Option<Mac<'_>>, ControlError> {
    let rest = bytes.len() - end;
    for start in [(end + 7) & !7, padded(end)] {
        if start > bytes.len() {
            continue;
        }
        let tail = bytes.len() - start;
        if DIGEST_LENS.iter().any(|d| tail == 4 + d) {
            let key_id = u32::from_be_bytes([
                bytes[start],
                bytes[start + 1],
                bytes[start + 2],
                bytes[start + 3],
            ]);
            return Ok(Some(Mac {
                key_id,
                digest: &bytes[start + 4..],
                covered: start,
            }));
        }
    }
    // Classic tolerates padding up to 8-octet alignment and never reads it: NTPsec 1.2
    // leaves stray bytes there, so its content is not checked either.
    if rest < 8 {
        Ok(None)
    } else {
        Err(ControlError::BadTrailer(rest))
    }
}

/// Encodes one message: header (with `count` set from `data`), data, zero padding to 4.
/// Returns the datagram length.
pub fn encode(header: &ControlHeader, data: &[u8], out: &mut [u8]) -> Result<usize, ControlError> {
    let total = HEADER_LEN + padded(data.len());
    if data.len() > MAX_DATA || out.len() < total {
        return Err(ControlError::NoRoom);
    }
    let mut h = *header;
    h.count = data.len() as u16;
    let mut head = [0u8; HEADER_LEN];
    h.encode(&mut head);
    out[..HEADER_LEN].copy_from_slice(&head);
    out[HEADER_LEN..HEADER_LEN + data.len()].copy_from_slice(data);
    out[HEADER_LEN + data.len()..total].fill(0);
    Ok(total)
}

/// Splits response data into fragments: each carries at most 468 octets, the More bit on
/// all but the last, and its offset. Break points (fragment ends) may be given so the
/// server can cut between variables as classic does; otherwise chunks are 468 octets.
pub struct Fragmenter<'a> {
    template: ControlHeader,
    data: &'a [u8],
    breaks: &'a [usize],
    pos: usize,
    done: bool,
}

impl<'a> Fragmenter<'a> {
    /// Fragments `data` in 468-octet chunks; `template` supplies every header field but
    /// more/offset/count.
    pub fn new(template: ControlHeader, data: &'a [u8]) -> Fragmenter<'a> {
        Fragmenter::with_breaks(template, data, &[])
    }

    /// As [`Fragmenter::new`], preferring to end fragments at the ascending offsets in
    /// `breaks` (a chunk longer than 468 octets is still cut at 468).
    pub fn with_breaks(template: ControlHeader, data: &'a [u8], breaks: &'a [usize]) -> Self {
        Fragmenter {
            template,
            data,
            breaks,
            pos: 0,
            done: false,
        }
    }

    /// Writes the next fragment into `out` and returns its length, or `None` when done.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<usize, ControlError>> {
        if self.done {
            return None;
        }
        let limit = (self.pos + MAX_DATA).min(self.data.len());
        let end = self
            .breaks
            .iter()
            .copied()
            .filter(|b| *b > self.pos && *b <= limit)
            .max()
            .unwrap_or(limit);
        let mut h = self.template;
        h.more = end < self.data.len();
        h.offset = self.pos.min(usize::from(u16::MAX)) as u16;
        let result = encode(&h, &self.data[self.pos..end], out);
        self.pos = end;
        self.done = !h.more;
        Some(result)
    }
}

/// How a fragment changed the reassembly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Stored; more fragments are missing.
    Incomplete,
    /// All fragments present.
    Complete,
    /// A fragment already held (retransmission); ignored.
    Duplicate,
    /// Not part of this exchange (other sequence or opcode, or a request); ignored.
    Foreign,
}

/// Why a response cannot be reassembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReassemblyError {
    /// The server answered with the error bit and this code.
    Server(u8),
    /// Fragments overlap or disagree about the end.
    Inconsistent,
    /// More data than [`MAX_RESPONSE`].
    TooMuch,
}

/// Collects the fragments of one response, in any order, with duplicates.
#[derive(Debug)]
pub struct Reassembler {
    opcode: u8,
    sequence: u16,
    data: Vec<u8>,
    /// (offset, count) of fragments held, sorted by offset.
    frags: Vec<(usize, usize)>,
    /// Data length, known once the fragment without the More bit arrived.
    end: Option<usize>,
    status: u16,
    assoc_id: u16,
}

impl Reassembler {
    pub fn new(opcode: u8, sequence: u16) -> Reassembler {
        Reassembler {
            opcode,
            sequence,
            data: Vec::new(),
            frags: Vec::new(),
            end: None,
            status: 0,
            assoc_id: 0,
        }
    }

    /// Takes one received fragment.
    pub fn accept(&mut self, pkt: &ControlPacket<'_>) -> Result<Progress, ReassemblyError> {
        let h = &pkt.header;
        if !h.response || h.opcode != self.opcode || h.sequence != self.sequence {
            return Ok(Progress::Foreign);
        }
        if h.error {
            return Err(ReassemblyError::Server((h.status >> 8) as u8));
        }
        let (off, count) = (usize::from(h.offset), pkt.data.len());
        if off + count > MAX_RESPONSE {
            return Err(ReassemblyError::TooMuch);
        }
        if self.frags.iter().any(|f| f.0 == off && f.1 == count) {
            return Ok(Progress::Duplicate);
        }
        if self
            .frags
            .iter()
            .any(|f| off < f.0 + f.1 && f.0 < off + count)
        {
            return Err(ReassemblyError::Inconsistent);
        }
        if !h.more {
            if self.end.is_some_and(|e| e != off + count) {
                return Err(ReassemblyError::Inconsistent);
            }
            self.end = Some(off + count);
        }
        if self.end.is_some_and(|e| off + count > e) {
            return Err(ReassemblyError::Inconsistent);
        }
        if self.data.len() < off + count {
            self.data.resize(off + count, 0);
        }
        self.data[off..off + count].copy_from_slice(pkt.data);
        let at = self.frags.partition_point(|f| f.0 < off);
        self.frags.insert(at, (off, count));
        self.status = h.status;
        self.assoc_id = h.assoc_id;
        Ok(if self.is_complete() {
            Progress::Complete
        } else {
            Progress::Incomplete
        })
    }

    /// True when the last fragment arrived and no gap remains.
    pub fn is_complete(&self) -> bool {
        let Some(end) = self.end else { return false };
        let mut next = 0;
        for (off, count) in &self.frags {
            if *off != next {
                return false;
            }
            next = off + count;
        }
        next == end
    }

    /// Status word and association ID of the response (from the latest fragment).
    pub fn status(&self) -> (u16, u16) {
        (self.status, self.assoc_id)
    }

    /// The reassembled data (meaningful once complete).
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `ntpq -p`'s READSTAT request and the LOCAL(0) server's reply (wire-mode6-local.txt).
    const READSTAT_REQ: [u8; 12] = [0x16, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    const READSTAT_REPLY: [u8; 16] = [
        0xd6, 0x81, 0, 1, 0xc5, 0x11, 0, 0, 0, 0, 0, 4, 0x0d, 0xa7, 0x96, 0x3a,
    ];

    #[test]
    fn decodes_captured_request_and_reply() {
        let req = ControlPacket::decode(&READSTAT_REQ).unwrap();
        assert_eq!(req.header.version, 2);
        assert_eq!(req.header.opcode, opcode::READSTAT);
        assert!(!req.header.response);
        assert_eq!(req.header.sequence, 1);
        let rep = ControlPacket::decode(&READSTAT_REPLY).unwrap();
        assert_eq!(rep.header.leap, 3);
        assert!(rep.header.response && !rep.header.more && !rep.header.error);
        assert_eq!(rep.header.status, 0xc511);
        assert_eq!(rep.data, &[0x0d, 0xa7, 0x96, 0x3a]);
        assert_eq!(rep.mac, None);
        let mut out = [0u8; 64];
        let n = encode(&rep.header, rep.data, &mut out).unwrap();
        assert_eq!(&out[..n], &READSTAT_REPLY);
    }

    #[test]
    fn recognises_a_mac_after_8_octet_padding() {
        let mut pkt = vec![0x16, 0x03, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5];
        pkt.extend_from_slice(b"tc=10\0\0\0\0\0\0\0"); // 12 + 5 padded to 24
        pkt.extend_from_slice(&7u32.to_be_bytes());
        pkt.extend_from_slice(&[0xab; 16]);
        let p = ControlPacket::decode(&pkt).unwrap();
        let mac = p.mac.unwrap();
        assert_eq!((mac.key_id, mac.digest.len(), mac.covered), (7, 16, 24));
        assert_eq!(p.data, b"tc=10");
    }

    #[test]
    fn requests_are_read_as_classic_reads_them() {
        let mut pkt = vec![0x16, 0x02, 0, 5, 0, 0, 0, 0, 0, 0, 0, 7];
        pkt.extend_from_slice(b"stratum\0junk");
        let p = ControlPacket::decode_request(&pkt).unwrap();
        assert_eq!((p.data, p.mac), (&b"stratum"[..], None));
        pkt.push(0);
        assert!(
            ControlPacket::decode_request(&pkt).is_err(),
            "not a multiple of 4"
        );
        let mut authed = pkt[..20].to_vec();
        authed.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        authed.extend_from_slice(&[0xab; 16]);
        let mac = ControlPacket::decode_request(&authed).unwrap().mac.unwrap();
        assert_eq!((mac.key_id, mac.covered), (9, 24));
        assert!(ControlPacket::decode_request(&READSTAT_REQ[..8]).is_err());
    }

    #[test]
    fn rejects_bad_counts_and_trailers() {
        let mut pkt = READSTAT_REQ;
        pkt[11] = 1; // count 1 but no data
        assert_eq!(ControlPacket::decode(&pkt), Err(ControlError::BadCount(1)));
        // Padding with stray (non-zero) bytes, as NTPsec 1.2 sends: read past, as classic.
        let mut padded = READSTAT_REQ.to_vec();
        padded.extend_from_slice(&[0x32, 0x66]);
        assert!(ControlPacket::decode(&padded).unwrap().mac.is_none());
        let mut long = READSTAT_REQ.to_vec();
        long.extend_from_slice(&[1; 9]);
        assert_eq!(
            ControlPacket::decode(&long),
            Err(ControlError::BadTrailer(9))
        );
        assert_eq!(
            ControlPacket::decode(&[0x16]),
            Err(ControlError::TooShort(1))
        );
        assert_eq!(
            ControlPacket::decode(&[0x1b; 48]),
            Err(ControlError::NotControl)
        );
    }

    fn fragments(data: &[u8], breaks: &[usize]) -> Vec<Vec<u8>> {
        let template = ControlHeader {
            version: 2,
            response: true,
            opcode: opcode::READVAR,
            sequence: 9,
            ..ControlHeader::default()
        };
        let mut f = Fragmenter::with_breaks(template, data, breaks);
        let mut out = Vec::new();
        let mut buf = [0u8; HEADER_LEN + MAX_DATA];
        while let Some(r) = f.next_into(&mut buf) {
            out.push(buf[..r.unwrap()].to_vec());
        }
        out
    }

    #[test]
    fn fragments_at_break_points_and_reassembles_out_of_order() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let frags = fragments(&data, &[462]);
        let lens: Vec<usize> = frags.iter().map(|f| usize::from(be16(f, 10))).collect();
        assert_eq!(lens, vec![462, 468, 70]);
        let mut r = Reassembler::new(opcode::READVAR, 9);
        let order = [2, 0, 0, 1];
        let mut last = Progress::Foreign;
        for i in order {
            last = r
                .accept(&ControlPacket::decode(&frags[i]).unwrap())
                .unwrap();
        }
        assert_eq!(last, Progress::Complete);
        assert_eq!(r.into_data(), data);
    }

    #[test]
    fn missing_fragment_keeps_reassembly_incomplete() {
        let data = vec![b'x'; 1000];
        let frags = fragments(&data, &[]);
        let mut r = Reassembler::new(opcode::READVAR, 9);
        for f in [&frags[0], &frags[2]] {
            let p = r.accept(&ControlPacket::decode(f).unwrap()).unwrap();
            assert_eq!(p, Progress::Incomplete);
        }
        assert!(!r.is_complete());
    }

    #[test]
    fn server_error_is_reported() {
        let reply = [0xd6, 0xc2, 0, 1, 0x04, 0, 0x30, 0x39, 0, 0, 0, 0];
        let mut r = Reassembler::new(opcode::READVAR, 1);
        let p = ControlPacket::decode(&reply).unwrap();
        assert_eq!(r.accept(&p), Err(ReassemblyError::Server(cerr::BADASSOC)));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = ControlPacket::decode(&bytes);
        }

        #[test]
        fn header_round_trips(leap in 0u8..4, version in 1u8..5, r: bool, e: bool, m: bool,
                              op in 0u8..32, seq: u16, status: u16, assoc: u16, off in 0u16..4000,
                              data in proptest::collection::vec(any::<u8>(), 0..=MAX_DATA)) {
            let h = ControlHeader { leap, version, response: r, error: e, more: m, opcode: op,
                sequence: seq, status, assoc_id: assoc, offset: off, count: data.len() as u16 };
            let mut out = [0u8; HEADER_LEN + MAX_DATA];
            let n = encode(&h, &data, &mut out).unwrap();
            prop_assert_eq!(n % 4, 0);
            let p = ControlPacket::decode(&out[..n]).unwrap();
            prop_assert_eq!(p.header, h);
            prop_assert_eq!(p.data, &data[..]);
        }

        #[test]
        fn fragments_reassemble_in_any_order(len in 0usize..4000, seed: u64) {
            let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed) as u8).collect();
            let mut frags = fragments(&data, &[]);
            let n = frags.len();
            frags.rotate_left((seed as usize) % n);
            let mut r = Reassembler::new(opcode::READVAR, 9);
            for f in &frags {
                prop_assert!(ControlPacket::decode(f).unwrap().data.len() <= MAX_DATA);
                r.accept(&ControlPacket::decode(f).unwrap()).unwrap();
            }
            prop_assert!(r.is_complete());
            prop_assert_eq!(r.into_data(), data);
        }
    }
}
