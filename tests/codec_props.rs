//! Property tests of the pure codec, through its public API: random bytes and
//! random JSON never make a decoder, the line reader, the command parser or
//! the renderer panic; every event survives encode then decode unchanged and
//! is one line; the sanitiser is idempotent and leaves nothing a terminal
//! obeys; the nick rules match the contract; and the line reader agrees with
//! a plain model of the framing rules however its input is chopped up.

use std::io::{self, Read};

use chat::protocol::command;
use chat::protocol::message::{decode_event, decode_request, encode};
use chat::protocol::plain::render;
use chat::protocol::text::{clean, nick_problem};
use chat::protocol::{ChatMessage, ErrorCode, Event, Line, LineReader, Request};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

/// Strings rich in what hurts: controls, bidi, quotes, backslashes,
/// surrogate-adjacent and multibyte characters, as well as anything at all.
fn nasty_string() -> impl Strategy<Value = String> {
    let nasty = prop_oneof![
        any::<char>(),
        prop::sample::select(vec![
            '\0',
            '\t',
            '\n',
            '\r',
            '\x07',
            '\x08',
            '\x1b',
            '\x7f',
            '\u{85}',
            '\u{9b}',
            '"',
            '\\',
            '/',
            '{',
            '}',
            '\u{61c}',
            '\u{200e}',
            '\u{202e}',
            '\u{2066}',
            '\u{feff}',
            '\u{d7ff}',
            '\u{e000}',
            '\u{fffd}',
            '\u{10ffff}',
            'é',
            '😀',
        ]),
        prop::char::range('a', 'z'),
    ];
    vec(nasty, 0..40).prop_map(|chars| chars.into_iter().collect())
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(vec![
        ErrorCode::BadRequest,
        ErrorCode::BadNick,
        ErrorCode::NickTaken,
        ErrorCode::NotRegistered,
        ErrorCode::UnknownUser,
        ErrorCode::LineTooLong,
        ErrorCode::ServerFull,
        ErrorCode::HandshakeTimeout,
        ErrorCode::Unknown,
    ])
}

fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (
        any::<u64>(),
        any::<u64>(),
        nasty_string(),
        nasty_string(),
        prop::option::of(nasty_string()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, ts, from, text, to, action, history)| ChatMessage {
            id,
            ts,
            from,
            text,
            to,
            action,
            history,
        })
}

/// Every kind of event, with arbitrary field values.
fn event() -> impl Strategy<Value = Event> {
    let s = nasty_string;
    prop_oneof![
        (s(), vec(s(), 0..5), prop::option::of(s()))
            .prop_map(|(nick, users, motd)| Event::Welcome { nick, users, motd }),
        chat_message().prop_map(Event::Msg),
        (any::<u64>(), s()).prop_map(|(ts, nick)| Event::Join { ts, nick }),
        (any::<u64>(), s(), s()).prop_map(|(ts, nick, reason)| Event::Leave { ts, nick, reason }),
        (any::<u64>(), s(), s()).prop_map(|(ts, old, new)| Event::Nick { ts, old, new }),
        vec(s(), 0..5).prop_map(|users| Event::Who { users }),
        prop::option::of(s()).prop_map(|token| Event::Pong { token }),
        (error_code(), s()).prop_map(|(code, message)| Event::Error { code, message }),
        s().prop_map(|reason| Event::Bye { reason }),
    ]
}

/// Every kind of request, with arbitrary field values.
fn request() -> impl Strategy<Value = Request> {
    let s = nasty_string;
    prop_oneof![
        s().prop_map(|nick| Request::Hello { nick }),
        (s(), prop::option::of(s())).prop_map(|(text, to)| Request::Msg { text, to }),
        s().prop_map(|text| Request::Me { text }),
        s().prop_map(|nick| Request::Nick { nick }),
        Just(Request::Who {}),
        prop::option::of(s()).prop_map(|token| Request::Ping { token }),
        prop::option::of(s()).prop_map(|reason| Request::Quit { reason }),
    ]
}

