//! [`Tally`]: what one worker counted during a run, merged across workers at
//! the end.
//!
//! Each worker keeps its own, so counting a delivery touches no shared memory;
//! only the progress counters in [`Shared`](super::engine::Shared) are shared,
//! and they are bumped once per read, not per line.

use std::collections::HashMap;

use hdrhistogram::Histogram;

/// The longest latency told apart from longer ones: an hour, in nanoseconds.
const LATENCY_CEILING_NS: u64 = 3_600 * 1_000_000_000;

/// Everything counted by one worker (or, once merged, by all).
#[derive(Debug, Clone)]
pub struct Tally {
    /// This run's messages received, all clients together.
    pub received: u64,
    /// End-to-end latency of each delivery, in nanoseconds.
    pub latency: Histogram<u64>,
    /// When the last delivery arrived, in nanoseconds since the run's start.
    pub last_delivery_ns: u64,
    /// Messages written by this worker's senders.
    pub sent: u64,
    /// How late the latest paced message was written, against its schedule.
    pub max_lag_ns: u64,
    /// `error` events received after joining.
    pub errors: u64,
    /// The first one's message.
    pub first_error: Option<String>,
    /// Clients whose connection the server ended during the run.
    pub closed: usize,
    /// For each order fingerprint, how many clients saw it.
    pub orders: HashMap<u64, usize>,
    /// Ids that did not increase, all clients together.
    pub backwards: u64,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            received: 0,
            latency: Histogram::new_with_bounds(1, LATENCY_CEILING_NS, 3)
                .expect("the latency bounds are valid"),
            last_delivery_ns: 0,
            sent: 0,
            max_lag_ns: 0,
            errors: 0,
            first_error: None,
            closed: 0,
            orders: HashMap::new(),
            backwards: 0,
        }
    }
}

impl Tally {
    /// Counts a delivery that arrived at `now_ns` after `latency_ns`.
    pub fn delivered(&mut self, now_ns: u64, latency_ns: u64) {
        self.received += 1;
        self.latency.saturating_record(latency_ns);
        self.last_delivery_ns = self.last_delivery_ns.max(now_ns);
    }

    /// Counts an `error` event received after joining.
    pub fn error(&mut self, message: &str) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| message.to_owned());
    }

    /// Adds one client's order fingerprint.
    pub fn add_order(&mut self, hash: u64, backwards: u64) {
        *self.orders.entry(hash).or_default() += 1;
        self.backwards += backwards;
    }

    /// Adds another worker's counts to these.
    pub fn merge(&mut self, other: Tally) {
        self.received += other.received;
        self.latency.add(&other.latency).expect("all latency histograms have the same bounds");
        self.last_delivery_ns = self.last_delivery_ns.max(other.last_delivery_ns);
        self.sent += other.sent;
        self.max_lag_ns = self.max_lag_ns.max(other.max_lag_ns);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.closed += other.closed;
        for (hash, clients) in other.orders {
            *self.orders.entry(hash).or_default() += clients;
        }
        self.backwards += other.backwards;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_up() {
        let mut a = Tally::default();
        a.delivered(10, 5);
        a.add_order(1, 0);
        a.error("first");
        let mut b = Tally::default();
        b.delivered(30, 7);
        b.delivered(20, 9);
        b.add_order(1, 0);
        b.add_order(2, 3);
        b.error("second");
        b.closed = 1;
        a.merge(b);
        assert_eq!((a.received, a.last_delivery_ns, a.latency.len()), (3, 30, 3));
        assert_eq!(a.orders, HashMap::from([(1, 2), (2, 1)]));
        assert_eq!((a.backwards, a.errors, a.closed), (3, 2, 1));
        assert_eq!(a.first_error.as_deref(), Some("first"));
        assert_eq!(a.latency.max(), 9);
    }
}
