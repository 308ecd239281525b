//! The hostile-input battery: a table of fixtures, each one line a hostile
//! client might send, run in JSON mode and in plain mode, each sent whole, one
//! byte at a time and split across many writes.
//!
//! Every fixture states its exact outcome in each mode, and every run checks
//! all of it: what the sender gets back (its own message echoed with the
//! cleaned text, or exactly one error with the expected code, or nothing),
//! that the connection is kept (a barrier request is answered after it), and
//! that two watchers, one per mode, see the cleaned message and nothing else,
//! and never a character a terminal would obey. The 16 MiB line also checks
//! that the server's memory stays far below the line's size.

mod common;

use std::fmt;

use chat::protocol::DEFAULT_MAX_LINE as MAX;
use common::{Conn, TestServer};
use serde_json::{json, Value};

/// How a fixture is turned into bytes on the wire in each mode.
enum Payload {
    /// The same bytes in both modes, line ending included.
    Raw(Vec<u8>),
    /// Message text: escaped in a JSON `msg` request, typed as is in plain mode.
    Text(String),
    /// Bytes spliced unescaped into a JSON `msg` request's text; typed as is
    /// in plain mode.
    RawText(Vec<u8>),
    /// A line of exactly `len` bytes (ending not counted) in either mode, its
    /// text made of `x` then `tail`.
    Sized { len: usize, tail: &'static str, ending: &'static str },
    /// A nick change: a JSON `nick` request, or `/nick NAME` in plain mode.
    Nick(String),
}

