//! One measured delivery run: clients join, a load is sent, and everything
//! that arrives is counted. `fanout` and `latency` are one run each, `stall`
//! is two.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::engine::{Halt, Load};
use super::procfs::{Cpu, CpuMeter, PeakRss};
use super::report::{grouped, millis, Percentiles, Table};
use super::tally::Tally;
use super::Bench;

/// The figures of one delivery run.
#[derive(Debug, Clone, Serialize)]
pub struct Deliveries {
    /// Clients that joined and read.
    pub clients: usize,
    /// Clients that sent.
    pub senders: usize,
    /// Messages written by the senders.
    pub sent: u64,
    /// Deliveries due: every message to every client.
    pub expected: u64,
    /// Deliveries that arrived.
    pub received: u64,
    /// `expected - received`.
    pub loss: u64,
    /// Deliveries over the time from the first send to the last delivery.
    pub deliveries_per_s: f64,
    /// Every client saw the same ids in the same strictly increasing order.
    pub same_order: bool,
    /// How many different orders the clients saw (1 is right).
    pub orders: usize,
    /// Ids that did not increase, all clients together (0 is right).
    pub out_of_order: u64,
    /// Clients whose connection the server ended during the run.
    pub closed: usize,
    /// `error` events received during the run.
    pub errors: u64,
    /// How long joining took.
    pub join_s: f64,
    /// From the first send to the last delivery.
    pub wall_s: f64,
    /// End-to-end latency of every delivery; `None` if none arrived.
    pub latency_ms: Option<Percentiles>,
    /// How far behind its schedule a paced message was written, at most.
    pub max_send_lag_ms: f64,
    /// CPU over the send phase.
    pub cpu: Cpu,
    /// The server's highest resident memory during the send phase, in KiB,
    /// when its pid is known.
    pub server_peak_rss_kib: Option<u64>,
    /// The run hit the timeout; the figures are what arrived until then.
    pub timed_out: bool,
    /// When the watched client was seen dropped, after the first send.
    #[serde(skip)]
    pub dropped_after: Option<Duration>,
    /// What went wrong, as a sentence.
    #[serde(skip)]
    pub problem: Option<String>,
}

/// Runs `load` over `clients` tagged `tag`, timing the "too slow" drop of
/// `watch` if given.
///
/// # Errors
/// A sentence when the run could not be made (refused, unreachable, joining
/// timed out); a timeout while sending is a figure instead.
pub fn measure(
    bench: &mut Bench,
    tag: u64,
    clients: usize,
    load: Load,
    watch: Option<String>,
) -> Result<Deliveries, String> {
    let (mut engine, join) = bench.start_run(tag, clients, load, watch)?;
    let meter = CpuMeter::start(bench.pid);
    let peak = bench.pid.and_then(PeakRss::start);
    let sent = engine.send(&mut bench.progress, bench.deadline);
    let cpu = meter.read();
    let server_peak_rss_kib = peak.and_then(PeakRss::stop);
    let timed_out = match sent {
        Ok(()) => false,
        Err(Halt::TimedOut) => true,
        Err(Halt::Failed(why)) => return Err(why),
    };
    let start_ns = engine.shared().send_start_ns.load(Ordering::Acquire);
    let dropped_ns = engine.shared().dropped_ns.load(Ordering::Acquire);
    let tally = engine.finish();
    let mut deliveries = Deliveries::count(clients, load, &tally, start_ns, cpu);
    deliveries.join_s = join.as_secs_f64();
    deliveries.server_peak_rss_kib = server_peak_rss_kib;
    deliveries.timed_out = timed_out;
    deliveries.dropped_after =
        (dropped_ns != 0).then(|| Duration::from_nanos(dropped_ns.saturating_sub(start_ns)));
    deliveries.problem = deliveries.diagnose(tally.first_error.as_deref(), bench.timeout);
    Ok(deliveries)
}

