//! `stall`: the same fanout twice, without and then with one extra client
//! that joins and never reads (with a tiny receive buffer, so the server feels
//! it at once). It measures what a stalled client costs everyone else (their
//! deliveries per second and latency, side by side) and how soon the server
//! drops it as `too slow`: the time from the first send until another client
//! reads its `leave`.
//!
//! The stalled client is an ordinary blocking socket outside the engine: it
//! sends its hello, reads up to its welcome to know it joined, and never reads
//! again. It joins before the second run's clients, so every byte of that run
//! piles up for it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use super::delivery::{self, Deliveries};
use super::engine::{nick, Load};
use super::report::{grouped, millis, Outcome, Table};
use super::{Bench, Burst};
use crate::protocol::message::{decode_event, encode};
use crate::protocol::{Event, Request};

/// The receive buffer asked for; the kernel rounds it up to its minimum
/// (a couple of KiB on Linux).
const TINY_RECEIVE_BUFFER: usize = 1;

/// How long connecting and reading the welcome may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The two runs compared.
#[derive(Debug, Serialize)]
struct Figures<'a> {
    clients: usize,
    senders: usize,
    messages: u64,
    without: &'a Deliveries,
    with: &'a Deliveries,
    /// Deliveries per second with the stalled client over without (1 is ideal).
    throughput_ratio: f64,
    /// p99 latency with over without.
    p99_ratio: Option<f64>,
    stalled_dropped: bool,
    dropped_after_ms: Option<f64>,
}

/// Runs the stall scenario.
///
/// # Errors
/// A sentence when a run could not be made at all.
pub fn run(bench: &mut Bench, burst: &Burst) -> Result<Outcome, String> {
    let load = Load::Burst { senders: burst.senders, messages: burst.messages };
    bench.progress.set_prefix("1/2, without the stalled client: ");
    let tag = bench.tag();
    let without = delivery::measure(bench, tag, burst.clients, load, None)?;
    let tag = bench.tag();
    let stalled_nick = nick(tag, "stalled");
    let stalled = join_and_stall(bench.addr, &stalled_nick)?;
    bench.progress.set_prefix("2/2, with the stalled client: ");
    let with = delivery::measure(bench, tag, burst.clients, load, Some(stalled_nick))?;
    drop(stalled);
    let p99 = |run: &Deliveries| run.latency_ms.map(|p| p.p99);
    let figures = Figures {
        clients: burst.clients,
        senders: burst.senders,
        messages: burst.messages,
        without: &without,
        with: &with,
        throughput_ratio: with.deliveries_per_s / without.deliveries_per_s.max(1e-9),
        p99_ratio: p99(&with).zip(p99(&without)).map(|(with, without)| with / without.max(1e-9)),
        stalled_dropped: with.dropped_after.is_some(),
        dropped_after_ms: with.dropped_after.map(|after| after.as_secs_f64() * 1e3),
    };
    let problems: Vec<String> = [("without", &without), ("with", &with)]
        .iter()
        .filter_map(|(which, run)| {
            Some(format!("{which} the stalled client: {}", run.problem.as_ref()?))
        })
        .collect();
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    let title = format!(
        "stall: {} clients, {} of them sending {} messages each, plus one that never reads; {}",
        burst.clients,
        burst.senders,
        burst.messages,
        bench.describe()
    );
    let outcome = Outcome::new("stall", figures.table(title), problem);
    Ok(outcome.with(bench.settings()).with(&figures))
}

