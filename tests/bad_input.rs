//! Every error code of the contract, and bad input of every kind: each gets a
//! clear error, the connection stays, and nobody else is harmed.

mod common;

use common::{Conn, TestServer};
use serde_json::json;

/// Alice, who watches the room: whatever the others do wrong, she must only
/// ever see well-formed events, and nothing they failed to send.
fn watcher(server: &TestServer) -> Conn {
    let mut alice = server.join("alice");
    alice.sync();
    alice
}

#[test]
fn bad_request_for_lines_that_are_not_requests() {
    let server = TestServer::start(&[]);
    let mut alice = watcher(&server);
    let mut bob = server.join("bob");
    for line in [
        "{not json",
        "{\"type\":\"msg\",\"text\":\"unterminated",
        "{\"type\":\"dance\"}",
        "{\"type\":\"msg\"}",
        "{\"type\":\"msg\",\"text\":42}",
        "{\"type\":\"msg\",\"text\":\"lone \\ud800 surrogate\"}",
        "{\"type\":\"msg\",\"text\":\"a\",\"text\":\"b\"}",
        "{}",
        "[\"a JSON array\"]",
        "\"a string\"",
        "",
    ] {
        bob.send_line(line);
        let error = bob.expect_error("bad_request");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    bob.send_json(json!({"type": "msg", "text": "still here"}));
    assert_eq!(bob.json()["text"], "still here");
    assert_eq!(alice.expect_type("msg")["text"], "still here", "alice saw none of the bad lines");
}

#[test]
fn bad_request_for_invalid_utf8_and_raw_control_bytes() {
    let server = TestServer::start(&[]);
    let mut alice = watcher(&server);
    let mut bob = server.join("bob");
    for bytes in [
        &b"{\"type\":\"msg\",\"text\":\"\xaa\"}\n"[..],
        b"{\"type\":\"msg\",\"text\":\"\xc0\xaf overlong\"}\n",
        b"{\"type\":\"msg\",\"text\":\"\xed\xa0\x80 surrogate\"}\n",
        b"{\"type\":\"msg\",\"text\":\"nul \0 byte\"}\n",
        b"{\"type\":\"msg\",\"text\":\"raw \x1b[2J esc\"}\n",
    ] {
        bob.send_raw(bytes);
        bob.expect_error("bad_request");
    }
    bob.send_json(json!({"type": "msg", "text": "ok"}));
    assert_eq!(alice.expect_type("msg")["text"], "ok");
}

#[test]
fn not_registered_before_hello() {
    let server = TestServer::start(&[]);
    let mut alice = watcher(&server);
    let mut conn = server.connect();
    for request in [
        json!({"type": "msg", "text": "hi"}),
        json!({"type": "who"}),
        json!({"type": "nick", "nick": "x"}),
    ] {
        conn.send_json(request);
        conn.expect_error("not_registered");
    }
    conn.send_json(json!({"type": "hello", "nick": "bob"}));
    conn.expect_type("welcome");
    assert_eq!(alice.json()["type"], "join", "alice saw nothing before bob's join");
}

#[test]
fn bad_nick_then_a_good_one_on_the_same_connection() {
    let server = TestServer::start(&[]);
    let mut conn = server.connect();
    for nick in
        ["", "has space", "way-too-long-for-a-nick-here", "\u{0435}van", "bell\u{7}", "semi;colon"]
    {
        conn.send_json(json!({"type": "hello", "nick": nick}));
        conn.expect_error("bad_nick");
    }
    conn.send_json(json!({"type": "hello", "nick": "Good_Nick-24"}));
    conn.expect_type("welcome");
}

#[test]
fn nick_taken_ignores_case_then_another_works() {
    let server = TestServer::start(&[]);
    let _alice = server.join("alice");
    let mut conn = server.connect();
    conn.send_json(json!({"type": "hello", "nick": "ALICE"}));
    let error = conn.expect_error("nick_taken");
    assert!(error["message"].as_str().unwrap().contains("ALICE"));
    conn.send_json(json!({"type": "hello", "nick": "alice2"}));
    conn.expect_type("welcome");
    conn.send_json(json!({"type": "hello", "nick": "alice3"}));
    conn.expect_error("bad_request");
}

#[test]
fn unknown_user_for_a_private_message_to_nobody() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    alice.send_json(json!({"type": "msg", "text": "hi", "to": "ghost"}));
    alice.expect_error("unknown_user");
}

#[test]
fn server_full_past_max_clients() {
    let server = TestServer::start(&["--max-clients", "2"]);
    let _alice = server.join("alice");
    let _bob = server.join("bob");
    let mut third = server.connect();
    third.expect_error("server_full");
    third.expect_closed();
}

/// Lines at the limit pass; one byte over is discarded with `line_too_long`,
/// whether sent whole or a byte at a time; the connection stays.
#[test]
fn line_too_long_keeps_the_connection() {
    let server = TestServer::start(&["--max-line", "100"]);
    let mut alice = watcher(&server);
    let mut bob = server.join("bob");
    let line_of =
        |len: usize| format!("{{\"type\":\"msg\",\"text\":\"{}\"}}", "x".repeat(len - 24));
    let fits = line_of(100);
    assert_eq!(fits.len(), 100);
    bob.send_line(&fits);
    assert_eq!(bob.json()["type"], "msg");
    let over = line_of(101);
    bob.send_line(&over);
    bob.expect_error("line_too_long");
    for byte in format!("{over}\n").bytes() {
        bob.send_raw(&[byte]);
    }
    bob.expect_error("line_too_long");
    bob.send_json(json!({"type": "msg", "text": "after"}));
    assert_eq!(bob.json()["text"], "after");
    assert_eq!(texts_seen_by(&mut alice), [&"x".repeat(76)[..], "after"]);
}

/// A megabyte without a newline is never buffered: the server discards it
/// as it comes, answers `line_too_long` once the line ends, and goes on.
#[test]
fn a_one_megabyte_line_is_discarded() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let before = server.rss_kib();
    let chunk = vec![b'y'; 64 * 1024];
    for _ in 0..16 {
        bob.send_raw(&chunk);
    }
    bob.send_raw(b"\n");
    bob.expect_error("line_too_long");
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < 512, "a 1 MiB line grew the server by {grown} KiB");
    bob.send_json(json!({"type": "msg", "text": "after"}));
    assert_eq!(bob.json()["text"], "after");
}

/// Escape sequences, control and bidi characters never reach anyone else:
/// they are removed from the decoded text, whether sent raw or as JSON escapes.
#[test]
fn control_and_bidi_characters_are_removed_before_fanout() {
    let server = TestServer::start(&[]);
    let mut alice = watcher(&server);
    let mut bob = server.join("bob");
    bob.send_line(r#"{"type":"msg","text":"a\u001b[2J\u001b]0;pwned\u0007b\r12:01 * x joined\u0000\u007f\u009b\u202e\u2066c\td"}"#);
    bob.send_line(r#"{"type":"me","text":"\u001b[31mred"}"#);
    let msg = alice.expect_type("msg");
    assert_eq!(msg["text"], "a[2J]0;pwnedb12:01 * x joinedc d");
    assert_eq!(alice.expect_type("msg")["text"], "[31mred");
    bob.send_line(r#"{"type":"msg","text":"\u001b\u0007"}"#);
    bob.expect_type("msg"); // bob's own echo of the earlier messages
    bob.expect_type("msg");
    bob.expect_error("bad_request"); // nothing left to send
}

fn texts_seen_by(conn: &mut Conn) -> Vec<String> {
    let events = conn.sync();
    events
        .iter()
        .filter(|e| e["type"] == "msg")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}