/// What must happen when a fixture is sent in one mode.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Relayed to everyone with exactly the text the payload carries.
    Delivered,
    /// Relayed to everyone with exactly this text, once cleaned.
    Cleaned(&'static str),
    /// One error with this code to the sender; nobody else sees anything.
    Refused(&'static str),
    /// Nothing at all happens (plain mode: a blank line).
    Ignored,
    /// This mode cannot carry the fixture (a newline inside a plain line).
    NotApplicable,
}

use Outcome::{Cleaned, Delivered, Ignored, NotApplicable, Refused};

const BAD_REQUEST: Outcome = Refused("bad_request");
const TOO_LONG: Outcome = Refused("line_too_long");

struct Fixture {
    name: String,
    payload: Payload,
    json: Outcome,
    plain: Outcome,
}

fn fx(name: impl Into<String>, payload: Payload, json: Outcome, plain: Outcome) -> Fixture {
    Fixture { name: name.into(), payload, json, plain }
}

/// A line sent as is in both modes.
fn raw(line: impl AsRef<[u8]>) -> Payload {
    let mut bytes = line.as_ref().to_vec();
    bytes.push(b'\n');
    Payload::Raw(bytes)
}

fn text(text: impl Into<String>) -> Payload {
    Payload::Text(text.into())
}

fn raw_text(bytes: impl AsRef<[u8]>) -> Payload {
    Payload::RawText(bytes.as_ref().to_vec())
}

fn sized(len: usize, tail: &'static str, ending: &'static str) -> Payload {
    Payload::Sized { len, tail, ending }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Json,
    Plain,
}

/// What a JSON `msg` request looks like around its text: `len` bytes more.
const MSG_OPEN: &str = "{\"type\":\"msg\",\"text\":\"";
const MSG_CLOSE: &str = "\"}";

impl Payload {
    /// The bytes to send in `mode`, and the text a relayed message would carry.
    fn build(&self, mode: Mode) -> (Vec<u8>, String) {
        let mut line = match (self, mode) {
            (Payload::Raw(bytes), _) => return (bytes.clone(), typed(bytes)),
            (Payload::Text(text), Mode::Json) => json!({"type": "msg", "text": text}).to_string(),
            (Payload::Nick(nick), Mode::Json) => json!({"type": "nick", "nick": nick}).to_string(),
            (Payload::Nick(nick), Mode::Plain) => format!("/nick {nick}"),
            (Payload::Text(text), Mode::Plain) => text.clone(),
            (Payload::RawText(bytes), Mode::Json) => {
                let mut line = MSG_OPEN.as_bytes().to_vec();
                line.extend_from_slice(bytes);
                line.extend_from_slice(b"\"}\n");
                return (line, String::new());
            }
            (Payload::RawText(bytes), Mode::Plain) => {
                let mut line = bytes.clone();
                line.push(b'\n');
                return (line, typed(bytes));
            }
            (Payload::Sized { len, tail, ending }, _) => {
                let frame = if mode == Mode::Json { MSG_OPEN.len() + MSG_CLOSE.len() } else { 0 };
                let text = format!("{}{tail}", "x".repeat(len - frame - tail.len()));
                let line = match mode {
                    Mode::Json => format!("{MSG_OPEN}{text}{MSG_CLOSE}"),
                    Mode::Plain => text.clone(),
                };
                assert_eq!(line.len(), *len);
                return (format!("{line}{ending}").into_bytes(), text);
            }
        };
        let carried = match self {
            Payload::Text(text) => text.clone(),
            _ => String::new(),
        };
        line.push('\n');
        (line.into_bytes(), carried)
    }
}

/// What a person typing `line` (ending included) says, as plain mode reads it.
fn typed(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// How the bytes of one line are written to the socket.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    Whole,
    ByteAtATime,
    /// Writes of 1, 1, 2, 3, 5, 8, ... bytes, up to 28 657, then again.
    Split,
}

const EVERY_DELIVERY: [Delivery; 3] = [Delivery::Whole, Delivery::ByteAtATime, Delivery::Split];

impl Delivery {
    fn send(self, conn: &mut Conn, mut bytes: &[u8]) {
        match self {
            Delivery::Whole => conn.send_raw(bytes),
            Delivery::ByteAtATime => bytes.chunks(1).for_each(|byte| conn.send_raw(byte)),
            Delivery::Split => {
                let (mut a, mut b) = (1, 1);
                while !bytes.is_empty() {
                    let (chunk, rest) = bytes.split_at(a.min(bytes.len()));
                    conn.send_raw(chunk);
                    bytes = rest;
                    (a, b) = if b > 40_000 { (1, 1) } else { (b, a + b) };
                }
            }
        }
    }
}

/// One thing a connection received, in a form both modes share.
#[derive(PartialEq)]
enum Seen {
    Msg { from: String, text: String },
    Error(&'static str),
    Other(String),
}

/// Long texts (a line at the limit) are shown by their start and length.
impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = |text: &str| match text.char_indices().nth(60) {
            Some((cut, _)) => format!("{:?}... ({} bytes)", &text[..cut], text.len()),
            None => format!("{text:?}"),
        };
        match self {
            Seen::Msg { from, text } => write!(f, "<{from}> {}", short(text)),
            Seen::Error(code) => write!(f, "error {code}"),
            Seen::Other(line) => write!(f, "other {}", short(line)),
        }
    }
}

/// True for what the contract keeps out of relayed text: C0, DEL, C1 and the
/// bidi controls. Written out from the contract, not taken from the server.
fn forbidden(c: char) -> bool {
    matches!(c as u32, 0x00..=0x1f | 0x7f..=0x9f | 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069)
}

fn assert_inert(text: &str, context: &str) {
    if let Some(c) = text.chars().find(|&c| forbidden(c)) {
        panic!("{context}: U+{:04X} reached a terminal in {text:?}", c as u32);
    }
}

fn seen_json(event: &Value, context: &str) -> Seen {
    match event["type"].as_str() {
        Some("msg") if event.get("to").is_none() && event.get("action").is_none() => {
            let text = event["text"].as_str().unwrap().to_owned();
            assert_inert(&text, context);
            Seen::Msg { from: event["from"].as_str().unwrap().to_owned(), text }
        }
        Some("error") => Seen::Error(code_name(event["code"].as_str().unwrap())),
        _ => Seen::Other(event.to_string()),
    }
}

fn code_name(code: &str) -> &'static str {
    ["bad_request", "bad_nick", "line_too_long", "unknown_user", "nick_taken"]
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or("unexpected code")
}

