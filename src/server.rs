//! Server mode (RFC 5905 section 9.2, classic `fast_xmit`): a client request (mode 3) gets a
//! server reply (mode 4) built from the system variables; a symmetric active packet from an
//! unknown peer is answered the same way (mode 2).

use crate::discipline::system::SystemVars;
use crate::time::{NtpShort, NtpTimestamp};
use crate::wire::ntp::{Header, Mode};

/// The reply to `request`, received at `rx` and sent at `tx`. The version and poll are
/// echoed, the origin is the client's transmit time (so the client can match the reply).
pub fn reply(request: &Header, sys: &SystemVars, rx: NtpTimestamp, tx: NtpTimestamp) -> Header {
    let mode = match request.mode {
        Mode::SymmetricActive => Mode::SymmetricPassive,
        _ => Mode::Server,
    };
    Header {
        leap: sys.leap,
        version: request.version,
        mode,
        stratum: sys.wire_stratum(),
        poll: request.poll,
        precision: sys.precision,
        root_delay: NtpShort::from_duration(sys.root_delay),
        root_dispersion: sys.root_dispersion_at(tx),
        reference_id: sys.refid,
        reference_time: sys.reference_time,
        origin_time: request.transmit_time,
        receive_time: rx,
        transmit_time: tx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpDuration;
    use crate::wire::ntp::{Leap, RefId};

    fn request() -> Header {
        let mut bytes = [0u8; 48];
        bytes[0] = 0xe3; // leap 3, version 4, mode 3 (classic ntpdate)
        bytes[2] = 3;
        bytes[40..48].copy_from_slice(&0xeeab_866c_d437_0405u64.to_be_bytes());
        Header::decode(&bytes).unwrap()
    }

    fn synced() -> SystemVars {
        SystemVars {
            leap: Leap::NoWarning,
            stratum: 11,
            refid: RefId([127, 127, 1, 0]),
            reference_time: NtpTimestamp::from_bits(0xeeab_8600_0000_0000),
            root_dispersion: NtpDuration::from_secs_f64(0.01),
            ..SystemVars::initial(-23)
        }
    }

    #[test]
    fn reply_echoes_version_poll_and_origin() {
        let req = request();
        let rx = NtpTimestamp::from_bits(0xeeab_866c_d43a_a31c);
        let tx = NtpTimestamp::from_bits(0xeeab_866c_d43e_480c);
        let r = reply(&req, &synced(), rx, tx);
        assert_eq!(
            (r.mode, r.version, r.poll, r.stratum),
            (Mode::Server, 4, 3, 11)
        );
        assert_eq!(r.origin_time, req.transmit_time);
        assert_eq!((r.receive_time, r.transmit_time), (rx, tx));
        assert_eq!(r.reference_id, RefId([127, 127, 1, 0]));
        assert_eq!(r.precision, -23);
    }

    #[test]
    fn old_versions_get_their_version_back() {
        let mut req = request();
        req.version = 1;
        let r = reply(&req, &synced(), NtpTimestamp::ZERO, NtpTimestamp::ZERO);
        assert_eq!(r.version, 1);
    }

    #[test]
    fn root_dispersion_grows_with_age() {
        let sys = synced();
        let later = sys.reference_time + NtpDuration::from_secs(1000);
        let r = reply(&request(), &sys, later, later);
        let disp = r.root_dispersion.to_duration().to_secs_f64();
        assert!((disp - 0.025).abs() < 1e-4, "{disp}");
    }

    #[test]
    fn unsynchronised_server_says_so() {
        let r = reply(
            &request(),
            &SystemVars::initial(-20),
            NtpTimestamp::ZERO,
            NtpTimestamp::ZERO,
        );
        assert_eq!((r.leap, r.stratum), (Leap::Unsync, 0));
    }
}
