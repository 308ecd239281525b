//! Each limit of `chat serve` does its job, and only to the client that hit
//! it: flood control, the handshake deadline, the per-address limit, the write
//! timeout, running out of file descriptors, and a bug in one connection.
//! Every test here fails if its limit is removed.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};

use common::{Conn, TestServer};
use serde_json::json;

/// Flood control slows a flooder down without losing a line of it, and
/// nobody else waits: Bob's message, sent after Fred started flooding, is
/// relayed before Fred's flood is through.
#[test]
fn flood_control_paces_without_dropping_and_others_go_first() {
    const LINES: usize = 13; // a burst of 3, then 10 at 5 per second: at least 2 s
    let server = TestServer::start(&["--rate", "5", "--burst", "3"]);
    let mut alice = server.join("alice");
    let mut fred = server.join("fred");
    let mut bob = server.join("bob");
    alice.sync();
    let started = Instant::now();
    let flood: String = (0..LINES)
        .map(|n| format!("{}\n", json!({"type": "msg", "text": format!("f{n}")})))
        .collect();
    fred.send_raw(flood.as_bytes());
    assert_eq!(alice.expect_type("msg")["text"], "f0");
    bob.send_json(json!({"type": "msg", "text": "bob here"}));
    let mut texts = vec!["f0".to_owned()];
    while texts.len() < LINES + 1 {
        texts.push(alice.expect_type("msg")["text"].as_str().unwrap().to_owned());
    }
    let elapsed = started.elapsed();
    let fred_lines: Vec<&String> = texts.iter().filter(|t| t.starts_with('f')).collect();
    let expected: Vec<String> = (0..LINES).map(|n| format!("f{n}")).collect();
    assert_eq!(
        fred_lines,
        expected.iter().collect::<Vec<_>>(),
        "every flooded line arrives, in order"
    );
    let bob_at = texts.iter().position(|t| t == "bob here").unwrap();
    assert!(bob_at < LINES, "bob was not held up behind fred: {texts:?}");
    // A lower bound only: a slow machine can take longer, never shorter.
    assert!(
        elapsed >= Duration::from_millis(1800),
        "{LINES} lines passed in {elapsed:?}: not paced"
    );
}