/// Reads a plain-mode line: `HH:MM <nick> text`, `! error`, or anything else.
fn seen_plain(line: &str, context: &str) -> Seen {
    assert_inert(line, context);
    if let Some(message) = line.strip_prefix("! ") {
        return Seen::Error(plain_code(message));
    }
    let said = line.get(5..).and_then(|rest| rest.strip_prefix(" <"));
    match said.and_then(|rest| rest.split_once("> ")) {
        Some((from, text)) if is_clock(&line[..5]) => {
            Seen::Msg { from: from.to_owned(), text: text.to_owned() }
        }
        _ => Seen::Other(line.to_owned()),
    }
}

/// The error code behind a plain-mode error sentence (see src/server).
fn plain_code(message: &str) -> &'static str {
    if message.contains("was discarded") {
        "line_too_long"
    } else if message.starts_with("nick ") || message.starts_with("a nick ") {
        "bad_nick"
    } else if message.starts_with("nobody called") {
        "unknown_user"
    } else {
        "bad_request"
    }
}

fn is_clock(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 5 && bytes[2] == b':' && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit())
}

/// What a plain-mode connection received before the answer to a `/who` sent
/// now: since answers come in order, everything caused by earlier lines.
fn plain_sync(conn: &mut Conn, context: &str) -> Vec<Seen> {
    conn.send_line("/who");
    let mut seen = Vec::new();
    loop {
        let line = conn.line();
        if line.starts_with("* Here now (") {
            return seen;
        }
        seen.push(seen_plain(&line, context));
    }
}

fn json_sync(conn: &mut Conn, context: &str) -> Vec<Seen> {
    conn.sync().iter().map(|event| seen_json(event, context)).collect()
}

/// A server with a sender and a watcher in each mode.
struct Room {
    server: TestServer,
    json_sender: Conn,
    plain_sender: Conn,
    json_watcher: Conn,
    plain_watcher: Conn,
}

const JSON_SENDER: &str = "js";
const PLAIN_SENDER: &str = "pl";

impl Room {
    fn open(args: &[&str]) -> Room {
        let server = TestServer::start(args);
        let mut room = Room {
            json_watcher: server.join("wj"),
            plain_watcher: person(&server, "wp"),
            json_sender: server.join(JSON_SENDER),
            plain_sender: person(&server, PLAIN_SENDER),
            server,
        };
        for sender in [&room.json_sender, &room.plain_sender] {
            sender.stream.set_nodelay(true).unwrap(); // one segment per write
        }
        // Past the joins: from now on each sees only what the fixtures cause.
        for conn in [&mut room.json_watcher, &mut room.json_sender] {
            conn.sync();
        }
        for conn in [&mut room.plain_watcher, &mut room.plain_sender] {
            plain_sync(conn, "joins");
        }
        room
    }

    /// Runs every fixture in every mode it applies to, with each delivery.
    fn run_all(&mut self, fixtures: &[Fixture], deliveries: &[Delivery]) {
        for fixture in fixtures {
            for mode in [Mode::Json, Mode::Plain] {
                for &delivery in deliveries {
                    self.check(fixture, mode, delivery);
                }
            }
        }
        self.still_talking();
    }

    /// Sends one fixture and checks everything that follows from it.
    fn check(&mut self, fixture: &Fixture, mode: Mode, delivery: Delivery) {
        let outcome = match mode {
            Mode::Json => fixture.json,
            Mode::Plain => fixture.plain,
        };
        let context = format!("{} ({mode:?}, {delivery:?})", fixture.name);
        let (bytes, carried) = fixture.payload.build(mode);
        let (sender, nick, other_sender) = match mode {
            Mode::Json => (&mut self.json_sender, JSON_SENDER, &mut self.plain_sender),
            Mode::Plain => (&mut self.plain_sender, PLAIN_SENDER, &mut self.json_sender),
        };
        let relayed = |text: &str| vec![Seen::Msg { from: nick.to_owned(), text: text.to_owned() }];
        let expected = match outcome {
            NotApplicable => return,
            Delivered => relayed(&carried),
            Cleaned(text) => relayed(text),
            Refused(code) => vec![Seen::Error(code)],
            Ignored => vec![],
        };
        delivery.send(sender, &bytes);
        let answers = match mode {
            Mode::Json => json_sync(sender, &context),
            Mode::Plain => plain_sync(sender, &context),
        };
        assert_eq!(answers, expected, "{context}: what the sender got");
        let others_see: Vec<Seen> =
            expected.into_iter().filter(|seen| matches!(seen, Seen::Msg { .. })).collect();
        let watchers = [
            (&mut self.json_watcher, Mode::Json),
            (&mut self.plain_watcher, Mode::Plain),
            (other_sender, if mode == Mode::Json { Mode::Plain } else { Mode::Json }),
        ];
        for (watcher, watcher_mode) in watchers {
            let seen = match watcher_mode {
                Mode::Json => json_sync(watcher, &context),
                Mode::Plain => plain_sync(watcher, &context),
            };
            assert_eq!(seen, others_see, "{context}: what a {watcher_mode:?} watcher saw");
        }
    }

