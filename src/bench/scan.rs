//! The per-delivery parsing: cutting reads into lines and pulling the few
//! fields the bench needs out of an event line, without a JSON parser.
//!
//! The bench reads millions of lines a second on the same cores as the server,
//! so running `serde_json` on each would make the bench the thing measured.
//! [`Scanner`] relies on one property of JSON instead: inside a string every `"`
//! is escaped as `\"`, so the bytes `"key":` can only occur where an object has
//! a key named `key`. Events are flat objects, so that is the field itself,
//! whatever order the server writes fields in. Values come back raw (still
//! escaped), which is all the bench needs: its own texts, nicks, reasons and
//! tokens never contain escapes.
//!
//! That search runs only when the fast path fails: the server writes a `msg`
//! as `{"type":"msg","id":N,"ts":N,"from":"…","text":"…"…}`, so the fast path
//! walks those fields in that order with a few byte comparisons, and any
//! other layout (another server, a newer field order) falls back to the search
//! and gives the same answer.
//!
//! [`Lines`] exists because [`LineReader`](crate::protocol::LineReader) pulls
//! from a blocking reader and allocates a `Vec` per line; here lines are
//! borrowed straight from the read buffer, and only a line split across two
//! reads is copied.

use memchr::memmem::Finder;

/// A line longer than this that had to be buffered (a long `welcome` in a big
/// room) gives its memory back, so thousands of idle clients stay small.
const KEEP_PARTIAL: usize = 4096;

/// The kinds of event the bench reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The answer to a successful hello.
    Welcome,
    /// A message.
    Msg,
    /// Someone left (the stalled client, perhaps).
    Leave,
    /// The answer to a ping.
    Pong,
    /// A refusal.
    Error,
    /// Anything else (`join`, `nick`, `bye`, kinds from newer servers): ignored.
    Other,
}

/// The fields the bench looks up, each named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // the names say it all
pub enum Key {
    Type,
    Id,
    Text,
    History,
    Nick,
    Reason,
    Token,
    Message,
}

impl Key {
    /// Every key, in declaration order, so that `key as usize` indexes it.
    const ALL: [Key; 8] = [
        Key::Type,
        Key::Id,
        Key::Text,
        Key::History,
        Key::Nick,
        Key::Reason,
        Key::Token,
        Key::Message,
    ];

    /// The bytes that introduce this key's value.
    fn pattern(self) -> &'static str {
        match self {
            Key::Type => "\"type\":",
            Key::Id => "\"id\":",
            Key::Text => "\"text\":",
            Key::History => "\"history\":",
            Key::Nick => "\"nick\":",
            Key::Reason => "\"reason\":",
            Key::Token => "\"token\":",
            Key::Message => "\"message\":",
        }
    }
}

/// Finds fields in compact, flat JSON objects; built once per worker thread
/// because the substring searchers are worth preparing.
pub struct Scanner {
    /// One searcher per key, indexed by `key as usize`.
    finders: [Finder<'static>; Key::ALL.len()],
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner::new()
    }
}

impl Scanner {
    /// A scanner for the keys in [`Key`].
    pub fn new() -> Scanner {
        Scanner { finders: Key::ALL.map(|key| Finder::new(key.pattern().as_bytes())) }
    }

    /// What kind of event `line` is.
    pub fn kind(&self, line: &[u8]) -> Kind {
        let kind = match line.strip_prefix(br#"{"type":""#) {
            Some(rest) => string_end(rest).map(|end| &rest[..end]),
            None => self.string(line, Key::Type),
        };
        match kind {
            Some(b"msg") => Kind::Msg,
            Some(b"welcome") => Kind::Welcome,
            Some(b"leave") => Kind::Leave,
            Some(b"pong") => Kind::Pong,
            Some(b"error") => Kind::Error,
            _ => Kind::Other,
        }
    }

