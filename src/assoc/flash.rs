//! The classic `flash` bits (ntp.h TEST1..TEST13): why the last packet or the peer was
//! refused. The values are classic's, because `ntpq -c "rv ASSOC"` prints them
//! (`flash=1620 pkt_stratum, peer_stratum, peer_dist, peer_unreach`).

/// ntpq's names of the flash bits TEST1..TEST13, in bit order.
pub const FLASH_NAMES: [&str; 13] = [
    "pkt_dup",
    "pkt_bogus",
    "pkt_unsync",
    "pkt_denied",
    "pkt_auth",
    "pkt_stratum",
    "pkt_header",
    "pkt_autokey",
    "pkt_crypto",
    "peer_stratum",
    "peer_dist",
    "peer_loop",
    "peer_unreach",
];

/// A set of flash bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flash(pub u16);

impl Flash {
    /// TEST1: duplicate packet.
    pub const DUPLICATE: u16 = 0x0001;
    /// TEST2: origin does not match our last transmit (bogus).
    pub const BOGUS: u16 = 0x0002;
    /// TEST3: the peer has never heard from us (origin and receive zero).
    pub const UNSYNC: u16 = 0x0004;
    /// TEST4: access denied (kiss-o'-death DENY/RSTR) or crypto error.
    pub const DENIED: u16 = 0x0008;
    /// TEST5: authentication failed.
    pub const AUTH: u16 = 0x0010;
    /// TEST6: the packet's leap/stratum say unsynchronised (pkt_stratum).
    pub const PKT_STRATUM: u16 = 0x0020;
    /// TEST7: root delay/dispersion out of range (pkt_header).
    pub const PKT_HEADER: u16 = 0x0040;
    /// TEST8 and TEST9: autokey and crypto (not implemented, never set).
    pub const AUTOKEY: u16 = 0x0080;
    pub const CRYPTO: u16 = 0x0100;
    /// TEST10: peer stratum out of bounds or unsynchronised (peer_stratum).
    pub const PEER_STRATUM: u16 = 0x0200;
    /// TEST11: root distance above `tos maxdist` (peer_dist).
    pub const PEER_DIST: u16 = 0x0400;
    /// TEST12: synchronisation loop: the peer is synchronised to us (peer_loop).
    pub const PEER_LOOP: u16 = 0x0800;
    /// TEST13: unreachable or `noselect` (peer_unreach).
    pub const PEER_UNREACH: u16 = 0x1000;

    /// The packet tests, cleared when a new packet arrives.
    pub const PACKET_MASK: u16 = 0x01ff;
    /// The peer tests, recomputed at every selection.
    pub const PEER_MASK: u16 = 0x1e00;

    pub fn has(self, bits: u16) -> bool {
        self.0 & bits != 0
    }

    pub fn set(&mut self, bits: u16) {
        self.0 |= bits;
    }

    /// ntpq's names, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        FLASH_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_values_and_names() {
        let f = Flash(
            Flash::PKT_STRATUM | Flash::PEER_STRATUM | Flash::PEER_DIST | Flash::PEER_UNREACH,
        );
        assert_eq!(f.0, 0x1620);
        assert_eq!(
            f.names(),
            ["pkt_stratum", "peer_stratum", "peer_dist", "peer_unreach"]
        );
    }
}
