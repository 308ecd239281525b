//! The text of a bench message: who sent it, which of theirs it is, and when.
//!
//! `b:TAG:SENDER:SEQ:NANOS`, then a space and dots up to `--size` bytes. TAG
//! tells this run's messages from anything else in the room (people, history,
//! an earlier run; see [`Prefix`]); SENDER and SEQ let a sender recognise its own last message;
//! NANOS is the send time in nanoseconds since the run's shared start
//! [`Instant`](std::time::Instant), so a receiver in the same process gets the
//! end-to-end latency by one subtraction. Only ASCII digits, `b`, `:`, space
//! and `.`: nothing the server cleans away and nothing JSON escapes, so the
//! text comes back byte for byte.

use std::io::Write as _;

use super::scan::leading_number;

/// A request line up to the text.
const REQUEST_HEAD: &[u8] = b"{\"type\":\"msg\",\"text\":\"";
/// The end of a request line.
const REQUEST_TAIL: &[u8] = b"\"}\n";

/// The start of every message text of one run, `b:TAG:`: written once, and
/// compared as bytes rather than parsed on every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(Vec<u8>);

impl Prefix {
    /// The prefix of the run tagged `tag`.
    pub fn new(tag: u64) -> Prefix {
        Prefix(format!("b:{tag}:").into_bytes())
    }
}

/// What a bench message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The index of the client that sent it.
    pub sender: u64,
    /// Its number among the sender's messages, from 0.
    pub seq: u64,
    /// When it was written, in nanoseconds since the run's start.
    pub sent_ns: u64,
}

impl Stamp {
    /// Appends the `msg` request carrying this stamp in the run of `prefix`,
    /// with the text padded to `size` bytes (a smaller size leaves the text
    /// unpadded, never cut).
    pub fn write_request(&self, prefix: &Prefix, size: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(REQUEST_HEAD);
        let start = out.len();
        out.extend_from_slice(&prefix.0);
        let Stamp { sender, seq, sent_ns } = self;
        write!(out, "{sender}:{seq}:{sent_ns}").expect("writing to a Vec cannot fail");
        if out.len() - start < size {
            out.push(b' ');
            out.resize(start + size, b'.');
        }
        out.extend_from_slice(REQUEST_TAIL);
    }

    /// The stamp in a message text of the run of `prefix`, or `None` if the
    /// text is not one (a person's, another run's).
    pub fn parse(text: &[u8], prefix: &Prefix) -> Option<Stamp> {
        let rest = text.strip_prefix(&prefix.0[..])?;
        let (sender, rest) = field(rest)?;
        let (seq, rest) = field(rest)?;
        let (sent_ns, rest) = leading_number(rest)?;
        (rest.is_empty() || rest[0] == b' ').then_some(Stamp { sender, seq, sent_ns })
    }
}

/// A number followed by `:`.
fn field(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (number, rest) = leading_number(bytes)?;
    Some((number, rest.strip_prefix(b":")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scan::Scanner;
    use crate::protocol::message::{decode_request, encode};
    use crate::protocol::{ChatMessage, Event, Request};

    const STAMP: Stamp = Stamp { sender: 199, seq: 99, sent_ns: 1_234_567_890 };

    fn prefix() -> Prefix {
        Prefix::new(123_456)
    }

    /// The request as the server decodes it, echoed back as the server
    /// encodes it, then read the way the bench reads deliveries.
    fn round_trip(stamp: Stamp, size: usize) -> (String, Option<Stamp>) {
        let mut request = Vec::new();
        stamp.write_request(&prefix(), size, &mut request);
        assert_eq!(request.pop(), Some(b'\n'));
        let Ok(Request::Msg { text, to: None }) = decode_request(&request) else {
            panic!("not a room message: {request:?}");
        };
        let event = encode(&Event::Msg(ChatMessage {
            id: 7,
            ts: 1,
            from: "b1-199".into(),
            text: text.clone(),
            to: None,
            action: false,
            history: false,
        }));
        let scanner = Scanner::new();
        let message = scanner.message(&event).expect("a message");
        (text, Stamp::parse(message.text, &prefix()))
    }

    #[test]
    fn survives_the_server_round_trip() {
        let (text, parsed) = round_trip(STAMP, 0);
        assert_eq!(text, "b:123456:199:99:1234567890");
        assert_eq!(parsed, Some(STAMP));
    }

    #[test]
    fn pads_to_the_size_asked() {
        for size in [27, 28, 32, 200, 4000] {
            let (text, parsed) = round_trip(STAMP, size);
            assert_eq!(text.len(), size);
            assert_eq!(parsed, Some(STAMP));
        }
        let extremes = Stamp { sender: 0, seq: 0, sent_ns: 9_999_999_999_999_999_999 };
        assert_eq!(round_trip(extremes, 64).1, Some(extremes));
    }

    #[test]
    fn other_texts_are_not_this_runs_messages() {
        let other_run = "b:123457:1:2:3";
        let broken = ["b:123456:2:3", "b:123456:2:3:x", "b:123456:2:3:4x", "b:123456:2::4", ""];
        for text in ["hello", other_run, "b:12345:1:2:3"].iter().chain(&broken) {
            assert_eq!(Stamp::parse(text.as_bytes(), &prefix()), None, "{text:?}");
        }
        assert!(Stamp::parse(b"b:123456:2:3:4", &prefix()).is_some());
        assert!(Stamp::parse(b"b:123456:2:3:4 ...", &prefix()).is_some());
    }
}
