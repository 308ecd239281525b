//! Plain mode: a person on `nc` or `telnet` sharing the room with JSON clients.

mod common;

use common::{Conn, TestServer};
use serde_json::json;

/// A plain-mode person who picked `nick` and read the welcome.
fn person(server: &TestServer, nick: &str) -> Conn {
    let mut conn = server.connect();
    conn.send_line(nick);
    conn.expect_line(&format!("Welcome, {nick}!"));
    conn.expect_line("Type /help for commands.");
    conn
}

/// Someone who connects and types nothing is told how to pick a nick.
#[test]
fn a_silent_person_is_greeted() {
    let server = TestServer::start(&[]);
    let mut conn = server.connect();
    let greeting = conn.line();
    assert!(greeting.starts_with("* Welcome! Type the nick you want"), "{greeting}");
    conn.send_line("zoe");
    assert_eq!(conn.line(), "* Welcome, zoe! Here now (1): zoe");
}

/// People on nc and programs on JSON share one room and see each other.
#[test]
fn plain_and_json_users_talk() {
    let server = TestServer::start(&["--motd", "hello there"]);
    let mut json_user = server.join("alice");
    let mut conn = server.connect();
    conn.send_raw(b"bob\r\n"); // telnet ends lines with \r\n
    assert_eq!(conn.line(), "* Welcome, bob! Here now (2): alice, bob");
    assert_eq!(conn.line(), "* Type /help for commands.");
    assert_eq!(conn.line(), "* hello there");
    assert_eq!(json_user.expect_type("join")["nick"], "bob");
    conn.send_line("hi alice");
    let msg = json_user.expect_type("msg");
    assert_eq!((msg["from"].as_str(), msg["text"].as_str()), (Some("bob"), Some("hi alice")));
    assert!(conn.line().ends_with(" <bob> hi alice"));
    json_user.send_json(json!({"type": "msg", "text": "hi bob"}));
    let line = conn.line();
    assert!(is_clock(&line[..5]), "{line}");
    assert_eq!(&line[5..], " <alice> hi bob");
}

fn is_clock(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 5 && bytes[2] == b':' && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit())
}

/// Every command works in plain mode, and mistakes get a hint.
#[test]
fn commands() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = person(&server, "bob");
    alice.expect_type("join");
    bob.send_line("/who");
    assert_eq!(bob.expect_line("Here now"), "* Here now (2): alice, bob");
    bob.send_line("/me waves");
    assert!(bob.line().ends_with(" * bob waves"));
    assert_eq!(alice.expect_type("msg")["action"], true);
    bob.send_line("/msg alice psst");
    assert!(bob.line().ends_with(" [you -> alice] psst"));
    assert_eq!(alice.expect_type("msg")["to"], "alice");
    alice.send_json(json!({"type": "msg", "text": "back", "to": "bob"}));
    assert!(bob.line().ends_with(" [alice -> you] back"));
    bob.send_line("/msg nobody hi");
    assert_eq!(bob.line(), "! nobody called nobody is here; /who lists who is");
    bob.send_line("/dance");
    assert_eq!(bob.line(), "! unknown command /dance; type /help for the list");
    bob.send_line("/help");
    assert!(bob.line().starts_with("* /who"));
    bob.expect_line("/help");
    bob.expect_line("//text");
    bob.send_line("//slash is text");
    assert!(bob.line().ends_with(" <bob> /slash is text"));
    bob.send_line("/nick rob");
    assert!(bob.line().ends_with(" * bob is now rob"));
    bob.send_line("/quit gone fishing");
    assert_eq!(bob.line(), "* Bye: quit: gone fishing");
    bob.expect_closed();
    let leave = alice.expect_type("leave");
    assert_eq!(
        (leave["nick"].as_str(), leave["reason"].as_str()),
        (Some("rob"), Some("quit: gone fishing"))
    );
}

/// A bad or taken nick is explained, and the next line is another try.
#[test]
fn nick_retry() {
    let server = TestServer::start(&[]);
    let _alice = server.join("alice");
    let mut conn = server.connect();
    conn.send_line("not ok");
    assert!(conn.expect_line("! ").contains("use only ASCII letters, digits"));
    conn.send_line("Alice");
    assert_eq!(conn.line(), "! the nick Alice is taken; pick another");
    conn.send_line("");
    conn.expect_line("Type the nick you want");
    conn.send_line("alice2");
    conn.expect_line("Welcome, alice2!");
}

/// Invalid UTF-8 from a person becomes U+FFFD; control characters and bidi
/// controls never reach anyone, so nobody can fake a system line with `\r`.
#[test]
fn bad_bytes_are_replaced_or_removed() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = person(&server, "bob");
    alice.expect_type("join");
    bob.send_raw(b"caf\xe9 \xaa\n");
    assert_eq!(alice.expect_type("msg")["text"], "caf\u{fffd} \u{fffd}");
    bob.send_raw(b"hi\r12:00 * alice left (quit)\x1b[2K\x07\x00\xe2\x80\xae\n");
    assert_eq!(alice.expect_type("msg")["text"], "hi12:00 * alice left (quit)[2K");
    bob.send_raw(b"\x1b\x07\n"); // nothing printable: not sent
    bob.send_line("/who");
    let lines: Vec<String> = (0..3).map(|_| bob.line()).collect();
    assert!(lines[0].ends_with("<bob> caf\u{fffd} \u{fffd}"));
    assert_eq!(lines[2], "! a message needs some text");
    assert_eq!(bob.line(), "* Here now (2): alice, bob");
}

/// A too-long line gets an error; the connection stays.
#[test]
fn line_too_long_in_plain_mode() {
    let server = TestServer::start(&["--max-line", "64"]);
    let mut bob = person(&server, "bob");
    bob.send_line(&"x".repeat(65));
    assert_eq!(bob.line(), "! the line was longer than 64 bytes and was discarded");
    bob.send_line(&"y".repeat(64));
    assert!(bob.line().ends_with(&"y".repeat(64)));
}