/// Joins as `nick` with a tiny receive buffer and returns the socket, which
/// is never read again.
fn join_and_stall(addr: SocketAddr, nick: &str) -> Result<TcpStream, String> {
    let failed = |err: std::io::Error| format!("the stalled client could not join: {err}");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(failed)?;
    // Before connecting, so that the window it offers is small from the start.
    socket.set_recv_buffer_size(TINY_RECEIVE_BUFFER).map_err(failed)?;
    socket.connect_timeout(&addr.into(), JOIN_TIMEOUT).map_err(failed)?;
    socket.set_read_timeout(Some(JOIN_TIMEOUT)).map_err(failed)?;
    let mut stream: TcpStream = socket.into();
    stream.write_all(&encode(&Request::Hello { nick: nick.to_owned() })).map_err(failed)?;
    let mut first = Vec::new();
    let mut chunk = [0; 4096];
    while !first.contains(&b'\n') {
        match stream.read(&mut chunk).map_err(failed)? {
            0 => return Err("the server closed the stalled client's connection at once".into()),
            read => first.extend_from_slice(&chunk[..read]),
        }
    }
    let line = first.split(|&byte| byte == b'\n').next().unwrap_or_default();
    match decode_event(line) {
        Ok(Event::Welcome { .. }) => Ok(stream),
        Ok(Event::Error { message, .. }) => {
            Err(format!("the server refused the stalled client: {message}"))
        }
        _ => Err(format!(
            "the stalled client got {:?} instead of a welcome",
            String::from_utf8_lossy(line)
        )),
    }
}

impl Figures<'_> {
    fn table(&self, title: String) -> Table {
        let (without, with) = (self.without, self.with);
        let mut table = Table::new(title);
        table.row(["", "without", "with", "with/without"]);
        let rate = |run: &Deliveries| grouped(run.deliveries_per_s as u64);
        table.row([
            "deliveries/s".into(),
            rate(without),
            rate(with),
            format!("{:.3}", self.throughput_ratio),
        ]);
        let latency = |run: &Deliveries, pick: fn(&super::report::Percentiles) -> f64| {
            run.latency_ms.as_ref().map_or("-".to_owned(), |p| millis(pick(p)))
        };
        table.row([
            "p50 ms".into(),
            latency(without, |p| p.p50),
            latency(with, |p| p.p50),
            String::new(),
        ]);
        let p99_ratio = self.p99_ratio.map_or(String::new(), |ratio| format!("{ratio:.3}"));
        table.row([
            "p99 ms".into(),
            latency(without, |p| p.p99),
            latency(with, |p| p.p99),
            p99_ratio,
        ]);
        table.row([
            "max ms".into(),
            latency(without, |p| p.max),
            latency(with, |p| p.max),
            String::new(),
        ]);
        let loss = |run: &Deliveries| match run.loss {
            0 => "no loss".to_owned(),
            lost => format!("{} lost", grouped(lost)),
        };
        table.row(["delivered".into(), loss(without), loss(with), String::new()]);
        let closed = |run: &Deliveries| run.closed.to_string();
        table.row(["closed by server".into(), closed(without), closed(with), String::new()]);
        let order = |run: &Deliveries| if run.same_order { "one order" } else { "several orders" };
        table.row(["order", order(without), order(with), ""]);
        let wall = |run: &Deliveries| format!("{:.3} s", run.wall_s);
        table.row(["wall time".into(), wall(without), wall(with), String::new()]);
        let rss = |run: &Deliveries| run.server_peak_rss_kib.map_or("-".into(), grouped);
        let rss_ratio = without.server_peak_rss_kib.zip(with.server_peak_rss_kib);
        let rss_ratio =
            rss_ratio.map_or(String::new(), |(a, b)| format!("{:.3}", b as f64 / a as f64));
        table.row(["server rss KiB".into(), rss(without), rss(with), rss_ratio]);
        let dropped = match self.dropped_after_ms {
            Some(ms) => format!("dropped as too slow {} ms after the first send", millis(ms)),
            None => "not dropped during the run (send more than the server's --send-queue holds)"
                .to_owned(),
        };
        table.row(["stalled client", &dropped]);
        table.row(["cpu without", &without.cpu.describe()]);
        table.row(["cpu with", &with.cpu.describe()]);
        table
    }
}