    /// After all that, both senders still talk and are heard normally.
    fn still_talking(&mut self) {
        let fine = fx("a normal line after the battery", text("still here"), Delivered, Delivered);
        self.check(&fine, Mode::Json, Delivery::Whole);
        self.check(&fine, Mode::Plain, Delivery::Whole);
    }
}

/// Runs `fixtures` in a room of their own, every way.
fn battery(fixtures: &[Fixture]) {
    Room::open(&[]).run_all(fixtures, &EVERY_DELIVERY);
}

/// A plain-mode person who picked `nick` (the rest of the welcome is read
/// by the first `plain_sync`).
fn person(server: &TestServer, nick: &str) -> Conn {
    let mut conn = server.connect();
    conn.send_line(nick);
    let welcome = conn.line();
    assert!(welcome.starts_with(&format!("* Welcome, {nick}!")), "{welcome}");
    conn
}

/// Lines at, just over and far over `--max-line`, with multibyte characters
/// straddling the limit and every line ending.
fn framing_fixtures() -> Vec<Fixture> {
    vec![
        fx("a line exactly at --max-line", sized(MAX, "", "\n"), Delivered, Delivered),
        fx("one byte over", sized(MAX + 1, "", "\n"), TOO_LONG, TOO_LONG),
        fx("two bytes over", sized(MAX + 2, "", "\n"), TOO_LONG, TOO_LONG),
        fx("a 2-byte char ending at the limit", sized(MAX, "é", "\n"), Delivered, Delivered),
        fx("a 2-byte char straddling the limit", sized(MAX + 1, "é", "\n"), TOO_LONG, TOO_LONG),
        fx("a 4-byte char ending at the limit", sized(MAX, "😀", "\n"), Delivered, Delivered),
        fx("a 4-byte char, its last byte over", sized(MAX + 1, "😀", "\n"), TOO_LONG, TOO_LONG),
        fx("a 4-byte char, 3 bytes over", sized(MAX + 3, "😀", "\n"), TOO_LONG, TOO_LONG),
        fx("at the limit, ended by \\r\\n", sized(MAX, "", "\r\n"), Delivered, Delivered),
        fx("one over, ended by \\r\\n", sized(MAX + 1, "", "\r\n"), TOO_LONG, TOO_LONG),
        fx("at the limit plus a stray \\r", sized(MAX, "", "\r\r\n"), TOO_LONG, TOO_LONG),
        fx("a 16 KiB line", sized(16 * 1024, "", "\n"), TOO_LONG, TOO_LONG),
        fx("an empty line", raw(""), BAD_REQUEST, Ignored),
        fx("a lone \\r", raw("\r"), BAD_REQUEST, Ignored),
        fx("blanks only", raw(" \t "), BAD_REQUEST, Ignored),
    ]
}