/// Arbitrary JSON, nested a few levels, with keys a request would use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_string().prop_map(Value::from),
        prop::sample::select(vec!["hello", "msg", "me", "nick", "who", "ping", "quit"])
            .prop_map(Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(vec!["type", "nick", "text", "to", "token", "reason"])
            .prop_map(str::to_owned),
        nasty_string(),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// True for what the contract keeps out of relayed text (C0, DEL, C1, bidi
/// controls), written out from the contract rather than taken from the code.
fn forbidden(c: char) -> bool {
    matches!(c as u32, 0x00..=0x1f | 0x7f..=0x9f | 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069)
}

/// A reader that hands out `data` in the given chunk sizes (cycling), and
/// between chunks may time out, as a socket with a read timeout does.
struct Chopped {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
    timeouts: Vec<bool>,
    timed_out: bool,
}

impl Chopped {
    fn new(data: Vec<u8>, sizes: Vec<usize>, timeouts: Vec<bool>) -> Chopped {
        Chopped { data, at: 0, sizes, turn: 0, timeouts, timed_out: false }
    }
}

impl Read for Chopped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.turn += 1;
        // Never twice in a row, so that the data always comes in the end.
        self.timed_out = !self.timed_out && self.timeouts[self.turn % self.timeouts.len()];
        if self.timed_out {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let size = self.sizes[self.turn % self.sizes.len()].min(buf.len());
        let n = size.min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads every line, retrying after each timeout (which must lose nothing).
fn read_lines(reader: Chopped, max: usize) -> Vec<Line> {
    let mut lines = LineReader::new(reader, max);
    let mut out = Vec::new();
    loop {
        match lines.next_line() {
            Ok(Some(line)) => out.push(line),
            Ok(None) => return out,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("unexpected error {err}"),
        }
    }
}

/// The framing rules of docs/protocol.md, applied to a whole input at once:
/// lines end at `\n`, a `\r` before it is dropped, a line longer than `max`
/// is reported too long; a last line without `\n` still counts (as is).
fn model_lines(data: &[u8], max: usize) -> Vec<Line> {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let last = pieces.pop().filter(|last| !last.is_empty());
    let judge = |line: &[u8]| {
        if line.len() > max {
            Line::TooLong
        } else {
            Line::Complete(line.to_vec())
        }
    };
    let mut lines: Vec<Line> =
        pieces.into_iter().map(|line| judge(line.strip_suffix(b"\r").unwrap_or(line))).collect();
    lines.extend(last.map(judge));
    lines
}

/// Input for the line reader: short lines, lines around the limit and long
/// runs, with `\r` and `\n` in all places.
fn framed_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        vec(any::<u8>(), 0..20),
        vec(prop::sample::select(vec![b'x', b'\r', b'\n']), 0..20),
        (0usize..80).prop_map(|n| vec![b'y'; n]),
        (0usize..9000).prop_map(|n| vec![b'z'; n]),
    ];
    vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random bytes: the decoders answer Ok or Err, never panic.
    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_request(&bytes);
        let _ = decode_event(&bytes);
        let mut braced = b"{".to_vec();
        braced.extend_from_slice(&bytes);
        let _ = decode_request(&braced);
    }

    /// Random JSON, in any shape and with request-like keys: no panic, and
    /// whatever decodes as a request encodes back to JSON that decodes the same.
    #[test]
    fn decoders_never_panic_on_random_json(value in json_value()) {
        let line = value.to_string();
        let _ = decode_event(line.as_bytes());
        if let Ok(request) = decode_request(line.as_bytes()) {
            let again = encode(&request);
            prop_assert_eq!(decode_request(&again[..again.len() - 1]), Ok(request));
        }
    }

    /// Every event, whatever its fields hold, is one line (no raw newline or
    /// control byte inside) and decodes to the same event.
    #[test]
    fn events_survive_encode_then_decode(event in event()) {
        let line = encode(&event);
        prop_assert_eq!(line.last(), Some(&b'\n'));
        let body = &line[..line.len() - 1];
        prop_assert!(body.iter().all(|&b| b >= 0x20), "raw control byte in {:?}", body);
        prop_assert_eq!(decode_event(body), Ok(event));
    }

    /// The same for requests, as `chat connect` sends them.
    #[test]
    fn requests_survive_encode_then_decode(request in request()) {
        let line = encode(&request);
        prop_assert_eq!(decode_request(&line[..line.len() - 1]), Ok(request));
    }

    /// `clean` removes exactly the forbidden characters (a tab becomes a
    /// space), keeps everything else in order, and cleaning twice changes
    /// nothing.
    #[test]
    fn clean_is_exact_and_idempotent(text in nasty_string()) {
        let cleaned = clean(&text);
        let expected: String = text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .filter(|&c| !forbidden(c))
            .collect();
        prop_assert_eq!(&cleaned, &expected);
        prop_assert_eq!(clean(&cleaned), cleaned);
    }

    /// A nick is accepted exactly when it is 1 to 24 ASCII letters, digits,
    /// `-` or `_` (so never with a control, bidi or look-alike character).
    #[test]
    fn nick_rules_match_the_contract(nick in prop_oneof![nasty_string(), "[A-Za-z0-9_-]{0,26}"]) {
        let valid = (1..=24).contains(&nick.len())
            && nick.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(nick_problem(&nick).is_none(), valid, "{:?}", nick);
    }

    /// Whatever someone types, the command parser answers without panicking.
    #[test]
    fn command_parser_never_panics(line in prop_oneof![nasty_string(), "/[a-z]{0,6} .{0,20}"]) {
        let _ = command::parse(&line);
    }

    /// A message carrying cleaned text renders, in plain mode, as exactly one
    /// line, ends with that text, and holds nothing a terminal obeys: no text
    /// can fake a second line or rewrite the first.
    #[test]
    fn plain_rendering_of_cleaned_text_is_one_inert_line(
        message in chat_message(),
        viewer in "[a-z]{1,5}",
    ) {
        let from = message.from.chars().filter(char::is_ascii_alphanumeric).collect::<String>();
        let message = ChatMessage { text: clean(&message.text), from, to: None, ..message };
        let rendered = render(&Event::Msg(message.clone()), &viewer);
        let body = rendered.strip_suffix('\n').expect("ends with a newline");
        prop_assert!(!body.chars().any(forbidden), "{:?}", rendered);
        prop_assert!(body.ends_with(&message.text));
    }

    /// The line reader, fed random bytes in random chunks with timeouts in
    /// between, returns exactly the lines of the framing model: nothing lost
    /// or invented, none longer than the limit. Here the input ends with a
    /// newline, as a client's last line normally does.
    #[test]
    fn line_reader_matches_the_framing_model(
        data in framed_bytes(),
        max in line_limit(),
        sizes in vec(1usize..5000, 1..8),
        timeouts in vec(prop::bool::weighted(0.2), 1..8),
    ) {
        let mut data = data;
        data.push(b'\n');
        check_framing(data, max, sizes, timeouts)?;
    }

    /// The same with any tail, an unterminated over-long one included (a
    /// client that sends too much and closes without a newline): after
    /// reporting such a tail `TooLong`, the next call must simply end.
    #[test]
    fn line_reader_matches_the_framing_model_with_any_tail(
        data in framed_bytes(),
        max in line_limit(),
        sizes in vec(1usize..5000, 1..8),
        timeouts in vec(prop::bool::weighted(0.2), 1..8),
    ) {
        check_framing(data, max, sizes, timeouts)?;
    }
}

fn line_limit() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..8, 60usize..100, Just(4096)]
}

fn check_framing(
    data: Vec<u8>,
    max: usize,
    sizes: Vec<usize>,
    timeouts: Vec<bool>,
) -> Result<(), TestCaseError> {
    let expected = model_lines(&data, max);
    let lines = read_lines(Chopped::new(data, sizes, timeouts), max);
    for line in &lines {
        if let Line::Complete(bytes) = line {
            prop_assert!(bytes.len() <= max);
        }
    }
    prop_assert_eq!(lines, expected);
    Ok(())
}
