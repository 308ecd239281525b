//! Several hundred clients at once: everyone joins, everyone hears everyone.

mod common;

use common::{Conn, TestServer};
use serde_json::json;

const CLIENTS: usize = 300;

#[test]
fn several_hundred_clients_at_once() {
    let server = TestServer::start(&[]);
    let mut clients: Vec<Conn> = (0..CLIENTS).map(|n| server.join(&format!("user{n}"))).collect();
    clients[0].send_json(json!({"type": "who"}));
    let users = clients[0].expect_type("who")["users"].as_array().unwrap().len();
    assert_eq!(users, CLIENTS);
    for (n, client) in clients.iter_mut().enumerate().step_by(10) {
        client.send_json(json!({"type": "msg", "text": format!("hello from {n}")}));
    }
    for client in &mut clients {
        let mut texts = Vec::new();
        while texts.len() < CLIENTS / 10 {
            texts.push(client.expect_type("msg")["text"].as_str().unwrap().to_owned());
        }
        texts.sort_by_key(|t| t[11..].parse::<usize>().unwrap());
        let expected: Vec<String> =
            (0..CLIENTS).step_by(10).map(|n| format!("hello from {n}")).collect();
        assert_eq!(texts, expected);
    }
    assert!(server.threads() >= CLIENTS, "a thread per connection");
}
