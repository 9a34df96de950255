//! Start-up, steps, panics, falsetickers and fallbacks in the simulator.
mod sim;

use ntp6::discipline::loopfilter::{ClockState, LoopConfig};
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

#[test]
fn three_seconds_off_steps_once_then_slews() {
    let mut sim = Sim::new(Setup::new(3.0, 15.0, good(4)));
    sim.run_until(Duration::from_secs(60));
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    let (at, by) = sim.steps()[0];
    assert!((by + 3.0).abs() < 0.01, "{by}");
    assert!(at < Duration::from_secs(15), "{at:?}");
    // As classic: a step soon after start-up measures the frequency (FREQ) first.
    assert_eq!(sim.system().discipline.state(), ClockState::Freq);
    sim.run_for_hours(6.0);
    let settled = sim.last_beyond(0.001);
    eprintln!(
        "stepped {by:+.6} s at {at:?}; last |offset| >= 1 ms at {settled:?}, max after 3 h {:.6} s",
        sim.max_abs_since(hours(3.0))
    );
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    assert!(settled.is_some_and(|t| t < hours(1.5)), "{settled:?}");
    assert!(sim.max_abs_since(hours(3.0)) < 0.0003);
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
    // The 15 PPM drift of the 900 s FREQ state, never the falseticker's 2 s.
    assert!(max < 0.02, "{max}");
    assert!(late < 0.001, "{late}");
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

#[test]
fn slew_only_never_steps() {
    let mut setup = Setup::new(1.0, 0.0, good(3));
    setup.loop_config = LoopConfig::default().slew_only();
    let mut sim = Sim::new(setup);
    sim.run_for_hours(1.0);
    assert!(sim.steps().is_empty());
    let off = sim.true_offset();
    eprintln!("-x: offset after 1 h {off:.4}");
    assert!(off > 0.0 && off < 0.5, "slewing at most 500 PPM: {off}");
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
#[ignore = "needs h-disc (issue 11 item 1): the engine samples LOCAL(0) at start, before any \
            server's filter is fit, and its first update puts the discipline in FREQ for 900 s, \
            so the daemon serves stratum 11 until then (the old copied glue sampled LOCAL only \
            from 64 s on)"]
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
