//! A simulated host's clocks: a `VirtualClock` on the world's hand-driven monotonic
//! source, shared between the node's engine and the simulation (which plays the hardware
//! and the kernel: the oscillator's drift and wander, a suspend, another program steering
//! the clock). The engine sees only the `Clock` trait; every step it asks for is recorded.

use ntp6::clock::{Clock, ClockError, ClockStatus, ManualMono, MonoSource, VirtualClock};
use ntp6::time::{NtpDuration, NtpTimestamp, Ppm};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// The node's CLOCK_MONOTONIC: the world's time less the time the node spent suspended
/// (frozen while it sleeps), as Linux's monotonic clock stops during suspend.
#[derive(Clone, Debug)]
pub struct NodeMono {
    world: ManualMono,
    /// Time spent suspended so far, and the world time the current suspend began.
    asleep: Rc<Cell<Duration>>,
    sleeping_since: Rc<Cell<Option<Duration>>>,
}

impl MonoSource for NodeMono {
    fn mono(&self) -> Duration {
        let world = self.sleeping_since.get().unwrap_or(self.world.mono());
        world.saturating_sub(self.asleep.get())
    }

    /// CLOCK_BOOTTIME runs on through a suspend.
    fn boottime(&self) -> Duration {
        self.world.mono()
    }
}

/// What the hardware and the kernel hold for one node.
#[derive(Debug)]
struct Inner {
    clock: VirtualClock<NodeMono>,
    /// The oscillator's own error (PPM), which the discipline must learn.
    drift: f64,
    /// (world time, seconds) of every step the engine asked for.
    steps: Vec<(Duration, f64)>,
}

/// The clock an engine node runs on (cheap to clone: clones share the clock).
#[derive(Clone, Debug)]
pub struct SimClock {
    inner: Rc<RefCell<Inner>>,
    mono: NodeMono,
}

impl SimClock {
    /// A clock reading `true_now + offset` now, its oscillator `drift` PPM fast.
    pub fn new(world: &ManualMono, true_now: NtpTimestamp, offset: f64, drift: f64) -> SimClock {
        let mono = NodeMono {
            world: world.clone(),
            asleep: Rc::default(),
            sleeping_since: Rc::default(),
        };
        let spec = ntp6::clock::VirtualClockSpec {
            offset: NtpDuration::from_secs_f64(offset),
            drift: Ppm(drift),
        };
        let clock = VirtualClock::new(mono.clone(), true_now, spec);
        SimClock {
            inner: Rc::new(RefCell::new(Inner {
                clock,
                drift,
                steps: Vec::new(),
            })),
            mono,
        }
    }

    /// The oscillator's error (PPM).
    pub fn drift(&self) -> f64 {
        self.inner.borrow().drift
    }

    /// Changes the oscillator's error from now on (temperature, wander).
    pub fn set_drift(&self, drift: f64) {
        let mut inner = self.inner.borrow_mut();
        inner.drift = drift;
        inner.clock.set_oscillator_drift(Ppm(drift));
    }

    /// Steps the engine asked for: (world time, seconds).
    pub fn steps(&self) -> Vec<(Duration, f64)> {
        self.inner.borrow().steps.clone()
    }

    /// The clock as another program (or the kernel itself) sees and steers it, behind the
    /// engine's back.
    pub fn kernel(&self) -> std::cell::RefMut<'_, VirtualClock<NodeMono>> {
        std::cell::RefMut::map(self.inner.borrow_mut(), |i| &mut i.clock)
    }

    /// Whether the node is suspended now.
    pub fn sleeping(&self) -> bool {
        self.mono.sleeping_since.get().is_some()
    }

    /// Suspends the node: its monotonic clock and its time stop.
    pub fn suspend(&self) {
        self.mono.sleeping_since.set(Some(self.mono.world.mono()));
    }

    /// Resumes the node. As Linux does on resume, the kernel adds the time slept, as the
    /// RTC measured it (`rtc_error` seconds off), to the time of day but not to the
    /// monotonic clock.
    pub fn resume(&self, rtc_error: f64) {
        let Some(since) = self.mono.sleeping_since.take() else {
            return;
        };
        let slept = self.mono.world.mono().saturating_sub(since);
        self.mono.asleep.set(self.mono.asleep.get() + slept);
        let injected = NtpDuration::from_secs_f64(slept.as_secs_f64() + rtc_error);
        self.kernel().step(injected).expect("virtual clock");
    }

    /// Converts a time of this node's monotonic clock to world time.
    pub fn to_world(&self, mono: Duration) -> Duration {
        mono.saturating_add(self.mono.asleep.get())
    }
}

impl Clock for SimClock {
    fn now(&self) -> NtpTimestamp {
        self.inner.borrow().clock.now()
    }

    fn mono(&self) -> Duration {
        self.mono.mono()
    }

    fn boottime(&self) -> Duration {
        self.mono.boottime()
    }

    fn precision(&self) -> i8 {
        self.inner.borrow().clock.precision()
    }

    fn step(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        let at = self.mono.world.mono();
        let mut inner = self.inner.borrow_mut();
        inner.steps.push((at, offset.to_secs_f64()));
        inner.clock.step(offset)
    }

    fn slew(&mut self, offset: NtpDuration) -> Result<(), ClockError> {
        self.inner.borrow_mut().clock.slew(offset)
    }

    fn set_frequency(&mut self, freq: Ppm) -> Result<(), ClockError> {
        self.inner.borrow_mut().clock.set_frequency(freq)
    }

    fn set_slew_rate(&mut self, rate: Ppm) -> Result<(), ClockError> {
        self.inner.borrow_mut().clock.set_slew_rate(rate)
    }

    fn frequency(&self) -> Result<Ppm, ClockError> {
        self.inner.borrow().clock.frequency()
    }

    fn set_status(&mut self, status: ClockStatus) -> Result<(), ClockError> {
        self.inner.borrow_mut().clock.set_status(status)
    }
}
