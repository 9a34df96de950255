//! The reference clock device module: the one place that opens and reads the devices of
//! the SHM, NMEA and PPS drivers (System V shared memory, serial lines, RFC 2783 PPS
//! ioctls) with the unsafe system calls that takes. What it reads goes to the engine as
//! [`Input`]; the drivers' logic is pure, in `crate::refclock`.
//!
//! Devices are opened at start, before ntpd drops root as classic does (gpsd's segments 0
//! and 1 are root's, mode 0600). SHM segments and PPS devices are then read once a second
//! on the loop's timer; serial lines are registered with the loop and read as bytes
//! arrive. A device that cannot be opened is tried again every [`RETRY`], and the engine
//! logs why it gives no samples.
#![allow(unsafe_code)]

mod pps;
mod serial;
mod shm;

use crate::clock::Clock;
use crate::engine::{AssocId, Engine};
use crate::refclock::driver::{Input, Kind, RefClock};
use crate::refclock::nmea;
use crate::refclock::pps::Edge;
use crate::time::NtpTimestamp;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often SHM segments and PPS devices are read.
const READ_INTERVAL: Duration = Duration::from_secs(1);
/// How often a device that could not be opened is tried again.
const RETRY: Duration = Duration::from_secs(10);
/// Serial devices take the loop's tokens from here up (listeners count up from 0).
const TOKEN_BASE: usize = 1 << 20;

enum Open {
    Shm(shm::Segment),
    /// A serial line, with the pulse of the same receiver when `flag1` asks for it.
    Serial(serial::Serial, Option<pps::Pps>),
    Pps(pps::Pps),
}

struct Slot {
    /// The engine's ID of the clock, once [`Devices::attach`] has matched them.
    id: Option<AssocId>,
    kind: Kind,
    unit: u8,
    path: String,
    mode: u32,
    edge: Edge,
    /// NMEA `flag1`: take the pulse from the receiver's own line.
    line_pps: bool,
    open: Option<Open>,
    /// Why opening at start failed, for the engine once attached.
    failed: Option<String>,
    retry_at: Duration,
    token: Token,
}

/// The devices of the engine's device clocks.
pub struct Devices {
    slots: Vec<Slot>,
    next_read: Duration,
}

/// Why `path` cannot be opened, in a user's words.
fn open_error(path: &str, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("no device {path}"),
        std::io::ErrorKind::PermissionDenied => format!("{path}: permission denied"),
        _ => format!("{path}: {e}"),
    }
}

/// The system clock, which writers of SHM segments and the PPS layer stamp with.
fn system_now() -> NtpTimestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    NtpTimestamp::from_unix(since.as_secs() as i64, since.subsec_nanos())
}

