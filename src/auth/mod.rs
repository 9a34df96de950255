//! Symmetric-key authentication (RFC 5905 MACs, classic's keys file).
//!
//! [`keys`] parses the keys file, [`mac`] computes and checks digests, [`KeyRing`] holds the
//! keys with the `trustedkey` set and answers "is this packet authentic", and [`load`] is
//! the thin file reader. Packet path (server side): `Packet::decode` locates the MAC,
//! [`KeyRing::check_packet`] gives an `AuthStatus`, `restrict::Grant` decides with it, and
//! the reply is signed with the request's key ([`KeyRing::sign`]) or carries a crypto-NAK.

pub mod keyring;
pub mod keys;
pub mod load;
pub mod mac;

pub use keyring::KeyRing;
pub use keys::{Key, KeyType, KeysFile, LineError, MAX_KEY_ID, MIN_KEY_ID};
