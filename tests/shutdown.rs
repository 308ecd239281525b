//! Ctrl-C (SIGINT) and SIGTERM stop the server cleanly: everyone gets `bye`
//! as their last line, the process exits 0, and the port can be bound again at once.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;

/// How long the test waits for the exit before calling it a hang (the
/// contract's 2 s, plus slack for a loaded machine; speed is benchmarked elsewhere).
const EXIT_BOUND: Duration = Duration::from_secs(10);

fn shuts_down_on(signal: i32) {
    let mut server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    let mut carol = server.connect();
    carol.send_line("carol");
    carol.expect_line("Welcome, carol");
    let mut silent = server.connect(); // a person who never typed anything
    silent.expect_line("Type the nick you want");
    alice.sync();
    bob.sync();
    server.signal(signal);
    for conn in [&mut alice, &mut bob] {
        assert_eq!(
            conn.expect_type("bye"),
            json!({"type": "bye", "reason": "server shutting down"})
        );
        conn.expect_closed();
    }
    assert_eq!(carol.expect_line("Bye"), "* Bye: server shutting down");
    carol.expect_closed();
    silent.expect_line("Bye");
    silent.expect_closed();
    assert_eq!(server.wait_exit(EXIT_BOUND), Some(0));
    // SO_REUSEADDR: a new server takes the same port at once, despite TIME_WAIT.
    let again = TestServer::start_on(&server.addr.to_string(), &[]);
    again.join("alice");
}

#[test]
fn sigint_says_bye_to_everyone_and_exits_zero() {
    shuts_down_on(libc::SIGINT);
}

#[test]
fn sigterm_does_the_same() {
    shuts_down_on(libc::SIGTERM);
}

/// A client that stopped reading cannot hold the shutdown up.
#[test]
fn a_stalled_client_does_not_delay_shutdown() {
    let mut server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let _stalled = common::Conn::stalled(server.addr, "stuck");
    alice.expect_type("join");
    let big = "x".repeat(4000);
    for _ in 0..200 {
        alice.send_json(json!({"type": "msg", "text": big}));
    }
    for _ in 0..200 {
        alice.expect_type("msg");
    }
    server.signal(libc::SIGINT);
    alice.expect_type("bye");
    assert_eq!(server.wait_exit(EXIT_BOUND), Some(0));
}
