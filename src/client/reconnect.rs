//! [`Backoff`]: how long to wait before the next reconnect attempt.
//!
//! 1 s, then doubling up to 30 s, each wait shortened by a random part of up to
//! a quarter ("jitter") so that a room full of clients that lost the same server
//! does not knock on the restarted one all in the same instant. The waits
//! themselves are blocking `recv_timeout`s in the session thread: no polling.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// The first wait, before the first attempt: a restarting server is rarely
/// back sooner.
const FIRST: Duration = Duration::from_secs(1);

/// The longest wait between two attempts.
const CAP: Duration = Duration::from_secs(30);

/// The delays of successive reconnect attempts.
#[derive(Debug, Default)]
pub struct Backoff {
    attempts: u32,
}

impl Backoff {
    /// A backoff whose next delay is the first one.
    pub fn new() -> Backoff {
        Backoff::default()
    }

    /// The delay before the next attempt. `random` in `[0, 1)` picks the
    /// jitter: the delay is the nominal one minus up to a quarter of it.
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let nominal = FIRST.saturating_mul(1 << self.attempts.min(16)).min(CAP);
        self.attempts = self.attempts.saturating_add(1);
        nominal.mul_f64(1.0 - random.clamp(0.0, 1.0) / 4.0)
    }
}

/// A random number in `[0, 1)`, good enough for jitter: std seeds each
/// `RandomState` from the OS, so no extra crate is needed for this.
pub fn jitter() -> f64 {
    (RandomState::new().hash_one(0u8) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_up_to_thirty() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..8).map(|_| backoff.next_delay(0.0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
        for _ in 0..100 {
            assert_eq!(backoff.next_delay(0.0), CAP, "no overflow after many attempts");
        }
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.next_delay(0.999_999).as_millis(), 750);
        assert_eq!(backoff.next_delay(0.5).as_millis(), 1750);
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let samples: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(samples.iter().all(|r| (0.0..1.0).contains(r)));
        let first = samples[0];
        assert!(samples.iter().any(|r| *r != first), "not constant");
    }
}
