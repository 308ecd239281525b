//! The server's behaviour over real sockets, in JSON mode.

mod common;

use common::TestServer;
use serde_json::json;

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
