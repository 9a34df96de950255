//! Seeded pseudo-random numbers, so "random" test input is the same on every run.

/// xorshift64 (Marsaglia); the seed must not be 0.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A coin flip.
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 0
    }
}