    /// The fields the bench needs from a `msg` event, or `None` if `line`
    /// lacks them.
    pub fn message<'a>(&self, line: &'a [u8]) -> Option<Message<'a>> {
        match fast_message(line) {
            Some((id, text, tail)) => {
                // The tail is just `}` unless more fields follow.
                let history = tail.len() > 1 && self.flag(tail, Key::History);
                Some(Message { id, text, history })
            }
            None => self.searched_message(line),
        }
    }

    /// [`message`](Scanner::message) by searching for each field.
    fn searched_message<'a>(&self, line: &'a [u8]) -> Option<Message<'a>> {
        Some(Message {
            id: self.number(line, Key::Id)?,
            text: self.string(line, Key::Text)?,
            history: self.flag(line, Key::History),
        })
    }

    /// The raw (still escaped) contents of the string field `key`.
    pub fn string<'a>(&self, line: &'a [u8], key: Key) -> Option<&'a [u8]> {
        let value = self.value(line, key)?.strip_prefix(b"\"")?;
        string_end(value).map(|end| &value[..end])
    }

    /// The unsigned integer field `key`.
    pub fn number(&self, line: &[u8], key: Key) -> Option<u64> {
        leading_number(self.value(line, key)?).map(|(number, _)| number)
    }

    /// Whether the boolean field `key` is present and `true`.
    pub fn flag(&self, line: &[u8], key: Key) -> bool {
        self.value(line, key).is_some_and(|value| value.starts_with(b"true"))
    }

    /// The bytes after `"key":` (and any spaces).
    fn value<'a>(&self, line: &'a [u8], key: Key) -> Option<&'a [u8]> {
        let finder = &self.finders[key as usize];
        let at = finder.find(line)? + finder.needle().len();
        let value = &line[at..];
        let spaces = value.iter().take_while(|&&b| b == b' ').count();
        Some(&value[spaces..])
    }
}

/// A `msg` event's fields, as the bench needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its place in the room's order.
    pub id: u64,
    /// The raw (still escaped) text.
    pub text: &'a [u8],
    /// Replayed from history, not sent during the run.
    pub history: bool,
}

/// Digits in a millisecond Unix time from 2001 to 2286.
const TS_DIGITS: usize = 13;