/// Invalid UTF-8 of every kind, NUL, a byte-order mark and telnet commands.
fn encoding_fixtures() -> Vec<Fixture> {
    let bom_object = b"\xef\xbb\xbf{\"type\":\"who\"}";
    vec![
        fx("the invalid byte \\xaa", raw_text(b"hi \xaa"), BAD_REQUEST, Cleaned("hi \u{fffd}")),
        fx("an overlong '/'", raw_text(b"a\xc0\xafb"), BAD_REQUEST, Cleaned("a\u{fffd}\u{fffd}b")),
        fx("an overlong NUL", raw_text(b"a\xc0\x80b"), BAD_REQUEST, Cleaned("a\u{fffd}\u{fffd}b")),
        fx(
            "a surrogate encoded as UTF-8",
            raw_text(b"a\xed\xa0\x80b"),
            BAD_REQUEST,
            Cleaned("a\u{fffd}\u{fffd}\u{fffd}b"),
        ),
        fx("the never-valid byte \\xf5", raw_text(b"a\xf5b"), BAD_REQUEST, Cleaned("a\u{fffd}b")),
        fx(
            "a 4-byte sequence cut short",
            raw_text(b"a\xf0\x9f\x98"),
            BAD_REQUEST,
            Cleaned("a\u{fffd}"),
        ),
        fx("a lone C1 byte \\x9b", raw_text(b"a\x9b[2Jb"), BAD_REQUEST, Cleaned("a\u{fffd}[2Jb")),
        fx("a raw NUL byte", raw_text(b"a\x00b"), BAD_REQUEST, Cleaned("ab")),
        fx("an escaped NUL", text("a\u{0}b"), Cleaned("ab"), Cleaned("ab")),
        fx("a byte-order mark before an object", raw(bom_object), BAD_REQUEST, Delivered),
        fx(
            "telnet's interrupt (IAC IP IAC DO)",
            raw(b"\xff\xf4\xff\xfd\x06"),
            BAD_REQUEST,
            Cleaned("\u{fffd}\u{fffd}\u{fffd}\u{fffd}"),
        ),
    ]
}

