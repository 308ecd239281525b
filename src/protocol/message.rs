//! The JSON messages of the wire contract, one object per line.
//!
//! [`Request`] is what a client sends, [`Event`] what the server sends. Both are
//! tagged by a `type` field; unknown fields are ignored so that newer peers can
//! add fields without breaking older ones.

use serde::{Deserialize, Serialize};

/// A client's request, as sent in JSON mode (plain mode maps onto the same type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Join the room as `nick`; must come first.
    Hello { nick: String },
    /// A message to the room, or to one person when `to` is set.
    Msg {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
    /// An action, shown as `* alice waves`.
    Me { text: String },
    /// Take another nick.
    Nick { nick: String },
    /// Ask who is in the room.
    Who {},
    /// Ask for a `pong` carrying the same token; since the server answers in
    /// order, the pong also tells that everything sent before it was handled.
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Leave; the server closes the connection after it.
    Quit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// Something the server tells a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The answer to a successful hello: who is here (the joiner included).
    Welcome {
        nick: String,
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        motd: Option<String>,
    },
    /// A message, to the room or private, live or replayed from history.
    Msg(ChatMessage),
    /// Someone joined the room.
    Join { ts: u64, nick: String },
    /// Someone left the room, and why.
    Leave { ts: u64, nick: String, reason: String },
    /// Someone changed nick; the old one is free at once.
    Nick { ts: u64, old: String, new: String },
    /// The answer to `who`.
    Who { users: Vec<String> },
    /// The answer to `ping`.
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A request was refused; `message` is one sentence for a person.
    Error { code: ErrorCode, message: String },
    /// The last line before the server closes the connection.
    Bye { reason: String },
}

