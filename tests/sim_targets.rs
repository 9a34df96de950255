//! Issue 11's simulator targets, through the real engine: each scenario prints what it
//! measures and asserts the issue's bound.
mod sim;

use sim::{hours, Server, Setup, Sim};
use std::time::Duration;

fn four_good() -> Vec<Server> {
    vec![Server::good(0.0005); 4]
}

/// Runs `what` and prints its wall time: every scenario must stay well under 10 s.
fn timed<T>(what: &str, run: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = run();
    eprintln!("{what}: wall time {:.2} s", started.elapsed().as_secs_f64());
    out
}

#[test]
fn fifty_ms_off_fifty_ppm_four_servers_meets_the_issue_targets() {
    let sim = timed("50 ms, +50 PPM, 4 servers", || {
        let mut sim = Sim::new(Setup::new(0.050, 50.0, four_good()));
        sim.run_for_hours(24.0);
        sim
    });
    let settled = sim.last_beyond(0.001);
    let rms = sim.rms_since(hours(12.0));
    let freq_err = sim.frequency_error();
    eprintln!(
        "50 ms, +50 PPM, 4 servers: last |offset| >= 1 ms at {settled:?}, rms last 12 h \
         {:.1} us, frequency error {freq_err:.4} PPM",
        rms * 1e6
    );
    assert!(sim.steps().is_empty(), "{:?}", sim.steps());
    assert!(
        settled.is_none_or(|t| t < Duration::from_secs(120)),
        "{settled:?}"
    );
    assert!(rms < 30e-6, "rms {rms}");
    assert!(freq_err.abs() < 0.05, "frequency error {freq_err} PPM");
}

#[test]
fn three_seconds_off_steps_once_and_serves_within_ten_seconds() {
    let sim = timed("3 s off", || {
        let mut sim = Sim::new(Setup::new(3.0, 15.0, four_good()));
        sim.run_until(Duration::from_secs(120));
        sim
    });
    let serving = sim.serving_since(0);
    eprintln!(
        "3 s off: steps {:?}, serving since {serving:?}, offset at 120 s {:.6} s",
        sim.steps(),
        sim.true_offset()
    );
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    assert!(
        serving.is_some_and(|t| t <= Duration::from_secs(10)),
        "{serving:?}"
    );
    assert_eq!(sim.system().vars.stratum, 2);
}

#[test]
fn falseticker_among_four_client_300ms_off_serves_within_20s_and_stays_right() {
    let mut servers = four_good();
    servers[3].offset = 2.0;
    let sim = timed("falseticker, 0.3 s off", || {
        let mut sim = Sim::new(Setup::new(0.3, 0.0, servers));
        sim.run_for_hours(2.0);
        sim
    });
    let serving = sim.serving_since(0);
    let late = sim.max_abs_since(Duration::from_secs(20));
    eprintln!(
        "falseticker, 0.3 s off: steps {:?}, serving since {serving:?}, max |offset| after \
         20 s {late:.6} s",
        sim.steps()
    );
    assert_eq!(sim.steps().len(), 1, "{:?}", sim.steps());
    assert!((sim.steps()[0].1 + 0.3).abs() < 0.01, "{:?}", sim.steps());
    assert!(
        serving.is_some_and(|t| t <= Duration::from_secs(20)),
        "{serving:?}"
    );
    assert!(late < 0.01, "{late}");
}

#[test]
fn falseticker_never_moves_the_clock() {
    let mut servers = four_good();
    servers[1].offset = -2.0;
    let sim = timed("falseticker", || {
        let mut sim = Sim::new(Setup::new(0.0, 20.0, servers));
        sim.run_for_hours(6.0);
        sim
    });
    let max = sim.max_abs_since(Duration::ZERO);
    eprintln!("falseticker 2 s slow: max |offset| over 6 h {max:.6} s");
    assert!(sim.steps().is_empty(), "{:?}", sim.steps());
    assert!(max < 0.1, "{max}");
}

#[test]
fn random_walk_wander_rms_under_200us() {
    let sim = timed("wander 0.1 PPM/sqrt(h)", || {
        let mut setup = Setup::new(0.0, 20.0, four_good());
        setup.wander_ppm = 0.1;
        let mut sim = Sim::new(setup);
        sim.run_for_hours(24.0);
        sim
    });
    let rms = sim.rms_since(hours(12.0));
    eprintln!(
        "wander 0.1 PPM/sqrt(h): rms last 12 h {:.1} us, max {:.1} us",
        rms * 1e6,
        sim.max_abs_since(hours(12.0)) * 1e6
    );
    assert!(rms < 200e-6, "{rms}");
}

#[test]
fn holdover_drifts_under_100us_per_hour() {
    let sim = timed("holdover", || {
        let mut sim = Sim::new(Setup::new(0.0, 50.0, four_good()));
        sim.run_for_hours(12.0);
        for s in &mut sim.servers {
            s.alive = false;
        }
        let lost = sim.now();
        let before = sim.true_offset();
        let mut worst: f64 = 0.0;
        for h in 1..=6 {
            sim.run_until(lost + hours(h as f64));
            let per_hour = (sim.true_offset() - before).abs() / h as f64;
            eprintln!("holdover: {h} h: {:.1} us per hour", per_hour * 1e6);
            worst = worst.max(per_hour);
        }
        worst
    });
    assert!(sim < 100e-6, "{sim}");
}
