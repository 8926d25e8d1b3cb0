//! Seeded randomness: every id, session id, token, secret, avatar and bcrypt salt
//! the mock makes comes from here, so the same seed gives the same bytes.
//!
//! The generator is xoshiro256** seeded through splitmix64: fast and reproducible,
//! and *not* cryptographic. That is the point of a mock; never use it in production.

use server::core::ports::Random;
use std::sync::Mutex;

pub struct SeededRandom {
    state: Mutex<[u64; 4]>,
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn state_for(seed: u64) -> [u64; 4] {
    let mut x = seed;
    [
        splitmix64(&mut x),
        splitmix64(&mut x),
        splitmix64(&mut x),
        splitmix64(&mut x),
    ]
}

impl SeededRandom {
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom {
            state: Mutex::new(state_for(seed)),
        }
    }

    /// Starts the sequence again from `seed`.
    pub fn reseed(&self, seed: u64) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state_for(seed);
    }

    fn next_u64(s: &mut [u64; 4]) -> u64 {
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
}

impl Random for SeededRandom {
    fn fill(&self, dest: &mut [u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for chunk in dest.chunks_mut(8) {
            let bytes = SeededRandom::next_u64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        let (a, b, c) = (
            SeededRandom::new(42),
            SeededRandom::new(42),
            SeededRandom::new(43),
        );
        let (mut x, mut y, mut z) = ([0u8; 37], [0u8; 37], [0u8; 37]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        a.reseed(42);
        let mut again = [0u8; 37];
        a.fill(&mut again);
        assert_eq!(again, y);
    }
}
