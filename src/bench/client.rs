//! [`Client`]: one bench connection, its buffers and what it has seen.
//!
//! A client never blocks: the worker that owns it calls in when its socket is
//! ready. Outgoing bytes wait in a buffer until the socket takes them; incoming
//! bytes are cut into lines and each line is handled at once with the
//! [`Scanner`], counting this run's messages into the worker's [`Tally`].
//!
//! What the worker waits for from a client in each phase (a welcome, a pong,
//! every message) is an [`Awaiting`]; feeding data tells the worker when it
//! has arrived, so a phase ends without the worker looking at every client.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use mio::net::TcpStream;

use super::engine::Shared;
use super::order::Order;
use super::payload::{Prefix, Stamp};
use super::scan::{leading_number, Key, Kind, Lines, Message, Scanner};
use super::tally::Tally;
use crate::protocol::message::encode;
use crate::protocol::Request;

/// The ping token that ends a run early once every sender's messages are known
/// to have been handled (sync rounds count from 1).
pub const DRAIN_TOKEN: u64 = 0;

/// The leave reason of a client the server dropped for not reading.
const TOO_SLOW: &[u8] = b"too slow";

/// What the worker is waiting to hear from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    /// Nothing: the client has done its part of the phase.
    Nothing,
    /// Its `welcome`.
    Welcome,
    /// The `pong` to sync round N.
    Pong(u64),
    /// Every message of the run, or the `pong` to the drain ping.
    Messages,
}

/// What the client's handlers need from its worker.
pub struct Context<'a> {
    /// The worker's scanner.
    pub scanner: &'a Scanner,
    /// The run's counters.
    pub shared: &'a Shared,
    /// Where deliveries are counted.
    pub tally: &'a mut Tally,
    /// When the bytes being fed were read, in nanoseconds since the run's start.
    pub now_ns: u64,
}

/// One connection to the server.
pub struct Client {
    /// Its index in the run: its nick and its messages carry it.
    index: usize,
    stream: TcpStream,
    connected: bool,
    joined: bool,
    closed: bool,
    awaiting: Awaiting,
    lines: Lines,
    /// Bytes to send; `out[written..]` is what the socket has not taken yet.
    out: Vec<u8>,
    written: usize,
    order: Order,
    /// This run's messages received.
    received: u64,
    /// This run's messages in all (everyone receives every message).
    expected: u64,
    /// The number of this client's own last message, if it sends any; its
    /// return tells that all it sent was handled.
    last_own: Option<u64>,
    echoed: bool,
    /// The next of its own messages to write.
    next_seq: u64,
}

