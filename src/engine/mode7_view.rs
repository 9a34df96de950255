//! Mode 7 (ntpdc, collectd) as the engine answers it: the read-only handler in
//! `crate::mode7` over the same view mode 6 reads.

use super::control_view::View;
use super::{Datagram, Engine};
use crate::clock::Clock;
use crate::mode7::{self, Context, Outcome};
use crate::restrict::{Access, Denied};
use crate::wire::mode7::sys_flag;

impl<C: Clock> Engine<C> {
    /// A mode 7 request `restrict` let through; sources other than this host are refused
    /// (and counted as such) unless `enable mode7`.
    pub(super) fn private_request(&mut self, dgram: &Datagram, send: &mut dyn FnMut(&[u8])) {
        let view = View {
            engine: self,
            now: self.clock.now(),
        };
        let ctx = Context {
            state: &view,
            enabled: self.settings.mode7,
            system_flags: self.system_flags(),
        };
        match mode7::handle(dgram.bytes, dgram.source, &ctx, send) {
            Outcome::Answered => {}
            Outcome::Refused => self.counters.denied(&Access::Drop(Denied::Private)),
            Outcome::Dropped => self.counters.dropped += 1,
        }
    }

    /// The `enable`/`disable` switches as ntpdc's `sysinfo` shows them.
    fn system_flags(&self) -> u8 {
        let s = &self.settings;
        [
            (s.authenticate, sys_flag::AUTHENTICATE),
            (s.steer_clock, sys_flag::NTP | sys_flag::KERNEL),
            (self.access.monitor().is_active(), sys_flag::MONITOR),
            (s.stats, sys_flag::FILEGEN),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |flags, (_, bit)| flags | bit)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::engine;
    use super::*;
    use crate::restrict::RestrictFlag;
    use crate::wire::mode7::{code, Header, PeerSummary, SysInfo, IMPL_XNTPD, REQ_LEN_NOMAC};

    fn raw(e: &mut super::super::tests::TestEngine, from: &str, bytes: &[u8]) -> Vec<Vec<u8>> {
        let dgram = Datagram {
            bytes,
            source: from.parse().unwrap(),
            local: None,
            received: None,
        };
        let mut out = Vec::new();
        e.handle_datagram(&dgram, &mut |r| out.push(r.to_vec()));
        out
    }

    fn req(request: u8) -> Vec<u8> {
        crate::wire::mode7::request(IMPL_XNTPD, request, 0, &[])
    }

    #[test]
    fn loopback_reads_sysinfo_and_peers() {
        let (_, mut e) = engine(&[], &[], 0.0);
        let out = raw(&mut e, "127.0.0.1:40000", &req(code::SYS_INFO));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 8 + SysInfo::SIZE);
        let s = SysInfo::decode(&out[0][8..]).unwrap();
        assert_eq!((s.stratum, s.refid), (11, [127, 127, 1, 0]));
        assert_eq!(s.peer, "127.127.1.0".parse::<std::net::IpAddr>().unwrap());
        let out = raw(&mut e, "[::1]:40000", &req(code::PEER_LIST_SUM));
        let h = Header::decode(&out[0]).unwrap();
        assert_eq!((h.nitems, h.item_size, h.more), (1, 72, false));
        let p = PeerSummary::decode(&out[0][8..]).unwrap();
        assert_eq!((p.stratum, p.flags & 0x0b), (10, 0x0b));
    }

    #[test]
    fn other_hosts_get_nothing_unless_enabled() {
        let (_, mut e) = engine(&[], &[], 0.0);
        for request in 0..=50 {
            assert!(raw(&mut e, "192.0.2.1:40000", &req(request)).is_empty());
        }
        let refused = e.counters().restrict_drops[Denied::Private as usize];
        assert_eq!(refused, 51);
        e.settings.mode7 = true;
        assert_eq!(
            raw(&mut e, "192.0.2.1:40000", &req(code::SYS_INFO)).len(),
            1
        );
    }

    #[test]
    fn noquery_and_ignore_apply_to_loopback_too() {
        for flag in [RestrictFlag::NoQuery, RestrictFlag::Ignore] {
            let (_, mut e) = engine(&[], &[("127.0.0.1", &[flag])], 0.0);
            e.settings.mode7 = true;
            assert!(raw(&mut e, "127.0.0.1:40000", &req(code::SYS_INFO)).is_empty());
        }
    }

