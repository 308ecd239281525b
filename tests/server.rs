//! The server's behaviour over real sockets, in JSON mode: joining, the one
//! order of messages, private messages, renames, history, and every error code.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::thread;

use common::{Conn, TestServer};
use serde_json::{json, Value};

/// The text of every `msg` event in `events`.
fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "msg")
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

fn say(conn: &mut Conn, text: &str) {
    conn.send_json(json!({"type": "msg", "text": text}));
}

/// Alice joins an empty room, Bob joins: both see who is here, Alice sees Bob
/// join, and `who` lists both in alphabetical order.
#[test]
fn join_and_who() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = server.connect();
    bob.send_json(json!({"type": "hello", "nick": "bob"}));
    let welcome = bob.json();
    assert_eq!(welcome, json!({"type": "welcome", "nick": "bob", "users": ["alice", "bob"]}));
    let join = alice.json();
    assert_eq!(join["type"], "join");
    assert_eq!(join["nick"], "bob");
    assert!(join["ts"].as_u64().unwrap() > 1_700_000_000_000);
    bob.send_json(json!({"type": "who"}));
    assert_eq!(bob.json(), json!({"type": "who", "users": ["alice", "bob"]}));
}

/// The message of the day comes with the welcome.
#[test]
fn welcome_carries_the_motd() {
    let server = TestServer::start(&["--motd", "be kind"]);
    let mut conn = server.connect();
    conn.send_json(json!({"type": "hello", "nick": "alice"}));
    assert_eq!(conn.json()["motd"], "be kind");
}

