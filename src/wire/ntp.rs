//! The 48-byte NTP header (RFC 5905 section 7.3) for versions 1-4 and modes 0-7, plus
//! recognition of what may follow it: extension fields (v4) and a trailing MAC.
//!
//! Decoding never allocates and never panics: every length is checked before it is read.

use crate::time::{NtpShort, NtpTimestamp};
use std::fmt;

/// Size of the fixed header.
pub const HEADER_LEN: usize = 48;

/// Leap indicator (the two top bits of the first octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leap {
    NoWarning,
    AddSecond,
    DelSecond,
    /// "Clock unsynchronised" (value 3): clients must not synchronise to us.
    Unsync,
}

impl Leap {
    pub fn from_bits(bits: u8) -> Leap {
        match bits & 3 {
            0 => Leap::NoWarning,
            1 => Leap::AddSecond,
            2 => Leap::DelSecond,
            _ => Leap::Unsync,
        }
    }

    pub fn to_bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::AddSecond => 1,
            Leap::DelSecond => 2,
            Leap::Unsync => 3,
        }
    }
}

/// Association mode (the low three bits of the first octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Reserved,
    SymmetricActive,
    SymmetricPassive,
    Client,
    Server,
    Broadcast,
    /// Mode 6, the ntpq control protocol.
    Control,
    /// Mode 7, ntpdc's private protocol: never answered (CVE-2013-5211).
    Private,
}

impl Mode {
    pub fn from_bits(bits: u8) -> Mode {
        match bits & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }

    pub fn to_bits(self) -> u8 {
        self as u8
    }
}

/// The reference identifier: four ASCII letters at stratum 0/1 and in kiss codes, an IPv4
/// address (or the first octets of an IPv6 address's MD5) above.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RefId(pub [u8; 4]);

impl RefId {
    pub const LOCL: RefId = RefId(*b"LOCL");
    pub const INIT: RefId = RefId(*b"INIT");

    pub fn from_ascii(text: &str) -> RefId {
        let mut id = [0u8; 4];
        for (dst, src) in id.iter_mut().zip(text.bytes()) {
            *dst = src;
        }
        RefId(id)
    }

    pub fn from_ipv4(addr: std::net::Ipv4Addr) -> RefId {
        RefId(addr.octets())
    }

    pub fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The kiss code this refid carries, if the packet is a kiss-o'-death (stratum 0).
    pub fn kiss_code(self) -> KissCode {
        KissCode::from_refid(self)
    }
}

impl fmt::Debug for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == 0) {
            let text: String = self
                .0
                .iter()
                .filter(|b| **b != 0)
                .map(|b| *b as char)
                .collect();
            write!(f, "RefId({text:?})")
        } else {
            write!(f, "RefId({:08x})", self.to_u32())
        }
    }
}

/// Kiss-o'-death codes of RFC 5905 section 7.4 that change a client's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KissCode {
    /// Rate exceeded: the client must raise its poll interval.
    Rate,
    /// Access denied: the client must stop.
    Deny,
    /// Access restricted: the client must stop.
    Rstr,
    /// Any other code (ACST, AUTH, INIT, STEP, ...): informational.
    Other(RefId),
}

impl KissCode {
    pub fn from_refid(id: RefId) -> KissCode {
        match &id.0 {
            b"RATE" => KissCode::Rate,
            b"DENY" => KissCode::Deny,
            b"RSTR" => KissCode::Rstr,
            _ => KissCode::Other(id),
        }
    }

    pub fn refid(self) -> RefId {
        match self {
            KissCode::Rate => RefId(*b"RATE"),
            KissCode::Deny => RefId(*b"DENY"),
            KissCode::Rstr => RefId(*b"RSTR"),
            KissCode::Other(id) => id,
        }
    }
}

/// The NTP header fields, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub leap: Leap,
    pub version: u8,
    pub mode: Mode,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: RefId,
    pub reference_time: NtpTimestamp,
    pub origin_time: NtpTimestamp,
    pub receive_time: NtpTimestamp,
    pub transmit_time: NtpTimestamp,
}

/// What trails the header: classic keeps it to extension fields (NTPv4 autokey) and a MAC
/// (a 4-octet key ID and a 16-octet MD5 or 20-octet SHA1 digest; longer for CMAC/SHA256).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Octets of extension fields between the header and the MAC.
    pub extension_len: usize,
    /// Offset of the MAC's key ID within the datagram, if a MAC is present.
    pub mac_offset: Option<usize>,
    /// Key ID of the MAC (0 with a 4-octet crypto-NAK).
    pub key_id: u32,
}

