//! Fuzzes the pure codec with arbitrary bytes: one input is read as a line a
//! client sent, as a stream for the line reader (chopped as its bytes say),
//! and as text for the sanitiser, the command parser and plain rendering.
//!
//! Checked, besides "never panics": whatever decodes encodes back to the same
//! value; the reader never returns a line over its limit; cleaned text is
//! free of control and bidi characters and cleaning it again changes nothing;
//! a message with cleaned text renders as exactly one line.

#![no_main]

use std::io::{self, Read};

use chat::protocol::command;
use chat::protocol::message::{decode_event, decode_request, encode};
use chat::protocol::plain::render;
use chat::protocol::text::{clean, is_bidi_control};
use chat::protocol::{ChatMessage, Event, Line, LineReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_round_trips(data);
    line_reader_keeps_its_limit(data);
    text_is_made_inert(&String::from_utf8_lossy(data));
});

fn decode_round_trips(line: &[u8]) {
    if let Ok(request) = decode_request(line) {
        let again = encode(&request);
        assert_eq!(decode_request(&again[..again.len() - 1]), Ok(request));
    }
    if let Ok(event) = decode_event(line) {
        let again = encode(&event);
        assert_eq!(decode_event(&again[..again.len() - 1]), Ok(event));
    }
}

/// Hands out the data in chunks whose sizes come from the data itself.
struct Chopped<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl Read for Chopped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.turn += 1;
        let size = self.sizes.get(self.turn % self.sizes.len().max(1)).map_or(7, |&s| s as usize);
        let n = (size + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn line_reader_keeps_its_limit(data: &[u8]) {
    let Some((&limit, rest)) = data.split_first() else { return };
    let max = usize::from(limit) % 64;
    let mut reader = LineReader::new(Chopped { data: rest, sizes: rest, turn: 0 }, max);
    while let Some(line) = reader.next_line().expect("reading from memory cannot fail") {
        if let Line::Complete(bytes) = line {
            assert!(bytes.len() <= max);
            assert!(!bytes.contains(&b'\n'));
        }
    }
}

fn text_is_made_inert(text: &str) {
    let cleaned = clean(text);
    assert!(!cleaned.chars().any(|c| c.is_control() || is_bidi_control(c)));
    assert_eq!(clean(&cleaned), cleaned);
    let _ = command::parse(text);
    let message = ChatMessage {
        id: 1,
        ts: 0,
        from: "bob".into(),
        text: cleaned,
        to: None,
        action: text.len() % 2 == 1,
        history: false,
    };
    let rendered = render(&Event::Msg(message), "alice");
    assert_eq!(rendered.matches('\n').count(), 1);
    assert!(rendered.ends_with('\n'));
}