/// Three people talk at once: each one receives every message, its own
/// included, and all three see exactly the same order of strictly increasing ids.
#[test]
fn everyone_sees_every_message_in_one_order() {
    const PER_SENDER: usize = 200;
    let server = TestServer::start(&["--history", "0"]);
    let mut clients: Vec<Conn> = ["ann", "ben", "cat"].iter().map(|n| server.join(n)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        // Let everyone see everyone join before the talking starts.
        for _ in i + 1..3 {
            client.expect_type("join");
        }
    }
    let seen: Vec<Vec<(u64, String)>> = thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter_mut()
            .enumerate()
            .map(|(i, client)| {
                scope.spawn(move || {
                    let mut writer = client.writer();
                    let sender = thread::spawn(move || {
                        for n in 0..PER_SENDER {
                            writer
                                .write_all(
                                    format!("{{\"type\":\"msg\",\"text\":\"{i}:{n}\"}}\n")
                                        .as_bytes(),
                                )
                                .unwrap();
                        }
                    });
                    let mut seen = Vec::new();
                    while seen.len() < 3 * PER_SENDER {
                        let event = client.expect_type("msg");
                        seen.push((
                            event["id"].as_u64().unwrap(),
                            event["text"].as_str().unwrap().to_owned(),
                        ));
                    }
                    sender.join().unwrap();
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(seen[0].windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increase");
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    let distinct: HashSet<_> = seen[0].iter().map(|(_, text)| text).collect();
    assert_eq!(distinct.len(), 3 * PER_SENDER, "nothing lost, nothing doubled");
    for sender in 0..3 {
        let own: Vec<_> =
            seen[0].iter().filter(|(_, t)| t.starts_with(&format!("{sender}:"))).collect();
        let expected: Vec<_> = (0..PER_SENDER).map(|n| format!("{sender}:{n}")).collect();
        assert_eq!(
            own.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
            expected,
            "each sender's order kept"
        );
    }
}

/// A private message reaches its recipient and comes back to its sender,
/// marked with `to`; a third person never sees it.
#[test]
fn private_messages_reach_only_the_two_parties() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    let mut carol = server.join("carol");
    alice.sync();
    bob.sync();
    alice.send_json(json!({"type": "msg", "text": "psst", "to": "BOB"}));
    let sent = alice.expect_type("msg");
    let got = bob.expect_type("msg");
    assert_eq!(sent, got);
    assert_eq!(
        (got["from"].as_str(), got["to"].as_str(), got["text"].as_str()),
        (Some("alice"), Some("bob"), Some("psst"))
    );
    assert_eq!(texts(&carol.sync()), Vec::<String>::new());
    let history_for_dave = server.join("dave").sync();
    assert_eq!(texts(&history_for_dave), Vec::<String>::new(), "private messages are not history");
}

/// An action is a message with `action: true`.
#[test]
fn actions_are_marked() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    alice.send_json(json!({"type": "me", "text": "waves"}));
    let event = alice.expect_type("msg");
    assert_eq!(event["action"], true);
    assert_eq!(event["text"], "waves");
    assert_eq!(event["from"], "alice");
}

/// A rename is seen by everyone, the renamer included; the old nick is free
/// at once; a taken nick is refused; a change of case alone is allowed.
#[test]
fn renames() {
    let server = TestServer::start(&[]);
    let mut bob = server.join("bob");
    let mut alice = server.join("alice");
    bob.expect_type("join");
    bob.send_json(json!({"type": "nick", "nick": "rob"}));
    let expected = |e: &Value| e["type"] == "nick" && e["old"] == "bob" && e["new"] == "rob";
    assert!(expected(&bob.json()));
    assert!(expected(&alice.json()));
    let mut new_bob = server.join("bob");
    assert_eq!(alice.expect_type("join")["nick"], "bob");
    alice.send_json(json!({"type": "nick", "nick": "ROB"}));
    alice.expect_error("nick_taken");
    alice.send_json(json!({"type": "nick", "nick": "Alice"}));
    assert_eq!(alice.json()["new"], "Alice");
    assert_eq!(new_bob.expect_type("nick")["new"], "Alice");
    new_bob.send_json(json!({"type": "nick", "nick": "no spaces"}));
    new_bob.expect_error("bad_nick");
    new_bob.send_json(json!({"type": "who"}));
    assert_eq!(new_bob.expect_type("who")["users"], json!(["Alice", "bob", "rob"]));
}

/// Someone who joins gets the last `--history` room messages, oldest first,
/// marked as history, right after the welcome.
#[test]
fn history_is_replayed_to_joiners() {
    let server = TestServer::start(&["--history", "3"]);
    let mut alice = server.join("alice");
    for n in 1..=5 {
        say(&mut alice, &format!("m{n}"));
    }
    alice.sync();
    let mut bob = server.join("bob");
    let replay: Vec<Value> = (0..3).map(|_| bob.json()).collect();
    assert_eq!(texts(&replay), ["m3", "m4", "m5"]);
    assert!(replay.iter().all(|e| e["history"] == true && e["from"] == "alice"));
    assert!(texts(&bob.sync()).is_empty());
    say(&mut alice, "live");
    let live = bob.expect_type("msg");
    assert_eq!(live["history"], Value::Null, "live messages carry no history flag");
}

/// A client that quits gets `bye`, then the connection closes; others see
/// the leave with the reason.
#[test]
fn quit_says_bye_and_closes() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let mut bob = server.join("bob");
    alice.expect_type("join");
    bob.send_json(json!({"type": "quit", "reason": "bye"}));
    assert_eq!(bob.json(), json!({"type": "bye", "reason": "quit: bye"}));
    bob.expect_closed();
    let leave = alice.expect_type("leave");
    assert_eq!(
        (leave["nick"].as_str(), leave["reason"].as_str()),
        (Some("bob"), Some("quit: bye"))
    );
    server.join("bob"); // the nick is free again
}

/// A client that vanishes with a TCP reset is seen by the others as leaving
/// ("connection lost"), and its nick is free.
#[test]
fn an_abrupt_disconnect_is_a_leave() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let bob = server.join("bob");
    alice.expect_type("join");
    bob.reset();
    let leave = alice.expect_type("leave");
    assert_eq!(leave["nick"], "bob");
    assert_eq!(leave["reason"], "connection lost");
    server.join("bob");
}

/// A client that closes its side cleanly leaves with "connection closed".
#[test]
fn a_closed_connection_is_a_leave() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    let bob = server.join("bob");
    alice.expect_type("join");
    bob.close_write();
    assert_eq!(alice.expect_type("leave")["reason"], "connection closed");
}

/// Unknown fields are ignored, so newer clients can add some.
#[test]
fn unknown_fields_are_ignored() {
    let server = TestServer::start(&[]);
    let mut conn = server.connect();
    conn.send_line(
        r#"{"type":"hello","nick":"alice","client":"future/2.0","caps":[1,{"a":null}]}"#,
    );
    conn.expect_type("welcome");
    conn.send_line(r#"{"text":"hi","type":"msg","priority":9}"#);
    assert_eq!(conn.json()["text"], "hi");
}

/// `ping` is answered with a `pong` carrying the same token.
#[test]
fn ping_pong() {
    let server = TestServer::start(&[]);
    let mut alice = server.join("alice");
    alice.send_json(json!({"type": "ping", "token": "t1"}));
    assert_eq!(alice.json(), json!({"type": "pong", "token": "t1"}));
}