/// A decoded packet: header plus where its trailer lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    pub header: Header,
    pub trailer: Trailer,
}

/// What a peer says about itself in its header (leap, stratum, precision, root distance,
/// refid, reference time): kept per association by ntpd and per server by ntpdate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerHeader {
    pub leap: Leap,
    pub stratum: u8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub refid: RefId,
    pub reference_time: NtpTimestamp,
}

impl PeerHeader {
    /// The peer variables a received header carries.
    pub fn of(header: &Header) -> PeerHeader {
        PeerHeader {
            leap: header.leap,
            stratum: header.stratum,
            precision: header.precision,
            root_delay: header.root_delay,
            root_dispersion: header.root_dispersion,
            refid: header.reference_id,
            reference_time: header.reference_time,
        }
    }

    /// Nothing heard yet: unsynchronised, stratum `stratum`, refid `refid`.
    pub fn cleared(stratum: u8, refid: RefId) -> PeerHeader {
        PeerHeader {
            leap: Leap::Unsync,
            stratum,
            precision: 0,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::ZERO,
            refid,
            reference_time: NtpTimestamp::ZERO,
        }
    }
}

/// Why a datagram is not an NTP packet we process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the 48-octet header.
    TooShort(usize),
    /// Version 0 or above 4.
    BadVersion(u8),
    /// Length after the header fits neither extension fields nor a MAC.
    BadTrailer(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "packet too short ({n} octets)"),
            DecodeError::BadVersion(v) => write!(f, "unsupported NTP version {v}"),
            DecodeError::BadTrailer(n) => write!(f, "malformed {n}-octet trailer"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// MAC sizes after the 4-octet key ID: none (crypto-NAK), MD5, SHA1, CMAC/other 16, SHA256.
const DIGEST_LENS: [usize; 4] = [0, 16, 20, 32];

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

impl Header {
    /// Decodes the first 48 octets; modes 6 and 7 have their own formats and are not
    /// decoded here (see [`peek_mode`]).
    pub fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        let version = (bytes[0] >> 3) & 7;
        if !(1..=4).contains(&version) {
            return Err(DecodeError::BadVersion(version));
        }
        Ok(Header {
            leap: Leap::from_bits(bytes[0] >> 6),
            version,
            mode: Mode::from_bits(bytes[0]),
            stratum: bytes[1],
            poll: bytes[2] as i8,
            precision: bytes[3] as i8,
            root_delay: NtpShort::from_bits(be32(bytes, 4)),
            root_dispersion: NtpShort::from_bits(be32(bytes, 8)),
            reference_id: RefId([bytes[12], bytes[13], bytes[14], bytes[15]]),
            reference_time: NtpTimestamp::from_bits(be64(bytes, 16)),
            origin_time: NtpTimestamp::from_bits(be64(bytes, 24)),
            receive_time: NtpTimestamp::from_bits(be64(bytes, 32)),
            transmit_time: NtpTimestamp::from_bits(be64(bytes, 40)),
        })
    }

    /// Writes the header into the first 48 octets of `out` and returns 48.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) -> usize {
        out[0] = (self.leap.to_bits() << 6) | ((self.version & 7) << 3) | self.mode.to_bits();
        out[1] = self.stratum;
        out[2] = self.poll as u8;
        out[3] = self.precision as u8;
        out[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id.0);
        out[16..24].copy_from_slice(&self.reference_time.to_bits().to_be_bytes());
        out[24..32].copy_from_slice(&self.origin_time.to_bits().to_be_bytes());
        out[32..40].copy_from_slice(&self.receive_time.to_bits().to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit_time.to_bits().to_be_bytes());
        HEADER_LEN
    }
}

/// Mode and version of any datagram, without judging the rest (0/0 if empty).
pub fn peek_mode(bytes: &[u8]) -> (Mode, u8) {
    match bytes.first() {
        Some(b) => (Mode::from_bits(*b), (b >> 3) & 7),
        None => (Mode::Reserved, 0),
    }
}