impl Deliveries {
    /// The figures in `tally`, for a send phase that began at `start_ns`.
    fn count(clients: usize, load: Load, tally: &Tally, start_ns: u64, cpu: Cpu) -> Deliveries {
        let expected = load.total() * clients as u64;
        let wall_s = match tally.last_delivery_ns.checked_sub(start_ns) {
            Some(ns) if tally.received > 0 => ns as f64 / 1e9,
            _ => cpu.wall_s,
        };
        let orders = tally.orders.len();
        Deliveries {
            clients,
            senders: load.senders(),
            sent: tally.sent,
            expected,
            received: tally.received,
            loss: expected.saturating_sub(tally.received),
            deliveries_per_s: tally.received as f64 / wall_s.max(1e-9),
            same_order: orders == 1 && tally.backwards == 0,
            orders,
            out_of_order: tally.backwards,
            closed: tally.closed,
            errors: tally.errors,
            join_s: 0.0,
            wall_s,
            latency_ms: Percentiles::of(&tally.latency),
            max_send_lag_ms: tally.max_lag_ns as f64 / 1e6,
            cpu,
            server_peak_rss_kib: None,
            timed_out: false,
            dropped_after: None,
            problem: None,
        }
    }

    /// Everything that went wrong, as one sentence; `None` if nothing did.
    fn diagnose(&self, first_error: Option<&str>, timeout: Duration) -> Option<String> {
        let mut problems = Vec::new();
        if self.timed_out {
            problems.push(format!(
                "the run did not finish within the {} s timeout (--timeout): {} of {} deliveries arrived",
                timeout.as_secs_f64(),
                grouped(self.received),
                grouped(self.expected)
            ));
        } else if self.loss > 0 {
            problems.push(format!(
                "{} of {} deliveries were lost",
                grouped(self.loss),
                grouped(self.expected)
            ));
        }
        if self.received > self.expected {
            let extra = grouped(self.received - self.expected);
            problems.push(format!("{extra} more deliveries arrived than were sent"));
        }
        if !self.same_order {
            problems.push(format!(
                "the clients did not all see one order ({} different orders, {} ids out of order)",
                self.orders, self.out_of_order
            ));
        }
        if self.closed > 0 {
            problems.push(format!("the server closed {} clients' connections", self.closed));
        }
        if let Some(error) = first_error {
            problems.push(format!("the server sent {} errors, the first: {error}", self.errors));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// The figures as rows of a table; `paced` adds how the schedule was kept.
    pub fn table(&self, title: String, paced: bool) -> Table {
        let mut table = Table::new(title);
        table.row([
            "joined",
            &format!("{} clients in {:.2} s", grouped(self.clients as u64), self.join_s),
        ]);
        table
            .row(["sent", &format!("{} messages by {} senders", grouped(self.sent), self.senders)]);
        let loss = match self.loss {
            0 => "no loss".to_owned(),
            lost => format!("{} lost", grouped(lost)),
        };
        let delivered =
            format!("{} of {} ({loss})", grouped(self.received), grouped(self.expected));
        table.row(["delivered", &delivered]);
        table.row(["deliveries/s", &grouped(self.deliveries_per_s as u64)]);
        table.row(["one order", &self.order_summary()]);
        table.row(["wall time", &format!("{:.3} s, first send to last delivery", self.wall_s)]);
        table.row(["latency ms", &Percentiles::describe(self.latency_ms.as_ref())]);
        if paced {
            let lag = format!("sends at most {} ms behind schedule", millis(self.max_send_lag_ms));
            table.row(["schedule", &lag]);
        }
        if self.closed > 0 || self.errors > 0 {
            let trouble = format!("{} connections closed, {} errors", self.closed, self.errors);
            table.row(["trouble", &trouble]);
        }
        table.row(["cpu", &self.cpu.describe()]);
        if let Some(kib) = self.server_peak_rss_kib {
            table.row(["server rss", &format!("{} KiB at the most while sending", grouped(kib))]);
        }
        table
    }

    /// "yes, all N clients", or how the orders differ.
    pub fn order_summary(&self) -> String {
        if self.same_order {
            format!("yes, all {} clients", grouped(self.clients as u64))
        } else {
            format!("no: {} different orders, {} ids out of order", self.orders, self.out_of_order)
        }
    }
}
