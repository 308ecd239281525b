//! Crowds that misbehave: ten thousand connections come and go, a hundred sit
//! silent, flooders and stalled readers share the room with fifty people
//! talking. Each time the server's threads and file descriptors return to
//! where they were, and the people who behave lose nothing and all see one
//! order.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{eventually, Conn, TestServer, TIMEOUT};
use serde_json::{json, Value};

/// The tests here each load both cores; they take turns so that each one's
/// timing is its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The server's thread and descriptor counts.
fn resources(server: &TestServer) -> (usize, usize) {
    (server.threads(), server.fds())
}

/// Waits until the server's threads and descriptors are back to `baseline`.
fn back_to(server: &TestServer, baseline: (usize, usize)) {
    eventually(
        TIMEOUT,
        "threads and descriptors back to the baseline",
        || resources(server) == baseline,
        || format!("(threads, fds) = {:?}, baseline {baseline:?}", resources(server)),
    );
}

/// A JSON client joined as `nick` on `addr` (usable from any thread).
fn join_at(addr: SocketAddr, nick: &str) -> Conn {
    let mut conn = Conn::open(addr);
    conn.send_json(json!({"type": "hello", "nick": nick}));
    assert_eq!(conn.expect_type("welcome")["nick"], nick);
    conn
}

/// One short life of a connection, in one of four ways; `n` picks the way
/// and makes the nick unique.
fn connection_life(addr: SocketAddr, n: usize) {
    let nick = format!("c{n}");
    match n % 4 {
        // Connect and close without a byte.
        0 => drop(Conn::open(addr)),
        // Join, then close.
        1 => drop(join_at(addr, &nick)),
        // Join as a person, then vanish with a reset.
        2 => {
            let mut conn = Conn::open(addr);
            conn.send_line(&nick);
            conn.expect_line("* Welcome, ");
            conn.reset();
        }
        // Join and quit in one write: bye, then the server closes.
        _ => {
            let mut conn = Conn::open(addr);
            let hello = json!({"type": "hello", "nick": nick});
            conn.send_raw(format!("{hello}\n{}\n", json!({"type": "quit"})).as_bytes());
            conn.expect_type("bye");
            conn.expect_closed();
        }
    }
}

const CYCLES: usize = 10_000;
const CYCLING_THREADS: usize = 4;

/// Ten thousand connections come and go, from four threads at once, in four
/// ways (silent close, join and close, join and reset, join and quit):
/// afterwards the server has exactly the threads and file descriptors it had
/// before, and the room is empty (every nick was freed).
#[test]
fn ten_thousand_connections_come_and_go_without_a_trace() {
    let _turn = one_at_a_time();
    let server = TestServer::start(&[]);
    let addr = server.addr;
    let baseline = resources(&server);
    let start = Instant::now();
    thread::scope(|scope| {
        for t in 0..CYCLING_THREADS {
            scope.spawn(move || {
                (t..CYCLES).step_by(CYCLING_THREADS).for_each(|n| connection_life(addr, n));
            });
        }
    });
    let cycling = start.elapsed();
    back_to(&server, baseline);
    eprintln!(
        "{CYCLES} connections in {cycling:?}; back to {baseline:?} (threads, fds) after {:?}",
        start.elapsed()
    );
    let mut last = server.join("last");
    last.send_json(json!({"type": "who"}));
    assert_eq!(last.expect_type("who")["users"], json!(["last"]));
}

const SILENT: usize = 100;

