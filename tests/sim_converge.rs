//! Steady state: convergence, frequency learning, wander, holdover, a frequency step. The
//! bounds are issue 11's targets; the figures printed are what the discipline reaches.
mod sim;

use ntp6::time::PollInterval;
use sim::{hours, Server, Setup, Sim};
use std::time::Duration;

fn four_good() -> Vec<Server> {
    vec![Server::good(0.0005); 4]
}

/// +50 PPM, four servers with 0.5 ms jitter on symmetric paths, 50 ms off at start.
fn fifty_ppm(setup: impl FnOnce(&mut Setup)) -> Sim {
    let mut s = Setup::new(0.050, 50.0, four_good());
    setup(&mut s);
    let mut sim = Sim::new(s);
    sim.run_for_hours(24.0);
    sim
}

fn assert_issue_targets(sim: &Sim, what: &str) {
    let settled = sim.last_beyond(0.001);
    let rms = sim.rms_since(hours(12.0));
    let freq_err = sim.frequency_error();
    eprintln!(
        "{what}: last |offset| >= 1 ms at {settled:?}, max after 3 h {:.6} s, \
         rms last 12 h {rms:.6} s, frequency error {freq_err:.4} PPM",
        sim.max_abs_since(hours(3.0))
    );
    assert!(
        sim.steps().is_empty(),
        "no step expected: {:?}",
        sim.steps()
    );
    // The 50 ms are slewed away within a second of the first update, the 50 PPM learned
    // within minutes: under 1 ms within 2 minutes and for good.
    assert!(
        settled.is_none_or(|t| t < Duration::from_secs(120)),
        "{settled:?}"
    );
    assert!(freq_err.abs() < 0.05, "frequency error {freq_err} PPM");
    assert!(rms < 30e-6, "rms {rms}");
}

#[test]
fn converges_from_50ms_with_50ppm_drift() {
    assert_issue_targets(&fifty_ppm(|_| {}), "daemon discipline");
}

#[test]
fn converges_with_15ppm_and_three_servers() {
    let mut sim = Sim::new(Setup::new(0.0, 15.0, vec![Server::good(0.0005); 3]));
    sim.run_for_hours(6.0);
    let (max, ferr) = (sim.max_abs_since(hours(2.0)), sim.frequency_error());
    eprintln!(
        "15 PPM, 3 servers: max |offset| after 2 h {max:.6} s, frequency error {ferr:.4} PPM"
    );
    assert!(max < 0.0005, "{max}");
    assert!(ferr.abs() < 0.1, "{ferr}");
}

#[test]
fn follows_a_wandering_oscillator() {
    // A random walk of 0.02 PPM per sqrt(hour) on top of +50 PPM.
    let sim = fifty_ppm(|s| s.wander_ppm = 0.02);
    let (max, rms) = (sim.max_abs_since(hours(3.0)), sim.rms_since(hours(12.0)));
    eprintln!(
        "wander 0.02 PPM/sqrt(h): max |offset| after 3 h {max:.6} s, rms last 12 h {rms:.6} s"
    );
    assert!(max < 0.0005, "{max}");
    assert!(rms < 0.0001, "{rms}");
}

#[test]
fn holdover_keeps_frequency_when_all_servers_are_lost() {
    let mut sim = Sim::new(Setup::new(0.0, 50.0, four_good()));
    sim.run_for_hours(12.0);
    for s in &mut sim.servers {
        s.alive = false;
    }
    let before = sim.true_offset();
    sim.run_for_hours(1.0);
    let drift = (sim.true_offset() - before).abs();
    eprintln!("holdover drift over 1 h: {drift:.6} s");
    assert!(drift < 100e-6, "{drift}");
    sim.run_for_hours(5.0);
    let drift = (sim.true_offset() - before).abs();
    eprintln!("holdover drift over 6 h: {drift:.6} s");
    assert!(drift < 600e-6, "{drift}");
}

