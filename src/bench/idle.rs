//! `idle`: many joined connections that do nothing. It measures what each
//! costs the server in memory, threads and descriptors (read from `/proc` when
//! the server's pid is known), and checks the server holds them all.
//!
//! Memory is read after every connection has joined and has received every
//! event caused by the joins (the sync phase), so queues are empty and what
//! remains is the standing cost of a connection.

use serde::Serialize;

use super::engine::Load;
use super::procfs::{Cpu, CpuMeter, Footprint};
use super::report::{grouped, Outcome, Table};
use super::{Bench, Idle};

/// The figures of the idle scenario; the `/proc` ones are null without a pid.
#[derive(Debug, Serialize)]
struct Figures {
    connections: usize,
    join_s: f64,
    hold_s: f64,
    /// Connections the server ended while they were held.
    closed: usize,
    rss_before_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    rss_per_connection_bytes: Option<f64>,
    threads_before: Option<usize>,
    threads: Option<usize>,
    fds: Option<usize>,
    /// CPU used while joining.
    join_cpu: Cpu,
}

/// Runs the idle scenario.
///
/// # Errors
/// A sentence when the connections could not all be made or held.
pub fn run(bench: &mut Bench, idle: &Idle) -> Result<Outcome, String> {
    let footprint = |pid: Option<u32>| pid.map(Footprint::of).transpose();
    let before = footprint(bench.pid)?;
    let tag = bench.tag();
    let meter = CpuMeter::start(bench.pid);
    let (mut engine, join) = bench.start_run(tag, idle.connections, Load::Idle, None)?;
    let cpu = meter.read();
    let after = footprint(bench.pid)?;
    engine
        .hold(idle.hold, &mut bench.progress, bench.deadline)
        .map_err(|halt| bench.halted(halt, "the connections were not held long enough"))?;
    engine
        .sync(&mut bench.progress, bench.deadline)
        .map_err(|halt| bench.halted(halt, "not every connection answered after the hold"))?;
    let closed = engine.finish().closed;
    let figures = Figures {
        connections: idle.connections,
        join_s: join.as_secs_f64(),
        hold_s: idle.hold.as_secs_f64(),
        closed,
        rss_before_kib: before.map(|f| f.rss_kib),
        rss_after_kib: after.map(|f| f.rss_kib),
        rss_per_connection_bytes: before.zip(after).map(|(before, after)| {
            (after.rss_kib as f64 - before.rss_kib as f64) * 1024.0 / idle.connections as f64
        }),
        threads_before: before.map(|f| f.threads),
        threads: after.map(|f| f.threads),
        fds: after.map(|f| f.fds),
        join_cpu: cpu,
    };
    let problem = (closed > 0)
        .then(|| format!("the server closed {closed} of {} idle connections", idle.connections));
    let title = format!("idle: {} joined connections; {}", idle.connections, bench.describe());
    let outcome = Outcome::new("idle", figures.table(title), problem);
    Ok(outcome.with(bench.settings()).with(&figures))
}

impl Figures {
    fn table(&self, title: String) -> Table {
        let mut table = Table::new(title);
        let connections = grouped(self.connections as u64);
        table.row(["joined", &format!("{connections} connections in {:.2} s", self.join_s)]);
        let held = match self.closed {
            0 => format!("all {connections} for {:.1} s", self.hold_s),
            closed => format!("{closed} of {connections} closed by the server"),
        };
        table.row(["held", &held]);
        table.row(["cpu joining", &self.join_cpu.describe()]);
        let (Some(before), Some(after)) = (self.rss_before_kib, self.rss_after_kib) else {
            table.row(["server", "memory and threads unknown (give --server-pid, or use --spawn)"]);
            return table;
        };
        let per = self.rss_per_connection_bytes.unwrap_or_default();
        let rss = format!(
            "{} KiB before, {} KiB after: {:.1} KiB per connection",
            grouped(before),
            grouped(after),
            per / 1024.0
        );
        table.row(["server rss", &rss]);
        let threads = format!(
            "{} before, {} after",
            self.threads_before.unwrap_or_default(),
            self.threads.unwrap_or_default()
        );
        table.row(["threads", &threads]);
        table.row(["fds", &self.fds.unwrap_or_default().to_string()]);
        table
    }
}