/// A connection that does not join within --handshake-timeout is closed with
/// an error, in its own mode; trickling bytes does not buy time (slowloris);
/// a client that joined in time is not affected.
#[test]
fn handshake_timeout_closes_connections_that_never_join() {
    let server = TestServer::start(&["--handshake-timeout", "1"]);
    let mut joined = server.join("alice");
    let mut slowloris = server.connect();
    let mut drip = slowloris.writer();
    let dripping = thread::spawn(move || {
        for byte in br#"{"type":"hello","nick":"slow-and-never-done"#.iter().cycle().take(50) {
            if drip.write_all(&[*byte]).is_err() {
                return; // closed by the server, as it should be
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let error = slowloris.expect_error("handshake_timeout");
    assert!(error["message"].as_str().unwrap().contains("within 1 s"));
    slowloris.expect_closed();
    dripping.join().unwrap();

    let mut person = server.connect();
    person.expect_line("Type the nick you want");
    assert_eq!(person.line(), "! no nick was chosen within 1 s; closing the connection");
    person.expect_closed();

    // Alice joined before both deadlines passed; she still talks.
    joined.send_json(json!({"type": "msg", "text": "still here"}));
    assert_eq!(joined.expect_type("msg")["text"], "still here");
}

/// --max-per-ip caps connections from one address; a freed place can be
/// taken again. Loopback is exempt unless --limit-loopback is given.
#[test]
fn per_ip_limit() {
    let mut server = TestServer::start(&["--max-per-ip", "2", "--limit-loopback"]);
    let first = server.join("one");
    let _second = server.join("two");
    let mut third = server.connect();
    let error = third.expect_error("server_full");
    assert!(error["message"].as_str().unwrap().contains("too many connections from 127.0.0.1"));
    third.expect_closed();
    server.wait_log("refuse");
    first.close_write();
    server.wait_log("leave");
    join_once_admitted(&server, "three");

    let exempt = TestServer::start(&["--max-per-ip", "2"]);
    let _all: Vec<Conn> = (0..5).map(|n| exempt.join(&format!("local{n}"))).collect();
}

/// Joins as soon as the server has freed a place: the place is given back
/// when the leaving connection's thread ends, a moment after its leave.
fn join_once_admitted(server: &TestServer, nick: &str) -> Conn {
    let deadline = Instant::now() + common::TIMEOUT;
    loop {
        let mut conn = server.connect();
        conn.send_json(json!({"type": "hello", "nick": nick}));
        let reply = conn.json();
        if reply["type"] == "welcome" {
            return conn;
        }
        assert_eq!(reply["code"], "server_full", "{reply}");
        assert!(Instant::now() < deadline, "no place freed within {:?}", common::TIMEOUT);
    }
}

/// A client whose socket will not take data for --write-timeout is dropped
/// as too slow, even while its queue is far from full.
#[test]
fn write_timeout_drops_a_client_that_does_not_read() {
    let server =
        TestServer::start(&["--write-timeout", "1", "--send-queue", "268435456", "--history", "0"]);
    let mut alice = server.join("alice");
    let _stuck = Conn::stalled(server.addr, "stuck");
    alice.expect_type("join");
    let text = "w".repeat(3000);
    let mut writer = alice.writer();
    let sender = thread::spawn(move || {
        // About 6 MB: more than the kernel buffers hold, far less than the queue.
        for _ in 0..2000 {
            writer
                .write_all(format!("{}\n", json!({"type": "msg", "text": text})).as_bytes())
                .unwrap();
        }
    });
    let leave = alice.expect_type("leave");
    assert_eq!(
        (leave["nick"].as_str(), leave["reason"].as_str()),
        (Some("stuck"), Some("too slow"))
    );
    sender.join().unwrap();
}

/// Out of file descriptors, the server pauses accepting instead of spinning,
/// goes on serving the clients it has, and takes the waiting connections once
/// descriptors are free again. At start it raised its soft limit to the hard one.
#[test]
fn running_out_of_file_descriptors() {
    const HARD: u64 = 48;
    let mut server = TestServer::start_with("127.0.0.1:0", &[], |command| {
        // SAFETY: setrlimit is async-signal-safe and touches only this child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 24, rlim_max: HARD };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    assert!(server.wait_log("file descriptors:").contains(&format!("file descriptors: {HARD},")));
    let room = HARD as usize - server.fds();
    let mut members: Vec<Conn> = (0..room).map(|n| server.join(&format!("m{n}"))).collect();
    let mut waiting: Vec<Conn> = (0..3).map(|_| server.connect()).collect();
    for (n, conn) in waiting.iter_mut().enumerate() {
        conn.send_json(json!({"type": "hello", "nick": format!("late{n}")}));
    }
    server.wait_log("error accepting connections");
    let cpu_before = server.cpu_time();
    let wall = Instant::now();
    members[0].send_json(json!({"type": "msg", "text": "still serving"}));
    assert_eq!(members[1].expect_type("msg")["text"], "still serving");
    thread::sleep(Duration::from_millis(1000)); // the condition under test is time passing
    let cpu = server.cpu_time() - cpu_before;
    assert!(cpu < wall.elapsed() / 3, "used {cpu:?} of CPU while unable to accept: spinning");
    for member in members.drain(..3) {
        member.close_write();
    }
    server.wait_log("accepting connections again");
    for conn in &mut waiting {
        conn.expect_type("welcome");
    }
}

/// A bug (an injected panic, in debug builds) in one connection's code ends
/// that connection only: the others keep talking and new people can join.
#[test]
fn a_panic_in_one_connection_harms_no_one_else() {
    let mut server = TestServer::start_with("127.0.0.1:0", &[], |command| {
        command.env("CHAT_FAULT_PANIC_NICK", "boom");
    });
    let mut alice = server.join("alice");
    let mut doomed = server.connect();
    doomed.send_json(json!({"type": "hello", "nick": "boom"}));
    doomed.expect_closed();
    server.wait_log("internal error");
    alice.send_json(json!({"type": "msg", "text": "fine"}));
    assert_eq!(alice.expect_type("msg")["text"], "fine");
    let mut bob = server.join("bob");
    bob.send_json(json!({"type": "who"}));
    assert_eq!(bob.expect_type("who")["users"], json!(["alice", "bob"]));
}

/// A log nobody reads (stderr piped into a stuck pager) delays no one: the
/// server's stderr pipe is filled with connect and close lines, and people
/// still talk.
#[test]
fn a_log_nobody_reads_delays_no_one() {
    const CYCLES: usize = 1500; // about 2 log lines of 70 bytes each: far more than a pipe holds
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    server.stop_reading_log();
    for _ in 0..CYCLES {
        let conn = server.connect();
        conn.close_write();
        drop(conn);
    }
    let mut bob = server.join("bob");
    bob.send_json(json!({"type": "msg", "text": "still talking"}));
    assert_eq!(alice.expect_type("msg")["text"], "still talking");
}
