//! READ_ORDLIST_A (opcode 11, ntpd 4.2.8): `ntpq -c ifstats`, the daemon's local addresses
//! with their traffic counters, one numbered row per address. Like 4.2.8 the opcode needs
//! controlkey authentication; the caller checks that.

use std::net::SocketAddr;

use crate::wire::control::cerr;
use crate::wire::varlist::VarWriter;

/// One local address the daemon listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceStats {
    /// Interface name (`lo`, `eth0`, `v4wildcard`).
    pub name: String,
    pub addr: SocketAddr,
    pub broadcast: Option<SocketAddr>,
    /// False for the wildcard sockets that only catch and drop.
    pub enabled: bool,
    /// Classic INT_* flags (0x1 up, 0x4 loopback, 0x80 wildcard, ...).
    pub flags: u32,
    pub ttl: u32,
    pub multicast_groups: u32,
    pub received: u64,
    pub sent: u64,
    pub send_errors: u64,
    /// Associations using this address.
    pub peers: u32,
    /// Seconds since the address was bound.
    pub uptime: u64,
}

/// The request data that select the interface list (empty or `ifstats`).
fn wants_ifstats(data: &[u8]) -> bool {
    data.is_empty() || data == b"ifstats"
}

/// The answer text, or `UNKNOWNVAR` for lists we do not keep (`addr_restrictions`).
pub(super) fn read_ordlist(data: &[u8], interfaces: &[InterfaceStats]) -> Result<VarWriter, u8> {
    if !wants_ifstats(data) {
        return Err(cerr::UNKNOWNVAR);
    }
    let mut w = VarWriter::new();
    for (n, i) in interfaces.iter().enumerate() {
        w.item(&format!("addr.{n}={}", i.addr));
        match i.broadcast {
            Some(b) => w.item(&format!("bcast.{n}={b}")),
            None => w.item(&format!("bcast.{n}")),
        }
        w.uint(&format!("en.{n}"), u64::from(i.enabled));
        w.hex(&format!("flags.{n}"), u64::from(i.flags));
        w.uint(&format!("mc.{n}"), u64::from(i.multicast_groups));
        w.string(&format!("name.{n}"), &i.name);
        w.uint(&format!("pc.{n}"), u64::from(i.peers));
        w.uint(&format!("rx.{n}"), i.received);
        w.uint(&format!("tl.{n}"), u64::from(i.ttl));
        w.uint(&format!("tx.{n}"), i.sent);
        w.uint(&format!("txerr.{n}"), i.send_errors);
        w.uint(&format!("up.{n}"), i.uptime);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_twelve_numbered_fields() {
        let lo = InterfaceStats {
            name: "lo".into(),
            addr: "127.0.0.1:123".parse().unwrap(),
            broadcast: None,
            enabled: true,
            flags: 0x5,
            ttl: 0,
            multicast_groups: 0,
            received: 7,
            sent: 6,
            send_errors: 0,
            peers: 1,
            uptime: 60,
        };
        let (data, _) = read_ordlist(b"", &[lo]).unwrap().finish();
        assert_eq!(
            String::from_utf8(data).unwrap(),
            "addr.0=127.0.0.1:123, bcast.0, en.0=1, flags.0=0x5, mc.0=0, name.0=\"lo\",\r\n\
             pc.0=1, rx.0=7, tl.0=0, tx.0=6, txerr.0=0, up.0=60\r\n"
        );
        assert!(read_ordlist(b"addr_restrictions", &[]).is_err());
    }
}
