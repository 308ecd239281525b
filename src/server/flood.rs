//! [`TokenBucket`]: flood control that slows a client down instead of
//! silencing it.
//!
//! Each line a client sends costs one token; tokens come back at `rate` per
//! second up to `burst`. When the bucket is empty the connection's thread waits
//! before reading the next line, so the kernel's receive buffer fills and TCP
//! pushes back on the sender: a pasted paragraph arrives whole, at a readable
//! pace, and nothing is dropped. The wait happens on that client's own thread,
//! so nobody else notices.

use std::time::{Duration, Instant};

/// The longest wait for one line, whatever the rate.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// A per-connection budget of lines.
#[derive(Debug)]
pub struct TokenBucket {
    /// Tokens per second; 0 means unlimited.
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket: `burst` lines at once, then `rate` per second.
    pub fn new(rate: f64, burst: u32, now: Instant) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    /// Spends one token, and returns how long to wait before the *next* line
    /// may be read (zero while the budget lasts).
    pub fn spend(&mut self, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst) - 1.0;
        self.last = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            // A tiny rate could ask for more than a Duration holds; a day is plenty.
            Duration::try_from_secs_f64((1.0 - self.tokens) / self.rate)
                .map_or(MAX_WAIT, |wait| wait.min(MAX_WAIT))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_passes_then_lines_are_paced_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, start);
        assert_eq!(bucket.spend(start), Duration::ZERO);
        assert_eq!(bucket.spend(start), Duration::ZERO);
        // The third line empties the bucket: the next one waits half a second.
        assert_eq!(bucket.spend(start), ms(500));
        assert_eq!(bucket.spend(start + ms(500)), ms(500));
        assert_eq!(bucket.spend(start + ms(1000)), ms(500));
    }

    #[test]
    fn quiet_time_refills_up_to_the_burst_only() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2.0, 3, start);
        for _ in 0..3 {
            bucket.spend(start);
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.spend(later), Duration::ZERO);
        assert_eq!(bucket.spend(later), Duration::ZERO);
        assert_eq!(bucket.spend(later), ms(500), "a minute of quiet buys 3 lines, not 120");
    }

    #[test]
    fn a_tiny_rate_waits_long_but_never_overflows() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1e-20, 1, start);
        assert_eq!(bucket.spend(start), MAX_WAIT);
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.0, 1, start);
        for _ in 0..10_000 {
            assert_eq!(bucket.spend(start), Duration::ZERO);
        }
    }
}