impl Client {
    /// Starts connecting, with the hello already queued.
    ///
    /// # Errors
    /// When no socket can be had (e.g. out of file descriptors).
    pub fn connect(
        index: usize,
        addr: SocketAddr,
        nick: &str,
        expected: u64,
        last_own: Option<u64>,
    ) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        let mut client = Client {
            index,
            stream,
            connected: false,
            joined: false,
            closed: false,
            awaiting: Awaiting::Welcome,
            lines: Lines::default(),
            out: Vec::new(),
            written: 0,
            order: Order::default(),
            received: 0,
            expected,
            last_own,
            echoed: last_own.is_none(),
            next_seq: 0,
        };
        client.out = encode(&Request::Hello { nick: nick.to_owned() });
        Ok(client)
    }

    /// The socket, to register it with the worker's poll.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Checks a pending connect; `Ok(false)` while it is still in progress.
    ///
    /// # Errors
    /// Why the connection could not be made (refused, unreachable).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(err) = self.stream.take_error()? {
            return Err(err);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                // Small requests must leave at once, not wait for more.
                self.stream.set_nodelay(true)?;
                self.connected = true;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Writes what is buffered; `Ok(true)` once nothing is left.
    ///
    /// # Errors
    /// A broken connection.
    pub fn flush(&mut self) -> io::Result<bool> {
        if !self.connected {
            return Ok(false); // the connect event flushes
        }
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.out.clear();
        self.written = 0;
        Ok(true)
    }

    /// Whether bytes are waiting for the socket to take them.
    pub fn has_unsent(&self) -> bool {
        self.written < self.out.len()
    }

    /// Reads what the socket holds into `buf`; `Ok(0)` at the end of the stream.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is there, or a broken connection.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    /// Queues a ping whose pong carries `token`.
    pub fn queue_ping(&mut self, token: u64) {
        self.out.extend(encode(&Request::Ping { token: Some(token.to_string()) }));
    }

    /// Queues this client's messages `seq..` up to `until` (exclusive) or until
    /// about `bytes` are buffered, stamped `now_ns`; returns how many.
    pub fn queue_messages(
        &mut self,
        prefix: &Prefix,
        size: usize,
        until: u64,
        bytes: usize,
        now_ns: u64,
    ) -> u64 {
        let first = self.next_seq;
        while self.next_seq < until && self.out.len() < bytes {
            self.queue_message(prefix, self.next_seq, size, now_ns);
            self.next_seq += 1;
        }
        self.next_seq - first
    }

    /// Queues this client's message number `seq`, stamped `now_ns`.
    pub fn queue_message(&mut self, prefix: &Prefix, seq: u64, size: usize, now_ns: u64) {
        let stamp = Stamp { sender: self.index as u64, seq, sent_ns: now_ns };
        stamp.write_request(prefix, size, &mut self.out);
    }

    /// How many of its own messages it has queued so far (burst sending).
    pub fn queued(&self) -> u64 {
        self.next_seq
    }

    /// Sets what the worker waits for next; `false` if that has already
    /// happened (every message is already in), so nothing is awaited.
    pub fn expect(&mut self, awaiting: Awaiting) -> bool {
        let done = awaiting == Awaiting::Messages && self.received >= self.expected;
        self.awaiting = if done { Awaiting::Nothing } else { awaiting };
        !done
    }

    /// Whether the worker is waiting for this client.
    pub fn is_awaited(&self) -> bool {
        self.awaiting != Awaiting::Nothing
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the welcome arrived.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The fingerprint of the ids it received.
    pub fn order(&self) -> &Order {
        &self.order
    }

    /// Marks the connection ended; returns whether the worker was waiting for
    /// it. A sender that ends before its messages came back counts as echoed,
    /// or the run would wait for it forever.
    pub fn close(&mut self, shared: &Shared) -> bool {
        self.closed = true;
        self.mark_echoed(shared);
        std::mem::replace(&mut self.awaiting, Awaiting::Nothing) != Awaiting::Nothing
    }

    /// Handles freshly read bytes; `Ok(true)` when what the worker awaited
    /// arrived with them.
    ///
    /// # Errors
    /// The server's refusal, as a sentence, if it refused to let this client
    /// join.
    pub fn feed(&mut self, data: &[u8], cx: &mut Context) -> Result<bool, String> {
        let mut arrived = false;
        let mut lines = std::mem::take(&mut self.lines);
        let result = lines.feed(data, |line| {
            arrived |= self.on_line(line, cx)?;
            Ok(())
        });
        self.lines = lines;
        result.map(|()| arrived)
    }

    fn on_line(&mut self, line: &[u8], cx: &mut Context) -> Result<bool, String> {
        // Almost every line is a message: try that first.
        if let Some(message) = cx.scanner.message(line) {
            self.on_message(message, cx);
            return Ok(self.awaiting == Awaiting::Messages
                && self.received >= self.expected
                && self.settle());
        }
        match cx.scanner.kind(line) {
            Kind::Welcome => {
                self.joined = true;
                Ok(self.awaiting == Awaiting::Welcome && self.settle())
            }
            Kind::Pong => {
                let token = cx.scanner.string(line, Key::Token).and_then(leading_number);
                let matches = match (self.awaiting, token) {
                    (Awaiting::Pong(round), Some((token, _))) => token == round,
                    (Awaiting::Messages, Some((token, _))) => token == DRAIN_TOKEN,
                    _ => false,
                };
                Ok(matches && self.settle())
            }
            Kind::Leave => {
                self.on_leave(line, cx);
                Ok(false)
            }
            Kind::Error => {
                let message = cx.scanner.string(line, Key::Message).unwrap_or(b"no reason given");
                let message = String::from_utf8_lossy(message);
                if !self.joined {
                    return Err(format!("the server refused client {}: {message}", self.index));
                }
                cx.tally.error(&message);
                Ok(false)
            }
            // A `msg` without the fields of one is ignored like anything unknown.
            Kind::Msg | Kind::Other => Ok(false),
        }
    }

    /// Counts one of this run's messages; others (history, people, earlier
    /// runs) are ignored.
    fn on_message(&mut self, message: Message, cx: &mut Context) {
        if message.history {
            return;
        }
        let Some(stamp) = Stamp::parse(message.text, &cx.shared.prefix) else { return };
        self.received += 1;
        self.order.push(message.id);
        cx.tally.delivered(cx.now_ns, cx.now_ns.saturating_sub(stamp.sent_ns));
        if stamp.sender == self.index as u64 && Some(stamp.seq) == self.last_own {
            self.mark_echoed(cx.shared);
        }
    }

    /// Notes when the client being watched is dropped as too slow.
    fn on_leave(&self, line: &[u8], cx: &Context) {
        let Some(watched) = cx.shared.watch.as_deref() else { return };
        let nick = cx.scanner.string(line, Key::Nick);
        if nick == Some(watched.as_bytes())
            && cx.scanner.string(line, Key::Reason) == Some(TOO_SLOW)
        {
            let _ = cx.shared.dropped_ns.compare_exchange(
                0,
                cx.now_ns.max(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn mark_echoed(&mut self, shared: &Shared) {
        if !std::mem::replace(&mut self.echoed, true) {
            shared.echoed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Stops awaiting; always `true`, for use in the handlers' conditions.
    fn settle(&mut self) -> bool {
        self.awaiting = Awaiting::Nothing;
        true
    }
}
