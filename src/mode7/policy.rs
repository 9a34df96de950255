//! Who may use mode 7, and what each request gets. Mode 7 is classic's reflection
//! amplifier (CVE-2013-5211, `monlist`), so it is answered by default only to this host
//! (a loopback source, which no one can spoof from outside), and to others only after
//! 4.2.8's `enable mode7`. `restrict ... noquery`/`ignore` apply before this, in
//! `crate::restrict`, exactly as for mode 6.

use crate::wire::mode7::{code, is_write, InfoError, IMPL_UNIV, IMPL_XNTPD, IMPL_XNTPD_OLD};
use std::net::IpAddr;

/// The shortest request answered from another host: what collectd's ntpd plugin sends
/// (the header and 176 data octets; classic ntpdc sends 192). Classic answered a bare
/// 8-octet header, which made an 88-octet `sysinfo` an 11x reflection; real clients
/// never send less, so with this floor only the per-association answers (peer lists,
/// `showpeer`: 276 octets per association named) can exceed their request.
pub const MIN_REMOTE_REQUEST: usize = 184;

/// Whether a request of `len` octets from `source` is answered at all. A refused source
/// gets nothing back, not even an error (an error packet would still be a reflection).
pub fn admitted(source: IpAddr, enable_mode7: bool, len: usize) -> bool {
    is_loopback(source) || (enable_mode7 && len >= MIN_REMOTE_REQUEST)
}

fn is_loopback(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What a well-formed request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A read request this server answers.
    Answer(u8),
    /// An error reply carrying this code (8 octets, never more than the request).
    Refuse(InfoError),
}

/// Classic's answer to `implementation`/`request` before any data is read: unknown
/// implementations get INFO_ERR_IMPL; the universal table is empty; every write or
/// configuration request (classic's AUTH entries) gets INFO_ERR_AUTH, as classic answers
/// it without a `requestkey` (there is no mode 7 key here, so nothing can ever be
/// changed); `monlist` gets INFO_ERR_NODATA, what classic answers with the monitor off,
/// so no address ever leaves through mode 7; read requests we do not serve (restrict
/// list, traps, auth and control statistics, clock info) get INFO_ERR_REQ.
pub fn verdict(implementation: u8, request: u8) -> Verdict {
    match implementation {
        IMPL_XNTPD | IMPL_XNTPD_OLD => {}
        IMPL_UNIV => return Verdict::Refuse(InfoError::Req),
        _ => return Verdict::Refuse(InfoError::Impl),
    }
    match request {
        code::PEER_LIST
        | code::PEER_LIST_SUM
        | code::PEER_INFO
        | code::SYS_INFO
        | code::SYS_STATS
        | code::IO_STATS
        | code::MEM_STATS
        | code::LOOP_INFO
        | code::TIMER_STATS
        | code::GET_KERNEL => Verdict::Answer(request),
        code::MON_GETLIST | code::MON_GETLIST_1 => Verdict::Refuse(InfoError::NoData),
        r if is_write(r) => Verdict::Refuse(InfoError::Auth),
        _ => Verdict::Refuse(InfoError::Req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_unless_enabled() {
        for local in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(admitted(local.parse().unwrap(), false, 8), "{local}");
        }
        for remote in [
            "192.0.2.1",
            "10.0.0.1",
            "2001:db8::1",
            "::ffff:192.0.2.1",
            "0.0.0.0",
        ] {
            let a = remote.parse().unwrap();
            assert!(!admitted(a, false, 192), "{remote}");
            assert!(admitted(a, true, 192) && admitted(a, true, 184), "{remote}");
            // A bare header from elsewhere is the reflection attack's request.
            assert!(!admitted(a, true, 183) && !admitted(a, true, 8), "{remote}");
        }
    }

    #[test]
    fn every_write_is_refused_and_monlist_has_no_data() {
        let mut answered = Vec::new();
        for request in 0..=255u8 {
            let v = verdict(IMPL_XNTPD, request);
            if is_write(request) {
                assert_eq!(v, Verdict::Refuse(InfoError::Auth), "{request}");
            }
            if v == Verdict::Answer(request) {
                answered.push(request);
            }
        }
        // The read requests collectd and ntpdc's read commands send; nothing else.
        assert_eq!(answered, [0, 1, 2, 4, 5, 6, 7, 8, 9, 38]);
        assert_eq!(
            verdict(IMPL_XNTPD, code::CONFIG),
            Verdict::Refuse(InfoError::Auth)
        );
        assert_eq!(
            verdict(IMPL_XNTPD, code::IF_STATS),
            Verdict::Refuse(InfoError::Auth)
        );
        for monlist in [code::MON_GETLIST, code::MON_GETLIST_1] {
            assert_eq!(
                verdict(IMPL_XNTPD, monlist),
                Verdict::Refuse(InfoError::NoData)
            );
            assert_eq!(
                verdict(IMPL_XNTPD_OLD, monlist),
                Verdict::Refuse(InfoError::NoData)
            );
        }
        assert_eq!(
            verdict(IMPL_UNIV, code::SYS_INFO),
            Verdict::Refuse(InfoError::Req)
        );
        assert_eq!(verdict(9, code::SYS_INFO), Verdict::Refuse(InfoError::Impl));
        assert_eq!(
            verdict(IMPL_XNTPD, code::GET_RESTRICT),
            Verdict::Refuse(InfoError::Req)
        );
    }
}
