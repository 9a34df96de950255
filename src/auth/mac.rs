//! Message authentication codes as classic NTP computes them (RFC 5905 section 7.3 and
//! appendix A): the MAC is a 4-octet key ID followed by a digest of everything before it
//! (header, extension fields; for mode 6 the request padded to 8 octets).
//!
//! - MD5, SHA1, SHA256: digest = H(key || message), the old "secret prefix" construction
//!   every NTP implementation uses for compatibility (SHA256 cut to 20 octets).
//! - AES-128-CMAC (4.2.8p11, NTPsec, chrony): CMAC(key, message), the key zero-padded or
//!   cut to 16 octets.

use super::keys::{Key, KeyType};
use aes::Aes128;
use cmac::{Cmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Sha256;

/// Longest digest on the wire.
pub const MAX_DIGEST: usize = 20;

/// A 4-octet MAC holding only key ID 0: the crypto-NAK a server sends back when it cannot
/// verify a client's MAC.
pub const CRYPTO_NAK_LEN: usize = 4;

/// A computed digest (its length depends on the key type).
#[derive(Clone, Copy)]
pub struct Digest {
    bytes: [u8; MAX_DIGEST],
    len: usize,
}

impl Digest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn from_slice(full: &[u8], len: usize) -> Digest {
        let mut bytes = [0u8; MAX_DIGEST];
        let len = len.min(full.len()).min(MAX_DIGEST);
        bytes[..len].copy_from_slice(&full[..len]);
        Digest { bytes, len }
    }
}

/// The digest of `message` under `key`.
pub fn digest(key: &Key, message: &[u8]) -> Digest {
    let len = key.kind.digest_len();
    match key.kind {
        KeyType::Md5 => Digest::from_slice(&prefixed::<Md5>(key, message), len),
        KeyType::Sha1 => Digest::from_slice(&prefixed::<Sha1>(key, message), len),
        KeyType::Sha256 => Digest::from_slice(&prefixed::<Sha256>(key, message), len),
        KeyType::Aes128Cmac => {
            let mut k = [0u8; 16];
            let n = key.secret.len().min(16);
            k[..n].copy_from_slice(&key.secret[..n]);
            let mut mac = <Cmac<Aes128> as Mac>::new(&k.into());
            mac.update(message);
            Digest::from_slice(&mac.finalize().into_bytes(), len)
        }
    }
}

fn prefixed<D: md5::Digest>(key: &Key, message: &[u8]) -> Vec<u8> {
    let mut h = D::new();
    h.update(&key.secret);
    h.update(message);
    h.finalize().to_vec()
}

/// Appends the MAC (key ID, digest of everything already in `packet`) and returns its
/// length.
pub fn sign(key: &Key, packet: &mut Vec<u8>) -> usize {
    let d = digest(key, packet);
    packet.extend_from_slice(&key.id.to_be_bytes());
    packet.extend_from_slice(d.as_bytes());
    4 + d.len
}

/// A mode 6 datagram signed the way classic does: zero padding to a multiple of 8
/// octets, then key ID and digest over the padded message.
pub fn sign_control(key: &Key, datagram: &[u8]) -> Vec<u8> {
    let mut out = datagram.to_vec();
    out.resize(datagram.len().div_ceil(8) * 8, 0);
    sign(key, &mut out);
    out
}

/// Whether `mac_digest` is the digest of `covered` under `key`, compared in constant
/// time so a forger learns nothing from how long a rejection takes.
pub fn verify(key: &Key, covered: &[u8], mac_digest: &[u8]) -> bool {
    ct_eq(digest(key, covered).as_bytes(), mac_digest)
}

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Appends a crypto-NAK (key ID 0, no digest).
pub fn append_crypto_nak(packet: &mut Vec<u8>) {
    packet.extend_from_slice(&0u32.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: KeyType, secret: &[u8]) -> Key {
        Key {
            id: 1,
            kind,
            secret: secret.to_vec(),
        }
    }

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Vectors from the ntp 4.2.8 unit tests (key "abcdefgh", packet "ijklmnopqrstuvwx")
    /// and RFC 4493 (AES-CMAC, example 2).
    #[test]
    fn known_answers() {
        let pkt = b"ijklmnopqrstuvwx";
        let md5 = digest(&key(KeyType::Md5, b"abcdefgh"), pkt);
        assert_eq!(hex(md5.as_bytes()), "0c0e84cf0bb7a8688e5238dbbc1c3953");
        let sha1 = digest(&key(KeyType::Sha1, b"abcdefgh"), pkt);
        assert_eq!(
            hex(sha1.as_bytes()),
            "d717e22e1659305fad6ef08864923db64aba9c08"
        );
        let rfc4493_key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let msg = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let cmac = digest(&key(KeyType::Aes128Cmac, &rfc4493_key), &msg);
        assert_eq!(hex(cmac.as_bytes()), "070a16b46b4d4144f79bdd9dd04a287c");
        assert_eq!(
            digest(&key(KeyType::Sha256, b"k"), pkt).as_bytes().len(),
            20
        );
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        for kind in [
            KeyType::Md5,
            KeyType::Sha1,
            KeyType::Sha256,
            KeyType::Aes128Cmac,
        ] {
            let k = key(kind, b"secret");
            let mut pkt = vec![0x23u8; 48];
            let n = sign(&k, &mut pkt);
            assert_eq!(n, 4 + kind.digest_len());
            assert_eq!(pkt[48..52], [0, 0, 0, 1]);
            assert!(verify(&k, &pkt[..48], &pkt[52..]));
            let mut bad = pkt.clone();
            bad[10] ^= 1;
            assert!(!verify(&k, &bad[..48], &bad[52..]));
            assert!(!verify(&key(kind, b"other"), &pkt[..48], &pkt[52..]));
            assert!(!verify(&k, &pkt[..48], &pkt[52..pkt.len() - 1]));
        }
    }
}
