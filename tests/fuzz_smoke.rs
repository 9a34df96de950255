//! The short, stable-toolchain version of the fuzzers (CI has no nightly): every target in
//! `fuzz/src/targets.rs` replays its committed corpus, then runs a bounded number of
//! seeded mutations of it (bit flips, byte changes, inserts, deletes, splices, truncation).
//! The long runs use cargo-fuzz; see docs/fuzzing.md.

#[path = "../fuzz/src/harness.rs"]
mod harness;
#[path = "../fuzz/src/targets.rs"]
#[allow(dead_code)]
mod targets;

mod common;

use common::XorShift;
use std::path::Path;
use std::time::{Duration, Instant};

/// Mutations per target; the time cap keeps slow (debug, loaded) machines well under a
/// minute for all targets together.
const MUTATIONS: usize = 100_000;
const TIME_PER_TARGET: Duration = Duration::from_secs(5);

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

/// One mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut XorShift, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = if d.is_empty() { 0 } else { rng.below(d.len()) };
        match rng.below(7) {
            0 if !d.is_empty() => d[at] ^= 1 << rng.below(8),
            1 if !d.is_empty() => d[at] = rng.next() as u8,
            2 => d.insert(at, rng.next() as u8),
            3 if !d.is_empty() => {
                d.remove(at);
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from + 1);
                d.splice(at..at, other[from..from + len].iter().copied());
            }
            5 => d.truncate(at),
            _ => {
                // Interesting values for length and count fields.
                const EDGES: [u8; 6] = [0, 1, 0x7f, 0x80, 0xfe, 0xff];
                if !d.is_empty() {
                    d[at] = EDGES[rng.below(EDGES.len())];
                }
            }
        }
    }
    d
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let mut report = Vec::new();
    for (name, target) in targets::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "no corpus for {name}");
        for s in &seeds {
            target(s);
        }
        let mut rng = XorShift(0x5eed_0000 + name.len() as u64 * 7919);
        let start = Instant::now();
        let mut runs = 0;
        while runs < MUTATIONS && start.elapsed() < TIME_PER_TARGET {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, a, b);
            target(&input);
            runs += 1;
        }
        report.push(format!(
            "{name}: {} seeds, {runs} mutations in {:.1?}",
            seeds.len(),
            start.elapsed()
        ));
    }
    eprintln!("{}", report.join("\n"));
}
