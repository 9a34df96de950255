//! An RFC 2783 PPS device (/dev/ppsN): its capabilities checked for the wanted edge, the
//! edge set with PPS_SETPARAMS, and the last pulses fetched without waiting.

use crate::refclock::nmea_pps;
use crate::refclock::pps::{kparams, Edge, PpsInfo, KINFO_LEN};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// linux/pps.h: _IOR/_IOW/_IOWR('p', 0xa1.., pointer-sized).
const PPS_GETCAP: libc::c_ulong = 0x8008_70a3;
const PPS_SETPARAMS: libc::c_ulong = 0x4008_70a2;
const PPS_FETCH: libc::c_ulong = 0xc008_70a4;
/// `sizeof(struct pps_fdata)`: the kinfo and a zero timeout (do not wait).
const FDATA_LEN: usize = KINFO_LEN + 16;

/// Where Linux lists its PPS devices, each with the tty it is fed from (if any).
const SYSFS_PPS: &str = "/sys/class/pps";

/// The pulse device of NMEA unit `unit` reading `tty`: classic's /dev/gpsppsU if it
/// exists, else the /dev/ppsN whose sysfs `path` names the tty (links resolved).
pub fn line_device(unit: u8, tty: &str) -> Result<String, String> {
    let classic = nmea_pps::classic_device(unit);
    if std::path::Path::new(&classic).exists() {
        return Ok(classic);
    }
    let real = std::fs::canonicalize(tty).map_err(|e| super::open_error(tty, &e))?;
    let real = real.to_string_lossy();
    let entries: Vec<(String, String)> = std::fs::read_dir(SYSFS_PPS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = std::fs::read_to_string(e.path().join("path")).ok()?;
            Some((name, path))
        })
        .collect();
    let pairs = entries.iter().map(|(n, p)| (n.as_str(), p.as_str()));
    nmea_pps::device_for_tty(pairs, &real).ok_or_else(|| {
        format!("no {classic} and no PPS device on {real} (attach one: ldattach PPS {real})")
    })
}

pub struct Pps {
    file: File,
}

impl Pps {
    pub fn open(path: &str, edge: Edge) -> Result<Pps, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| super::open_error(path, &e))?;
        let fd = file.as_raw_fd();
        let mut caps: libc::c_int = 0;
        // SAFETY: PPS_GETCAP writes one int.
        if unsafe { libc::ioctl(fd, PPS_GETCAP, &mut caps) } < 0 {
            let err = io::Error::last_os_error();
            return Err(format!("{path}: not a PPS device (PPS_GETCAP: {err})"));
        }
        if !edge.supported_by(caps) {
            return Err(format!("{path}: cannot capture the {edge:?} edge"));
        }
        let mut params = kparams(edge);
        // SAFETY: PPS_SETPARAMS reads one struct pps_kparams, which `params` holds.
        if unsafe { libc::ioctl(fd, PPS_SETPARAMS, params.as_mut_ptr()) } < 0 {
            let err = io::Error::last_os_error();
            log::warn!("{path}: PPS_SETPARAMS: {err}; capturing as the device is set");
        }
        Ok(Pps { file })
    }

    /// The device's last pulses (PPS_FETCH with a zero timeout).
    pub fn fetch(&self) -> Result<PpsInfo, String> {
        let mut fdata = [0u64; FDATA_LEN / 8];
        // SAFETY: PPS_FETCH reads and writes one struct pps_fdata, 64 bytes, 8-aligned.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), PPS_FETCH, fdata.as_mut_ptr()) } < 0 {
            return Err(format!("PPS_FETCH: {}", io::Error::last_os_error()));
        }
        let mut kinfo = [0u8; KINFO_LEN];
        for (chunk, word) in kinfo.chunks_mut(8).zip(fdata) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        Ok(PpsInfo::decode(&kinfo))
    }
}
