//! The keys a program holds and which of them are trusted (`trustedkey`), and the checks
//! every authenticated exchange makes: does a received MAC verify under a trusted key, and
//! signing with a key by ID.

use super::keys::Key;
use super::mac::{self, CRYPTO_NAK_LEN};
use crate::restrict::AuthStatus;
use crate::wire::control::ControlPacket;
use crate::wire::ntp::Trailer;
use std::collections::{BTreeSet, HashMap};

/// Keys by ID plus the trusted set. Only a trusted key authenticates anything: classic
/// keeps untrusted keys in the file so an operator can revoke one by editing ntp.conf.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<u32, Key>,
    trusted: BTreeSet<u32>,
}

impl KeyRing {
    pub fn new(keys: Vec<Key>) -> KeyRing {
        KeyRing {
            keys: keys.into_iter().map(|k| (k.id, k)).collect(),
            trusted: BTreeSet::new(),
        }
    }

    /// Adds or replaces a key (ntpq's `passwd`).
    pub fn insert(&mut self, key: Key) {
        self.keys.insert(key.id, key);
    }

    /// Marks `id` trusted (`trustedkey`); a trusted ID without a key verifies nothing.
    pub fn trust(&mut self, id: u32) {
        self.trusted.insert(id);
    }

    pub fn key(&self, id: u32) -> Option<&Key> {
        self.keys.get(&id)
    }

    /// A key we have and trust.
    pub fn trusted_key(&self, id: u32) -> Option<&Key> {
        self.trusted.contains(&id).then(|| self.keys.get(&id))?
    }

    pub fn is_trusted(&self, id: u32) -> bool {
        self.trusted_key(id).is_some()
    }

    /// Trusted IDs that have no key in the file (worth a warning at start).
    pub fn trusted_without_key(&self) -> Vec<u32> {
        self.trusted
            .iter()
            .copied()
            .filter(|id| !self.keys.contains_key(id))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the MAC of `mac` over `covered` under trusted key `key_id`: an unknown or
    /// untrusted key, a digest of the wrong length or value all fail alike.
    pub fn verify(&self, key_id: u32, covered: &[u8], digest: &[u8]) -> AuthStatus {
        match self.trusted_key(key_id) {
            Some(key) if mac::verify(key, covered, digest) => AuthStatus::Ok,
            _ => AuthStatus::Failed,
        }
    }

    /// The authentication state of an NTP packet (modes 1-5) whose trailer was located by
    /// `wire::ntp::Packet::decode`.
    pub fn check_packet(&self, bytes: &[u8], trailer: &Trailer) -> AuthStatus {
        match trailer.mac_offset {
            None => AuthStatus::None,
            Some(at) if bytes.len() - at == CRYPTO_NAK_LEN => AuthStatus::CryptoNak,
            Some(at) => self.verify(trailer.key_id, &bytes[..at], &bytes[at + 4..]),
        }
    }

    /// Appends a MAC with key `key_id` (trusted or not: the sender chose it) and returns its
    /// length, or None without such a key.
    pub fn sign(&self, key_id: u32, packet: &mut Vec<u8>) -> Option<usize> {
        self.keys.get(&key_id).map(|k| mac::sign(k, packet))
    }

    /// The trusted key whose valid MAC a mode 6 request carries, if any (classic's
    /// process_control: writes then need it to be the `controlkey`, and the response is
    /// signed with it).
    pub fn control_signer(&self, request: &[u8]) -> Option<&Key> {
        let mac = ControlPacket::decode(request).ok()?.mac?;
        let key = self.trusted_key(mac.key_id)?;
        mac::verify(key, &request[..mac.covered], mac.digest).then_some(key)
    }

    /// Signs a mode 6 datagram the way classic does: zero padding to 8 octets, key ID,
    /// digest over the padded message.
    pub fn sign_control(&self, key_id: u32, datagram: &[u8]) -> Option<Vec<u8>> {
        self.keys
            .get(&key_id)
            .map(|k| mac::sign_control(k, datagram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::{parse, KeyType};
    use crate::wire::ntp::Packet;

    fn ring() -> KeyRing {
        let mut r = KeyRing::new(parse(b"1 M one\n2 SHA1 two\n3 M untrusted\n").keys);
        r.trust(1);
        r.trust(2);
        r.trust(9);
        r
    }

    fn request() -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[0] = 0x23;
        b
    }

    fn status(r: &KeyRing, bytes: &[u8]) -> AuthStatus {
        let p = Packet::decode(bytes).unwrap();
        r.check_packet(bytes, &p.trailer)
    }

    #[test]
    fn packet_states() {
        let r = ring();
        assert_eq!(status(&r, &request()), AuthStatus::None);
        for id in [1, 2] {
            let mut signed = request();
            r.sign(id, &mut signed).unwrap();
            assert_eq!(status(&r, &signed), AuthStatus::Ok, "key {id}");
            signed[47] ^= 1;
            assert_eq!(status(&r, &signed), AuthStatus::Failed);
        }
        let mut untrusted = request();
        r.sign(3, &mut untrusted).unwrap();
        assert_eq!(status(&r, &untrusted), AuthStatus::Failed);
        let mut nak = request();
        nak.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(status(&r, &nak), AuthStatus::CryptoNak);
        assert_eq!(r.trusted_without_key(), [9]);
        assert!(r.sign(9, &mut request()).is_none());
    }

    #[test]
    fn md5_mac_by_sha1_key_id_fails() {
        let r = ring();
        let mut pkt = request();
        let imposter = Key {
            id: 2,
            kind: KeyType::Md5,
            secret: b"two".to_vec(),
        };
        crate::auth::mac::sign(&imposter, &mut pkt);
        assert_eq!(status(&r, &pkt), AuthStatus::Failed);
    }

    #[test]
    fn control_requests_pad_to_eight_and_name_their_trusted_key() {
        let r = ring();
        // READVAR with 6 data octets: 12 + 6 = 18, padded to 24 before the MAC.
        let mut req = vec![0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 6];
        req.extend_from_slice(b"leap=0");
        let signed = r.sign_control(1, &req).unwrap();
        assert_eq!(signed.len(), 24 + 4 + 16);
        assert_eq!(r.control_signer(&signed).map(|k| k.id), Some(1));
        assert!(r.control_signer(&req).is_none());
        let mut forged = signed.clone();
        forged[13] ^= 1;
        assert!(r.control_signer(&forged).is_none());
        let untrusted = r.sign_control(3, &req).unwrap();
        assert!(r.control_signer(&untrusted).is_none());
    }
}
