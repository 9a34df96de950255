//! Start-up, steps, panics, falsetickers and fallbacks in the simulator.
mod sim;

use ntp6::discipline::loopfilter::{LoopConfig, DEFAULT_MAX_SLEW_RATE};
use ntp6::discipline::select::SelectStatus;
use sim::{hours, Server, Setup, Sim};
use std::time::Duration;

fn good(n: usize) -> Vec<Server> {
    vec![Server::good(0.0005); n]
}

#[test]
fn iburst_synchronises_within_ten_seconds() {
    let mut sim = Sim::new(Setup::new(0.01, 15.0, good(3)));
    sim.run_until(Duration::from_secs(20));
    let at = sim.synced_at().expect("synchronised");
    eprintln!("synchronised after {at:?}");
    assert!(at <= Duration::from_secs(10), "{at:?}");
}

#[test]
fn without_iburst_synchronisation_takes_minutes() {
    let mut setup = Setup::new(0.01, 15.0, good(3));
    setup.iburst = false;
    let mut sim = Sim::new(setup);
    sim.run_until(Duration::from_secs(20));
    assert!(sim.synced_at().is_none());
}

/// When the client became synchronised after `from` (None: not by the end).
fn served_since(sim: &Sim, from: Duration) -> Option<Duration> {
    sim.engines[0]
        .sync_changes
        .iter()
        .find(|(t, synced)| *t >= from && *synced)
        .map(|(t, _)| *t)
}

#[test]
fn three_seconds_off_steps_once_then_slews() {
    let mut sim = Sim::new(Setup::new(3.0, 15.0, good(4)));
    sim.run_until(Duration::from_secs(60));
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    let (at, by) = sim.steps()[0];
    assert!((by + 3.0).abs() < 0.01, "{by}");
    assert!(at < Duration::from_secs(15), "{at:?}");
    // No blind spot after the step: the samples that follow it are served from at once,
    // in the FREQ state while the frequency is learned (classic waits 900 s).
    let served = served_since(&sim, at).expect("served again");
    sim.run_for_hours(6.0);
    let settled = sim.last_beyond(0.001);
    eprintln!(
        "stepped {by:+.6} s at {at:?}, serving again at {served:?} ({:?} after the step); \
         last |offset| >= 1 ms at {settled:?}, max after 3 h {:.6} s",
        served - at,
        sim.max_abs_since(hours(3.0))
    );
    assert!(served - at < Duration::from_secs(10), "{served:?}");
    assert!(sim.engines[0]
        .sync_changes
        .iter()
        .filter(|(t, _)| *t > served)
        .all(|(_, s)| *s));
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    assert!(
        settled.is_some_and(|t| t < Duration::from_secs(60)),
        "{settled:?}"
    );
    assert!(sim.max_abs_since(hours(3.0)) < 0.0001);
}

#[test]
fn half_a_second_slow_cold_start_serves_stratum_2_seconds_after_its_step() {
    let mut sim = Sim::new(Setup::new(-0.5, 0.0, good(1)));
    sim.run_until(Duration::from_secs(120));
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    let at = sim.steps()[0].0;
    let served = served_since(&sim, at).expect("served again");
    eprintln!("one server, 0.5 s slow: stepped at {at:?}, serving stratum 2 at {served:?}");
    assert!(served - at < Duration::from_secs(10), "{served:?}");
    assert_eq!(sim.system().vars.stratum, 2);
    assert!(sim.true_offset().abs() < 0.001);
}

#[test]
fn falseticker_is_rejected_and_never_moves_the_clock() {
    let mut servers = good(4);
    servers[3].offset = 2.0;
    let mut sim = Sim::new(Setup::new(0.0, 15.0, servers));
    sim.run_until(Duration::from_secs(30));
    for _ in 0..(2 * 3600 / 16) {
        sim.run_until(sim.now() + Duration::from_secs(16));
        assert_eq!(sim.assoc(3).status(), SelectStatus::Falseticker);
        assert_ne!(sim.system().vars.peer, Some(sim.assoc(3).id()));
    }
    assert!(sim.steps().is_empty(), "{:?}", sim.steps());
    let (max, late) = (
        sim.max_abs_since(Duration::ZERO),
        sim.max_abs_since(hours(1.5)),
    );
    eprintln!("with a falseticker: max |offset| {max:.6} s, after 1.5 h {late:.6} s");
    // The 15 PPM learned from the first samples on, never the falseticker's 2 s.
    assert!(max < 0.001, "{max}");
    assert!(late < 0.0001, "{late}");
}

