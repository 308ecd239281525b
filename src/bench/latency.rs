//! `latency`: N clients, a steady aggregate rate of messages spread over the
//! senders for a while; every delivery's end-to-end latency, from the moment
//! its sender wrote it to the moment a client read it, goes into a histogram.
//!
//! Sends keep to a fixed schedule (message `i` is due `i / rate` seconds after
//! the start), and the table says how far behind it the bench ever fell, so a
//! bench too busy to keep up shows instead of hiding in the figures.

use serde_json::json;

use super::delivery;
use super::engine::Load;
use super::report::{grouped, Outcome};
use super::{Bench, Paced};

/// Runs the latency scenario.
///
/// # Errors
/// A sentence when it could not run at all.
pub fn run(bench: &mut Bench, paced: &Paced) -> Result<Outcome, String> {
    let seconds = paced.duration.as_secs_f64();
    let total = (paced.rate * seconds).round() as u64;
    let load = Load::Paced { senders: paced.senders, rate: paced.rate, total };
    let tag = bench.tag();
    let run = delivery::measure(bench, tag, paced.clients, load, None)?;
    let title = format!(
        "latency: {} clients, {} messages/s from {} senders for {seconds} s ({} messages); {}",
        paced.clients,
        grouped(paced.rate.round() as u64),
        paced.senders,
        grouped(total),
        bench.describe()
    );
    let outcome = Outcome::new("latency", run.table(title, true), run.problem.clone());
    let params = json!({ "rate": paced.rate, "duration_s": seconds });
    Ok(outcome.with(bench.settings()).with(params).with(&run))
}
