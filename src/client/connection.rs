//! The TCP connection to the server: connecting, the hello handshake, reading
//! events, and [`Link`], the write side shared by the threads that send.
//!
//! Reading goes through [`LineReader`], so a hostile or broken server cannot make
//! the client buffer an endless line. Sockets get timeouts on connect and write
//! and TCP keepalive, so a dead network is noticed instead of waited on forever.

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

use crate::protocol::message::{decode_event, encode};
use crate::protocol::{ChatMessage, ErrorCode, Event, Line, LineReader, Request};

/// Longest line accepted from the server. Far above any message a server
/// relays with its default limits (4 KiB of text, escaped as JSON), small
/// enough that a hostile server cannot exhaust memory.
const MAX_EVENT_LINE: usize = 1024 * 1024;

/// How long to try each address of the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server may take to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one send may block; past it the server is treated as gone, so a
/// stalled server can never freeze the person typing.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle time before TCP keepalive probes start, and their interval: a network
/// that drops silently is noticed within about a minute.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// The ping token sent right after the hello. Its answer marks the end of the
/// welcome and the history replay.
const JOINED_TOKEN: &str = "chat-joined";

/// An open connection that has not joined yet.
pub struct Connection {
    addr: String,
    stream: TcpStream,
    events: Events,
}

/// The events coming from the server, one decoded line at a time.
pub struct Events {
    lines: LineReader<TcpStream>,
}

/// The server's answer to a successful hello.
#[derive(Debug)]
pub struct Joined {
    /// The `welcome` event itself.
    pub welcome: Event,
    /// Messages replayed from history, oldest first.
    pub history: Vec<ChatMessage>,
    /// Live events that arrived before the handshake ended, in order.
    pub live: Vec<Event>,
}

/// The server refused the hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why, for the client to act on (a taken nick can be retried).
    pub code: ErrorCode,
    /// The server's sentence, not yet cleaned of control characters.
    pub message: String,
}

/// The server could not be reached: a short cause, plus advice for people.
/// Displays as one sentence naming the address, e.g.
/// `cannot connect to 127.0.0.1:5000: connection refused; is the server running?`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    addr: String,
    cause: String,
    advice: &'static str,
}

impl Unreachable {
    fn new(addr: &str, err: &io::Error) -> Unreachable {
        let (cause, advice) = match err.kind() {
            io::ErrorKind::ConnectionRefused => {
                ("connection refused".to_owned(), "is the server running?")
            }
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (
                format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                "check the address and the network",
            ),
            _ => (describe(err), ""),
        };
        Unreachable { addr: addr.to_owned(), cause, advice }
    }

    /// The cause alone, e.g. `connection refused`.
    pub fn cause(&self) -> &str {
        &self.cause
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: {}", self.addr, self.cause)?;
        match self.advice {
            "" => Ok(()),
            advice => write!(f, "; {advice}"),
        }
    }
}

impl From<Unreachable> for io::Error {
    fn from(unreachable: Unreachable) -> io::Error {
        io::Error::new(io::ErrorKind::NotConnected, unreachable.to_string())
    }
}

/// Connects to `addr` (`HOST:PORT`), trying each address it names.
///
/// # Errors
/// [`Unreachable`], saying why and what to check.
pub fn open(addr: &str) -> Result<Connection, Unreachable> {
    let candidates = addr.to_socket_addrs().map_err(|_| Unreachable {
        addr: addr.to_owned(),
        cause: "cannot resolve the address".to_owned(),
        advice: "give HOST:PORT, such as 127.0.0.1:5000",
    })?;
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, CONNECT_TIMEOUT) {
            Ok(stream) => {
                return Connection::new(addr, stream).map_err(|err| Unreachable::new(addr, &err))
            }
            Err(err) => last_error = err,
        }
    }
    Err(Unreachable::new(addr, &last_error))
}

/// An I/O error as a short lower-case phrase, without the `(os error N)` tail.
pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection".to_owned(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            "the server stopped answering".to_owned()
        }
        kind if err.raw_os_error().is_some() && kind != io::ErrorKind::Other => kind.to_string(),
        _ => err.to_string(),
    }
}