impl Devices {
    /// Opens the devices of `clocks` now (the daemon still has root).
    pub fn open(clocks: &[RefClock]) -> Devices {
        let slots = clocks
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut slot = Slot {
                    id: None,
                    kind: d.kind,
                    unit: d.unit,
                    path: d.device.clone(),
                    mode: d.mode,
                    edge: Edge::from_flag2(d.fudge.flags[1]),
                    line_pps: d.kind == Kind::Nmea && d.fudge.flags[0],
                    open: None,
                    failed: None,
                    retry_at: RETRY,
                    token: Token(TOKEN_BASE + i),
                };
                match slot.open_device() {
                    Ok(open) => {
                        log::info!("{}: reading {}", slot.name(), slot.path);
                        slot.open = Some(open);
                    }
                    Err(why) => slot.failed = Some(why),
                }
                slot
            })
            .collect();
        Devices {
            slots,
            next_read: Duration::ZERO,
        }
    }

    /// Matches the devices with the engine's clocks (same order), registers the serial
    /// lines with the loop and hands the engine the reasons of failed opens.
    pub fn attach<C: Clock>(&mut self, engine: &mut Engine<C>, registry: &Registry) {
        let ids: Vec<(AssocId, Kind, u8)> = engine
            .sources()
            .devices()
            .map(|(id, d)| (id, d.kind, d.unit))
            .collect();
        for (slot, (id, kind, unit)) in self.slots.iter_mut().zip(ids) {
            if (slot.kind, slot.unit) != (kind, unit) {
                continue;
            }
            slot.id = Some(id);
            if let Err(why) = slot.register(registry) {
                slot.open = None;
                slot.failed = Some(why);
            }
            if let Some(why) = slot.failed.take() {
                engine.refclock_input(id, Input::Fault(&why));
            }
        }
        self.next_read = engine.clock().mono();
        for slot in &mut self.slots {
            slot.retry_at += self.next_read;
        }
    }

    /// How long the loop may sleep before [`Devices::tick`] has work.
    pub fn timeout(&self, mono: Duration) -> Duration {
        if self.slots.is_empty() {
            Duration::MAX
        } else {
            self.next_read.saturating_sub(mono)
        }
    }

    pub fn owns(&self, token: Token) -> bool {
        self.slots.iter().any(|s| s.token == token)
    }

    /// Opens what is closed (when its retry is due) and reads the polled devices.
    pub fn tick<C: Clock>(&mut self, engine: &mut Engine<C>, registry: &Registry) {
        let mono = engine.clock().mono();
        if mono < self.next_read {
            return;
        }
        self.next_read = mono + READ_INTERVAL;
        for slot in &mut self.slots {
            let Some(id) = slot.id else { continue };
            if slot.open.is_none() && mono >= slot.retry_at {
                slot.retry_at = mono + RETRY;
                match slot.open_device() {
                    Ok(open) => {
                        log::info!("{}: reading {}", slot.name(), slot.path);
                        slot.open = Some(open);
                        if let Err(why) = slot.register(registry) {
                            slot.open = None;
                            engine.refclock_input(id, Input::Fault(&why));
                        }
                    }
                    Err(why) => engine.refclock_input(id, Input::Fault(&why)),
                }
            }
            let failed = match &mut slot.open {
                Some(Open::Shm(segment)) => {
                    let read = segment.read(system_now());
                    engine.refclock_input(id, Input::Shm(read));
                    None
                }
                Some(Open::Pps(device)) => match device.fetch() {
                    Ok(info) => {
                        engine.refclock_input(id, Input::Pps(info, system_now()));
                        None
                    }
                    Err(why) => Some(why),
                },
                Some(Open::Serial(..)) | None => None,
            };
            if let Some(why) = failed {
                slot.close(registry);
                engine.refclock_input(id, Input::Fault(&why));
            }
        }
    }

    /// A serial device has bytes: each complete line goes to the engine as it is read.
    pub fn readable<C: Clock>(
        &mut self,
        token: Token,
        engine: &mut Engine<C>,
        registry: &Registry,
    ) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.token == token) else {
            return;
        };
        let (kind, unit) = (slot.kind, slot.unit);
        let (Some(id), Some(Open::Serial(serial, pulse))) = (slot.id, &mut slot.open) else {
            return;
        };
        // The pulse first: the sentences read now number the second it began.
        if let Some(device) = pulse {
            match device.fetch() {
                Ok(info) => engine.refclock_input(id, Input::Pps(info, system_now())),
                Err(why) => {
                    log::warn!("{}({unit}): flag1: {why}; serial time alone", kind.name());
                    *pulse = None;
                }
            }
        }
        let result = serial.read_lines(&mut |line| engine.refclock_input(id, Input::Line(line)));
        if let Err(why) = result {
            let why = format!("{}: {why}", slot.path);
            slot.close(registry);
            engine.refclock_input(id, Input::Fault(&why));
        }
    }
}

impl Slot {
    fn name(&self) -> String {
        format!("{}({})", self.kind.name(), self.unit)
    }

    fn open_device(&self) -> Result<Open, String> {
        match self.kind {
            Kind::Shm => shm::Segment::attach(self.unit, self.mode).map(Open::Shm),
            Kind::Pps => pps::Pps::open(&self.path, self.edge).map(Open::Pps),
            Kind::Nmea => {
                let line = serial::Serial::open(&self.path, nmea::baud_rate(self.mode))?;
                Ok(Open::Serial(
                    line,
                    self.line_pps.then(|| self.open_line_pps()).flatten(),
                ))
            }
        }
    }

    /// The pulse device of an NMEA receiver's line (classic's /dev/gpsppsU, else the
    /// /dev/ppsN the PPS line discipline made for the tty), or None (said in the log:
    /// the serial time is then used alone, as classic does when the PPSAPI fails).
    fn open_line_pps(&self) -> Option<pps::Pps> {
        let found = pps::line_device(self.unit, &self.path)
            .and_then(|path| pps::Pps::open(&path, self.edge).map(|p| (path, p)));
        match found {
            Ok((path, device)) => {
                log::info!("{}: flag1: pulse from {path}", self.name());
                Some(device)
            }
            Err(why) => {
                log::warn!("{}: flag1: {why}; serial time alone", self.name());
                None
            }
        }
    }

    /// A serial line joins the loop, to be read as bytes arrive.
    fn register(&self, registry: &Registry) -> Result<(), String> {
        if let Some(Open::Serial(serial, _)) = &self.open {
            registry
                .register(&mut SourceFd(&serial.fd()), self.token, Interest::READABLE)
                .map_err(|e| format!("{}: {e}", self.path))?;
        }
        Ok(())
    }

    fn close(&mut self, registry: &Registry) {
        if let Some(Open::Serial(serial, _)) = &self.open {
            // Closing the descriptor would drop it from epoll too; said for clarity.
            let _ = registry.deregister(&mut SourceFd(&serial.fd()));
        }
        self.open = None;
    }
}