/// Locates extension fields and a MAC after the header, as RFC 7822 describes: a remainder
/// that is exactly a MAC is a MAC; otherwise 4-octet-aligned extension fields (each at least
/// 16 octets, length including its 4-octet field header) are skipped until a MAC or the end.
fn decode_trailer(bytes: &[u8], version: u8) -> Result<Trailer, DecodeError> {
    let rest = bytes.len() - HEADER_LEN;
    let is_mac = |len: usize| DIGEST_LENS.iter().any(|d| 4 + d == len);
    if rest == 0 {
        return Ok(Trailer {
            extension_len: 0,
            mac_offset: None,
            key_id: 0,
        });
    }
    let mut at = HEADER_LEN;
    if version == 4 {
        while bytes.len() - at > 0 && !is_mac(bytes.len() - at) {
            let remaining = bytes.len() - at;
            if remaining < 16 {
                return Err(DecodeError::BadTrailer(rest));
            }
            let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
            if len < 16 || len % 4 != 0 || len > remaining {
                return Err(DecodeError::BadTrailer(rest));
            }
            at += len;
        }
    }
    let mac_len = bytes.len() - at;
    if mac_len == 0 {
        return Ok(Trailer {
            extension_len: at - HEADER_LEN,
            mac_offset: None,
            key_id: 0,
        });
    }
    if !is_mac(mac_len) {
        return Err(DecodeError::BadTrailer(rest));
    }
    Ok(Trailer {
        extension_len: at - HEADER_LEN,
        mac_offset: Some(at),
        key_id: be32(bytes, at),
    })
}

impl Packet {
    /// Decodes an NTP packet of modes 1-5 (or 0) with any trailer.
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let header = Header::decode(bytes)?;
        let trailer = decode_trailer(bytes, header.version)?;
        Ok(Packet { header, trailer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first 48 octets of a classic ntpdate request from the reference captures.
    const NTPDATE_REQUEST: [u8; 48] = [
        0xe3, 0x00, 0x03, 0xfa, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xab, 0x86, 0x6c,
        0xd4, 0x37, 0x04, 0x05,
    ];

    #[test]
    fn decodes_classic_ntpdate_request() {
        let p = Packet::decode(&NTPDATE_REQUEST).unwrap();
        let h = p.header;
        assert_eq!(h.leap, Leap::Unsync);
        assert_eq!(h.version, 4);
        assert_eq!(h.mode, Mode::Client);
        assert_eq!(h.poll, 3);
        assert_eq!(h.precision, -6);
        assert_eq!(h.root_delay.to_bits(), 0x0001_0000);
        assert_eq!(h.transmit_time.to_bits(), 0xeeab_866c_d437_0405);
        assert_eq!(p.trailer.mac_offset, None);
        let mut out = [0u8; 48];
        h.encode(&mut out);
        assert_eq!(out, NTPDATE_REQUEST);
    }

    #[test]
    fn recognises_mac_and_crypto_nak() {
        let mut buf = [0u8; 48 + 20];
        buf[..48].copy_from_slice(&NTPDATE_REQUEST);
        buf[48..52].copy_from_slice(&7u32.to_be_bytes());
        let p = Packet::decode(&buf).unwrap();
        assert_eq!((p.trailer.mac_offset, p.trailer.key_id), (Some(48), 7));
        buf[48..52].copy_from_slice(&0u32.to_be_bytes());
        let nak = Packet::decode(&buf[..52]).unwrap();
        assert_eq!((nak.trailer.mac_offset, nak.trailer.key_id), (Some(48), 0));
        assert!(Packet::decode(&buf[..50]).is_err());
    }

    #[test]
    fn skips_extension_fields_before_mac() {
        let mut buf = vec![0u8; 48 + 28 + 24];
        buf[..48].copy_from_slice(&NTPDATE_REQUEST);
        buf[50..52].copy_from_slice(&28u16.to_be_bytes());
        let p = Packet::decode(&buf).unwrap();
        assert_eq!(p.trailer.extension_len, 28);
        assert_eq!(p.trailer.mac_offset, Some(76));
    }

    #[test]
    fn rejects_short_and_bad_versions() {
        assert_eq!(Packet::decode(&[]), Err(DecodeError::TooShort(0)));
        let mut v0 = NTPDATE_REQUEST;
        v0[0] = 0xc3;
        assert_eq!(Packet::decode(&v0), Err(DecodeError::BadVersion(0)));
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = Packet::decode(&bytes);
            let _ = peek_mode(&bytes);
        }

        #[test]
        fn header_round_trips(raw in proptest::array::uniform32(any::<u8>()), tail in proptest::array::uniform16(any::<u8>()), version in 1u8..=4) {
            let mut bytes = [0u8; 48];
            bytes[..32].copy_from_slice(&raw);
            bytes[32..].copy_from_slice(&tail);
            bytes[0] = (bytes[0] & 0xc7) | (version << 3);
            let h = Header::decode(&bytes).unwrap();
            let mut out = [0u8; 48];
            h.encode(&mut out);
            prop_assert_eq!(out, bytes);
        }
    }
}
