//! The SHM segment: created (or found) with classic's key and permissions, attached, and
//! copied out with volatile reads, the writer being another process.

use crate::refclock::shm::{self, ShmRead, ShmTime, COUNT_OFFSET, SEGMENT_LEN, VALID_OFFSET};
use crate::time::NtpTimestamp;
use std::io;

/// An attached segment; detached on drop.
pub struct Segment {
    base: *mut u8,
}

impl Segment {
    /// Finds or creates unit `unit`'s segment (classic creates it, so a writer started
    /// later finds it) with the permissions `mode` asks for, and attaches it. The error
    /// says why in a user's words.
    pub fn attach(unit: u8, mode: u32) -> Result<Segment, String> {
        let key = shm::key(unit);
        let perms = shm::permissions(unit, mode);
        let flags = libc::IPC_CREAT | perms as libc::c_int;
        // SAFETY: shmget takes plain integers.
        let id = unsafe { libc::shmget(key, SEGMENT_LEN, flags) };
        if id < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EACCES) => format!(
                    "segment 0x{key:08x}: permission denied (created by another user with \
                     mode {perms:o}?)"
                ),
                Some(libc::EINVAL) => {
                    format!("segment 0x{key:08x} exists with another size: not a shmTime")
                }
                Some(libc::ENOENT) => format!("no segment 0x{key:08x}"),
                _ => format!("segment 0x{key:08x}: {err}"),
            });
        }
        // SAFETY: id is a valid segment; a null address lets the kernel choose.
        let base = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if base as isize == -1 {
            let err = io::Error::last_os_error();
            return Err(format!("segment 0x{key:08x}: cannot attach: {err}"));
        }
        Ok(Segment {
            base: base.cast::<u8>(),
        })
    }

    fn read_i32(&self, at: usize) -> i32 {
        // SAFETY: at + 4 <= SEGMENT_LEN, the segment is attached and int-aligned; volatile
        // because the writer changes it behind our back.
        unsafe { std::ptr::read_volatile(self.base.add(at).cast::<i32>()) }
    }

    /// Copies the segment as classic's reader does (count, fields, count), then clears
    /// `valid` of a whole copy, so the writer's next sample is seen as new.
    pub fn read(&mut self, system_now: NtpTimestamp) -> ShmRead {
        let count_before = self.read_i32(COUNT_OFFSET);
        let mut bytes = [0u8; SEGMENT_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: i < SEGMENT_LEN inside the attached segment.
            *b = unsafe { std::ptr::read_volatile(self.base.add(i)) };
        }
        let count_after = self.read_i32(COUNT_OFFSET);
        let segment = ShmTime::decode(&bytes);
        if segment.valid != 0 && count_before == count_after {
            // SAFETY: VALID_OFFSET + 4 <= SEGMENT_LEN, int-aligned, attached.
            unsafe { std::ptr::write_volatile(self.base.add(VALID_OFFSET).cast::<i32>(), 0) };
        }
        ShmRead {
            count_before,
            segment,
            count_after,
            system_now,
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: base came from shmat and is detached once.
        unsafe {
            libc::shmdt(self.base.cast::<libc::c_void>());
        }
    }
}
