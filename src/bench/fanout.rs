//! `fanout`: N clients join, S of them send K messages each as fast as the
//! server takes them, and every client reads everything. It measures how many
//! deliveries a second the server sustains, and checks none is lost and all
//! clients see one order.

use serde_json::json;

use super::delivery;
use super::engine::Load;
use super::report::Outcome;
use super::{Bench, Burst};

/// Runs the fanout.
///
/// # Errors
/// A sentence when it could not run at all.
pub fn run(bench: &mut Bench, burst: &Burst) -> Result<Outcome, String> {
    let load = Load::Burst { senders: burst.senders, messages: burst.messages };
    let tag = bench.tag();
    let run = delivery::measure(bench, tag, burst.clients, load, None)?;
    let title = format!(
        "fanout: {} clients, {} of them sending {} messages each; {}",
        burst.clients,
        burst.senders,
        burst.messages,
        bench.describe()
    );
    let outcome = Outcome::new("fanout", run.table(title, false), run.problem.clone());
    Ok(outcome.with(bench.settings()).with(json!({ "messages": burst.messages })).with(&run))
}