    #[test]
    fn writes_are_refused_and_monlist_is_empty() {
        let (_, mut e) = engine(&[], &[], 0.0);
        let before = e.sources().iter().count();
        for request in [code::CONFIG, 11, 12, 17, 21, 22, 23, 33, 37, 44, 45] {
            let mut bytes = req(request);
            bytes[7] = 0x08; // some item size: still refused without a key
            let out = raw(&mut e, "127.0.0.1:40000", &bytes);
            let h = Header::decode(&out[0]).unwrap();
            assert_eq!((out[0].len(), h.error), (8, 7), "request {request}");
        }
        assert_eq!(e.sources().iter().count(), before);
        for monlist in [code::MON_GETLIST, code::MON_GETLIST_1] {
            let out = raw(&mut e, "127.0.0.1:40000", &req(monlist));
            assert_eq!(out, vec![vec![0x97, 0, 3, monlist, 0x40, 0, 0, 0]]);
        }
    }

    #[test]
    fn peer_info_by_address_and_bad_items() {
        use crate::wire::mode7::{PeerInfo, PeerListItem};
        let (_, mut e) = engine(&[], &[], 0.0);
        let item = |addr: &str| PeerListItem {
            addr: addr.parse().unwrap(),
            port: 123,
            hmode: 0,
            flags: 0,
        };
        let ask = |e: &mut _, v6: bool, items: &[PeerListItem]| {
            let encoded: Vec<Vec<u8>> = items.iter().map(|i| i.encode(v6)).collect();
            let size = encoded.first().map_or(0, Vec::len) as u16;
            let implementation = if v6 { IMPL_XNTPD } else { 2 };
            let bytes =
                crate::wire::mode7::request(implementation, code::PEER_INFO, size, &encoded);
            raw(e, "127.0.0.1:40000", &bytes)
        };
        let out = ask(&mut e, true, &[item("127.127.1.0"), item("192.0.2.1")]);
        assert_eq!(out[0].len(), 8 + PeerInfo::SIZE);
        let p = PeerInfo::decode(&out[0][8..]).unwrap();
        assert_eq!((p.stratum, p.refid), (10, *b"LOCL"));
        let out = ask(&mut e, false, &[item("127.127.1.0")]);
        assert_eq!(out[0].len(), 8 + PeerInfo::V4_SIZE);
        // Unknown address: no data; a wrong item size or a count beyond the data: format.
        let error = |out: Vec<Vec<u8>>| Header::decode(&out[0]).map(|h| h.error);
        assert_eq!(error(ask(&mut e, true, &[item("192.0.2.1")])), Some(4));
        let mut bytes = crate::wire::mode7::request(IMPL_XNTPD, code::PEER_INFO, 12, &[]);
        assert_eq!(error(raw(&mut e, "127.0.0.1:40000", &bytes)), Some(3));
        bytes[5] = 100;
        bytes[7] = 32;
        assert_eq!(error(raw(&mut e, "127.0.0.1:40000", &bytes)), Some(3));
    }

    proptest::proptest! {
        /// Anything from this host with mode 7 in its first octet: no panic, and every
        /// answer is a response of at most one classic packet.
        #[test]
        fn garbage_from_loopback_never_panics(
            mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            first in proptest::prelude::any::<u8>(),
        ) {
            let (_, mut e) = engine(&[], &[], 0.0);
            if let Some(b) = bytes.first_mut() {
                *b = first | 7;
            }
            for reply in raw(&mut e, "127.0.0.1:40000", &bytes) {
                proptest::prop_assert!(reply.len() <= 8 + 500);
                proptest::prop_assert!(Header::decode(&reply).is_some_and(|h| h.response));
            }
        }
    }

    #[test]
    fn answers_never_exceed_classic_sizes() {
        let (_, mut e) = engine(&[], &[], 0.0);
        for request in 0..=255u8 {
            let bytes = req(request);
            assert_eq!(bytes.len(), REQ_LEN_NOMAC);
            for reply in raw(&mut e, "127.0.0.1:40000", &bytes) {
                assert!(reply.len() <= 8 + 500, "request {request}: {}", reply.len());
            }
        }
    }
}
