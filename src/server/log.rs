//! The server's log: one timestamped line per event on stderr.
//!
//! Operators read it, and tests wait on it. Only rare events are logged
//! (connects, joins, leaves, errors), never messages. Writing to stderr can
//! still block (a pipe nobody reads, a paused pager), and the hub logs joins
//! and leaves, so lines go through a bounded channel to a thread of their own:
//! when it backs up, lines are dropped and counted, never waited for.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// Lines that may wait for the log thread before new ones are dropped.
const BACKLOG: usize = 10_000;

/// What the log thread is given.
enum Entry {
    Line(String),
    /// Answered once every line before it is written.
    Flush(Sender<()>),
}

static ENTRIES: OnceLock<Sender<Entry>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Logs one line, prefixed with the UTC time. Never blocks.
pub fn info(line: Arguments<'_>) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    if entries().try_send(Entry::Line(format!("{now} {line}"))).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits, at most `within`, until every line logged so far is written.
pub fn flush(within: Duration) {
    let (done, written) = crossbeam_channel::bounded(1);
    if entries().send_timeout(Entry::Flush(done), within).is_ok() {
        let _ = written.recv_timeout(within);
    }
}

fn entries() -> &'static Sender<Entry> {
    ENTRIES.get_or_init(|| {
        let (sender, receiver) = crossbeam_channel::bounded(BACKLOG);
        // Should the thread not start, lines are dropped: never written inline.
        let _ = thread::Builder::new().name("log".into()).spawn(move || write_all(receiver));
        sender
    })
}

fn write_all(entries: Receiver<Entry>) {
    let mut stderr = std::io::stderr();
    for entry in entries {
        match entry {
            Entry::Line(line) => {
                let dropped = DROPPED.swap(0, Ordering::Relaxed);
                if dropped > 0 {
                    let _ = writeln!(stderr, "({dropped} log lines dropped: stderr was not read)");
                }
                // A closed stderr must not take the server down.
                let _ = writeln!(stderr, "{line}");
            }
            Entry::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