#[test]
fn sync_spike_waits_for_stepout_then_steps() {
    let mut sim = Sim::new(Setup::new(0.0, 0.0, good(3)));
    sim.run_for_hours(1.0);
    for s in &mut sim.servers {
        s.offset = 0.5;
    }
    let jump = sim.now();
    sim.run_for_hours(1.0);
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    let waited = sim.steps()[0].0 - jump;
    eprintln!("stepped {waited:?} after the servers jumped");
    assert!(waited >= Duration::from_secs(900) && waited < Duration::from_secs(900 + 3 * 1024));
}

#[test]
fn beyond_panic_threshold_without_g_panics() {
    let mut sim = Sim::new(Setup::new(-2000.0, 0.0, good(3)));
    sim.run_until(Duration::from_secs(60));
    assert!(sim.panicked().is_some());
    assert!(sim.steps().is_empty());
}

#[test]
fn with_g_one_big_step_is_allowed() {
    let mut setup = Setup::new(-2000.0, 0.0, good(3));
    setup.loop_config = LoopConfig {
        allow_panic: true,
        ..LoopConfig::default()
    };
    let mut sim = Sim::new(setup);
    sim.run_until(Duration::from_secs(120));
    assert!(sim.panicked().is_none());
    assert_eq!(sim.steps().len(), 1);
    assert!(sim.true_offset().abs() < 0.01);
}

/// The fastest the clock ran away from true time over one second of the trace (s/s).
fn fastest_slew(sim: &Sim) -> f64 {
    sim.trace()
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).abs() / (w[1].0 - w[0].0).as_secs_f64())
        .fold(0.0, f64::max)
}

#[test]
fn slew_only_never_steps_and_slews_fast_at_a_bounded_rate() {
    for start in [1.0, 3.0, -3.0] {
        let mut setup = Setup::new(start, 0.0, good(3));
        setup.loop_config = LoopConfig::default().slew_only();
        let mut sim = Sim::new(setup);
        sim.run_for_hours(1.0);
        let (done, rate) = (sim.last_beyond(0.001), fastest_slew(&sim));
        eprintln!(
            "-x, {start:+} s off: within 1 ms from {done:?}, fastest slew {:.0} PPM, offset \
             after 1 h {:.6} s",
            rate * 1e6,
            sim.true_offset()
        );
        assert!(sim.steps().is_empty());
        // 83 333 PPM (tinker maxslewrate's default) on top of the frequency correction
        // (at most 500 PPM) moves 3 s in 36 s; never faster.
        assert!(rate <= (DEFAULT_MAX_SLEW_RATE.0 + 500.0) * 1e-6, "{rate}");
        assert!(
            done.is_some_and(|t| t < Duration::from_secs(60)),
            "{done:?}"
        );
        assert!(sim.true_offset().abs() < 0.0005);
    }
}

#[test]
fn slew_only_50_ms_fast_and_20_ppm_settles_within_a_minute() {
    // The netns row: one LAN server, the client 50 ms fast and 20 PPM fast, -x.
    let mut setup = Setup::new(0.050, 20.0, vec![Server::good(0.00002)]);
    setup.loop_config = LoopConfig::default().slew_only();
    let mut sim = Sim::new(setup);
    sim.run_until(Duration::from_secs(180));
    let done = sim.last_beyond(0.001).unwrap_or_default() + Duration::from_secs(1);
    let rms = sim.rms_between(done, done + Duration::from_secs(60));
    eprintln!(
        "-x, 50 ms and 20 PPM fast: within 1 ms after {done:?}, RMS over the next 60 s {rms:.6} s"
    );
    assert!(sim.steps().is_empty());
    assert!(done < Duration::from_secs(60), "{done:?}");
    assert!(rms < 100e-6, "{rms}");
}

#[test]
fn once_mode_sets_the_clock_and_exits() {
    let mut setup = Setup::new(0.7, 0.0, good(3));
    setup.loop_config = LoopConfig {
        once: true,
        allow_panic: true,
        ..LoopConfig::default()
    };
    let mut sim = Sim::new(setup);
    sim.run_until(Duration::from_secs(60));
    assert!(sim.exited());
    assert_eq!(sim.steps().len(), 1);
    assert!(sim.true_offset().abs() < 0.01);
}

#[test]
fn local_clock_only_when_no_network_source_survives() {
    let mut setup = Setup::new(0.0, 0.0, good(2));
    setup.local_clock = Some(10);
    let mut sim = Sim::new(setup);
    sim.run_until(Duration::from_secs(300));
    let network = [sim.assoc(0).id(), sim.assoc(1).id()];
    assert!(sim.system().vars.peer.is_some_and(|p| network.contains(&p)));
    assert_eq!(sim.system().vars.stratum, 2);
    for s in &mut sim.servers {
        s.alive = false;
    }
    sim.run_until(sim.now() + hours(1.0));
    assert_eq!(sim.system().vars.peer, Some(sim.local_id()));
    assert_eq!(sim.system().vars.stratum, 11);
}