/// A message as delivered: the room's order is given by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Strictly increasing across the server; every recipient sees one order.
    pub id: u64,
    /// Milliseconds since the Unix epoch, when the server took the message.
    pub ts: u64,
    pub from: String,
    pub text: String,
    /// Set on private messages: the one recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// An action (`/me`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// Replayed from history to someone who just joined.
    #[serde(default, skip_serializing_if = "is_false")]
    pub history: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The machine-readable reason in an `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    BadNick,
    NickTaken,
    NotRegistered,
    UnknownUser,
    LineTooLong,
    ServerFull,
    /// No successful hello (or plain-mode nick) in time; the server closes.
    HandshakeTimeout,
    /// A code this build does not know, from a newer server.
    #[serde(other)]
    Unknown,
}

impl Event {
    /// Shorthand for an `error` event.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Event {
        Event::Error { code, message: message.into() }
    }
}

/// Encodes a message as one JSON line, `\n` included.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).expect("protocol types always serialise");
    line.push(b'\n');
    line
}

/// Decodes one line (without its ending) sent by a client.
///
/// # Errors
/// A sentence for the sender saying what is wrong: invalid UTF-8, invalid JSON,
/// not an object, an unknown `type`, or a missing or mistyped field.
pub fn decode_request(line: &[u8]) -> Result<Request, String> {
    decode(line)
}

/// Decodes one line (without its ending) sent by the server.
///
/// # Errors
/// As [`decode_request`]; a client should skip such lines (they may be events
/// from a newer server).
pub fn decode_event(line: &[u8]) -> Result<Event, String> {
    decode(line)
}

/// How deep arrays and objects may nest in one line. The contract needs two
/// levels and leaves room for extensions in unknown fields; the limit keeps the
/// parser's recursion (and so the stack a connection thread needs) small and
/// the same in every build.
pub const MAX_NESTING: usize = 32;

fn decode<T: serde::de::DeserializeOwned>(line: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the line is not valid UTF-8".to_owned())?;
    if !text.trim_start().starts_with('{') {
        return Err("each line must be one JSON object".to_owned());
    }
    if nesting(text) > MAX_NESTING {
        return Err(format!("the JSON nests deeper than {MAX_NESTING} levels"));
    }
    serde_json::from_str(text).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => format!("the request is not understood ({err})"),
        _ => format!("the line is not valid JSON ({err})"),
    })
}

/// The deepest nesting of arrays and objects in `json`, brackets inside
/// strings not counted. Run before parsing, so it must not trust the input to
/// be valid JSON: it only ever counts.
fn nesting(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for byte in json.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            (false, _, _) => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_only() {
        assert_eq!(nesting(r#"{"type":"who"}"#), 1);
        assert_eq!(nesting(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting(r#"{"text":"[[[{{{\"[[["}"#), 1);
        assert_eq!(nesting("{{{{"), 4, "unclosed brackets count too");
        let deep = format!("{{\"type\":\"who\",\"x\":{}{}}}", "[".repeat(32), "]".repeat(32));
        assert!(req(&deep).unwrap_err().contains("deeper than 32"));
        let fine = format!("{{\"type\":\"who\",\"x\":{}{}}}", "[".repeat(31), "]".repeat(31));
        assert_eq!(req(&fine), Ok(Request::Who {}));
    }

    fn req(line: &str) -> Result<Request, String> {
        decode_request(line.as_bytes())
    }

    #[test]
    fn decodes_every_request() {
        assert_eq!(
            req(r#"{"type":"hello","nick":"alice"}"#),
            Ok(Request::Hello { nick: "alice".into() })
        );
        assert_eq!(
            req(r#"{"type":"msg","text":"hi","to":"bob"}"#),
            Ok(Request::Msg { text: "hi".into(), to: Some("bob".into()) })
        );
        assert_eq!(
            req(r#"{"type":"me","text":"waves"}"#),
            Ok(Request::Me { text: "waves".into() })
        );
        assert_eq!(req(r#"{"type":"nick","nick":"al"}"#), Ok(Request::Nick { nick: "al".into() }));
        assert_eq!(req(r#"{"type":"who"}"#), Ok(Request::Who {}));
        assert_eq!(
            req(r#"{"type":"ping","token":"t1"}"#),
            Ok(Request::Ping { token: Some("t1".into()) })
        );
        assert_eq!(req(r#"{"type":"quit"}"#), Ok(Request::Quit { reason: None }));
    }

    #[test]
    fn ignores_unknown_fields() {
        assert_eq!(req(r#"{"type":"who","extra":[1,2]}"#), Ok(Request::Who {}));
        assert_eq!(
            req(r#"{"nick":"x","v":2,"type":"hello"}"#),
            Ok(Request::Hello { nick: "x".into() })
        );
    }

    #[test]
    fn rejects_bad_lines_with_a_reason() {
        assert!(decode_request(b"{\"type\":\"msg\",\"text\":\"\xaa\"}")
            .unwrap_err()
            .contains("UTF-8"));
        assert!(req("{nope").unwrap_err().contains("not valid JSON"));
        assert!(req("[1,2]").unwrap_err().contains("JSON object"));
        assert!(req(r#"{"type":"dance"}"#).unwrap_err().contains("not understood"));
        assert!(req(r#"{"type":"msg"}"#).unwrap_err().contains("text"));
        assert!(req(r#"{"type":"msg","text":5}"#).is_err());
        assert!(req(r#"{"type":"msg","text":"\ud800"}"#).is_err(), "lone surrogate");
        assert!(req(r#"{"type":"hello","nick":"a","nick":"b"}"#).is_err(), "duplicate key");
        let deep = "[".repeat(10_000);
        assert!(req(&deep).is_err(), "deep nesting is refused, not a stack overflow");
    }

    #[test]
    fn encodes_events_as_the_contract_shows() {
        let msg = Event::Msg(ChatMessage {
            id: 42,
            ts: 1_764_430_000_000,
            from: "bob".into(),
            text: "hi".into(),
            to: None,
            action: false,
            history: false,
        });
        assert_eq!(
            encode(&msg),
            b"{\"type\":\"msg\",\"id\":42,\"ts\":1764430000000,\"from\":\"bob\",\"text\":\"hi\"}\n"
        );
        assert_eq!(
            encode(&Event::error(ErrorCode::NickTaken, "taken")),
            b"{\"type\":\"error\",\"code\":\"nick_taken\",\"message\":\"taken\"}\n"
        );
        assert_eq!(
            encode(&Event::Who { users: vec!["a".into()] }),
            b"{\"type\":\"who\",\"users\":[\"a\"]}\n"
        );
    }

    #[test]
    fn events_round_trip() {
        let events = [
            Event::Welcome {
                nick: "a".into(),
                users: vec!["a".into(), "b".into()],
                motd: Some("hi".into()),
            },
            Event::Msg(ChatMessage {
                id: 1,
                ts: 2,
                from: "a".into(),
                text: "x\"y".into(),
                to: Some("b".into()),
                action: true,
                history: true,
            }),
            Event::Join { ts: 1, nick: "b".into() },
            Event::Leave { ts: 1, nick: "b".into(), reason: "quit: bye".into() },
            Event::Nick { ts: 1, old: "b".into(), new: "c".into() },
            Event::Pong { token: None },
            Event::error(ErrorCode::ServerFull, "full"),
            Event::Bye { reason: "server shutting down".into() },
        ];
        for event in events {
            let line = encode(&event);
            assert_eq!(decode_event(&line[..line.len() - 1]), Ok(event));
        }
    }

    #[test]
    fn unknown_error_codes_still_decode() {
        let event = decode_event(br#"{"type":"error","code":"rate_limited","message":"m"}"#);
        assert_eq!(event, Ok(Event::error(ErrorCode::Unknown, "m")));
    }
}