/// A hundred connections that never send a byte cost nobody anything: they
/// are greeted as people after about a second and closed with the plain
/// handshake error when --handshake-timeout runs out, while two people chat
/// undisturbed; then the server is back to its threads and descriptors.
#[test]
fn a_hundred_silent_connections_are_greeted_then_closed() {
    let _turn = one_at_a_time();
    let server = TestServer::start(&["--handshake-timeout", "3"]);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.expect_type("join");
    let baseline = resources(&server);
    let mut silent: Vec<Conn> = (0..SILENT).map(|_| server.connect()).collect();
    let started = Instant::now();
    let mut talked = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let text = format!("line {talked}");
        alice.send_json(json!({"type": "msg", "text": text}));
        assert_eq!(bob.expect_type("msg")["text"], text);
        assert_eq!(alice.expect_type("msg")["text"], text);
        talked += 1;
    }
    let greeting = chat::protocol::plain::GREETING.trim_end();
    for conn in &mut silent {
        assert_eq!(conn.line(), greeting);
        assert_eq!(conn.line(), "! no nick was chosen within 3 s; closing the connection");
        conn.expect_closed();
    }
    back_to(&server, baseline);
    bob.send_json(json!({"type": "msg", "text": "still here"}));
    assert_eq!(alice.expect_type("msg")["text"], "still here");
    assert!(talked > 10, "alice and bob exchanged only {talked} lines in 2 s");
}

const NORMAL: usize = 50;
const FLOODERS: usize = 5;
const STALLED: usize = 5;
/// Messages per normal client: with its hello, within the burst of 10, so
/// flood control never has to slow a normal client down.
const ROUNDS: usize = 8;
const ROUND_GAP: Duration = Duration::from_millis(400);
/// Flood lines of 100 KB (with --max-line to match): five flooders' bursts,
/// 5 MB, overfill a stalled reader's kernel buffers (about 3 MB on loopback),
/// so its writer really blocks.
const FLOOD_TEXT: usize = 100_000;
/// A normal line is short; anything longer is flood.
const SHORT: usize = 1000;