impl Connection {
    fn new(addr: &str, stream: TcpStream) -> io::Result<Connection> {
        // Chat lines are small and people wait for them: send each at once.
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let keepalive =
            TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL);
        SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
        let events = Events { lines: LineReader::new(stream.try_clone()?, MAX_EVENT_LINE) };
        Ok(Connection { addr: addr.to_owned(), stream, events })
    }

    /// Joins the room as `nick`. On a refusal (nick taken, bad nick, server
    /// full) the connection stays open, so another nick can be tried on it.
    ///
    /// # Errors
    /// A sentence if the connection fails or the server does not answer.
    pub fn hello(&mut self, nick: &str) -> io::Result<Result<Joined, Refusal>> {
        let sent = self
            .send(&Request::Hello { nick: nick.to_owned() })
            .and_then(|()| self.send(&Request::Ping { token: Some(JOINED_TOKEN.to_owned()) }));
        self.stream.set_read_timeout(Some(HELLO_TIMEOUT))?;
        // Read even if sending failed: a full server writes its refusal and
        // closes at once, and that refusal is the sentence worth showing.
        let answer = self.read_hello_answer();
        self.stream.set_read_timeout(None)?;
        answer.or_else(|err| sent.and(Err(err))).map_err(|err| {
            io::Error::new(err.kind(), format!("no welcome from {}: {}", self.addr, describe(&err)))
        })
    }

    /// Reads the answers to the hello and to the ping after it: the server
    /// answers in order, so the welcome (or the refusal) comes first, then the
    /// history, then the pong (or, after a refusal, a `not_registered` error).
    fn read_hello_answer(&mut self) -> io::Result<Result<Joined, Refusal>> {
        let mut welcome = None;
        let mut refusal = None;
        let mut history = Vec::new();
        let mut live = Vec::new();
        let mut answers = 0;
        while answers < 2 {
            match self.events.next_event()? {
                // A full server sends its refusal and closes at once.
                None if refusal.is_some() => break,
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some(Event::Pong { token: Some(token) }) if token == JOINED_TOKEN => answers += 1,
                Some(Event::Error { code, message }) if welcome.is_none() => {
                    refusal.get_or_insert(Refusal { code, message });
                    answers += 1;
                }
                Some(event @ Event::Welcome { .. }) => {
                    welcome = Some(event);
                    answers += 1;
                }
                Some(Event::Msg(message)) if message.history => history.push(message),
                Some(event) if welcome.is_some() => live.push(event),
                Some(_) => {} // nothing else can come before the welcome
            }
        }
        match (welcome, refusal) {
            (Some(welcome), _) => Ok(Ok(Joined { welcome, history, live })),
            (None, Some(refusal)) => Ok(Err(refusal)),
            (None, None) => {
                Err(io::Error::new(io::ErrorKind::InvalidData, "the server skipped the welcome"))
            }
        }
    }

    fn send(&mut self, request: &Request) -> io::Result<()> {
        self.stream.write_all(&encode(request))
    }

    /// Splits the joined connection into its write side and its events.
    pub fn into_parts(self) -> (TcpStream, Events) {
        (self.stream, self.events)
    }
}

impl Events {
    /// The next event, or `None` once the server closed the connection.
    /// Lines this client cannot use (too long, or from a newer protocol) are
    /// skipped, as the contract asks.
    ///
    /// # Errors
    /// Whatever the socket reports: a reset, a keepalive timeout.
    pub fn next_event(&mut self) -> io::Result<Option<Event>> {
        loop {
            match self.lines.next_line()? {
                None => return Ok(None),
                Some(Line::Complete(bytes)) => {
                    if let Ok(event) = decode_event(&bytes) {
                        return Ok(Some(event));
                    }
                }
                Some(Line::TooLong) => {}
            }
        }
    }
}

/// The write side of the current connection, shared by the main thread
/// (which sends what people type) and the session thread (which swaps in a
/// new connection after a reconnect).
#[derive(Debug, Default)]
pub struct Link {
    /// `None` while disconnected.
    stream: Mutex<Option<TcpStream>>,
    /// Set once we sent `quit`: the end of the connection is then expected.
    quitting: AtomicBool,
}

/// A request could not be sent: there is no connection right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConnected;

impl Link {
    /// A link over a joined connection.
    pub fn new(stream: TcpStream) -> Link {
        Link { stream: Mutex::new(Some(stream)), quitting: AtomicBool::new(false) }
    }

    /// Sends `request`. A failed write drops the connection (shutting the socket
    /// also wakes the session thread, which then reconnects).
    ///
    /// # Errors
    /// [`NotConnected`] when disconnected or when the write failed.
    pub fn send(&self, request: &Request) -> Result<(), NotConnected> {
        let mut slot = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        let stream = slot.as_mut().ok_or(NotConnected)?;
        if stream.write_all(&encode(request)).is_ok() {
            return Ok(());
        }
        let _ = stream.shutdown(Shutdown::Both);
        *slot = None;
        Err(NotConnected)
    }

    /// Sends `quit`, after which the end of the connection is expected;
    /// false if there was no connection to quit.
    pub fn quit(&self, reason: Option<String>) -> bool {
        self.quitting.store(true, Ordering::SeqCst);
        self.send(&Request::Quit { reason }).is_ok()
    }

    /// True once [`Link::quit`] was called.
    pub fn is_quitting(&self) -> bool {
        self.quitting.load(Ordering::SeqCst)
    }

    /// Sends from now on over `stream` (a new, joined connection).
    pub fn attach(&self, stream: TcpStream) {
        *self.stream.lock().unwrap_or_else(PoisonError::into_inner) = Some(stream);
    }

    /// Marks the link as disconnected.
    pub fn detach(&self) {
        *self.stream.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