/// Runs 6 h, steps the oscillator by 5 PPM; returns (poll at the step, max |offset| after,
/// time after the step of the last |offset| >= 1 ms, time of the first sample after it).
fn five_ppm_step(
    max_poll: Option<PollInterval>,
) -> (PollInterval, f64, Option<Duration>, Duration) {
    let mut setup = Setup::new(0.0, 50.0, four_good());
    setup.max_poll = max_poll;
    let mut sim = Sim::new(setup);
    sim.run_for_hours(6.0);
    let poll = sim.system().discipline.poll();
    let jump = sim.now();
    let drift = sim.engines[0].clock.drift();
    sim.engines[0].clock.set_drift(drift + 5.0);
    let received = |sim: &Sim| -> u64 { (0..4).map(|i| sim.assoc(i).packets_received()).sum() };
    let before = received(&sim);
    while received(&sim) == before && sim.now() < jump + hours(1.0) {
        sim.run_until(sim.now() + Duration::from_secs(1));
    }
    let first = sim.now() - jump;
    sim.run_until(jump + hours(2.0));
    assert!(
        sim.frequency_error().abs() < 0.1,
        "{}",
        sim.frequency_error()
    );
    assert!(sim.max_abs_since(jump + hours(0.5)) < 200e-6);
    let back = sim.last_beyond(0.001).map(|t| t.saturating_sub(jump));
    (poll, sim.max_abs_since(jump), back, first)
}

#[test]
fn a_5_ppm_frequency_step_is_followed_within_minutes() {
    // Issue 11's 10 minutes need a sample within them: with maxpoll 9 the first one comes
    // at most 512 s after the step.
    let (poll, max, back, first) = five_ppm_step(Some(PollInterval(9)));
    eprintln!(
        "5 PPM step, maxpoll 9, at poll {}: max |offset| {max:.6} s, first sample {first:?} \
         and last >= 1 ms {back:?} after the step",
        poll.0
    );
    assert!(
        back.is_none_or(|t| t < Duration::from_secs(600)),
        "{back:?}"
    );
    // With classic's maxpoll 10 a sample that shows the change may come 17 minutes after
    // the step; the discipline follows within minutes of it.
    let (poll, max, back, first) = five_ppm_step(None);
    eprintln!(
        "5 PPM step, maxpoll 10, at poll {}: max |offset| {max:.6} s, first sample {first:?} \
         and last >= 1 ms {back:?} after the step",
        poll.0
    );
    let within = Duration::from_secs(poll.seconds() + 300);
    assert!(back.is_none_or(|t| t < within), "{back:?}");
}

#[test]
fn warm_start_from_drift_file_converges_faster() {
    let mut cold = Sim::new(Setup::new(0.02, 50.0, four_good()));
    cold.run_for_hours(6.0);
    let mut warm_setup = Setup::new(0.02, 50.0, four_good());
    warm_setup.drift_file = Some(ntp6::time::Ppm(-50.0));
    let mut warm = Sim::new(warm_setup);
    warm.run_for_hours(6.0);
    // Both slew the 20 ms away within a second of the first update; what the drift file
    // saves is learning the 50 PPM in the minutes after.
    let (from, to) = (Duration::from_secs(10), Duration::from_secs(600));
    let (c, w) = (cold.rms_between(from, to), warm.rms_between(from, to));
    let (c6, w6) = (cold.rms_since(from), warm.rms_since(from));
    let warm_max = warm.max_abs_since(from);
    eprintln!(
        "offset RMS 10 s-10 min: cold {c:.6} s, warm {w:.6} s; 10 s-6 h: cold {c6:.6} s, \
         warm {w6:.6} s; warm max after 10 s {warm_max:.6} s"
    );
    assert!(w <= c, "warm {w} cold {c}");
    assert!(warm_max < 250e-6, "{warm_max}");
    assert!(c6 < 100e-6 && w6 < 100e-6, "cold {c6} warm {w6}");
}