/// A joined client that sends flood lines as fast as the server takes them,
/// and reads (and drops) everything it is sent, until its socket is shut;
/// returns a handle to shut it with.
fn flooder<'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    addr: SocketAddr,
    nick: &str,
) -> TcpStream {
    let conn = join_at(addr, nick);
    let (mut writer, handle) = (conn.writer(), conn.writer());
    let line = format!("{}\n", json!({"type": "msg", "text": "f".repeat(FLOOD_TEXT)}));
    scope.spawn(move || while writer.write_all(line.as_bytes()).is_ok() {});
    scope.spawn(move || {
        let mut lines = BufReader::new(conn.stream);
        let mut sink = Vec::new();
        while lines.read_until(b'\n', &mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    handle
}

/// What a normal client saw: every short event in order, and the number of
/// flood lines.
struct Seen {
    events: Vec<String>,
    floods: usize,
}

/// How long the whole exchange may take: the talk lasts about 3 s, and a
/// stalled reader is dropped a few write timeouts after its socket fills.
const EXCHANGE_DEADLINE: Duration = Duration::from_secs(40);

/// Reads until all normal messages and the stalled readers' leaves arrived.
/// Flood lines are counted, not parsed.
fn watch(conn: &mut Conn, messages: usize, leaves: usize) -> Seen {
    let deadline = Instant::now() + EXCHANGE_DEADLINE;
    let mut seen = Seen { events: Vec::new(), floods: 0 };
    let (mut got_messages, mut got_leaves) = (0, 0);
    while got_messages < messages || got_leaves < leaves {
        assert!(
            Instant::now() < deadline,
            "after {EXCHANGE_DEADLINE:?}: {got_messages} messages, {got_leaves} leaves"
        );
        let line = conn.line();
        if line.len() > SHORT {
            seen.floods += 1;
            continue;
        }
        let event: Value = serde_json::from_str(&line).unwrap();
        match event["type"].as_str() {
            Some("msg") => got_messages += 1,
            Some("leave") => got_leaves += 1,
            _ => {}
        }
        seen.events.push(describe(&event));
    }
    seen
}

/// One event as a comparable line: id, sender and text, or a leave.
fn describe(event: &Value) -> String {
    match event["type"].as_str() {
        Some("msg") => format!("{} <{}> {}", event["id"], event["from"], event["text"]),
        Some("leave") => format!("leave {} ({})", event["nick"], event["reason"]),
        _ => event.to_string(),
    }
}

/// Five flooders send 100 KB lines as fast as they can, with flood control
/// on (--rate 2 --burst 10), and five stalled readers never read, while
/// fifty people talk, each one line every 400 ms, eight in all: every person
/// receives every person's line, all fifty see exactly the same order of
/// messages and leaves, the stalled readers are dropped as too slow (their
/// writers really blocked), the flooders were held to their budget, and
/// nobody else was dropped.
#[test]
fn flooders_and_stalled_readers_cost_normal_clients_nothing() {
    let _turn = one_at_a_time();
    let server = TestServer::start(&[
        "--rate",
        "2",
        "--burst",
        "10",
        "--max-line",
        "131072",
        "--send-queue",
        "33554432",
        "--write-timeout",
        "2",
        "--history",
        "0",
    ]);
    let addr = server.addr;
    let stalled: Vec<Conn> =
        (0..STALLED).map(|n| Conn::stalled(addr, &format!("stalled{n}"))).collect();
    let mut normal: Vec<Conn> = (0..NORMAL).map(|n| join_at(addr, &format!("n{n}"))).collect();
    for conn in &mut normal {
        conn.sync(); // past everyone's joins
    }
    let senders: Vec<TcpStream> = normal.iter().map(Conn::writer).collect();
    let start = Instant::now();
    let seen: Vec<Seen> = thread::scope(|scope| {
        let flooders: Vec<TcpStream> =
            (0..FLOODERS).map(|n| flooder(scope, addr, &format!("flood{n}"))).collect();
        scope.spawn(|| talk(senders));
        let watchers: Vec<_> = normal
            .iter_mut()
            .map(|conn| scope.spawn(|| watch(conn, NORMAL * ROUNDS, STALLED)))
            .collect();
        let seen = watchers.into_iter().map(|w| w.join().unwrap()).collect();
        for flooder in flooders {
            let _ = flooder.shutdown(Shutdown::Both); // wakes its threads
        }
        seen
    });
    let elapsed = start.elapsed();
    drop(stalled);

    let mut expected: Vec<String> = (0..ROUNDS)
        .flat_map(|round| (0..NORMAL).map(move |n| format!("<\"n{n}\"> \"{round}: n{n}\"")))
        .collect();
    expected.sort();
    let order = &seen[0].events;
    let mut messages: Vec<String> =
        order.iter().filter_map(|e| e.split_once(' ').map(|(_, m)| m.to_owned())).collect();
    messages.retain(|m| m.starts_with("<\"n"));
    messages.sort();
    assert_eq!(messages, expected, "every normal message, once");
    let mut leaves: Vec<&String> = order.iter().filter(|e| e.starts_with("leave ")).collect();
    leaves.sort();
    let expected_leaves: Vec<String> =
        (0..STALLED).map(|n| format!("leave \"stalled{n}\" (\"too slow\")")).collect();
    assert_eq!(leaves, expected_leaves.iter().collect::<Vec<_>>(), "only the stalled ones left");
    let ids: Vec<u64> = order.iter().filter_map(|e| e.split(' ').next()?.parse().ok()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase");
    for (n, other) in seen.iter().enumerate() {
        assert_eq!(&other.events, order, "n{n} saw another order than n0");
    }
    let budget = FLOODERS as f64 * (10.0 + 2.0 * elapsed.as_secs_f64() + 1.0);
    let floods = seen.iter().map(|s| s.floods).max().unwrap();
    assert!(floods > 0, "the flood reached the room");
    assert!((floods as f64) <= budget, "{floods} flood lines in {elapsed:?}: over the budget");
    eprintln!("{} normal messages, {floods} flood lines in {elapsed:?}", NORMAL * ROUNDS);
}

/// Each normal client says one line per round, a round every 400 ms.
fn talk(mut senders: Vec<TcpStream>) {
    for round in 0..ROUNDS {
        for (n, sender) in senders.iter_mut().enumerate() {
            let line = json!({"type": "msg", "text": format!("{round}: n{n}")});
            sender.write_all(format!("{line}\n").as_bytes()).unwrap();
        }
        thread::sleep(ROUND_GAP);
    }
}
