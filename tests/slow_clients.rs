//! A client that stops reading harms only itself: it is dropped as "too
//! slow" once its queue is full, the others lose nothing, and the server's
//! memory stays bounded.

mod common;

use std::io::Write;
use std::sync::{Condvar, Mutex};
use std::thread;

use common::{Conn, TestServer};
use serde_json::json;

const MESSAGES: usize = 4000;
const TEXT_BYTES: usize = 2000;
/// How far (in messages) the sender may run ahead of the slowest reader: about
/// 400 KB, well inside the 1 MiB queue, so the readers are "keeping up".
const WINDOW: usize = 200;

/// How many messages each reader has read, so the sender can wait for them.
struct Progress {
    counts: Mutex<Vec<usize>>,
    changed: Condvar,
}

impl Progress {
    fn new(readers: usize) -> Progress {
        Progress { counts: Mutex::new(vec![0; readers]), changed: Condvar::new() }
    }

    fn record(&self, reader: usize, count: usize) {
        self.counts.lock().unwrap()[reader] = count;
        self.changed.notify_all();
    }

    fn wait_for_all(&self, count: usize) {
        let counts = self.counts.lock().unwrap();
        let _unused = self.changed.wait_while(counts, |c| c.iter().any(|&n| n < count)).unwrap();
    }
}

/// Reads until `count` messages arrived; returns their ids and the leaves seen.
fn read_all(
    conn: &mut Conn,
    count: usize,
    me: usize,
    progress: &Progress,
) -> (Vec<u64>, Vec<(String, String)>) {
    let (mut ids, mut leaves) = (Vec::new(), Vec::new());
    while ids.len() < count {
        let event = conn.json();
        match event["type"].as_str() {
            Some("msg") => {
                ids.push(event["id"].as_u64().unwrap());
                progress.record(me, ids.len());
            }
            Some("leave") => leaves.push((
                event["nick"].as_str().unwrap().into(),
                event["reason"].as_str().unwrap().into(),
            )),
            _ => {}
        }
    }
    (ids, leaves)
}

/// Eight megabytes of messages flow while Sid never reads: Sid is dropped as
/// too slow, the three readers (who keep up) get all 4000 messages in one
/// order, and the server holds no more for Sid than its queue bound.
#[test]
fn a_client_that_never_reads_is_dropped_and_nobody_loses_anything() {
    let server = TestServer::start(&["--send-queue", "1048576", "--history", "0"]);
    let progress = Progress::new(3);
    let mut readers: Vec<Conn> = ["ann", "ben", "cat"].iter().map(|n| server.join(n)).collect();
    let baseline_kib = server.rss_kib();
    let _sid = Conn::stalled(server.addr, "sid");
    for reader in &mut readers {
        reader.expect_type("join");
    }
    let mut writer = readers[0].writer();
    let results: Vec<_> = thread::scope(|scope| {
        let progress = &progress;
        scope.spawn(move || {
            let line = format!("{}\n", json!({"type": "msg", "text": "z".repeat(TEXT_BYTES)}));
            for n in 0..MESSAGES {
                progress.wait_for_all(n.saturating_sub(WINDOW));
                writer.write_all(line.as_bytes()).unwrap();
            }
        });
        let handles: Vec<_> = readers
            .iter_mut()
            .enumerate()
            .map(|(me, r)| scope.spawn(move || read_all(r, MESSAGES, me, progress)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (ids, _) in &results {
        assert_eq!(ids, &results[0].0, "one order for all");
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
    let mut ann = readers.swap_remove(0);
    let mut leaves = results[0].1.clone();
    if leaves.is_empty() {
        leaves.push({
            let leave = ann.expect_type("leave");
            (leave["nick"].as_str().unwrap().into(), leave["reason"].as_str().unwrap().into())
        });
    }
    assert_eq!(leaves, [("sid".to_owned(), "too slow".to_owned())]);
    let grown_kib = server.rss_kib().saturating_sub(baseline_kib);
    assert!(grown_kib < 4 * 1024, "server grew by {grown_kib} KiB for 8 MB sent");
    ann.send_json(json!({"type": "who"}));
    assert_eq!(ann.expect_type("who")["users"], json!(["ann", "ben", "cat"]));
}