/// JSON built to hurt a parser: surrogates, depth, huge numbers, duplicate
/// keys, wrong shapes. In plain mode each one is just text, relayed as typed.
fn json_fixtures() -> Vec<Fixture> {
    let msg_with = |extra: &str| format!("{{\"type\":\"msg\",\"text\":\"x\",\"extra\":{extra}}}");
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let digits = "9".repeat(400);
    vec![
        fx(
            "a lone high surrogate",
            raw(r#"{"type":"msg","text":"\ud800"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a lone low surrogate",
            raw(r#"{"type":"msg","text":"\udc00"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a reversed surrogate pair",
            raw(r#"{"type":"msg","text":"\udc00\ud800"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a valid surrogate pair (control)",
            raw(r#"{"type":"msg","text":"\ud83d\ude00"}"#),
            Cleaned("😀"),
            Delivered,
        ),
        fx("2000 nested arrays", raw(nested(2000)), BAD_REQUEST, Delivered),
        fx("4000 unclosed arrays", raw("[".repeat(4000)), BAD_REQUEST, Delivered),
        fx(
            "2000 nested arrays in an ignored field",
            raw(msg_with(&nested(2000))),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "100 nested arrays in an ignored field",
            raw(msg_with(&nested(100))),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "30 nested arrays in an ignored field",
            raw(msg_with(&nested(30))),
            Cleaned("x"),
            Delivered,
        ),
        fx("1e999999 in an ignored field", raw(msg_with("1e999999")), BAD_REQUEST, Delivered),
        fx(
            "a 400-digit integer in an ignored field",
            raw(msg_with(&digits)),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a number where text belongs",
            raw(r#"{"type":"msg","text":1e400}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a huge integer as a ping token",
            raw(r#"{"type":"ping","token":99999999999999999999999}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx("NaN", raw(r#"{"type":"msg","text":NaN}"#), BAD_REQUEST, Delivered),
        fx(
            "a duplicate text key",
            raw(r#"{"type":"msg","text":"a","text":"b"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "a duplicate type key",
            raw(r#"{"type":"msg","type":"who","text":"a"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "two objects on one line",
            raw(r#"{"type":"who"} {"type":"who"}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx("an array", raw(r#"["msg","hi"]"#), BAD_REQUEST, Delivered),
        fx("a string", raw(r#""hi""#), BAD_REQUEST, Delivered),
        fx("null", raw("null"), BAD_REQUEST, Delivered),
        fx("an unknown type", raw(r#"{"type":"op","nick":"js"}"#), BAD_REQUEST, Delivered),
        fx("a type that is a number", raw(r#"{"type":1}"#), BAD_REQUEST, Delivered),
        fx("null text", raw(r#"{"type":"msg","text":null}"#), BAD_REQUEST, Delivered),
        fx(
            "an object as recipient",
            raw(r#"{"type":"msg","text":"a","to":{}}"#),
            BAD_REQUEST,
            Delivered,
        ),
        fx("a second hello", raw(r#"{"type":"hello","nick":"other"}"#), BAD_REQUEST, Delivered),
        fx(
            "a spoofed sender and id",
            raw(r#"{"type":"msg","text":"x","from":"wj","id":1,"ts":0}"#),
            Cleaned("x"),
            Delivered,
        ),
        fx(
            "3000 blanks before the object",
            raw(format!("{}{{\"type\":\"msg\",\"text\":\"pad\"}}", " ".repeat(3000))),
            Cleaned("pad"),
            Delivered,
        ),
        fx(
            "an escape inside the recipient's nick",
            raw(r#"{"type":"msg","text":"hi","to":"gh\u001bost"}"#),
            Refused("unknown_user"),
            Delivered,
        ),
    ]
}

/// Objects nested past serde_json's depth limit (128): each is refused with
/// `bad_request` like any other bad line. Kept apart because the parser
/// recurses once per level and debug builds need more stack per level.
fn deep_object_fixtures() -> Vec<Fixture> {
    let objects = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let msg_with = |extra: &str| format!("{{\"type\":\"msg\",\"text\":\"x\",\"extra\":{extra}}}");
    vec![
        fx("127 nested objects", raw(objects(127)), BAD_REQUEST, Delivered),
        fx("800 unclosed objects", raw("{\"a\":".repeat(800)), BAD_REQUEST, Delivered),
        fx(
            "129 nested objects in an ignored field",
            raw(msg_with(&objects(129))),
            BAD_REQUEST,
            Delivered,
        ),
        fx(
            "600 unclosed arrays of objects in an ignored field",
            raw(msg_with(&"[{\"a\":".repeat(600))),
            BAD_REQUEST,
            Delivered,
        ),
    ]
}

/// Escape sequences from real terminal CVEs, bidi tricks, and `\r` used to
/// fake a line from the server or from someone else.
fn terminal_fixtures() -> Vec<Fixture> {
    let both = |name: &str, payload: &str, cleaned: &'static str| {
        fx(name, text(payload), Cleaned(cleaned), Cleaned(cleaned))
    };
    vec![
        both("clear screen", "a\x1b[2Jb", "a[2Jb"),
        both("cursor up, erase line", "\x1b[1A\x1b[2Kfake", "[1A[2Kfake"),
        both("window title (OSC 0)", "\x1b]0;pwned\x07", "]0;pwned"),
        both("title report (CSI 21 t)", "\x1b[21t", "[21t"),
        both("DECRQSS", "\x1bP$q\"p\x1b\\", "P$q\"p\\"),
        both("font query (OSC 50)", "\x1b]50;?\x07", "]50;?"),
        both("clipboard write (OSC 52)", "\x1b]52;c;cm0gLXJmIH4K\x07", "]52;c;cm0gLXJmIH4K"),
        both("hyperlink (OSC 8)", "\x1b]8;;http://x\x07click\x1b]8;;\x07", "]8;;http://xclick]8;;"),
        both("C1 CSI", "\u{9b}31mred", "31mred"),
        both("backspaces over text", "abc\x08\x08\x08xyz", "abcxyz"),
        both("500 bells", &format!("{}ding", "\x07".repeat(500)), "ding"),
        both("vertical tab and form feed", "a\x0b\x0cb", "ab"),
        both("Trojan Source", "access\u{202e}nimda\u{2066}", "accessnimda"),
        both("an RLM before a fake nick", "\u{200f}<wj> hi", "<wj> hi"),
        both("\\r to fake a leave", "hi\r12:01 * wj left (quit)", "hi12:01 * wj left (quit)"),
        both(
            "\\r to fake someone else",
            "\r12:01 <wj> your password?",
            "12:01 <wj> your password?",
        ),
        both(
            "\\r to fake the server",
            "\r* Bye: server shutting down",
            "* Bye: server shutting down",
        ),
        fx(
            "an escaped newline",
            text("hi\n12:01 * wj joined"),
            Cleaned("hi12:01 * wj joined"),
            NotApplicable,
        ),
        fx(
            "an escaped \\r\\n",
            text("hi\r\n! fake error"),
            Cleaned("hi! fake error"),
            NotApplicable,
        ),
        fx("nothing but controls", text("\x1b\x07\x00"), BAD_REQUEST, BAD_REQUEST),
        fx("nothing but a tab", text("\t"), BAD_REQUEST, Ignored),
        fx("a raw ESC in a JSON string", raw_text(b"a\x1b[2Jb"), BAD_REQUEST, Cleaned("a[2Jb")),
        fx("a raw tab in a JSON string", raw_text(b"a\tb"), BAD_REQUEST, Cleaned("a b")),
        fx("a raw C1 in a JSON string", raw_text("a\u{9b}b"), Cleaned("ab"), Cleaned("ab")),
        fx("a raw DEL in a JSON string", raw_text(b"a\x7fb"), Cleaned("ab"), Cleaned("ab")),
        fx("an unknown command", raw("/dance"), BAD_REQUEST, BAD_REQUEST),
        fx("/nick with an escape inside", raw(b"/nick bo\x1bb"), BAD_REQUEST, Refused("bad_nick")),
        fx("/me with nothing printable", raw(b"/me \x1b\x07"), BAD_REQUEST, BAD_REQUEST),
        fx("/msg to nobody", raw("/msg ghost hi"), BAD_REQUEST, Refused("unknown_user")),
    ]
}

/// Every character the contract removes: C0 (NUL to US), DEL, C1, and the
/// bidi controls U+061C, U+200E-F, U+202A-E, U+2066-9.
fn every_forbidden_char() -> Vec<char> {
    let all: Vec<char> = (0..0x3000).filter_map(char::from_u32).filter(|&c| forbidden(c)).collect();
    assert_eq!(all.len(), 32 + 1 + 32 + 12);
    all
}

fn name_of(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Lines at `--max-line` pass whole; one or two bytes over, a multibyte
/// character straddling the limit, a stray `\r` or 16 KiB get `line_too_long`
/// and the connection goes on; blank lines are refused in JSON and ignored
/// in plain mode.
#[test]
fn framing_fixtures_in_both_modes() {
    battery(&framing_fixtures());
}

/// Invalid UTF-8 of every kind is `bad_request` in JSON mode and U+FFFD in
/// plain mode; NUL never reaches anyone; a byte-order mark or telnet's
/// interrupt bytes are just more bad input.
#[test]
fn encoding_fixtures_in_both_modes() {
    battery(&encoding_fixtures());
}

/// Lone surrogates, deep arrays, numbers past a double, duplicate keys,
/// wrong shapes and spoofed fields: each is `bad_request` (or, for ignored
/// fields and spoofs, the plain message), and in plain mode all of it is
/// text, relayed as typed.
#[test]
fn json_fixtures_in_both_modes() {
    battery(&json_fixtures());
}

/// About 120 nested objects, a 600-byte line, once overflowed the 256 KiB
/// stack of a connection thread in debug builds and aborted the whole server;
/// JSON nested deeper than the contract needs is now refused before parsing.
#[test]
fn deeply_nested_objects_in_both_modes() {
    battery(&deep_object_fixtures());
}

/// Escape sequences from terminal CVEs, bidi reordering and `\r` tricks
/// reach others stripped to harmless text, in both modes; raw C0 bytes
/// inside a JSON string make it invalid JSON; plain-mode command mistakes
/// get their own errors.
#[test]
fn terminal_fixtures_in_both_modes() {
    battery(&terminal_fixtures());
}

/// Each forbidden character inside text, escaped in JSON and raw in plain
/// mode, is removed (a tab becomes a space); raw inside a JSON string, a C0
/// character makes the line invalid JSON, while DEL, C1 and bidi are legal
/// JSON and are removed like the escaped ones.
#[test]
fn every_control_and_bidi_character_in_text() {
    let mut fixtures = Vec::new();
    for c in every_forbidden_char() {
        let cleaned = if c == '\t' { "x y" } else { "xy" };
        let plain = if c == '\n' { NotApplicable } else { Cleaned(cleaned) };
        fixtures.push(fx(
            format!("{} in text", name_of(c)),
            text(format!("x{c}y")),
            Cleaned(cleaned),
            plain,
        ));
        let raw_json = if (c as u32) < 0x20 { BAD_REQUEST } else { Cleaned(cleaned) };
        let line = raw_text(format!("x{c}y"));
        let json = if c == '\n' { NotApplicable } else { raw_json };
        // Plain mode already sent these bytes raw in the fixture above.
        fixtures.push(fx(
            format!("{} raw in a JSON string", name_of(c)),
            line,
            json,
            NotApplicable,
        ));
    }
    battery(&fixtures);
}

/// Renaming to a nick with any forbidden character inside gets `bad_nick`
/// (a `nick` request, or `/nick` in plain mode), and nobody sees a rename.
#[test]
fn every_control_and_bidi_character_in_a_new_nick() {
    let fixtures: Vec<Fixture> = every_forbidden_char()
        .into_iter()
        .map(|c| {
            let plain = if c == '\n' { NotApplicable } else { Refused("bad_nick") };
            fx(
                format!("{} in a nick", name_of(c)),
                Payload::Nick(format!("bo{c}b")),
                Refused("bad_nick"),
                plain,
            )
        })
        .collect();
    battery(&fixtures);
}

/// The first nick, too: a JSON hello or a plain first line with any forbidden
/// character is refused with `bad_nick` and names the character; invalid
/// UTF-8 is `bad_request` in JSON and a refused U+FFFD in plain mode. After
/// all of them, a good nick joins on the same connection with nothing stray
/// in between, and the watcher saw exactly those two joins.
#[test]
fn every_control_and_bidi_character_in_a_first_nick() {
    let server = TestServer::start(&[]);
    let mut watcher = server.join("wj");
    // Each speaks at once, before the server would greet a silent person.
    let mut json = server.connect();
    json.send_raw(b"{\"type\":\"hello\",\"nick\":\"bo\xaab\"}\n");
    let mut plain = server.connect();
    plain.send_raw(b"bo\xaab\n");
    json.expect_error("bad_request");
    assert_eq!(
        plain.line(),
        "! nick contains '\u{fffd}'; use only ASCII letters, digits, '-' and '_'"
    );
    for c in every_forbidden_char() {
        let nick = format!("bo{c}b");
        let problem = format!(
            "nick contains the character {}; use only ASCII letters, digits, '-' and '_'",
            name_of(c)
        );
        json.send_json(json!({"type": "hello", "nick": nick}));
        assert_eq!(json.expect_error("bad_nick")["message"], problem.as_str());
        if c != '\n' {
            plain.send_line(&nick);
            assert_eq!(plain.line(), format!("! {problem}"));
        }
    }
    json.send_json(json!({"type": "hello", "nick": "jn"}));
    assert_eq!(json.json()["type"], "welcome", "nothing stray before the welcome");
    plain.send_line("pn");
    assert!(plain.line().starts_with("* Welcome, pn!"), "nothing stray before the welcome");
    let joins: Vec<String> =
        watcher.sync().iter().map(|e| format!("{} {}", e["type"], e["nick"])).collect();
    assert_eq!(joins, [r#""join" "jn""#, r#""join" "pn""#]);
}

/// A 16 MiB line, sent whole and in many writes, in both modes: refused with
/// `line_too_long`, the connection kept, nothing relayed, and the server
/// grows by far less than the line (it never buffers more than the limit).
#[test]
fn a_16_mib_line_is_discarded_in_bounded_memory() {
    let mut room = Room::open(&[]);
    let huge = fx("a 16 MiB line", sized(16 << 20, "", "\n"), TOO_LONG, TOO_LONG);
    let before = room.server.rss_kib();
    for mode in [Mode::Json, Mode::Plain] {
        for delivery in [Delivery::Whole, Delivery::Split] {
            room.check(&huge, mode, delivery);
        }
    }
    let grown = room.server.rss_kib().saturating_sub(before);
    eprintln!("RSS grew by {grown} KiB for 4 lines of 16 MiB");
    assert!(grown < 1024, "the server grew by {grown} KiB for 4 lines of 16 MiB");
    room.still_talking();
}
