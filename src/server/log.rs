//! The server's log: one timestamped line per event on stderr.
//!
//! Operators read it, and tests wait on it. Only rare events are logged
//! (connects, joins, leaves, errors), never messages, so logging stays off the
//! hot path.

use std::fmt::Arguments;
use std::io::Write;

/// Writes one log line, prefixed with the UTC time.
pub fn info(line: Arguments<'_>) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    // A closed stderr must not take the server down.
    let _ = writeln!(std::io::stderr().lock(), "{now} {line}");
}