/// The id, the raw text, and what follows the text, if `line` is laid out
/// exactly as the server writes a `msg`.
fn fast_message(line: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let rest = line.strip_prefix(br#"{"type":"msg","id":"#)?;
    let (id, rest) = leading_number(rest)?;
    // The time is not needed: skip to the comma after it (13 digits until 2286).
    let rest = rest.strip_prefix(br#","ts":"#)?;
    let comma = match rest.get(TS_DIGITS) {
        Some(b',') => TS_DIGITS,
        _ => memchr::memchr(b',', rest)?,
    };
    let rest = rest[comma..].strip_prefix(br#","from":""#)?;
    let rest = &rest[string_end(rest)? + 1..];
    let rest = rest.strip_prefix(br#","text":""#)?;
    let end = string_end(rest)?;
    // What follows the text is `}` or a few more fields (`to`, `action`, `history`).
    Some((id, &rest[..end], &rest[end + 1..]))
}

/// How far a string is searched a word at a time before vectorised search
/// takes over: nicks and bench texts are short, and for them the set-up cost
/// of a vectorised call outweighs its speed.
const SHORT_STRING: usize = 64;

/// Where the string starting at `value` (just after its opening quote) ends:
/// the first `"` not escaped by a backslash.
fn string_end(value: &[u8]) -> Option<usize> {
    let head = &value[..value.len().min(SHORT_STRING)];
    let mut at = match quote_or_backslash(head) {
        Some(at) => at,
        None if head.len() == value.len() => return None,
        None => head.len() + memchr::memchr2(b'"', b'\\', &value[head.len()..])?,
    };
    loop {
        if value[at] == b'"' {
            return Some(at);
        }
        at += 2; // a backslash and the byte it escapes
        at += memchr::memchr2(b'"', b'\\', value.get(at..)?)?;
    }
}

/// The first `"` or `\` in `bytes`, eight bytes at a time: a byte equal to
/// `b` is a zero byte of `word ^ b…b`, and `(x - 0x01…01) & !x & 0x80…80` marks
/// zero bytes of `x`, the lowest one exactly (a borrow can only mark bytes
/// above it), which is the first in little-endian order.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of eight bytes"));
        let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = words.remainder().iter().position(|&byte| byte == b'"' || byte == b'\\');
    rest.map(|offset| at + offset)
}

/// The most digits [`leading_number`] takes: any 19-digit number fits a u64.
const MAX_DIGITS: usize = 19;

/// The decimal number at the start of `bytes` (1 to 19 digits), and what
/// follows it.
pub fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut number: u64 = 0;
    let mut digits = 0;
    while let Some(digit) = bytes.get(digits).map(|byte| byte.wrapping_sub(b'0')) {
        if digit > 9 || digits > MAX_DIGITS {
            break;
        }
        // Wrapping only on a 20th digit, which is refused below.
        number = number.wrapping_mul(10).wrapping_add(u64::from(digit));
        digits += 1;
    }
    (1..=MAX_DIGITS).contains(&digits).then(|| (number, &bytes[digits..]))
}

/// Cuts a stream of reads into lines, lending each line without copying
/// unless it straddles two reads.
#[derive(Debug, Default)]
pub struct Lines {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
}

impl Lines {
    /// Calls `on_line` for each line completed by `data` (without its `\n`),
    /// stopping at the first error.
    ///
    /// # Errors
    /// The first error `on_line` returns; the rest of `data` is then dropped.
    pub fn feed<E>(
        &mut self,
        data: &[u8],
        mut on_line: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = data;
        if !self.partial.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.partial.extend_from_slice(rest);
                return Ok(());
            };
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..end]);
            let result = on_line(&line);
            if line.capacity() <= KEEP_PARTIAL {
                line.clear();
                self.partial = line;
            }
            result?;
            rest = &rest[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', rest) {
            on_line(&rest[start..end])?;
            start = end + 1;
        }
        self.partial.extend_from_slice(&rest[start..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::encode;
    use crate::protocol::{ChatMessage, ErrorCode, Event};

    fn message(id: u64, text: &str) -> ChatMessage {
        ChatMessage {
            id,
            ts: 1_764_430_000_000,
            from: "alice".into(),
            text: text.into(),
            to: None,
            action: false,
            history: false,
        }
    }

    /// An encoded event without its newline, as the bench sees it.
    fn line(event: &Event) -> Vec<u8> {
        let mut line = encode(event);
        assert_eq!(line.pop(), Some(b'\n'));
        line
    }

    /// What serde_json makes of a raw string the scanner returned.
    fn unescape(raw: &[u8]) -> String {
        serde_json::from_slice(&[b"\"", raw, b"\""].concat()).expect("a valid JSON string")
    }

    const TRICKY: [&str; 9] = [
        "hi",
        "",
        r#"she said "hi""#,
        r#"\"#,
        r#"\\"id":7,"history":true,"type":"pong"\"#,
        "\"text\":\"fake\"",
        "tab\tand unicode ✓ é",
        r#"ends with a backslash \"#,
        "b:1:2:3:4 .....",
    ];

    #[test]
    fn reads_real_messages_whatever_their_text() {
        let scanner = Scanner::new();
        for (n, text) in TRICKY.iter().enumerate() {
            for (to, action, history) in [(None, false, false), (Some("bob"), true, true)] {
                let id = 1_000_000 + n as u64;
                let msg =
                    ChatMessage { to: to.map(str::to_owned), action, history, ..message(id, text) };
                let line = line(&Event::Msg(msg));
                assert_eq!(scanner.kind(&line), Kind::Msg, "{text:?}");
                assert!(fast_message(&line).is_some(), "the server's layout: {text:?}");
                let found = scanner.message(&line).expect("a message");
                assert_eq!(scanner.searched_message(&line), Some(found), "{text:?}");
                assert_eq!((found.id, found.history), (id, history), "{text:?}");
                assert_eq!(unescape(found.text), *text);
            }
        }
    }

    #[test]
    fn reads_every_other_kind() {
        let scanner = Scanner::new();
        let welcome =
            Event::Welcome { nick: "b1-0".into(), users: vec!["b1-0".into()], motd: None };
        assert_eq!(scanner.kind(&line(&welcome)), Kind::Welcome);

        let leave = line(&Event::Leave { ts: 1, nick: "b1-9".into(), reason: "too slow".into() });
        assert_eq!(scanner.kind(&leave), Kind::Leave);
        assert_eq!(scanner.string(&leave, Key::Nick), Some(&b"b1-9"[..]));
        assert_eq!(scanner.string(&leave, Key::Reason), Some(&b"too slow"[..]));

        let pong = line(&Event::Pong { token: Some("42".into()) });
        assert_eq!(scanner.kind(&pong), Kind::Pong);
        assert_eq!(scanner.string(&pong, Key::Token), Some(&b"42"[..]));
        assert_eq!(scanner.string(&line(&Event::Pong { token: None }), Key::Token), None);

        let error = line(&Event::error(ErrorCode::ServerFull, "the server is full"));
        assert_eq!(scanner.kind(&error), Kind::Error);
        assert_eq!(scanner.string(&error, Key::Message), Some(&b"the server is full"[..]));

        assert_eq!(scanner.kind(&line(&Event::Join { ts: 1, nick: "x".into() })), Kind::Other);
        assert_eq!(scanner.kind(&line(&Event::Bye { reason: "quit".into() })), Kind::Other);
    }

    #[test]
    fn tolerates_field_order_and_spaces_and_rejects_junk() {
        let scanner = Scanner::new();
        let line = br#"{"text": "a\"b", "id": 12, "history": true, "type": "msg"}"#;
        assert_eq!(scanner.kind(line), Kind::Msg);
        let expected = Message { id: 12, text: br#"a\"b"#, history: true };
        assert_eq!(scanner.message(line), Some(expected));
        let spaced =
            br#"{"type": "msg", "id": 12, "ts": 1, "from": "x", "text": "a\"b", "history": true}"#;
        assert_eq!(scanner.kind(spaced), Kind::Msg);
        assert_eq!(scanner.message(spaced), Some(expected));
        assert_eq!(scanner.message(br#"{"type":"msg","id":1,"ts":2,"from":"x"}"#), None);
        assert_eq!(scanner.kind(b"not json"), Kind::Other);
        assert_eq!(scanner.number(br#"{"id":"7"}"#, Key::Id), None);
        assert_eq!(scanner.number(br#"{"id":99999999999999999999}"#, Key::Id), None);
        assert_eq!(scanner.string(br#"{"text":"unterminated"#, Key::Text), None);
        assert_eq!(scanner.string(br#"{"text":"unterminated\"#, Key::Text), None);
        assert_eq!(scanner.string(br#"{"text":"a\\"}"#, Key::Text), Some(&br#"a\\"#[..]));
        for long in [63, 64, 65, 200] {
            let text = "x".repeat(long);
            let line = format!(r#"{{"text":"{text}","more":"\"{text}"}}"#);
            assert_eq!(scanner.string(line.as_bytes(), Key::Text), Some(text.as_bytes()), "{long}");
            let escaped = format!(r#"{{"text":"{text}\"{text}"}}"#);
            let raw = scanner.string(escaped.as_bytes(), Key::Text).expect("a text");
            assert_eq!(raw.len(), 2 * long + 2, "{long}");
            assert_eq!(scanner.string(format!(r#"{{"text":"{text}"#).as_bytes(), Key::Text), None);
        }
        assert_eq!(scanner.string(br#"{"text":"\"\\\""}"#, Key::Text), Some(&br#"\"\\\""#[..]));
    }

    #[test]
    fn keys_index_their_searchers() {
        for (at, key) in Key::ALL.iter().enumerate() {
            assert_eq!(*key as usize, at);
        }
    }

    #[test]
    fn finds_quotes_and_backslashes_a_word_at_a_time() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\'] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = special;
                    if at + 3 < len {
                        bytes[at + 3] = b'"';
                    }
                    assert_eq!(quote_or_backslash(&bytes), Some(at), "{len} {at}");
                }
            }
            let near_misses: Vec<u8> =
                (0..len).map(|n| [b'!', b'#', b'[', b']', 0xa2, 0xdc][n % 6]).collect();
            assert_eq!(quote_or_backslash(&near_misses), None, "{len}");
        }
    }

    #[test]
    fn leading_numbers() {
        assert_eq!(leading_number(b"123:x"), Some((123, &b":x"[..])));
        assert_eq!(
            leading_number(b"9999999999999999999}"),
            Some((9_999_999_999_999_999_999, &b"}"[..]))
        );
        assert_eq!(leading_number(b"18446744073709551615"), None, "20 digits");
        assert_eq!(leading_number(b":1"), None);
    }

    fn collect(lines: &mut Lines, data: &[u8]) -> Vec<String> {
        let mut seen = Vec::new();
        lines
            .feed(data, |line| {
                seen.push(String::from_utf8(line.to_vec()).expect("utf-8"));
                Ok::<(), ()>(())
            })
            .expect("no error");
        seen
    }

    #[test]
    fn lines_survive_any_split() {
        let stream = b"one\ntwo\n\nthree is longer\nfour\n";
        for cut in 0..stream.len() {
            for second in cut..stream.len() {
                let mut lines = Lines::default();
                let mut seen = collect(&mut lines, &stream[..cut]);
                seen.extend(collect(&mut lines, &stream[cut..second]));
                seen.extend(collect(&mut lines, &stream[second..]));
                assert_eq!(seen, ["one", "two", "", "three is longer", "four"], "{cut} {second}");
            }
        }
    }

    #[test]
    fn a_long_buffered_line_gives_its_memory_back() {
        let mut lines = Lines::default();
        let long = vec![b'x'; 100_000];
        assert!(collect(&mut lines, &long).is_empty());
        assert_eq!(collect(&mut lines, b"\n").len(), 1);
        assert!(lines.partial.capacity() <= KEEP_PARTIAL);
    }

    #[test]
    fn an_error_stops_the_feed() {
        let mut lines = Lines::default();
        let mut seen = 0;
        let result = lines.feed(b"a\nb\nc\n", |line| {
            seen += 1;
            if line == b"b" {
                Err("stop")
            } else {
                Ok(())
            }
        });
        assert_eq!((result, seen), (Err("stop"), 2));
    }
}
